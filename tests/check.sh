#!/bin/sh
# make check: unit tests, the same under ASan+UBSan, then integration tests
# with real processes.  Ends with one line "check: N passed, N failed,
# N skipped" counting unit tests and integration tests; exits non-zero if
# anything failed.
mkdir -p build
rc=0
make --no-print-directory unit 2>&1 | tee build/check-unit.log || rc=1
make --no-print-directory unit-asan 2>&1 | tee build/check-asan.log || rc=1
make --no-print-directory integration 2>&1 | tee build/check-int.log || rc=1
# tee hides make's status: look at the logs' own summaries too.
count() { sed -n "$2" "$1" | tail -1; }
up=$(count build/check-unit.log 's/^unit: \([0-9]*\) tests passed in [0-9]* binaries, \([0-9]*\) binaries failed/\1/p')
uf=$(count build/check-unit.log 's/^unit: [0-9]* tests passed in [0-9]* binaries, \([0-9]*\) binaries failed/\1/p')
ap=$(count build/check-asan.log 's/^unit: \([0-9]*\) tests passed in [0-9]* binaries, \([0-9]*\) binaries failed/\1/p')
af=$(count build/check-asan.log 's/^unit: [0-9]* tests passed in [0-9]* binaries, \([0-9]*\) binaries failed/\1/p')
ip=$(count build/check-int.log 's/^integration: \([0-9]*\) passed.*/\1/p')
if_=$(count build/check-int.log 's/^integration: [0-9]* passed, \([0-9]*\) failed.*/\1/p')
is=$(count build/check-int.log 's/^integration: .* failed, \([0-9]*\) skipped/\1/p')
for v in "$up" "$uf" "$ap" "$af" "$ip" "$if_" "$is"; do
	[ -n "$v" ] || { rc=1; echo "check: a test stage did not report its results"; }
done
pass=$(( ${up:-0} + ${ap:-0} + ${ip:-0} ))
failed=$(( ${uf:-0} + ${af:-0} + ${if_:-0} ))
[ "$failed" -eq 0 ] || rc=1
[ $rc -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "check: $pass passed, $failed failed, ${is:-0} skipped"
exit $rc
