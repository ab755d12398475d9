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
	timeout -k 5 "$HYVE_TEST_TIMEOUT" sh "$t" >"$log" 2>&1; rc=$?
	case $rc in
	0)  pass=$((pass + 1)); echo "PASS $name" ;;
	77) skip=$((skip + 1)); echo "SKIP $name: $(tail -1 "$log")" ;;
	*)  fail=$((fail + 1)); echo "FAIL $name (exit $rc), log follows:"
	    sed 's/^/    /' "$log" | tail -40 ;;
	esac
done
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
