#!/bin/sh
# make demo: boots the test guest on hyve with all three virtio devices, each
# served by its own backend process, and lets it show what it found.  The
# network device's tap lives in a private network namespace made for the
# demo, with a small peer on the host side that answers the guest.
cd "$(dirname "$0")/.." || exit 1
if [ ! -w /dev/kvm ]; then
	echo "demo: /dev/kvm is missing or not writable; hyve needs KVM." >&2
	echo "demo: (on a VM, enable nested virtualization; or run as a user in group kvm)" >&2
	exit 1
fi
TMP=$(mktemp -d /tmp/hyve-demo.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# Debian (make linux-guest) where it can boot; hyve's own test guest
# otherwise.
if [ -f build/linux/root.img ] && [ -c /dev/kvm ] && [ "$(id -u)" = 0 ] &&
    unshare -n true 2>/dev/null; then
	echo "demo: booting Debian (build/linux) from hyve-blk, with net and rnd"
	cp --sparse=always build/linux/root.img "$TMP/root.img"
	cat >"$TMP/linux.sh" <<SCRIPT
ip link set lo up
ip tuntap add dev demotap0 mode tap vnet_hdr
ip addr add 10.0.2.1/24 dev demotap0
ip link set demotap0 up
exec build/hyve -c 2 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 2,virtio-net,demotap0 -s 3,virtio-blk,$TMP/root.img -s 4,virtio-rnd \
    -o boot.kernel=build/linux/vmlinuz -o boot.initrd=build/linux/initrd.gz \
    -o "boot.cmdline=console=ttyS0 quiet net.ifnames=0 root=/dev/vda hyve.test=rng,smp hyve.cpus=2" demo
SCRIPT
	unshare -n sh "$TMP/linux.sh"
	rc=$?
	[ $rc -eq 1 ] && { echo "demo: Debian ran its checks and powered off"; exit 0; }
	echo "demo: hyve exited with status $rc"
	exit 1
else
	echo "demo: booting hyve's test guest ('make linux-guest' first to boot"
	echo "demo: Debian's Linux instead)"
fi
truncate -s 64M "$TMP/disk.img"
tests="tour,uart,pci,acpi,smp,timer,rtc,rng,blk"
net=""
if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && unshare -n true 2>/dev/null; then
	tests="$tests,net"
	net="-s 2,virtio-net,demotap0"
else
	echo "demo: no private network namespace here (needs root); leaving out virtio-net"
fi
cmd="build/hyve -c 2 -m 256M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit"
cmd="$cmd $net -s 3,virtio-blk,$TMP/disk.img -s 4,virtio-rnd -o control.path=$TMP/demo.sock"
cmd="$cmd -o boot.kernel=build/testguest -o boot.cmdline=test=$tests,idle demo"
echo "demo: $cmd"
echo "demo: the test guest prints what it finds on COM1 and runs its tests;"
echo "demo: then hyvectl shows the devices and what each process may do,"
echo "demo: and powers the VM off"
echo
# Runs the VM, waits for the guest to idle, shows status and audit, and
# presses the power button; exits with hyve's status.
cat >"$TMP/vm.sh" <<SCRIPT
$cmd &
vm=\$!
n=0
until grep -q "idle: waiting" "$TMP/console" 2>/dev/null; do
	n=\$((n + 1)); [ \$n -gt 600 ] && break
	kill -0 \$vm 2>/dev/null || break
	sleep 0.1
done
if kill -0 \$vm 2>/dev/null; then
	echo
	echo "demo: hyvectl status demo"
	build/hyvectl --socket $TMP/demo.sock status demo
	echo
	echo "demo: hyvectl audit demo (the verdicts; the whole audit lists namespaces,"
	echo "demo: capabilities, rlimits, descriptors and each seccomp allowlist)"
	build/hyvectl --socket $TMP/demo.sock audit demo | grep -E "^[a-z]+ [a-z0-9-]+ \\(pid|allowlist|denylist"
	echo
	echo "demo: hyvectl poweroff demo"
	build/hyvectl --socket $TMP/demo.sock poweroff demo
fi
wait \$vm
echo \$? >$TMP/rc
SCRIPT
if [ -n "$net" ]; then
	cat >"$TMP/run.sh" <<SCRIPT
ip link set lo up
ip tuntap add dev demotap0 mode tap vnet_hdr
ip link set demotap0 up
python3 tests/integration/netpeer.py demotap0 60 "$TMP/done" >/dev/null 2>&1 &
sh $TMP/vm.sh
touch "$TMP/done"
wait
SCRIPT
	unshare -n sh "$TMP/run.sh" | tee "$TMP/console"
else
	sh "$TMP/vm.sh" | tee "$TMP/console"
fi
rc=$(cat "$TMP/rc" 2>/dev/null || echo 4)
if grep -q "^FAIL" "$TMP/console"; then
	echo
	echo "demo: a guest test failed (above)"
	exit 1
fi
echo
case $rc in
1) echo "demo: the guest's tests passed and it powered off (exit status 1)" ;;
*) echo "demo: hyve exited with status $rc (see the README's exit codes)"; exit 1 ;;
esac
