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
