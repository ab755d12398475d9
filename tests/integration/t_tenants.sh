# Two tenants side by side: each VM's backends run as a uid of their own,
# and a process with tenant A's ids cannot signal, trace, or read tenant
# B's backends, open B's disk image or guest memory, or reach B's control
# socket.  Each refusal is asserted.
# lab: 40 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd setpriv
[ -x /usr/bin/python3 ] || { echo "SKIP: /usr/bin/python3 is missing"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: the tenant test needs root (it starts VMs as two tenants)"; exit 77; }
start() {
	truncate -s 4M "$TMP/$1.img"
	chmod 600 "$TMP/$1.img"
	"$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
	    -s 3,virtio-blk,"$TMP/$1.img" -s 4,virtio-rnd \
	    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=idle' "$1" \
	    </dev/null >"$TMP/$1.out" 2>"$TMP/$1.err" &
	last=$!
}
start tenant-a; A=$last
start tenant-b; B=$last
trap 'kill -9 $A $B 2>/dev/null; rm -rf "$TMP"' EXIT
for vm in tenant-a tenant-b; do
	i=0
	while ! grep -q "idle: waiting" "$TMP/$vm.out" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 300 ] && fail "$vm never idled: $(cat "$TMP/$vm.err")"
		sleep 0.1
	done
done
pids() { ps --ppid "$1" -o pid= | tr -d ' '; }
uid_of() { ps -o uid= -p "$1" | tr -d ' '; }
ablk=$(ps --ppid $A -o pid=,comm= | awk '$2 == "hyve-blk" {print $1}')
bblk=$(ps --ppid $B -o pid=,comm= | awk '$2 == "hyve-blk" {print $1}')
brnd=$(ps --ppid $B -o pid=,comm= | awk '$2 == "hyve-rnd" {print $1}')
ua=$(uid_of "$ablk"); ub=$(uid_of "$bblk")
echo "tenant A backends run as uid $ua, tenant B's as uid $ub"
[ -n "$ua" ] && [ -n "$ub" ] || fail "backend uids not found"
[ "$ua" != 0 ] && [ "$ub" != 0 ] || fail "a backend runs as root"
[ "$ua" != "$ub" ] || fail "both tenants' backends share uid $ua"
[ "$(uid_of "$brnd")" = "$ub" ] || fail "tenant B's backends do not share B's uid"
memfd=$(ls -l /proc/$B/fd | awk '/hyve-ram/ {print $9; exit}')
[ -n "$memfd" ] || fail "cannot find tenant B's guest memory fd"
setpriv --reuid="$ua" --regid="$ua" --clear-groups /usr/bin/python3 - "$bblk" "$B" "$memfd" \
    "$TMP/tenant-b.img" /run/hyve/tenant-b.sock <<'PY' || fail "a refusal did not hold (above)"
import ctypes, errno, os, socket, sys
bblk, bcore, memfd, img, sock = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
libc = ctypes.CDLL(None, use_errno=True)
bad = 0
def refused(what, fn):
    global bad
    try:
        fn()
    except PermissionError as e:
        print("refused: %s (%s)" % (what, e.strerror)); return
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            print("refused: %s (%s)" % (what, e.strerror)); return
        print("FAIL: %s: unexpected %s" % (what, e)); bad += 1; return
    print("FAIL: %s was allowed" % what); bad += 1
def ptrace():
    if libc.ptrace(16, bblk, None, None) != 0:   # PTRACE_ATTACH
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
refused("signal tenant B's backend", lambda: os.kill(bblk, 0))
refused("ptrace tenant B's backend", ptrace)
refused("read tenant B's backend memory", lambda: open("/proc/%d/mem" % bblk, "rb").read(1))
refused("list tenant B's backend fds", lambda: os.listdir("/proc/%d/fd" % bblk))
refused("open tenant B's disk image", lambda: open(img, "rb"))
refused("open tenant B's guest memory", lambda: open("/proc/%s/fd/%s" % (bcore, memfd), "rb"))
refused("connect to tenant B's control socket",
        lambda: socket.socket(socket.AF_UNIX).connect(sock))
sys.exit(1 if bad else 0)
PY
# Neither tenant's backends share namespaces with the other or the host.
for ns in mnt net user ipc uts; do
	a=$(readlink /proc/$ablk/ns/$ns); b=$(readlink /proc/$bblk/ns/$ns); h=$(readlink /proc/self/ns/$ns)
	[ "$a" != "$b" ] && [ "$a" != "$h" ] && [ "$b" != "$h" ] ||
	    fail "$ns namespace shared: A $a, B $b, host $h"
done
[ "$(stat -L -c %d:%i /proc/$ablk/root)" != "$(stat -c %d:%i /)" ] ||
    fail "tenant A's backend sees the host's root"
[ -z "$(ls -A /proc/$ablk/root/)" ] || fail "tenant A's backend root is not empty"
kill -TERM $A $B
wait $A; ra=$?; wait $B; rb=$?
[ $ra -eq 1 ] && [ $rb -eq 1 ] || fail "VMs exited $ra and $rb"
echo ok
