#!/bin/sh
# Bringing a failed device back, under blk-stress (the guest lets a request
# take up to 10 minutes here, req_s=600, as a real driver waits).
# VM 1 (restart.retry=4): the backend's binary goes missing (an upgrade
# half done) and the backend is killed.  Asserts: the device ends "failed"
# (not "restarting" for ever), the log and hyvectl status name why and when
# the next try is; tries come no faster than one per restart.retry; once
# the binary is back a try revives the device by itself and the requests
# that waited complete: the guest passes.
# VM 2 (restart.retry=0): killed restart.max+1 times, the device fails and
# stays failed; hyvectl restart brings it back at once and the guest passes.
# lab: 150 s
# timeout: 900 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd shuf
SOCK=$TMP/vm.sock VM=vmrv DEV=blk0
. "$(dirname "$0")/restart_lib.sh"
BIN=$TMP/hyve-blk-next
IMG=$TMP/disk.img
truncate -s 16M "$IMG"
cp "$ROOT/build/hyve-blk" "$BIN"

# boot RETRY: hyve with blk-stress on a disk served by $BIN.
boot() {
	: >"$TMP/out"
	: >"$TMP/err"
	"$HYVE" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
	    -s 3,virtio-blk,"$IMG",binary="$BIN" -s 4,virtio-rnd \
	    -o restart.max=2 -o restart.window=600 -o restart.retry="$1" \
	    -o control.path="$SOCK" -o boot.kernel="$GUEST" \
	    -o 'boot.cmdline=test=blk-stress stress_s=3600 req_s=600' \
	    $VM </dev/null >"$TMP/out" 2>"$TMP/err" &
	HPID=$!
	wait_started "^blk-stress: " || give_up "hyve did not start the guest"
	wait_serving || give_up "$DEV never served"
}
# ends: the guest stops at the power button; it must pass.
ends() {
	stop_guest || give_up "hyvectl poweroff failed"
	wait $HPID
	rc=$?
	grep -qx "1 passed, 0 failed" "$TMP/out" ||
	    { cat "$TMP/out" "$TMP/err"; fail "$1: the guest did not pass"; }
	[ "$rc" -eq 1 ] || { cat "$TMP/err"; fail "$1: hyve exited $rc"; }
}
is_failed() {
	[ "$(field 5)" = failed ]
}
# tries: how often hyve could not start the backend.
tries() {
	grep -c "cannot start $BIN" "$TMP/err"
}
more_tries() {
	[ "$(tries)" -ge "$1" ]
}
rnd_pid() {
	"$CTL" --socket "$SOCK" status "$VM" | awk '$1 == "rnd0" { print $4 }'
}

# --- VM 1: tried again by itself ------------------------------------------
boot 4
rnd=$(rnd_pid)
mv "$BIN" "$BIN.away"
kill -KILL "$(field 4)"
until_ok is_failed || give_up "the device never failed with its binary gone"
t1=$(date +%s.%N)
n1=$(tries)
st=$("$CTL" --socket "$SOCK" status "$VM")
echo "$st"
echo "$st" | grep -q "^blk0 .* failed .*could not be started: No such file.*(next try in [0-4] s)" ||
    give_up "hyvectl status does not say why blk0 failed and when it is tried next"
"$CTL" --socket "$SOCK" status "$VM" --json | grep -Eq '"next_try_s": ?[0-4]' ||
    give_up "hyvectl status --json has no next_try_s"
grep -q "blk0: next try in 4 s (restart.retry)" "$TMP/err" ||
    give_up "the log does not say when the next try is"
until_ok more_tries $((n1 + 2)) || give_up "no two more tries"
t2=$(date +%s.%N)
# The second try after t1 came at least restart.retry after the first.
gap=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')
echo "2 tries in $gap s after the device failed"
awk -v g="$gap" 'BEGIN { exit !(g >= 4) }' || give_up "tries came faster than every 4 s"
[ "$(rnd_pid)" = "$rnd" ] || give_up "rnd0's backend changed while blk0 was down"
mv "$BIN.away" "$BIN"
until_ok restarted 1 || give_up "the device did not come back once its binary did"
grep -q "blk0: the device works again" "$TMP/err" || give_up "no 'works again' in the log"
wait_serving || give_up "the revived device does not serve"
ends "VM 1"
echo "VM 1: failed with its binary gone, tried every 4 s, revived by itself: ok"

# --- VM 2: revived by hyvectl restart -------------------------------------
boot 0
kill_backends hyve-blk-next 2 || give_up "the first two kills and restarts did not complete"
kill -KILL "$(field 4)"
until_ok is_failed || give_up "the device did not fail after restart.max+1 deaths"
grep -q "blk0: failed until hyvectl restart (restart.retry=0)" "$TMP/err" ||
    give_up "the log does not say the device waits for hyvectl restart"
"$CTL" --socket "$SOCK" status "$VM" | grep -q "next try" &&
    give_up "hyvectl status promises a try with restart.retry=0"
"$CTL" --socket "$SOCK" restart "$VM" blk0 || give_up "hyvectl restart failed"
[ "$(field 5)" = running ] || give_up "hyvectl restart returned, blk0 is $(field 5)"
wait_serving || give_up "the revived device does not serve"
ends "VM 2"
echo "VM 2: failed after 3 deaths, revived by hyvectl restart: ok"
