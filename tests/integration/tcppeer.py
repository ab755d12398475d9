#!/usr/bin/env python3
"""The host end of the Linux guest's TCP checks (tests/linux/hyve-test).
Port 5001: reads what the guest sends until it shuts down its side, answers
with the sha256 of it.  Port 5002: sends a sha256 line, then MIB MiB of
random bytes.  With a directory CTL: while CTL/hold exists, both
directions go slowly (256 KiB/s), so that a transfer lasts through the
restarts a test makes; once CTL/open-PORT exists, PORT accepts connections
(the guest's workloads run until they can connect: the test's "stop").
Stops after SECONDS.  Usage: tcppeer.py ADDR MIB SECONDS [CTL]"""
import hashlib, os, select, socket, sys, time

addr, mib, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ctl = sys.argv[4] if len(sys.argv) > 4 else None
hold = ctl and os.path.join(ctl, "hold")
deadline = time.time() + seconds
CHUNK = 65536


def slow():
    if hold and os.path.exists(hold):
        time.sleep(CHUNK / 262144)


def listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(4)
    return s


def receive(c):
    h = hashlib.sha256()
    n = 0
    while time.time() < deadline:
        slow()
        b = c.recv(CHUNK)
        if n == 0:
            print("tcppeer: receiving", flush=True)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(h.hexdigest().encode() + b"\n")
    print("tcppeer: received %d bytes, sha256 %s" % (n, h.hexdigest()), flush=True)


def send(c):
    data = os.urandom(mib << 20)
    d = hashlib.sha256(data).hexdigest()
    c.sendall(d.encode() + b"\n")
    for i in range(0, len(data), CHUNK):
        if time.time() > deadline:
            break
        slow()
        c.sendall(data[i:i + CHUNK])
    print("tcppeer: sent %d bytes, sha256 %s" % (len(data), d), flush=True)


def opened(c):
    pass


ls = {listener(5001): receive, listener(5002): send}
ports = set()
while time.time() < deadline:
    for f in os.listdir(ctl) if ctl else []:
        if f.startswith("open-") and int(f[5:]) not in ports:
            ports.add(int(f[5:]))
            ls[listener(int(f[5:]))] = opened
            print("tcppeer: port %s open" % f[5:], flush=True)
    r, _, _ = select.select(list(ls), [], [], 0.5)
    for s in r:
        c, _ = s.accept()
        c.settimeout(max(1, deadline - time.time()))
        try:
            ls[s](c)
        except OSError as e:
            print("tcppeer: %s" % e, flush=True)
        c.close()
