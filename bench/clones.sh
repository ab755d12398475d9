#!/bin/sh
# Part 11 of make bench: the memory of clones.  The clone guest of make
# linux-guest (Debian's generic kernel, tests/linux/clone-init, 256 MiB, a
# virtio-net device on a tap) boots once; its PSS (every process of the VM)
# once it is up is one fresh VM's.  It is snapshotted (the VM stops) and
# restored N times at once, each clone under its own name, tap and MAC;
# once every clone has reported its new generation ID, the PSS of each.
# Then again, each clone with -o memory.share_snapshot=true.
# Prints sample lines "clones fresh_pss_kib K", "clones clone_pss_kib K"
# (one per clone), "clones all_pss_kib K" (the N together), "clones
# cache_kib K" (the snapshot's memory file in the page cache), "clones
# total_kib K" (the two), "clones snap_kib K" (the snapshot's allocated
# size) and "clones ready_ms T" (from the first restore's exec to the last
# clone's report); the shared set's with "shared_" before the name.
# Usage: bench/clones.sh ROOT N TMPDIR, in a private network namespace
# (unshare -n).  Needs /dev/kvm (the lab VM).
ROOT=$1
N=$2
T=$3/clones
B=$ROOT/build
L=$B/linux
LIMIT=600
for f in "$L/vmlinuz-generic" "$L/initrd-clone.gz"; do
	[ -f "$f" ] || { echo "clones: $f is missing; run make linux-guest" >&2; exit 1; }
done
[ -c /dev/kvm ] || { echo "clones: no /dev/kvm (run it in tools/labvm)" >&2; exit 1; }
rm -rf "$T"
mkdir -p "$T"
pids=""
cleanup() { for p in $pids; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT

ip link set lo up
i=0
while [ $i -le "$N" ]; do
	ip tuntap add dev bctap$i mode tap vnet_hdr && ip link set bctap$i up ||
	    { echo "clones: cannot make tap bctap$i" >&2; exit 1; }
	i=$((i + 1))
done

# wait_line PATTERN FILE: up to LIMIT s for PATTERN in FILE.
wait_line() {
	_n=0
	until grep -q "$1" "$2" 2>/dev/null; do
		_n=$((_n + 1)); [ $_n -le $((LIMIT * 10)) ] || return 1
		sleep 0.1
	done
}
. "$ROOT/bench/lib.sh"
mac() { printf '02:00:00:00:02:%02x' "$1"; }

"$B/hyve" -c 1 -m 256M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 2,virtio-net,bctap0,mac=$(mac 0) -o control.path="$T/c0.sock" \
    -o boot.kernel="$L/vmlinuz-generic" -o boot.initrd="$L/initrd-clone.gz" \
    -o 'boot.cmdline=console=ttyS0 quiet panic=-1 net.ifnames=0' \
    bclone0 </dev/null >"$T/out.0" 2>"$T/err.0" &
p0=$!
pids="$pids $p0"
wait_line "hyve-clone: ready" "$T/out.0" ||
    { tail -5 "$T/out.0" "$T/err.0" >&2; echo "clones: the guest did not come up" >&2; exit 1; }
echo "clones fresh_pss_kib $(pss $(tree $p0))"
"$B/hyvectl" --socket "$T/c0.sock" snapshot bclone0 "$T/snap" >"$T/ctl" 2>&1 ||
    { cat "$T/ctl" >&2; exit 1; }
wait "$p0"
echo "clones snap_kib $(du -sk "$T/snap" | cut -f1)"

# restore_set PREFIX OPTS...: N clones at once, each with OPTS; once all
# have reported, PREFIX's samples; then they are powered off.
restore_set() {
	pre=$1
	shift
	start=$(date +%s%3N)
	i=1
	cp=""
	while [ $i -le "$N" ]; do
		"$B/hyve" -r "$T/snap" "$@" -s 2,virtio-net,bctap$i,mac=$(mac $i) \
		    -o control.path="$T/c$i.sock" bclone$i </dev/null >"$T/out.$i" 2>"$T/err.$i" &
		cp="$cp $!"
		pids="$pids $!"
		i=$((i + 1))
	done
	i=1
	while [ $i -le "$N" ]; do
		wait_line "hyve-clone: restored" "$T/out.$i" ||
		    { tail -5 "$T/out.$i" "$T/err.$i" >&2; echo "clones: clone $i did not report" >&2; exit 1; }
		i=$((i + 1))
	done
	echo "clones ${pre}ready_ms $(($(date +%s%3N) - start))"
	all=0
	for p in $cp; do
		k=$(pss $(tree "$p"))
		echo "clones ${pre}clone_pss_kib $k"
		all=$((all + k))
	done
	echo "clones ${pre}all_pss_kib $all"
	# The snapshot's memory file in the page cache: shared clones read
	# their pages from it, so it counts once for them all.
	c=$(fincore -b -n -o RES "$T/snap/memory" | awk '{ print int($1 / 1024) }')
	echo "clones ${pre}cache_kib $c"
	echo "clones ${pre}total_kib $((all + c))"
	i=1
	while [ $i -le "$N" ]; do
		"$B/hyvectl" --socket "$T/c$i.sock" poweroff bclone$i --force >/dev/null 2>&1
		i=$((i + 1))
	done
	for p in $cp; do wait "$p"; done
	pids=""
}

# Each clone with RAM of its own, then each leaving its RAM in the
# snapshot's file (memory.share_snapshot), the file's pages dropped from
# the page cache first so that what the second set brings in is its own.
restore_set ""
dd if="$T/snap/memory" iflag=nocache count=0 status=none
restore_set shared_ -o memory.share_snapshot=true
exit 0
