#!/usr/bin/env python3
"""The host end of t_linux_vsock, on hyve-vsock's unix sockets.
PATH_5000: reads what the guest sends until it shuts down its side,
answers with the sha256 of it.  PATH_5001: logs "hold connected" and waits
for the connection to break (the test kills the backend meanwhile).  To
the guest: CONN connections at once to port 6000 through PATH ("CONNECT
6000"), MIB/CONN MiB each, each checked against the sha256 the guest
answers; once CTL/restarted exists, one more of 1 MiB to port 6001, and
once CTL/restored exists (the test restored the VM from a snapshot), one
of 1 MiB to port 6002.
CONNECT is retried until the guest listens.  Stops after SECONDS.
Usage: vsockpeer.py PATH MIB CONN SECONDS CTL"""
import hashlib, os, socket, sys, threading, time

path, mib, nconn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
deadline = time.time() + float(sys.argv[4])
ctl = sys.argv[5]
CHUNK = 65536
lock = threading.Lock()


def log(*a):
    with lock:
        print("vsockpeer:", *a, flush=True)


def listener(port):
    name = "%s_%d" % (path, port)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(name)
    os.chmod(name, 0o777)  # the backend runs as the tenant's uid
    s.listen(8)
    s.settimeout(1)
    return s


def hash_reply(c):
    h = hashlib.sha256()
    n = 0
    while True:
        b = c.recv(CHUNK)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall((h.hexdigest() + "  -\n").encode())
    c.close()
    log("g2h received %d bytes sha %s" % (n, h.hexdigest()))


def hold(c):
    log("hold connected")
    try:
        while c.recv(CHUNK):
            pass
        log("hold: EOF")
    except OSError as e:
        log("hold: %s" % e)
    c.close()


def serve(port, fn):
    s = listener(port)
    while time.time() < deadline:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        c.settimeout(max(1, deadline - time.time()))
        threading.Thread(target=fn, args=(c,), daemon=True).start()


def dial(port):
    """A connection to guest port, once the guest accepts it."""
    while time.time() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(max(1, deadline - time.time()))
        try:
            s.connect(path)
            s.sendall(b"CONNECT %d\n" % port)
            line = b""
            while not line.endswith(b"\n"):
                b = s.recv(1)
                if not b:
                    break
                line += b
            if line.startswith(b"OK "):
                return s, line.decode().strip()
        except OSError:
            pass
        s.close()
        time.sleep(0.5)
    return None, None


def send(port, nbytes, tag):
    s, line = dial(port)
    if s is None:
        log("%s FAIL: no connection to guest port %d" % (tag, port))
        return
    h = hashlib.sha256()
    left = nbytes
    try:
        while left > 0:
            b = os.urandom(min(CHUNK, left))
            h.update(b)
            s.sendall(b)
            left -= len(b)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(256)
            if not b:
                break
            got += b
    except OSError as e:
        log("%s FAIL: %s after %d bytes" % (tag, e, nbytes - left))
        return
    got = got.decode(errors="replace").split(" ")[0].strip()
    if got == h.hexdigest():
        log("%s ok: %d bytes sha %s (%s)" % (tag, nbytes, got, line))
    else:
        log("%s FAIL: sent sha %s, guest got %s" % (tag, h.hexdigest(), got))


for port, fn in ((5000, hash_reply), (5001, hold)):
    threading.Thread(target=serve, args=(port, fn), daemon=True).start()
ts = [threading.Thread(target=send, args=(6000, mib * 1048576 // nconn,
                                          "h2g %d" % i)) for i in range(nconn)]
for t in ts:
    t.start()
for t in ts:
    t.join()
while not os.path.exists(os.path.join(ctl, "restarted")):
    if time.time() > deadline:
        log("h2g-after FAIL: the test never restarted the backend")
        sys.exit(1)
    time.sleep(0.1)
send(6001, 1048576, "h2g-after")
while not os.path.exists(os.path.join(ctl, "restored")):
    if time.time() > deadline or os.path.exists(os.path.join(ctl, "stop")):
        log("h2g-restored: no restore")
        sys.exit(0)
    time.sleep(0.1)
send(6002, 1048576, "h2g-restored")
while time.time() < deadline and not os.path.exists(os.path.join(ctl, "stop")):
    time.sleep(0.2)
