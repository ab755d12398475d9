#!/bin/sh
# Part 6 of `make bench`: the time from SIGKILL of the block backend to the
# first request completed by its replacement, while the guest runs
# blk-stress (continuous checksummed I/O, interrupt driven).
# hyve: the core restarts hyve-blk and replays the vhost-user setup and the
# inflight region; bench/restart kills the backend and polls the device's
# request count over the control socket.  restart.window=1 and kills 1.05 s
# or more apart make every kill the first death of its window, so the
# restart back-off (10 ms doubling, for crash loops) never applies.
# QEMU: vhost-user-blk with reconnect=1 (7.2 counts it in whole seconds)
# against a standalone hyve-blk that bench/restart kills and starts again
# at once, watching the new backend's own counters page.
# Prints "restart hyve|qemu ms V" per kill and "restart hyve|qemu pass 1|0"
# (the guest saw no I/O error and verified every block).
# Usage: restart.sh ROOT HYVE_KILLS QEMU_KILLS TMPDIR
ROOT=$1 HK=$2 QK=$3 T=$4
B=$ROOT/build
G=$B/testguest
R=$B/bench/restart
IMG=$T/restart.img
CTL=$T/restart.ctl
SOCK=$T/restart-blk.sock
VPID=""
trap 'for p in $VPID; do kill $p 2>/dev/null; done' EXIT
trap 'exit 1' INT TERM
truncate -s 16M "$IMG"

# wait_started FILE: the guest's blk-stress has begun (up to 30 s).
wait_started() {
	n=0
	until grep -q "^blk-stress: " "$1" 2>/dev/null; do
		n=$((n + 1)); [ $n -gt 300 ] && return 1
		sleep 0.1
	done
}

# verdict SIDE FILE
verdict() {
	if grep -qx "1 passed, 0 failed" "$2"; then
		echo "restart $1 pass 1"
	else
		echo "restart $1 pass 0"
		echo "restart: the $1 guest did not pass: $(tail -3 "$2" | tr '\n' ' ')" >&2
	fi
}

# Long enough for HK kills 1.05-1.6 s apart.
S=$((HK * 3 / 2 + 5))
"$B/hyve" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 3,virtio-blk,"$IMG" -o restart.max=1000 -o restart.window=1 \
    -o control.path="$CTL" -o boot.kernel="$G" \
    -o "boot.cmdline=test=blk-stress stress_s=$S" rs </dev/null \
    >"$T/restart.out" 2>"$T/restart-vm.err" &
VPID=$!
if wait_started "$T/restart.out"; then
	"$R" hyve "$CTL" blk0 "$HK" 1050 | sed 's/^restart /restart hyve /'
	wait $VPID
	verdict hyve "$T/restart.out"
	echo "restart hyve restarts $(grep -c 'backend restarted' "$T/restart-vm.err")"
else
	echo "restart: hyve did not start blk-stress: $(tail -3 "$T/restart-vm.err")" >&2
	kill $VPID
fi
VPID=""

command -v qemu-system-x86_64 >/dev/null ||
	{ echo "restart: qemu-system-x86_64 is missing: its row is skipped" >&2; exit 0; }
S=$((QK * 2 + 5))
rm -f "$SOCK"
timeout -k 2 $((S + 60)) qemu-system-x86_64 -M q35 -accel kvm -m 128M -nodefaults \
    -no-user-config -nographic -serial stdio -monitor none -no-reboot \
    -kernel "$G" -append "test=blk-stress stress_s=$S" \
    -device isa-debug-exit,iobase=0x501,iosize=2 \
    -object memory-backend-memfd,id=mem,size=128M,share=on \
    -numa node,memdev=mem -chardev socket,id=c,path="$SOCK",reconnect=1 \
    -device vhost-user-blk-pci,chardev=c </dev/null \
    >"$T/restart-q.out" 2>"$T/restart-q.err" &
VPID=$!
"$R" spawn "$QK" 300 $VPID "$B/hyve-blk" --socket "$SOCK" --file "$IMG" \
    2>"$T/restart-blk.err" | sed 's/^restart /restart qemu /'
wait $VPID
VPID=""
verdict qemu "$T/restart-q.out"
exit 0
