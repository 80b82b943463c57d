#!/usr/bin/env python3
"""cmabufd speaks sd_notify: READY, STATUS, WATCHDOG from the loop, RELOADING on SIGHUP,
STOPPING on SIGTERM. A NOTIFY_SOCKET listener stands in for systemd.
Usage: test_notify.py CMABUFD"""
import os, signal, socket, subprocess, sys, tempfile, time

cmabufd = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="cmabuf-notify-")
listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
listener.bind(os.path.join(tmp, "notify"))
listener.settimeout(0.2)
env = dict(os.environ, NOTIFY_SOCKET=os.path.join(tmp, "notify"), WATCHDOG_USEC="300000")
env.pop("WATCHDOG_PID", None)
daemon = subprocess.Popen([cmabufd, "--backend=memfd", "--region-size=16M",
                           "--socket=" + os.path.join(tmp, "sock")], env=env,
                          stderr=subprocess.DEVNULL)
seen = []


def wait_for(prefix, seconds=5.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for m in seen:
            if m.startswith(prefix):
                seen.remove(m)
                return m
        try:
            seen.extend(listener.recv(4096).decode().split("\n"))
        except socket.timeout:
            pass
    sys.exit(f"FAIL: no {prefix!r} within {seconds}s; got {seen}")


try:
    wait_for("READY=1")
    status = wait_for("STATUS=backend memfd: 0 buffers")
    # Everything the issue asks STATUS to carry, with this daemon's numbers.
    want = ("STATUS=backend memfd: 0 buffers, 0.0 MiB used, 16.0 MiB free, "
            "largest free 16.0 MiB, 0 clients")
    assert status == want, f"STATUS is {status!r}, expected {want!r}"
    wait_for("WATCHDOG=1")
    wait_for("WATCHDOG=1")  # repeatedly, from the loop
    daemon.send_signal(signal.SIGHUP)
    wait_for("RELOADING=1")
    wait_for("READY=1")
    daemon.send_signal(signal.SIGTERM)
    wait_for("STOPPING=1")
    assert daemon.wait(timeout=10) == 0, "cmabufd did not exit cleanly"
    print("ok:", status)
finally:
    if daemon.poll() is None:
        daemon.kill()
