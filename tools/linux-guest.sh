#!/bin/sh
# make linux-guest: a Debian guest made only of Debian packages.
#
#   vmlinuz    Debian's cloud kernel, unmodified: the one tools/labvm boots
#              (tools/lab/kernel.sh fetches it once);
#   initrd.gz  busybox and the virtio modules root needs (virtio_pci,
#              virtio_blk), and tests/linux/init, which mounts /dev/vda and
#              switch_roots to systemd;
#   root.img   ext4 made with mkfs.ext4 -d from debootstrap --variant=minbase
#              plus systemd, fio, iproute2, ..., the kernel's modules and the
#              checks (tests/linux/hyve-test and its unit);
#   vmlinuz-generic, initrd-clone.gz
#              Debian's generic kernel of the same version (its vmgenid
#              driver is built in, the cloud kernel has none) and an
#              initramfs with busybox, virtio-net and tests/linux/clone-init,
#              for the clone test (t_linux_clone).
#
# Everything is cached under ~/.cache/hyve/linux (HYVE_LAB_CACHE's parent) and
# rebuilt only when missing: the debootstrap tree is keyed by the package
# list, the guest by this script, tests/linux/* and the kernel version.
# build/linux/ gets symbolic links to the cached files.  Needs root
# (debootstrap, file ownership in the image) and the Debian mirror once.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/lab/kernel.sh"
cache=$(dirname "$LAB_CACHE")/linux
out=${LINUX_OUT:-$top/build/linux}
mirror=${HYVE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
# What the checks use; the rest is debootstrap's minbase.
pkgs=systemd,systemd-sysv,udev,kmod,iproute2,iputils-ping,fio,e2fsprogs,netcat-openbsd,procps

die() {
	echo "linux-guest: $*" >&2
	exit 1
}
now() { date +%s; }
# initramfs FILE MODULES INIT MODULE...: FILE, a gzipped cpio of busybox,
# INIT as /init and each MODULE.ko found under MODULES, listed in load
# order in /mods/order.
initramfs() {
	_f=$1 _m=$2 _init=$3
	shift 3
	_i=$_f.d
	rm -rf "$_i"
	mkdir -p "$_i/bin" "$_i/dev" "$_i/proc" "$_i/sys" "$_i/tmp" "$_i/newroot" "$_i/mods"
	cp /bin/busybox "$_i/bin/busybox"
	install -m 755 "$_init" "$_i/init"
	for _mod in "$@"; do
		_k=$(find "$_m/kernel" -name "$_mod.ko" | head -n 1)
		[ -n "$_k" ] || die "$_m has no module $_mod.ko"
		cp "$_k" "$_i/mods/"
		echo "$_mod.ko" >>"$_i/mods/order"
	done
	(cd "$_i" && find . | cpio -o -H newc --quiet) | gzip -1 >"$_f" ||
	    die "cannot write $_f"
	rm -rf "$_i"
}
# fresh KIND DIR: an empty DIR for a new KIND-* build; of the older ones
# the two newest stay (other checkouts may use them).
fresh() {
	echo "linux-guest: making $2" >&2
	ls -dt "$cache/$1"-* 2>/dev/null | tail -n +3 | while read -r d; do rm -rf "$d"; done
	rm -rf "$2"
	mkdir -p "$2"
}

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, and the image keeps file owners)"
for t in debootstrap mkfs.ext4 cpio gzip depmod sha256sum; do
	command -v $t >/dev/null 2>&1 || die "$t is missing; run tools/deps.sh (as root)"
done
[ -x /bin/busybox ] || die "/bin/busybox is missing; install busybox-static"

t0=$(now)
kdir=$(lab_kernel) || die "cannot get Debian's cloud kernel (see above)"
kver=$(ls "$kdir/lib/modules")
mkdir -p "$cache" || die "cannot make $cache"

# 1. The Debian tree: debootstrap, keyed by what it installs.
rkey=$(echo "$suite $mirror $pkgs" | sha256sum | cut -c1-12)
rootfs=$cache/rootfs-$rkey
if [ ! -f "$rootfs.ok" ]; then
	echo "linux-guest: debootstrap $suite (minbase + $pkgs) into $rootfs (a few minutes)" >&2
	rm -rf "$rootfs" "$cache"/rootfs-*
	debootstrap --variant=minbase --include="$pkgs" "$suite" "$rootfs" \
	    "$mirror" >"$cache/debootstrap.log" 2>&1 ||
	    die "debootstrap failed; see $cache/debootstrap.log (is $mirror reachable?)"
	# What a test guest never reads: the downloaded .debs, docs, locales.
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
	    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
	    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*
	touch "$rootfs.ok"
fi
t1=$(now)

# 2. The guest: keyed by this script, its files from tests/linux, the kernel.
gkey=$({ echo "$rkey $kver"; cat "$0" "$top"/tests/linux/init "$top"/tests/linux/hyve-test*; } |
    sha256sum | cut -c1-12)
g=$cache/guest-$gkey
if [ ! -f "$g/ok" ]; then
	fresh guest "$g"
	mkdir -p "$g/root"

	# The root filesystem: a copy of the tree, the modules, the checks.
	cp -a "$rootfs/." "$g/root/"
	r=$g/root
	mkdir -p "$r/lib/modules"
	cp -a "$kdir/lib/modules/$kver" "$r/lib/modules/"
	depmod -b "$r" "$kver"
	echo hyve-guest >"$r/etc/hostname"
	echo "127.0.1.1 hyve-guest" >>"$r/etc/hosts"
	printf '/dev/vda / ext4 rw,errors=remount-ro 0 0\n' >"$r/etc/fstab"
	# Not a first boot: a machine id, the hwdb built, /etc and /var up
	# to date (else systemd spends minutes under emulation on them).
	systemd-machine-id-setup --root="$r" >/dev/null 2>&1 ||
	    od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$r/etc/machine-id"
	chroot "$r" systemd-hwdb update || die "systemd-hwdb update in $r failed"
	install -m 755 "$top/tests/linux/hyve-test" "$r/usr/local/sbin/hyve-test"
	install -m 644 "$top/tests/linux/hyve-test.service" \
	    "$r/etc/systemd/system/hyve-test.service"
	ln -sf ../hyve-test.service \
	    "$r/etc/systemd/system/multi-user.target.wants/hyve-test.service"
	# No login prompts, nothing that waits for a network or a clock.
	for u in serial-getty@ttyS0.service getty@tty1.service \
	    systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
	    e2scrub_all.timer e2scrub_reap.service fstrim.timer \
	    systemd-networkd-wait-online.service; do
		ln -sf /dev/null "$r/etc/systemd/system/$u"
	done
	touch "$r/usr"
	date +%s >"$r/etc/.updated"
	date +%s >"$r/var/.updated"
	touch -d '+1 min' "$r/etc/.updated" "$r/var/.updated"
	# Root image: the tree plus room for the checks' scratch files.
	sz=$(( $(du -sm "$r" | cut -f1) + 256 ))
	mkfs.ext4 -q -F -L hyveroot -d "$r" "$g/root.img" "${sz}M" ||
	    die "mkfs.ext4 -d $r failed"
	rm -rf "$r"

	# The initramfs: busybox, the modules for /dev/vda, tests/linux/init.
	initramfs "$g/initrd.gz" "$kdir/lib/modules/$kver" "$top/tests/linux/init" \
	    virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
	    virtio_pci virtio_blk
	cp "$kdir/boot/vmlinuz-$kver" "$g/vmlinuz"
	echo "$kver" >"$g/version"
	touch "$g/ok"
fi
t2=$(now)

# 3. The clone guest: the generic kernel of the same version, keyed by it,
# this script and clone-init.
gver=${kver%-cloud-amd64}-amd64
ckey=$({ echo "$gver"; cat "$0" "$top/tests/linux/clone-init"; } | sha256sum | cut -c1-12)
c=$cache/clone-$ckey
if [ ! -f "$c/ok" ]; then
	fresh clone "$c"
	mkdir -p "$c/pkg"
	(cd "$c/pkg" && apt-get download "linux-image-$gver" >/dev/null 2>&1) ||
	    die "apt-get download linux-image-$gver failed (is the Debian mirror reachable? apt-get update)"
	dpkg-deb -x "$c"/pkg/*.deb "$c/pkg" || die "cannot unpack linux-image-$gver"
	initramfs "$c/initrd-clone.gz" "$c/pkg/lib/modules/$gver" \
	    "$top/tests/linux/clone-init" virtio_ring virtio virtio_pci_modern_dev \
	    virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net
	cp "$c/pkg/boot/vmlinuz-$gver" "$c/vmlinuz-generic"
	rm -rf "$c/pkg"
	touch "$c/ok"
fi

mkdir -p "$out"
for f in vmlinuz initrd.gz root.img version; do
	ln -sfn "$g/$f" "$out/$f"
done
for f in vmlinuz-generic initrd-clone.gz; do
	ln -sfn "$c/$f" "$out/$f"
done
echo "linux-guest: $out -> $g: kernel $kver, root.img" \
    "$(du -m --apparent-size "$g/root.img" | cut -f1) MiB" \
    "($(du -m "$g/root.img" | cut -f1) MiB used);" \
    "debootstrap $((t1 - t0)) s, image $((t2 - t1)) s"
