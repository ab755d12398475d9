#!/bin/sh
# Clones of one snapshot.  Debian's generic kernel (its vmgenid driver is
# built in; tools/linux-guest.sh) boots with tests/linux/clone-init and a
# virtio-net device, is snapshotted (the VM stops) and restored 8 times at
# once, each clone under its own name, tap and MAC.  Every clone must see a
# new VM generation ID (not the original's, not another clone's), have
# its GPE fire and the vmgenid driver reseed the RNG (the kernel's notice
# "crng reseeded due to virtual machine fork"), read 16 bytes of
# /dev/urandom that no other clone read, and see
# the MAC of its own command line once virtio_net is bound again; its
# backend runs under a uid of its own.  The odd clones leave their RAM in
# the snapshot's file (memory.share_snapshot): each must hold less of it
# than the snapshot stores, and its backend's touches must be served.
# lab: 240 s
# timeout: 1200 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_netns
CTL=$ROOT/build/hyvectl
L=$ROOT/build/linux
N=${CLONES:-8}
if [ ! -f "$L/vmlinuz-generic" ] || [ ! -f "$L/initrd-clone.gz" ]; then
	echo "t_linux_clone: $L has no clone guest; making it (sh tools/linux-guest.sh)"
	sh "$ROOT/tools/linux-guest.sh" || fail "cannot make the clone guest in $L"
fi
mac() { printf '02:00:00:00:01:%02x' "$1"; }

# In the namespace: N+1 taps, the original VM, then at "go" the N clones.
netns_script "$TMP/run.sh"
i=0
while [ $i -le $N ]; do
	echo "ip tuntap add dev hyvetap$i mode tap vnet_hdr && ip link set hyvetap$i up || exit 1" >>"$TMP/run.sh"
	i=$((i + 1))
done
cat >>"$TMP/run.sh" <<SCRIPT
timeout -s KILL 900 '$HYVE' -c 1 -m 256M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 2,virtio-net,hyvetap0,mac=$(mac 0) -o control.path='$TMP/c0.sock' \
    -o boot.kernel='$L/vmlinuz-generic' -o boot.initrd='$L/initrd-clone.gz' \
    -o 'boot.cmdline=console=ttyS0 quiet panic=-1 net.ifnames=0' \
    clone0 </dev/null >'$TMP/out.0' 2>'$TMP/err.0'
echo \$? >'$TMP/rc.0'
n=0
until [ -e '$TMP/go' ]; do
	n=\$((n + 1)); [ \$n -lt 3000 ] || exit 1
	sleep 0.1
done
i=1
while [ \$i -le $N ]; do
	share=
	[ \$((i % 2)) = 1 ] && share='-o memory.share_snapshot=true'
	timeout -s KILL 900 '$HYVE' -r '$TMP/snap' \$share \
	    -s 2,virtio-net,hyvetap\$i,mac=\$(printf '02:00:00:00:01:%02x' \$i) \
	    -o control.path='$TMP/c'\$i.sock clone\$i </dev/null >'$TMP/out.'\$i 2>'$TMP/err.'\$i &
	i=\$((i + 1))
done
wait
SCRIPT
unshare -n sh "$TMP/run.sh" &
ns=$!

show() {
	for f in "$TMP"/out.*; do sed "s/^/${f##*/}: /" "$f"; done
	for f in "$TMP"/err.*; do sed "s/^/${f##*/}: /" "$f"; done
}
# give_up WHY: every VM of the test off at once (by its control socket),
# then fail.
give_up() {
	touch "$TMP/go"
	for s in "$TMP"/c*.sock; do
		[ -S "$s" ] && "$CTL" --socket "$s" poweroff "$(basename "$s" .sock | sed 's/^c/clone/')" --force >/dev/null 2>&1
	done
	wait $ns
	show
	fail "$*"
}
# field LINE NAME: the value of NAME=... in LINE.
field() { echo "$1" | tr -d '\r' | tr ' ' '\n' | sed -n "s/^$2=//p"; }

wait_for "hyve-clone: ready" "$TMP/out.0" 300 ||
    give_up "the original guest did not come up"
grep -q "hyve-clone: FAIL" "$TMP/out.0" && give_up "the guest failed"
line=$(grep -m 1 "hyve-clone: ready" "$TMP/out.0")
id0=$(field "$line" id)
[ "$(field "$line" driver)" = 1 ] || give_up "Linux's vmgenid driver did not bind: $line"
[ "$(field "$line" mac)" = "$(mac 0)" ] || give_up "the original's MAC: $line"
echo "original: $line"

"$CTL" --socket "$TMP/c0.sock" snapshot clone0 "$TMP/snap" >"$TMP/ctl.out" 2>&1 ||
    give_up "snapshot failed: $(cat "$TMP/ctl.out")"
wait_for . "$TMP/rc.0" 60 || give_up "the snapshotted hyve did not end"
[ "$(cat "$TMP/rc.0")" = 1 ] || give_up "the snapshotted hyve exited $(cat "$TMP/rc.0"), expected 1"
echo "snapshot: $(du -sk "$TMP/snap" | cut -f1) KiB on disk"
touch "$TMP/go"

ids=$id0
randoms=""
i=1
while [ $i -le $N ]; do
	wait_for "hyve-clone: restored" "$TMP/out.$i" 300 ||
	    give_up "clone $i did not report (restored?)"
	line=$(grep -m 1 "hyve-clone: restored" "$TMP/out.$i")
	echo "clone $i: $line"
	id=$(field "$line" id)
	r=$(field "$line" random)
	[ "$(field "$line" gpe)" -ge 1 ] 2>/dev/null ||
	    give_up "clone $i: GPE 0 never fired: $line"
	[ "$(field "$line" reseeds)" -ge 1 ] 2>/dev/null ||
	    give_up "clone $i: the vmgenid driver did not reseed the RNG: $line"
	[ "$(field "$line" mac)" = "$(mac $i)" ] ||
	    give_up "clone $i: MAC $(field "$line" mac), its command line gave $(mac $i)"
	[ ${#id} = 32 ] && [ ${#r} = 32 ] || give_up "clone $i: a malformed report: $line"
	case " $ids " in *" $id "*) give_up "clone $i: generation ID $id seen before" ;; esac
	case " $randoms " in *" $r "*) give_up "clone $i: /dev/urandom gave $r to another clone too" ;; esac
	ids="$ids $id"
	randoms="$randoms $r"
	i=$((i + 1))
done

# Each clone's backend runs as a uid of its own (the audit's view).
uids=""
i=1
while [ $i -le $N ]; do
	"$CTL" --socket "$TMP/c$i.sock" audit clone$i --json >"$TMP/audit.$i" 2>&1 ||
	    give_up "hyvectl audit clone$i: $(cat "$TMP/audit.$i")"
	u=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(",".join(str(p["audit"]["uid"][1]) for p in d["processes"]
               if p["role"] == "net"))' "$TMP/audit.$i") ||
	    give_up "clone $i: no backend uid in the audit: $(head -c 300 "$TMP/audit.$i")"
	[ -n "$u" ] || give_up "clone $i: the audit lists no backend"
	case " $uids " in *" $u "*) give_up "clone $i: backend uid $u is another clone's too" ;; esac
	uids="$uids $u"
	i=$((i + 1))
done
echo "backend uids:$uids"

# What each clone's RAM holds: the shared ones less than the snapshot
# stores (they hold what they touched), and their log says so.
stored=$(du -k "$TMP/snap/memory" | cut -f1)
i=1
while [ $i -le $N ]; do
	held=$("$CTL" --socket "$TMP/c$i.sock" status clone$i --json 2>&1 |
	    tr ',' '\n' | sed -n 's/.*"memory_held": *\([0-9]*\).*/\1/p')
	[ -n "$held" ] || give_up "hyvectl status clone$i gave no memory_held"
	held=$((held / 1024))
	echo "clone $i: RAM held $held KiB, the snapshot stores $stored KiB"
	if [ $((i % 2)) = 1 ]; then
		grep -q "RAM checked in .* stay in" "$TMP/err.$i" ||
		    give_up "clone $i (memory.share_snapshot) did not log that its RAM stays in the snapshot"
		[ "$held" -lt $((stored / 2)) ] ||
		    give_up "clone $i (memory.share_snapshot) holds $held KiB of RAM, not less than half of the $stored KiB stored"
	else
		grep -q "RAM restored in" "$TMP/err.$i" ||
		    give_up "clone $i did not log its RAM restored"
	fi
	i=$((i + 1))
done

for i in $(seq 1 $N); do
	"$CTL" --socket "$TMP/c$i.sock" poweroff clone$i --force >/dev/null 2>&1 ||
	    give_up "hyvectl poweroff clone$i failed"
done
wait $ns
echo "PASS: $N clones of one snapshot: new generation IDs, RNG reseeded, distinct /dev/urandom, their own MACs and uids; the shared ones hold only what they touched"
