#!/bin/sh
# Part 5 of `make bench`: the network datapath, from the test guest's CPL 3
# driver (test=bench-net: tx of 64- and 1500-byte frames and of 64 KiB
# TCP/IPv4 TSO frames as fast as the ring takes them, then rx of a flood)
# on hyve (-s 2,virtio-net,tap0: hyve-net in its sandbox) and on QEMU q35's
# tap netdev (userspace virtio-net, vhost=off), the two alternating run by
# run.  The flood peer is bench/flood (netecho.py --flood's protocol, in C
# with sendmmsg: the Python peer tops out near 50,000 frames/s), once with
# 64-byte and once with 1500-byte frames.  Run inside a private network
# namespace (unshare -n): it makes tap0 there.
# The TSO frames are addressed to a MAC nobody has: the host kernel takes
# them from the tap whole and drops them at once, so the figure is the cost
# of the virtqueue and the tap write, as for the other tx rows.
# Prints sample lines "net tx|tx-tso|rx SIZE hyve|qemu pps|mbps V", and
# "net tx-tso 65536 SIDE unsupported 1" when a device lacks HOST_TSO4.
# Usage: net.sh ROOT RUNS SECS TMPDIR
ROOT=$1 RUNS=$2 SECS=$3 T=$4
B=$ROOT/build
G=$B/testguest
FLOOD=$B/bench/flood
EPID=""
trap 'for p in $EPID; do kill $p 2>/dev/null; done' EXIT
trap 'exit 1' INT TERM

ip link set lo up
ip tuntap add tap0 mode tap vnet_hdr ||
	{ echo "net: cannot create tap0 in the namespace" >&2; exit 1; }
ip link set tap0 up
LIMIT=$((SECS * 4 + 40))
QEMU="qemu-system-x86_64 -M q35 -accel kvm -m 128M -nodefaults -no-user-config
    -nographic -serial stdio -monitor none -no-reboot -kernel $G
    -device isa-debug-exit,iobase=0x501,iosize=2"

parse() {
	awk -v s="$1" '$1 == "BENCH" && $2 == "net" && $4 == "unsupported" {
		print "net", $3, 65536, s, "unsupported", 1
	}
	$1 == "BENCH" && $2 == "net" && NF >= 6 {
		split($4, z, "=")
		for (i = 5; i <= 6; i++) {
			split($i, kv, "="); print "net", $3, z[2], s, kv[1], kv[2]
		}
	}'
}

# The TSO frames that reached the host's IPv4 stack so far (counted as
# for another host, Linux 5.19 on), or nothing.
otherhost() {
	ip -s -s link show tap0 | awk '/RX errors:/ { if ($NF == "otherhost") { getline; print $NF } }'
}

# run SIDE FLOOD CMD...: one guest with netecho.py flooding FLOOD-byte frames.
run() {
	side=$1 flood=$2; shift 2
	o0=$(otherhost)
	"$FLOOD" tap0 "$flood" $LIMIT >"$T/flood.out" 2>&1 &
	EPID=$!
	timeout -k 2 $LIMIT "$@" </dev/null >"$T/net.out" 2>"$T/net-vm.err"
	kill -INT $EPID
	wait $EPID
	EPID=""
	# The tx rows come from the first of the two guests of a run.
	if [ "$flood" = 64 ]; then parse "$side"; else parse "$side" | grep -v '^net tx'; fi <"$T/net.out"
	# A frame the tap refuses is dropped without a word by QEMU: check.
	o1=$(otherhost)
	tso=$(sed -n 's/^BENCH net tx-tso .*pps=\([0-9]*\) .*/\1/p' "$T/net.out")
	[ -n "$o0" ] && [ -n "$tso" ] && [ $((o1 - o0)) -lt $((tso * SECS / 2)) ] &&
	    echo "net: $side: the tap passed $((o1 - o0)) TSO frames to the host, the guest sent about $((tso * SECS))" >&2
	grep -qx "1 passed, 0 failed" "$T/net.out" ||
	    echo "net: $side run (flood $flood) did not pass: $(grep -v '^BENCH' "$T/net.out" | tail -3 | tr '\n' ' ')" >&2
	grep -q "^BENCH net rx" "$T/net.out" ||
	    echo "net: $side: no rx figure ($(cat "$T/flood.out"))" >&2
}

have_qemu=1
command -v qemu-system-x86_64 >/dev/null ||
	{ have_qemu=0; echo "net: qemu-system-x86_64 is missing: its rows are skipped" >&2; }
r=0
while [ $r -lt "$RUNS" ]; do
	for f in 64 1500; do
		run hyve $f "$B/hyve" -m 128M -s 0,hostbridge -s 31,lpc \
		    -l com1,stdio -l debug-exit -s 2,virtio-net,tap0 \
		    -o boot.kernel="$G" -o "boot.cmdline=test=bench-net bench_s=$SECS" e2e
		# word splitting of $QEMU is intended
		[ $have_qemu = 1 ] && run qemu $f $QEMU \
		    -append "test=bench-net bench_s=$SECS" \
		    -netdev tap,id=n,ifname=tap0,script=no,downscript=no,vhost=off \
		    -device virtio-net-pci,netdev=n,disable-legacy=on,romfile=
	done
	r=$((r + 1))
done
exit 0
