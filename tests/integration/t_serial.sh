# COM1 to a file, to a unix socket, and to a terminal that is restored.
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd python3
K="-o boot.kernel=$GUEST -o boot.cmdline=test=uart,rtc"
# A file: output appended.
"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,"$TMP/console.log" \
    -l debug-exit $K vms </dev/null >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 1 ] || { cat "$TMP/err"; fail "file console: exit $rc"; }
grep -qx "2 passed, 0 failed" "$TMP/console.log" || fail "file console lacks the summary"
# A unix socket: a client reads what the guest prints.
python3 - "$HYVE" "$GUEST" "$TMP/com1.sock" <<'PY' || fail "unix socket console"
import os, socket, subprocess, sys, time
hyve, guest, path = sys.argv[1:4]
p = subprocess.Popen([hyve, "-m", "64M", "-s", "0,hostbridge", "-s", "31,lpc",
    "-l", "com1,unix:" + path, "-l", "debug-exit", "-o", "boot.kernel=" + guest,
    "-o", "boot.cmdline=test=idle", "vmsock"], stdin=subprocess.DEVNULL)
s = socket.socket(socket.AF_UNIX)
for _ in range(1200):       # a bound for a hang: hyve may start slowly
    try:
        s.connect(path); break
    except OSError:
        time.sleep(0.05)
s.settimeout(20)
buf = b""
while b"idle: waiting" not in buf:
    d = s.recv(4096)
    if not d: break
    buf += d
p.terminate()                       # the power button
rc = p.wait(timeout=30)
print(buf.decode(errors="replace"))
# The monitor removes the socket file (the confined core may not unlink).
gone = not os.path.exists(path)
print("socket file removed at exit:", gone)
sys.exit(0 if b"idle: waiting" in buf and rc == 1 and gone else 1)
PY
# stdio on a terminal: raw while running, restored after, even on SIGTERM.
python3 - "$HYVE" "$GUEST" <<'PY' || fail "terminal not restored"
import os, pty, subprocess, sys, termios, time
hyve, guest = sys.argv[1:3]
m, s = pty.openpty()
before = termios.tcgetattr(s)
p = subprocess.Popen([hyve, "-m", "64M", "-s", "0,hostbridge", "-s", "31,lpc",
    "-l", "com1,stdio", "-l", "debug-exit", "-o", "boot.kernel=" + guest,
    "-o", "boot.cmdline=test=idle-deaf", "vmtty"], stdin=s, stdout=s, stderr=s)
out = b""
deadline = time.time() + 20
while b"idle: waiting" not in out and time.time() < deadline:
    out += os.read(m, 4096)
during = termios.tcgetattr(s)
p.terminate(); time.sleep(0.3); p.terminate()
p.wait(timeout=30)
after = termios.tcgetattr(s)
raw = not (during[3] & termios.ICANON) and not (during[3] & termios.ECHO)
print("raw while running:", raw, "restored:", after == before)
sys.exit(0 if raw and after == before else 1)
PY
echo ok
