#!/bin/sh
# make demo: boots the test guest on hyve with all three virtio devices, each
# served by its own backend process, and lets it show what it found.  The
# network device's tap lives in a private network namespace made for the
# demo, with a small peer on the host side that answers the guest.
cd "$(dirname "$0")/.." || exit 1
# Debian's python3 (tools/deps.sh), not a slower one found earlier in PATH.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	if [ -n "${HYVE_LAB:-}" ]; then
		echo "demo: /dev/kvm is not usable even in the lab VM" >&2
		exit 1
	fi
	echo "demo: no usable /dev/kvm here: the demo runs in the lab VM (tools/labvm, docs/LAB.md), a QEMU machine with KVM inside, under emulation"
	exec tools/labvm sh tools/demo.sh
fi
TMP=$(mktemp -d /tmp/hyve-demo.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# The test guest shows every device and the audit in a minute; Debian's
# own drivers on hyve are t_linux's and docs/LINUX.md's.
echo "demo: booting hyve's test guest (docs/LINUX.md boots Debian)"
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
python3 tests/integration/netpeer.py demotap0 60 "$TMP/done" "$TMP/ready" >/dev/null 2>&1 &
peer=\$!
while [ ! -e "$TMP/ready" ] && kill -0 \$peer 2>/dev/null; do sleep 0.05; done
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
