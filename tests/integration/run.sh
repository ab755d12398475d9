#!/bin/sh
# Runs every tests/integration/t_*.sh.  A test exits 0 to pass, 77 to skip
# (it prints why), anything else to fail.  Ends with the summary line
# "N passed, N failed, N skipped".
cd "$(dirname "$0")/../.." || exit 1
pass=0; fail=0; skip=0
: "${HYVE_TEST_TIMEOUT:=300}"
for t in tests/integration/t_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	log=build/tests/integration/$name.log
	mkdir -p build/tests/integration
	# Each test in a session of its own, so that whatever it started and
	# left behind (a failed test's hyve, say) is ended with it.
	sid=build/tests/integration/$name.sid
	rm -f "$sid"
	timeout -k 5 "$HYVE_TEST_TIMEOUT" setsid -w sh -c 'echo $$ >"$1"; exec sh "$2"' \
	    _ "$sid" "$t" >"$log" 2>&1; rc=$?
	[ -s "$sid" ] && pkill -KILL -s "$(cat "$sid")" 2>/dev/null
	case $rc in
	0)  pass=$((pass + 1)); echo "PASS $name" ;;
	77) skip=$((skip + 1)); echo "SKIP $name: $(tail -1 "$log")" ;;
	*)  fail=$((fail + 1)); echo "FAIL $name (exit $rc), log follows:"
	    sed 's/^/    /' "$log" | tail -40 ;;
	esac
done
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
