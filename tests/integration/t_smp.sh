# SMP and topology: every vCPU starts and runs CPL 3 code, and the MADT's
# APIC ids match the topology hyve gives the vCPUs (with gaps when a level
# is not a power of two).
. "$(dirname "$0")/lib.sh"
need_kvm
for c in 1 4 "6,sockets=2,cores=3" "4,sockets=1,cores=2,threads=2"; do
	"$HYVE" -c "$c" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio \
	    -l debug-exit -o boot.kernel="$GUEST" -o 'boot.cmdline=test=acpi,smp' \
	    vm-smp </dev/null >"$TMP/out" 2>"$TMP/err"; rc=$?
	cat "$TMP/out"
	[ $rc -eq 1 ] || { cat "$TMP/err"; fail "-c $c: exit $rc"; }
	grep -qx "2 passed, 0 failed" "$TMP/out" || fail "-c $c: smp/acpi failed"
done
echo ok
