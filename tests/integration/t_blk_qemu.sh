#!/bin/sh
# hyve-blk standalone behind QEMU's vhost-user-blk-pci: QEMU connects,
# negotiates and reads the config without a vhost error, the firmware sets
# up a ring, the test guest runs to its debug exit, and hyve-blk goes on
# serving the next QEMU.
. "$(dirname "$0")/lib.sh"
need_cmd qemu-system-x86_64
[ -x "$ROOT/build/hyve-blk" ] || make -C "$ROOT" build/hyve-blk >/dev/null ||
    fail "cannot build build/hyve-blk"
[ -f "$GUEST" ] || make -C "$ROOT" build/testguest >/dev/null || fail "cannot build $GUEST"

SOCK=$TMP/blk.sock
IMG=$TMP/disk.img
truncate -s 8M "$IMG" || fail "cannot create $IMG"
"$ROOT/build/hyve-blk" --socket "$SOCK" --file "$IMG" --name blk-qemu \
    2>"$TMP/blk.log" &
BLK=$!
trap 'kill $BLK 2>/dev/null; rm -rf "$TMP"' EXIT
i=0
while [ ! -S "$SOCK" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "hyve-blk did not create $SOCK: $(cat "$TMP/blk.log")"
	sleep 0.05
done

# run LOG: boots the guest with the disk, returns QEMU's exit status.
run() {
	timeout -k 5 120 qemu-system-x86_64 -M q35 -accel tcg -m 128M \
	    -object memory-backend-memfd,id=mem,size=128M,share=on \
	    -numa node,memdev=mem -chardev socket,id=c,path="$SOCK" \
	    -device vhost-user-blk-pci,chardev=c -kernel "$GUEST" \
	    -append test=blk -nographic -serial stdio -monitor none \
	    -device isa-debug-exit,iobase=0x501,iosize=2 -no-reboot \
	    </dev/null >"$1" 2>&1
}

for n in 1 2; do
	run "$TMP/qemu$n.log"; rc=$?
	if grep -a -i 'vhost' "$TMP/qemu$n.log"; then
		fail "run $n: QEMU reported a vhost-user-blk problem (above)"
	fi
	grep -a -qx "1 passed, 0 failed" "$TMP/qemu$n.log" ||
	    fail "run $n: the guest's blk test failed under QEMU: $(cat "$TMP/qemu$n.log")"
	sector=$(sed -n 's/^blk: pattern at sector \([0-9]*\).*/\1/p' "$TMP/qemu$n.log" | head -1)
	dd if="$IMG" bs=512 skip="$sector" count=1 2>/dev/null |
	    grep -q "HYVE-BLK-TEST sector $sector" ||
	    fail "run $n: the pattern is not in the image at sector $sector" 
	[ $rc -eq 1 ] || fail "run $n: QEMU exited $rc, want 1 (debug exit 0); \
log: $(tail -5 "$TMP/qemu$n.log")"
	kill -0 $BLK 2>/dev/null || fail "hyve-blk died: $(cat "$TMP/blk.log")"
done
# SeaBIOS drives the disk while it looks for a boot device.
grep -q 'hyve\[blk-qemu\]: queue 0: started' "$TMP/blk.log" ||
    fail "hyve-blk never set up a ring: $(cat "$TMP/blk.log")"
if grep -a -v -E 'queue [0-9]+: started|frontend connected|frontend gone|inflight region from the frontend' "$TMP/blk.log"; then
	fail "hyve-blk logged errors (above)"
fi
echo "blk qemu: ok"
