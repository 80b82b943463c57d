#!/bin/sh
# SPDX-License-Identifier: MIT
# Socket activation: systemd-socket-activate listens on a SOCK_SEQPACKET socket and starts
# the built cmabufd on the first connection, passing the socket (LISTEN_FDS=1). The client
# must get an answer on that socket, and the daemon must not have bound one of its own.
#
#   test_socket_activation.sh CMABUFD CMABUFCTL
#
# Exit 77 (skip) without systemd-socket-activate, unless $CI is true or
# $CMABUF_INSTALL_REQUIRE=1.
set -u

cmabufd=$1
cmabufctl=$2

if ! command -v systemd-socket-activate >/dev/null 2>&1; then
	if [ "${CI:-}" = true ] || [ "${CMABUF_INSTALL_REQUIRE:-}" = 1 ]; then
		echo "FAIL: systemd-socket-activate not found (Debian: apt-get install systemd)"
		exit 1
	fi
	echo "SKIP: systemd-socket-activate not found (Debian: apt-get install systemd)"
	exit 77
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cmabuf-sockact.XXXXXX") || exit 1
act_pid=
cleanup() {
	if [ -n "$act_pid" ]; then
		kill -TERM "$act_pid" 2>/dev/null
		wait "$act_pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	echo "--- daemon output:"
	cat "$dir/daemon.log"
	exit 1
}

sock=$dir/activated.sock
# Where the daemon would listen if it ignored the passed socket.
own=$dir/own/cmabufd.sock

# systemd-socket-activate execs cmabufd in its own process (same pid), so LISTEN_PID matches.
systemd-socket-activate --seqpacket --listen="$sock" \
	"$cmabufd" --backend=memfd --region-size=16M --socket="$own" \
	>"$dir/daemon.log" 2>&1 &
act_pid=$!

i=0
while [ ! -S "$sock" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "systemd-socket-activate did not create $sock"
	kill -0 "$act_pid" 2>/dev/null || fail "systemd-socket-activate exited early"
	sleep 0.05
done
echo "ok:   systemd-socket-activate listens on $sock (SOCK_SEQPACKET)"

# The first connection starts the daemon; it must answer on the inherited socket.
out=$(timeout 20 "$cmabufctl" --socket "$sock" status 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "cmabufctl status through the activated socket exited $rc"
echo "$out" | grep -q '^backend: *memfd' || fail "status does not report the memfd backend"
echo "ok:   cmabufctl status answered through the activated socket"

# A second client is served by the same, already running daemon.
out=$(timeout 20 "$cmabufctl" --socket "$sock" status --json 2>&1) ||
	fail "second cmabufctl status failed: $out"
echo "$out" | grep -q '"backend" *: *"memfd"' || fail "status --json does not report memfd: $out"
echo "ok:   a second client is served"

[ -e "$own" ] && fail "the daemon bound $own itself instead of using the passed socket"
echo "ok:   the daemon used the passed socket and bound none of its own"
grep -q "serving on $sock (from systemd)" "$dir/daemon.log" ||
	fail "the first log line does not name the socket systemd passed"
echo "ok:   the log names the socket systemd passed"

# The activated daemon runs as systemd-socket-activate's pid (exec) and stops cleanly.
kill -TERM "$act_pid"
i=0
while kill -0 "$act_pid" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "cmabufd did not stop on SIGTERM"
	sleep 0.05
done
wait "$act_pid"
rc=$?
act_pid=
[ $rc -eq 0 ] || fail "cmabufd exited $rc after SIGTERM"
echo "ok:   cmabufd stopped cleanly on SIGTERM"
echo "--- daemon output:"
cat "$dir/daemon.log"
exit 0
