#!/bin/sh
# Part 1 of `make bench`: launch time and memory, hyve against QEMU microvm.
# Run inside a private network namespace (unshare -n): it makes tap0 there.
# Prints sample lines "launch CONFIG time_ms|rss_kib|pss_kib VALUE".
# Usage: launch.sh ROOT RUNS TMPDIR
ROOT=$1 RUNS=$2 T=$3
L=$ROOT/build/bench/launch
G=$ROOT/build/testguest
IMG=$T/launch.img
QBOOT=/usr/share/qemu/qboot.rom

ip tuntap add tap0 mode tap || { echo "launch: cannot create tap0 in the namespace" >&2; exit 1; }
ip link set tap0 up
truncate -s 64M "$IMG"

HYVE="$ROOT/build/hyve -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit -o boot.kernel=$G"
HDEV="-s 2,virtio-net,tap0 -s 3,virtio-blk,$IMG -s 4,virtio-rnd"
QEMU="qemu-system-x86_64 -M microvm,isa-serial=on -bios $QBOOT -accel kvm -m 128M -kernel $G -nodefaults -no-user-config -nographic -serial stdio -monitor none -device isa-debug-exit,iobase=0x501,iosize=2 -no-reboot"
QDEV="-drive if=none,id=d0,file=$IMG,format=raw -device virtio-blk-device,drive=d0 -device virtio-rng-device -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-device,netdev=n0"

# sample CONFIG CMD...: one timed run (test=uart: exits at once) and one
# memory sample (test=halt: sampled once the guest has halted).
sample() {
	cfg=$1; shift
	out=$("$L" time 1 "$@" -o boot.cmdline=test=uart vm0 2>/dev/null)
	echo "$out" | awk -v c="$cfg" '{ print "launch", c, "time_ms", $3; print "launch", c, "status", $6 }'
	out=$("$L" mem "halt: cli" "$@" -o boot.cmdline=test=halt vm0 2>/dev/null)
	echo "$out" | awk -v c="$cfg" '{ print "launch", c, "rss_kib", $3; print "launch", c, "pss_kib", $4; print "launch", c, "nproc", $5 }'
}

qsample() {
	cfg=$1; shift
	out=$("$L" time 1 "$@" -append test=uart 2>/dev/null)
	echo "$out" | awk -v c="$cfg" '{ print "launch", c, "time_ms", $3; print "launch", c, "status", $6 }'
	out=$("$L" mem "halt: cli" "$@" -append test=halt 2>/dev/null)
	echo "$out" | awk -v c="$cfg" '{ print "launch", c, "rss_kib", $3; print "launch", c, "pss_kib", $4; print "launch", c, "nproc", $5 }'
}

have_qemu=1
[ -f "$QBOOT" ] && command -v qemu-system-x86_64 >/dev/null || have_qemu=0
[ $have_qemu = 1 ] || echo "launch: qemu-system-x86_64 or $QBOOT missing; QEMU rows skipped" >&2
i=0
while [ $i -lt "$RUNS" ]; do
	# word splitting of the command strings is intended
	sample hyve-nodev $HYVE
	[ $have_qemu = 1 ] && qsample qemu-nodev $QEMU
	sample hyve-dev $HYVE $HDEV
	[ $have_qemu = 1 ] && qsample qemu-dev $QEMU $QDEV
	i=$((i + 1))
done
exit 0
