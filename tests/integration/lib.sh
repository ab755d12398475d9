# Helpers for integration tests; source from a t_*.sh.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HYVE=$ROOT/build/hyve
GUEST=$ROOT/build/testguest

need_kvm() {
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "SKIP: /dev/kvm is missing or not accessible"
		exit 77
	fi
}

need_cmd() {
	command -v "$1" >/dev/null 2>&1 || { echo "SKIP: $1 is not installed"; exit 77; }
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
