#!/bin/sh
# Part 9 of make bench: the pause a guest sees when its VMM is replaced.
# The test guest's tscgap test (a tight rdtsc loop that prints a beat every
# BEAT ms of its own time, with the largest gap its loop saw since the
# last one) runs three ways on 1 vCPU, 128 MiB and a virtio-rng device:
#   upgrade  hyve, `hyvectl upgrade` N times;
#   restore  hyve, `hyvectl snapshot VM DIR` (the VM stops) and at once
#            `hyve -r DIR`, N times;
#   qemu     QEMU q35 -accel kvm with its RAM in a shared file in /dev/shm,
#            migrated N times to a second QEMU on this host started
#            beforehand with -incoming defer, x-ignore-shared on (the RAM
#            is not copied, only the devices' state).
# Each pause is measured on the host as the largest wall-clock gap between
# two beat lines of the serial port (bench/stamp timestamps them on
# arrival) and, by the guest, as the largest gap of its TSC loop; the
# restored and the migrated TSC do not count the pause, hyve's upgrade does.
# A window with no operation in it gives the floor of both.  Prints sample
# lines "pause KIND host_ms|guest_ms|... VALUE".
# Usage: bench/upgrade.sh ROOT N TMPDIR.  Needs /dev/kvm (the lab VM).
# BENCH_BEAT_MS (default 5) sets the beat; BENCH_PAUSE_KINDS (default
# "upgrade restore qemu") which of the three run.
ROOT=$1
N=$2
T=$3
B=$ROOT/build
G=$B/testguest
CTL=$B/hyvectl
PAUSE="python3 $ROOT/bench/pause.py"
BEAT=${BENCH_BEAT_MS:-5}
MEM=128M
# The guest ends by itself after this long; every wait below is shorter.
CMD="test=tscgap gap_s=1800 beat_ms=$BEAT"
LIMIT=120
for f in "$G" "$B/hyve" "$CTL" "$B/bench/stamp"; do
	[ -x "$f" ] || { echo "upgrade: $f is not built (make; make bench-bins)" >&2; exit 1; }
done
[ -c /dev/kvm ] || { echo "upgrade: no /dev/kvm (run it in tools/labvm)" >&2; exit 1; }
# BENCH_PAUSE_KINDS: which of the three run (default all).
kind_wanted() { case " ${BENCH_PAUSE_KINDS:-upgrade restore qemu} " in *" $1 "*) return 0;; esac; return 1; }
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	rm -f /dev/shm/hyve-bench-ram.$$
}
trap cleanup EXIT

now() { date +%s%N; }
# more K: waits until K more beats arrive; 1 if none come in LIMIT s.
more() { $PAUSE wait "$T/lines" "$1" $LIMIT; }
# gone PID: waits (at most LIMIT s) for PID to end.
gone() {
	_n=0
	while kill -0 "$1" 2>/dev/null; do
		_n=$((_n + 1)); [ $_n -gt $((LIMIT * 100)) ] && return 1
		sleep 0.01
	done
}
# session KIND: a new serial reader and marks file.
session() {
	kind=$1
	rm -f "$T/fifo" "$T/lines"
	mkfifo "$T/fifo"
	"$B/bench/stamp" "$T/fifo" "$T/lines" $((LIMIT * (N + 4) * 2)) &
	sp=$!
	pids="$pids $sp"
	: >"$T/marks"
}
# calm: a window of 20 beats with nothing done: the floor.
calm() {
	_s=$(now)
	more 20 || return 1
	echo "$kind-calm $_s $(now)" >>"$T/marks"
}
# window S: after the operation begun at S, 3 beats more close its window.
window() {
	more 3 || { echo "upgrade: $kind: the guest did not go on" >&2; return 1; }
	echo "$kind $1 $(now)" >>"$T/marks"
}
finish() {
	kill "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	cp "$T/lines" "$T/lines.$kind"
	$PAUSE gaps "$T/lines" "$T/marks"
}
hyve() {
	"$B/hyve" -c 1 -m $MEM -s 0,hostbridge -s 3,virtio-rnd -s 31,lpc \
	    -l com1,stdio -o boot.kernel="$G" -o "boot.cmdline=$CMD" \
	    -o control.path="$1" bench-up
}

# --- hyve: upgrade ----------------------------------------------------------
if kind_wanted upgrade; then
session upgrade
hyve "$T/up.sock" </dev/null >"$T/fifo" 2>"$T/up.err" &
hp=$!
pids="$pids $hp"
more 10 && calm || { cat "$T/up.err" >&2; echo "upgrade: the guest does not beat under hyve" >&2; exit 1; }
i=0
while [ $i -lt "$N" ]; do
	i=$((i + 1))
	s=$(now)
	"$CTL" --socket "$T/up.sock" upgrade bench-up >"$T/ctl" 2>&1 ||
		{ cat "$T/ctl" "$T/up.err" >&2; exit 1; }
	window "$s" || exit 1
	sed -n 's/.*handover \([0-9]*\) ms.*/pause upgrade handover_ms \1/p' "$T/ctl"
done
kill "$hp"; gone "$hp"
# The old core's one line per upgrade: its phases.
sed -n 's/.*upgrade: [0-9]* ms to hand over: pause \([0-9]*\), state \([0-9]*\), send \([0-9]*\), new core ready \([0-9]*\), go \([0-9]*\) (spawn \([0-9]*\), prepare \([0-9]*\) before)$/\1 \2 \3 \4 \5 \6 \7/p' "$T/up.err" |
    while read -r pa st se rd go sp_ pr; do
	echo "pause upgrade phase_pause_ms $pa"; echo "pause upgrade phase_state_ms $st"
	echo "pause upgrade phase_send_ms $se"; echo "pause upgrade phase_ready_ms $rd"
	echo "pause upgrade phase_go_ms $go"; echo "pause upgrade phase_spawn_ms $sp_"
	echo "pause upgrade phase_prepare_ms $pr"
    done
# The new cores' own lines, for the log.
grep "the new core's phases" "$T/up.err" >&2
finish
fi

# --- hyve: snapshot, then restore -------------------------------------------
if kind_wanted restore; then
session restore
hyve "$T/r0.sock" </dev/null >"$T/fifo" 2>"$T/r0.err" &
hp=$!
pids="$pids $hp"
more 10 && calm || { cat "$T/r0.err" >&2; echo "upgrade: the guest does not beat under hyve" >&2; exit 1; }
i=0
while [ $i -lt "$N" ]; do
	s=$(now)
	"$CTL" --socket "$T/r$i.sock" snapshot bench-up "$T/snap$i" >"$T/ctl" 2>&1 ||
		{ cat "$T/ctl" "$T/r$i.err" >&2; exit 1; }
	"$B/hyve" -r "$T/snap$i" -o control.path="$T/r$((i + 1)).sock" \
	    </dev/null >"$T/fifo" 2>"$T/r$((i + 1)).err" &
	np=$!
	pids="$pids $np"
	window "$s" || { cat "$T/r$((i + 1)).err" >&2; exit 1; }
	gone "$hp" || { echo "upgrade: the snapshotted hyve did not stop" >&2; exit 1; }
	rm -rf "$T/snap$i"
	hp=$np
	i=$((i + 1))
done
kill "$hp"; gone "$hp"
finish
fi

# --- QEMU: local migration, RAM shared, not copied -------------------------------
RAM=/dev/shm/hyve-bench-ram.$$
qemu() {	# qemu QMP [ARGS]: a QEMU on the same RAM file
	_q=$1
	shift
	qemu-system-x86_64 -M q35,memory-backend=ram -accel kvm -cpu host \
	    -smp 1 -m $MEM -object memory-backend-file,id=ram,size=$MEM,mem-path=$RAM,share=on \
	    -nodefaults -no-user-config -nographic -serial stdio -monitor none \
	    -no-reboot -device virtio-rng-pci -kernel "$G" -append "$CMD" \
	    -qmp unix:"$_q",server=on,wait=off "$@"
}
# sock PATH PID: waits (at most LIMIT s) for a QMP socket to appear.
sock() {
	_n=0
	until [ -S "$1" ]; do
		kill -0 "$2" 2>/dev/null || return 1
		_n=$((_n + 1)); [ $_n -gt $((LIMIT * 100)) ] && return 1
		sleep 0.01
	done
}
kind_wanted qemu || exit 0
session qemu
qemu "$T/q0.qmp" </dev/null >"$T/fifo" 2>"$T/q0.err" &
qp=$!
pids="$pids $qp"
more 10 && calm || { cat "$T/q0.err" >&2; echo "upgrade: the guest does not beat under QEMU" >&2; exit 1; }
i=0
while [ $i -lt "$N" ]; do
	j=$((i + 1))
	qemu "$T/q$j.qmp" -incoming defer </dev/null >"$T/fifo" 2>"$T/q$j.err" &
	np=$!
	pids="$pids $np"
	sock "$T/q$j.qmp" $np || { cat "$T/q$j.err" >&2; exit 1; }
	s=$(now)
	$PAUSE migrate "$T/q$i.qmp" "$T/q$j.qmp" "unix:$T/mig$j" $LIMIT >"$T/mig" ||
		{ cat "$T/mig" "$T/q$i.err" "$T/q$j.err" >&2; exit 1; }
	window "$s" || exit 1
	sed -n 's/^qemu_downtime_ms \([0-9]*\)$/pause qemu downtime_ms \1/p' "$T/mig"
	gone "$qp" || { echo "upgrade: the migrated QEMU did not quit" >&2; exit 1; }
	qp=$np
	i=$j
done
kill "$qp"; gone "$qp"
finish
