# Helpers for the tests that restart backends under load; source after
# lib.sh and set SOCK (hyve's control socket), VM (its name), DEV (the
# device: blk0, net0, rnd0) and, once hyve runs, HPID (its pid).
#
# Nothing here guesses how long something takes.  A backend restart takes
# about 10 ms on hardware and seconds in the lab VM (QEMU/TCG, nested KVM),
# and a loaded machine is slower still; so every step waits for an event --
# a line in a log, a restart counted by hyvectl, requests the device
# completed -- and WAIT_S only bounds a wait so that a broken run ends.
# The guest's stress tests run until the power button (hyvectl poweroff):
# the test decides when the load has seen enough, not a clock.
CTL=$ROOT/build/hyvectl
WAIT_S=${HYVE_TEST_WAIT_S:-600}

# field N: column N of DEV's row in hyvectl status (4 pid, 5 state,
# 6 restarts).
field() {
	"$CTL" --socket "$SOCK" status "$VM" 2>/dev/null |
	    awk -v d="$DEV" -v n="$1" '$1 == d { print $n }'
}

# served: the requests DEV's backends have completed so far.
served() {
	"$CTL" --socket "$SOCK" stats "$VM" 2>/dev/null |
	    awk -v d="$DEV" '$1 == d { print $3 }'
}

# until_ok CMD...: runs CMD until it succeeds (0); 1 when CMD says it
# never will (2), once hyve is gone, or after WAIT_S seconds.
until_ok() {
	_end=$(($(date +%s) + WAIT_S))
	while :; do
		"$@"
		case $? in
		0) return 0 ;;
		2) return 1 ;;
		esac
		kill -0 "$HPID" 2>/dev/null || return 1
		[ "$(date +%s)" -lt $_end ] || return 1
		sleep 0.1
	done
}

# restarted N: DEV's backend is running after N restarts; 2 after more.
restarted() {
	_r=$(field 6)
	[ -n "$_r" ] && [ "$_r" -gt "$1" ] && return 2
	[ "$_r" = "$1" ] && [ "$(field 5)" = running ]
}

# served_more N: DEV has completed more than N requests.
served_more() {
	_s=$(served)
	[ -n "$_s" ] && [ "$_s" -gt "$1" ]
}

# printed PATTERN: the guest printed PATTERN.
printed() {
	grep -q "$1" "$TMP/out" 2>/dev/null || return 1
}

# wait_started PATTERN: waits until the guest printed PATTERN.
wait_started() {
	until_ok printed "$1"
}

# wait_serving: the backend there now completes the guest's requests.
wait_serving() {
	_n=$(served)
	until_ok served_more "${_n:-0}"
}

# kill_backends NAME COUNT: SIGKILLs DEV's backend, hyve's child NAME,
# COUNT times, each time the one that is there now: only once the
# previous restart is complete and the new backend has served requests of
# its own, then at a random moment up to 0.5 s later.  After the last
# kill, waits until the device serves again.  One line per kill goes to
# $TMP/kills.
kill_backends() {
	: >"$TMP/kills"
	i=0
	while [ $i -lt "$2" ]; do
		until_ok restarted $i || return 1
		bp=$(field 4)
		wait_serving || return 1
		ms=$(shuf -i 0-500 -n 1)
		sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
		ps --ppid "$HPID" -o pid=,comm= |
		    awk -v p="$bp" -v c="$1" '$1 == p && $2 == c { ok = 1 }
		    END { exit !ok }' || return 1
		kill -KILL "$bp" && echo "kill $((i + 1)): $1 pid $bp" >>"$TMP/kills"
		i=$((i + 1))
	done
	until_ok restarted $i && wait_serving
}

# stop_guest: presses the power button, which ends the guest's stress
# test; it then reports and leaves through debug-exit.
stop_guest() {
	"$CTL" --socket "$SOCK" poweroff "$VM" >/dev/null
}

# give_up WHY: ends the run that got stuck: shows hyve's status and logs,
# stops hyve and fails.
give_up() {
	_st=$("$CTL" --socket "$SOCK" status "$VM" 2>&1)
	kill -KILL "$HPID" 2>/dev/null
	wait "$HPID" 2>/dev/null
	cat "$TMP/out" "$TMP/err" "$TMP/kills" 2>/dev/null
	echo "$_st"
	fail "$1"
}

# check_kills NAME COUNT: every kill found a live backend.
check_kills() {
	got=$(wc -l <"$TMP/kills")
	[ "$got" -eq "$2" ] ||
	    fail "only $got of $2 kills hit a live $1 (did the guest end early?)"
}

# check_restarts COUNT: hyve's log says "backend restarted" COUNT times.
check_restarts() {
	got=$(grep -c "backend restarted" "$TMP/err")
	[ "$got" -eq "$1" ] ||
	    fail "hyve logged $got 'backend restarted' lines, expected $1"
}
