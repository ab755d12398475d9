#!/bin/sh
# Snapshots of Debian under load (tools/linux-guest.sh).  The guest runs
# fio --verify on a hyve-blk disk, then sends 64 MiB over TCP to a peer in
# a private network namespace and receives 64 MiB back.  It is snapshotted
# in the middle of its fio round (the VM stops) and restored in a new hyve,
# which finishes and verifies the round; then in the middle of the TCP
# transfer (the peer holds it to 256 KiB/s, so that it lasts) and restored
# again, the peer now at full speed.  The same disk image and tap serve
# each hyve in turn.  Both workloads must pass: fio's round verified, no
# I/O error in the guest's kernel log, the peer received and sent 64 MiB
# whose sha256 the guest checked.  Once the guest has reported, it is
# powered off (its boot report and shutdown take 2 minutes in the lab).
# lab: 620 s
# timeout: 1500 s
. "$(dirname "$0")/lib.sh"
need_kvm
VM=vmlinux-snap
. "$(dirname "$0")/linux_lib.sh"
touch "$TMP/ctl/hold"
: >"$TMP/out"
: >"$TMP/err"

# In the namespace: the peer, then hyve, then a restore of snap.N each
# time the test says go.N, until it says nothing more (60 s) or end.
netns_script "$TMP/run.sh" hyvetap0
cat >>"$TMP/run.sh" <<SCRIPT
ip addr add $PEER/24 dev hyvetap0
python3 '$ROOT/tests/integration/tcppeer.py' $PEER 64 1400 '$TMP/ctl' >'$TMP/peer' 2>&1 &
peer=\$!
i=1
set -- -c 2 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 2,virtio-net,hyvetap0 -s 3,virtio-blk,'$TMP/root.img',ser=root \
    -s 5,virtio-blk,'$TMP/data.img',ser=data -o control.path='$SOCK' \
    -o boot.kernel='$L/vmlinuz' -o boot.initrd='$L/initrd.gz' \
    -o 'boot.cmdline=console=ttyS0 quiet panic=-1 net.ifnames=0 root=/dev/vda systemd.show_status=0 hyve.test=fioloop,netloop hyve.ip=10.0.2.15/24 hyve.peer=$PEER' \
    $VM
while :; do
	timeout -k 5 1200 '$HYVE' "\$@" </dev/null >>'$TMP/out' 2>>'$TMP/err' &
	echo \$! >'$TMP/hyve.pid'
	wait \$!
	echo \$? >'$TMP/rc.'\$i
	i=\$((i + 1))
	n=0
	until [ -e '$TMP/go.'\$i ] || [ -e '$TMP/end' ] || [ \$n -gt 600 ]; do
		n=\$((n + 1))
		sleep 0.1
	done
	[ -e '$TMP/go.'\$i ] || break
	set -- -r '$TMP/snap.'\$i
done
kill \$peer 2>/dev/null
wait
SCRIPT
unshare -n sh "$TMP/run.sh" &
ns=$!

# give_up WHY: stop (linux_lib.sh), with no restore to come.
give_up() {
	touch "$TMP/end"
	stop "$@"
}
# snapshot N WHAT: stops the VM into snap.N, waits for that hyve to end
# (exit 1) and has the namespace restore it.
snapshot() {
	t0=$(date +%s)
	"$CTL" --socket "$SOCK" snapshot $VM "$TMP/snap.$1" >"$TMP/ctl.out" 2>&1 ||
	    give_up "snapshot $1 ($2) failed: $(cat "$TMP/ctl.out")"
	cat "$TMP/ctl.out"
	wait_n . "$TMP/rc.$(($1 - 1))" 1 120 || give_up "hyve did not end after snapshot $1"
	[ "$(cat "$TMP/rc.$(($1 - 1))")" = 1 ] || give_up "hyve exited $(cat "$TMP/rc.$(($1 - 1))") after snapshot $1, expected 1"
	touch "$TMP/go.$1"
	wait_n "restored from $TMP/snap.$1" "$TMP/err" 1 120 || give_up "snapshot $1 was not restored"
	echo "snapshot $1 ($2) taken and restored in $(($(date +%s) - t0)) s"
}

start=$(date +%s)
wait_n "hyve-linux: fio round 1" "$TMP/out" 1 400 || give_up "the guest never began fio"
echo "fio began after $(($(date +%s) - start)) s"
snapshot 2 "in fio's round"
# The restored guest finishes and verifies that round, and then stops.
touch "$TMP/ctl/open-5003"
wait_n "tcppeer: receiving" "$TMP/peer" 1 400 || give_up "the guest never began its TCP transfer"
grep -q "^PASS fioloop" "$TMP/out" && grep -q "hyve-linux: fio: 1 rounds verified" "$TMP/out" ||
    give_up "fio's round did not pass after the restore"
snapshot 3 "in the middle of the 64 MiB transfer to the peer"
rm -f "$TMP/ctl/hold"
wait_n "^[0-9]* passed, [0-9]* failed" "$TMP/out" 1 600 || give_up "the guest did not finish after the second restore"
"$CTL" --socket "$SOCK" poweroff $VM --force >/dev/null 2>&1
wait_n . "$TMP/rc.3" 1 120 || give_up "hyve did not end at a forced poweroff"
touch "$TMP/end"
wait $ns
show
echo "done after $(($(date +%s) - start)) s"
grep -q "^3 passed, 0 failed" "$TMP/out" ||
    fail "the guest's workloads did not all pass: $(grep ^FAIL "$TMP/out" | head -n 3 | tr '\n' ' ')"
[ "$(cat "$TMP/rc.3")" = 1 ] || fail "the last hyve exited $(cat "$TMP/rc.3"), expected 1 (powered off)"
grep -q "received 67108864 bytes" "$TMP/peer" || fail "the peer did not receive 64 MiB"
grep -q "sent 67108864 bytes" "$TMP/peer" || fail "the peer did not send 64 MiB"
grep -q "tcppeer: received .* sha256" "$TMP/peer" && grep -q "^PASS netloop-out" "$TMP/out" ||
    fail "the guest did not check the sha256 of what it sent"
echo "ok: fio --verify and 2 x 64 MiB over TCP across 2 snapshots and restores"
