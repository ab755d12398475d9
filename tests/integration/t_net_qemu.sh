# hyve-net on its own, behind QEMU's vhost-user netdev: the test guest's
# net test passes (frames both ways through a tap in a private namespace).
# With KVM: QEMU 7.2 under TCG crashes in msix_set_vector_notifiers when
# vhost-user-net starts.
# QEMU's netdev sends each queue's SET_VRING_CALL after its SET_VRING_KICK
# without waiting: the guest's first tx interrupt was lost here until
# hyve-net signalled a replaced call fd (test_net test_call_fd_replaced).
. "$(dirname "$0")/lib.sh"
need_cmd qemu-system-x86_64
need_kvm
need_netns
need_cmd python3
SOCK=$TMP/net.sock
netns_script "$TMP/run.sh" hyvetapq
cat >>"$TMP/run.sh" <<SCRIPT
"$ROOT/build/hyve-net" --socket "$SOCK" --tap hyvetapq --name net-qemu 2>"$TMP/net.log" &
net=\$!
python3 "$ROOT/tests/integration/netpeer.py" hyvetapq 60 "$TMP/done" "$TMP/ready" >"$TMP/peer" 2>&1 &
peer=\$!
while [ ! -e "$TMP/ready" ] && kill -0 \$peer 2>/dev/null; do sleep 0.05; done
n=0
while [ ! -S "$SOCK" ] && [ \$n -lt 100 ]; do n=\$((n + 1)); sleep 0.05; done
timeout -k 5 120 qemu-system-x86_64 -M q35 -accel kvm -m 128M \
    -object memory-backend-memfd,id=mem,size=128M,share=on \
    -numa node,memdev=mem -chardev socket,id=c,path="$SOCK" \
    -netdev vhost-user,id=n,chardev=c -device virtio-net-pci,netdev=n,disable-legacy=on \
    -kernel "$GUEST" -append test=net -nographic -serial stdio -monitor none \
    -device isa-debug-exit,iobase=0x501,iosize=2 -no-reboot \
    </dev/null >"$TMP/qemu.log" 2>&1
echo \$? >"$TMP/rc"
touch "$TMP/done"
kill -0 \$net && echo alive >"$TMP/alive"
kill \$net
wait
SCRIPT
unshare -n sh "$TMP/run.sh"
cat "$TMP/qemu.log" "$TMP/net.log" "$TMP/peer"
grep -a -qx "1 passed, 0 failed" "$TMP/qemu.log" || fail "the net test failed under QEMU with hyve-net"
[ "$(cat "$TMP/rc")" -eq 1 ] || fail "QEMU exited $(cat "$TMP/rc")"
[ -e "$TMP/alive" ] || fail "hyve-net died"
echo ok
