# While a VM with three virtio devices runs, ps shows three backend
# processes, children of hyve; they go away with it.  The datapath keys of
# -s (poll_us, inline_io, tx_batch) reach the backends' command lines.
. "$(dirname "$0")/lib.sh"
need_kvm
need_netns
truncate -s 4M "$TMP/disk.img"
netns_script "$TMP/run.sh"
cat >>"$TMP/run.sh" <<SCRIPT
exec "$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 2,virtio-net,hyvetap1,tx_batch=8 \
    -s 3,virtio-blk,"$TMP/disk.img",poll_us=20,inline_io=off -s 4,virtio-rnd \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=idle' vmps \
    </dev/null >"$TMP/out" 2>"$TMP/err"
SCRIPT
# unshare execs sh, which execs hyve: one pid.
unshare -n sh "$TMP/run.sh" &
pid=$!
wait_for "idle: waiting" "$TMP/out" 30
ps --ppid $pid -o pid=,comm= >"$TMP/ps"
ps --ppid $pid -o args= >"$TMP/args"
kill -TERM $pid
wait $pid
echo $? >"$TMP/rc"
sleep 0.2
for p in $(awk '{print $1}' "$TMP/ps"); do
	kill -0 $p 2>/dev/null && echo "backend $p outlived hyve" >>"$TMP/left"
done
cat "$TMP/ps" "$TMP/err"
for b in hyve-blk hyve-net hyve-rnd; do
	grep -q " $b\$" "$TMP/ps" || fail "no $b process under hyve"
done
[ "$(grep -c ' hyve-\(blk\|net\|rnd\)$' "$TMP/ps")" -eq 3 ] ||
    fail "expected exactly three backends under hyve"
# Besides them, only the monitor that starts them for the confined core.
[ "$(grep -v ' hyve-\(blk\|net\|rnd\)$' "$TMP/ps" | grep -vc ' hyve-monitor$')" -eq 0 ] ||
    fail "unexpected children of hyve: $(cat "$TMP/ps")"
grep -q 'hyve-blk .*--poll-us 20 --inline-io off' "$TMP/args" ||
    fail "poll_us/inline_io did not reach hyve-blk: $(cat "$TMP/args")"
grep -q 'hyve-net .*--tx-batch 8' "$TMP/args" ||
    fail "tx_batch did not reach hyve-net: $(cat "$TMP/args")"
[ ! -e "$TMP/left" ] || fail "$(cat "$TMP/left")"
[ "$(cat "$TMP/rc")" -eq 1 ] || fail "hyve exited $(cat "$TMP/rc")"
echo ok
