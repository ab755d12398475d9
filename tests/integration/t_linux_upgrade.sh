# hyvectl upgrade under Debian's own drivers (tools/linux-guest.sh): while
# the guest runs fio --verify on a hyve-blk disk the core is replaced 5
# times in a row, then 5 times more during a 64 MiB TCP transfer each way
# through hyve-net.  Nothing may fail in the guest (fio verifies every
# block, the peer checks the sha256 of what it got), the backends keep
# their processes (no restart is counted) and the hyve that was started
# exits as the guest powers off.
# lab: 480 s
# timeout: 1800 s
. "$(dirname "$0")/lib.sh"
need_kvm
. "$(dirname "$0")/linux_lib.sh"
touch "$TMP/ctl/hold"

netns_script "$TMP/run.sh" hyvetap0
cat >>"$TMP/run.sh" <<SCRIPT
ip addr add $PEER/24 dev hyvetap0
python3 '$ROOT/tests/integration/tcppeer.py' $PEER 64 1500 '$TMP/ctl' >'$TMP/peer' 2>&1 &
peer=\$!
timeout -k 5 1500 '$HYVE' -c 2 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 2,virtio-net,hyvetap0 -s 3,virtio-blk,'$TMP/root.img',ser=root \
    -s 5,virtio-blk,'$TMP/data.img',ser=data \
    -o control.path='$SOCK' \
    -o boot.kernel='$L/vmlinuz' -o boot.initrd='$L/initrd.gz' \
    -o 'boot.cmdline=console=ttyS0 quiet panic=-1 net.ifnames=0 root=/dev/vda systemd.show_status=0 hyve.test=fioloop,netloop hyve.ip=10.0.2.15/24 hyve.peer=$PEER' \
    vmlinux-upgrade </dev/null >'$TMP/out' 2>'$TMP/err' &
echo \$! >'$TMP/hyve.pid'
wait \$!
echo \$? >'$TMP/rc'
kill \$peer 2>/dev/null
wait
SCRIPT
unshare -n sh "$TMP/run.sh" &
ns=$!

ctl() { "$CTL" --socket "$SOCK" "$@"; }
# backends: "name pid restarts" of every device with a backend.
backends() {
	ctl status vmlinux-upgrade | awk '$4 ~ /^[0-9]+$/ { print $1, $4, $6 }'
}
core_pid() {
	ctl status vmlinux-upgrade | sed -n 's/^vmlinux-upgrade: [a-z]*, pid \([0-9]*\),.*/\1/p'
}
# upgrades N WHAT: N upgrades in a row, each to a new core.
upgrades() {
	_k=0
	while [ $_k -lt "$1" ]; do
		_old=$(core_pid)
		ctl upgrade vmlinux-upgrade >"$TMP/ctl.out" 2>&1 ||
		    stop "upgrade $((_k + 1)) $2 failed: $(cat "$TMP/ctl.out")"
		_new=$(core_pid)
		[ -n "$_new" ] && [ "$_new" != "$_old" ] || stop "upgrade $((_k + 1)) $2: the core is still $_old"
		_k=$((_k + 1))
		echo "upgrade $_k $2: $(cat "$TMP/ctl.out")"
	done
}

start=$(date +%s)
wait_n "hyve-linux: fio round 1" "$TMP/out" 1 300 || stop "the guest never started fio"
echo "fio started after $(($(date +%s) - start)) s"
before=$(backends)
# Each upgrade while fio runs: a new round after each.
for k in 1 2 3 4 5; do
	n=$(grep -c "fio round" "$TMP/out")
	upgrades 1 "during fio"
	round "fio round" $((n + 1))
done
touch "$TMP/ctl/open-5003"
# The guest first makes and hashes 64 MiB: minutes under the lab's
# emulation on a loaded machine (a fresh-clone run once took over 120 s).
wait_n "tcppeer: receiving" "$TMP/peer" 1 400 || stop "the guest never began its TCP transfer"
upgrades 5 "during the TCP transfer"
grep -q "received 67108864 bytes" "$TMP/peer" &&
    echo "(the transfer out had ended by the last upgrade)"
after=$(backends)
[ "$before" = "$after" ] || stop "the backends changed: before: $before; after: $after"
echo "backends (name pid restarts): $after"
ctl audit vmlinux-upgrade >"$TMP/audit" 2>&1 || { cat "$TMP/audit"; stop "the audit fails after the upgrades"; }
rm -f "$TMP/ctl/hold"

wait $ns
show
rc=$(cat "$TMP/rc")
echo "hyve exited $rc after $(($(date +%s) - start)) s"
grep -q "^3 passed, 0 failed" "$TMP/out" ||
    fail "the guest's workloads did not all pass: $(grep ^FAIL "$TMP/out" | head -n 3 | tr '\n' ' ')"
[ "$rc" -eq 1 ] || fail "hyve exited $rc, expected 1 (poweroff)"
grep -q "received 67108864 bytes" "$TMP/peer" || fail "the peer did not receive 64 MiB"
[ "$(grep -c 'upgraded: this core' "$TMP/err")" -eq 10 ] || fail "not 10 cores took over"
grep -q "backend restarted" "$TMP/err" && fail "a backend was restarted"
echo "ok: 5 upgrades during fio --verify, 5 during the TCP transfer; $(grep "rounds" "$TMP/out" | tr '\n' ' ')"
