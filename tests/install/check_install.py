#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Install the build directory into a temporary DESTDIR and check the result.

    check_install.py tree     BUILDDIR   # every file cmabuf installs is there and consistent
    check_install.py security BUILDDIR   # systemd-analyze security --offline: exposure <= 2.0
    check_install.py verify   BUILDDIR   # systemd-analyze verify on the installed units

$MESON names the meson command (the test registration passes the one that configured the
build). Exit 77 (skip) when systemd-analyze or the systemd files are not there, unless
$CI is true or $CMABUF_INSTALL_REQUIRE=1, where that fails instead.
"""
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile

MAX_EXPOSURE = 2.0
failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)
    return cond


def skip(why):
    if os.environ.get("CI", "") == "true" or os.environ.get("CMABUF_INSTALL_REQUIRE") == "1":
        print(f"FAIL (skipping not allowed here): {why}")
        sys.exit(1)
    print(f"SKIP: {why}")
    sys.exit(77)


def run(cmd, **kw):
    print("$ " + " ".join(shlex.quote(str(c)) for c in cmd), flush=True)
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


def meson_cmd():
    return shlex.split(os.environ.get("MESON", "meson"))


def install(builddir, destdir):
    r = run(meson_cmd() + ["install", "-C", builddir, "--destdir", destdir, "--no-rebuild",
                           "--quiet"])
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        sys.exit(1)
    r = run(meson_cmd() + ["introspect", "--installed", builddir])
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        sys.exit(1)
    # {build or source path: absolute install path}; keys are not needed, only destinations.
    return sorted(json.loads(r.stdout).values())


def build_options(builddir):
    r = run(meson_cmd() + ["introspect", "--buildoptions", builddir])
    return {o["name"]: o["value"] for o in json.loads(r.stdout)} if r.returncode == 0 else {}


def rooted(destdir, path):
    return os.path.join(destdir, path.lstrip("/"))


def find(installed, pattern):
    """The one installed path matching the regex pattern (searched at the path's end)."""
    hits = [p for p in installed if re.search(pattern + "$", p)]
    check(len(hits) == 1, f"exactly one installed file matches {pattern} (got {hits})")
    return hits[0] if hits else None


def read(destdir, path):
    with open(rooted(destdir, path), encoding="utf-8") as f:
        return f.read()


def unit_value(text, key):
    m = re.search(rf"^{key}=(.*)$", text, re.M)
    return m.group(1).strip() if m else None


def soname(path):
    r = run(["readelf", "-d", path])
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", r.stdout)
    return m.group(1) if m else None


def check_tree(builddir):
    opts = build_options(builddir)
    with tempfile.TemporaryDirectory(prefix="cmabuf-install-") as destdir:
        installed = install(builddir, destdir)
        for p in installed:
            check(os.path.lexists(rooted(destdir, p)), f"{p} is in DESTDIR")

        # Programs.
        sbin = find(installed, r"/sbin/cmabufd")
        if sbin:
            mode = os.stat(rooted(destdir, sbin)).st_mode
            check(mode & stat.S_IXUSR, f"{sbin} is executable")
        bin_ctl = find(installed, r"/bin/cmabufctl")
        if bin_ctl:
            check(os.access(rooted(destdir, bin_ctl), os.X_OK), f"{bin_ctl} is executable")

        # Library: the real file, its soname link and the development link.
        real = find(installed, r"/libcmabuf\.so\.\d+\.\d+\.\d+")
        if real:
            libdir = os.path.dirname(rooted(destdir, real))
            name = soname(rooted(destdir, real))
            check(name == "libcmabuf.so.0", f"SONAME is libcmabuf.so.0 (got {name})")
            so0 = os.path.join(libdir, "libcmabuf.so.0")
            dev = os.path.join(libdir, "libcmabuf.so")
            check(os.path.islink(so0) and os.readlink(so0) == os.path.basename(real),
                  f"libcmabuf.so.0 -> {os.path.basename(real)}")
            check(os.path.islink(dev) and os.path.realpath(dev) == os.path.realpath(
                rooted(destdir, real)), "libcmabuf.so resolves to the real library")

        # Header and pkg-config file.
        hdr = find(installed, r"/include/cmabuf\.h")
        if hdr:
            check("cmabuf_connect" in read(destdir, hdr), "cmabuf.h declares cmabuf_connect")
        pc = find(installed, r"/pkgconfig/cmabuf\.pc")
        if pc:
            text = read(destdir, pc)
            check(re.search(r"^Libs:.*-lcmabuf", text, re.M) is not None, "cmabuf.pc: -lcmabuf")
            check(re.search(r"^Name: cmabuf$", text, re.M) is not None, "cmabuf.pc: Name")
            prefix = opts.get("prefix")
            check(f"prefix={prefix}\n" in text, f"cmabuf.pc: prefix={prefix}")

        # systemd units.
        def wanted(option, pattern):
            """The installed file, unless -D<option>=no left it out."""
            if opts.get(option) == "no":
                check(not any(re.search(pattern + "$", p) for p in installed),
                      f"-D{option}=no: nothing matching {pattern} installed")
                return None
            return find(installed, pattern)

        svc = wanted("systemdsystemunitdir", r"/systemd/system/cmabufd\.service")
        sock = wanted("systemdsystemunitdir", r"/systemd/system/cmabufd\.socket")
        for unit in filter(None, [svc, sock]):
            left = re.findall(r"@[A-Za-z_]+@", read(destdir, unit))
            check(not left, f"{unit}: no unsubstituted @VAR@ {left}")
        if svc:
            text = read(destdir, svc)
            check(unit_value(text, "ExecStart") == sbin, f"ExecStart= is the installed {sbin}")
            check(unit_value(text, "Type") == "notify", "Type=notify")
            check(unit_value(text, "User") == "cmabuf", "User=cmabuf")
            check(unit_value(text, "ExecReload") == "/bin/kill -HUP $MAINPID",
                  "ExecReload sends SIGHUP")
            check(unit_value(text, "FileDescriptorStoreMax") not in (None, "0"),
                  "FileDescriptorStoreMax set")
            check(unit_value(text, "WatchdogSec") is not None, "WatchdogSec set")
        if sock:
            text = read(destdir, sock)
            want = opts.get("default_socket", "/run/cmabuf/cmabufd.sock")
            check(unit_value(text, "ListenSequentialPacket") == want,
                  f"ListenSequentialPacket={want} (the daemon's default)")

        # sysusers.d, tmpfiles.d, udev, modules-load.d.
        su = wanted("sysusersdir", r"/sysusers\.d/cmabuf\.conf")
        if su:
            check(re.search(r"^u\s+cmabuf\s", read(destdir, su), re.M) is not None,
                  "sysusers.d creates user cmabuf")
        tf = wanted("tmpfilesdir", r"/tmpfiles\.d/cmabuf\.conf")
        if tf:
            check(re.search(r"^d\s+/run/cmabuf\s+\d+\s+cmabuf\s+cmabuf", read(destdir, tf),
                            re.M) is not None, "tmpfiles.d: /run/cmabuf owned by cmabuf")
        rules = wanted("udevdir", r"/rules\.d/99-cmabuf\.rules")
        if rules:
            text = read(destdir, rules)
            for needle in ('KERNEL=="uio_cma[0-9]*"', 'OWNER="cmabuf"', 'MODE="0600"',
                           'TAG+="systemd"', 'ENV{SYSTEMD_WANTS}+="cmabufd.service"',
                           'KERNEL=="cmabuf_heap[0-9]*", GROUP="video", MODE="0660"'):
                check(needle in text, f"udev rule has {needle}")
            # udevadm verify exists from systemd 254 on (Debian 12 has 252).
            if shutil.which("udevadm") and "verify" in run(["udevadm", "--help"]).stdout:
                r = run(["udevadm", "verify", rooted(destdir, rules)])
                check(r.returncode == 0, "udevadm verify accepts the rule " + r.stderr)
        ml = wanted("modulesloaddir", r"/modules-load\.d/uio_cma\.conf")
        if ml:
            check(re.search(r"^uio_cma$", read(destdir, ml), re.M) is not None,
                  "modules-load.d loads uio_cma")

        # Documentation and examples.
        for doc in ("operations.md", "config.md", "kmod.md", "cmabufd.conf.example",
                    "modprobe-uio_cma.conf.example"):
            find(installed, r"/doc/cmabuf/" + re.escape(doc))

        # DKMS source tree, when -Ddkmsdir= is set.
        if opts.get("dkmsdir"):
            version = subprocess.run(meson_cmd() + ["introspect", "--projectinfo", builddir],
                                     capture_output=True, text=True).stdout
            version = json.loads(version)["version"]
            base = f"{opts['dkmsdir']}/uio_cma-{version}/"
            for f in ("dkms.conf", "main.c", "heap.c", "uio_cma_priv.h", "Kbuild", "Makefile",
                      "uio_cma.h"):
                find(installed, re.escape(base + f))
            conf = read(destdir, base + "dkms.conf")
            check(f'PACKAGE_VERSION="{version}"' in conf,
                  f"dkms.conf PACKAGE_VERSION is the project's {version}")


def installed_units(builddir, destdir):
    installed = install(builddir, destdir)
    svc = [p for p in installed if p.endswith("/systemd/system/cmabufd.service")]
    sock = [p for p in installed if p.endswith("/systemd/system/cmabufd.socket")]
    if not svc or not sock:
        skip("the build installs no systemd units (is systemd/ in the build, "
             "-Dsystemdsystemunitdir=no?)")
    return installed, rooted(destdir, svc[0]), rooted(destdir, sock[0])


def need_analyze():
    if not shutil.which("systemd-analyze"):
        skip("systemd-analyze not found (Debian: apt-get install systemd)")
    r = run(["systemd-analyze", "--help"])
    if "--offline" not in r.stdout:
        skip("this systemd-analyze has no --offline (systemd >= 250 needed)")


def check_security(builddir):
    need_analyze()
    with tempfile.TemporaryDirectory(prefix="cmabuf-install-") as destdir:
        _, svc, _ = installed_units(builddir, destdir)
        # --threshold is on the 0..100 scale: exposure 2.0 is 20.
        r = run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                 f"--threshold={int(MAX_EXPOSURE * 10)}", svc])
        print(r.stdout + r.stderr)
        m = re.search(r"Overall exposure level for cmabufd\.service: (\d+\.\d+)", r.stdout)
        if check(m is not None, "systemd-analyze printed an overall exposure level"):
            level = float(m.group(1))
            check(level <= MAX_EXPOSURE, f"exposure {level} <= {MAX_EXPOSURE}")
        check(r.returncode == 0, "systemd-analyze security --threshold passes")
        for bad in ("Unknown key", "Unknown lvalue", "Failed to parse", "Invalid"):
            check(bad not in r.stderr, f"no '{bad}' warning while parsing the unit")


def check_verify(builddir):
    need_analyze()
    with tempfile.TemporaryDirectory(prefix="cmabuf-install-") as destdir:
        installed, svc, sock = installed_units(builddir, destdir)
        # verify insists ExecStart= exists on this machine: point it into DESTDIR.
        # (verify --root= would want a whole OS tree, sysinit.target included.)
        work = os.path.join(destdir, "verify")
        os.mkdir(work)
        with open(svc, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"^ExecStart=(/\S+)", lambda m: "ExecStart=" + rooted(destdir, m.group(1)),
                      text, flags=re.M)
        with open(os.path.join(work, "cmabufd.service"), "w", encoding="utf-8") as f:
            f.write(text)
        shutil.copy(sock, work)
        r = run(["systemd-analyze", "verify", "--man=no",
                 os.path.join(work, "cmabufd.service"), os.path.join(work, "cmabufd.socket")])
        print(r.stdout + r.stderr)
        check(r.returncode == 0, "systemd-analyze verify passes")
        check(r.stderr.strip() == "", "systemd-analyze verify prints no warnings")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("tree", "security", "verify"):
        print(__doc__)
        return 2
    {"tree": check_tree, "security": check_security, "verify": check_verify}[sys.argv[1]](
        sys.argv[2])
    print(f"{len(failures)} failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
