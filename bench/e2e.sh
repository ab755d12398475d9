#!/bin/sh
# Part 4 of `make bench`: the block datapath end to end, from the test
# guest's CPL 3 driver (test=bench-blk) on hyve (-s 3,virtio-blk,IMG,nocache:
# hyve-blk in its sandbox), on QEMU q35's built-in virtio-blk-pci (io_uring,
# cache=none) and on QEMU with hyve-blk --nocache over vhost-user.  Same
# image of random data, same guest memory; the three alternate run by run.
# Prints sample lines "e2e RW BS DEPTH hyve|qemu|qemu-vu iops|mbps|p50_us|p99_us V"
# (RW "randread-irq" is the interrupt-driven case).
# Usage: e2e.sh ROOT RUNS SECS DIR TMPDIR
ROOT=$1 RUNS=$2 SECS=$3 DIR=$4 T=$5
B=$ROOT/build
G=$B/testguest
IMG=$DIR/hyve-e2e.$$.img
SOCK=$T/e2e-blk.$$.sock
MEM=256M
BPID=""
trap 'for p in $BPID; do kill $p 2>/dev/null; done; rm -f "$IMG" "$SOCK"' EXIT
trap 'exit 1' INT TERM

# Random data: reads of a sparse file's holes never reach the device.
dd if=/dev/urandom of="$IMG" bs=1M count=256 status=none conv=fsync ||
	{ echo "e2e: cannot write the 256 MiB image $IMG (set BENCH_E2E_DIR)" >&2; exit 1; }
LIMIT=$((SECS * 5 + 40))
CMDLINE="test=bench-blk bench_s=$SECS"
QEMU="qemu-system-x86_64 -M q35 -accel kvm -m $MEM -nodefaults -no-user-config
    -nographic -serial stdio -monitor none -no-reboot -kernel $G
    -device isa-debug-exit,iobase=0x501,iosize=2"

# parse SIDE: the guest's BENCH lines on stdin as samples.
parse() {
	awk -v s="$1" '$1 == "BENCH" && $2 == "blk" {
		split($4, q, "="); split($5, b, "=")
		for (i = 6; i <= 9; i++) {
			split($i, kv, "="); print "e2e", $3, b[2], q[2], s, kv[1], kv[2]
		}
	}'
}

# check SIDE FILE: the guest passed, or say why not.
check() {
	grep -qx "1 passed, 0 failed" "$2" ||
	    echo "e2e: $1 run did not pass: $(grep -v '^BENCH' "$2" | tail -3 | tr '\n' ' ')" >&2
}

have_qemu=1
command -v qemu-system-x86_64 >/dev/null ||
	{ have_qemu=0; echo "e2e: qemu-system-x86_64 is missing: its rows are skipped" >&2; }
r=0
while [ $r -lt "$RUNS" ]; do
	timeout -k 2 $LIMIT "$B/hyve" -m $MEM -s 0,hostbridge -s 31,lpc \
	    -l com1,stdio -l debug-exit -s 3,virtio-blk,"$IMG",nocache \
	    -o boot.kernel="$G" -o "boot.cmdline=$CMDLINE" e2e </dev/null \
	    >"$T/e2e.out" 2>"$T/e2e-vm.err"
	parse hyve <"$T/e2e.out"; check hyve "$T/e2e.out"
	[ $have_qemu = 1 ] || { r=$((r + 1)); continue; }

	# word splitting of $QEMU is intended
	timeout -k 2 $LIMIT $QEMU -append "$CMDLINE" \
	    -drive file="$IMG",if=none,id=d,format=raw,aio=io_uring,cache=none \
	    -device virtio-blk-pci,drive=d,disable-legacy=on </dev/null \
	    >"$T/e2e.out" 2>"$T/e2e-vm.err"
	parse qemu <"$T/e2e.out"; check qemu "$T/e2e.out"

	rm -f "$SOCK"
	"$B/hyve-blk" --socket "$SOCK" --file "$IMG" --nocache 2>"$T/e2e-blk.err" &
	BPID=$!
	n=0
	while [ ! -S "$SOCK" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
	timeout -k 2 $LIMIT $QEMU -append "$CMDLINE" \
	    -object memory-backend-memfd,id=mem,size=$MEM,share=on \
	    -numa node,memdev=mem -chardev socket,id=c,path="$SOCK" \
	    -device vhost-user-blk-pci,chardev=c </dev/null \
	    >"$T/e2e.out" 2>"$T/e2e-vm.err"
	parse qemu-vu <"$T/e2e.out"; check qemu-vu "$T/e2e.out"
	kill $BPID 2>/dev/null; wait $BPID 2>/dev/null
	BPID=""
	r=$((r + 1))
done
exit 0
