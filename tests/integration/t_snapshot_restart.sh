#!/bin/sh
# Snapshots and backend restarts.  The test guest runs count-rng (a
# virtio-rng read in every step) with a disk it leaves alone, whose
# backend runs from a copy of hyve-blk that the test can take away.
# restart.max=100 keeps the devices from failing while their backends die.
# 1. The disk's binary is gone and its backend is killed, so no restart can
#    succeed: a snapshot waits (the VM's log says for what; hyvectl status
#    answers meanwhile, blk0 "restarting"), and after 10 s is refused in one
#    line naming blk0, exit 1, no files left.  The binary comes back, the
#    device with it.
# 2. Again, and the binary comes back while the snapshot waits: the
#    snapshot (--resume) is taken once blk0 runs again, exit 0.
# 3. The rng backend is SIGKILLed and a snapshot asked for at once.
#    Whether the core saw the death before the request or the snapshot met
#    the dead backend, it waits for the restart: exit 0, the VM's log has
#    rnd0's restart before the VM stops for the snapshot.
# 4. Snapshot 3 restored with its RAM left in the snapshot's file
#    (memory.share_snapshot: every page, the guest's or a backend's first
#    touch, copied in then): right after the restored VM runs, the rng
#    backend, then the disk's, is SIGKILLed, each once the one before is
#    back, so each new backend hands the core a userfaultfd of its own; the
#    guest passes (its buffer, filled since VM 1 booted, checks out) and
#    hyvectl status counts a restart of each.  hyvectl upgrade is refused
#    for it, in one line saying why.
# lab: 100 s
# timeout: 900 s
. "$(dirname "$0")/lib.sh"
need_kvm
SOCK=$TMP/vm.sock VM=vm-sr DEV=rnd0
. "$(dirname "$0")/restart_lib.sh"
[ -x "$CTL" ] || fail "$CTL is not built"
WAIT_S=${HYVE_TEST_WAIT_S:-300}
BIN=$TMP/hyve-blk-next
cp "$ROOT/build/hyve-blk" "$BIN"
truncate -s 1M "$TMP/disk.img"
pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$TMP"' EXIT

# logged PATTERN: hyve's log ($TMP/err) has PATTERN.
logged() {
	grep -q "$1" "$TMP/err" 2>/dev/null
}
# dev_is STATE RESTARTS: DEV is in STATE after RESTARTS restarts.
dev_is() {
	[ "$(field 5)" = "$1" ] && [ "$(field 6)" = "$2" ]
}
# wait_hyve: waits for hyve ($HPID) to end; its status in $rc.
wait_hyve() {
	_end=$(($(date +%s) + WAIT_S))
	while kill -0 "$HPID" 2>/dev/null; do
		[ "$(date +%s)" -lt $_end ] || give_up "hyve still runs after $WAIT_S s"
		sleep 0.1
	done
	wait "$HPID"
	rc=$?
}
# finish WHAT: waits for hyve to end; the guest must have passed.
finish() {
	wait_hyve
	grep -qx "PASS count-rng" "$TMP/out" && grep -qx "1 passed, 0 failed" "$TMP/out" ||
	    { cat "$TMP/out" "$TMP/err" "$TMP/stats" 2>/dev/null; fail "$1: the guest did not pass"; }
	[ "$rc" -eq 1 ] || { cat "$TMP/err"; fail "$1: hyve exited $rc, expected 1"; }
}
# snap_bg DIR [--resume]: hyvectl snapshot in the background, $SP its pid,
# its output in DIR.ctl.
snap_bg() {
	"$CTL" --socket "$SOCK" snapshot "$VM" "$@" >"$1.ctl" 2>&1 &
	SP=$!
	pids="$pids $SP"
}
# snap_end: waits for hyvectl ($SP); its status in $src.
snap_end() {
	_end=$(($(date +%s) + WAIT_S))
	while kill -0 "$SP" 2>/dev/null; do
		[ "$(date +%s)" -lt $_end ] || give_up "hyvectl snapshot still runs after $WAIT_S s"
		sleep 0.1
	done
	wait "$SP"
	src=$?
}
now() {
	date +%s.%N
}

"$HYVE" -c 2 -m 64M -s 0,hostbridge -s 3,virtio-rnd \
    -s 4,virtio-blk,"$TMP/disk.img",binary="$BIN" -s 31,lpc -l com1,stdio \
    -l debug-exit -o restart.max=100 -o restart.window=600 \
    -o boot.kernel="$GUEST" -o "boot.cmdline=test=count-rng count=240" \
    -o control.path="$SOCK" $VM </dev/null >"$TMP/out" 2>"$TMP/err" &
HPID=$!
pids="$HPID"
wait_started "^count: step 3 of" || give_up "the guest never reached step 3"

# 1. A restart that cannot succeed: the snapshot waits 10 s, then refuses.
DEV=blk0
mv "$BIN" "$BIN.away"
kill -KILL "$(field 4)" || give_up "no blk0 backend to kill"
t0=$(now)
snap_bg "$TMP/x"
until_ok logged "snapshot to .*/x waits: blk0: its backend is restarting (up to 10 s)" ||
    give_up "the VM's log does not say the snapshot waits for blk0"
st=$("$CTL" --socket "$SOCK" status $VM) ||
    give_up "hyvectl status failed while a snapshot waits"
echo "$st" | grep -q "^blk0 .* restarting " ||
    { echo "$st"; give_up "hyvectl status does not show blk0 restarting while the snapshot waits"; }
snap_end
t1=$(now)
cat "$TMP/x.ctl"
[ "$src" -eq 1 ] || give_up "a snapshot with blk0 down for good exited $src, expected 1"
[ "$(wc -l <"$TMP/x.ctl")" -eq 1 ] || give_up "the refusal is not one line"
grep -q "blk0: its backend is restarting and did not come back within 10 s; snapshot the VM once the device works again" "$TMP/x.ctl" ||
    give_up "the refusal does not name blk0 and say it waited 10 s"
waited=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
awk -v w="$waited" 'BEGIN { exit !(w >= 10) }' || give_up "the snapshot gave up after $waited s, before 10 s"
[ ! -e "$TMP/x/state" ] && [ ! -e "$TMP/x/memory" ] && [ ! -e "$TMP/x/.state.partial" ] ||
    give_up "the refused snapshot left files in $TMP/x"
mv "$BIN.away" "$BIN"
until_ok dev_is running 1 || give_up "blk0 did not come back with its binary"
echo "1: refused after $waited s while blk0 could not restart: ok"

# 2. The binary comes back while the snapshot waits: it is taken.
mv "$BIN" "$BIN.away"
kill -KILL "$(field 4)" || give_up "no blk0 backend to kill"
snap_bg "$TMP/s2" --resume
until_ok logged "snapshot to .*/s2 waits: blk0: its backend is restarting" ||
    give_up "the VM's log does not say the second snapshot waits for blk0"
mv "$BIN.away" "$BIN"
snap_end
cat "$TMP/s2.ctl"
[ "$src" -eq 0 ] || give_up "the snapshot that waited for blk0 exited $src"
grep -q "running on" "$TMP/s2.ctl" || give_up "hyvectl does not say the VM runs on"
[ -f "$TMP/s2/state" ] && [ -f "$TMP/s2/memory" ] || give_up "snapshot 2 has no state or memory"
dev_is running 2 || give_up "after the snapshot blk0 is $(field 5) after $(field 6) restarts, expected running after 2"
echo "2: the snapshot waited for blk0's restart: ok"

# 3. Kill rnd0's backend and snapshot at once; the VM stops.
DEV=rnd0
kill -KILL "$(field 4)" || give_up "no rnd0 backend to kill"
"$CTL" --socket "$SOCK" snapshot $VM "$TMP/s3" >"$TMP/s3.ctl" 2>&1; src=$?
cat "$TMP/s3.ctl"
[ "$src" -eq 0 ] || give_up "a snapshot right after rnd0's backend was killed exited $src"
wait_hyve
[ "$rc" -eq 1 ] || { cat "$TMP/err"; fail "VM 1 exited $rc after its snapshot, expected 1"; }
grep -q "^FAIL" "$TMP/out" && { cat "$TMP/out"; fail "the guest failed in VM 1"; }
r=$(grep -n "rnd0: backend restarted: pid .*, restart 1$" "$TMP/err" | cut -d: -f1)
x=$(grep -n "exit 1 (snapshot taken)" "$TMP/err" | cut -d: -f1)
[ -n "$r" ] && [ -n "$x" ] && [ "$r" -lt "$x" ] ||
    { cat "$TMP/err"; fail "the log does not have rnd0's restart before the snapshot stopped the VM"; }
echo "3: the snapshot right after rnd0's backend died waited for its restart: ok"

# restore DIR [OPTION...]: hyve -r DIR, $TMP/out and $TMP/err its output.
restore() {
	: >"$TMP/out"
	: >"$TMP/err"
	"$HYVE" -r "$@" </dev/null >"$TMP/out" 2>"$TMP/err" &
	HPID=$!
	pids="$pids $HPID"
	# The devices' counters as they go, for a failure's report.
	(while kill -0 $HPID 2>/dev/null; do
		"$CTL" --socket "$SOCK" stats $VM >"$TMP/stats.new" 2>/dev/null &&
		    mv "$TMP/stats.new" "$TMP/stats"
		sleep 0.5
	done) &
	pids="$pids $!"
}

# 4. Restore snapshot 3; once it runs, a restart of each backend.
restore "$TMP/s3" -o memory.share_snapshot=true
wait_started "^count: step" || give_up "the restored VM did not go on"
n=0
until grep -q "RAM checked in .* stay in" "$TMP/err"; do
	kill -0 $HPID 2>/dev/null || give_up "the restored VM ended before its RAM was checked"
	n=$((n + 1))
	[ $n -le $((WAIT_S * 5)) ] || give_up "the restored VM's RAM was not checked within $WAIT_S s"
	sleep 0.2
done
# Its RAM is served by this core to the end: an upgrade is refused.
if "$CTL" --socket "$SOCK" upgrade $VM >"$TMP/upg" 2>&1; then
	give_up "hyvectl upgrade of a VM restored with memory.share_snapshot succeeded"
fi
grep -q "served from its snapshot's file" "$TMP/upg" ||
    give_up "hyvectl upgrade was refused without saying why: $(cat "$TMP/upg")"
# restart_logged N: DEV's restart N is in hyve's log, which outlives a
# guest that ends first (the log's count is the one status reports).
restart_logged() {
	grep -q "$DEV: backend restarted: pid [0-9]*, [0-9]* ms, restart $1\$" "$TMP/err"
}
DEV=rnd0
kill -KILL "$(field 4)" || give_up "no rnd0 backend to kill in the restored VM"
until_ok restart_logged 1 || restart_logged 1 || give_up "rnd0 did not restart in the restored VM"
DEV=blk0
kill -KILL "$(field 4)" || give_up "no blk0 backend to kill in the restored VM"
until_ok restart_logged 1 || restart_logged 1 || give_up "blk0 did not restart in the restored VM"
finish "snapshot 3, restored"
for DEV in rnd0 blk0; do
	restart_logged 2 && fail "$DEV restarted twice in the restored VM, once expected"
done
grep -q "restored from $TMP/s3" "$TMP/err" || fail "hyve -r does not log the restore"
echo "4: restored with memory.share_snapshot, then rnd0 and blk0 restarted, the guest passed: ok"
echo "t_snapshot_restart: ok"
