# hyve-rnd on its own, behind QEMU's vhost-user-rng-pci: the test guest's
# rng test passes, served by our backend through QEMU.
. "$(dirname "$0")/lib.sh"
need_cmd qemu-system-x86_64
SOCK=$TMP/rnd.sock
"$ROOT/build/hyve-rnd" --socket "$SOCK" --name rnd-qemu 2>"$TMP/rnd.log" &
RND=$!
trap 'kill $RND 2>/dev/null; wait $RND 2>/dev/null; rm -rf "$TMP"' EXIT
n=0
while [ ! -S "$SOCK" ]; do
	n=$((n + 1)); [ $n -gt 100 ] && fail "hyve-rnd did not listen: $(cat "$TMP/rnd.log")"
	sleep 0.05
done
timeout -k 5 120 qemu-system-x86_64 -M q35 -accel tcg -m 128M \
    -object memory-backend-memfd,id=mem,size=128M,share=on \
    -numa node,memdev=mem -chardev socket,id=c,path="$SOCK" \
    -device vhost-user-rng-pci,chardev=c -kernel "$GUEST" -append test=rng \
    -nographic -serial stdio -monitor none \
    -device isa-debug-exit,iobase=0x501,iosize=2 -no-reboot \
    </dev/null >"$TMP/qemu.log" 2>&1; rc=$?
cat "$TMP/qemu.log" "$TMP/rnd.log"
grep -a -qx "1 passed, 0 failed" "$TMP/qemu.log" || fail "the rng test failed under QEMU with hyve-rnd"
[ $rc -eq 1 ] || fail "QEMU exited $rc"
kill -0 $RND || fail "hyve-rnd died"
echo ok
