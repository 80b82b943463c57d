#!/bin/sh
# SPDX-License-Identifier: MIT
# The Debian packages (debian/), built and used the way Debian's tools do it.
#
#   test_debs.sh build   SRCDIR BUILDDIR   dpkg-buildpackage -us -uc -b on a copy of the
#                                          sources, then lintian: no error and no warning
#   test_debs.sh install SRCDIR BUILDDIR   apt-get installs the four packages into a fresh
#                                          `debootstrap --variant=minbase` bookworm root, checks
#                                          what they put there and did (sysusers, units
#                                          enabled, DKMS built the stub for a Debian kernel),
#                                          runs the installed daemon and a client built with
#                                          pkg-config, then removes and purges them
#
# The packages are built in BUILDDIR/debs (install builds them first if they are missing or
# older than the sources' last change). Needs root and Debian's archive; exit 77 (skip) when
# a tool is missing or the archive cannot be reached, unless $CI is true or
# $CMABUF_INSTALL_REQUIRE=1, where that fails instead.
set -u

mode=$1
src=$(cd "$2" && pwd)
build=$(cd "$3" && pwd)
CACHE=$build/minbase-cache
. "$src/tests/install/minbase.sh"

debs=$build/debs
check_out=$debs/check.out
. "$src/tests/install/check.sh"


case $mode in
build)
	command -v lintian >/dev/null 2>&1 || skip_or_fail "lintian not found (dev/deps test)"
	(
		flock 9
		build_debs
	) 9>"$build/debs.lock" || exit 1
	echo "lintian --fail-on error,warning on the .changes (all six packages, dbgsym included)"
	lintian --fail-on error,warning --display-info "$debs/cmabuf_${version}_$arch.changes" \
		>"$debs/lintian.txt" 2>&1
	rc=$?
	grep -v 'running with root privileges' "$debs/lintian.txt"
	# Tags left on purpose, each with its reason (see README.md "Debian packages"):
	#   I: cmabuf: package-supports-alternative-init-but-no-init.d-script
	#      cmabufd needs socket activation, sd_notify and the fd store: systemd only.
	if [ $rc -ne 0 ]; then
		echo "FAIL: lintian found errors or warnings (exit $rc)"
		failures=$((failures + 1))
	else
		echo "ok:   lintian: no error, no warning"
	fi
	;;
install)
	minbase_pristine
	(
		flock 9
		debs_current || build_debs
	) 9>"$build/debs.lock" || exit 1
	root=$build/minbase-install
	minbase_copy "$root"
	mkdir -p "$root/root/debs"
	for p in $pkgs; do cp "$debs/$p" "$root/root/debs/"; done

	# The kernel the VM tests boot: DKMS builds the stub against its headers.
	kver=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n 1)
	[ -n "$kver" ] || skip_or_fail "apt-cache does not know linux-image-amd64 (apt-get update?)"

	echo "apt-get install in the minbase root (log: $debs/apt.log)"
	start=$(date +%s)
	if ! in_root "$root" sh -c "apt-get update -q &&
		apt-get install -y -q --no-install-recommends linux-headers-$kver gcc libc6-dev pkg-config &&
		apt-get install -y -q --no-install-recommends \
			$(for p in $pkgs; do printf '/root/debs/%s ' "$p"; done)" \
		>"$debs/apt.log" 2>&1; then
		tail -n 30 "$debs/apt.log"
		if grep -qE "Temporary failure resolving|Could not resolve|Failed to fetch" "$debs/apt.log"; then
			skip_or_fail "Debian's archive cannot be reached from the minbase root"
		fi
		echo "FAIL: apt-get install of the packages"
		exit 1
	fi
	echo "apt-get install took $(($(date +%s) - start)) s"
	r() { in_root "$root" "$@"; }

	for p in cmabuf libcmabuf0 libcmabuf-dev uio-cma-dkms; do
		check "$p is installed" sh -c "chroot '$root' dpkg-query -W -f='\${Status}' $p | grep -qx 'install ok installed'"
	done
	for f in /usr/sbin/cmabufd /usr/bin/cmabufctl /lib/systemd/system/cmabufd.service \
		/lib/systemd/system/cmabufd.socket /lib/udev/rules.d/99-cmabuf.rules \
		/usr/lib/sysusers.d/cmabuf.conf /usr/lib/tmpfiles.d/cmabuf.conf \
		/usr/share/doc/cmabuf/cmabufd.conf.example /usr/share/doc/cmabuf/operations.md.gz \
		/usr/share/man/man8/cmabufd.8.gz /usr/share/man/man1/cmabufctl.1.gz \
		/usr/include/cmabuf.h /usr/lib/modules-load.d/uio_cma.conf \
		"/usr/src/uio_cma-$version/dkms.conf" "/usr/src/uio_cma-$version/main.c" \
		"/usr/src/uio_cma-$version/heap.c" "/usr/src/uio_cma-$version/uio_cma_priv.h" \
		"/usr/src/uio_cma-$version/uio_cma.h"; do
		check "$f installed" test -e "$root$f"
	done
	check "pkg-config finds cmabuf $version" sh -c \
		"chroot '$root' pkg-config --modversion cmabuf | grep -qx '$version'"
	check "ExecStart=/usr/sbin/cmabufd" grep -qx 'ExecStart=/usr/sbin/cmabufd' \
		"$root/lib/systemd/system/cmabufd.service"

	# Maintainer scripts: sysusers made the user, the socket is enabled, the service not.
	check "systemd-sysusers made system user cmabuf" sh -c \
		"uid=\$(chroot '$root' getent passwd cmabuf | cut -d: -f3); [ -n \"\$uid\" ] && [ \"\$uid\" -lt 1000 ]"
	check "group cmabuf exists" chroot "$root" getent group cmabuf
	check "cmabufd.socket enabled (sockets.target.wants)" test -L \
		"$root/etc/systemd/system/sockets.target.wants/cmabufd.socket"
	check "cmabufd.service not enabled at boot (the socket starts it)" test ! -e \
		"$root/etc/systemd/system/multi-user.target.wants/cmabufd.service"

	# DKMS built and installed the stub for the Debian kernel whose headers are there.
	check "dkms install uio_cma/$version for $kver" r dkms install "uio_cma/$version" -k "$kver"
	check "dkms status: uio_cma/$version, $kver: installed" sh -c \
		"chroot '$root' dkms status uio_cma | grep -q '$version, $kver, .*installed'"
	ko=$(find "$root/lib/modules/$kver/updates" -name 'uio_cma.ko*' 2>/dev/null | head -n 1)
	check "uio_cma.ko under /lib/modules/$kver/updates" test -n "$ko"
	[ -z "$ko" ] || check "its vermagic is $kver" sh -c \
		"chroot '$root' modinfo -F vermagic '${ko#"$root"}' | grep -q '^$kver '"

	# The installed daemon serves, as user cmabuf, a client built against libcmabuf-dev.
	sed -n '/^```c$/,/^```$/p' "$src/README.md" | sed '1d;$d' >"$root/root/hello.c"
	check "README's client builds with cc hello.c \$(pkg-config --cflags --libs cmabuf)" \
		r sh -c 'cd /root && cc hello.c $(pkg-config --cflags --libs cmabuf) -o hello'
	check "installed cmabufd serves cmabufctl and the client (--user=cmabuf)" r sh -c '
		/usr/sbin/cmabufd --backend=memfd --region-size=64M --socket=/tmp/s/cmabufd.sock \
			--user=cmabuf >/tmp/d.log 2>&1 &
		d=$!
		i=0; while [ ! -S /tmp/s/cmabufd.sock ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
		export CMABUF_SOCKET=/tmp/s/cmabufd.sock
		cmabufctl status | grep -q "^backend: *memfd" && /root/hello | grep -q "bytes$" &&
			grep -q "running as user cmabuf" /tmp/d.log
		rc=$?; kill $d; wait $d; cat /tmp/d.log; exit $rc'

	# Remove, then purge: programs, module and enablement go; no daemon is left behind.
	check "apt-get remove cmabuf uio-cma-dkms" r apt-get remove -y -q cmabuf uio-cma-dkms
	check "cmabufd removed" test ! -e "$root/usr/sbin/cmabufd"
	check "dkms no longer knows uio_cma" sh -c "! chroot '$root' dkms status uio_cma | grep -q ."
	check "uio_cma.ko removed" sh -c "! find '$root/lib/modules' -name 'uio_cma.ko*' | grep -q ."
	check "/usr/src/uio_cma-$version removed" test ! -e "$root/usr/src/uio_cma-$version"
	check "apt-get purge cmabuf libcmabuf0 libcmabuf-dev uio-cma-dkms" r apt-get purge -y -q \
		cmabuf libcmabuf0 libcmabuf-dev uio-cma-dkms
	check "purge removed the socket's enablement" test ! -e \
		"$root/etc/systemd/system/sockets.target.wants/cmabufd.socket"
	check "no package of cmabuf's left" sh -c \
		"! chroot '$root' dpkg -l cmabuf libcmabuf0 libcmabuf-dev uio-cma-dkms 2>/dev/null | grep -q '^[ir]'"
	rm -rf "$root"
	;;
*)
	echo "usage: test_debs.sh build|install SRCDIR BUILDDIR" >&2
	exit 2
	;;
esac

[ $failures -eq 0 ] && echo "all checks passed" || echo "$failures failed"
[ $failures -eq 0 ]
