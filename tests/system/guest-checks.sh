#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs inside the systemd VM (tests/system/test_systemd_vm.sh) as a oneshot unit after
# multi-user.target, against the installed packages. Prints "SYSTEST ok: ..." or
# "SYSTEST FAIL: ..." per check and "SYSTEST-RESULT failures=N" last, then powers off.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
failures=0
ok() { echo "SYSTEST ok: $*"; }
bad() {
	echo "SYSTEST FAIL: $*"
	failures=$((failures + 1))
}
check() { # check DESCRIPTION COMMAND...
	what=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then ok "$what"; else
		bad "$what"
		sed 's/^/SYSTEST      /' /tmp/check.out | head -n 30
		timeout 30 journalctl -u cmabufd --no-pager -n 15 | sed 's/^/SYSTEST      journal: /'
	fi
}
# Every cmabufctl and systemctl call is bounded, in sh -c strings too: a daemon that accepts
# and never answers must fail a check, not hang the boot.
mkdir -p /run/systest-bin
printf '#!/bin/sh\nexec timeout 30 /usr/bin/cmabufctl "$@"\n' >/run/systest-bin/cmabufctl
printf '#!/bin/sh\nexec timeout 60 /bin/systemctl "$@"\n' >/run/systest-bin/systemctl
chmod 755 /run/systest-bin/*
export PATH=/run/systest-bin:$PATH
# until_true SECONDS COMMAND...: COMMAND succeeds within SECONDS (polled; a bound, not a
# timing assertion: TCG is slow and its speed varies)
until_true() {
	deadline=$(($(date +%s) + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || { "$@"; return 1; }
		sleep 0.25
	done
}
mainpid() { systemctl show -p MainPID --value cmabufd.service; }
as() { # as USER CMD...
	u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"
}
since=$(date '+%Y-%m-%d %H:%M:%S')

echo "SYSTEST-BEGIN $(uname -r), systemd $(systemctl --version | head -n 1 | cut -d' ' -f2)"
check "systemd is PID 1" sh -c '[ "$(cat /proc/1/comm)" = systemd ]'
check "uio_cma loaded at boot (modules-load.d + modprobe.d base=/size=)" grep -q '^uio_cma ' /proc/modules
check "udev gave /dev/uio_cma0 to cmabuf, mode 0600" sh -c \
	'[ "$(stat -c "%U:%G %a" /dev/uio_cma0)" = "cmabuf:cmabuf 600" ]'
check "udev gave /dev/dma_heap/cmabuf to group video, mode 0660" sh -c \
	'[ "$(stat -c "%U:%G %a" /dev/dma_heap/cmabuf)" = "root:video 660" ]'
check "cmabufd.socket enabled and listening" sh -c \
	'systemctl is-enabled cmabufd.socket && systemctl is-active cmabufd.socket'
check "/run/cmabuf/cmabufd.sock is cmabuf:cmabuf 0660" sh -c \
	'[ "$(stat -c "%U:%G %a" /run/cmabuf/cmabufd.sock)" = "cmabuf:cmabuf 660" ]'

# Socket activation by systemd itself: with the service stopped, a client starts it.
systemctl stop cmabufd.service
check "service stopped, socket still listening" sh -c \
	'! systemctl is-active cmabufd.service && systemctl is-active cmabufd.socket'
check "a client connecting starts cmabufd (socket activation)" sh -c 'cmabufctl status'
check "cmabufd.service active after that connection" systemctl is-active cmabufd.service
# (Each systemctl call is a D-Bus round trip to PID 1, slow under TCG: retried.)
check "READY=1 reached: the unit is active (running), Type=notify" until_true 60 sh -c \
	'[ "$(systemctl show -p Type,ActiveState,SubState --value cmabufd | tr "\n" " ")" = "notify active running " ]'
status=$(systemctl show -p StatusText --value cmabufd)
echo "SYSTEST      STATUS=$status"
check "STATUS= names the uio backend" sh -c "echo '$status' | grep -q 'backend uio'"
check "systemctl status shows the STATUS line" sh -c \
	"systemctl status --no-pager cmabufd | grep -q 'Status: \"backend uio'"
check "cmabufctl status: backend uio (the stub's region), 256 MiB" sh -c \
	"cmabufctl status | grep -q '^backend: *uio' && cmabufctl status | grep -q '^region: *256.00 MiB'"
check "cmabufd runs as user cmabuf" sh -c \
	'[ "$(ps -o user= -p "$(systemctl show -p MainPID --value cmabufd)")" = cmabuf ]'

# Users: alice is in group cmabuf, bob is not.
check "alice (group cmabuf) allocates through libcmabuf" sh -c \
	'setpriv --reuid=alice --regid=alice --init-groups cmabuf-hello | grep -q "bytes$"'
as bob cmabuf-hello >/tmp/bob.out 2>&1
check "bob (not in the group) is refused" sh -c '! setpriv --reuid=bob --regid=bob --init-groups cmabuf-hello'
check "bob's refusal says Permission denied" grep -q 'Permission denied' /tmp/bob.out
cat /tmp/bob.out | sed 's/^/SYSTEST      bob: /'

# journald's structured fields: a refused allocation carries the client's uid.
alice_uid=$(id -u alice)
as alice alloc 1073741824 >/tmp/big.out 2>&1
check "a request larger than the region is refused" grep -q 'alloc:' /tmp/big.out
check "journalctl -u cmabufd CMABUF_CLIENT_UID=$alice_uid finds it" sh -c \
	"journalctl -u cmabufd --no-pager CMABUF_CLIENT_UID=$alice_uid | grep -q 'allocation refused'"
check "... with CMABUF_BYTES=1073741824" sh -c \
	"journalctl -u cmabufd --no-pager -o verbose CMABUF_CLIENT_UID=$alice_uid | grep -q 'CMABUF_BYTES=1073741824'"

# Reload: a good policy is taken, a broken one refused with the old one kept.
cp /usr/share/doc/cmabuf/cmabufd.conf.example /etc/cmabuf/cmabufd.conf 2>/dev/null ||
	{ mkdir -p /etc/cmabuf && cp /usr/share/doc/cmabuf/cmabufd.conf.example /etc/cmabuf/cmabufd.conf; }
reloads() { cmabufctl status | sed -n 's/^policy reloads: *//p'; }
r0=$(reloads)
pid=$(mainpid)
systemctl reload cmabufd
check "systemctl reload: policy reloads $r0 -> $((r0 + 1))" until_true 30 sh -c \
	"[ \"\$(cmabufctl status | sed -n 's/^policy reloads: *//p')\" = $((r0 + 1)) ]"
check "... by the same process" sh -c "[ \"\$(systemctl show -p MainPID --value cmabufd)\" = $pid ]"
echo '[this is not a policy' >/etc/cmabuf/cmabufd.conf
systemctl reload cmabufd
check "a broken policy is refused and the journal says so" until_true 30 sh -c \
	"journalctl -u cmabufd --no-pager --since '$since' | grep -q 'reload refused, keeping the previous policy'"
check "... and cmabufd keeps running" systemctl is-active cmabufd.service
rm -f /etc/cmabuf/cmabufd.conf
systemctl reload cmabufd

# Crash with live buffers: systemd restarts cmabufd and every buffer survives (stub LIST).
setpriv --reuid=alice --regid=alice --init-groups cmabuf-stream-hold >/tmp/hold.out 2>&1 &
holder=$!
check "alice's cmabuf-stream-hold holds 12 buffers" until_true 60 grep -q '^holding 12' /tmp/hold.out
buffers() { cmabufctl status | sed -n 's/^buffers: *//p'; }
check "cmabufctl counts 12 buffers" sh -c "[ \"\$(cmabufctl status | sed -n 's/^buffers: *//p')\" = 12 ]"
pid=$(mainpid)
kill -9 "$pid"
check "kill -9: systemd restarts cmabufd (new MainPID)" until_true 120 sh -c \
	"p=\$(systemctl show -p MainPID --value cmabufd); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && systemctl is-active cmabufd.service"
check "... and the 12 buffers survived (the stub's LIST)" until_true 30 sh -c \
	"[ \"\$(cmabufctl status | sed -n 's/^buffers: *//p')\" = 12 ]"
check "... shown as adopted from the earlier cmabufd" sh -c \
	"[ \"\$(cmabufctl buffers | grep -c 'from an earlier cmabufd')\" = 12 ]"
cmabufctl buffers | head -n 4 | sed 's/^/SYSTEST      /'
check "the journal says 12 buffers are still held from an earlier cmabufd" sh -c \
	"journalctl -u cmabufd --no-pager --since '$since' | grep -q '12 buffers (45.9 MiB) are still held from an earlier cmabufd'"
pid=$(mainpid)
systemctl restart cmabufd
check "systemctl restart: new process, 12 buffers still there" until_true 60 sh -c \
	"p=\$(systemctl show -p MainPID --value cmabufd); [ \"\$p\" != $pid ] && [ \"\$(cmabufctl status | sed -n 's/^buffers: *//p')\" = 12 ]"

# A hung daemon: the watchdog (WatchdogSec=30s) kills and restarts it.
pid=$(mainpid)
kill -STOP "$pid"
check "SIGSTOP: the watchdog restarts cmabufd" until_true 180 sh -c \
	"p=\$(systemctl show -p MainPID --value cmabufd); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && systemctl is-active cmabufd.service"
check "... the journal says watchdog timeout" sh -c \
	"journalctl --no-pager --since '$since' -u cmabufd | grep -qi 'watchdog timeout'"
check "... and the 12 buffers survived" until_true 30 sh -c \
	"[ \"\$(cmabufctl status | sed -n 's/^buffers: *//p')\" = 12 ]"
kill -INT "$holder"
wait "$holder"
check "Ctrl-C on the holder releases every buffer" until_true 30 sh -c \
	"[ \"\$(cmabufctl status | sed -n 's/^buffers: *//p')\" = 0 ]"

# memfd under systemd (no region: the stub unloaded): a crash with live buffers, and the
# buffers come back from systemd's own file-descriptor store (FileDescriptorStoreMax).
systemctl stop cmabufd.service
check "with cmabufd stopped and nothing exported, uio_cma unloads" rmmod uio_cma
systemctl start cmabufd.service
check "no region: cmabufd runs on memfd (no --backend)" until_true 60 sh -c \
	"cmabufctl status | grep -q '^backend: *memfd'"
# (setpriv directly, not through as(): $! must be the holder, which the signals are for)
setpriv --reuid=alice --regid=alice --init-groups alloc hold 8 4194304 >/tmp/memhold.out 2>&1 &
memholder=$!
check "memfd: alice holds 8 buffers of 4 MiB, each filled" until_true 60 grep -q '^holding 8' /tmp/memhold.out
check "memfd: cmabufctl counts 8 buffers" sh -c "[ \"\$(cmabufctl status | sed -n 's/^buffers: *//p')\" = 8 ]"
check "memfd: the 8 are in systemd's file-descriptor store" until_true 30 sh -c \
	"[ \"\$(systemctl show -p NFileDescriptorStore --value cmabufd)\" -ge 8 ]"
echo "SYSTEST      fd store: $(systemctl show -p NFileDescriptorStore --value cmabufd) descriptors"
pid=$(mainpid)
kill -9 "$pid"
check "memfd kill -9: systemd restarts cmabufd (new MainPID)" until_true 120 sh -c \
	"p=\$(systemctl show -p MainPID --value cmabufd); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && systemctl is-active cmabufd.service"
check "... on memfd again" sh -c "cmabufctl status | grep -q '^backend: *memfd'"
check "... and the 8 buffers came back from the fd store" until_true 30 sh -c \
	"[ \"\$(cmabufctl status | sed -n 's/^buffers: *//p')\" = 8 ]"
check "... cmabufctl buffers lists them as adopted from the earlier cmabufd" sh -c \
	"[ \"\$(cmabufctl buffers | grep -c 'from an earlier cmabufd')\" = 8 ]"
check "... the journal says so (file-descriptor store: 8 still held)" sh -c \
	"journalctl -u cmabufd --no-pager --since '$since' | grep -q 'file-descriptor store: 8 buffers from an earlier cmabufd: 8 still held (adopted)'"
kill -USR1 "$memholder"
check "alice's 8 buffers still map and read back their bytes (old and new mmaps)" \
	until_true 30 grep -q '^verified 8' /tmp/memhold.out
sed 's/^/SYSTEST      holder: /' /tmp/memhold.out
# Nothing handed out twice: new buffers beside the adopted ones, no two ranges overlapping.
setpriv --reuid=alice --regid=alice --init-groups alloc hold 8 4194304 >/tmp/memhold2.out 2>&1 &
memholder2=$!
check "memfd: after the restart alice gets 8 more" until_true 60 grep -q '^holding 8' /tmp/memhold2.out
cmabufctl --json buffers | tr '{' '\n' |
	sed -n 's/.*"size":\([0-9]*\),"offset":\([0-9]*\).*/\2 \1/p' | sort -n >/tmp/ranges
check "... 16 buffers listed, no two ranges overlapping" awk \
	'$1 < end { exit 1 } { end = $1 + $2; n++ } END { exit n != 16 }' /tmp/ranges
sed 's/^/SYSTEST      range: /' /tmp/ranges | head -n 16
kill -INT "$memholder" "$memholder2"
wait "$memholder" "$memholder2"
check "memfd: both holders gone, every buffer released" until_true 30 sh -c \
	"[ \"\$(cmabufctl status | sed -n 's/^buffers: *//p')\" = 0 ]"
# The region coming back under a memfd daemon: said once, with what to do; a restart moves.
modprobe uio_cma
check "uio_cma loaded again: the memfd cmabufd says the region appeared" until_true 60 sh -c \
	"journalctl -u cmabufd --no-pager --since '$since' | grep -q 'a uio_cma region appeared (uio'"
check "... cmabufctl status has the notice" sh -c "cmabufctl status | grep -q '^notice: .*systemctl restart cmabufd'"
check "... systemd STATUS says it" until_true 30 sh -c \
	"systemctl show -p StatusText --value cmabufd | grep -q 'unused: systemctl restart cmabufd'"
systemctl restart cmabufd
check "systemctl restart: back on the uio backend" until_true 60 sh -c \
	"cmabufctl status | grep -q '^backend: *uio'"

# The system call filter: nothing the daemon did was refused.
check "no EPERM / 'Operation not permitted' in cmabufd's journal" sh -c \
	"! journalctl -u cmabufd --no-pager | grep -Ei 'operation not permitted|EPERM|seccomp'"
check "no SECCOMP audit record in the kernel log" sh -c "! dmesg | grep -qi 'audit.*seccomp.*cmabufd'"

# Hardening as systemd itself scores it here.
level=$(systemd-analyze security --no-pager cmabufd.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for cmabufd.service: \([0-9.]*\).*/\1/p')
echo "SYSTEST      systemd-analyze security cmabufd: $level"
check "systemd-analyze security cmabufd <= 2.0" sh -c "[ -n '$level' ] && awk 'BEGIN{exit !($level <= 2.0)}'"

# Remove and purge.
dpkg -r cmabuf uio-cma-dkms >/tmp/remove.out 2>&1
check "dpkg -r cmabuf uio-cma-dkms" sh -c '! dpkg -s cmabuf 2>/dev/null | grep -q "Status: install ok installed"'
sed 's/^/SYSTEST      /' /tmp/remove.out | tail -n 5
check "no cmabufd running after remove" sh -c '! pidof cmabufd'
check "no socket left (/run/cmabuf/cmabufd.sock)" test ! -e /run/cmabuf/cmabufd.sock
check "uio_cma unloaded" sh -c '! grep -q "^uio_cma " /proc/modules'
check "the DKMS module is gone" sh -c '! find /lib/modules -name "uio_cma.ko*" | grep -q .'
dpkg -P cmabuf libcmabuf-dev libcmabuf0 uio-cma-dkms >/dev/null 2>&1
check "purge: the socket is no longer enabled" test ! -e /etc/systemd/system/sockets.target.wants/cmabufd.socket
check "purge: systemd knows no cmabufd unit file" sh -c \
	'systemctl daemon-reload; ! systemctl list-unit-files cmabufd.socket | grep -q cmabufd'

echo "SYSTEST-RESULT failures=$failures"
systemctl --no-block poweroff
