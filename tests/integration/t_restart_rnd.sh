#!/bin/sh
# Backend restart under load, virtio-rng.  The guest runs rng-stress (4 KiB
# reads, each must complete within 10 s and not be constant or repeat the
# one before) while this script SIGKILLs the hyve-rnd child 10 times, each
# time once the previous restart is complete and the new backend serves;
# then it presses the power button, which ends the guest's run.
# Asserts: (1) the guest passes ("1 passed, 0 failed", hyve exits 1 =
# debug-exit 0); (2) hyve logged "backend restarted" exactly 10 times;
# (3) all 10 kills hit a live hyve-rnd; (4) hyvectl status counts 10
# restarts and the device serves after the last.
# restart.max=100 lets the device survive the deaths; restart.window=5
# keeps the restart back-off (doubling per death in a window) short.
# lab: 100 s
# timeout: 1200 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd shuf
KILLS=10
SOCK=$TMP/vm.sock VM=vmrr DEV=rnd0
. "$(dirname "$0")/restart_lib.sh"

"$HYVE" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 4,virtio-rnd -o restart.max=100 -o restart.window=5 \
    -o control.path="$SOCK" \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=rng-stress stress_s=3600' \
    $VM </dev/null >"$TMP/out" 2>"$TMP/err" &
HPID=$!
wait_started "^rng-stress: " || give_up "hyve did not start the guest"
kill_backends hyve-rnd $KILLS || give_up "the kills and restarts did not complete"
echo "hyvectl status: $DEV restarted $(field 6) times, $(field 5)"
stop_guest || give_up "hyvectl poweroff failed"
wait $HPID
rc=$?
cat "$TMP/out" "$TMP/err" "$TMP/kills"
check_kills hyve-rnd $KILLS
grep -qx "1 passed, 0 failed" "$TMP/out" || fail "expected '1 passed, 0 failed'"
[ "$rc" -eq 1 ] || fail "hyve exited $rc, expected 1"
check_restarts $KILLS
echo "rnd backend restarted $KILLS times under rng-stress: ok"
