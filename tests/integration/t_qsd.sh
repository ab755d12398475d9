# hyve's core drives a vhost-user backend it did not write:
# qemu-storage-daemon's vhost-user-blk export, through -s N,vhost-user.
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd qemu-storage-daemon
IMG=$TMP/disk.img
SOCK=$TMP/qsd.sock
truncate -s 8M "$IMG"
qemu-storage-daemon \
    --blockdev driver=file,node-name=file0,filename="$IMG" \
    --blockdev driver=raw,node-name=disk0,file=file0 \
    --export type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path="$SOCK",writable=on \
    >"$TMP/qsd.log" 2>&1 &
QSD=$!
trap 'kill $QSD 2>/dev/null; wait $QSD 2>/dev/null; rm -rf "$TMP"' EXIT
i=0
while [ ! -S "$SOCK" ]; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "qemu-storage-daemon did not start: $(cat "$TMP/qsd.log")"
	sleep 0.05
done
"$HYVE" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 3,vhost-user,socket="$SOCK",type=blk \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=blk' vmq \
    </dev/null >"$TMP/out" 2>"$TMP/err"; rc=$?
cat "$TMP/out" "$TMP/err"
[ $rc -eq 1 ] || fail "hyve exited $rc, expected 1"
grep -qx "1 passed, 0 failed" "$TMP/out" || fail "the blk test failed against qemu-storage-daemon"
sector=$(sed -n 's/^blk: pattern at sector \([0-9]*\).*/\1/p' "$TMP/out" | head -1)
dd if="$IMG" bs=512 skip="$sector" count=1 2>/dev/null | grep -q "HYVE-BLK-TEST sector $sector" ||
    fail "the pattern is not in the image at sector $sector"
kill -0 $QSD || fail "qemu-storage-daemon died: $(cat "$TMP/qsd.log")"
echo ok
