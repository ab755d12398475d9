# virtio-vsock under Debian's own driver (vsock, vmw_vsock_virtio_transport)
# and hyve-vsock: -s 4,virtio-vsock,cid=3,socket=PATH.  The guest
# (tests/integration/vsock_guest.sh with vsockt, written into this run's
# copy of the root image in place of hyve-test) checks its CID, sends 64 MiB
# to the host over 4 connections at once and receives 64 MiB from it over 4
# more, each checked by sha256; then, while it holds a connection open,
# hyve-vsock is SIGKILLed: the open connection must be reset, and new ones
# in both directions must work.  Then, while it holds another, the VM is
# snapshotted and restored with another CID (hyve -r DIR -s 4,virtio-vsock,
# cid=4,...): that connection must be reset, the driver must see CID 4,
# and new connections must work both ways again.  The host end is
# vsockpeer.py; hyvectl audit must show hyve-vsock confined, with PATH's
# directory, read-only, as its root and only mount.
# lab: 420 s
# timeout: 1200 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd python3
need_cmd debugfs
need_cmd cc
CTL=$ROOT/build/hyvectl
SOCK=$TMP/vm.sock
VM=linux-vsock
L=$ROOT/build/linux
if [ ! -f "$L/root.img" ] || [ ! -f "$L/vmlinuz" ] || [ ! -f "$L/initrd.gz" ]; then
	echo "t_linux_vsock: $L is incomplete; making it (sh tools/linux-guest.sh)"
	sh "$ROOT/tools/linux-guest.sh" || fail "cannot make the Debian guest in $L"
fi
cp --sparse=always "$L/root.img" "$TMP/root.img" || fail "cannot copy $L/root.img to $TMP"
cc -static -O2 -Wall -o "$TMP/vsockt" "$ROOT/tests/integration/vsockt.c" ||
    fail "cannot build tests/integration/vsockt.c (static; libc6-dev)"
install -m 755 "$ROOT/tests/integration/vsock_guest.sh" "$TMP/hyve-test"
debugfs -w -f - "$TMP/root.img" >"$TMP/debugfs.out" 2>&1 <<EOF
rm /usr/local/sbin/hyve-test
write $TMP/hyve-test /usr/local/sbin/hyve-test
write $TMP/vsockt /usr/local/bin/vsockt
EOF
debugfs -R "stat /usr/local/bin/vsockt" "$TMP/root.img" 2>/dev/null | grep -q "Size: $(stat -c %s "$TMP/vsockt")" ||
    fail "debugfs did not write vsockt into the image: $(cat "$TMP/debugfs.out")"

# The backend runs as the tenant's uid: the socket directory is open to it.
chmod 755 "$TMP"
mkdir -m 777 "$TMP/vs" "$TMP/ctl"
UDS=$TMP/vs/v.sock
python3 "$ROOT/tests/integration/vsockpeer.py" "$UDS" 64 4 1000 "$TMP/ctl" >"$TMP/peer" 2>&1 &
peer=$!
timeout -k 5 1000 "$HYVE" -c 2 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 3,virtio-blk,"$TMP/root.img",ser=root \
    -s 4,virtio-vsock,cid=3,socket="$UDS" \
    -o control.path="$SOCK" \
    -o boot.kernel="$L/vmlinuz" -o boot.initrd="$L/initrd.gz" \
    -o "boot.cmdline=console=ttyS0 panic=-1 root=/dev/vda systemd.show_status=0 hyve.test=vsock hyve.vsock.cid=3 hyve.vsock.cid2=4 hyve.vsock.mb=64" \
    $VM </dev/null >"$TMP/out" 2>"$TMP/err" &
HPID=$!

show() {
	tail -n 60 "$TMP/out"
	[ ! -f "$TMP/err.saved" ] || sed 's/^/hyve (saved): /' "$TMP/err.saved"
	sed 's/^/hyve: /' "$TMP/err"
	sed 's/^/host: /' "$TMP/peer"
}
stop() {
	kill -KILL $HPID $peer 2>/dev/null
	wait
	show
	fail "$*"
}
# dev: "pid state restarts" of vsock0, from hyvectl status.
dev() {
	"$CTL" --socket "$SOCK" status $VM 2>/dev/null |
	    awk '$1 == "vsock0" { print $4, $5, $6 }'
}
# wait_log PATTERN FILE SECONDS: while hyve runs.
wait_log() {
	_end=$(($(date +%s) + $3))
	until grep -q "$1" "$2" 2>/dev/null; do
		kill -0 $HPID 2>/dev/null || return 1
		[ "$(date +%s)" -le $_end ] || return 1
		sleep 0.2
	done
}

wait_log "hold connected" "$TMP/peer" 900 || stop "the guest never held a connection to port 5001"
# The audit of the running backend: confined, PATH's directory its one mount.
"$CTL" --socket "$SOCK" audit $VM >"$TMP/audit" 2>&1
sed -n '/^vsock vsock0 /,/^[a-z]* [a-z0-9]* (pid/p' "$TMP/audit" >"$TMP/audit.vsock"
grep -q "^vsock vsock0 (pid [0-9]*): OK$" "$TMP/audit.vsock" || stop "hyvectl audit: vsock0 is not confined: $(cat "$TMP/audit")"
grep -q "mounts *\/ <- $TMP/vs (.*, ro)" "$TMP/audit.vsock" || stop "hyvectl audit: vsock0's root is not $TMP/vs, read-only: $(cat "$TMP/audit.vsock")"
# status and stats name the device; its backend has served the guest.
"$CTL" --socket "$SOCK" stats $VM >"$TMP/stats" 2>&1
echo "hyvectl stats: $(grep "^vsock0 " "$TMP/stats")"
awk '$1 == "vsock0" && $3 > 0 { ok = 1 } END { exit !ok }' "$TMP/stats" ||
    stop "hyvectl stats: no requests served by vsock0: $(cat "$TMP/stats")"
set -- $(dev)
bp=$1
[ "$(ps -o comm= -p "$bp")" = hyve-vsock ] || stop "hyvectl status names pid '$bp' for vsock0, not a hyve-vsock"
kill -KILL "$bp"
echo "killed hyve-vsock pid $bp"
_end=$(($(date +%s) + 120))
while :; do
	set -- $(dev) x x x
	[ "$2" = running ] && [ "$3" -ge 1 ] && [ "$1" != "$bp" ] && break
	[ "$(date +%s)" -le $_end ] || stop "vsock0 did not come back in 120 s: $(dev)"
	sleep 0.2
done
echo "vsock0 restarted: pid $1, $3 restart(s)"
touch "$TMP/ctl/restarted"

# Snapshot while the guest holds its second connection, and restore with
# CID 4.  The saved VM stops (exit 1); the restored one runs to the end.
_end=$(($(date +%s) + 600))
until [ "$(grep -c "hold connected" "$TMP/peer")" -ge 2 ]; do
	kill -0 $HPID 2>/dev/null || stop "hyve ended before the guest held a connection for the snapshot"
	[ "$(date +%s)" -le $_end ] || stop "the guest held no second connection in 600 s"
	sleep 0.2
done
"$CTL" --socket "$SOCK" snapshot $VM "$TMP/snap" >"$TMP/snap.out" 2>&1 ||
    stop "hyvectl snapshot failed: $(cat "$TMP/snap.out")"
cat "$TMP/snap.out"
wait $HPID
rc=$?
[ $rc -eq 1 ] || stop "the snapshotted VM exited $rc, expected 1"
mv "$TMP/err" "$TMP/err.saved"
SOCK=$TMP/vm2.sock
timeout -k 5 900 "$HYVE" -r "$TMP/snap" -s 4,virtio-vsock,cid=4,socket="$UDS" \
    -o control.path="$SOCK" </dev/null >>"$TMP/out" 2>"$TMP/err" &
HPID=$!
wait_log "restored from" "$TMP/err" 300 || stop "hyve -r did not restore the VM"
touch "$TMP/ctl/restored"
wait $HPID
rc=$?
touch "$TMP/ctl/stop"
wait $peer
show
[ $rc -eq 1 ] || fail "hyve exited $rc, expected 1 (poweroff)"
grep -q "^10 passed, 0 failed" "$TMP/out" || fail "the guest's checks did not all pass: $(grep ^FAIL "$TMP/out" | head -n 3 | tr '\n' ' ')"
[ "$(grep -c "^vsockpeer: h2g [0-9]* ok: 16777216 bytes" "$TMP/peer")" -eq 4 ] ||
    fail "the host did not send 4 x 16 MiB that the guest checked"
[ "$(grep -c "^vsockpeer: g2h received 16777216 bytes" "$TMP/peer")" -ge 4 ] ||
    fail "the host did not receive 4 x 16 MiB"
grep -q "^vsockpeer: h2g-after ok" "$TMP/peer" || fail "no host connection to the guest after the restart"
[ "$(grep -c "^vsockpeer: hold: " "$TMP/peer")" -eq 2 ] || fail "the held connections did not both end on the host"
grep -q "^vsockpeer: h2g-restored ok" "$TMP/peer" || fail "no host connection to the guest after the restore"
grep -q "the guest's CID is 4 now, 3 when saved" "$TMP/err" || fail "the restored backend did not take CID 4"
echo "ok: $(grep "passed, 0 failed" "$TMP/out")"
