#!/bin/sh
# Builds build/linux/: Debian's cloud kernel (vmlinuz, vmlinux for PVH,
# System.map for symbols) and an initramfs with busybox, the virtio modules
# and tests/linux/init.  Everything comes from Debian packages, fetched with
# apt-get download (run `apt-get update` first on a fresh machine).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=${LINUX_OUT:-$top/build/linux}
work=$out/work

die() {
	echo "linux-guest: $*" >&2
	exit 1
}

for t in apt-get apt-cache dpkg-deb cpio gzip dd; do
	command -v $t >/dev/null 2>&1 || die "$t is missing; install it (apt-get install $t)"
done

mkdir -p "$work"
cd "$work"

# The package that linux-image-cloud-amd64 points at, e.g. linux-image-6.1.0-56-cloud-amd64.
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$pkg" ] || die "apt-cache knows no linux-image-cloud-amd64; run apt-get update"

if ! ls ${pkg}_*.deb >/dev/null 2>&1; then
	apt-get download "$pkg" || die "apt-get download $pkg failed; run apt-get update"
fi
if ! ls busybox-static_*.deb >/dev/null 2>&1; then
	apt-get download busybox-static || die "apt-get download busybox-static failed"
fi
rm -rf kpkg bbpkg
dpkg-deb -x ${pkg}_*.deb kpkg
dpkg-deb -x busybox-static_*.deb bbpkg

kver=$(ls kpkg/lib/modules | head -n 1)
cp kpkg/boot/vmlinuz-$kver "$out/vmlinuz"
cp kpkg/boot/System.map-$kver "$out/System.map"
cp kpkg/boot/config-$kver "$out/config"

# vmlinux: the payload of the bzImage, located by the setup header
# (setup_sects at 0x1f1, payload_offset/payload_length at 0x248/0x24c).
u8() { dd if="$1" bs=1 skip=$2 count=1 status=none | od -An -tu1 | tr -d ' '; }
u32() { dd if="$1" bs=1 skip=$2 count=4 status=none | od -An -tu4 | tr -d ' '; }
vz=$out/vmlinuz
sects=$(u8 "$vz" 497)
[ "$sects" -ne 0 ] || sects=4
poff=$(( ($sects + 1) * 512 + $(u32 "$vz" 584) ))
plen=$(u32 "$vz" 588)
magic=$(dd if="$vz" bs=1 skip=$poff count=4 status=none | od -An -tx1 | tr -d ' ')
case $magic in
02214c18)	dec="lz4 -dc" ;;
28b52ffd)	dec="zstd -dc" ;;
fd377a58)	dec="xz -dc" ;;
1f8b08*)	dec="gzip -dc" ;;
5d000000|5d00*)	dec="xz -dc --format=lzma" ;;
*)		die "$vz: unknown payload compression (magic $magic)" ;;
esac
command -v ${dec%% *} >/dev/null 2>&1 ||
    die "${dec%% *} is needed to extract vmlinux; install it"
# The kernel appends the uncompressed size, which some tools call garbage.
tail -c +$(($poff + 1)) "$vz" | head -c "$plen" | $dec > "$out/vmlinux" 2>/dev/null || true
size=$(u32 "$vz" $(($poff + $plen - 4)))
[ "$(wc -c < "$out/vmlinux")" -eq "$size" ] ||
    die "$out/vmlinux: extracted $(wc -c < "$out/vmlinux") bytes, expected $size"

# The initramfs.
rm -rf root
mkdir -p root/bin root/dev root/proc root/sys root/mnt root/lib/modules root/tmp
cp bbpkg/bin/busybox root/bin/busybox
cp "$top/tests/linux/init" root/init
chmod 755 root/init root/bin/busybox
mods="drivers/virtio/virtio drivers/virtio/virtio_ring
    drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci_modern_dev
    drivers/virtio/virtio_pci drivers/block/virtio_blk net/core/failover
    drivers/net/net_failover drivers/net/virtio_net
    drivers/char/hw_random/virtio-rng"
: > root/lib/modules/order
for m in $mods; do
	f=kpkg/lib/modules/$kver/kernel/$m.ko
	if [ -f "$f.xz" ]; then
		xz -dc "$f.xz" > root/lib/modules/$(basename $m).ko
	elif [ -f "$f" ]; then
		cp "$f" root/lib/modules/
	else
		die "$pkg has no module $m.ko"
	fi
	echo "$(basename $m).ko" >> root/lib/modules/order
done
(cd root && find . | cpio -o -H newc --quiet) | gzip -9 > "$out/initramfs.cpio.gz"

echo "linux-guest: $out: vmlinuz vmlinux System.map initramfs.cpio.gz ($pkg)"
