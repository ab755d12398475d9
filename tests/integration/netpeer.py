#!/usr/bin/env python3
"""The host end of the virtio-net test: on a tap in the test's own network
namespace, count the guest's test frames and send frames back until the
guest is done (STOPFILE exists).  READYFILE is created once the socket
listens on the tap.  Usage: netpeer.py TAP SECONDS [STOPFILE [READYFILE]]"""
import os, socket, sys, time

ETH_TYPE = 0x88B5
tap, seconds = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_TYPE))
s.bind((tap, 0))
if len(sys.argv) > 4:
    open(sys.argv[4], "w").close()
s.settimeout(0.05)
got = 0
deadline = time.time() + seconds
i = 0
while time.time() < deadline:
    frame = (b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" +
             ETH_TYPE.to_bytes(2, "big") + b"HYVE-NET-HOST %d" % i)
    try:
        s.send(frame.ljust(60, b"\0"))
    except OSError:
        pass        # the tap is not up yet, or already gone
    i += 1
    try:
        while True:
            data = s.recv(2048)
            if b"HYVE-NET-TEST" in data:
                got += 1
    except (socket.timeout, BlockingIOError):
        pass
    except OSError:
        time.sleep(0.05)
    if os.path.exists(sys.argv[3] if len(sys.argv) > 3 else "/nonexistent"):
        break
print("netpeer: received %d test frames from the guest, sent %d" % (got, i))
