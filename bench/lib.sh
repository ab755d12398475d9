# Helpers the bench scripts share; sourced.

# tree PID: PID and all its descendants, from one ps.
tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
	    { parent[$1] = $2 }
	    END { for (p in parent) { q = p
		    while (q != "" && q != root && q != 0 && q != 1) q = parent[q]
		    if (q == root) print p } }'
}
# pss PID...: the memory of these processes in KiB: the sum of their Pss,
# except that hyve's guest RAM (the file "hyve-ram", a memfd or a file on
# a tmpfs of its own) counts as all the file holds, once per file.  A
# restore writes RAM into the file without mapping it, so Pss alone would
# miss every page the guest has not touched since (PSS counts mapped pages
# only).
pss() {
	_base=$(for p in "$@"; do cat /proc/$p/smaps 2>/dev/null; done |
	    awk '/^[0-9a-f]+-[0-9a-f]+ / { ram = /hyve-ram \(deleted\)$/ }
		$1 == "Pss:" && !ram { s += $2 } END { print s + 0 }')
	# A find per process: a readlink per descriptor took seconds in
	# the lab VM, where the guest had often powered off by the end.
	for p in "$@"; do
		find /proc/$p/fd -lname "*hyve-ram (deleted)" 2>/dev/null
	done | xargs -r stat -L -c '%d:%i %b %B' 2>/dev/null |
	    sort -u -k1,1 | awk -v base="$_base" \
	    '{ s += $2 * $3 / 1024 } END { print base + s }'
}

# Huge pages for a memfd (vublk's guest memory in part 3): Debian's
# default policy, never, gives it none (hyve's own guest RAM has them
# from a tmpfs of its own).  thp_advise sets advise where the
# policy is never and remembers it in THP_WAS; thp_restore puts it back.
# Call thp_restore from the script's exit path too.
THP=/sys/kernel/mm/transparent_hugepage/shmem_enabled
THP_WAS=""
# thp_now: the policy in force (the word in brackets).
thp_now() { sed -n 's/.*\[\(.*\)\].*/\1/p' "$THP" 2>/dev/null; }
thp_advise() {
	[ "$(thp_now)" = never ] && echo advise 2>/dev/null >"$THP" && THP_WAS=never
}
thp_restore() {
	[ -z "$THP_WAS" ] || echo "$THP_WAS" >"$THP"
	THP_WAS=""
}
