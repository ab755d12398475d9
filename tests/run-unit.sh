#!/bin/sh
# Runs cmocka unit test binaries; prints one result line each and fails if
# any test binary fails or skips a test.
pass=0; fail=0; failed=""
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	n=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	# A skipped test is an untested feature: it fails the binary.
	if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^\[  SKIPPED \]'; then
		printf '%s\n' "$out" | grep -B1 '^\[  SKIPPED \]'
		rc=77
	fi
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
