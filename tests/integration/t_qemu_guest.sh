#!/bin/sh
# The test guest under QEMU (TCG): q35 must pass every test (debug exit
# value 0, so QEMU exits 1); microvm,pcie=on must fail none (SKIP allowed).
. "$(dirname "$0")/lib.sh"
need_cmd qemu-system-x86_64
[ -f "$GUEST" ] || make -C "$ROOT" build/testguest >/dev/null || fail "cannot build $GUEST"

TESTS=uart,pci,acpi,smp,timer,rtc

# run MACHINE LOG: boots the guest, returns QEMU's exit status.
run() {
	timeout -k 5 120 qemu-system-x86_64 -M "$1" -accel tcg -m 128M -smp 2 \
	    -kernel "$GUEST" -append "test=$TESTS" -nographic -serial stdio \
	    -monitor none -device isa-debug-exit,iobase=0x501,iosize=2 \
	    -no-reboot </dev/null >"$2" 2>&1
}

run q35 "$TMP/q35.log"; rc=$?
tr -d '\r' <"$TMP/q35.log" | grep -a -E '^(PASS|FAIL|SKIP) |passed' 
[ $rc -eq 1 ] || fail "q35: QEMU exited $rc, want 1 (debug exit value 0)"
tr -d '\r' <"$TMP/q35.log" | grep -a -q '^6 passed, 0 failed$' ||
    fail "q35: summary is not '6 passed, 0 failed'"

run microvm,pcie=on "$TMP/microvm.log"; rc=$?
tr -d '\r' <"$TMP/microvm.log" | grep -a -E '^(PASS|FAIL|SKIP) |passed'
grep -a -q '^FAIL ' "$TMP/microvm.log" && fail "microvm: a test failed"
tr -d '\r' <"$TMP/microvm.log" | grep -a -q -E '^[0-9]+ passed, 0 failed' ||
    fail "microvm: no summary line with 0 failed"
[ $rc -eq 1 ] || fail "microvm: QEMU exited $rc, want 1 (debug exit value 0)"
echo "qemu guest: ok"
