#!/bin/sh
# cmabufd as a user starts it, cmabufctl as a user reads it, and the README's
# example program (which must be the file in examples/, verbatim) against them.
# Usage: test_tools.sh CMABUFD CMABUFCTL CMABUF_HELLO SOURCE_ROOT
set -eu
cmabufd=$1 ctl=$2 hello=$3 src=$4
dir=$(mktemp -d /tmp/cmabuf-tools-XXXXXX)
sock=$dir/cmabufd.sock
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

# The README shows examples/cmabuf-hello.c verbatim.
sed -n '/^```c$/,/^```$/p' "$src/README.md" | sed '1d;$d' >"$dir/readme.c"
cmp -s "$dir/readme.c" "$src/examples/cmabuf-hello.c" ||
	fail "README's C example differs from examples/cmabuf-hello.c"

"$cmabufd" --help | grep -q -- '--region-size' || fail "--help does not document --region-size"
"$cmabufd" --help | grep -q -- '--metrics-file=PATH' || fail "--help does not document --metrics-file"
"$cmabufd" --metrics-interval=0 2>/dev/null && fail "--metrics-interval=0 was accepted"
for cmd in clients map why metrics; do
	"$ctl" --help | grep -q "^  $cmd " || fail "cmabufctl --help does not document $cmd"
done
"$cmabufd" --region-size=12 2>"$dir/err" && fail "a 12-byte region was accepted"
grep -q "at least 64K" "$dir/err" || fail "bad --region-size gave no useful reason: $(cat "$dir/err")"

"$cmabufd" --backend=memfd --socket="$sock" --region-size=32M 2>"$dir/log" &
pid=$!
i=0
until "$ctl" --socket="$sock" status >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 250 ] || fail "cmabufd did not come up: $(cat "$dir/log")"; sleep 0.02
done
head -n 1 "$dir/log" | grep -q "backend memfd" || fail "first log line does not name the backend"

"$ctl" --socket="$sock" status | grep -q "^backend: *memfd" || fail "status lacks the backend"
"$ctl" --socket="$sock" --json status | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["backend"] == "memfd" and s["region_size"] == 32 << 20 and s["used"] == 0, s
' || fail "status --json is wrong"

CMABUF_SOCKET=$sock "$hello" >"$dir/hello.out" || fail "the example failed: $(cat "$dir/hello.out")"
grep -q "3110400 bytes\|3112960 bytes" "$dir/hello.out" || fail "example output: $(cat "$dir/hello.out")"

"$ctl" --socket="$sock" buffers | grep -q "no live buffers" || fail "buffers not empty after the example"
"$ctl" --socket="$sock" --json buffers | python3 -c 'import json,sys; assert json.load(sys.stdin) == []' ||
	fail "buffers --json is not an empty list"
"$ctl" --socket="$dir/nothing.sock" status 2>"$dir/err" && fail "status on a dead socket succeeded"
grep -q "is cmabufd running" "$dir/err" || fail "no hint on a dead socket: $(cat "$dir/err")"

# A client refused 50 times in a row gets at most 10 log lines, then one about the rest.
python3 - "$sock" <<'PY' || fail "raw protocol client failed"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
def msg(t, seq, payload):
    return struct.pack("=HHIII", t, 0, len(payload), seq, 0) + payload
s.send(msg(1, 1, struct.pack("=II", 1, 0)))             # HELLO, version 1
s.recv(4096)
for i in range(50):                                       # ALLOC of size 0: refused
    s.send(msg(4, 2 + i, struct.pack("=QQII32s64s", 0, 0, 0, 0, b"", b"noisy")))
    s.recv(4096)
PY
refusals=$(grep -c "allocation refused: size 0" "$dir/log" || true)
[ "$refusals" -eq 10 ] || fail "expected 10 logged refusals (rate limit), got $refusals"

kill -TERM "$pid"
wait "$pid" || fail "cmabufd did not exit cleanly on SIGTERM"
grep -q "40 more messages about uid $(id -u) were suppressed" "$dir/log" ||
	fail "the suppressed refusals were not counted: $(tail -n 3 "$dir/log")"
pid=
[ ! -e "$sock" ] || fail "cmabufd left its socket behind"

# A client whose class may not learn device addresses is not shown offsets: root here, since
# the configuration grants dev-addr to uid 1 only. A raw client holds one buffer meanwhile.
printf '[class trusted]\nuid = 1\ndev-addr = yes\n' >"$dir/conf"
"$cmabufd" --backend=memfd --socket="$sock" --region-size=32M --config="$dir/conf" 2>"$dir/log2" &
pid=$!
i=0
until "$ctl" --socket="$sock" status >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 250 ] || fail "cmabufd did not come up: $(cat "$dir/log2")"; sleep 0.02
done
python3 - "$sock" "$ctl" <<'PY' || fail "offsets were shown to a client without dev-addr"
import json, socket, struct, subprocess, sys
sock, ctl = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sock)
def msg(t, seq, payload):
    return struct.pack("=HHIII", t, 0, len(payload), seq, 0) + payload
s.send(msg(1, 1, struct.pack("=II", 1, 0)))             # HELLO
s.recv(4096)
s.send(msg(4, 2, struct.pack("=QQII32s64s", 4096, 0, 0, 0, b"", b"kept")))  # ALLOC 4 KiB
s.recvmsg(4096, socket.CMSG_SPACE(4))                     # the reply, with its descriptor
text = subprocess.run([ctl, "--socket=" + sock, "buffers"], capture_output=True, text=True,
                      check=True).stdout
row = [l for l in text.splitlines() if "kept" in l]
assert len(row) == 1 and "(hidden)" in row[0] and "0x" not in row[0], text
listed = json.loads(subprocess.run([ctl, "--socket=" + sock, "--json", "buffers"],
                                   capture_output=True, text=True, check=True).stdout)
assert len(listed) == 1 and listed[0]["offset"] is None, listed
PY
kill -TERM "$pid"
wait "$pid" || fail "cmabufd did not exit cleanly on SIGTERM"
pid=
echo "ok"
