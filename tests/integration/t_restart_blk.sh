#!/bin/sh
# Backend restart under load, virtio-blk.  The guest runs blk-stress
# (checksummed pattern over the whole 16 MiB disk, written and read back
# pass after pass, 16 requests in flight) while this script SIGKILLs the
# hyve-blk child 20 times, each time once the previous restart is complete
# and the new backend serves; then it presses the power button, which ends
# the guest's run.
# Asserts: (1) the guest passes, i.e. no I/O error, no mismatch, no request
# older than 10 s ("1 passed, 0 failed", hyve exits 1 = debug-exit 0);
# (2) hyve logged "backend restarted" exactly 20 times; (3) all 20 kills
# hit a live hyve-blk; (4) hyvectl status counts 20 restarts while the
# guest still runs, and the device serves after the last.
# restart.max=100 lets the device survive 20 deaths; restart.window=5
# keeps the restart back-off short (it doubles per death in a window, up
# to 2 s).
# HYVE_T_BLK_QUEUES=N runs the disk with N queues (hyve-blk's thread per
# queue; the test guest drives queue 0).
# lab: 240 s
# timeout: 1200 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd shuf
KILLS=20
SOCK=$TMP/vm.sock VM=vmrb DEV=blk0
. "$(dirname "$0")/restart_lib.sh"

IMG=$TMP/disk.img
truncate -s 16M "$IMG"
Q=${HYVE_T_BLK_QUEUES:+,queues=$HYVE_T_BLK_QUEUES}
"$HYVE" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 3,virtio-blk,"$IMG"$Q -o restart.max=100 -o restart.window=5 \
    -o control.path="$SOCK" \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=blk-stress stress_s=3600' \
    $VM </dev/null >"$TMP/out" 2>"$TMP/err" &
HPID=$!
wait_started "^blk-stress: " || give_up "hyve did not start the guest"
kill_backends hyve-blk $KILLS || give_up "the kills and restarts did not complete"
# (4), while the guest still runs: kill_backends saw it; say so.
echo "hyvectl status: $DEV restarted $(field 6) times, $(field 5)"
stop_guest || give_up "hyvectl poweroff failed"
wait $HPID
rc=$?
cat "$TMP/out" "$TMP/err" "$TMP/kills"
check_kills hyve-blk $KILLS
grep -qx "1 passed, 0 failed" "$TMP/out" || fail "expected '1 passed, 0 failed'"
[ "$rc" -eq 1 ] || fail "hyve exited $rc, expected 1"
check_restarts $KILLS
echo "blk backend restarted $KILLS times under blk-stress: ok"
