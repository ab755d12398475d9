# A backend that hangs (here: stopped with SIGSTOP) stops answering the
# core's once-a-second heartbeat; after the reply timeout the core kills it
# and starts a new one, and the device works again.
. "$(dirname "$0")/lib.sh"
need_kvm
SOCK=$TMP/vm.sock
"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 4,virtio-rnd -o control.path="$SOCK" -o boot.kernel="$GUEST" \
    -o 'boot.cmdline=test=idle' vmhang </dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
wait_for "idle: waiting" "$TMP/out" 300 || fail "the guest did not start"
rnd=$(ps --ppid $pid -o pid=,comm= | awk '$2 == "hyve-rnd" {print $1}')
[ -n "$rnd" ] || fail "no hyve-rnd"
kill -STOP "$rnd"
wait_for "backend restarted" "$TMP/err" 300 || { kill -9 $pid; cat "$TMP/err"; fail "the hung backend was not replaced"; }
cat "$TMP/err"
grep -q "rnd0: the backend did not answer [A-Z_]* within [0-9]* ms" "$TMP/err" ||
    fail "no hang reported"
grep -q "rnd0: killing backend pid $rnd\$" "$TMP/err" || fail "the hung backend pid $rnd was not killed"
new=$(ps --ppid $pid -o pid=,comm= | awk '$2 == "hyve-rnd" {print $1}')
[ -n "$new" ] && [ "$new" != "$rnd" ] || fail "no new hyve-rnd"
"$ROOT/build/hyvectl" --socket "$SOCK" status vmhang | grep "rnd0" | grep -q running ||
    fail "rnd0 is not running after the restart"
kill -TERM $pid
wait $pid; rc=$?
[ $rc -eq 1 ] || fail "hyve exited $rc"
echo ok
