# Helpers the bench scripts share; sourced.

# tree PID: PID and all its descendants, from one ps.
tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
	    { parent[$1] = $2 }
	    END { for (p in parent) { q = p
		    while (q != "" && q != root && q != 0 && q != 1) q = parent[q]
		    if (q == root) print p } }'
}
# pss PID...: the sum of their Pss in KiB.
pss() {
	for p in "$@"; do cat /proc/$p/smaps_rollup 2>/dev/null; done |
	    awk '$1 == "Pss:" { s += $2 } END { print s + 0 }'
}

# Huge pages for shared memory, which guest RAM (a memfd) is: Debian's
# default policy, never, gives it none.  thp_advise sets advise where the
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
