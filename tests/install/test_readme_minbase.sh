#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's "Two commands", as a newcomer runs them on a fresh Debian 12: in a copy of a
# `debootstrap --variant=minbase bookworm` root (cached under the build dir), as root, with
# nothing installed but what the commands install themselves.
#
#   test_readme_minbase.sh SRCDIR BUILDDIR
#
# 1. `dev/serve` exactly as written; then the README's second-terminal lines (their `sudo`
#    left out: we are root) against it: the example holds its buffers, `cmabufctl status`
#    and `map` show them, Ctrl-C releases them; and the README's `cc hello.c ...` line
#    builds a client that runs.
# 2. `dev/test`'s install step (`dev/deps`, everything the suites need), its configure and
#    build, then the unit, integration and install suites under CI=true, so any test that
#    would skip for want of a package fails. (The VM suite, the sanitizer build, the bench
#    smoke run and fuzzing are left to the host's run of dev/test: they would add minutes
#    and their tools are installed by the same dev/deps, checked here to succeed.)
#    CMABUF_README_FULL=1 runs `dev/test` itself instead.
#
# Exit 77 (skip) when debootstrap or the archive is not there, unless $CI is true or
# $CMABUF_INSTALL_REQUIRE=1.
set -u

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
CACHE=$build/minbase-cache
. "$src/tests/install/minbase.sh"

failures=0
ok() { echo "ok:   $*"; }
bad() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# The README's lines, so that the test runs what it says and fails when they change.
readme=$src/README.md
block() { # the Nth ```sh block of the README's "Two commands" section, blank lines dropped
	sed -n '/^## Two commands/,/^## [^T]/p' "$readme" |
		awk -v n="$1" '/^```sh$/ {b++; on = (b == n); next} /^```$/ {on = 0; next} on && NF'
}
serve_cmd=$(block 1)
second=$(block 2)
test_cmd=$(block 3)
hello_cc=$(grep -o 'cc hello\.c [^`]*' "$readme" | head -n 1)
[ "$serve_cmd" = dev/serve ] || bad "README's first command is not 'dev/serve' (got: $serve_cmd)"
[ "$test_cmd" = dev/test ] || bad "README's second command is not 'dev/test' (got: $test_cmd)"
[ -n "$second" ] || bad "README has no second-terminal block after dev/serve"
[ -n "$hello_cc" ] || bad "README has no 'cc hello.c ...' line"
[ $failures -eq 0 ] || exit 1
hold=$(printf '%s\n' "$second" | sed -n 1p | sed 's/^sudo //')
ctl=$(printf '%s\n' "$second" | sed -n 2p | sed 's/sudo //g')
echo "README: '$serve_cmd', then '$hold' and '$ctl'; '$hello_cc'; '$test_cmd'"

minbase_pristine
root=$build/minbase-readme
minbase_copy "$root"
copy_sources "$src" "$root/root/cmabuf"
log=$build/meson-logs
mkdir -p "$log"

# --- 1. dev/serve, and the second terminal ---------------------------------------------
echo "running dev/serve in the minbase root (log: $log/readme-serve.log)"
start=$(date +%s)
in_root "$root" sh -c "
	cd /root/cmabuf
	$serve_cmd >/tmp/serve.log 2>&1 &
	serve=\$!
	# Building from nothing takes minutes on 2 cores; the daemon's socket says it is up.
	i=0
	while [ ! -S /run/cmabuf/cmabufd.sock ]; do
		kill -0 \$serve 2>/dev/null || { echo 'dev/serve exited:'; cat /tmp/serve.log; exit 1; }
		i=\$((i + 1)); [ \$i -lt 1800 ] || { echo 'no socket after 15 min'; cat /tmp/serve.log; exit 1; }
		sleep 0.5
	done
	echo \"cmabufd up after \$((\$(date +%s) - $start)) s\"
	$hold >/tmp/hold.log 2>&1 &
	holder=\$!
	i=0
	until grep -q '^holding' /tmp/hold.log; do
		kill -0 \$holder 2>/dev/null || { echo 'the example exited:'; cat /tmp/hold.log; break; }
		i=\$((i + 1)); [ \$i -lt 200 ] || break
		sleep 0.05
	done
	cat /tmp/hold.log
	$ctl --no-color >/tmp/ctl.log 2>&1; echo \"ctl exit \$?\" >>/tmp/ctl.log
	cat /tmp/ctl.log
	build/tools/cmabufctl buffers >/tmp/buffers.log 2>&1
	cat /tmp/buffers.log
	kill -INT \$holder; wait \$holder; echo \"hold exit \$?\"
	cp examples/cmabuf-hello.c hello.c && $hello_cc && ./hello; echo \"hello exit \$?\"
	kill -INT \$serve; wait \$serve; echo \"serve exit \$?\"
	echo '--- dev/serve output:'; cat /tmp/serve.log
" >"$log/readme-serve.log" 2>&1
echo "dev/serve part took $(($(date +%s) - start)) s"
out=$log/readme-serve.log
grep -q '^cmabufd up after' "$out" && ok "dev/serve installed, built and started cmabufd" ||
	bad "dev/serve did not bring cmabufd up"
grep -q '^holding 12 buffers' "$out" && ok "the README's example holds its 12 buffers" ||
	bad "the example did not hold its buffers"
grep -q '^ctl exit 0' "$out" && ok "'$ctl' succeeded" || bad "'$ctl' failed"
grep -q '^buffers: *12$' "$out" && ok "cmabufctl status counts the 12 buffers" ||
	bad "cmabufctl status does not show 12 buffers"
grep -q '^ *A  pid [0-9]* uid 0: 12 buffers' "$out" && ok "cmabufctl map names their owner" ||
	bad "cmabufctl map does not show the example's buffers"
grep -q 'display-fb-2' "$out" && ok "cmabufctl buffers lists them by name" ||
	bad "cmabufctl buffers does not list display-fb-2"
grep -q '^hold exit 0' "$out" && ok "Ctrl-C: the example released its buffers and exited 0" ||
	bad "the example did not exit 0 on Ctrl-C"
grep -q '^dma-buf fd [0-9]*, 3112960 bytes$' "$out" && grep -q '^hello exit 0' "$out" &&
	ok "'$hello_cc' built a client that got its (page-rounded) frame" ||
	bad "the README's cc hello.c line did not build a working client"
grep -q '^serve exit 0' "$out" && ok "cmabufd stopped cleanly on Ctrl-C" || bad "cmabufd did not stop cleanly"
grep -q 'From a second terminal' "$out" && grep -qF "$hold" "$out" &&
	ok "dev/serve prints the README's second-terminal line" ||
	bad "dev/serve's hint and the README disagree ('$hold')"
if grep -qE 'qemu|clang|linux-headers' "$out"; then
	bad "dev/serve installed test tools (qemu, clang or kernel headers)"
else
	ok "dev/serve installed no test tools"
fi
[ $failures -eq 0 ] || sed 's/^/      /' "$out"

# --- 2. dev/test ------------------------------------------------------------------------
if [ "${CMABUF_README_FULL:-}" = 1 ]; then
	suite_cmd="$test_cmd"
else
	suite_cmd="dev/deps && meson setup --reconfigure build -Dvm_tests=enabled && ninja -C build &&
		meson test -C build --suite unit --suite integration --suite install --print-errorlogs \
			--num-processes 2"
fi
echo "running dev/test's steps in the minbase root (log: $log/readme-test.log)"
start=$(date +%s)
in_root "$root" env CI=true sh -c "cd /root/cmabuf && $suite_cmd" >"$log/readme-test.log" 2>&1
rc=$?
echo "dev/test part took $(($(date +%s) - start)) s"
tail -n 12 "$log/readme-test.log"
if [ $rc -eq 0 ]; then
	ok "dev/test's steps pass on the minbase root with CI=true (nothing skipped)"
else
	bad "dev/test's steps failed on the minbase root (exit $rc; log above)"
fi

rm -rf "$root"
[ $failures -eq 0 ] && echo "all checks passed" || echo "$failures failed"
[ $failures -eq 0 ]
