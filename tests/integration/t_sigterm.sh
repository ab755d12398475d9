# SIGTERM presses the ACPI power button; the idle guest powers off (exit 1).
# A second SIGTERM forces the VM off.
. "$(dirname "$0")/lib.sh"
need_kvm
start_idle() {
	"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
	    -o boot.kernel="$GUEST" -o "boot.cmdline=test=$1" vm-idle \
	    </dev/null >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	i=0
	while ! grep -q "idle: waiting" "$TMP/out" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 300 ] && { kill -9 $pid; fail "guest never reached idle"; }
		sleep 0.1
	done
}
start_idle idle
kill -TERM $pid
wait $pid; rc=$?
cat "$TMP/out" "$TMP/err"
[ $rc -eq 1 ] || fail "SIGTERM: exit $rc, expected 1"
grep -q "ACPI S5" "$TMP/err" || fail "the guest did not power off through ACPI S5"

# A guest that ignores the button: the second SIGTERM forces it off.
start_idle idle-deaf
kill -TERM $pid; sleep 0.5; kill -TERM $pid
wait $pid; rc=$?
cat "$TMP/err"
[ $rc -eq 1 ] || fail "second SIGTERM: exit $rc, expected 1"
grep -q "forced power-off" "$TMP/err" || fail "no forced power-off message"
echo ok
