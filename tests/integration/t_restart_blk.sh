#!/bin/sh
# Backend restart under load, virtio-blk.  The guest runs blk-stress for
# 25 s (checksummed pattern over the whole 16 MiB disk, written and read
# back pass after pass, 16 requests in flight) while this script SIGKILLs
# the hyve-blk child 20 times at random moments.
# Asserts: (1) the guest passes, i.e. no I/O error, no mismatch, no request
# older than 10 s ("1 passed, 0 failed", hyve exits 1 = debug-exit 0);
# (2) hyve logged "backend restarted" exactly 20 times; (3) all 20 kills
# hit a live hyve-blk.
# restart.max=100 lets the device survive 20 deaths; restart.window=5
# keeps the restart back-off short (it doubles per death in a window, up
# to 2 s), so that the 20 kills fit in the guest's 25 s.
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd shuf
KILLS=20
. "$(dirname "$0")/restart_lib.sh"

IMG=$TMP/disk.img
truncate -s 16M "$IMG"
"$HYVE" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 3,virtio-blk,"$IMG" -o restart.max=100 -o restart.window=5 \
    -o control.path="$TMP/vm.sock" \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=blk-stress stress_s=25' \
    vmrb </dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
wait_started "^blk-stress: " || fail "hyve did not start the guest: $(cat "$TMP/err")"
kill_backends $pid hyve-blk $KILLS
# (4) hyvectl status counts them, while the guest still runs.
n=0
until "$ROOT/build/hyvectl" --socket "$TMP/vm.sock" status vmrb --json \
    >"$TMP/status.json" 2>/dev/null && python3 -c '
import json, sys
d = {x["name"]: x for x in json.load(open(sys.argv[1]))["devices"]}
sys.exit(0 if d["blk0"]["restarts"] == int(sys.argv[2]) else 1)' "$TMP/status.json" $KILLS; do
	n=$((n + 1)); [ $n -gt 50 ] && fail "hyvectl status does not show $KILLS restarts: $(cat "$TMP/status.json")"
	sleep 0.1
done
echo "hyvectl status: blk0 restarted $KILLS times"
wait $pid
rc=$?
cat "$TMP/out" "$TMP/err" "$TMP/kills"
check_kills hyve-blk $KILLS
grep -qx "1 passed, 0 failed" "$TMP/out" || fail "expected '1 passed, 0 failed'"
[ "$rc" -eq 1 ] || fail "hyve exited $rc, expected 1"
check_restarts $KILLS
echo "blk backend restarted $KILLS times under blk-stress: ok"
