#!/bin/sh
# Part 8 of `make bench`: hyve-net alone against the tap's own limit.
# bench/vunet drives hyve-net (standalone, sandboxed, on tap0) as a
# vhost-user-net frontend, and then, with --raw, moves the same frames
# through tap1 itself with one write() or read() per frame: what a tap
# passes to or from one process that does nothing else.  tx of 64- and
# 1500-byte frames and of 64 KiB TCP/IPv4 TSO frames (to a MAC nobody has:
# the host drops each frame as it leaves the tap), rx of a flood sent by a
# child of vunet through a packet socket on the tap.  The two sides
# alternate case by case; tx also runs on a second hyve-net (tap2) with
# --tx-batch 1, one writev per frame, to show what batching does.  Run inside a private network namespace
# (unshare -n): it makes tap0, tap1 and tap2 there.
# Prints sample lines "netalone tx|rx|tso SIZE hyve|hyve1|tap pps|mbps|cpu_us|fe_cpu_us V".
# Usage: netalone.sh ROOT RUNS SECS TMPDIR
ROOT=$1 RUNS=$2 SECS=$3 T=$4
B=$ROOT/build
SOCK=$T/hyve-net.$$.sock
SOCK1=$T/hyve-net1.$$.sock
NPID="" NPID1=""
trap 'for p in $NPID $NPID1; do kill $p 2>/dev/null; done' EXIT
trap 'exit 1' INT TERM

ip link set lo up
for t in tap0 tap1 tap2; do
	ip tuntap add $t mode tap vnet_hdr && ip link set $t up ||
		{ echo "netalone: cannot create $t in the namespace" >&2; exit 1; }
done
"$B/hyve-net" --socket "$SOCK" --tap tap0 2>"$T/hyve-net.$$.err" &
NPID=$!
"$B/hyve-net" --socket "$SOCK1" --tap tap2 --tx-batch 1 2>"$T/hyve-net1.$$.err" &
NPID1=$!

# vunet_run SIDE MODE SIZE ARGS...
vunet_run() {
	side=$1 mode=$2 size=$3; shift 3
	timeout -k 2 $((SECS + 20)) "$B/bench/vunet" --label "$side" \
	    --mode "$mode" --size "$size" --time "$SECS" "$@" |
	    awk -v n="netalone $mode $size $side" '{ for (i = 5; i <= NF; i++) {
		split($i, kv, "="); if (kv[2] >= 0) print n, kv[1], kv[2] } }'
}

r=0
while [ $r -lt "$RUNS" ]; do
	for c in tx:64 tx:1500 rx:64 rx:1500 tso:65536; do
		mode=${c%%:*} size=${c#*:}
		vunet_run hyve "$mode" "$size" --socket "$SOCK" --pid "$NPID" \
		    --flood-if tap0
		[ "$mode" != rx ] && vunet_run hyve1 "$mode" "$size" \
		    --socket "$SOCK1" --pid "$NPID1"
		vunet_run tap "$mode" "$size" --raw tap1
	done
	r=$((r + 1))
done
kill -0 "$NPID" 2>/dev/null ||
	echo "netalone: hyve-net died: $(tail -3 "$T/hyve-net.$$.err")" >&2
exit 0
