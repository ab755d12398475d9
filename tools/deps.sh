#!/bin/sh
# Installs the Debian packages hyve needs to build, test and run the demo.
# As root it runs apt-get; otherwise it prints the command to run.
PKGS="gcc make libc6-dev libseccomp-dev libjson-c-dev
libcmocka-dev liburing-dev acpica-tools busybox-static cpio qemu-system-x86
qemu-system-common qemu-utils clang libclang-rt-14-dev iproute2 procps util-linux
python3 fio debootstrap e2fsprogs kmod gzip"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "hyve: missing Debian packages:$missing" >&2
	echo "hyve: install them with: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "hyve: installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || exit 1
apt-get install -y -qq $missing >&2 || {
	echo "hyve: apt-get install$missing failed" >&2
	exit 1
}
