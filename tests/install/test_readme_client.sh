#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's client lines against this build, without installing anything: its
# `cc hello.c $(PKG_CONFIG_PATH=build/meson-uninstalled ...)` line compiles the README's
# hello.c and the result gets its page-rounded frame; examples/cmabuf-stream-hold holds its
# pipeline's buffers, which cmabufctl status, buffers and map show, until SIGINT releases them.
#
#   test_readme_client.sh SRCDIR BUILDDIR CMABUFD CMABUFCTL STREAM_HOLD
set -u

src=$1
build=$(cd "$2" && pwd)
cmabufd=$3
cmabufctl=$4
hold=$5

dir=$(mktemp -d "${TMPDIR:-/tmp}/cmabuf-readme.XXXXXX") || exit 1
daemon=
holder=
cleanup() {
	[ -z "$holder" ] || kill -INT "$holder" 2>/dev/null
	[ -z "$daemon" ] || { kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
check_out=$dir/out
. "$src/tests/install/check.sh"

export CMABUF_SOCKET=$dir/cmabufd.sock
"$cmabufd" --backend=memfd --region-size=256M >"$dir/daemon.log" 2>&1 &
daemon=$!
i=0
while [ ! -S "$CMABUF_SOCKET" ]; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$daemon" 2>/dev/null; then
		echo "FAIL: cmabufd did not start"
		cat "$dir/daemon.log"
		exit 1
	fi
	sleep 0.05
done

# The README's line, run where "build" is this build directory.
line=$(grep -o 'cc hello\.c \$(PKG_CONFIG_PATH=build/meson-uninstalled [^`]*' "$src/README.md" | head -n 1)
check "README has the build-tree cc line" test -n "$line"
sed -n '/^```c$/,/^```$/p' "$src/README.md" | sed '1d;$d' >"$dir/hello.c"
ln -s "$build" "$dir/build"
check "README's line compiles hello.c: $line" sh -c "cd '$dir' && $line"
check "hello gets a 1080p NV12 frame rounded up to whole pages (3112960 bytes)" \
	sh -c "'$dir/hello' | grep -qx 'dma-buf fd [0-9]*, 3112960 bytes'"

"$hold" >"$dir/hold.log" 2>&1 &
holder=$!
i=0
until grep -q '^holding' "$dir/hold.log"; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$holder" 2>/dev/null; then
		break
	fi
	sleep 0.05
done
check "cmabuf-stream-hold holds 12 buffers" grep -q '^holding 12 buffers' "$dir/hold.log"
check "cmabufctl status counts them" sh -c "'$cmabufctl' status | grep -qx 'buffers: *12'"
check "cmabufctl buffers names the camera, encoder and display buffers" sh -c "
	out=\$('$cmabufctl' buffers) &&
	for n in camera-capture-3 encoder-ref-1 encoder-bitstream-1 display-fb-2 preview-cache-0; do
		echo \"\$out\" | grep -q \" \$n \" || exit 1
	done"
check "cmabufctl map shows the holder and its purgeable buffer" sh -c "
	out=\$('$cmabufctl' map --no-color) &&
	echo \"\$out\" | grep -q '  A  pid $holder uid [0-9]*: 12 buffers' &&
	echo \"\$out\" | grep -q '^0x[0-9a-f]* |.*a'"
kill -INT "$holder"
wait "$holder"
rc=$?
holder=
check "SIGINT: cmabuf-stream-hold releases everything and exits 0" test $rc -eq 0
# Release follows the last holder letting go (the daemon asks the kernel): wait for it.
check "every buffer is released" sh -c "
	i=0
	until '$cmabufctl' status | grep -qx 'buffers: *0'; do
		i=\$((i + 1)); [ \$i -lt 100 ] || { '$cmabufctl' status; exit 1; }
		sleep 0.1
	done"

cat "$dir/hold.log"
[ $failures -eq 0 ] && echo "all checks passed" || echo "$failures failed"
[ $failures -eq 0 ]
