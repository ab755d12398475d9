# Debian (tools/linux-guest.sh: Debian's cloud kernel, systemd, root on
# hyve-blk) with its own drivers on every device: tests/linux/hyve-test
# checks rng, blk (ext4, fio --verify, discard, a read-only disk), net (ping,
# 64 MiB of TCP each way, the MTU) and SMP, then powers off (exit 1); a
# second boot with -c 1 checks nproc again and reboots (exit 0).  In a
# private network namespace.
# lab: 380 s
# timeout: 1200 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_netns
need_cmd python3
L=$ROOT/build/linux
if [ ! -f "$L/root.img" ] || [ ! -f "$L/vmlinuz" ] || [ ! -f "$L/initrd.gz" ]; then
	echo "t_linux: $L is incomplete; making it (sh tools/linux-guest.sh)"
	sh "$ROOT/tools/linux-guest.sh" || fail "cannot make the Debian guest in $L"
fi
IP=10.0.2.15/24
PEER=10.0.2.1
MTU=9000
MAC=52:54:00:12:34:56
# Every image is private to this run: the root one is a sparse copy.
cp --sparse=always "$L/root.img" "$TMP/root.img" || fail "cannot copy $L/root.img to $TMP"
truncate -s 256M "$TMP/data.img"
truncate -s 64M "$TMP/disc.img"
truncate -s 16M "$TMP/ro.img"

# boot NAME SECONDS HYVE-ARGS...: boots the guest in a network namespace
# with a tap (hyvetap0, 10.0.2.1/24) and tests/integration/tcppeer.py on
# it; the console goes to $TMP/NAME.out, hyve's log to $TMP/NAME.err, its
# exit status to $TMP/NAME.rc and the milliseconds it took to $TMP/NAME.ms.
boot() {
	n=$1 t=$2
	shift 2
	netns_script "$TMP/$n.sh" hyvetap0
	{
		echo "ip addr add $PEER/24 dev hyvetap0"
		echo "python3 '$ROOT/tests/integration/tcppeer.py' $PEER 64 $t >'$TMP/$n.peer' 2>&1 &"
		echo "peer=\$!"
		printf 'start=$(date +%%s%%N)\n'
		printf 'timeout -k 5 %s' "$t"
		for a in "$HYVE" "$@"; do printf " '%s'" "$a"; done
		echo " </dev/null >'$TMP/$n.out' 2>'$TMP/$n.err'"
		echo "echo \$? >'$TMP/$n.rc'"
		printf 'echo $(( ($(date +%%s%%N) - start) / 1000000 )) >%s\n' "'$TMP/$n.ms'"
		echo "kill \$peer 2>/dev/null; wait"
	} >>"$TMP/$n.sh"
	unshare -n sh "$TMP/$n.sh"
	echo "--- $n: hyve exited $(cat "$TMP/$n.rc") after $(cat "$TMP/$n.ms") ms;" \
	    "the console's last 80 of $(wc -l <"$TMP/$n.out") lines:"
	tail -n 80 "$TMP/$n.out"
	sed 's/^/hyve: /' "$TMP/$n.err"
	sed 's/^/host: /' "$TMP/$n.peer"
}
# Bad input: exit 4 and one line naming the file, before the guest runs
# (besides the note of the uid the backends would have run as).
bad() {
	want=$1
	shift
	"$HYVE" -m 256M -s 0,hostbridge -s 31,lpc -l com1,stdio "$@" \
	    -o "boot.cmdline=console=ttyS0" linux-bad </dev/null >"$TMP/bad.out" 2>"$TMP/bad.err"
	rc=$?
	sed -i '/: backends run as uid [0-9]* gid [0-9]*$/d' "$TMP/bad.err"
	echo "bad input: exit $rc: $(cat "$TMP/bad.err")"
	[ $rc -eq 4 ] || fail "$*: exit $rc, expected 4"
	[ "$(wc -l <"$TMP/bad.err")" -eq 1 ] || fail "$*: not one line on stderr"
	grep -q "$want" "$TMP/bad.err" || fail "$*: the message does not name $want"
	[ ! -s "$TMP/bad.out" ] || fail "$*: the guest ran: $(head -c 200 "$TMP/bad.out")"
}
truncate -s 300M "$TMP/big.initrd"
bad "$L/initrd.gz" -o boot.kernel="$L/initrd.gz"
bad "$TMP/big.initrd" -o boot.kernel="$L/vmlinuz" -o boot.initrd="$TMP/big.initrd"
bad "$TMP/nosuch.img" -s 3,virtio-blk,"$TMP/nosuch.img" \
    -o boot.kernel="$L/vmlinuz" -o boot.initrd="$L/initrd.gz"

# Not "quiet": when a boot stalls, the kernel's own words say where.
CMD="console=ttyS0 panic=-1 net.ifnames=0 root=/dev/vda systemd.show_status=0"

boot full 480 -c 2 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 2,virtio-net,hyvetap0,mac=$MAC,mtu=$MTU \
    -s 3,virtio-blk,"$TMP/root.img",ser=root -s 4,virtio-rnd \
    -s 5,virtio-blk,"$TMP/data.img",ser=data \
    -s 6,virtio-blk,"$TMP/disc.img",ser=disc \
    -s 7,virtio-blk,"$TMP/ro.img",ro,ser=ro \
    -o boot.kernel="$L/vmlinuz" -o boot.initrd="$L/initrd.gz" \
    -o "boot.cmdline=$CMD hyve.test=rng,blk,net,smp hyve.ip=$IP hyve.peer=$PEER hyve.mtu=$MTU hyve.cpus=2" \
    linux-full
grep -q "hyve-linux: init started" "$TMP/full.out" || fail "the kernel never ran the initramfs's init"
grep -q "hyve-linux: checks start" "$TMP/full.out" || fail "systemd never started hyve-test.service"
grep -q "^10 passed, 0 failed" "$TMP/full.out" || fail "the checks did not all pass: $(grep ^FAIL "$TMP/full.out" | head -n 3 | tr '\n' ' ')"
[ "$(cat "$TMP/full.rc")" -eq 1 ] || fail "poweroff: hyve exited $(cat "$TMP/full.rc"), expected 1"
# The guest discarded all of disc.img: its blocks must be gone on the host.
kb=$(du -k "$TMP/disc.img" | cut -f1)
echo "disc.img: ${kb} KiB allocated after the guest's blkdiscard"
[ "$kb" -lt 1024 ] || fail "discard: disc.img still has $kb KiB allocated"
grep -q "received 67108864 bytes" "$TMP/full.peer" || fail "the peer did not receive 64 MiB"

boot reboot 240 -c 1 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 3,virtio-blk,"$TMP/root.img",ser=root -s 4,virtio-rnd \
    -o boot.kernel="$L/vmlinuz" -o boot.initrd="$L/initrd.gz" \
    -o "boot.cmdline=$CMD hyve.test=smp hyve.end=reboot hyve.cpus=1" \
    linux-reboot
grep -q "^1 passed, 0 failed" "$TMP/reboot.out" || fail "-c 1: the smp check did not pass"
[ "$(cat "$TMP/reboot.rc")" -eq 0 ] || fail "reboot: hyve exited $(cat "$TMP/reboot.rc"), expected 0"
echo "ok: $(grep -h "passed, 0 failed" "$TMP/full.out" "$TMP/reboot.out" | tr '\n' ' ')"
