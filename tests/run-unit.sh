#!/bin/sh
# Runs cmocka unit test binaries; prints one result line each and fails if
# any test binary fails.
pass=0; fail=0; failed=""
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	n=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	if [ $rc -eq 0 ]; then
		pass=$((pass + ${n:-0}))
		echo "unit: ok   $t (${n:-0} tests)"
	else
		printf '%s\n' "$out"
		fail=$((fail + 1)); failed="$failed $t"
		echo "unit: FAIL $t (exit $rc)"
	fi
done
echo "unit: $pass tests passed in $# binaries, $fail binaries failed"
[ $fail -eq 0 ]
