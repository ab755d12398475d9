# The issue's acceptance command: six tests pass on a 2-vCPU VM, exit 1.
. "$(dirname "$0")/lib.sh"
need_kvm
out=$TMP/out
"$HYVE" -c 2 -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=uart,pci,acpi,smp,timer,rtc' \
    vm0 </dev/null >"$out" 2>"$TMP/err"
rc=$?
cat "$out" "$TMP/err"
[ $rc -eq 1 ] || fail "hyve exited $rc, expected 1"
for t in uart pci acpi smp timer rtc; do
	grep -qx "PASS $t" "$out" || fail "no 'PASS $t' line"
done
grep -qx "6 passed, 0 failed" "$out" || fail "no '6 passed, 0 failed' summary"
[ "$(grep -c '^PASS ' "$out")" -eq 6 ] || fail "expected exactly six PASS lines"
