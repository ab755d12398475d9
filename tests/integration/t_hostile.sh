# Every hostile ring the guest can build: the backend survives, flags the
# queue (DEVICE_NEEDS_RESET reaches the guest), and works after a reset;
# against hyve-blk, then hyve-vsock.
. "$(dirname "$0")/lib.sh"
need_kvm
truncate -s 4M "$TMP/disk.img"
for c in loop oob zero-len huge-len wrong-direction too-long nested-indirect avail-jump; do
	"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
	    -s 3,virtio-blk,"$TMP/disk.img" \
	    -o boot.kernel="$GUEST" -o "boot.cmdline=test=hostile hostile=$c" \
	    vmh </dev/null >"$TMP/out" 2>"$TMP/err"; rc=$?
	echo "hostile=$c: exit $rc"
	[ $rc -eq 1 ] && grep -qx "1 passed, 0 failed" "$TMP/out" ||
	    { cat "$TMP/out" "$TMP/err"; fail "hostile=$c"; }
	grep -q "blk0: backend" "$TMP/err" &&
	    { cat "$TMP/err"; fail "hostile=$c: the backend died"; }
	grep -q "DEVICE_NEEDS_RESET" "$TMP/err" ||
	    { cat "$TMP/err"; fail "hostile=$c: no queue error reported"; }
done
# virtio-vsock: the same chains on its tx queue.
chmod 755 "$TMP"
for c in loop oob zero-len huge-len wrong-direction too-long nested-indirect avail-jump; do
	"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
	    -s 3,virtio-vsock,cid=3,socket="$TMP/v.sock" \
	    -o boot.kernel="$GUEST" -o "boot.cmdline=test=hostile hostile=$c" \
	    vmh </dev/null >"$TMP/out" 2>"$TMP/err"; rc=$?
	echo "vsock hostile=$c: exit $rc"
	[ $rc -eq 1 ] && grep -qx "1 passed, 0 failed" "$TMP/out" ||
	    { cat "$TMP/out" "$TMP/err"; fail "vsock hostile=$c"; }
	grep -q "vsock0: backend" "$TMP/err" &&
	    { cat "$TMP/err"; fail "vsock hostile=$c: the backend died"; }
	grep -q "DEVICE_NEEDS_RESET" "$TMP/err" ||
	    { cat "$TMP/err"; fail "vsock hostile=$c: no queue error reported"; }
done
echo ok
