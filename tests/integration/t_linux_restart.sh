# Restarts and swaps under Debian's own drivers (tools/linux-guest.sh): while
# the guest runs fio --verify on a hyve-blk disk, hyve-blk is SIGKILLed 10
# times, then swapped for a copy of its binary and for another path to the
# same image, then killed with its binary gone (the device fails, is tried
# every 5 s and revives once the binary is back); hyve-rnd is killed 5
# times during reads from /dev/hwrng and hyve-net 5 times during a 64 MiB
# TCP transfer.  Nothing may fail in the guest, and hyvectl status must
# count every restart.  Each kill waits for the previous restart to be done
# and for the guest's workload to be running (its "round" lines, the
# peer's "receiving").  The blk kills come fast enough that the device may
# fail on the way (restart.max deaths in restart.window) and be revived by
# the next try; the guest must not notice either way.
# lab: 540 s
# timeout: 1800 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd shuf
. "$(dirname "$0")/linux_lib.sh"
ln "$TMP/data.img" "$TMP/data2.img"
cp "$ROOT/build/hyve-blk" "$TMP/hyve-blk-copy"
touch "$TMP/ctl/hold"

netns_script "$TMP/run.sh" hyvetap0
cat >>"$TMP/run.sh" <<SCRIPT
ip addr add $PEER/24 dev hyvetap0
python3 '$ROOT/tests/integration/tcppeer.py' $PEER 64 1500 '$TMP/ctl' >'$TMP/peer' 2>&1 &
peer=\$!
timeout -k 5 1500 '$HYVE' -c 2 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 2,virtio-net,hyvetap0 -s 3,virtio-blk,'$TMP/root.img',ser=root \
    -s 4,virtio-rnd -s 5,virtio-blk,'$TMP/data.img',ser=data \
    -o control.path='$SOCK' -o restart.retry=5 \
    -o boot.kernel='$L/vmlinuz' -o boot.initrd='$L/initrd.gz' \
    -o 'boot.cmdline=console=ttyS0 quiet panic=-1 net.ifnames=0 root=/dev/vda systemd.show_status=0 hyve.test=fioloop,rngloop,netloop hyve.ip=10.0.2.15/24 hyve.peer=$PEER' \
    vmlinux-restart </dev/null >'$TMP/out' 2>'$TMP/err' &
echo \$! >'$TMP/hyve.pid'
wait \$!
echo \$? >'$TMP/rc'
kill \$peer 2>/dev/null
wait
SCRIPT
unshare -n sh "$TMP/run.sh" &
ns=$!

# dev SLOT: "name pid state restarts" of the device in SLOT, from hyvectl
# (awk, not python: python starts slowly in the lab VM).
dev() {
	"$CTL" --socket "$SOCK" status vmlinux-restart 2>"$TMP/ctl.err" |
	    awk -v s="0:$1:0" '$3 == s { print $1, $4, $5, $6 }'
}
# restarted SLOT N: waits up to 60 s until the device has restarted N
# times and runs again.
restarted() {
	_end=$(($(date +%s) + 60))
	while :; do
		set -- "$1" "$2" $(dev "$1")
		[ "$5" = running ] && [ "$6" -ge "$2" ] && return 0
		[ "$(date +%s)" -le $_end ] || return 1
		sleep 0.1
	done
}
# kill_slot SLOT: SIGKILLs the backend in SLOT, found as this namespace
# sees it: by its --name; _pid is its pid.
kill_slot() {
	_name=$(dev "$1" | cut -d' ' -f1)
	[ -n "$_name" ] || stop "slot $1: hyvectl status printed no device: $(cat "$TMP/ctl.err")"
	_pid=$(ps -eo pid=,args= | awk -v n="$_name" '$0 ~ "--name " n "( |$)" && $2 !~ /^(awk|ps)$/ { print $1; exit }')
	kill -KILL "$_pid" || stop "slot $1: no backend $_name (pid '$_pid') to kill"
}
# kills SLOT COUNT: SIGKILLs the backend in SLOT COUNT times, each a random
# 0.2-0.6 s after the previous restart was done.
kills() {
	_base=$(dev "$1" | cut -d' ' -f4)
	_k=0
	while [ $_k -lt "$2" ]; do
		restarted "$1" $((_base + _k)) || stop "slot $1: restart $_k never finished: $(dev "$1") $(cat "$TMP/ctl.err")"
		ms=$(shuf -i 200-600 -n 1)
		sleep "0.$(printf %03d "$ms")"
		kill_slot "$1"
		_k=$((_k + 1))
		echo "kill $_k of $2: slot $1, pid $_pid"
	done
	restarted "$1" $((_base + $2)) || stop "slot $1: the last restart never finished: $(dev "$1")"
}

start=$(date +%s)
wait_n "hyve-linux: fio round 1" "$TMP/out" 1 300 || stop "the guest never started fio"
echo "fio started after $(($(date +%s) - start)) s"
kills 5 10
n=$(grep -c "fio round" "$TMP/out")
round "fio round" $((n + 1))
"$CTL" --socket "$SOCK" swap vmlinux-restart "$(dev 5 | cut -d' ' -f1)" \
    --backend "$TMP/hyve-blk-copy" || stop "swap of the blk backend binary failed"
restarted 5 11 || stop "the swapped binary is not running: $(dev 5)"
ps -eo args= | grep -q "^$TMP/hyve-blk-copy .*--name $(dev 5 | cut -d' ' -f1)" ||
    stop "the swapped binary is not running"
n=$(grep -c "fio round" "$TMP/out")
round "fio round" $((n + 1))
"$CTL" --socket "$SOCK" swap vmlinux-restart "$(dev 5 | cut -d' ' -f1)" \
    --path "$TMP/data2.img" || stop "swap of the disk path failed"
restarted 5 12 || stop "the disk path swap did not finish: $(dev 5)"
n=$(grep -c "fio round" "$TMP/out")
round "fio round" $((n + 1))
# Revival: with its binary gone the backend cannot start, the device fails
# and is tried every 5 s (restart.retry); once the binary is back a try
# revives it, and fio's requests that waited complete without an error.
mv "$TMP/hyve-blk-copy" "$TMP/hyve-blk-away"
kill_slot 5
_end=$(($(date +%s) + 60))
until [ "$(dev 5 | cut -d' ' -f3)" = failed ]; do
	[ "$(date +%s)" -le $_end ] || stop "slot 5 did not fail with its binary gone: $(dev 5)"
	sleep 0.1
done
n=$(grep -c "blk1: next try in 5 s" "$TMP/err")
wait_n "blk1: next try in 5 s" "$TMP/err" $((n + 1)) 60 || stop "slot 5 was not tried again"
echo "slot 5 failed, tried again; putting its binary back"
mv "$TMP/hyve-blk-away" "$TMP/hyve-blk-copy"
restarted 5 13 || stop "slot 5 did not come back with its binary: $(dev 5)"
grep -q "blk1: the device works again" "$TMP/err" || stop "no 'works again' for slot 5"
n=$(grep -c "fio round" "$TMP/out")
round "fio round" $((n + 1))
touch "$TMP/ctl/open-5003"

round "rng round 1" 1
kills 4 5
touch "$TMP/ctl/open-5004"

# The guest first makes and hashes 64 MiB: minutes under the lab's
# emulation on a loaded machine (a fresh-clone run once took over 120 s).
wait_n "tcppeer: receiving" "$TMP/peer" 1 400 || stop "the guest never began its TCP transfer"
kills 2 5
# hyvectl status counts each kill and each swap once.
"$CTL" --socket "$SOCK" status vmlinux-restart
for want in 5:13 4:5 2:5; do
	got=$(dev ${want%:*} | cut -d' ' -f4)
	[ "$got" = "${want#*:}" ] ||
	    stop "hyvectl status: slot ${want%:*} has $got restarts, expected ${want#*:}"
done
rm -f "$TMP/ctl/hold"

wait $ns
show
rc=$(cat "$TMP/rc")
echo "hyve exited $rc after $(($(date +%s) - start)) s"
grep -q "^4 passed, 0 failed" "$TMP/out" ||
    fail "the guest's workloads did not all pass: $(grep ^FAIL "$TMP/out" | head -n 3 | tr '\n' ' ')"
[ "$rc" -eq 1 ] || fail "hyve exited $rc, expected 1 (poweroff)"
grep -q "received 67108864 bytes" "$TMP/peer" || fail "the peer did not receive 64 MiB"
got=$(grep -c "backend restarted" "$TMP/err")
[ "$got" -ge 20 ] || fail "hyve logged $got 'backend restarted' lines, expected 20 kills"
echo "ok: blk 10 kills + 2 swaps, rnd 5 kills, net 5 kills; $(grep "rounds" "$TMP/out" | tr '\n' ' ')"
