#!/bin/sh
# Records fuzz seeds from a real VM: the test guest runs its rng and blk
# tests under hyve's core with the backends standalone.  Writes
#   OUT/vu_server/recorded-TYPE	what the core sent (a hostile frontend's
#				starting point), through tests/fuzz/vu_record
#   OUT/vu_frontend/recorded-TYPE	what the backend answered (a hostile
#				backend's starting point)
#   OUT/ring/recorded-TYPE	the ring as the guest left it when the core
#   OUT/requests/recorded-TYPE	stopped it, buffers moved into the harness's
#				memory (tests/fuzz/ring_seed.py)
#   OUT/devices/recorded-N	the guest's port and MMIO accesses, from KVM's
#				kvm_pio/kvm_mmio trace events, in the layout
#				of fuzz_devices (same devices, same slots)
# usage: record.sh [OUT]	(default tests/fuzz/corpus; needs /dev/kvm,
#				and root for the trace events)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/build
OUT=${1:-$ROOT/tests/fuzz/corpus}
T=$(mktemp -d /tmp/hyve-record.XXXXXX)
TR=/sys/kernel/tracing
I=$TR/instances/hyve-record-$$
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; rmdir "$I" 2>/dev/null; rm -rf "$T"' EXIT

die() {
	echo "record: $*" >&2
	exit 1
}

wait_sock() {	# path what
	n=0
	while [ ! -S "$1" ]; do
		n=$((n + 1))
		[ $n -gt 100 ] && die "$2 did not create $1 (log: $(cat "$T"/*.log))"
		sleep 0.05
	done
}

# backend TYPE: starts hyve-TYPE standalone on $T/TYPE.sock, pid in $be.
backend() {
	if [ "$1" = blk ]; then
		"$B/hyve-blk" --file "$T/disk.img" --socket "$T/blk.sock" 2>"$T/blk.log" &
	else
		"$B/hyve-$1" --socket "$T/$1.sock" 2>"$T/$1.log" &
	fi
	be=$!
	pids="$pids $be"
	wait_sock "$T/$1.sock" "hyve-$1"
}

# vm TESTS DEVICE...: boots the test guest with these -s devices and the
# guest tests TESTS (under $wrap, if set); dies unless they all pass.
vm() {
	tests=$1
	shift
	timeout -k 5 120 $wrap "$B/hyve" -m 64M -s 0,hostbridge -s 31,lpc \
	    -l com1,stdio -l debug-exit "$@" -o boot.kernel="$B/testguest" \
	    -o "boot.cmdline=test=$tests" vmrec </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	grep -qx "[1-9][0-9]* passed, 0 failed" "$T/out" ||
	    die "the guest's $tests tests failed (exit $rc): $(cat "$T/out" "$T/err" "$T"/*.log)"
}

[ -r /dev/kvm ] && [ -w /dev/kvm ] || die "/dev/kvm is missing or not accessible"
mkdir -p "$OUT/vu_server" "$OUT/vu_frontend" "$OUT/devices" "$OUT/ring" \
    "$OUT/requests"
truncate -s 8M "$T/disk.img"
wrap=
for type in blk rnd; do
	backend $type
	"$B/vu_record" "$T/rec.sock" "$T/$type.sock" \
	    "$OUT/vu_server/recorded-$type" "$OUT/vu_frontend/recorded-$type" \
	    "$T/ring-$type" 2>"$T/rec.log" &
	rec=$!
	pids="$pids $rec"
	wait_sock "$T/rec.sock" vu_record
	test=$type
	[ $type = rnd ] && test=rng
	vm $test -s 3,vhost-user,socket="$T/rec.sock",type=$type
	wait $rec || die "vu_record failed: $(cat "$T/rec.log")"
	[ -s "$T/ring-$type-q0" ] || die "vu_record wrote no ring for $type"
	python3 "$ROOT/tests/fuzz/ring_seed.py" "$T/ring-$type-q0" $type \
	    "$OUT/ring/recorded-$type" "$OUT/requests/recorded-$type" ||
	    die "no ring seeds from $T/ring-$type-q0"
	kill $be
	wait $be 2>/dev/null
	pids=		# both ended: nothing for the trap to kill
	echo "record: $type: $(wc -c <"$OUT/vu_server/recorded-$type") bytes from the core, $(wc -c <"$OUT/vu_frontend/recorded-$type") from hyve-$type"
done

# The guest's register accesses, with the devices where fuzz_devices has
# them: rng at slot 4, blk at slot 5.  A trace instance of our own, for
# this VM's threads only (set_event_pid, followed into new threads).
[ -d $TR/events ] || mount -t tracefs nodev $TR 2>/dev/null
[ -d $TR/events/kvm/kvm_pio ] ||
    die "no KVM trace events in $TR (mount tracefs there, as root)"
FUZZ_DEVICES_RANGES=1 "$B/fuzz/fuzz_devices" >"$T/ranges" 2>"$T/ranges.err" ||
    die "$B/fuzz/fuzz_devices could not list its ranges: $(cat "$T/ranges.err")"
backend rnd
backend blk
mkdir "$I" || die "cannot make the trace instance $I"
echo 1 >"$I/options/event-fork"
echo 1 >"$I/events/kvm/kvm_pio/enable"
echo 1 >"$I/events/kvm/kvm_mmio/enable"
echo 8192 >"$I/buffer_size_kb"
echo 'echo $$ >"$1/set_event_pid"; shift; exec "$@"' >"$T/traced"
wrap="sh $T/traced $I"
vm rng,blk -s 4,vhost-user,socket="$T/rnd.sock",type=rng \
    -s 5,vhost-user,socket="$T/blk.sock",type=blk
echo 0 >"$I/tracing_on"
rm -f "$OUT"/devices/recorded-*
python3 "$ROOT/tests/fuzz/trace_seed.py" "$T/ranges" "$I/trace" \
    "$OUT/devices/recorded" || die "no devices seeds from the trace"
