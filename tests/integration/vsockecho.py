#!/usr/bin/env python3
"""The host end of t_vsock (the test guest's vsock test): PATH_7000 echoes
each connection's bytes back as they come; and it connects to the guest's
port 8000 through PATH ("CONNECT 8000", retried until the guest accepts),
sends "from the host\\n", reads the guest's line and closes.  Prints what it
did; stops after SECONDS.  Usage: vsockecho.py PATH SECONDS"""
import os, socket, sys, threading, time

path, deadline = sys.argv[1], time.time() + float(sys.argv[2])


def echo():
    name = path + "_7000"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(name)
    os.chmod(name, 0o777)  # the backend runs as the tenant's uid
    s.listen(4)
    s.settimeout(1)
    print("vsockecho: listening on %s" % name, flush=True)
    while time.time() < deadline:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        c.settimeout(10)
        try:
            while True:
                b = c.recv(4096)
                if not b:
                    break
                c.sendall(b)
                print("vsockecho: echoed %r" % b, flush=True)
        except OSError as e:
            print("vsockecho: echo: %s" % e, flush=True)
        c.close()


threading.Thread(target=echo, daemon=True).start()
while time.time() < deadline:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
        s.sendall(b"CONNECT 8000\n")
        f = s.makefile("rb")
        ok = f.readline()
        if ok.startswith(b"OK "):
            s.sendall(b"from the host\n")
            line = f.readline()
            print("vsockecho: %s; the guest sent %r" % (ok.decode().strip(),
                                                       line), flush=True)
            # The socket's fd stays open while f refers to it.
            f.close()
            s.close()
            break
    except OSError:
        pass
    s.close()
    time.sleep(0.2)
while time.time() < deadline:
    time.sleep(0.5)
