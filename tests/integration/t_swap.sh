# hyvectl restart and swap, a SIGKILLed backend coming back, and the
# status and stats that show it: restarts, last exit, counters.
# lab: 36 s
. "$(dirname "$0")/lib.sh"
need_kvm
CTL=$ROOT/build/hyvectl
SOCK=$TMP/vm.sock
truncate -s 4M "$TMP/a.img"
truncate -s 8M "$TMP/b.img"
"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 3,virtio-blk,"$TMP/a.img" -s 4,virtio-rnd -o control.path="$SOCK" \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=rng,blk,idle' vmswap \
    </dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
i=0
while ! grep -q "idle: waiting" "$TMP/out" 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 3000 ] && { kill -9 $pid; cat "$TMP/out" "$TMP/err"; fail "guest never idled"; }
	sleep 0.1
done
"$CTL" --socket "$SOCK" stats vmswap || fail "stats failed"
"$CTL" --socket "$SOCK" stats vmswap --json >"$TMP/stats.json"
python3 - "$TMP/stats.json" <<'PY' || fail "the blk counters do not show the guest's requests"
import json, sys
d = {x["name"]: x for x in json.load(open(sys.argv[1]))["devices"]}
b = d["blk0"]
assert b["requests"] >= 4 and b["bytes"] > 8192 and b["kicks"] > 0 and b["interrupts"] > 0, b
assert d["rnd0"]["requests"] >= 2, d["rnd0"]
PY
old=$(ps --ppid $pid -o pid=,comm= | awk '$2 == "hyve-blk" {print $1}')
"$CTL" --socket "$SOCK" restart vmswap blk0 || fail "restart failed"
new=$(ps --ppid $pid -o pid=,comm= | awk '$2 == "hyve-blk" {print $1}')
[ -n "$new" ] && [ "$new" != "$old" ] || fail "restart did not start a new hyve-blk ($old -> $new)"
cp "$ROOT/build/hyve-blk" "$TMP/hyve-blk-copy"
"$CTL" --socket "$SOCK" swap vmswap blk0 --backend "$TMP/hyve-blk-copy" --path "$TMP/b.img" ||
    fail "swap failed"
ps --ppid $pid -o args= | grep -q "$TMP/hyve-blk-copy" || fail "the swapped binary is not running"
grep -q "disk size changed from 8192 to 16384 sectors" "$TMP/err" ||
    fail "no config change for the new disk size"
# A bad swap is refused with a reason, and the device keeps running.
"$CTL" --socket "$SOCK" swap vmswap blk0 --tap tap0 >"$TMP/bad" 2>&1 && fail "a tap for a disk was accepted"
grep -q "not a NIC" "$TMP/bad" || fail "bad swap: $(cat "$TMP/bad")"
"$CTL" --socket "$SOCK" swap vmswap nosuch >"$TMP/bad" 2>&1 && fail "an unknown device was accepted"
# SIGKILL: the supervisor brings it back and says why it died.
blk=$(ps --ppid $pid -o pid=,comm= | awk '$2 == "hyve-blk-copy" || $2 == "hyve-blk" {print $1}')
kill -9 "$blk"
# The restart is counted when done: wait for that, however long it takes.
n=0
until "$CTL" --socket "$SOCK" status vmswap | awk '$1 == "blk0" && $6 == 3 && $5 == "running" { ok = 1 } END { exit !ok }'; do
	n=$((n + 1)); [ $n -gt 3000 ] && break
	sleep 0.1
done
"$CTL" --socket "$SOCK" status vmswap --json >"$TMP/status.json"
"$CTL" --socket "$SOCK" status vmswap
python3 - "$TMP/status.json" <<'PY' || fail "status does not show the restarts"
import json, sys
d = {x["name"]: x for x in json.load(open(sys.argv[1]))["devices"]}
b = d["blk0"]
assert b["restarts"] == 3, b
assert b["state"] == "running", b
assert "killed by signal 9" in (b["last_exit"] or ""), b
PY
kill -TERM $pid
wait $pid; rc=$?
[ $rc -eq 1 ] || fail "hyve exited $rc"
grep -q "backend restarted" "$TMP/err" || fail "no restart in the log"
echo ok
