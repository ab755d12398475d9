#!/bin/sh
# Runs the fuzz targets.
#   run.sh fuzz SECONDS TARGET...	each target for SECONDS, growing a
#					working corpus in build/fuzz/corpus
#   run.sh check RUNS TARGET...		replay the regressions, then RUNS
#					executions from the seeds
# Prints one line per target; exits 1 if any target found something.
# FUZZ_CPU=N pins long runs to CPU N: fuzz_devices hands every vhost-user
# message to a thread and back, which is cheaper with both on one CPU.
FZ=${FZ:-build/fuzz}
pin=
[ -n "$FUZZ_CPU" ] && pin="taskset -c $FUZZ_CPU"
mode=$1
n=$2
shift 2
fail=0
nok=0
nfail=0
mkdir -p $FZ/artifacts $FZ/logs

summary() {	# target log
	execs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$2" | tail -1 |
	    awk '{ print $2, $5 }')
	cov=$(grep -o 'cov: [0-9]*' "$2" | tail -1 | awk '{ print $2 }')
	set -- "$1" "$2" $execs
	secs=${4:-0}
	rate=0
	[ "$secs" -gt 0 ] 2>/dev/null && rate=$(( ${3:-0} / secs ))
	printf 'fuzz_%-12s execs %-10s %6s/s  cov %-6s ' "$1" "${3:-?}" \
	    "$rate" "${cov:-?}"
}

for t in "$@"; do
	bin=$FZ/fuzz_$t
	# One log per CPU: two runs of a target may share the machine.
	log=$FZ/logs/$t${FUZZ_CPU:+.cpu$FUZZ_CPU}.log
	seeds=tests/fuzz/corpus/$t
	regs=tests/fuzz/regressions/$t
	mkdir -p $seeds
	opts="-timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 -artifact_prefix=$FZ/artifacts/$t-"
	[ -f tests/fuzz/$t.dict ] && opts="$opts -dict=tests/fuzz/$t.dict"
	if [ "$mode" = check ]; then
		if [ -d $regs ] && [ -n "$(ls $regs)" ]; then
			if ! $bin $opts $regs/* >$log 2>&1; then
				echo "fuzz_$t: a regression input fails again:"
				tail -30 $log
				fail=1
				nfail=$((nfail + 1))
				continue
			fi
		fi
		# New inputs go to a scratch directory, not the seeds.
		work=$FZ/check/$t
		rm -rf $work
		mkdir -p $work
		$bin $opts -runs=$n -seed=1 $work $seeds >$log 2>&1
	else
		work=$FZ/corpus/$t
		mkdir -p $work
		$pin $bin $opts -max_total_time=$n -print_final_stats=1 \
		    $work $seeds >$log 2>&1
	fi
	rc=$?
	summary $t $log
	# A record of every long run, for docs/SECURITY.md.
	[ "$mode" = fuzz ] && printf '%s fuzz_%s %ss execs %s cov %s exit %s\n' \
	    "$(date -u +%Y-%m-%dT%H:%MZ)" $t $n "${execs% *}" "$cov" $rc \
	    >>$FZ/runs.txt
	if [ $rc -ne 0 ]; then
		echo "FAILED (exit $rc; log $log)"
		grep -m3 -E 'ERROR|invariant|SUMMARY|Test unit written' $log
		fail=1
		nfail=$((nfail + 1))
	else
		echo "ok"
		nok=$((nok + 1))
	fi
done
echo "fuzz: $nok passed, $nfail failed"
exit $fail
