#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The daemon's direction of use, checked (docs/architecture.md).

  core/     uses nothing of front/, backend/ or the wiring: no libevent, no sockets,
            no systemd, no udev, no threads; it links against nothing of theirs
  front/    uses core/ and the leaf utilities, never backend/
  backend/  uses core/ and the leaf utilities, never front/
  wiring    (daemon/*.c) may use all three

Two views: the #include lines of every file, and the link map of the daemon's static
library (which object defines each symbol another object needs), so that a call
through a header declared elsewhere cannot hide a dependency.

Usage: check_layout.py DAEMON_SRC_DIR LIBCMABUFD_A
"""
import os
import re
import subprocess
import sys

ROOMS = ("core", "front", "backend")
# Top-level headers that include nothing of front/ or backend/: any room but core may use them.
LEAF_UTILITIES = {"log.h", "clock.h", "options.h", "notify_socket.h"}
# What the core must not include: I/O of every kind comes to it as data.
CORE_FORBIDDEN_SYSTEM = re.compile(
    r"^(event2/|sys/socket\.h|sys/un\.h|sys/epoll\.h|systemd/|libudev\.h|pthread\.h|unistd\.h"
    r"|fcntl\.h|sys/mman\.h|time\.h|pwd\.h|grp\.h|dirent\.h|sys/stat\.h|sys/ioctl\.h|poll\.h)")
# Symbols whose use by the core would be I/O, whichever header declared them.
CORE_FORBIDDEN_SYMBOLS = re.compile(
    r"^(event_|evtimer_|evsignal_|bufferevent_|socket$|accept4?$|connect$|bind$|listen$"
    r"|send(msg|mmsg|to)?$|recv(msg|mmsg|from)?$|read$|write$|open(at)?$|close$|ioctl$"
    r"|clock_gettime$|time$|gettimeofday$|getpw|getgr|sd_|udev_|pthread_|fopen$|syslog$"
    r"|fprintf$|printf$|puts$|perror$)")

failures = []


def fail(msg):
    failures.append(msg)


def room_of(rel):
    head = rel.split("/", 1)[0]
    return head if head in ROOMS else "wiring"


def local_headers(src):
    """Every header of the daemon by name -> its path relative to src (names are unique)."""
    found = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if f.endswith(".h"):
                rel = os.path.relpath(os.path.join(dirpath, f), src)
                if f in found:
                    fail(f"two headers named {f}: {found[f]} and {rel}")
                found[f] = rel
    return found


def check_includes(src, headers):
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            room = room_of(rel)
            with open(os.path.join(src, rel)) as fh:
                for lineno, line in enumerate(fh, 1):
                    m = re.match(r'\s*#\s*include\s*([<"])([^>"]+)[>"]', line)
                    if not m:
                        continue
                    name = m.group(2)
                    where = f"{rel}:{lineno}"
                    if m.group(1) == "<":
                        if room == "core" and CORE_FORBIDDEN_SYSTEM.match(name):
                            fail(f"{where}: core/ includes <{name}> (I/O belongs outside the core)")
                        continue
                    target = headers.get(os.path.basename(name))
                    if target is None:
                        continue  # lib/ or include/: the protocol and the public header
                    troom = room_of(target)
                    if room == "core" and troom != "core":
                        fail(f"{where}: core/ includes {target}")
                    elif room in ("front", "backend") and troom not in ("core", room):
                        if troom == "wiring" and os.path.basename(target) in LEAF_UTILITIES:
                            continue
                        fail(f"{where}: {room}/ includes {target}")
                    elif room == "wiring" and os.path.basename(rel) in LEAF_UTILITIES \
                            and troom in ("front", "backend"):
                        fail(f"{where}: the leaf utility {rel} includes {target}")


def object_room(member):
    # meson names the objects of daemon/core/x.c "core_x.c.o" (a thin archive keeps the path)
    member = os.path.basename(member)
    for room in ROOMS:
        if member.startswith(room + "_"):
            return room
    return "wiring"


def check_links(archive):
    out = subprocess.run(["nm", "-A", "--defined-only", archive], capture_output=True,
                         text=True, check=True).stdout
    defined = {}
    for line in out.splitlines():
        m = re.match(r"^[^:]*:([^:]+):\s*[0-9a-f]+ ([TDBRCV]) (\S+)$", line)
        if m:
            defined[m.group(3)] = m.group(1)
    out = subprocess.run(["nm", "-A", "--undefined-only", archive], capture_output=True,
                         text=True, check=True).stdout
    seen = 0
    for line in out.splitlines():
        m = re.match(r"^[^:]*:([^:]+):\s+U (\S+)$", line)
        if not m:
            continue
        seen += 1
        member, sym = m.group(1), m.group(2).split("@")[0]
        room = object_room(member)
        if room == "core" and CORE_FORBIDDEN_SYMBOLS.match(sym):
            fail(f"{member} (core) calls {sym}")
        if sym not in defined:
            continue
        troom = object_room(defined[sym])
        if room == "core" and troom != "core":
            fail(f"{member} (core) needs {sym} from {defined[sym]} ({troom})")
        elif room in ("front", "backend") and troom in ROOMS and troom not in ("core", room):
            fail(f"{member} ({room}) needs {sym} from {defined[sym]} ({troom})")
    if seen == 0:
        fail(f"nm found no undefined symbols in {archive}: is it the daemon's library?")
    for room in ROOMS:
        if not any(object_room(m) == room for m in set(defined.values())):
            fail(f"no object of {room}/ in {archive}")


def main():
    src, archive = sys.argv[1], sys.argv[2]
    headers = local_headers(src)
    check_includes(src, headers)
    check_links(archive)
    for f in failures:
        print("layout:", f)
    if failures:
        print(f"{len(failures)} violation(s) of the direction of use")
        return 1
    print("core, front and backend: the direction of use holds (includes and link map)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
