# The test guest's own vsock driver (tests/guest/vvsock.c) against
# hyve-vsock, packet by packet: the CID, a connection to a host echo on
# PATH_7000, a refused one (RST), and the host's CONNECT to guest port 8000
# with a line each way (tests/integration/vsockecho.py).
# lab: 30 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd python3
chmod 755 "$TMP"
mkdir -m 777 "$TMP/vs"
python3 "$ROOT/tests/integration/vsockecho.py" "$TMP/vs/v.sock" 120 >"$TMP/peer" 2>&1 &
peer=$!
wait_for "vsockecho: listening" "$TMP/peer" 60 || fail "vsockecho.py did not start: $(cat "$TMP/peer")"
"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 3,virtio-vsock,cid=5,socket="$TMP/vs/v.sock" \
    -o boot.kernel="$GUEST" -o "boot.cmdline=test=vsock vsock.cid=5" \
    vmv </dev/null >"$TMP/out" 2>"$TMP/err"; rc=$?
kill $peer 2>/dev/null
wait $peer 2>/dev/null
cat "$TMP/out"
sed 's/^/hyve: /' "$TMP/err"
sed 's/^/host: /' "$TMP/peer"
[ $rc -eq 1 ] || fail "hyve exited $rc, expected 1 (the guest's checks passed)"
grep -qx "1 passed, 0 failed" "$TMP/out" || fail "the guest's vsock test did not pass"
grep -q "echoed b'hello vsock'" "$TMP/peer" || fail "the host echo saw no 'hello vsock'"
grep -q "the guest sent b'from the guest\\\\n'" "$TMP/peer" || fail "the host did not read the guest's line on port 8000"
echo ok
