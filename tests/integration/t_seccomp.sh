# A backend that breaks its seccomp rules is killed, and the core names the
# syscall; one that keeps dying is marked failed after restart.max deaths
# while the VM and its other devices go on working.  The disk has two
# queues (two vCPUs, so the guest uses both): hyve-blk's queue threads,
# started after confinement, run under its filter.
. "$(dirname "$0")/lib.sh"
need_kvm
truncate -s 4M "$TMP/disk.img"
"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -c 2 -s 3,virtio-blk,"$TMP/disk.img",queues=2 \
    -s 4,virtio-rnd,debug_seccomp=on \
    -o restart.max=3 -o boot.kernel="$GUEST" -o 'boot.cmdline=test=rng,blk' \
    vmsc </dev/null >"$TMP/out" 2>"$TMP/err"; rc=$?
cat "$TMP/out" "$TMP/err"
grep -q "backend rnd0 (pid [0-9]*) killed by seccomp: openat" "$TMP/err" ||
    fail "the core did not name the forbidden syscall"
[ "$(grep -c "killed by seccomp: openat" "$TMP/err")" -ge 4 ] ||
    fail "expected 4 seccomp deaths (restart.max=3, then failed)"
grep -q "rnd0: backend died 4 times in 60 s; giving up (device failed" "$TMP/err" ||
    fail "the crash loop did not mark the device failed"
grep -q "rnd0: .*DEVICE_NEEDS_RESET" "$TMP/err" || fail "the guest was not told"
grep -qx "PASS blk" "$TMP/out" || fail "the other device stopped working"
grep -q "^FAIL rng" "$TMP/out" || fail "the failed device's test did not fail"
[ $rc -eq 3 ] || fail "exit $rc, expected 3 (a guest test failed)"
echo ok
