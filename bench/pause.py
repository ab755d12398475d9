#!/usr/bin/env python3
"""Helpers of bench/upgrade.sh (part 9, the core upgrade pause) and
bench/snapshot.sh (part 10, snapshot and restore).

  (The serial reader that writes OUT, "NS LINE" per line, is bench/stamp.)
  pause.py wait OUT K SECONDS
      Waits until K more beat lines than OUT has now are in it; exit 1 if
      they are not there within SECONDS.
  pause.py gaps OUT MARKS
      MARKS has lines "KIND START_NS END_NS": an operation began at START
      and by END the guest had printed beats after it.  For each, prints
      "pause KIND host_ms X" (the largest wall-clock gap between two beat
      lines, the later arriving in (START, END]) and "pause KIND guest_ms
      Y" (the largest gap the guest's TSC loop saw in the beats arriving
      then).  A window with no operation in it gives the floor.
  pause.py migrate SRC_QMP DST_QMP URI SECONDS
      QEMU's local migration: x-ignore-shared on both sides, DST listens
      on URI, SRC migrates to it; waits (at most SECONDS) until SRC says
      completed and DST runs.  Prints "qemu_downtime_ms N", QEMU's own
      figure, and quits SRC.
  pause.py save QMP URI SECONDS
      Part 10: QEMU's snapshot to a file, a migration of the running VM
      to URI (exec:cat > FILE) with no bandwidth limit (7.2's default is
      32 MiB/s); waits (at most SECONDS) until QEMU says completed.
      Prints "qemu_save_ms N" (from the migrate command to the MIGRATION
      event saying completed, measured here), QEMU's own "qemu_total_ms"
      and "qemu_downtime_ms", and quits QEMU.
"""
import json
import os
import re
import socket
import sys
import time

BEAT = re.compile(r"^tscgap: (\d+) (\d+)$")


def beats(out):
    res = []
    with open(out) as f:
        for l in f:
            ns, _, text = l.rstrip("\n").partition(" ")
            m = BEAT.match(text)
            if m:
                res.append((int(ns), int(m.group(2))))
    return res


def wait(out, k, secs):
    end = time.monotonic() + float(secs)
    while not os.path.exists(out) and time.monotonic() < end:
        time.sleep(0.01)
    fd = os.open(out, os.O_RDONLY)
    buf, n, want = b"", 0, None
    while True:
        data = os.read(fd, 65536)
        buf += data
        *lines, buf = buf.split(b"\n")
        n += sum(1 for l in lines
                 if BEAT.match(l.decode("ascii", "replace").partition(" ")[2]))
        if data:
            continue
        if want is None:
            want = n + int(k)
        if n >= want:
            return
        if time.monotonic() >= end:
            sys.exit("pause.py: %s: fewer than %s new beats in %s s" % (out, k, secs))
        time.sleep(0.002)


def gaps(out, marks):
    b = beats(out)
    wins = []
    with open(marks) as f:
        for l in f:
            kind, s, e = l.split()
            wins.append((kind, int(s), int(e)))
    for kind, s, e in wins:
        host = guest = None
        for i in range(1, len(b)):
            if s < b[i][0] <= e:
                g = (b[i][0] - b[i - 1][0]) / 1e6
                host = g if host is None else max(host, g)
                guest = b[i][1] / 1e3 if guest is None else max(guest, b[i][1] / 1e3)
        if host is None:
            print("pause.py: no beat in the window of %s" % kind, file=sys.stderr)
            continue
        print("pause %s host_ms %.1f" % (kind, host))
        print("pause %s guest_ms %.1f" % (kind, guest))


class Qmp:
    def __init__(self, path, deadline):
        self.deadline = deadline
        self.events = []
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(max(deadline - time.monotonic(), 0.1))
        self.s.connect(path)
        self.f = self.s.makefile("r")
        self.read()
        self.cmd("qmp_capabilities")

    def read(self):
        self.s.settimeout(max(self.deadline - time.monotonic(), 0.01))
        l = self.f.readline()
        if not l:
            raise RuntimeError("QMP connection closed")
        return json.loads(l)

    def cmd(self, name, **args):
        self.s.sendall(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        while True:
            m = self.read()
            if "event" in m:
                self.events.append(m)
                continue
            if "error" in m:
                raise RuntimeError("%s: %s" % (name, m["error"].get("desc")))
            return m.get("return")

    def event(self, match):
        """The first event (seen or to come) for which match(event) holds."""
        while True:
            for i, m in enumerate(self.events):
                if match(m):
                    return self.events.pop(i)
            self.events.append(self.read())


def migrate(src, dst, uri, secs):
    deadline = time.monotonic() + float(secs)
    s, d = Qmp(src, deadline), Qmp(dst, deadline)
    caps = [{"capability": "x-ignore-shared", "state": True},
            {"capability": "events", "state": True}]
    for q in (s, d):
        q.cmd("migrate-set-capabilities", capabilities=caps)
    d.cmd("migrate-incoming", uri=uri)
    s.cmd("migrate", uri=uri)
    try:
        ev = s.event(lambda m: m["event"] == "MIGRATION" and m["data"]["status"]
                     in ("completed", "failed", "cancelled"))
        if ev["data"]["status"] != "completed":
            sys.exit("pause.py: the migration ended %s" % ev["data"]["status"])
        d.event(lambda m: m["event"] == "RESUME")
    except socket.timeout:
        sys.exit("pause.py: the migration did not finish within %s s" % secs)
    st = s.cmd("query-migrate")
    print("qemu_downtime_ms %s" % st.get("downtime", "-"))
    print("qemu_ram_transferred %s" % st.get("ram", {}).get("transferred", "-"))
    try:
        s.cmd("quit")
    except (RuntimeError, OSError):
        pass


def save(path, uri, secs):
    deadline = time.monotonic() + float(secs)
    q = Qmp(path, deadline)
    q.cmd("migrate-set-capabilities",
          capabilities=[{"capability": "events", "state": True}])
    q.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 40})
    t0 = time.monotonic_ns()
    q.cmd("migrate", uri=uri)
    try:
        ev = q.event(lambda m: m["event"] == "MIGRATION" and m["data"]["status"]
                     in ("completed", "failed", "cancelled"))
    except socket.timeout:
        sys.exit("pause.py: the migration to %s did not finish within %s s" % (uri, secs))
    t1 = time.monotonic_ns()
    # QEMU sets its own figures just after the event: polled for them.
    st = q.cmd("query-migrate")
    while (st.get("status") == "completed" and not st.get("total-time")
           and time.monotonic() < deadline):
        time.sleep(0.01)
        st = q.cmd("query-migrate")
    if ev["data"]["status"] != "completed" or st.get("status") != "completed":
        sys.exit("pause.py: the migration to %s ended %s (query-migrate: %s)"
                 % (uri, ev["data"]["status"], st.get("status")))
    print("qemu_save_ms %.1f" % ((t1 - t0) / 1e6))
    print("qemu_total_ms %s" % st.get("total-time", "-"))
    print("qemu_downtime_ms %s" % st.get("downtime", "-"))
    try:
        q.cmd("quit")
    except (RuntimeError, OSError):
        pass


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[:1] == ["wait"] and len(a) == 4:
        wait(*a[1:])
    elif a[:1] == ["gaps"] and len(a) == 3:
        gaps(*a[1:])
    elif a[:1] == ["migrate"] and len(a) == 5:
        migrate(*a[1:])
    elif a[:1] == ["save"] and len(a) == 4:
        save(*a[1:])
    else:
        sys.exit(__doc__)
