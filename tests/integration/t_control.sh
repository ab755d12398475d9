# The control socket and hyvectl against a running VM: status (human and
# JSON), audit, malformed requests that must not disturb the VM, a refused
# second hyve on the same socket, and poweroff through the power button.
# HYVE_BIN overrides the hyve binary under test.
# lab: 60 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd python3
HYVE=${HYVE_BIN:-$HYVE}
CTL=$ROOT/build/hyvectl
SOCK=$TMP/vm.sock
[ -x "$CTL" ] || fail "$CTL is not built (make build/hyvectl)"

start_idle() {
	"$HYVE" -c 2 -m 64M -s 0,hostbridge -s 3,virtio-rnd -s 31,lpc -l com1,stdio \
	    -o boot.kernel="$GUEST" -o "boot.cmdline=test=idle" \
	    -o control.path="$SOCK" vm-ctl \
	    </dev/null >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	i=0
	while ! grep -q "idle: waiting" "$TMP/out" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 $pid 2>/dev/null; then
			kill -9 $pid 2>/dev/null
			cat "$TMP/err"
			fail "guest never reached idle"
		fi
		sleep 0.1
	done
	[ -S "$SOCK" ] || { kill -9 $pid; fail "no control socket at $SOCK (is control_init called in core/main.c?)"; }
}

start_idle
trap 'kill -9 $pid 2>/dev/null; [ -n "${junk:-}" ] && kill $junk 2>/dev/null; rm -rf "$TMP"' EXIT

# Guest RAM is a file with 2 MiB pages (core/vm.c), and the core maps
# what the guest touched with them.
pmd=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { ram = / \/hyve-ram \(deleted\)$/ }
    ram && $1 == "ShmemPmdMapped:" { kb += $2 } END { print kb + 0 }' /proc/$pid/smaps)
echo "guest RAM mapped in 2 MiB pages: $pmd KiB"
[ "$pmd" -ge 2048 ] || fail "the core maps no guest RAM in 2 MiB pages ($pmd KiB)"

# Socket mode 0600.
mode=$(stat -c %a "$SOCK")
[ "$mode" = 600 ] || fail "control socket mode is $mode, expected 600"

# status, human form.
"$CTL" --socket "$SOCK" status vm-ctl >"$TMP/st" || fail "hyvectl status: exit $?"
cat "$TMP/st"
grep -q "^vm-ctl: running, pid $pid" "$TMP/st" || fail "status does not show vm-ctl running as pid $pid"
grep -q "2 cpu(s), 64M memory ([0-9.]*[KM] held by the host)" "$TMP/st" ||
    fail "status does not show 2 cpus, 64M and what the host holds of it"
grep -q "hostbridge" "$TMP/st" || fail "status does not list the hostbridge"

# status --json: parsed by python.
"$CTL" --socket "$SOCK" status vm-ctl --json >"$TMP/st.json" || fail "status --json: exit $?"
python3 - "$TMP/st.json" "$pid" <<'EOF' || fail "status --json is wrong"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["name"] == "vm-ctl", r
assert r["pid"] == int(sys.argv[2]), r
assert r["cpus"] == 2 and r["memory"] == 64 << 20, r
# The guest ran: the host holds some of its RAM, not more than all.
assert 0 < r["memory_held"] <= r["memory"], r
assert r["state"] == "running", r
slots = {d["slot"]: d for d in r["devices"]}
assert slots["0:0:0"]["emulation"] == "hostbridge", slots
assert slots["0:31:0"]["emulation"] == "lpc", slots
rnd = slots["0:3:0"]
assert rnd["name"] == "rnd0" and rnd["emulation"] == "virtio-rnd", rnd
assert rnd["state"] == "running" and rnd["pid"] > 0, rnd
EOF

# list: a live VM and a stale socket.
"$CTL" --socket "$SOCK" list >"$TMP/ls" || fail "list: exit $?"
cat "$TMP/ls"
grep -q "^vm-ctl  *$pid  *2  *64M  *rnd0" "$TMP/ls" || fail "list does not show vm-ctl"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TMP/old.sock"
"$CTL" --socket "$TMP/old.sock" list | grep -q "^old .*stale socket" ||
    fail "list does not report a stale socket"

# audit: the core is listed with a verdict.
"$CTL" --socket "$SOCK" audit vm-ctl --json >"$TMP/au.json"; rc=$?
[ $rc -le 1 ] || fail "audit --json: exit $rc"
python3 - "$TMP/au.json" "$pid" <<'EOF' || fail "audit --json is wrong"
import json, sys
r = json.load(open(sys.argv[1]))
p = r["processes"][0]
assert p["role"] == "core" and p["pid"] == int(sys.argv[2]), p
assert p["verdict"] in ("OK", "FAIL"), p
assert p["audit"]["pid"] == p["pid"], p
roles = [q["role"] for q in r["processes"]]
assert roles == ["core", "monitor", "rnd"], roles
for q in r["processes"]:
    assert q["verdict"] == "OK" or q["reason"], q
EOF
"$CTL" --socket "$SOCK" audit vm-ctl >"$TMP/au" ; rc=$?
[ $rc -le 1 ] || fail "audit: exit $rc"
grep -q "^core vm-ctl (pid $pid): \(OK\|FAIL\)" "$TMP/au" || fail "audit does not show the core"
grep -q "^monitor [^ ]* (pid [0-9]*): \(OK\|FAIL\)" "$TMP/au" || fail "audit does not show the monitor"
grep -q "^rnd rnd0 (pid [0-9]*): \(OK\|FAIL\)" "$TMP/au" || fail "audit does not show rnd0"

# Malformed requests get JSON errors; the VM carries on.  One python for
# all of them: each start of it takes seconds in the lab VM.
python3 - "$SOCK" <<'EOF' || fail "a malformed request did not get its error"
import socket, sys

def raw(req):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    try:
        # The core may answer and hang up before it has read all of a long line.
        s.sendall(req)
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    out = b''
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        out += b
    s.close()
    return out.decode('utf-8', 'replace')

cases = [
    (b'hello\n', 'not valid JSON'),
    (b'[1]\n', 'must be a JSON object'),
    (b'{"cmd":"status"}\n', r'no \"version\"'),
    (b'{"version":2,"cmd":"status"}\n', 'version 2 is not supported'),
    (b'{"version":1}\n', r'no \"cmd\"'),
    (b'{"version":1,"cmd":1}\n', 'must be a string'),
    (b'{"version":1,"cmd":"reboot"}\n', 'unknown cmd'),
    (b'{"version":1,"cmd":"st\xffx"}\n', 'not valid JSON'),
    (b'{"version":1,\x00"cmd":"status"}\n', 'NUL byte'),
    (b'{"version":1,"cmd":"status","vm":"other"}\n', r'not \"other\"'),
    (b'x' * 70000, 'longer than'),
]
bad = 0
for req, want in cases:
    out = raw(req)
    if '"ok":false' not in out or want not in out:
        print("FAIL: '%s': expected an error with '%s' in: %s" %
              (req[:60].decode('latin-1'), want, out))
        bad = 1
sys.exit(bad)
EOF
# A client that never finishes its line and one that never reads.
# Both stay connected until killed; "ready" once b's socket is full.
python3 - "$SOCK" "$TMP/junk" <<'EOF' &
import socket, sys, time
a = socket.socket(socket.AF_UNIX); a.connect(sys.argv[1]); a.sendall(b'{"vers')
b = socket.socket(socket.AF_UNIX); b.connect(sys.argv[1])
b.settimeout(0.2)
try:
    for i in range(20000):
        b.send(b'{"version":1,"cmd":"status"}\n')
except Exception:
    pass
open(sys.argv[2], 'w').write('ready\n')
time.sleep(600)
EOF
junk=$!
wait_for ready "$TMP/junk" 120 || fail "the slow clients did not connect within 120 s"
"$CTL" --socket "$SOCK" status vm-ctl >/dev/null || fail "status while slow clients are connected: exit $?"
kill $junk 2>/dev/null; wait $junk 2>/dev/null
kill -0 $pid || fail "hyve died after malformed requests"

# Usage errors and unreachable VMs.
expect_exit 2 "$CTL" frobnicate vm-ctl
expect_exit 2 "$CTL" status
expect_exit 2 "$CTL" status vm-ctl --force
expect_exit 3 "$CTL" --socket "$TMP/nope.sock" status vm-ctl
"$CTL" --socket "$TMP/nope.sock" status vm-ctl 2>&1 | grep -q "$TMP/nope.sock" ||
    fail "the unreachable message does not name the socket"
expect_exit 1 "$CTL" --socket "$SOCK" status other-vm

# A second hyve on the same socket is refused; the first keeps it.
"$HYVE" -m 64M -s 0,hostbridge -o boot.kernel="$GUEST" \
    -o control.path="$SOCK" vm-ctl2 </dev/null >/dev/null 2>"$TMP/err2"
rc=$?
[ $rc -ne 0 ] || fail "a second hyve started on a live control socket"
grep -q "in use by another hyve" "$TMP/err2" || { cat "$TMP/err2"; fail "no 'in use' message"; }
"$CTL" --socket "$SOCK" status vm-ctl >/dev/null || fail "the first hyve lost its socket"

# poweroff presses the button: the idle guest powers off through S5.
"$CTL" --socket "$SOCK" poweroff vm-ctl >"$TMP/po" || fail "poweroff: exit $?"
grep -q "power button pressed" "$TMP/po" || fail "poweroff said: $(cat "$TMP/po")"
wait $pid; rc=$?
cat "$TMP/err"
[ $rc -eq 1 ] || fail "hyvectl poweroff: hyve exit $rc, expected 1"
grep -q "ACPI S5" "$TMP/err" || fail "the guest did not power off through ACPI S5"
[ ! -e "$SOCK" ] || fail "the control socket was not removed on exit"

# poweroff --force ends it at once.
start_idle
"$CTL" --socket "$SOCK" poweroff vm-ctl --force >/dev/null ||
    { rc=$?; wait $pid; cat "$TMP/err"; fail "poweroff --force: exit $rc"; }
wait $pid; rc=$?
[ $rc -eq 1 ] || fail "poweroff --force: hyve exit $rc, expected 1"
grep -q "forced by hyvectl" "$TMP/err" || fail "no 'forced by hyvectl' message"
expect_exit 3 "$CTL" --socket "$SOCK" status vm-ctl
echo ok
