#!/bin/sh
# The test guest's benchmark mode, short (bench_s=1): bench-blk on a scratch
# disk and bench-net on a tap whose peer (netecho.py --flood 64) floods the
# guest once it asks.  Asserts: both pass; every case printed its BENCH
# line in the fixed form, with a non-zero rate: blk randread qd=1 and 32,
# randwrite qd=32, read 128 KiB, randread-irq qd=1; net tx at 64 and 1500
# bytes; net tx-tso (65536-byte TCP/IPv4 frames that hyve-net offers to
# take whole) with no frame dropped by hyve-net and, where the kernel counts
# them, each one reaching the host's IPv4 stack as a frame for another
# host; net rx at 64 bytes; and the peer sent flood frames.
# lab: 30 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_netns
need_cmd python3
IMG=$TMP/disk.img
truncate -s 64M "$IMG"
netns_script "$TMP/run.sh" hyvetap0
cat >>"$TMP/run.sh" <<SCRIPT
python3 "$ROOT/tests/integration/netecho.py" hyvetap0 600 "$TMP/done" --ready "$TMP/ready" --flood 64 >"$TMP/peer" 2>&1 &
peer=\$!
while [ ! -e "$TMP/ready" ] && kill -0 \$peer 2>/dev/null; do sleep 0.05; done
"$HYVE" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 2,virtio-net,hyvetap0 -s 3,virtio-blk,"$IMG" \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=bench-blk,bench-net bench_s=1' \
    vmbg </dev/null >"$TMP/out" 2>"$TMP/err"
echo \$? >"$TMP/rc"
ip -s -s link show hyvetap0 >"$TMP/tap"
touch "$TMP/done"
wait \$peer
SCRIPT
unshare -n sh "$TMP/run.sh"
cat "$TMP/out" "$TMP/err" "$TMP/peer"
grep -qx "2 passed, 0 failed" "$TMP/out" || fail "expected '2 passed, 0 failed'"
[ "$(cat "$TMP/rc")" -eq 1 ] || fail "hyve exited $(cat "$TMP/rc"), expected 1"
N='[1-9][0-9]*'
F='[0-9][0-9]*\.[0-9]'
for c in "randread qd=1 bs=4096" "randread qd=32 bs=4096" \
    "randwrite qd=32 bs=4096" "read qd=16 bs=131072" "randread-irq qd=1 bs=4096"; do
	grep -q "^BENCH blk $c iops=$N mbps=$F p50_us=$F p99_us=$F\$" "$TMP/out" ||
	    fail "no well-formed 'BENCH blk $c' line"
done
for s in 64 1500; do
	grep -q "^BENCH net tx size=$s pps=$N mbps=$F\$" "$TMP/out" ||
	    fail "no well-formed 'BENCH net tx size=$s' line"
done
grep -q "^BENCH net tx-tso size=65536 pps=$N mbps=$F\$" "$TMP/out" ||
    fail "no well-formed 'BENCH net tx-tso size=65536' line"
grep -q "tx [0-9]* frames (0 dropped)" "$TMP/err" ||
    fail "hyve-net dropped tx frames (see its reset line above)"
# The TSO frames go to a MAC nobody has: the kernel counts them as
# "otherhost" (Linux 5.19 on); about pps of them in the 1 s case.
tso=$(sed -n 's/^BENCH net tx-tso .*pps=\([0-9]*\) .*/\1/p' "$TMP/out")
other=$(awk '/RX errors:/ { if ($NF == "otherhost") { getline; print $NF } }' "$TMP/tap")
cat "$TMP/tap"
if [ -n "$other" ]; then
	[ "$other" -ge $((tso / 2)) ] ||
	    fail "the tap passed $other TSO frames to the IPv4 stack, expected about $tso"
else
	echo "bench mode: this kernel does not count otherhost frames, not checked"
fi
grep -q "^BENCH net rx size=64 pps=$N mbps=$F\$" "$TMP/out" ||
    fail "no well-formed 'BENCH net rx size=64' line"
grep -q "^netecho: .*, [1-9][0-9]* flood frames of 64 bytes sent" "$TMP/peer" ||
    fail "the peer sent no flood frames"
echo "bench mode: ok"
