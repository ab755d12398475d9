# Snapshot and restore: the test guest's "count" test (a buffer filled by a
# running generator while a LAPIC timer ticks) is snapshotted in the
# middle, once with --resume and once stopping the VM; each snapshot is
# restored in a new hyve, which goes on from the step it was at and passes.
# A damaged snapshot (corrupt state or memory, truncated, wrong version,
# foreign) is refused with exit 4 and one line.  A VM with a virtio-rng
# device reading it in every step is snapshotted and restored, and its new
# backend goes on from the rings' saved state (and its disk's backend
# refuses a restore onto a disk of another size); a VM with virtio-vsock
# is restored with another CID; a VM with virtio-fs, whose backend holds
# open files, is refused and runs on.
# lab: 140 s
# timeout: 600 s
. "$(dirname "$0")/lib.sh"
need_kvm
CTL=$ROOT/build/hyvectl
SOCK=$TMP/vm.sock
[ -x "$CTL" ] || fail "$CTL is not built"
pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$TMP"' EXIT

# last_step FILE: the last "count: step N" in FILE, 0 if none.
last_step() {
	sed -n 's/^count: step \([0-9]*\) of .*/\1/p' "$1" | tail -n 1 | grep . || echo 0
}

# wait_guest PATTERN FILE PID SECONDS: wait_for, but 1 at once if PID ends.
wait_guest() {
	_n=0
	until grep -q "$1" "$2" 2>/dev/null; do
		kill -0 "$3" 2>/dev/null || return 1
		_n=$((_n + 1)); [ $_n -gt $(($4 * 10)) ] && return 1
		sleep 0.1
	done
}

# wait_exit PID SECONDS: waits for PID to end; its status in $rc.
wait_exit() {
	_n=0
	while kill -0 "$1" 2>/dev/null; do
		_n=$((_n + 1))
		[ $_n -gt $(($2 * 10)) ] && fail "pid $1 still runs after $2 s"
		sleep 0.1
	done
	wait "$1"; rc=$?
}

# 120 steps of 250 ms: in a loaded lab VM each snapshot has let the guest
# run 23 steps before it stopped, and with 60 the second one came at the
# last step, which left the restored guest nothing to go on with.
"$HYVE" -c 2 -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -o boot.kernel="$GUEST" -o "boot.cmdline=test=count count=120" \
    -o control.path="$SOCK" vm-snap </dev/null >"$TMP/out1" 2>"$TMP/err1" &
pid=$!
pids="$pid"
wait_guest "^count: step 3 of" "$TMP/out1" $pid 120 ||
    { cat "$TMP/out1" "$TMP/err1"; fail "the guest never reached step 3"; }

# 1. --resume: the VM runs on.  It was at a step from s0 to stepa.
s0=$(last_step "$TMP/out1")
"$CTL" --socket "$SOCK" snapshot vm-snap "$TMP/a" --resume >"$TMP/ctl" 2>&1 ||
    { cat "$TMP/ctl" "$TMP/err1"; fail "hyvectl snapshot --resume failed"; }
cat "$TMP/ctl"
grep -q "running on" "$TMP/ctl" || fail "hyvectl does not say the VM runs on"
stepa=$(last_step "$TMP/out1")
[ -f "$TMP/a/state" ] && [ -f "$TMP/a/memory" ] || fail "snapshot a has no state or memory file"
[ ! -e "$TMP/a/.state.partial" ] || fail "snapshot a left its partial state file"
[ "$(stat -c %s "$TMP/a/memory")" -eq $((64 << 20)) ] || fail "the memory file is not 64 MiB long"
"$CTL" --socket "$SOCK" status vm-snap | grep -q "vm-snap: running" ||
    fail "the VM does not run on after snapshot --resume"

# 2. Without --resume, a few steps later: the VM stops.
want=$((stepa + 3))
wait_guest "^count: step $want of" "$TMP/out1" $pid 120 ||
    { cat "$TMP/out1" "$TMP/err1"; fail "the guest did not go on after the snapshot (at step $stepa)"; }
"$CTL" --socket "$SOCK" snapshot vm-snap "$TMP/b" >"$TMP/ctl" 2>&1 ||
    { cat "$TMP/ctl" "$TMP/out1" "$TMP/err1"; fail "hyvectl snapshot failed"; }
cat "$TMP/ctl"
wait_exit $pid 60
stepb=$(last_step "$TMP/out1")
cat "$TMP/err1"
[ $rc -eq 1 ] || fail "the snapshotted VM exited $rc, expected 1 (powered off)"
grep -q "exit 1 (snapshot taken)" "$TMP/err1" || fail "the VM's log does not say it stopped for the snapshot"
grep -q "^PASS count" "$TMP/out1" && fail "the first VM finished its test: the snapshot did not stop it"
echo "snapshots at steps $s0-$stepa (resumed) and $stepb (stopped)"

# 3. Restore b in a new process: it goes on from step stepb and passes.
# restore DIR OUT LO HI: the snapshot was taken after step LO and before
# step HI + 1 was printed.
restore() {
	"$HYVE" -r "$1" </dev/null >"$2" 2>"$2.err" &
	p=$!
	pids="$pids $p"
	wait_exit $p 300
	cat "$2" "$2.err"
	[ $rc -eq 1 ] || fail "hyve -r $1 exited $rc, expected 1 (the guest's tests passed)"
	grep -qx "PASS count" "$2" || fail "no 'PASS count' after restoring $1"
	grep -qx "1 passed, 0 failed" "$2" || fail "no '1 passed, 0 failed' after restoring $1"
	first=$(sed -n 's/^count: step \([0-9]*\) of .*/\1/p' "$2" | head -n 1)
	[ -n "$first" ] && [ "$first" -gt "$3" ] ||
	    fail "restoring $1 did not go on after step $3 (first step: ${first:-none})"
	# A snapshot in the middle of a line: the restored guest prints its
	# tail first, and that step's whole line is on neither side.
	hi=$4
	head -n 1 "$2" | grep -q "^count: step" || hi=$((hi + 1))
	[ "$first" -le $((hi + 1)) ] ||
	    fail "restoring $1 skipped steps: snapshot by step $4, first step $first"
	grep -q "restored from $1" "$2.err" || fail "hyve -r does not log the restore"
	# RAM came in while the guest ran (ramfill.c), not before.
	grep -q "RAM restored in .* while the guest ran" "$2.err" ||
	    fail "hyve -r $1 did not load RAM while the guest ran"
}
restore "$TMP/b" "$TMP/out2" "$stepb" "$stepb"
# 4. And the one taken with --resume, from its own step.
restore "$TMP/a" "$TMP/out3" "$s0" "$stepa"

# 5. Damaged snapshots: exit 4 and one line naming the file.
# refused DIR WHAT TEXT [OPTION...]
refused() {
	_d=$1 _w=$2 _t=$3
	shift 3
	"$HYVE" "$@" -r "$_d" </dev/null >"$TMP/rout" 2>"$TMP/rerr"; rc=$?
	set -- "$_d" "$_w" "$_t"
	cat "$TMP/rerr"
	[ $rc -eq 4 ] || fail "hyve -r $1 ($2) exited $rc, expected 4"
	[ "$(wc -l <"$TMP/rerr")" -eq 1 ] || fail "hyve -r $1 ($2): not one line"
	grep -q "$3" "$TMP/rerr" || fail "hyve -r $1 ($2): the line does not say '$3'"
}
damage() {
	rm -rf "$TMP/d"
	cp -r "$TMP/b" "$TMP/d"
}
damage
printf '\377' | dd of="$TMP/d/state" bs=1 seek=200 conv=notrunc 2>/dev/null
refused "$TMP/d" "corrupt state" "$TMP/d/state: corrupt"
damage
size=$(stat -c %s "$TMP/d/state")
truncate -s $((size - 100)) "$TMP/d/state"
refused "$TMP/d" "truncated state" "$TMP/d/state: truncated"
damage
python3 - "$TMP/d/state" <<'PY'
import struct, sys, zlib
f = open(sys.argv[1], "r+b")
h = bytearray(f.read(32))
h[8:12] = struct.pack("<I", 2)
h[28:32] = struct.pack("<I", zlib.crc32(bytes(h[:28])))
f.seek(0); f.write(h)
PY
refused "$TMP/d" "version 2" "version 2"
damage
printf 'QEVM' | dd of="$TMP/d/state" bs=1 seek=0 conv=notrunc 2>/dev/null
refused "$TMP/d" "foreign" "not a hyve snapshot"
damage
off=$(( (64 << 20) / 2 + 12345 ))
printf '\125' | dd of="$TMP/d/memory" bs=1 seek=$off conv=notrunc 2>/dev/null
# A byte that was already 0x55 would not be damage.
cmp -s "$TMP/b/memory" "$TMP/d/memory" && printf '\252' | dd of="$TMP/d/memory" bs=1 seek=$off conv=notrunc 2>/dev/null
refused "$TMP/d" "corrupt memory, loaded first" "$TMP/d/memory: corrupt" \
    -o memory.lazy_restore=false
# Loaded while the guest runs (the default): the fill finds it, and the VM
# ends with exit 4 before its devices start.
"$HYVE" -r "$TMP/d" </dev/null >"$TMP/rout" 2>"$TMP/rerr"; rc=$?
cat "$TMP/rerr"
[ $rc -eq 4 ] || fail "hyve -r (corrupt memory, lazily) exited $rc, expected 4"
grep -q "$TMP/d/memory: corrupt: .*found while restoring" "$TMP/rerr" ||
    fail "hyve -r (corrupt memory, lazily): no line names the memory file"
! grep -q "RAM restored" "$TMP/rerr" ||
    fail "hyve -r (corrupt memory, lazily): the devices started"

# 6. A VM with a backend device: virtio-rnd, read in every step.  Its rings
# stop where the backend got to; the restored VM's new backend takes them
# up there.
# It has a disk too (which the guest leaves alone), whose backend's own
# state travels in the snapshot (DEVICE_STATE): a restore onto a disk of
# another size is refused.
truncate -s 1M "$TMP/disk.img"
truncate -s 2M "$TMP/big.img"
"$HYVE" -c 2 -m 64M -s 0,hostbridge -s 3,virtio-rnd \
    -s 4,virtio-blk,"$TMP/disk.img" -s 31,lpc -l com1,stdio \
    -l debug-exit -o boot.kernel="$GUEST" \
    -o "boot.cmdline=test=count-rng count=40" \
    -o control.path="$SOCK" vm-rnd </dev/null >"$TMP/out4" 2>"$TMP/err4" &
pid=$!
pids="$pids $pid"
wait_guest "^count: step 4 of" "$TMP/out4" $pid 120 ||
    { cat "$TMP/out4" "$TMP/err4"; fail "the rng guest never reached step 4"; }
# --resume first: the same backend takes its rings up again.
s0=$(last_step "$TMP/out4")
"$CTL" --socket "$SOCK" snapshot vm-rnd "$TMP/c0" --resume >"$TMP/ctl" 2>&1 ||
    { cat "$TMP/ctl" "$TMP/out4" "$TMP/err4"; fail "snapshot --resume of a VM with virtio-rnd failed"; }
wait_guest "^count: step $((s0 + 3)) of" "$TMP/out4" $pid 120 ||
    { cat "$TMP/out4" "$TMP/err4"; fail "the rng guest did not go on after snapshot --resume"; }
"$CTL" --socket "$SOCK" snapshot vm-rnd "$TMP/c" >"$TMP/ctl" 2>&1 ||
    { cat "$TMP/ctl" "$TMP/out4" "$TMP/err4"; fail "snapshot of a VM with virtio-rnd failed"; }
cat "$TMP/ctl"
wait_exit $pid 60
[ $rc -eq 1 ] || { cat "$TMP/err4"; fail "the rng VM exited $rc after its snapshot, expected 1"; }
grep -q "^FAIL" "$TMP/out4" && { cat "$TMP/out4"; fail "the rng guest failed before the snapshot"; }
stepc=$(last_step "$TMP/out4")
# The disk's state is in the snapshot; another size is refused, exit 4,
# the core's line naming the device and the backend's saying why.
rm -rf "$TMP/cbig"
cp -r "$TMP/c" "$TMP/cbig"
"$HYVE" -r "$TMP/cbig" -s 4,virtio-blk,"$TMP/big.img" </dev/null \
    >"$TMP/rout" 2>"$TMP/rerr"; rc=$?
cat "$TMP/rerr"
[ $rc -eq 4 ] || fail "restoring onto a 2 MiB disk exited $rc, expected 4"
grep -q "blk0: the backend refused the saved device state" "$TMP/rerr" ||
    fail "the refusal does not name blk0"
grep -q "config differs from the saved one" "$TMP/rerr" ||
    fail "the disk's backend does not say its config differs"
"$HYVE" -r "$TMP/c" </dev/null >"$TMP/out5" 2>"$TMP/out5.err" &
p=$!
pids="$pids $p"
wait_exit $p 300
cat "$TMP/out5" "$TMP/out5.err"
[ $rc -eq 1 ] || fail "hyve -r of the rng VM exited $rc, expected 1"
grep -qx "PASS count-rng" "$TMP/out5" || fail "no 'PASS count-rng' after the restore"
first=$(sed -n 's/^count: step \([0-9]*\) of .*/\1/p' "$TMP/out5" | head -n 1)
[ "$first" = $((stepc + 1)) ] || fail "the rng VM went on at step ${first:-none}, not $((stepc + 1))"
grep -q "rnd0: virtio-rnd at .* backend .* pid" "$TMP/out5.err" || fail "the restored VM started no rnd backend"

# 7. A VM with virtio-vsock is saved and restored with another CID (its
# backend carries no connection; the restored one resets them, as after a
# restart, and takes the new CID).  A VM with virtio-fs, whose backend
# (virtiofsd) holds open files it cannot hand over, is refused, one line
# naming the device, and runs on.
# The backend, as the tenant, listens in $TMP/vs.
chmod 755 "$TMP"
mkdir -m 777 "$TMP/vs"
# idle_vm NAME N DEVICE: the idle test guest with DEVICE in slot 3, its
# output in $TMP/outN and errN, running; its pid in $pid.
idle_vm() {
	"$HYVE" -m 64M -s 0,hostbridge -s 3,"$3" -s 31,lpc -l com1,stdio \
	    -o boot.kernel="$GUEST" -o boot.cmdline=test=idle \
	    -o control.path="$SOCK" "$1" </dev/null >"$TMP/out$2" 2>"$TMP/err$2" &
	pid=$!
	pids="$pids $pid"
	wait_guest "idle: waiting" "$TMP/out$2" $pid 120 ||
	    { cat "$TMP/err$2"; fail "$1 never started"; }
}
idle_vm vm-vs 6 virtio-vsock,cid=5,socket="$TMP/vs/v.sock"
"$CTL" --socket "$SOCK" snapshot vm-vs "$TMP/e" >"$TMP/ctl" 2>&1; rc=$?
cat "$TMP/ctl"
[ $rc -eq 0 ] || fail "snapshot of a VM with virtio-vsock exited $rc"
wait_exit $pid 60
[ $rc -eq 1 ] || fail "the saved vsock VM exited $rc, expected 1"
"$HYVE" -r "$TMP/e" -s 3,virtio-vsock,cid=6,socket="$TMP/vs/v.sock" \
    -o control.path="$TMP/vs.sock" </dev/null >"$TMP/out7" 2>"$TMP/err7" &
pid=$!
pids="$pids $pid"
wait_guest "the guest's CID is 6 now, 5 when saved" "$TMP/err7" $pid 120 ||
    { cat "$TMP/err7"; fail "the restored vsock backend did not take CID 6"; }
"$CTL" --socket "$TMP/vs.sock" status vm-vs | grep -q "vm-vs: running" ||
    fail "the restored vsock VM does not run"
"$CTL" --socket "$TMP/vs.sock" poweroff vm-vs --force >/dev/null 2>&1
wait_exit $pid 60
[ $rc -eq 1 ] || fail "the restored vsock VM exited $rc after a forced poweroff, expected 1"

mkdir -m 755 "$TMP/share"
idle_vm vm-fs 8 virtio-fs,"$TMP/share",tag=t
"$CTL" --socket "$SOCK" snapshot vm-fs "$TMP/f" >"$TMP/ctl" 2>&1; rc=$?
cat "$TMP/ctl"
[ $rc -eq 1 ] || fail "snapshot of a VM with virtio-fs exited $rc, expected 1"
[ "$(wc -l <"$TMP/ctl")" -eq 1 ] || fail "the refusal is not one line"
grep -q "fs0: its backend keeps state of its own (open files) that snapshots cannot carry yet" "$TMP/ctl" ||
    fail "the refusal does not name fs0 and say why"
[ ! -e "$TMP/f/state" ] && [ ! -e "$TMP/f/memory" ] && [ ! -e "$TMP/f/.state.partial" ] ||
    fail "a refused snapshot left files in $TMP/f"
"$CTL" --socket "$SOCK" status vm-fs | grep -q "vm-fs: running" ||
    fail "the VM does not run on after a refused snapshot"
# Forced off at once: its answer may lose the race with the VM's exit, so
# what counts is that the VM ends.
"$CTL" --socket "$SOCK" poweroff vm-fs --force >/dev/null 2>&1
wait_exit $pid 60
[ $rc -eq 1 ] || fail "the virtio-fs VM exited $rc after a forced poweroff, expected 1"
echo "t_snapshot: ok"
