#!/bin/sh
# Backend restart under load, virtio-net.  The guest runs net-echo (frames
# to netecho.py on the tap, which echoes each one) while this script
# SIGKILLs the hyve-net child 10 times, each time once the previous restart
# is complete and the new backend serves; then it presses the power
# button, which ends the guest's run.
# Asserts: (1) the guest passes: echoes kept coming to the end (one in the
# last 2 s) and at least half the frames were echoed, without a device
# reset ("1 passed, 0 failed", hyve exits 1 = debug-exit 0); (2) hyve
# logged "backend restarted" exactly 10 times; (3) all 10 kills hit a live
# hyve-net; (4) the peer echoed frames; (5) hyvectl status counts 10
# restarts and the device serves after the last.
# restart.max=100 lets the device survive the deaths; restart.window=5
# keeps the restart back-off (doubling per death in a window) short.
# lab: 120 s
# timeout: 1200 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd shuf
need_netns
need_cmd python3
KILLS=10
SOCK=$TMP/vm.sock VM=vmrn DEV=net0
. "$(dirname "$0")/restart_lib.sh"

# The peer listens before the guest sends: Python may take a minute to
# start on a slow machine.
netns_script "$TMP/run.sh" hyvetap0
cat >>"$TMP/run.sh" <<SCRIPT
python3 "$ROOT/tests/integration/netecho.py" hyvetap0 $WAIT_S "$TMP/done" --ready "$TMP/ready" >"$TMP/peer" 2>&1 &
peer=\$!
while [ ! -e "$TMP/ready" ] && kill -0 \$peer 2>/dev/null; do sleep 0.05; done
"$HYVE" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 2,virtio-net,hyvetap0 -o restart.max=100 -o restart.window=5 \
    -o control.path="$SOCK" \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=net-echo stress_s=3600' \
    $VM </dev/null >"$TMP/out" 2>"$TMP/err" &
echo \$! >"$TMP/pid"
wait \$!
echo \$? >"$TMP/rc"
touch "$TMP/done"
wait \$peer
SCRIPT
unshare -n sh "$TMP/run.sh" &
ns=$!
# hyve is the namespace script's child: its pid comes in a file.
until [ -s "$TMP/pid" ]; do
	kill -0 $ns 2>/dev/null || { cat "$TMP/peer"; fail "the peer did not start"; }
	sleep 0.1
done
HPID=$(cat "$TMP/pid")
wait_started "^net-echo: " || give_up "hyve did not start the guest"
kill_backends hyve-net $KILLS || give_up "the kills and restarts did not complete"
echo "hyvectl status: $DEV restarted $(field 6) times, $(field 5)"
stop_guest || give_up "hyvectl poweroff failed"
wait $ns
cat "$TMP/out" "$TMP/err" "$TMP/peer" "$TMP/kills"
check_kills hyve-net $KILLS
grep -qx "1 passed, 0 failed" "$TMP/out" || fail "expected '1 passed, 0 failed'"
[ "$(cat "$TMP/rc")" -eq 1 ] || fail "hyve exited $(cat "$TMP/rc"), expected 1"
check_restarts $KILLS
grep -q "^netecho: [1-9][0-9]* frames echoed" "$TMP/peer" || fail "the peer echoed no frames"
echo "net backend restarted $KILLS times under net-echo: ok"
