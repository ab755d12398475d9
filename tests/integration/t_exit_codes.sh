# bhyve's exit codes: 0 reboot, 1 poweroff, 2 halt, 3 triple fault, 4 error,
# and debug-exit's (V << 1) | 1.
. "$(dirname "$0")/lib.sh"
need_kvm
run() {
	"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
	    -o boot.kernel="$GUEST" -o "boot.cmdline=test=$1" vm-exit \
	    </dev/null >"$TMP/out" 2>"$TMP/err"
}
for pair in reboot:0 poweroff:1 halt:2 triplefault:3; do
	t=${pair%:*}; want=${pair#*:}
	run "$t"; got=$?
	echo "test=$t -> exit $got"
	[ "$got" -eq "$want" ] || { cat "$TMP/out" "$TMP/err"; fail "test=$t: exit $got, expected $want"; }
done
# A failing guest test exits through debug-exit with 1 -> (1 << 1) | 1 = 3;
# an unknown test name is a FAIL line.
run nosuchtest; got=$?
grep -q "^FAIL nosuchtest" "$TMP/out" || fail "unknown test not reported as FAIL"
[ "$got" -eq 3 ] || fail "failing guest: exit $got, expected 3"
# A VM without debug-exit: the guest's exit write is an unknown port; with
# -e (x86.strictio) that is fatal: exit 4.
"$HYVE" -e -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -o boot.kernel="$GUEST" -o "boot.cmdline=test=uart" vm-strict \
    </dev/null >"$TMP/out" 2>"$TMP/err"; got=$?
cat "$TMP/err"
[ "$got" -eq 4 ] || fail "strictio: exit $got, expected 4"
grep -q "unhandled port" "$TMP/err" || fail "strictio: no message naming the port"
echo ok
