#!/bin/sh
# Part 10 of make bench: snapshot and restore of the Debian guest (make
# linux-guest), hyve against QEMU 7.2, same kernel, initrd, root image (a
# fresh sparse copy per boot, which the restore runs on again), 2 vCPUs,
# 512 MiB, command line hyve.test=beat: the guest prints "hyve-linux: beat
# N" every BEAT ms of its own time.  Each round and side boots once:
#   hyve  hostbridge, lpc, com1 on stdio, virtio-blk root, virtio-rnd;
#         `hyvectl snapshot VM DIR` (the VM stops), then `hyve -r DIR`;
#   qemu  q35 -accel kvm, virtio-blk-pci and virtio-rng-pci built in, a QMP
#         socket; QMP migrate to "exec:cat > FILE" while it runs (no
#         bandwidth limit), quit, then the same command line with
#         -incoming "exec:cat FILE".
# Prints sample lines "snap SIDE KEY VALUE": save_ms (hyvectl's run, or
# from migrate to QEMU's "completed"); size_kib and apparent_kib of the
# snapshot (du -k of hyve's DIR, of QEMU's file); restore_ms (from the exec
# to the first new beat line on the restored VM's serial port, stamped on
# arrival by bench/stamp); pss_kib (every process of the restored VM once
# it beats); hyve's restored_ms (exec to its "restored from" log line:
# state loaded, the vCPUs about to start), ram_ms (to "RAM restored":
# all of RAM in, which loads while the guest runs, and the devices
# started) and backends_ms (to
# its line for the last backend started), QEMU's own total_ms and
# downtime_ms of the migration, and beat_ms, the median gap between beat
# lines on each side before the save.
# A round "hyve-share"
# restores with -o memory.share_snapshot=true (RAM left in the snapshot's
# file, copied in page by page at first touch; ram_ms is then the time to
# the memory check's end, when the devices start).
# Usage: bench/snapshot.sh ROOT RUNS TMPDIR.  Needs /dev/kvm (the lab VM).
ROOT=$1
RUNS=$2
T=$3
B=$ROOT/build
L=$B/linux
CTL=$B/hyvectl
STAMP=$B/bench/stamp
PAUSE="python3 $ROOT/bench/pause.py"
MEM=512M
BEAT=${BENCH_SNAP_BEAT_MS:-100}
# The guest beats this long (of its own time), then powers off: longer
# than any wait below.
CMD="console=ttyS0 quiet panic=-1 root=/dev/vda systemd.show_status=0 hyve.test=beat hyve.beat_ms=$BEAT hyve.beat_s=1500"
# Boot (1-2 min in the lab VM) to the first beats; every other wait.
BOOT=900
LIMIT=300
for f in vmlinuz initrd.gz root.img; do
	[ -f "$L/$f" ] || { echo "snapshot: $L/$f is missing; run make linux-guest" >&2; exit 1; }
done
for f in "$B/hyve" "$CTL" "$STAMP"; do
	[ -x "$f" ] || { echo "snapshot: $f is not built (make; make bench-bins)" >&2; exit 1; }
done
[ -c /dev/kvm ] || { echo "snapshot: no /dev/kvm (run it in tools/labvm)" >&2; exit 1; }
# The same machine and devices for the saved QEMU and the restored one.
QEMU="qemu-system-x86_64 -M q35 -accel kvm -cpu host -smp 2 -m $MEM -nodefaults
    -no-user-config -nographic -serial stdio -monitor none -no-reboot
    -kernel $L/vmlinuz -initrd $L/initrd.gz
    -drive file=$T/root.img,if=none,id=d,format=raw
    -device virtio-blk-pci,drive=d,disable-legacy=on
    -device virtio-rng-pci,disable-legacy=on"

. "$ROOT/bench/lib.sh"
# The processes started and not yet waited for (so never a reused pid).
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
}
# reaped PID: PID ended and was waited for.
reaped() { pids=$(echo " $pids " | sed "s/ $1 / /; s/^ *//; s/ *$//"); }
trap cleanup EXIT
trap 'exit 1' INT TERM

now() { date +%s%N; }
say() { echo "snapshot: $*" >&2; }
# gone PID [SECONDS]: waits (at most SECONDS, default LIMIT) for PID to end.
gone() {
	_n=0
	while kill -0 "$1" 2>/dev/null; do
		_n=$((_n + 1)); [ $_n -gt $((${2:-$LIMIT} * 20)) ] && return 1
		sleep 0.05
	done
}
# stop PID: SIGTERM; again after 2 s (hyve presses the guest's power
# button at the first, which this guest ignores, and forces the power off
# at the second); SIGKILL if it is still there after LIMIT s.
stop() {
	kill "$1" 2>/dev/null
	gone "$1" 2 || { kill "$1" 2>/dev/null; gone "$1" || kill -9 "$1" 2>/dev/null; }
	wait "$1" 2>/dev/null
	reaped "$1"
}
# reader NAME: a FIFO $T/NAME.fifo for a VM's serial port, and bench/stamp
# writing its lines, stamped, to $T/NAME.lines; its pid in $rp.
reader() {
	rm -f "$T/$1.fifo" "$T/$1.lines"
	mkfifo "$T/$1.fifo"
	"$STAMP" "$T/$1.fifo" "$T/$1.lines" $((BOOT + 4 * LIMIT)) &
	rp=$!
	pids="$pids $rp"
	# It makes LINES once it holds the FIFO: a VM started after that
	# does not wait in open() for the reader.
	_n=0
	until [ -e "$T/$1.lines" ]; do
		_n=$((_n + 1)); [ $_n -gt $((LIMIT * 100)) ] && return 1
		sleep 0.01
	done
}
# beat LINES AFTER: "NS N" of the first beat line numbered above AFTER.
beat() {
	awk -v a="$2" '$2 == "hyve-linux:" && $3 == "beat" && $4 + 0 > a {
		print $1, $4; exit }' "$1"
}
# wait_beat LINES AFTER PID SECONDS: waits (polling, at most SECONDS) for
# such a line while PID lives; prints it, or fails.
wait_beat() {
	_n=0
	until _b=$(beat "$1" "$2") && [ -n "$_b" ]; do
		kill -0 "$3" 2>/dev/null || return 1
		_n=$((_n + 1)); [ $_n -gt $(($4 * 5)) ] && return 1
		sleep 0.2
	done
	echo "$_b"
}
# last LINES: the number of the last beat line.
last() {
	awk '$2 == "hyve-linux:" && $3 == "beat" { n = $4 } END { print n + 0 }' "$1"
}
# period SIDE LINES: the median wall-clock gap between beat lines (ms),
# the most a restored guest can take to print one once it runs.
period() {
	awk '$2 == "hyve-linux:" && $3 == "beat" { if (p) print ($1 - p) / 1e6; p = $1 }' "$2" |
	    sort -g | awk -v s="$1" '{ v[NR] = $1 } END { if (NR) printf "snap %s beat_ms %.1f\n", s, v[int((NR + 1) / 2)] }'
}
# size SIDE PATH: its allocated and apparent size.
size() {
	echo "snap $1 size_kib $(du -sk "$2" | cut -f1)"
	echo "snap $1 apparent_kib $(du -sk --apparent-size "$2" | cut -f1)"
}
# cpu SIDE PID...: each process's name and CPU time so far (ms), to the log:
# what ran while the VM was restored.
cpu() {
	_s=$1
	shift
	for p in "$@"; do
		[ -r /proc/$p/stat ] || continue
		sed 's/^[0-9]* (\(.*\)) /\1 /' /proc/$p/stat |
		    awk -v p="$p" -v s="$_s" -v hz="$(getconf CLK_TCK)" '{
			printf "snapshot: %s cpu: pid %s %s user %d ms, system %d ms\n", s, p, $1,
			    $13 * 1000 / hz, $14 * 1000 / hz }' >&2
	done
}
# warm: writes and frees more memory than the saved VM had, before a
# restore's clock starts.  Under the lab's emulation the first write to a
# page that held the just-ended VM's code is slow (the emulator drops what
# it translated from that page): measured by hand, a bare program's load
# of the 127 MiB RAM file into a new memfd took 16.6 s first and 1.5-1.9 s
# after.  Hardware has no such cost; both sides get the same warm-up.
warm() {
	_s=$(now) _m=$((${MEM%M} + 128))
	dd if=/dev/zero of="$T/warm" bs=1M count=$_m 2>/dev/null
	rm -f "$T/warm"
	say "$1: warm-up of $_m MiB: $((($(now) - _s) / 1000000)) ms"
}
# booted SIDE NAME PID: waits for the booted VM's beats; if none come,
# says so and stops it and its reader ($r0).
booted() {
	wait_beat "$T/$2.lines" 9 "$3" $BOOT >/dev/null && return 0
	say "$1: no beat within $BOOT s: $(tail -n 3 "$T/$2.lines" "$T/$2.err" | tr '\n' ' ')"
	stop "$3"; stop $r0
	return 1
}
# restored SIDE NAME PID START AFTER: the restored VM's figures.
restored() {
	if ! b=$(wait_beat "$T/$2.lines" "$5" "$3" $LIMIT); then
		say "$1: the restored VM did not beat within $LIMIT s:" \
		    "$(tail -n 3 "$T/$2.lines" "$T/$2.err" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	echo "snap $1 pss_kib $(pss $(tree "$3"))"
	cpu "$1" $(tree "$3") $readers
	echo "snap $1 restore_ms $(((${b% *} - $4) / 1000000))"
	say "$1: restored VM's first beat: ${b#* } (the saved VM's last: $5)"
}

# hyve_round SIDE: one boot, snapshot, restore.
hyve_round() {
	h=$1
	cp --sparse=always "$L/root.img" "$T/root.img"
	rm -rf "$T/snap" "$T/h0.sock" "$T/h1.sock"
	reader h0
	r0=$rp
	"$B/hyve" -c 2 -m $MEM -s 0,hostbridge -s 31,lpc -l com1,stdio \
	    -s 3,virtio-blk,"$T/root.img" -s 4,virtio-rnd \
	    -o boot.kernel="$L/vmlinuz" -o boot.initrd="$L/initrd.gz" \
	    -o "boot.cmdline=$CMD" -o control.path="$T/h0.sock" snap-bench \
	    </dev/null >"$T/h0.fifo" 2>"$T/h0.err" &
	hp=$!
	pids="$pids $hp"
	booted $h h0 $hp || return 1
	s=$(now)
	if ! "$CTL" --socket "$T/h0.sock" snapshot snap-bench "$T/snap" >"$T/ctl" 2>&1; then
		say "$h: hyvectl snapshot failed: $(cat "$T/ctl") $(tail -n 3 "$T/h0.err" | tr '\n' ' ')"
		stop $hp; stop $r0
		return 1
	fi
	e=$(now)
	echo "snap $h save_ms $(((e - s) / 1000000))"
	gone $hp || { say "$h: the snapshotted VM did not stop"; stop $hp; }
	wait $hp
	x=$?
	reaped $hp
	say "$h: $(cat "$T/ctl"); the VM exited $x"
	stop $r0
	warm $h
	period $h "$T/h0.lines"
	size $h "$T/snap"
	n=$(last "$T/h0.lines")

	# hyve's log, stamped too: when the restore is loaded.
	reader h1
	r1=$rp
	reader h1log
	r2=$rp
	readers="$r1 $r2"
	s=$(now)
	share=
	[ $h = hyve-share ] && share="-o memory.share_snapshot=true"
	"$B/hyve" -r "$T/snap" $share -o control.path="$T/h1.sock" \
	    </dev/null >"$T/h1.fifo" 2>"$T/h1log.fifo" &
	hp=$!
	pids="$pids $hp"
	restored $h h1 $hp "$s" "$n"
	rc=$?
	stop $hp
	stop $r1; stop $r2
	# The core's log line for its last backend, and the one once the
	# state is loaded (before the vCPUs start).
	l=$(awk '/restored from/ { exit } / backend .* pid / { t = $1 } END { print t }' "$T/h1log.lines")
	[ -n "$l" ] && echo "snap $h backends_ms $(((l - s) / 1000000))"
	l=$(awk '/restored from/ { print $1; exit }' "$T/h1log.lines")
	[ -n "$l" ] && echo "snap $h restored_ms $(((l - s) / 1000000))"
	# RAM all in (it loads while the guest runs), the devices started.
	l=$(awk '/RAM (restored|checked) in/ { print $1; exit }' "$T/h1log.lines")
	[ -n "$l" ] && echo "snap $h ram_ms $(((l - s) / 1000000))"
	sed "s/^/snapshot: $h -r log: /" "$T/h1log.lines" >&2
	rm -rf "$T/snap"
	return $rc
}

# qemu R: one boot, migration to a file, restore from it.
qemu_round() {
	cp --sparse=always "$L/root.img" "$T/root.img"
	rm -f "$T/q.mig" "$T/q.qmp"
	reader q0
	r0=$rp
	# word splitting of $QEMU is intended
	$QEMU -append "$CMD" -qmp unix:"$T/q.qmp",server=on,wait=off \
	    </dev/null >"$T/q0.fifo" 2>"$T/q0.err" &
	qp=$!
	pids="$pids $qp"
	booted qemu q0 $qp || return 1
	if ! $PAUSE save "$T/q.qmp" "exec:cat > $T/q.mig" $LIMIT >"$T/mig" 2>&1; then
		say "qemu: the migration to a file failed: $(cat "$T/mig") $(tail -n 3 "$T/q0.err" | tr '\n' ' ')"
		stop $qp; stop $r0
		return 1
	fi
	sed -n 's/^qemu_\([a-z]*_ms\) \([0-9.]*\)$/snap qemu \1 \2/p' "$T/mig"
	gone $qp || { say "qemu: the migrated QEMU did not quit"; stop $qp; }
	wait $qp
	reaped $qp
	stop $r0
	warm qemu
	period qemu "$T/q0.lines"
	size qemu "$T/q.mig"
	n=$(last "$T/q0.lines")

	reader q1
	r1=$rp
	readers=$r1
	s=$(now)
	# word splitting of $QEMU is intended
	$QEMU -append "$CMD" -incoming "exec:cat $T/q.mig" \
	    </dev/null >"$T/q1.fifo" 2>"$T/q1.err" &
	qp=$!
	pids="$pids $qp"
	restored qemu q1 $qp "$s" "$n"
	rc=$?
	stop $qp
	stop $r1
	rm -f "$T/q.mig"
	return $rc
}

# BENCH_SNAP_SIDES: the sides each round runs (a subset, to try a change).
r=0
while [ $r -lt "$RUNS" ]; do
	r=$((r + 1))
	for side in ${BENCH_SNAP_SIDES:-hyve hyve-share qemu}; do
		say "round $r of $RUNS: $side"
		case $side in
		qemu) qemu_round ;;
		hyve|hyve-share) hyve_round $side ;;
		*) say "BENCH_SNAP_SIDES: no side $side (hyve, hyve-share, qemu)" ;;
		esac
	done
done
rm -f "$T/root.img"
exit 0
