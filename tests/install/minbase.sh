# SPDX-License-Identifier: MIT
# Shared by the tests that need a fresh Debian 12: a `debootstrap --variant=minbase bookworm`
# root, made once and kept under the build directory, of which each test works on a copy.
# Source it after setting CACHE (a directory under the build dir); it defines:
#
#   skip_or_fail MSG     exit 77 (skip), or 1 under CI=true / CMABUF_INSTALL_REQUIRE=1
#   minbase_pristine     make $CACHE/pristine once (locked; debootstrap from Debian's archive,
#                        with the host's apt sources, so bookworm-updates and security too)
#   copy_sources SRC DEST  the files git tracks in SRC (and new ones it does not ignore)
#   minbase_copy DIR     a fresh copy of it at DIR
#   build_debs, debs_current   build $debs (from $src) / whether it is up to date; need
#                        $src and $debs from the caller
#   in_root DIR CMD...   run CMD chrooted in DIR, with /proc, /sys, /dev and a tmpfs /tmp
#                        mounted in a private mount namespace (gone when CMD ends), and the
#                        apt archive cache shared between runs ($CACHE/apt-archives)

skip_or_fail() {
	if [ "${CI:-}" = true ] || [ "${CMABUF_INSTALL_REQUIRE:-}" = 1 ]; then
		echo "FAIL (skipping not allowed here): $*"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}

# The packages debian/ builds ($src: the source directory, set before sourcing this).
version=$(sed -n '1s/^cmabuf (\([^)]*\)).*/\1/p' "$src/debian/changelog")
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
pkgs="cmabuf_${version}_$arch.deb libcmabuf0_${version}_$arch.deb
      libcmabuf-dev_${version}_$arch.deb uio-cma-dkms_${version}_all.deb"

MIRROR=${CMABUF_DEBIAN_MIRROR:-http://deb.debian.org/debian}

minbase_pristine() {
	for tool in debootstrap chroot unshare flock; do
		command -v "$tool" >/dev/null 2>&1 ||
			skip_or_fail "$tool not found (dev/deps test installs debootstrap)"
	done
	[ "$(id -u)" -eq 0 ] || skip_or_fail "a debootstrap root needs root"
	mkdir -p "$CACHE/apt-archives/partial"
	# Packages this machine's apt already fetched need not be fetched again: hard links (same
	# file system only, so free), checked by apt against the archive's index like any other.
	find /var/cache/apt/archives -maxdepth 1 -name '*.deb' -exec ln -f -t "$CACHE/apt-archives" {} + \
		2>/dev/null || true
	(
		flock 9
		[ -f "$CACHE/pristine/.cmabuf-complete" ] && exit 0
		rm -rf "$CACHE/pristine" "$CACHE/pristine.tmp"
		echo "debootstrap --variant=minbase bookworm into $CACHE/pristine (once)"
		start=$(date +%s)
		if ! debootstrap --variant=minbase --cache-dir="$CACHE/apt-archives" bookworm \
			"$CACHE/pristine.tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
			tail -n 20 "$CACHE/debootstrap.log"
			rm -rf "$CACHE/pristine.tmp"
			exit 3
		fi
		# The host's sources (bookworm, -updates, -security) so that apt in the root sees
		# what apt here sees, kernel headers included.
		if [ -f /etc/apt/sources.list.d/debian.sources ]; then
			rm -f "$CACHE/pristine.tmp/etc/apt/sources.list"
			cp /etc/apt/sources.list.d/debian.sources "$CACHE/pristine.tmp/etc/apt/sources.list.d/"
		fi
		rm -rf "$CACHE/pristine.tmp/var/cache/apt/archives"/*.deb
		echo "debootstrap took $(($(date +%s) - start)) s"
		touch "$CACHE/pristine.tmp/.cmabuf-complete"
		mv "$CACHE/pristine.tmp" "$CACHE/pristine"
	) 9>"$CACHE/lock"
	case $? in
	0) ;;
	3) skip_or_fail "debootstrap failed (no access to Debian's archive?); log above" ;;
	*) echo "FAIL: making the minbase root"; exit 1 ;;
	esac
}

minbase_copy() {
	rm -rf "$1"
	cp -a "$CACHE/pristine" "$1"
	cp /etc/resolv.conf "$1/etc/resolv.conf" 2>/dev/null || true
}

in_root() {
	root=$1
	shift
	unshare --mount --propagation private -- sh -c '
		set -e
		root=$1; cache=$2; shift 2
		mount -t proc proc "$root/proc"
		mount --rbind /sys "$root/sys"
		mount --rbind /dev "$root/dev"
		mount -t tmpfs tmpfs "$root/tmp"
		mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
		exec chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			DEBIAN_FRONTEND=noninteractive ${CI:+CI=$CI} "$@"
	' in_root "$root" "$CACHE" "$@"
}

# The sources as a release would have them: the files git tracks (and any not yet
# committed in the work tree), without build directories.
copy_sources() { # copy_sources SRCDIR DEST
	src_=$1
	dest=$2
	mkdir -p "$dest"
	if git -C "$src_" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$src_" && git ls-files -z --cached --others --exclude-standard |
			xargs -0 cp --parents -d -t "$dest" 2>/dev/null)
		# A file deleted in the work tree but still in the index is simply absent.
		return 0
	fi
	(cd "$src_" && tar --exclude='./build*' --exclude='./obj-*' --exclude=./.git -cf - .) |
		(cd "$dest" && tar -xf -)
}


build_debs() {
	for tool in dpkg-buildpackage dh dh_dkms dh_installsysusers help2man; do
		command -v "$tool" >/dev/null 2>&1 ||
			skip_or_fail "$tool not found (dev/deps test installs debhelper, dh-dkms, help2man)"
	done
	rm -rf "$debs"
	mkdir -p "$debs"
	copy_sources "$src" "$debs/cmabuf-$version"
	echo "dpkg-buildpackage -us -uc -b in $debs/cmabuf-$version (log: $debs/build.log)"
	start=$(date +%s)
	if ! (cd "$debs/cmabuf-$version" && dpkg-buildpackage -us -uc -b) >"$debs/build.log" 2>&1; then
		tail -n 40 "$debs/build.log"
		echo "FAIL: dpkg-buildpackage"
		exit 1
	fi
	echo "dpkg-buildpackage took $(($(date +%s) - start)) s"
	for p in $pkgs; do
		# (Often run in a subshell holding a lock: a missing package ends it.)
		[ -f "$debs/$p" ] || { echo "FAIL: dpkg-buildpackage made no $p"; exit 1; }
		echo "ok:   built $p"
	done
	touch "$debs/.complete"
}

# Built from the sources as they are now?
debs_current() {
	[ -f "$debs/.complete" ] || return 1
	newer=$(cd "$src" && find debian docs lib daemon tools include kmod systemd meson.build \
		meson_options.txt -newer "$debs/.complete" -type f 2>/dev/null | head -n 1)
	[ -z "$newer" ]
}
