# Helpers for the tests that run a load in Debian's guest while the host
# acts on the VM (t_linux_restart, t_linux_upgrade, linux_snapshot.sh);
# source after lib.sh.
# The test writes its hyve's pid to $TMP/hyve.pid and runs it, inside its
# network namespace, as the background job $ns; the guest's console goes
# to $TMP/out, hyve's log to $TMP/err and the TCP peer's to $TMP/peer.
# Each test gets its own root image copy, a 64 MiB data disk and a
# control directory for the peer; the peer is $PEER on the tap.  (Each
# test says need_kvm itself: run.sh looks for it there.)
need_netns
need_cmd python3
CTL=$ROOT/build/hyvectl
SOCK=$TMP/vm.sock
PEER=10.0.2.1
L=$ROOT/build/linux
if [ ! -f "$L/root.img" ] || [ ! -f "$L/vmlinuz" ] || [ ! -f "$L/initrd.gz" ]; then
	echo "$(basename "$0" .sh): $L is incomplete; making it (sh tools/linux-guest.sh)"
	sh "$ROOT/tools/linux-guest.sh" || fail "cannot make the Debian guest in $L"
fi
cp --sparse=always "$L/root.img" "$TMP/root.img" || fail "cannot copy $L/root.img to $TMP"
truncate -s 64M "$TMP/data.img"
mkdir "$TMP/ctl"

show() {
	cat "$TMP/out"
	sed 's/^/hyve: /' "$TMP/err"
	sed 's/^/host: /' "$TMP/peer"
}
# stop WHY: ends the VM (only this test's hyve, by pid) and fails.
stop() {
	kill -KILL "$(cat "$TMP/hyve.pid" 2>/dev/null)" 2>/dev/null
	wait $ns
	show
	fail "$*"
}
# wait_n PATTERN FILE N SECONDS: waits for N lines matching PATTERN in
# FILE; 1 if they did not come within SECONDS.
wait_n() {
	_end=$(($(date +%s) + $4))
	while :; do
		_c=$(grep -c "$1" "$2" 2>/dev/null)
		[ "${_c:-0}" -ge "$3" ] && return 0
		[ "$(date +%s)" -le $_end ] || return 1
		sleep 0.1
	done
}
# round PATTERN N: waits up to 300 s for the guest's N-th line matching
# PATTERN (a fio round in a loaded lab VM can take minutes).
round() {
	wait_n "$1" "$TMP/out" "$2" 300 || stop "the guest printed no '$1' line $2 (it ended or hung)"
}
