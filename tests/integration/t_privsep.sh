# A compromised core must gain nothing: on a running VM the kernel shows
# the core (every thread) as the tenant with no capabilities, no_new_privs
# and seccomp; only the monitor holds a capability, and only its few; a
# restarted backend comes back as confined; the monitor refuses a swap to
# a backend binary that does not exist, and the device keeps running.
# lab: 60 s
. "$(dirname "$0")/lib.sh"
need_kvm
[ "$(id -u)" = 0 ] || { echo "SKIP: the privilege test needs root (it checks what root gives up)"; exit 77; }
CTL=$ROOT/build/hyvectl
SOCK=$TMP/vm.sock
truncate -s 4M "$TMP/a.img"
"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 3,virtio-blk,"$TMP/a.img" -s 4,virtio-rnd -o control.path="$SOCK" \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=idle' vmpriv \
    </dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
trap 'kill -9 $pid 2>/dev/null; rm -rf "$TMP"' EXIT
wait_for "idle: waiting" "$TMP/out" 30 || fail "guest never idled: $(cat "$TMP/err")"
field() { awk -v k="$2:" '$1 == k {print $2, $3, $4, $5}' "$1"; }
# status FILE WHO: the line that says what a process may do.
status() {
	echo "$2: Uid $(field "$1" Uid | cut -d' ' -f1) CapEff $(field "$1" CapEff) NoNewPrivs $(field "$1" NoNewPrivs) Seccomp $(field "$1" Seccomp)"
}
for t in /proc/$pid/task/*; do
	s=$t/status
	status "$s" "core thread ${t##*/}"
	for id in $(field "$s" Uid) $(field "$s" Gid); do
		[ "$id" != 0 ] || fail "core thread ${t##*/} runs with uid or gid 0"
	done
	for c in CapInh CapPrm CapEff CapAmb; do
		[ "$(field "$s" $c | tr -d ' ')" = 0000000000000000 ] ||
		    fail "core thread ${t##*/}: $c is $(field "$s" $c)"
	done
	[ "$(field "$s" NoNewPrivs | tr -d ' ')" = 1 ] || fail "core: no_new_privs is off"
	[ "$(field "$s" Seccomp | tr -d ' ')" = 2 ] || fail "core: no seccomp filter"
done
mon=$(ps --ppid $pid -o pid=,comm= | awk '$2 == "hyve-monitor" {print $1}')
[ -n "$mon" ] || fail "no hyve-monitor under hyve"
s=/proc/$mon/status
status "$s" "monitor $mon"
# DAC_OVERRIDE SETGID SETUID NET_ADMIN SYS_PTRACE, and an empty bounding
# set: what it starts (a new core) gains nothing by exec
for c in CapPrm CapEff; do
	[ "$(field "$s" $c | tr -d ' ')" = 00000000000810c2 ] ||
	    fail "monitor: $c is $(field "$s" $c), not the five it needs"
done
[ "$(field "$s" CapBnd | tr -d ' ')" = 0000000000000000 ] ||
    fail "monitor: its bounding set is $(field "$s" CapBnd), not empty"
[ "$(field "$s" NoNewPrivs | tr -d ' ')" = 1 ] || fail "monitor: no_new_privs is off"
[ "$(field "$s" Seccomp | tr -d ' ')" = 2 ] || fail "monitor: no seccomp filter"
# Every other process of the VM: no capability, not root.
check_backends() {
	n=0
	for b in $(ps --ppid $pid -o pid=,comm= | awk '$2 ~ /^hyve-(blk|rnd)$/ {print $1}'); do
		s=/proc/$b/status
		status "$s" "backend $b"
		for id in $(field "$s" Uid); do [ "$id" != 0 ] || fail "backend $b runs as root"; done
		[ "$(field "$s" CapEff | tr -d ' ')" = 0000000000000000 ] || fail "backend $b holds capabilities"
		[ "$(field "$s" CapBnd | tr -d ' ')" = 0000000000000000 ] || fail "backend $b has a bounding set"
		n=$((n + 1))
	done
	[ $n -eq 2 ] || fail "expected 2 backends, found $n"
}
check_backends
old=$(ps --ppid $pid -o pid=,comm= | awk '$2 == "hyve-rnd" {print $1}')
"$CTL" --socket "$SOCK" restart vmpriv rnd0 || fail "restart failed"
new=$(ps --ppid $pid -o pid=,comm= | awk '$2 == "hyve-rnd" {print $1}')
[ -n "$new" ] && [ "$new" != "$old" ] || fail "restart did not start a new hyve-rnd"
check_backends
"$CTL" --socket "$SOCK" swap vmpriv rnd0 --backend /nonexistent/hyve-rnd >"$TMP/bad" 2>&1 &&
    fail "a swap to a missing binary was accepted"
grep -q "/nonexistent/hyve-rnd" "$TMP/bad" || fail "bad swap: $(cat "$TMP/bad")"
"$CTL" --socket "$SOCK" audit vmpriv >"$TMP/audit" || { cat "$TMP/audit"; fail "hyvectl audit failed"; }
grep -q "^core vmpriv (pid $pid): OK" "$TMP/audit" || fail "audit: no core line: $(head -3 "$TMP/audit")"
grep -q "^monitor monitor (pid $mon): OK" "$TMP/audit" || fail "audit: no monitor line"
kill -TERM $pid
wait $pid; rc=$?
[ $rc -eq 1 ] || fail "hyve exited $rc"
[ ! -e "$SOCK" ] || fail "the control socket was left behind"
echo ok
