#!/bin/sh
# The test guest's virtio drivers under QEMU (TCG) against QEMU's own modern
# virtio-rng-pci and virtio-blk-pci: test=rng,blk must pass, and the pattern
# the guest wrote must be in the image file where it says it put it.
. "$(dirname "$0")/lib.sh"
need_cmd qemu-system-x86_64
[ -f "$GUEST" ] || make -C "$ROOT" build/testguest >/dev/null || fail "cannot build $GUEST"

IMG=$TMP/disk.img
truncate -s 4M "$IMG" || fail "cannot create $IMG"
timeout -k 5 120 qemu-system-x86_64 -M q35 -accel tcg -m 128M -nic none \
    -kernel "$GUEST" -append "test=rng,blk" -nographic -serial stdio \
    -monitor none -device isa-debug-exit,iobase=0x501,iosize=2 -no-reboot \
    -device virtio-rng-pci,disable-legacy=on \
    -drive file="$IMG",if=none,id=d,format=raw \
    -device virtio-blk-pci,drive=d,disable-legacy=on \
    </dev/null >"$TMP/log" 2>&1; rc=$?
tr -d '\r' <"$TMP/log" >"$TMP/out"
grep -a -E '^(PASS|FAIL|SKIP) |passed|^blk: ' "$TMP/out"
[ $rc -eq 1 ] || fail "QEMU exited $rc, want 1 (debug exit value 0)"
grep -a -q '^2 passed, 0 failed$' "$TMP/out" ||
    fail "summary is not '2 passed, 0 failed'"
n=$(sed -n 's/^blk: pattern at sector \([0-9][0-9]*\)$/\1/p' "$TMP/out")
[ -n "$n" ] || fail "the guest did not say where it wrote its pattern"
want="HYVE-BLK-TEST sector $n"
got=$(dd if="$IMG" bs=512 skip="$n" count=1 2>/dev/null | head -c ${#want})
[ "$got" = "$want" ] ||
    fail "$IMG at byte $((n * 512)) holds '$got', want '$want'"
last=$((n + 7))
want="HYVE-BLK-TEST sector $last"
got=$(dd if="$IMG" bs=512 skip="$last" count=1 2>/dev/null | head -c ${#want})
[ "$got" = "$want" ] ||
    fail "$IMG at byte $((last * 512)) holds '$got', want '$want'"
echo "qemu virtio: ok"
