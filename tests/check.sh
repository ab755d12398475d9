#!/bin/sh
# make check: unit tests, the same under ASan+UBSan, integration tests with
# real processes, and the fuzz targets briefly with every regression input.
# Ends with one line "check: N passed, N failed, N skipped"; exits non-zero
# if anything failed.
mkdir -p build
rc=0
# tee hides make's status, so each stage's own summary line is read too.
stage() {	# log target
	make --no-print-directory "$2" 2>&1 | tee "$1"
	[ "$(tail -1 "$1" | grep -c ' 0 binaries failed\| 0 failed')" -eq 1 ] || rc=1
}
count() { sed -n "$2" "$1" | tail -1; }
stage build/check-unit.log unit
stage build/check-asan.log unit-asan
stage build/check-int.log integration
stage build/check-fuzz.log fuzz-check
up=$(count build/check-unit.log 's/^unit: \([0-9]*\) tests passed in [0-9]* binaries, [0-9]* binaries failed/\1/p')
uf=$(count build/check-unit.log 's/^unit: [0-9]* tests passed in [0-9]* binaries, \([0-9]*\) binaries failed/\1/p')
ap=$(count build/check-asan.log 's/^unit: \([0-9]*\) tests passed in [0-9]* binaries, [0-9]* binaries failed/\1/p')
af=$(count build/check-asan.log 's/^unit: [0-9]* tests passed in [0-9]* binaries, \([0-9]*\) binaries failed/\1/p')
ip=$(count build/check-int.log 's/^integration: \([0-9]*\) passed.*/\1/p')
if_=$(count build/check-int.log 's/^integration: [0-9]* passed, \([0-9]*\) failed.*/\1/p')
is=$(count build/check-int.log 's/^integration: .* failed, \([0-9]*\) skipped/\1/p')
fp=$(count build/check-fuzz.log 's/^fuzz: \([0-9]*\) passed.*/\1/p')
ff=$(count build/check-fuzz.log 's/^fuzz: [0-9]* passed, \([0-9]*\) failed/\1/p')
for v in "$up" "$uf" "$ap" "$af" "$ip" "$if_" "$is" "$fp" "$ff"; do
	[ -n "$v" ] || { rc=1; echo "check: a test stage did not report its results"; }
done
pass=$(( ${up:-0} + ${ap:-0} + ${ip:-0} + ${fp:-0} ))
failed=$(( ${uf:-0} + ${af:-0} + ${if_:-0} + ${ff:-0} ))
[ "$failed" -eq 0 ] || rc=1
# A skipped test is an untested feature: it fails the check.
if [ "${is:-0}" -gt 0 ]; then
	echo "check: ${is} integration tests skipped (their SKIP lines say why); that fails the check"
	rc=1
fi
[ $rc -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
lab=$(sed -n 's/^integration: no usable \/dev\/kvm here; \([0-9]*\) tests run in .*lab VM.*/\1/p' build/check-int.log)
if [ -n "$lab" ]; then
	echo "check: no usable /dev/kvm here: $lab integration tests ran in lab VMs (tools/labvm)"
else
	echo "check: the integration tests ran on this machine's /dev/kvm"
fi
echo "check: $pass passed, $failed failed, ${is:-0} skipped"
exit $rc
