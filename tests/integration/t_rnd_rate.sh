# virtio-rnd's rate limit: at 4096 bytes per second, the guest's two 4 KiB
# reads cannot both be served within the first 0.75 s.
. "$(dirname "$0")/lib.sh"
need_kvm
t0=$(date +%s%N)
"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 4,virtio-rnd,rate=4096 -o boot.kernel="$GUEST" -o 'boot.cmdline=test=rng' \
    vmrate </dev/null >"$TMP/out" 2>"$TMP/err"; rc=$?
t1=$(date +%s%N)
cat "$TMP/out" "$TMP/err"
[ $rc -eq 1 ] && grep -qx "1 passed, 0 failed" "$TMP/out" || fail "rng failed with a rate limit"
ms=$(( (t1 - t0) / 1000000 ))
echo "8 KiB at 4096 B/s took $ms ms"
[ $ms -ge 750 ] || fail "the rate limit did not slow the reads ($ms ms)"
echo ok
