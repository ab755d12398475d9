# Helpers for the t_restart_*.sh tests; source after lib.sh.

# wait_started PATTERN: waits up to 30 s for PATTERN in the guest's output.
wait_started() {
	n=0
	until grep -q "$1" "$TMP/out" 2>/dev/null; do
		n=$((n + 1)); [ $n -gt 300 ] && return 1
		sleep 0.1
	done
}

# kill_backends HYVE_PID NAME COUNT: SIGKILLs hyve's child NAME COUNT times,
# a random 0.3-1.0 s apart, each time the one that is there now (its pid
# changes with every restart).  A kill waits until hyve has logged the
# previous restart as done, so that it never hits a backend in the middle
# of its vhost-user handshake.  One line per kill goes to $TMP/kills.
kill_backends() {
	: >"$TMP/kills"
	i=0
	while [ $i -lt "$3" ]; do
		ms=$(shuf -i 300-1000 -n 1)
		sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
		n=0
		while :; do
			kill -0 "$1" 2>/dev/null || return 1
			bp=$(ps --ppid "$1" -o pid=,comm= |
			    awk -v c="$2" '$2 == c { print $1 }')
			[ -n "$bp" ] && [ "$(grep -c "backend restarted" \
			    "$TMP/err")" -ge $i ] && break
			n=$((n + 1)); [ $n -gt 100 ] && return 1
			sleep 0.1
		done
		kill -KILL $bp && echo "kill $((i + 1)): $2 pid $bp" >>"$TMP/kills"
		i=$((i + 1))
	done
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
