# Helpers for integration tests; source from a t_*.sh.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HYVE=$ROOT/build/hyve
GUEST=$ROOT/build/testguest

# need_kvm: where /dev/kvm is not usable, runs this test again in the lab VM
# (tools/labvm), whose kernel has KVM; never skips.
need_kvm() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] && return 0
	[ -z "${HYVE_LAB:-}" ] || fail "/dev/kvm is not usable even in the lab VM"
	echo "no usable /dev/kvm here: running $0 in the lab VM (tools/labvm)"
	rm -rf "$TMP"
	exec "$ROOT/tools/labvm" sh "$0"
}

need_cmd() {
	command -v "$1" >/dev/null 2>&1 || { echo "SKIP: $1 is not installed"; exit 77; }
}

# need_netns: skips unless a private network namespace with taps can be made.
need_netns() {
	need_cmd unshare
	need_cmd ip
	[ -c /dev/net/tun ] || { echo "SKIP: /dev/net/tun is missing"; exit 77; }
	unshare -n true 2>/dev/null ||
	    { echo "SKIP: cannot create a network namespace (unshare -n)"; exit 77; }
}

# netns_script FILE [TAP]: starts FILE, a script to run with "unshare -n sh
# FILE": loopback up and, given TAP, a tap of that name (vnet_hdr) up.
netns_script() {
	if [ -z "$2" ]; then
		echo "ip link set lo up" >"$1"
		return 0
	fi
	cat >"$1" <<SCRIPT
set -e
ip link set lo up
ip tuntap add dev $2 mode tap vnet_hdr
ip link set $2 up
set +e
SCRIPT
}

# wait_for PATTERN FILE SECONDS: waits until grep finds PATTERN in FILE;
# 1 if it did not within SECONDS.
wait_for() {
	_n=0
	until grep -q "$1" "$2" 2>/dev/null; do
		_n=$((_n + 1)); [ $_n -gt $(($3 * 10)) ] && return 1
		sleep 0.1
	done
}

fail() {
	echo "FAIL: $*"
	exit 1
}

# expect_exit CODE CMD...: runs CMD, fails unless it exits with CODE.
expect_exit() {
	want=$1; shift
	"$@"; got=$?
	[ "$got" -eq "$want" ] || fail "expected exit $want, got $got from: $*"
}

TMP=$(mktemp -d /tmp/hyve-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# python3 may be pyenv's shim, a bash script that runs a dozen commands before
# the interpreter: about a minute a call in the lab VM, where t_control's
# twenty calls ran past the suite's 300 s.  So the tests run the interpreter
# itself, found once: on this machine, or once per lab VM (its /tmp is its
# own), and passed on to the lab VM in HYVE_PYTHON3.
if [ -z "${HYVE_PYTHON3:-}" ] && command -v python3 >/dev/null 2>&1; then
	HYVE_PYTHON3=$(cat /tmp/hyve-python3 2>/dev/null)
	if [ -z "${HYVE_LAB:-}" ] || [ ! -x "$HYVE_PYTHON3" ]; then
		HYVE_PYTHON3=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
		[ -n "${HYVE_LAB:-}" ] && [ -x "$HYVE_PYTHON3" ] &&
		    echo "$HYVE_PYTHON3" >"$TMP/py" && mv "$TMP/py" /tmp/hyve-python3
	fi
fi
if [ -x "${HYVE_PYTHON3:-}" ]; then
	export HYVE_PYTHON3
	mkdir -p "$TMP/bin" && ln -s "$HYVE_PYTHON3" "$TMP/bin/python3" &&
	    PATH=$TMP/bin:$PATH
fi
