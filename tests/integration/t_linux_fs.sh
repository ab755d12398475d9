# virtio-fs under Debian's own driver (tools/linux-guest.sh), with Debian's
# virtiofsd (QEMU 7.2) as the backend: one hyve starts (virtio-fs, rw), one
# read-only (virtio-fs,ro), and one this test starts itself (vhost-user,
# type=fs).  The guest checks each share's in.bin against the host's sum,
# writes a tree and 2 MiB back (the host checks the sum), and a write to
# the ro share must fail as read-only.  hyvectl status/stats/audit must show
# the devices.  Then the serving virtiofsd of the rw share is SIGKILLed
# while the guest reads it: hyve starts a new one, the guest's reads fail
# (EIO: the new virtiofsd never saw the guest's FUSE_INIT and this
# virtiofsd keeps no state across a restart), nothing hangs, and after
# umount and mount the share works again.
# Sockets and shares live on /tmp (the lab VM's tmpfs).
# lab: 520 s
# timeout: 1800 s
. "$(dirname "$0")/lib.sh"
need_kvm
VFSD=/usr/lib/qemu/virtiofsd
[ -x "$VFSD" ] || skip "no $VFSD (install qemu-system-common: sh tools/deps.sh)"
need_cmd debugfs
CTL=$ROOT/build/hyvectl
SOCK=$TMP/vm.sock
L=$ROOT/build/linux
if [ ! -f "$L/root.img" ] || [ ! -f "$L/vmlinuz" ] || [ ! -f "$L/initrd.gz" ]; then
	echo "t_linux_fs: $L is incomplete; making it (sh tools/linux-guest.sh)"
	sh "$ROOT/tools/linux-guest.sh" || fail "cannot make the Debian guest in $L"
fi
cp --sparse=always "$L/root.img" "$TMP/root.img" || fail "cannot copy $L/root.img to $TMP"
# This tree's checks, whatever the cached guest was made with.
debugfs -w -R "rm /usr/local/sbin/hyve-test" "$TMP/root.img" >/dev/null 2>&1
debugfs -w -R "write $ROOT/tests/linux/hyve-test /usr/local/sbin/hyve-test" \
    "$TMP/root.img" >/dev/null 2>&1 || fail "cannot put hyve-test into root.img"
debugfs -w -R "sif /usr/local/sbin/hyve-test mode 0100755" "$TMP/root.img" \
    >/dev/null 2>&1

for d in share ro user; do
	mkdir "$TMP/$d"
	head -c 1048576 /dev/urandom >"$TMP/$d/in.bin"
	sha256sum <"$TMP/$d/in.bin" | cut -d' ' -f1 >"$TMP/$d/in.sha"
done
# The virtiofsd hyve starts runs as the tenant's uid: the rw share is its.
chmod 0777 "$TMP/share"
chmod 0666 "$TMP/share/in.bin" "$TMP/share/in.sha"
chmod 0755 "$TMP"

${STRACE:-} "$VFSD" --socket-path="$TMP/user.sock" -o source="$TMP/user" \
    -o sandbox=namespace >"$TMP/user.log" 2>&1 &
vfsd=$!
wait_file() {
	_end=$(($(date +%s) + $2))
	until [ -S "$1" ]; do
		[ "$(date +%s)" -le $_end ] || return 1
		sleep 0.1
	done
}
wait_file "$TMP/user.sock" 30 || fail "virtiofsd made no socket in 30 s: $(cat "$TMP/user.log")"

CMD="console=ttyS0 panic=-1 net.ifnames=0 root=/dev/vda systemd.show_status=0"
timeout -k 5 1500 "$HYVE" -c 1 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 3,virtio-blk,"$TMP/root.img",ser=root \
    -s 5,virtio-fs,"$TMP/share",tag=hostfs \
    -s 6,virtio-fs,"$TMP/ro",tag=hostro,ro \
    -s 7,vhost-user,socket="$TMP/user.sock",type=fs,tag=userfs \
    -o control.path="$SOCK" \
    -o boot.kernel="$L/vmlinuz" -o boot.initrd="$L/initrd.gz" \
    -o "boot.cmdline=$CMD hyve.test=fs,fskill hyve.fs=hostfs:rw,hostro:ro,userfs:rw hyve.fskill=hostfs" \
    linux-fs </dev/null >"$TMP/out" 2>"$TMP/err" &
hyve=$!

# What the run printed; the whole of it is also kept in build/t_linux_fs/.
show() {
	mkdir -p "$ROOT/build/t_linux_fs"
	cp "$TMP/out" "$TMP/err" "$TMP/user.log" "$TMP/audit" "$TMP/status" \
	    "$ROOT/build/t_linux_fs/" 2>/dev/null
	dmesg | grep -e "type=1326" -e virtiofsd >"$ROOT/build/t_linux_fs/seccomp" 2>/dev/null
	grep -e "^PASS" -e "^FAIL" -e "hyve-linux: fs" "$TMP/out"
	tail -n 20 "$TMP/out"
	sed 's/^/hyve: /' "$TMP/err"
	sed 's/^/virtiofsd: /' "$TMP/user.log"
	sed 's/^/kernel: /' "$ROOT/build/t_linux_fs/seccomp"
}
stop() {
	kill -KILL $hyve $vfsd 2>/dev/null
	wait
	show
	fail "$*"
}
wait_n() {
	_end=$(($(date +%s) + $4))
	while :; do
		_c=$(grep -c "$1" "$2" 2>/dev/null)
		[ "${_c:-0}" -ge "$3" ] && return 0
		kill -0 $hyve 2>/dev/null || return 1
		[ "$(date +%s)" -le $_end ] || return 1
		sleep 0.2
	done
}
dev() {
	"$CTL" --socket "$SOCK" status linux-fs 2>"$TMP/ctl.err" |
	    awk -v s="0:$1:0" '$3 == s { print $1, $4, $5, $6 }'
}

wait_n "fs round 2:" "$TMP/out" 1 900 || stop "the guest never got to read the share in rounds"
"$CTL" --socket "$SOCK" status linux-fs >"$TMP/status" || stop "hyvectl status failed"
"$CTL" --socket "$SOCK" stats linux-fs >"$TMP/stats" || stop "hyvectl stats failed"
"$CTL" --socket "$SOCK" audit linux-fs >"$TMP/audit" 2>&1
audit_rc=$?
cat "$TMP/status"
grep -q "fs0 .*running" "$TMP/status" || stop "hyvectl status shows no running fs0"
grep -q "fs2 .*running" "$TMP/status" || stop "hyvectl status shows no running fs2 (vhost-user)"
grep -q "fs0" "$TMP/stats" || stop "hyvectl stats shows no fs0"
set -- $(dev 5)
waiter=$2
[ -n "$waiter" ] || stop "no pid for fs0"
daemon=$(cat /proc/"$waiter"/task/"$waiter"/children 2>/dev/null | cut -d' ' -f1)
[ -n "$daemon" ] || stop "virtiofsd $waiter has no child (the one that serves)"
echo "fs0: virtiofsd $waiter, serving $daemon"
# It does not get the VM's console: its stdin and stdout are /dev/null.
for p in $waiter $daemon; do
	for f in 0 1; do
		t=$(readlink /proc/$p/fd/$f)
		[ "$t" = /dev/null ] || stop "virtiofsd $p has fd $f on $t, not /dev/null"
	done
done
kill -KILL "$daemon" || stop "cannot kill virtiofsd $daemon"
wait_n "fs0: backend restarted" "$TMP/err" 1 120 || stop "hyve did not restart virtiofsd"
wait_n "passed, .* failed" "$TMP/out" 1 400 || stop "the guest did not finish its checks"
wait $hyve
rc=$?
kill $vfsd 2>/dev/null
wait $vfsd 2>/dev/null
show
sed 's/^/audit: /' "$TMP/audit"
# virtiofsd's two processes (fs0, fs0+; fs1, fs1+) pass the audit too.
for p in fs0 fs0+ fs1 fs1+; do
	grep -q "^fs $p (pid [0-9]*): OK" "$TMP/audit" ||
	    fail "audit: $p: $(grep "^fs $p " "$TMP/audit")"
done
[ $audit_rc -eq 0 ] || fail "hyvectl audit exited $audit_rc"
grep -q "fs round [0-9]*: read failed (exit [12]): .*Input/output error" "$TMP/out" ||
    fail "after the kill the guest's read did not fail with EIO"
grep -q "^4 passed, 0 failed" "$TMP/out" || fail "the checks did not all pass: $(grep ^FAIL "$TMP/out" | head -n 3 | tr '\n' ' ')"
[ $rc -eq 1 ] || fail "poweroff: hyve exited $rc, expected 1"
for d in share user; do
	[ -f "$TMP/$d/out.bin" ] || fail "$d: the guest's out.bin is not on the host"
	got=$(sha256sum <"$TMP/$d/out.bin" | cut -d' ' -f1)
	[ "$got" = "$(cat "$TMP/$d/out.sha")" ] || fail "$d: out.bin is $got on the host, the guest wrote $(cat "$TMP/$d/out.sha")"
	[ "$(ls "$TMP/$d/d/g" | wc -l)" -eq 7 ] || fail "$d: the guest's tree is not on the host"
	echo "$d: out.bin $got as the guest wrote it"
done
[ ! -e "$TMP/ro/out.bin" ] || fail "ro: the guest wrote out.bin"
echo "ok: $(grep "passed, 0 failed" "$TMP/out")"
