#!/bin/sh
# Runs tests/integration/t_*.sh, or the tests named.  A test exits 0 to
# pass, 77 to skip (it prints why), anything else to fail.  Tests that need
# KVM (they call need_kvm) run on /dev/kvm where it is usable; where it is
# not, they run in lab VMs (tools/labvm, docs/LAB.md), two at once on a
# machine with two cores, the others here.  Ends with the summary line "integration: N passed, N failed, N skipped".
cd "$(dirname "$0")/../.." || exit 1
: "${HYVE_TEST_TIMEOUT:=300}"
: "${HYVE_LAB_TIMEOUT:=2700}"
pass=0; fail=0; skip=0
where=""
[ -n "${HYVE_LAB:-}" ] && where=" (lab VM)"
mkdir -p build/tests/integration

run_one() {
	name=$(basename "$1" .sh)
	log=build/tests/integration/$name.log
	# Each test in a session of its own, so that whatever it started and
	# left behind (a failed test's hyve, say) is ended with it.
	sid=build/tests/integration/$name.sid
	rm -f "$sid"
	# A test may ask for longer than the default: "# timeout: N s".
	tmo=$(sed -n 's/^# timeout: \([0-9]*\) s$/\1/p' "$1" | head -n 1)
	t0=$(date +%s)
	timeout -k 5 "${tmo:-$HYVE_TEST_TIMEOUT}" setsid -w sh -c 'echo $$ >"$1"; exec sh "$2"' \
	    _ "$sid" "$1" >"$log" 2>&1; rc=$?
	[ -s "$sid" ] && pkill -KILL -s "$(cat "$sid")" 2>/dev/null
	took="$(($(date +%s) - t0)) s"
	case $rc in
	0)  pass=$((pass + 1)); echo "PASS $name$where, $took" ;;
	77) skip=$((skip + 1)); echo "SKIP $name$where, $took: $(tail -1 "$log")" ;;
	*)  fail=$((fail + 1)); echo "FAIL $name$where (exit $rc), $took, log follows:"
	    sed 's/^/    /' "$log" | tail -40 ;;
	esac
}

# lab_round SECONDS LOG OUT TEST...: runs the tests in one lab VM with its
# console in LOG, appending what it printed to OUT and labvm's status to
# OUT.rc.
lab_round() {
	t=$1 l=$2 o=$3
	shift 3
	{ tools/labvm -t "$t" -l "$l" sh tests/integration/run.sh "$@"; echo $? >"$o.rc"; } 2>&1 |
	    tee -a "$o" | grep --line-buffered -v '^integration: [0-9]* passed'
}

# result TEST: PASS, SKIP or FAIL as a lab VM reported it, or nothing.
result() {
	sed -n "s/^\(PASS\|SKIP\|FAIL\) $(basename "$1" .sh) (lab VM).*/\1/p" $lab_outs | head -n 1
}

# weight TEST: about how many seconds it takes in the lab VM ("# lab: N s"
# in the test; 20 if it does not say).
weight() {
	w=$(sed -n 's/^# lab: \([0-9]*\) s$/\1/p' "$1" | head -n 1)
	echo "${w:-20}"
}

# shard N TEST...: splits the tests over N lab VMs, the longest first, each
# to the VM with the least work so far; writes the lists to $dir/shard.K.
shard() {
	n=$1
	shift
	for t in "$@"; do echo "$(weight "$t") $t"; done | sort -rn |
	    awk -v n="$n" -v d="$dir" '
		BEGIN { for (k = 1; k <= n; k++) printf "" >(d "/shard." k) }
		{ b = 1; for (k = 2; k <= n; k++) if (load[k] < load[b]) b = k
		  load[b] += $1; print $2 >(d "/shard." b) }'
}

# in_lab TEST...: runs the tests in HYVE_LAB_VMS lab VMs at once (one per
# core of this machine, at most 2: each has one vCPU) and counts what they
# reported, test by test.  When a lab VM itself stops early (labvm's 125:
# QEMU's emulation, not a test, ended it), the tests it did not finish run
# once more in a new one, and the line above them says so; a test that
# failed is never run again.
in_lab() {
	dir=build/tests/integration
	n=${HYVE_LAB_VMS:-$(nproc)}
	[ "$n" -le 2 ] || n=2
	[ "$n" -le $# ] || n=$#
	end=$(($(date +%s) + HYVE_LAB_TIMEOUT))
	echo "integration: no usable /dev/kvm here; $# tests run in $n lab VM(s)" \
	    "(consoles: build/lab/console.K.log)"
	shard "$n" "$@"
	lab_outs=""
	k=1
	while [ $k -le "$n" ]; do
		: >"$dir/lab.$k.out"
		lab_outs="$lab_outs $dir/lab.$k.out"
		# shellcheck disable=SC2046
		lab_round "$HYVE_LAB_TIMEOUT" "build/lab/console.$k.log" "$dir/lab.$k.out" \
		    $(cat "$dir/shard.$k") &
		k=$((k + 1))
	done
	wait
	left=""
	k=1
	while [ $k -le "$n" ]; do
		if [ "$(cat "$dir/lab.$k.out.rc")" = 125 ]; then
			for t in $(cat "$dir/shard.$k"); do
				[ -n "$(result "$t")" ] || left="$left $t"
			done
		fi
		k=$((k + 1))
	done
	now=$(date +%s)
	if [ -n "$left" ] && [ $((end - now)) -ge 120 ]; then
		first=${left# }
		# shellcheck disable=SC2086
		echo "integration: a lab VM stopped before $(basename "${first%% *}" .sh) reported;" \
		    "the $(echo $left | wc -w) tests it did not finish run again in a new one" \
		    "(console: build/lab/console.again.log)"
		: >"$dir/lab.again.out"
		lab_outs="$lab_outs $dir/lab.again.out"
		# shellcheck disable=SC2086
		lab_round $((end - now)) build/lab/console.again.log "$dir/lab.again.out" $left
	fi
	for t in "$@"; do
		case $(result "$t") in
		PASS) pass=$((pass + 1)) ;;
		SKIP) skip=$((skip + 1)) ;;
		FAIL) fail=$((fail + 1)) ;;
		*)    fail=$((fail + 1))
		      echo "FAIL $(basename "$t" .sh) (lab VM): the VM stopped before it reported" ;;
		esac
	done
}

[ $# -gt 0 ] || set -- tests/integration/t_*.sh
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	for t in "$@"; do run_one "$t"; done
else
	lab=""
	for t in "$@"; do
		if grep -q '^[[:space:]]*need_kvm' "$t"; then
			lab="$lab $t"
		else
			run_one "$t"
		fi
	done
	# shellcheck disable=SC2086
	[ -z "$lab" ] || in_lab $lab
fi
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
