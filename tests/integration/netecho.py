#!/usr/bin/env python3
"""The host end of the test guest's net-echo and bench-net: on a tap in the
test's own network namespace, answer every frame of ethertype 0x88B5 whose
payload is "HYVE-ECHO <seq>" with "HYVE-ECHO-REPLY <seq>", until STOPFILE
exists or SECONDS have passed.

With --flood SIZE, also flood the guest with SIZE-byte frames ("HYVE-FLOOD
<seq>") from the moment it sends "HYVE-FLOOD-START" until it sends
"HYVE-FLOOD-STOP" (bench-net's receive case).

Prints "netecho: listening on TAP" once it listens, so that a test can wait
for that rather than guess how long Python takes to start.

Usage: netecho.py TAP SECONDS [STOPFILE] [--flood SIZE]"""
import os, socket, sys, time

ETH_TYPE = 0x88B5
PEER_MAC = bytes.fromhex("020000000001")
PACKET_OUTGOING = 4


def main():
    args = sys.argv[1:]
    flood = 0
    if "--flood" in args:
        i = args.index("--flood")
        flood = int(args[i + 1])
        del args[i:i + 2]
        if not 60 <= flood <= 1514:
            sys.exit("netecho: --flood %d: the frame size must be 60-1514" % flood)
    if len(args) < 2:
        sys.exit(__doc__)
    tap, seconds = args[0], float(args[1])
    stop = args[2] if len(args) > 2 else None
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_TYPE))
    s.bind((tap, 0))
    s.setblocking(False)
    print("netecho: listening on %s" % tap, flush=True)
    echoed = flooded = 0
    guest = None            # set while flooding: the guest's MAC
    deadline = time.time() + seconds
    checked = 0.0
    while True:
        now = time.time()
        if now >= deadline:
            break
        if now - checked > 0.1:
            checked = now
            if stop and os.path.exists(stop):
                break
        try:
            data, addr = s.recvfrom(2048)
        except BlockingIOError:
            data = None
        except OSError:
            time.sleep(0.05)        # the tap is not up yet, or gone
            continue
        if data is None:
            if guest is None:
                time.sleep(0.0005)
                continue
            body = ("HYVE-FLOOD %d" % flooded).encode()
            frame = guest + PEER_MAC + ETH_TYPE.to_bytes(2, "big") + body
            try:
                s.send(frame.ljust(flood, b"\0"))
                flooded += 1
            except OSError:
                pass                # tap queue full: like a wire, drop
            continue
        if addr[2] == PACKET_OUTGOING or len(data) < 14:
            continue
        payload = data[14:].rstrip(b"\0")
        if payload.startswith(b"HYVE-ECHO "):
            reply = (data[6:12] + PEER_MAC + ETH_TYPE.to_bytes(2, "big") +
                     b"HYVE-ECHO-REPLY " + payload[10:])
            try:
                s.send(reply.ljust(60, b"\0"))
                echoed += 1
            except OSError:
                pass
        elif payload == b"HYVE-FLOOD-START" and flood:
            guest = data[6:12]
        elif payload == b"HYVE-FLOOD-STOP":
            guest = None
    print("netecho: %d frames echoed, %d flood frames of %d bytes sent" %
          (echoed, flooded, flood))


main()
