#!/bin/sh
# SPDX-License-Identifier: MIT
# cmabuf as a Debian service under systemd as PID 1 (docs/operations.md, DESIGN "The service
# under systemd"): a `debootstrap --variant=minbase` bookworm root gets systemd, Debian's
# current kernel (its modules, unpacked) and headers, and the project's .debs installed with
# apt-get, so DKMS builds the stub, sysusers makes the cmabuf user and the socket is enabled.
# qemu (TCG) boots that kernel with memmap= and the root over virtio-9p (read-write); systemd
# starts, modules-load.d loads uio_cma, and a oneshot unit runs tests/system/guest-checks.sh,
# whose verdict comes back on the serial console.
#
#   test_systemd_vm.sh SRCDIR BUILDDIR
#
# Exit 77 (skip) when qemu, busybox, debootstrap or Debian's archive are not there, unless
# $CI is true or $CMABUF_INSTALL_REQUIRE=1.
set -u

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
CACHE=$build/minbase-cache
. "$src/tests/install/minbase.sh"
debs=$build/debs
out=$build/meson-logs
mkdir -p "$out"
for tool in qemu-system-x86_64 cpio gzip timeout; do
	command -v "$tool" >/dev/null 2>&1 || skip_or_fail "$tool not found (dev/deps test)"
done
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 ||
	skip_or_fail "no static busybox (apt-get install busybox-static)"
kver=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n 1)
[ -n "$kver" ] || skip_or_fail "apt-cache does not know linux-image-amd64 (apt-get update?)"

minbase_pristine
(
	flock 9
	debs_current || build_debs
) 9>"$build/debs.lock" || exit 1

# --- the root: systemd, the kernel, the packages ----------------------------------------
root=$build/system-root
if [ "${CMABUF_SYSTEM_REUSE:-}" = 1 ] && [ -f "$root/.prepared" ]; then
	echo "reusing the prepared root $root (CMABUF_SYSTEM_REUSE=1; packages as installed then)"
else
rm -f "$root/.prepared"
minbase_copy "$root"
mkdir -p "$root/root/debs" "$root/root/src"
for p in $pkgs; do cp "$debs/$p" "$root/root/debs/"; done
cp "$src/examples/cmabuf-stream-hold.c" "$src/examples/cmabuf-hello.c" \
	"$src/tests/system/alloc.c" "$root/root/src/"
echo "preparing the root (log: $out/systemd-vm-setup.log)"
start=$(date +%s)
in_root "$root" sh -ec "
	apt-get update -q
	apt-get install -y -q --no-install-recommends systemd systemd-sysv udev dbus kmod procps \
		linux-headers-$kver gcc libc6-dev pkg-config
	# The kernel's modules without its package: no initramfs-tools run, the image goes
	# straight to qemu. A /boot/config-* makes DKMS build for this kernel on install.
	cd /tmp && apt-get -q -o APT::Sandbox::User=root download linux-image-$kver
	# (Into a directory first: extracting over / would replace merged-/usr's /lib symlink.)
	dpkg -x /tmp/linux-image-${kver}_*.deb /tmp/kernel
	cp -a /tmp/kernel/boot/. /boot/
	mkdir -p /lib/modules
	cp -a /tmp/kernel/lib/modules/. /lib/modules/
	depmod $kver
	echo 'options uio_cma base=0x40000000 size=0x10000000' >/etc/modprobe.d/uio_cma.conf
	apt-get install -y -q --no-install-recommends /root/debs/*.deb
	dkms status uio_cma
	cd /root/src
	for p in cmabuf-hello cmabuf-stream-hold alloc; do
		cc -O2 -o /usr/local/bin/\$p \$p.c \$(pkg-config --cflags --libs cmabuf)
	done
	useradd -m -G cmabuf alice
	useradd -m bob
	# journald in /run: its mmap()ed files have no business on 9p.
	mkdir -p /etc/systemd/journald.conf.d
	printf '[Journal]\nStorage=volatile\n' >/etc/systemd/journald.conf.d/volatile.conf
	echo cmabuf-vm >/etc/hostname
	: >/etc/fstab
	systemctl mask serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service \
		apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service 2>/dev/null || true
	cat >/etc/systemd/system/cmabuf-checks.service <<'EOF'
[Unit]
Description=cmabuf checks under systemd
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/root/guest-checks.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
[Install]
WantedBy=multi-user.target
EOF
	systemctl enable cmabuf-checks.service
" >"$out/systemd-vm-setup.log" 2>&1 || {
	tail -n 30 "$out/systemd-vm-setup.log"
	grep -qE "Temporary failure resolving|Could not resolve|Failed to fetch" \
		"$out/systemd-vm-setup.log" && skip_or_fail "Debian's archive cannot be reached"
	echo "FAIL: preparing the root"
	exit 1
}
echo "root prepared in $(($(date +%s) - start)) s"
grep -q "uio_cma/.*$kver.*installed" "$out/systemd-vm-setup.log" ||
	{ echo "FAIL: DKMS did not build uio_cma for $kver on install"; exit 1; }
echo "ok:   apt-get install of the packages made DKMS build uio_cma for $kver"
touch "$root/.prepared"
fi
install -m 0755 "$src/tests/system/guest-checks.sh" "$root/root/guest-checks.sh"
rm -rf "$root/tmp"/* # a reused root: nothing from the last boot may answer for this one

# --- the initramfs: busybox, the 9p modules, switch_root to systemd ---------------------
moddir=$root/lib/modules/$kver
initrd=$build/system-initrd.cpio.gz
tree=$(mktemp -d "$build/system-initrd.XXXXXX")
mkdir -p "$tree/bin" "$tree/dev" "$tree/proc" "$tree/sys" "$tree/newroot" "$tree/modules"
cp "$BUSYBOX" "$tree/bin/busybox"
ln -s busybox "$tree/bin/sh"
: >"$tree/modules/order"
for m in virtio_pci 9pnet_virtio 9p; do
	line=$(grep -E "(^|/)$(echo $m | sed 's/_/[_-]/g')\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n 1)
	[ -n "$line" ] || continue # built in
	for d in $(echo "${line#*:}" | tr ' ' '\n' | tac) "${line%%:*}"; do
		grep -qx "$(basename "$d")" "$tree/modules/order" && continue
		cp "$moddir/$d" "$tree/modules/"
		basename "$d" >>"$tree/modules/order"
	done
done
cat >"$tree/init" <<'EOF'
#!/bin/sh
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do
	case $m in *.xz) xz -d <"/modules/$m" >"/modules/${m%.xz}"; m=${m%.xz} ;; esac
	insmod "/modules/$m" || echo "SYSTEST: insmod $m failed"
done </modules/order
# cache=loose: nothing changes the root on the host side while the guest runs, and depmod
# (dkms remove) reads every module: uncached 9p under TCG takes minutes over it.
mount -t 9p -o trans=virtio,version=9p2000.L,rw,msize=512000,cache=loose,access=client root /newroot ||
	{ echo "SYSTEST-RESULT cannot mount the root"; poweroff -f; }
umount /proc /sys /dev
exec switch_root /newroot /lib/systemd/systemd
EOF
chmod +x "$tree/init"
(cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd"
rm -rf "$tree"

# --- boot -------------------------------------------------------------------------------
timeout=${CMABUF_SYSTEM_TIMEOUT:-1200}
echo "booting $kver with systemd as PID 1 (TCG; console: $out/systemd-vm-console.log)"
start=$(date +%s)
timeout -k 10 "$timeout" qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -nographic -no-reboot \
	-nodefaults -serial stdio -kernel "$root/boot/vmlinuz-$kver" -initrd "$initrd" \
	-append "console=ttyS0 memmap=256M\$0x40000000 panic=-1 loglevel=4 systemd.show_status=0" \
	-virtfs local,path="$root",mount_tag=root,security_model=passthrough,multidevs=remap \
	</dev/null >"$out/systemd-vm-console.raw" 2>&1
tr -d '\r' <"$out/systemd-vm-console.raw" >"$out/systemd-vm-console.log"
echo "guest ran $(($(date +%s) - start)) s"
grep -E '^SYSTEST' "$out/systemd-vm-console.log"
result=$(grep -o 'SYSTEST-RESULT .*' "$out/systemd-vm-console.log" | tail -n 1)
if [ "$result" = "SYSTEST-RESULT failures=0" ]; then
	rm -rf "$root"
	echo "all checks passed"
	exit 0
fi
echo "FAIL: ${result:-no result from the guest}"
tail -n 60 "$out/systemd-vm-console.log"
exit 1
