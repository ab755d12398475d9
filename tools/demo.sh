#!/bin/sh
# make demo: boots the test guest on hyve and lets it show what it found.
cd "$(dirname "$0")/.." || exit 1
if [ ! -w /dev/kvm ]; then
	echo "demo: /dev/kvm is missing or not writable; hyve needs KVM." >&2
	echo "demo: (on a VM, enable nested virtualization; or run as a user in group kvm)" >&2
	exit 1
fi
cmd="build/hyve -c 2 -m 256M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit
 -o boot.kernel=build/testguest -o boot.cmdline=test=tour,uart,pci,acpi,smp,timer,rtc demo"
echo "demo: $cmd"
echo "demo: the test guest prints what it finds on COM1, runs its tests and exits"
echo
# shellcheck disable=SC2086
$cmd
rc=$?
echo
case $rc in
1) echo "demo: the guest powered off after its tests passed (exit status 1)" ;;
*) echo "demo: hyve exited with status $rc (see the README's exit codes)"; exit 1 ;;
esac
