# hyve-blk killed and started again behind QEMU (vhost-user-blk-pci with
# reconnect=1) while the guest runs blk-stress: QEMU's guest goes on and
# every block verifies.  QEMU hands the new backend the inflight region the
# dead one kept, so this also proves that region follows the spec.
# lab: 36 s
. "$(dirname "$0")/lib.sh"
need_cmd qemu-system-x86_64
need_kvm
SOCK=$TMP/blk.sock
IMG=$TMP/disk.img
truncate -s 16M "$IMG"
start_blk() {
	"$ROOT/build/hyve-blk" --socket "$SOCK" --file "$IMG" --name blk-qemu \
	    2>>"$TMP/blk.log" &
	BLK=$!
	n=0
	while [ ! -S "$SOCK" ]; do
		n=$((n + 1)); [ $n -gt 100 ] && fail "hyve-blk did not listen"
		sleep 0.05
	done
}
start_blk
timeout -k 5 180 qemu-system-x86_64 -M q35 -accel kvm -m 128M \
    -object memory-backend-memfd,id=mem,size=128M,share=on \
    -numa node,memdev=mem -chardev socket,id=c,path="$SOCK",reconnect=1 \
    -device vhost-user-blk-pci,chardev=c -kernel "$GUEST" \
    -append 'test=blk-stress stress_s=15' -nographic -serial stdio -monitor none \
    -device isa-debug-exit,iobase=0x501,iosize=2 -no-reboot \
    </dev/null >"$TMP/qemu.log" 2>&1 &
QEMU=$!
trap 'kill $BLK $QEMU 2>/dev/null; rm -rf "$TMP"' EXIT
wait_for "^blk-stress: " "$TMP/qemu.log" 60 || fail "the guest did not start: $(cat "$TMP/qemu.log")"
for k in 1 2 3; do
	sleep 2
	kill -KILL $BLK
	wait $BLK 2>/dev/null
	rm -f "$SOCK"
	start_blk
	echo "kill $k: hyve-blk restarted as pid $BLK"
done
wait $QEMU; rc=$?
cat "$TMP/qemu.log" "$TMP/blk.log"
grep -a -qx "1 passed, 0 failed" "$TMP/qemu.log" || fail "blk-stress failed behind QEMU across backend restarts"
[ $rc -eq 1 ] || fail "QEMU exited $rc"
[ "$(grep -c "frontend connected" "$TMP/blk.log")" -ge 4 ] || fail "QEMU did not reconnect to every new backend"
echo ok
