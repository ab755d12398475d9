#!/bin/sh
# The Debian guest (make linux-guest) booted three ways, same kernel, initrd,
# root image and command line (hyve.test=smp: up, one check, power off):
# hyve; QEMU q35 (-accel kvm) with its built-in virtio-blk and virtio-rng;
# QEMU with hyve-blk and hyve-rnd over vhost-user; hyve and QEMU q35 again
# with a virtio-balloon that reports free pages (hyve-balloon,
# qemu-balloon); and hyve with guest RAM in 4 KiB pages, a memfd
# (hyve-4k, -o memory.huge_pages=false).  Prints sample lines
# "linux CONFIG init_ms|off_ms|pss_kib VALUE": from exec to the initramfs
# init's first line, from exec to the VMM's exit after power off, and the
# PSS of all the VM's processes once the guest runs its checks.
# Usage: bench/linux.sh ROOT RUNS TMPDIR.  Needs /dev/kvm (the lab VM).
ROOT=$1
RUNS=$2
T=$3
B=$ROOT/build
L=$B/linux
MEM=512M
CMD="console=ttyS0 quiet panic=-1 root=/dev/vda systemd.show_status=0 hyve.test=smp hyve.cpus=2"
LIMIT=600
for f in vmlinuz initrd.gz root.img; do
	[ -f "$L/$f" ] || { echo "linux: $L/$f is missing; run make linux-guest" >&2; exit 1; }
done
[ -c /dev/kvm ] || { echo "linux: no /dev/kvm (run it in tools/labvm)" >&2; exit 1; }
QEMU="qemu-system-x86_64 -M q35 -accel kvm -cpu host -smp 2 -m $MEM -nodefaults
    -no-user-config -nographic -serial stdio -monitor none -no-reboot
    -kernel $L/vmlinuz -initrd $L/initrd.gz"

# Console lines with the milliseconds (CLOCK_REALTIME) they arrived at.
cat >"$T/ts.py" <<'EOF'
import sys, time
for l in sys.stdin:
    print("%d %s" % (time.time_ns() // 1000000, l), end="", flush=True)
EOF

. "$ROOT/bench/lib.sh"

# run CONFIG EXTRA_PIDS CMD...: one boot; EXTRA_PIDS (comma-separated or
# "-") are processes outside CMD's tree that serve the VM.
run() {
	cfg=$1 extra=$2
	shift 2
	rm -f "$T/fifo" "$T/lin.out"
	mkfifo "$T/fifo"
	python3 -u "$T/ts.py" <"$T/fifo" >"$T/lin.out" &
	tp=$!
	start=$(date +%s%3N)
	timeout -k 2 $LIMIT "$@" </dev/null >"$T/fifo" 2>"$T/lin.err" &
	vp=$!
	n=0
	until grep -q "hyve-linux: checks start" "$T/lin.out" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt $((LIMIT * 20)) ] && kill -0 $vp 2>/dev/null || break
		sleep 0.05
	done
	procs="$(tree $vp) $(echo "$extra" | tr ',-' '  ')"
	p=$(pss $procs)
	# The guest powers off soon after: a process that ended while its
	# memory was read makes the sum short (a 6 MiB "VM" was seen).
	for q in $procs; do
		kill -0 "$q" 2>/dev/null && continue
		echo "linux: $cfg: the VM ended while its PSS was read; no PSS sample" >&2
		p=-
		break
	done
	wait $vp
	end=$(date +%s%3N)
	wait $tp
	if ! grep -q "1 passed, 0 failed" "$T/lin.out"; then
		echo "linux: $cfg did not pass: $(tail -n 3 "$T/lin.out" "$T/lin.err" | tr '\n' ' ')" >&2
		return
	fi
	i=$(awk '/hyve-linux: init started/ { print $1; exit }' "$T/lin.out")
	echo "linux $cfg init_ms $((i - start))"
	echo "linux $cfg off_ms $((end - start))"
	[ "$p" = - ] || echo "linux $cfg pss_kib $p"
}

# hyve_boot CONFIG [ARG...]: one boot of hyve on a fresh copy of the root
# image, with ARGs (more devices) added.
hyve_boot() {
	cfg=$1
	shift
	cp --sparse=always "$L/root.img" "$T/root.img"
	run "$cfg" - "$B/hyve" -c 2 -m $MEM -s 0,hostbridge -s 31,lpc -l com1,stdio \
	    -s 3,virtio-blk,"$T/root.img" -s 4,virtio-rnd "$@" \
	    -o boot.kernel="$L/vmlinuz" -o boot.initrd="$L/initrd.gz" \
	    -o "boot.cmdline=$CMD" linux-bench
}
# qemu_boot CONFIG [ARG...]: the same for QEMU q35 with its own devices.
qemu_boot() {
	cfg=$1
	shift
	cp --sparse=always "$L/root.img" "$T/root.img"
	# word splitting of $QEMU is intended
	run "$cfg" - $QEMU -append "$CMD" \
	    -drive file="$T/root.img",if=none,id=d,format=raw \
	    -device virtio-blk-pci,drive=d,disable-legacy=on \
	    -device virtio-rng-pci,disable-legacy=on "$@"
}

r=0
while [ $r -lt "$RUNS" ]; do
	# In the lab a boot pays for the memory the one before used (docs/
	# PERFORMANCE.md, part 7): every other round QEMU q35 boots first.
	[ $((r % 2)) = 1 ] && qemu_boot qemu
	hyve_boot hyve

	# hyve-4k: guest RAM in a memfd of 4 KiB pages, as before hyve had
	# a tmpfs of its own for it (shmem_enabled is Debian's never).
	hyve_boot hyve-4k -o memory.huge_pages=false

	[ $((r % 2)) = 0 ] && qemu_boot qemu

	# Both with a balloon that reports the guest's free pages.
	hyve_boot hyve-balloon -s 5,virtio-balloon
	qemu_boot qemu-balloon \
	    -device virtio-balloon-pci,free-page-reporting=on,disable-legacy=on

	cp --sparse=always "$L/root.img" "$T/root.img"
	rm -f "$T/blk.sock" "$T/rnd.sock"
	"$B/hyve-blk" --socket "$T/blk.sock" --file "$T/root.img" 2>"$T/lin-blk.err" &
	bp=$!
	"$B/hyve-rnd" --socket "$T/rnd.sock" 2>"$T/lin-rnd.err" &
	rp=$!
	n=0
	while { [ ! -S "$T/blk.sock" ] || [ ! -S "$T/rnd.sock" ]; } && [ $n -lt 100 ]; do
		sleep 0.1; n=$((n + 1))
	done
	run qemu-vu "$bp,$rp" $QEMU -append "$CMD" \
	    -object memory-backend-memfd,id=mem,size=$MEM,share=on \
	    -numa node,memdev=mem \
	    -chardev socket,id=c0,path="$T/blk.sock" -device vhost-user-blk-pci,chardev=c0,num-queues=1 \
	    -chardev socket,id=c1,path="$T/rnd.sock" -device vhost-user-rng-pci,chardev=c1
	kill $bp $rp 2>/dev/null
	wait $bp $rp 2>/dev/null
	r=$((r + 1))
done
exit 0
