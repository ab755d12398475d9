# hyvectl upgrade: the core is replaced under the test guest's blk-stress
# (every block it wrote is read back and checked) 5 times in a row, the
# backends keeping their processes and a console socket its place; the audit shows the new core confined
# and the first one waiting; a backend restart, a kill and a swap right
# after an upgrade; a new binary that is missing, not executable, crashes,
# reads another state version or never answers leaves the old core
# running the guest, with one line saying why; a SIGTERM to the hyve that
# was started reaches the core of the moment, and hyve exits as it does.
# lab: 280 s
# timeout: 900 s
. "$(dirname "$0")/lib.sh"
need_kvm
CTL=$ROOT/build/hyvectl
SOCK=$TMP/vm.sock
for b in hyve-v2 upgrade-crash upgrade-hang; do
	[ -x "$ROOT/build/tests/$b" ] || fail "$ROOT/build/tests/$b is not built (make integration builds it)"
done
pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$TMP"' EXIT

ctl() { "$CTL" --socket "$SOCK" "$@"; }
core_pid() { ctl status vm-up | sed -n 's/^vm-up: running, pid \([0-9]*\),.*/\1/p'; }
dev_field() {	# dev_field DEVICE COLUMN: a column of the device's status row
	ctl status vm-up | awk -v d="$1" -v c="$2" '$1 == d { print $c }'
}
last_pass() {
	sed -n 's/^blk-stress: pass \([0-9]*\) done.*/\1/p' "$TMP/out" | tail -n 1 | grep . || echo 0
}
# goes_on WHAT: the guest reports a pass it had not reached before.
goes_on() {
	_p=$(last_pass); _n=0
	until [ "$(last_pass)" -gt "$_p" ]; do
		kill -0 $pid 2>/dev/null || { cat "$TMP/out" "$TMP/err"; fail "hyve ended ($1)"; }
		grep -q "^FAIL\|errors\? at\|mismatch" "$TMP/out" && { cat "$TMP/out"; fail "the guest found bad data ($1)"; }
		_n=$((_n + 1)); [ $_n -gt 1200 ] && { cat "$TMP/out" "$TMP/err"; fail "blk-stress made no progress in 120 s ($1)"; }
		sleep 0.1
	done
}

truncate -s 8M "$TMP/disk.img"
"$HYVE" -c 2 -m 64M -s 0,hostbridge -s 3,virtio-rnd -s 4,virtio-blk,"$TMP/disk.img" \
    -s 31,lpc -l com1,stdio -l com2,unix:"$TMP/com2.sock" -l debug-exit -o boot.kernel="$GUEST" \
    -o "boot.cmdline=test=blk-stress stress_s=3600" -o control.path="$SOCK" \
    vm-up </dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
pids="$pid"
wait_for "^blk-stress: pass 1 done" "$TMP/out" 120 || { cat "$TMP/out" "$TMP/err"; fail "blk-stress never finished a pass"; }
rnd=$(dev_field rnd0 4)
blk=$(dev_field blk0 4)

# 1. Five upgrades in a row; the guest goes on after each.
cores="$pid"
for i in 1 2 3 4 5; do
	old=$(core_pid)
	ctl upgrade vm-up >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl" "$TMP/err"; fail "upgrade $i failed"; }
	cat "$TMP/ctl"
	new=$(core_pid)
	[ -n "$new" ] && [ "$new" != "$old" ] || fail "upgrade $i: the core is still pid $old"
	grep -q "core pid $new (was $old)" "$TMP/ctl" || fail "upgrade $i: hyvectl does not name the new core"
	case " $cores " in *" $new "*) fail "upgrade $i: pid $new again";; esac
	cores="$cores $new"
	goes_on "after upgrade $i"
done
kill -0 $pid || fail "the hyve that was started has ended"
[ "$(dev_field rnd0 4)" = "$rnd" ] && [ "$(dev_field blk0 4)" = "$blk" ] ||
    fail "a backend was replaced: rnd $rnd -> $(dev_field rnd0 4), blk $blk -> $(dev_field blk0 4)"
[ "$(grep -c 'upgraded: this core' "$TMP/err")" -eq 5 ] || fail "not 5 cores say they took over"

# com2's console socket came along: the core of the moment serves it.
python3 - "$TMP/com2.sock" <<'PY' || fail "com2's console socket is not served after the upgrades"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
PY
grep -q "com2" "$TMP/err" && { cat "$TMP/err"; fail "com2 had trouble in an upgrade"; }
# A core that took over can be snapshotted (its state is whole).
ctl snapshot vm-up "$TMP/snap" --resume >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl" "$TMP/err"; fail "snapshot after the upgrades failed"; }
goes_on "after a snapshot of an upgraded core"

# 2. The new core is confined as the first was; the first one waits.
ctl audit vm-up >"$TMP/audit" 2>&1 || { cat "$TMP/audit"; fail "the audit fails after the upgrades"; }
grep -q "^core vm-up (pid $new): OK" "$TMP/audit" || { cat "$TMP/audit"; fail "the audit does not show core pid $new confined"; }
grep -q "^core first core (pid $pid): OK" "$TMP/audit" || { cat "$TMP/audit"; fail "the audit does not show the first core"; }

# 3. A restart, a kill and a swap right after an upgrade.
ctl upgrade vm-up >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl"; fail "upgrade before the restart failed"; }
ctl restart vm-up blk0 >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl" "$TMP/err"; fail "restart of blk0 after an upgrade failed"; }
[ "$(dev_field blk0 6)" = 1 ] || { ctl status vm-up; fail "blk0's restart is not counted"; }
goes_on "after the restart"
ctl upgrade vm-up >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl"; fail "upgrade before the kill failed"; }
kill -9 "$(dev_field rnd0 4)"
n=0
until [ "$(dev_field rnd0 6)" = 1 ] && [ "$(dev_field rnd0 5)" = running ]; do
	n=$((n + 1)); [ $n -gt 600 ] && { ctl status vm-up; cat "$TMP/err"; fail "rnd0 was not restarted after its backend was killed"; }
	sleep 0.1
done
# The first core reaped it, and says how it ended.
n=0
until [ "$(ctl status vm-up | awk '$1 == "rnd0" { print $7, $8, $9 }')" = "killed by signal" ]; do
	n=$((n + 1)); [ $n -gt 300 ] && { ctl status vm-up; fail "rnd0's last exit does not say it was killed"; }
	sleep 0.1
done
ctl upgrade vm-up >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl"; fail "upgrade before the swap failed"; }
cp "$ROOT/build/hyve-blk" "$TMP/hyve-blk2"
ctl swap vm-up blk0 --backend "$TMP/hyve-blk2" >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl" "$TMP/err"; fail "swap of blk0 after an upgrade failed"; }
goes_on "after the swap"
ctl status vm-up

# 4. New cores that fail: the old one runs on; one line says why.
refused() {	# refused WHAT EXIT PATTERN ARGS...
	_what=$1 _want=$2 _pat=$3
	shift 3
	old=$(core_pid)
	ctl upgrade vm-up "$@" >"$TMP/ctl" 2>&1; rc=$?
	cat "$TMP/ctl"
	[ $rc -eq "$_want" ] || fail "upgrade to $_what exited $rc, expected $_want"
	[ "$(wc -l <"$TMP/ctl")" -eq 1 ] || fail "upgrade to $_what: not one line"
	grep -q "$_pat" "$TMP/ctl" || fail "upgrade to $_what: the line does not say '$_pat'"
	[ "$(core_pid)" = "$old" ] || fail "upgrade to $_what: the core changed"
	goes_on "after the upgrade to $_what"
}
refused "a missing binary" 2 "No such file" --binary "$TMP/missing"
: >"$TMP/notexec"
refused "a file that is not executable" 1 "Permission denied" --binary "$TMP/notexec"
refused "a binary that crashes" 1 "ended before it was ready" --binary "$ROOT/build/tests/upgrade-crash"
refused "another state version" 1 "reads version 2 only" --binary "$ROOT/build/tests/hyve-v2"
refused "a binary that never answers" 1 "did not report ready within 3000 ms" \
    --binary "$ROOT/build/tests/upgrade-hang" --timeout 3
n=0
while pgrep -f "$ROOT/build/tests/upgrade-hang" >/dev/null; do
	n=$((n + 1)); [ $n -gt 100 ] && fail "the new core that never answered still runs"
	sleep 0.1
done
# And the next upgrade works.
ctl upgrade vm-up >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl"; fail "upgrade after the failures failed"; }
goes_on "after the last upgrade"

# 5. SIGTERM to the hyve that was started: the current core presses the
# power button, blk-stress stops and checks, hyve exits 1.
kill -TERM $pid
n=0
while kill -0 $pid 2>/dev/null; do
	n=$((n + 1)); [ $n -gt 1200 ] && { cat "$TMP/err"; fail "hyve did not end after SIGTERM"; }
	sleep 0.1
done
wait $pid; rc=$?
cat "$TMP/out"
[ $rc -eq 1 ] || { cat "$TMP/err"; fail "hyve exited $rc after SIGTERM, expected 1"; }
grep -q "^blk-stress: [0-9]* passes, [0-9]* blocks verified, 0 errors" "$TMP/out" || fail "blk-stress did not report 0 errors"
grep -qx "PASS blk-stress" "$TMP/out" || fail "no PASS blk-stress"
grep -q "pressing the power button" "$TMP/err" || fail "the SIGTERM did not reach the current core"
echo "t_upgrade: ok"
