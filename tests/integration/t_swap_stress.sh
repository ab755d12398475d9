# Swaps during blk-stress: hyve-blk for a copy of itself, the disk for a
# second path to it, and a plain restart; the guest sees no error.
# (The second "image" is a hard link: blk-stress checks what it wrote
# before the swap, so the new image must hold the same data; a different
# image of the same size is the user's decision and the guest's problem.)
. "$(dirname "$0")/lib.sh"
need_kvm
CTL=$ROOT/build/hyvectl
SOCK=$TMP/vm.sock
IMG=$TMP/disk.img
truncate -s 16M "$IMG"
ln "$IMG" "$TMP/disk2.img"
cp "$ROOT/build/hyve-blk" "$TMP/hyve-blk-copy"
"$HYVE" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 3,virtio-blk,"$IMG" -o control.path="$SOCK" \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=blk-stress stress_s=12' \
    vmss </dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
n=0
until grep -q "^blk-stress: " "$TMP/out" 2>/dev/null; do
	n=$((n + 1)); [ $n -gt 300 ] && { kill -9 $pid; fail "guest did not start"; }
	sleep 0.1
done
sleep 2
"$CTL" --socket "$SOCK" swap vmss blk0 --backend "$TMP/hyve-blk-copy" || fail "binary swap failed"
sleep 2
"$CTL" --socket "$SOCK" swap vmss blk0 --path "$TMP/disk2.img" || fail "disk swap failed"
sleep 2
"$CTL" --socket "$SOCK" restart vmss blk0 || fail "restart failed"
ps --ppid $pid -o args= | grep -q "hyve-blk-copy" || fail "the copied binary is not serving"
wait $pid; rc=$?
cat "$TMP/out" "$TMP/err"
grep -qx "1 passed, 0 failed" "$TMP/out" || fail "the guest saw an error during the swaps"
[ $rc -eq 1 ] || fail "hyve exited $rc"
[ "$(grep -c "backend swapped" "$TMP/err")" -eq 3 ] || fail "expected three swaps in the log"
echo ok
