# tools/labvm: the command runs as root in the lab VM, in the same
# directory, with the same environment and arguments (quotes and spaces
# intact); its output comes back on stdout without added CRs, its exit
# status is labvm's; /dev/kvm, /dev/net/tun, a private /tmp and HYVE_LAB=1
# are there, and tools/lab/waker's keys arrive.  Bad options and a timeout
# are refused with one line.
. "$(dirname "$0")/lib.sh"
LAB=$ROOT/tools/labvm
[ "$(id -u)" = 0 ] || fail "tools/labvm needs root"
[ -z "${HYVE_LAB:-}" ] || fail "run this test outside the lab VM"

echo hostonly >"$TMP/marker"
# A directory of the shared tree (this machine's /tmp is not the VM's).
WD=$ROOT/build/tests/labvm-wd
mkdir -p "$WD" && cd "$WD" || fail "cannot make $WD"
HYVE_LABTEST="a b 'c'" "$LAB" -m 1G -c 1 -l "$TMP/console" sh -c '
	echo "pwd=$(pwd)"
	echo "env=$HYVE_LABTEST"
	echo "arg=$1|$2"
	echo "uid=$(id -u) lab=$HYVE_LAB"
	[ -c /dev/kvm ] && echo kvm=yes
	[ -c /dev/net/tun ] && echo tun=yes
	# tools/lab/waker presses a key every 20 s: the keyboard interrupts.
	k() { awk "/i8042/ { n += \$2 } END { print n + 0 }" /proc/interrupts; }
	a=$(k) i=0
	while [ "$(k)" = "$a" ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(k)" != "$a" ] && echo waker=yes
	exit 7' _ "x  y" "it's" >"$TMP/out" 2>"$TMP/err"
rc=$?
cat "$TMP/out" "$TMP/err"
[ $rc -eq 7 ] || fail "labvm returned $rc, expected the command's 7"
grep -qx "pwd=$WD" "$TMP/out" || fail "the working directory was not carried over"
grep -qx "env=a b 'c'" "$TMP/out" || fail "the environment was not carried over"
grep -qx "arg=x  y|it's" "$TMP/out" || fail "the arguments were not carried over intact"
grep -qx "uid=0 lab=1" "$TMP/out" || fail "not root with HYVE_LAB=1 in the lab VM"
grep -qx "kvm=yes" "$TMP/out" || fail "no /dev/kvm in the lab VM"
grep -qx "tun=yes" "$TMP/out" || fail "no /dev/net/tun in the lab VM"
grep -qx "waker=yes" "$TMP/out" || fail "no key from tools/lab/waker within 90 s"
! grep -q "$(printf '\r')" "$TMP/out" || fail "CRs were added to the output"
grep -q "labvm: running" "$TMP/console" || fail "the console log $TMP/console is empty"

# The VM's /tmp is its own: this machine's file is not there.
"$LAB" -m 1G -c 1 -l "$TMP/console" test -e "$TMP/marker" && fail "the host's /tmp is visible in the lab VM"

# Bad input and a timeout: one line, 125 and 124.
"$LAB" -m lots true 2>"$TMP/err"; rc=$?
[ $rc -eq 125 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q -- "-m lots" "$TMP/err" ||
    fail "-m lots: exit $rc: $(cat "$TMP/err")"
"$LAB" 2>"$TMP/err"; rc=$?
[ $rc -eq 125 ] && grep -q usage "$TMP/err" || fail "no command: exit $rc: $(cat "$TMP/err")"
"$LAB" -m 1G -c 1 -t 20 -l "$TMP/console" sleep 600 2>"$TMP/err"; rc=$?
[ $rc -eq 124 ] && grep -q "did not finish within 20 s" "$TMP/err" ||
    fail "a command past -t: exit $rc: $(cat "$TMP/err")"
echo ok
