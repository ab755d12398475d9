# Swaps during blk-stress: hyve-blk for a copy of itself, the disk for a
# second path to it, and a plain restart; the guest sees no error.  Each
# step waits until the backend there serves the guest's requests, and the
# guest's load runs until the power button, however slow the machine.
# (The second "image" is a hard link: blk-stress checks what it wrote
# before the swap, so the new image must hold the same data; a different
# image of the same size is the user's decision and the guest's problem.)
# lab: 26 s
# timeout: 1200 s
. "$(dirname "$0")/lib.sh"
need_kvm
SOCK=$TMP/vm.sock VM=vmss DEV=blk0
. "$(dirname "$0")/restart_lib.sh"
IMG=$TMP/disk.img
truncate -s 16M "$IMG"
ln "$IMG" "$TMP/disk2.img"
cp "$ROOT/build/hyve-blk" "$TMP/hyve-blk-copy"
"$HYVE" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 3,virtio-blk,"$IMG" -o control.path="$SOCK" \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=blk-stress stress_s=3600' \
    $VM </dev/null >"$TMP/out" 2>"$TMP/err" &
HPID=$!
wait_started "^blk-stress: " || give_up "guest did not start"
wait_serving || give_up "the device does not serve"
"$CTL" --socket "$SOCK" swap $VM blk0 --backend "$TMP/hyve-blk-copy" || give_up "binary swap failed"
wait_serving || give_up "the device does not serve after the binary swap"
"$CTL" --socket "$SOCK" swap $VM blk0 --path "$TMP/disk2.img" || give_up "disk swap failed"
wait_serving || give_up "the device does not serve after the disk swap"
"$CTL" --socket "$SOCK" restart $VM blk0 || give_up "restart failed"
wait_serving || give_up "the device does not serve after the restart"
ps --ppid $HPID -o args= | grep -q "hyve-blk-copy" || give_up "the copied binary is not serving"
stop_guest || give_up "hyvectl poweroff failed"
wait $HPID; rc=$?
cat "$TMP/out" "$TMP/err"
grep -qx "1 passed, 0 failed" "$TMP/out" || fail "the guest saw an error during the swaps"
[ $rc -eq 1 ] || fail "hyve exited $rc"
[ "$(grep -c "backend swapped" "$TMP/err")" -eq 3 ] || fail "expected three swaps in the log"
echo ok
