#!/bin/sh
# The test guest's virtio-net driver under QEMU (TCG) with a tap device in
# a private network namespace: the guest sends 8 frames of ethertype
# 0x88B5, a raw-socket peer answers with 8, the guest must see 4.
. "$(dirname "$0")/lib.sh"
need_cmd qemu-system-x86_64
need_cmd python3
need_cmd ip
[ -f "$GUEST" ] || make -C "$ROOT" build/testguest >/dev/null || fail "cannot build $GUEST"
unshare -n ip tuntap add tapq mode tap 2>/dev/null ||
    { echo "SKIP: cannot create a tap device in a network namespace (unshare -n, /dev/net/tun)"; exit 77; }

cat >"$TMP/peer.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
s.bind((sys.argv[1], 0))
s.settimeout(0.1)
seen, sent, end = 0, 0, time.time() + 60
while time.time() < end and not (seen >= 8 and sent >= 8):
    try:
        if s.recv(2048)[14:27] == b'HYVE-NET-TEST':
            seen += 1
    except socket.timeout:
        pass
    if seen and sent < 8:
        p = b'HYVE-NET-HOST %d' % sent
        s.send(b'\xff' * 6 + bytes.fromhex('02aabbccddee') + b'\x88\xb5' +
               p + bytes(46 - len(p)))
        sent += 1
print("peer: got %d guest frames, sent %d host frames" % (seen, sent))
PY

export GUEST TMP
timeout -k 5 120 unshare -n sh -c '
	ip link set lo up && ip tuntap add tapq mode tap && ip link set tapq up ||
	    exit 2
	python3 "$TMP/peer.py" tapq >"$TMP/peer.log" 2>&1 &
	sleep 1
	qemu-system-x86_64 -M q35 -accel tcg -m 128M -nic none \
	    -kernel "$GUEST" -append "test=net" -nographic -serial stdio \
	    -monitor none -device isa-debug-exit,iobase=0x501,iosize=2 \
	    -no-reboot -netdev tap,id=n,ifname=tapq,script=no,downscript=no \
	    -device virtio-net-pci,netdev=n,disable-legacy=on \
	    </dev/null >"$TMP/log" 2>&1
	rc=$?
	wait
	exit $rc'
rc=$?
tr -d '\r' <"$TMP/log" | grep -a -E '^(PASS|FAIL|SKIP) |passed|^net: '
cat "$TMP/peer.log"
[ $rc -eq 1 ] || fail "QEMU exited $rc, want 1 (debug exit value 0)"
tr -d '\r' <"$TMP/log" | grep -a -q '^1 passed, 0 failed$' ||
    fail "summary is not '1 passed, 0 failed'"
grep -q '^peer: got 8 guest frames' "$TMP/peer.log" ||
    fail "the peer on tapq did not receive the guest's 8 frames"
echo "qemu virtio-net: ok"
