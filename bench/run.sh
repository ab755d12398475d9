#!/bin/sh
# `make bench`: every benchmark part, bounded, one table of ratios, and the
# results section of docs/PERFORMANCE.md regenerated.
#
# Environment: BENCH_RUNS (repeats, default 3; the median is used),
# BENCH_SECS (seconds per block run, default 3), BENCH_DIRS (where the 1 GiB
# block image lives: each directory is one set of block rows; default
# "/tmp /dev/shm", the disk and a RAM-backed tmpfs), BENCH_GUEST_SECS
# (seconds per case of the guest's bench-blk and bench-net, default 2),
# BENCH_E2E_DIR (where the guest's 256 MiB disk image lives, default
# /dev/shm), BENCH_KILLS (SIGKILLs of hyve-blk for the restart figure,
# default 20; QEMU gets 8, its reconnect takes a second each), BENCH_DOC
# (default docs/PERFORMANCE.md), BENCH_UPGRADES (upgrades, restores and
# QEMU migrations for part 9, default 10), BENCH_PARTS (which parts run,
# default "1 2 3 4 5 6 7 8 9 10 11"; parts 7 and 10, the Debian guest against
# QEMU, and 11, clones, need /dev/kvm and make linux-guest: run them in
# tools/labvm; the rows
# of the others are copied from the results in BENCH_DOC, or say "-" where it
# has none).
#
# Parts 1, 2, 4, 5, 6, 9, 10 and 11 need KVM: where /dev/kvm is not usable they run in
# the lab VM (tools/labvm, docs/LAB.md), under emulation, and their rows say
# so; parts 3 and 8 (the blk and net backends alone) always run here.  BENCH_SAMPLES=FILE (used
# for that) writes the raw samples to FILE instead of the table.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Debian's python3 and fio (tools/deps.sh), not others found earlier in PATH.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
B=$ROOT/build
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-3}
DIRS=${BENCH_DIRS:-/tmp /dev/shm}
GSECS=${BENCH_GUEST_SECS:-2}
E2EDIR=${BENCH_E2E_DIR:-/dev/shm}
KILLS=${BENCH_KILLS:-20}
QKILLS=8
DOC=${BENCH_DOC:-$ROOT/docs/PERFORMANCE.md}
UPGRADES=${BENCH_UPGRADES:-10}
PARTS=${BENCH_PARTS:-1 2 3 4 5 6 7 8 9 10 11}
T=$(mktemp -d /tmp/hyve-bench.XXXXXX)
S=$T/samples
trap 'rm -rf "$T"' EXIT INT TERM
: >"$S"

say() { echo "bench: $*" >&2; }
want() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
kvm_usable() { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }
# here N: part N is wanted and runs in this process.
here() { want "$1" && { [ "$1" = 3 ] || [ "$1" = 8 ] || kvm_usable; }; }
# Under the lab VM's emulation every bounded step gets ten times as long.
SLOW=1
[ -n "${HYVE_LAB:-}" ] && SLOW=10
LABPARTS=""

# stats KEY: "median min max n" of the samples named KEY, or "- - - 0".
stats() {
	awk -v k="$1" '{ key = $1; for (i = 2; i < NF; i++) key = key " " $i
		if (key == k) print $NF }' "$S" | sort -g |
	awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - - 0"; exit }
		print v[int((NR + 1) / 2)], v[1], v[NR], NR }'
}
med() { stats "$1" | cut -d' ' -f1; }
spread() { stats "$1" | awk '{ print $1 == "-" ? "-" : $1 " (" $2 "-" $3 ")" }'; }
spreadn() { stats "$1" | awk '{ print $1 == "-" ? "-" : $1 " (" $2 "-" $3 ", n=" $4 ")" }'; }
# ratio A B: A / B to 2 decimals, or "-".
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f\n", a / b }'; }
# check VALUE OP LIMIT: "met" or "MISSED".
check() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v == "-") { print "n/a"; exit }
	ok = op == "<" ? v < l : v >= l; print ok ? "met" : "MISSED" }'; }

START=$(date +%s)
say "results are medians of $RUNS runs; spread is (min-max)"

# --- part 1: launch ----------------------------------------------------------
if here 1; then
say "part 1: launch time and memory (about 1 min)"
timeout -k 5 $((240 * SLOW)) unshare -n sh "$ROOT/bench/launch.sh" "$ROOT" "$RUNS" "$T" >>"$S" 2>"$T/launch.err" ||
	say "part 1 failed or timed out: $(tail -3 "$T/launch.err")"
fi

# --- part 2: exit path -------------------------------------------------------
if here 2; then
say "part 2: exit path (about 30 s)"
if timeout -k 5 $((120 * SLOW)) "$B/bench/exitpath" 5000 $((RUNS * 10 > 64 ? 64 : RUNS * 10)) >"$T/exit.out" 2>"$T/exit.err"; then
	# Every round is a sample: the program reports median, min, max.
	awk '$1 == "exitpath" && ($2 == "bare" || $2 == "hyve") {
		print "exit", $2, "ns", $3; print "exit", $2, "ns", $4; print "exit", $2, "ns", $5 }' \
	    "$T/exit.out" >>"$S"
	awk '$2 == "ratio" { print "exit ratio", $3 }' "$T/exit.out" >>"$S"
else
	say "part 2 failed or timed out: $(tail -3 "$T/exit.err")"
fi
fi

# --- part 3: block datapath, backend alone -----------------------------------
JOBS="randread:4096:1 randread:4096:32 randwrite:4096:32 read:131072:32"
# Multiqueue: QD32 on each of 2 queues (and fio numjobs=2 iodepth=32).
MQJOBS="randread:4096:32 randwrite:4096:32"
if here 3; then
# Bounded: 4 jobs x 4 sides, the 128 KiB job's 4 KiB-page side, 2
# multiqueue jobs x 3 sides, (SECS + 1.5) s each per run, plus the image
# and the idle figures.
LIMIT=$((RUNS * 23 * (SECS + 2) + 90))
for DIR in $DIRS; do
	say "part 3: block datapath on a 1 GiB image in $DIR (about $((LIMIT / 60)) min)"
	timeout -k 5 $LIMIT sh "$ROOT/bench/blk.sh" "$ROOT" "$RUNS" "$SECS" "$DIR" "$T" "$JOBS" "$MQJOBS" >>"$S" 2>>"$T/blk.err" ||
		say "part 3 in $DIR failed or hit its ${LIMIT} s limit: $(tail -3 "$T/blk.err")"
done
fi

# --- part 4: block end to end in the guest ----------------------------------
if here 4; then
LIMIT=$((RUNS * 3 * (5 * GSECS + 25) + 30))
say "part 4: block end to end in the guest, image in $E2EDIR (about $((RUNS * 3 * (5 * GSECS + 8) / 60 + 1)) min)"
timeout -k 5 $((LIMIT * SLOW)) sh "$ROOT/bench/e2e.sh" "$ROOT" "$RUNS" "$GSECS" "$E2EDIR" "$T" >>"$S" 2>"$T/e2e.err" ||
	say "part 4 failed or hit its ${LIMIT} s limit"
[ -s "$T/e2e.err" ] && say "part 4: $(tail -3 "$T/e2e.err")"
fi

# --- part 5: network ----------------------------------------------------------
if here 5; then
LIMIT=$((RUNS * 4 * (4 * GSECS + 20) + 30))
say "part 5: network (about $((RUNS * 4 * (4 * GSECS + 5) / 60 + 1)) min)"
timeout -k 5 $((LIMIT * SLOW)) unshare -n sh "$ROOT/bench/net.sh" "$ROOT" "$RUNS" "$GSECS" "$T" >>"$S" 2>"$T/net.err" ||
	say "part 5 failed or hit its ${LIMIT} s limit"
[ -s "$T/net.err" ] && say "part 5: $(tail -3 "$T/net.err")"
fi

# --- part 6: restart ----------------------------------------------------------
if here 6; then
LIMIT=$((KILLS * 2 + QKILLS * 3 + 90))
say "part 6: backend restart, $KILLS kills on hyve and $QKILLS on QEMU (about $(((KILLS * 3 / 2 + QKILLS * 2 + 20) / 60 + 1)) min)"
timeout -k 5 $((LIMIT * SLOW)) sh "$ROOT/bench/restart.sh" "$ROOT" "$KILLS" "$QKILLS" "$T" >>"$S" 2>"$T/restart.err" ||
	say "part 6 failed or hit its ${LIMIT} s limit"
[ -s "$T/restart.err" ] && say "part 6: $(tail -3 "$T/restart.err")"
fi

# --- part 7: the Debian guest against QEMU -----------------------------------
if here 7; then
LIMIT=$((RUNS * 3 * 600))
say "part 7: Debian (make linux-guest) on hyve, QEMU q35, QEMU with hyve's backends (about $((RUNS * 3)) boots)"
timeout -k 5 $LIMIT sh "$ROOT/bench/linux.sh" "$ROOT" "$RUNS" "$T" >>"$S" 2>"$T/linux.err" ||
	say "part 7 failed or hit its ${LIMIT} s limit"
[ -s "$T/linux.err" ] && say "part 7: $(tail -3 "$T/linux.err")"
fi

# --- part 8: hyve-net alone against the tap -----------------------------------
if here 8; then
LIMIT=$((RUNS * 13 * (SECS + 3) + 30))
say "part 8: hyve-net alone against the raw tap (about $((RUNS * 10 * (SECS + 1) / 60 + 1)) min)"
timeout -k 5 $LIMIT unshare -n sh "$ROOT/bench/netalone.sh" "$ROOT" "$RUNS" "$SECS" "$T" >>"$S" 2>"$T/netalone.err" ||
	say "part 8 failed or hit its ${LIMIT} s limit"
[ -s "$T/netalone.err" ] && say "part 8: $(tail -3 "$T/netalone.err")"
fi

# --- part 9: core upgrade pause ---------------------------------------------
if here 9; then
LIMIT=$((UPGRADES * 3 * 150 + 600))
say "part 9: core upgrade pause: $UPGRADES upgrades, restores from a snapshot and QEMU local migrations (about $((UPGRADES * 3 * 4 * SLOW / 60 + 1)) min)"
timeout -k 5 $LIMIT sh "$ROOT/bench/upgrade.sh" "$ROOT" "$UPGRADES" "$T" >>"$S" 2>"$T/upgrade.err" ||
	say "part 9 failed or hit its ${LIMIT} s limit"
[ -s "$T/upgrade.err" ] && say "part 9: $(tail -3 "$T/upgrade.err")"
fi

# --- part 10: snapshot and restore of the Debian guest against QEMU -----------
if here 10; then
# A boot (1-2 min in the lab VM, at most 900 s) and, bounded by 300 s each,
# the save, the restore and the stops, per side (hyve, hyve-share, QEMU) and
# run.
LIMIT=$((RUNS * 3 * (900 + 5 * 300) + 60))
say "part 10: Debian (make linux-guest) snapshot and restore, hyve against QEMU migrate to a file (about $((RUNS * 3)) boots)"
timeout -k 5 $LIMIT sh "$ROOT/bench/snapshot.sh" "$ROOT" "$RUNS" "$T" >>"$S" 2>"$T/snapshot.err" ||
	say "part 10 failed or hit its ${LIMIT} s limit"
mkdir -p "$B/bench" && cp "$T/snapshot.err" "$B/bench/snapshot.log"
[ -s "$T/snapshot.err" ] && say "part 10: $(grep -v 'hyve -r log' "$T/snapshot.err" | tail -3) (all of it: build/bench/snapshot.log)"
fi

# --- part 11: the memory of clones --------------------------------------------
CLONES=8
if here 11; then
# A boot, the snapshot and 8 restores, each bounded by 600 s.
LIMIT=$((4 * 600 + 60))
say "part 11: $CLONES clones of one snapshot of the clone guest (make linux-guest), their memory (a few minutes)"
timeout -k 5 $LIMIT unshare -n sh "$ROOT/bench/clones.sh" "$ROOT" $CLONES "$T" >>"$S" 2>"$T/clones.err" ||
	say "part 11 failed or hit its ${LIMIT} s limit"
[ -s "$T/clones.err" ] && say "part 11: $(tail -3 "$T/clones.err")"
fi

# --- the parts that need KVM, in the lab VM where there is none here -----------
if ! kvm_usable && [ -z "${HYVE_LAB:-}" ]; then
	for p in 1 2 4 5 6 7 9 10 11; do want $p && LABPARTS="$LABPARTS $p"; done
	LABPARTS=${LABPARTS# }
fi
if [ -n "$LABPARTS" ]; then
	say "no usable /dev/kvm here: parts $LABPARTS run in the lab VM (tools/labvm), under emulation"
	mkdir -p "$B/bench"
	rm -f "$B/bench/lab.samples"
	"$ROOT/tools/labvm" -t 7200 env BENCH_PARTS="$LABPARTS" BENCH_UPGRADES="$UPGRADES" BENCH_RUNS="$RUNS" \
	    BENCH_SAMPLES="$B/bench/lab.samples" sh "$ROOT/bench/run.sh" ||
		say "the lab VM's parts failed (console: build/lab/console.log)"
	cat "$B/bench/lab.samples" >>"$S" 2>/dev/null
fi
if [ -n "${BENCH_SAMPLES:-}" ]; then
	cp "$S" "$BENCH_SAMPLES"
	exit 0
fi

# --- the table -----------------------------------------------------------------
TABLE=$T/table
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@" >>"$TABLE"; }
: >"$TABLE"
row "measure" "hyve" "baseline" "ratio hyve/baseline" "target" "verdict"
row "---" "---" "---" "---" "---" "---"

for c in nodev dev; do
	lab="no devices"; [ $c = dev ] && lab="blk+net+rnd"
	h=$(med "launch hyve-$c time_ms"); q=$(med "launch qemu-$c time_ms"); r=$(ratio "$h" "$q")
	tgt="-"; v="-"
	[ $c = dev ] && { tgt="< 25 ms and < 0.5x"; v=$(check "$h" "<" 25); [ "$v" = met ] && v=$(check "$r" "<" 0.5); }
	row "1 launch time, $lab (ms)" "$(spread "launch hyve-$c time_ms")" "QEMU microvm $(spread "launch qemu-$c time_ms")" "$r" "$tgt" "$v"
	for m in pss rss; do
		h=$(med "launch hyve-$c ${m}_kib"); q=$(med "launch qemu-$c ${m}_kib")
		hm=$(awk -v k="$h" 'BEGIN { print k == "-" ? "-" : sprintf("%.1f", k / 1024) }')
		qm=$(awk -v k="$q" 'BEGIN { print k == "-" ? "-" : sprintf("%.1f", k / 1024) }')
		np=$(med "launch hyve-$c nproc")
		tgt="-"; v="-"
		[ $c = dev ] && [ $m = pss ] && { tgt="< 12 MiB"; v=$(check "$hm" "<" 12); }
		row "1 launch memory $m, $lab (MiB, $np processes)" "$hm" "QEMU microvm $qm" "$(ratio "$h" "$q")" "$tgt" "$v"
	done
done

r=$(med "exit ratio")
row "2 exit path, port write at CPL 0 (ns/exit)" "$(spread "exit hyve ns")" "bare KVM_RUN loop $(spread "exit bare ns")" "$r" "< 1.10x" "$(check "$r" "<" 1.10)"

for DIR in $DIRS; do
	for j in $JOBS; do
		rw=${j%%:*}; rest=${j#*:}; bs=${rest%%:*}; qd=${rest#*:}
		n="blk $DIR $rw $bs $qd"
		lab="$DIR $rw $((bs / 1024)) KiB QD$qd"
		h=$(med "$n hyve iops"); q=$(med "$n qsd iops"); f=$(med "$n fio iops")
		rq=$(ratio "$h" "$q"); rf=$(ratio "$h" "$f")
		tq="-"; vq="-"
		[ "$qd" = 32 ] && [ "$bs" = 4096 ] && { tq=">= 1.2x"; vq=$(check "$rq" ">=" 1.2); }
		row "3 blk $lab IOPS vs qsd" "$(spread "$n hyve iops")" "qsd $(spread "$n qsd iops")" "$rq" "$tq" "$vq"
		row "3 blk $lab IOPS vs host fio" "$(med "$n hyve iops")" "fio $(spread "$n fio iops")" "$rf" ">= 0.90x" "$(check "$rf" ">=" 0.90)"
		p=$(med "$n hyve-poll iops")
		row "3 blk $lab IOPS, hyve-blk --poll-us ${BENCH_POLL_US:-50}" "$(spread "$n hyve-poll iops")" "fio $f" "$(ratio "$p" "$f")" ">= 0.90x" "$(check "$(ratio "$p" "$f")" ">=" 0.90)"
		k=$(med "$n hyve-4k iops")
		[ "$k" = - ] || row "3 blk $lab IOPS, guest memory in 4 KiB pages (vublk --small-pages)" "$(spread "$n hyve-4k iops")" "fio $f" "$(ratio "$k" "$f")" "-" "-"
		row "3 blk $lab MB/s" "$(med "$n hyve mbps")" "qsd $(med "$n qsd mbps"), fio $(med "$n fio mbps")" "-" "-" "-"
		row "3 blk $lab p50 / p99 latency (us)" "$(med "$n hyve p50_us") / $(med "$n hyve p99_us")" "qsd $(med "$n qsd p50_us") / $(med "$n qsd p99_us"), fio $(med "$n fio p50_us") / $(med "$n fio p99_us")" "-" "-" "-"
		# CPU per request: the backend's (all its threads, io_uring
		# workers too) and, after +, the vublk frontend's; fio's own.
		h=$(med "$n hyve cpu_us"); q=$(med "$n qsd cpu_us")
		row "3 blk $lab CPU per request (us): backend (+ vublk)" "$(spread "$n hyve cpu_us") (+ $(med "$n hyve fe_cpu_us"))" "qsd $(spread "$n qsd cpu_us") (+ $(med "$n qsd fe_cpu_us")), fio $(spread "$n fio cpu_us")" "$(ratio "$h" "$q")" "-" "-"
		row "3 blk $lab CPU per request (us), hyve-blk --poll-us ${BENCH_POLL_US:-50} (+ vublk)" "$(spread "$n hyve-poll cpu_us") (+ $(med "$n hyve-poll fe_cpu_us"))" "fio $(med "$n fio cpu_us")" "$(ratio "$(med "$n hyve-poll cpu_us")" "$(med "$n fio cpu_us")")" "-" "-"
	done
	# Multiqueue: two queues, a thread each in hyve-blk and in vublk.
	for j in $MQJOBS; do
		rw=${j%%:*}; rest=${j#*:}; bs=${rest%%:*}; qd=${rest#*:}
		n="blk $DIR $rw $bs $qd"
		lab="$DIR $rw $((bs / 1024)) KiB QD$qd per queue"
		m2=$(med "$n hyve-mq2 iops"); m1=$(med "$n hyve-mq1 iops"); f2=$(med "$n fio-2j iops")
		row "3 blk $lab, 2 queues IOPS vs 1 queue (hyve-blk --queues 2)" "$(spread "$n hyve-mq2 iops")" "1 queue $(spread "$n hyve-mq1 iops")" "$(ratio "$m2" "$m1")" "-" "-"
		row "3 blk $lab, 2 queues IOPS vs fio numjobs=2" "$m2" "fio $(spread "$n fio-2j iops")" "$(ratio "$m2" "$f2")" "-" "-"
		row "3 blk $lab, 2 queues p50 / p99 latency (us)" "$(med "$n hyve-mq2 p50_us") / $(med "$n hyve-mq2 p99_us")" "1 queue $(med "$n hyve-mq1 p50_us") / $(med "$n hyve-mq1 p99_us"), fio $(med "$n fio-2j p50_us") / $(med "$n fio-2j p99_us")" "-" "-" "-"
		h=$(med "$n hyve-mq2 cpu_us")
		row "3 blk $lab, 2 queues CPU per request (us): backend (+ vublk)" "$(spread "$n hyve-mq2 cpu_us") (+ $(med "$n hyve-mq2 fe_cpu_us"))" "1 queue $(med "$n hyve-mq1 cpu_us") (+ $(med "$n hyve-mq1 fe_cpu_us")), fio $(spread "$n fio-2j cpu_us")" "$(ratio "$h" "$(med "$n hyve-mq1 cpu_us")")" "-" "-"
	done
	h=$(med "blk $DIR idle hyve cpu_pct")
	row "3 blk $DIR idle backend, queue started (% of one CPU)" "$(spread "blk $DIR idle hyve cpu_pct")" "qsd $(spread "blk $DIR idle qsd cpu_pct")" "-" "< 1%" "$(check "$h" "<" 1)"
	h=$(med "blk $DIR idle hyve-poll cpu_pct")
	row "3 blk $DIR idle backend, hyve-blk --poll-us ${BENCH_POLL_US:-50} (% of one CPU)" "$(spread "blk $DIR idle hyve-poll cpu_pct")" "-" "-" "< 1%" "$(check "$h" "<" 1)"
done
for j in randread:4096:1 randread:4096:32 randwrite:4096:32 read:131072:16 randread-irq:4096:1; do
	rw=${j%%:*}; rest=${j#*:}; bs=${rest%%:*}; qd=${rest#*:}
	n="e2e $rw $bs $qd"
	lab="$rw $((bs / 1024)) KiB QD$qd"
	h=$(med "$n hyve iops"); q=$(med "$n qemu iops"); v=$(med "$n qemu-vu iops")
	r=$(ratio "$h" "$q")
	row "4 guest blk $lab IOPS vs QEMU built-in" "$(spread "$n hyve iops")" "QEMU virtio-blk-pci $(spread "$n qemu iops")" "$r" ">= 1.0x" "$(check "$r" ">=" 1.0)"
	row "4 guest blk $lab IOPS, hyve-blk under QEMU" "$(spread "$n qemu-vu iops")" "QEMU virtio-blk-pci $(med "$n qemu iops")" "$(ratio "$v" "$q")" "-" "-"
	row "4 guest blk $lab p50 / p99 latency (us)" "$(med "$n hyve p50_us") / $(med "$n hyve p99_us")" "QEMU $(med "$n qemu p50_us") / $(med "$n qemu p99_us"), QEMU+hyve-blk $(med "$n qemu-vu p50_us") / $(med "$n qemu-vu p99_us")" "-" "-" "-"
done

for j in tx:64:pps tx:1500:mbps rx:64:pps rx:1500:mbps; do
	d=${j%%:*}; rest=${j#*:}; sz=${rest%%:*}; m=${rest#*:}
	n="net $d $sz"
	unit="frames/s"; [ $m = mbps ] && unit="Mbit/s"
	h=$(med "$n hyve $m"); q=$(med "$n qemu $m"); r=$(ratio "$h" "$q")
	row "5 net $d $sz B ($unit)" "$(spread "$n hyve $m")" "QEMU tap netdev $(spread "$n qemu $m")" "$r" ">= 1.5x" "$(check "$r" ">=" 1.5)"
done
n="net tx-tso 65536"
h=$(med "$n hyve mbps"); q=$(med "$n qemu mbps"); r=$(ratio "$h" "$q")
hs="$(spread "$n hyve mbps"), $(med "$n hyve pps") frames/s"; qs="$(spread "$n qemu mbps"), $(med "$n qemu pps") frames/s"
[ "$h" = - ] && [ "$(med "$n hyve unsupported")" = 1 ] && hs="unsupported: no HOST_TSO4"
[ "$q" = - ] && [ "$(med "$n qemu unsupported")" = 1 ] && qs="unsupported: no HOST_TSO4"
row "5 net tx TSO, 64 KiB TCP/IPv4 frames (Mbit/s of payload)" "$hs" "QEMU tap netdev $qs" "$r" ">= 1.5x" "$(check "$r" ">=" 1.5)"

h=$(med "restart hyve ms"); q=$(med "restart qemu ms")
row "6 restart: SIGKILL of hyve-blk to first completed request (ms)" "$(spreadn "restart hyve ms")" "QEMU reconnect=1 $(spreadn "restart qemu ms")" "$(ratio "$h" "$q")" "< 50 ms" "$(check "$h" "<" 50)"
row "6 restart: guest verified every block (1 = yes), restarts logged" "$(med "restart hyve pass"), $(med "restart hyve restarts") restarts" "QEMU $(med "restart qemu pass")" "-" "1" "$(check "$(med "restart hyve pass")" ">=" 1)"

for m in init_ms:"exec to init's first line (ms)":0.5 off_ms:"exec to power off (ms)":- pss_kib:"PSS of all processes (MiB)":0.3; do
	k=${m%%:*}; rest=${m#*:}; lab=${rest%:*}; tgt=${rest##*:}
	div=1; [ $k = pss_kib ] && div=1024
	h=$(med "linux hyve $k"); q=$(med "linux qemu $k"); v=$(med "linux qemu-vu $k")
	mib() { awk -v k="$1" -v d=$div 'BEGIN { print k == "-" ? "-" : (d == 1 ? k : sprintf("%.1f", k / d)) }'; }
	r=$(ratio "$h" "$q")
	if [ "$tgt" = - ]; then t="-"; c="-"; else t="< ${tgt}x"; c=$(check "$r" "<" "$tgt"); fi
	row "7 Debian guest, $lab" "$(mib "$h")" "QEMU q35 $(mib "$q"), QEMU + hyve-blk/hyve-rnd $(mib "$v")" "$r" "$t" "$c"
	# The balloon's rows: memory only (it cannot change the time to init,
	# its driver loads later; the lab's boot-order effects swamp the rest).
	h=$(med "linux hyve-balloon $k"); b=$(med "linux qemu-balloon $k")
	[ $k != pss_kib ] && h=-
	[ "$h" = - ] || row "7 Debian guest with free page reporting (virtio-balloon) on both sides, $lab" "$(mib "$h")" "QEMU q35 + virtio-balloon-pci,free-page-reporting=on $(mib "$b")" "$(ratio "$h" "$b")" "-" "-"
	[ "$h" = - ] || row "7 Debian guest, hyve with virtio-balloon against QEMU q35 without, $lab" "$(mib "$h")" "QEMU q35 $(mib "$q")" "$(ratio "$h" "$q")" "-" "-"
	h=$(med "linux hyve-4k $k")
	[ "$h" = - ] || row "7 Debian guest, hyve with guest RAM in 4 KiB pages (memory.huge_pages=false), $lab" "$(mib "$h")" "QEMU q35 $(mib "$q")" "$(ratio "$h" "$q")" "-" "-"
done

for c in tx:64:pps tx:1500:pps rx:64:pps rx:1500:pps tso:65536:mbps; do
	d=${c%%:*}; rest=${c#*:}; sz=${rest%%:*}; m=${rest#*:}
	n="netalone $d $sz"
	if [ $d = tso ]; then lab="tx TSO, 64 KiB TCP/IPv4 frames (Mbit/s of payload)"
	else lab="$d $sz B (frames/s)"; fi
	h=$(med "$n hyve $m"); t=$(med "$n tap $m"); r=$(ratio "$h" "$t")
	row "8 net alone $lab" "$(spread "$n hyve $m")" "raw tap $(spread "$n tap $m")" "$r" ">= 0.8x" "$(check "$r" ">=" 0.8)"
	[ $d != rx ] && row "8 net alone $lab, hyve-net --tx-batch 1" "$(spread "$n hyve1 $m")" "raw tap $t" "$(ratio "$(med "$n hyve1 $m")" "$t")" "-" "-"
	h=$(med "$n hyve cpu_us"); tc=$(med "$n tap cpu_us")
	row "8 net alone $d $sz B CPU per frame (us): hyve-net (+ vunet)" "$(spread "$n hyve cpu_us") (+ $(med "$n hyve fe_cpu_us"))" "raw tap $(spread "$n tap cpu_us")" "$(ratio "$h" "$tc")" "-" "-"
	[ $d != rx ] && row "8 net alone $d $sz B CPU per frame (us): --tx-batch 1 (+ vunet)" "$(spread "$n hyve1 cpu_us") (+ $(med "$n hyve1 fe_cpu_us"))" "raw tap $tc" "$(ratio "$(med "$n hyve1 cpu_us")" "$tc")" "-" "-"
done

# Part 9: the pause is the largest gap between the guest's beat lines as
# they arrive (host) or in its TSC loop (guest); "calm" is the same with
# nothing done, the floor.
pz() { spreadn "pause $1"; }
hu=$(med "pause upgrade host_ms"); hr=$(med "pause restore host_ms"); hq=$(med "pause qemu host_ms")
mx() { stats "pause $1" | cut -d' ' -f3; }
r=$(ratio "$hu" "$hq")
row "9 core upgrade pause, host-timed serial gap (ms), vs QEMU local migration" "$(pz "upgrade host_ms"), max $(mx "upgrade host_ms")" "QEMU x-ignore-shared $(pz "qemu host_ms"), max $(mx "qemu host_ms")" "$r" "<= 0.1x" "$(check "$r" "<" 0.1001)"
row "9 core upgrade pause, host-timed serial gap (ms), vs hyve restore" "$hu" "snapshot + hyve -r $(pz "restore host_ms"), max $(mx "restore host_ms")" "$(ratio "$hu" "$hr")" "-" "-"
row "9 core upgrade pause seen by the guest, largest rdtsc-loop gap (ms)" "$(pz "upgrade guest_ms"), max $(mx "upgrade guest_ms")" "restore $(med "pause restore guest_ms"), QEMU $(med "pause qemu guest_ms") (their TSC skips the pause)" "-" "<= 20 ms on hardware" "$(check "$(med "pause upgrade guest_ms")" "<" 20.001)"
row "9 floor: largest gap with nothing done, host / guest (ms)" "$(med "pause upgrade-calm host_ms") / $(med "pause upgrade-calm guest_ms")" "restore $(med "pause restore-calm host_ms") / $(med "pause restore-calm guest_ms"), QEMU $(med "pause qemu-calm host_ms") / $(med "pause qemu-calm guest_ms")" "-" "-" "-"
row "9 upgrade hand-over by the old core (ms): total = pause vCPUs + state + send + new core ready + go (+ spawn + prepare, before the pause)" "$(med "pause upgrade handover_ms") = $(med "pause upgrade phase_pause_ms") + $(med "pause upgrade phase_state_ms") + $(med "pause upgrade phase_send_ms") + $(med "pause upgrade phase_ready_ms") + $(med "pause upgrade phase_go_ms") (+ $(med "pause upgrade phase_spawn_ms") + $(med "pause upgrade phase_prepare_ms"))" "QEMU's own downtime figure $(pz "qemu downtime_ms")" "-" "-" "-"

# Part 10: hyve's snapshot and restore against QEMU's migration to a file
# and -incoming from it, on the same Debian guest.
kmib() { awk -v k="$1" 'BEGIN { print k == "-" ? "-" : sprintf("%.1f", k / 1024) }'; }
h=$(med "snap hyve save_ms"); q=$(med "snap qemu save_ms")
row "10 Debian snapshot, time to save (ms)" "$(spreadn "snap hyve save_ms")" "QEMU migrate to a file $(spreadn "snap qemu save_ms")" "$(ratio "$h" "$q")" "-" "-"
h=$(med "snap hyve restore_ms"); q=$(med "snap qemu restore_ms"); r=$(ratio "$h" "$q")
row "10 Debian restore, exec to the guest running again (ms)" "$(spreadn "snap hyve restore_ms")" "QEMU -incoming from the file $(spreadn "snap qemu restore_ms")" "$r" "<= 0.2x" "$(check "$r" "<" 0.2001)"
row "10 Debian restore, hyve: exec to its backends started / to the state loaded, vCPUs starting / to all of RAM in, devices started (ms); QEMU's own figures of the save; median gap between beats before the save (ms)" "$(med "snap hyve backends_ms") / $(spread "snap hyve restored_ms") / $(spread "snap hyve ram_ms"); beats $(med "snap hyve beat_ms")" "QEMU total-time $(med "snap qemu total_ms"), downtime $(med "snap qemu downtime_ms"); beats $(med "snap qemu beat_ms")" "-" "-" "-"
h=$(med "snap hyve size_kib"); q=$(med "snap qemu size_kib")
row "10 Debian snapshot size, allocated (apparent) (MiB)" "$(kmib "$h") ($(kmib "$(med "snap hyve apparent_kib")"))" "QEMU $(kmib "$q") ($(kmib "$(med "snap qemu apparent_kib")"))" "$(ratio "$h" "$q")" "-" "-"
h=$(med "snap hyve pss_kib"); q=$(med "snap qemu pss_kib")
row "10 Debian restored VM, PSS of all processes (MiB)" "$(kmib "$h")" "QEMU $(kmib "$q")" "$(ratio "$h" "$q")" "-" "-"
# The hyve-share round: -o memory.share_snapshot=true.
h=$(med "snap hyve-share restore_ms"); q=$(med "snap qemu restore_ms")
if [ "$h" != - ]; then
	row "10 Debian restore with memory.share_snapshot (RAM left in the snapshot's file), exec to the guest running again (ms)" "$(spreadn "snap hyve-share restore_ms")" "QEMU $q" "$(ratio "$h" "$q")" "-" "-"
	row "10 Debian restore with memory.share_snapshot: exec to the state loaded / to the memory checked, devices started (ms); PSS of all processes (MiB)" "$(med "snap hyve-share restored_ms") / $(med "snap hyve-share ram_ms"); $(kmib "$(med "snap hyve-share pss_kib")")" "QEMU PSS $(kmib "$(med "snap qemu pss_kib")")" "-" "-" "-"
fi
# Part 11: the memory of clones against one fresh VM, the same run.  The
# goal row is the shared clones' (memory.share_snapshot): their PSS and
# the snapshot's file in the page cache, once.
a=$(med "clones shared_total_kib"); f=$(med "clones fresh_pss_kib"); r=$(ratio "$a" "$f")
e=$(awk -v f="$f" -v n=$CLONES 'BEGIN { print f == "-" ? "-" : f * n }')
row "11 $CLONES clones of one snapshot with memory.share_snapshot, PSS of all their processes + the snapshot's file in the page cache (MiB)" "$(kmib "$a") ($(kmib "$(med "clones shared_all_pss_kib")") + $(kmib "$(med "clones shared_cache_kib")"))" "one fresh VM $(kmib "$f"); $CLONES fresh VMs $(kmib "$e") (ratio $(ratio "$a" "$e"))" "$r" "<= 2x one VM" "$(check "$r" "<" 2.0001)"
a=$(med "clones all_pss_kib")
row "11 $CLONES clones of one snapshot, each loading its RAM (the default), PSS of all their processes (MiB)" "$(kmib "$a")" "one fresh VM $(kmib "$f")" "$(ratio "$a" "$f")" "-" "-"
row "11 each clone's PSS, loaded / shared; the snapshot's allocated size (MiB); from the first restore's exec to every clone's report, loaded / shared (ms)" "$(kmib "$(med "clones clone_pss_kib")") / $(kmib "$(med "clones shared_clone_pss_kib")"); $(kmib "$(med "clones snap_kib")"); $(med "clones ready_ms") / $(med "clones shared_ready_ms")" "-" "-" "-" "-"

# The rows measured in the lab VM say so in their first column.  Under its
# emulation only a ratio against QEMU in the same VM means anything: an
# absolute target or another baseline gets no verdict.
if [ -n "$LABPARTS" ]; then
	awk -v lab="$LABPARTS" 'BEGIN { FS = OFS = "|"; n = split(lab, l, " ")
			for (i = 1; i <= n; i++) in_lab[l[i]] = 1 }
		/^\| [0-9]+ / { split($2, f, " ") }
		/^\| [0-9]+ / && f[1] in in_lab {
			sub(/^ [0-9]+ /, " " f[1] " [lab VM] ", $2)
			if (($4 !~ /QEMU/ && $4 !~ /fresh VM/) || $6 ~ /ms|MiB/)
				$7 = " n/a (emulated) "
		}
		{ print }' "$TABLE" >"$T/table.lab" && cat "$T/table.lab" >"$TABLE"
fi

# The rows of the parts not run: those of the results this replaces.
KEPT=""
for p in 1 2 3 4 5 6 7 8 9 10 11; do want $p || KEPT="$KEPT $p"; done
KEPT=${KEPT# }
PREV="" PREVNOTE=""
if [ -n "$KEPT" ] && [ -f "$DOC" ] && grep -q '^<!-- results: begin' "$DOC"; then
	sed -n '/^<!-- results: begin/,/^<!-- results: end/p' "$DOC" >"$T/old"
	PREV=$(sed -n 's/^Generated by `make bench` on \(.*\) in [0-9]* s\.$/\1/p' "$T/old")
	PREVNOTE=$(grep '^- \(earlier: \)\{0,1\}parts .* were not run' "$T/old" | sed 's/^- \(earlier: \)\{0,1\}/- earlier: /')
	awk -v kept="$KEPT" -v old="$T/old" '
		BEGIN {
			n = split(kept, k, " ")
			for (i = 1; i <= n; i++) keep[k[i]] = 1
			while ((getline l < old) > 0) {
				split(l, f, " ")
				if (l ~ /^\| [0-9]+ / && f[2] in keep)
					rows[f[2]] = rows[f[2]] l "\n"
			}
		}
		/^\| [0-9]+ / { new[$2] = new[$2] $0 "\n"; next }
		{ print }
		END {
			for (p = 1; p <= 11; p++)
				printf "%s", (p in rows) ? rows[p] : new[p]
		}' "$TABLE" >"$T/table.new" && cat "$T/table.new" >"$TABLE"
fi

END=$(date +%s)
echo
cat "$TABLE"
echo
say "done in $((END - START)) s"

# --- docs/PERFORMANCE.md: regenerate the results section ---------------------
# pages DIR: how part 3's vublk memory was paged, from blk.sh's line.
pages() {
	v=$(awk -v d="$1" '$1 == "blk" && $2 == d && $3 == "shmem_enabled" { v = $4 } END { print v }' "$S")
	case $v in
	"") ;;
	never|deny) echo "; vublk's guest memory in 4 KiB pages (shmem_enabled $v)" ;;
	*) echo "; vublk's guest memory in 2 MiB pages (MADV_HUGEPAGE, shmem_enabled $v during the part), 4 KiB pages where said" ;;
	esac
}
RES=$T/results.md
{
	echo "<!-- results: begin (generated by make bench; edits here are lost) -->"
	echo "## Results"
	echo
	echo "Generated by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC') in $((END - START)) s."
	echo
	echo "- machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
	echo "- kernel: $(uname -sr); KVM module: $(for m in kvm_pvm kvm_intel kvm_amd; do [ -d /sys/module/$m ] && printf '%s ' $m; done)"
	echo "- QEMU: $(qemu-system-x86_64 --version 2>/dev/null | head -1), accelerator kvm; fio: $(fio --version 2>/dev/null)"
	[ -n "$LABPARTS" ] && echo "- no /dev/kvm on this machine: parts $LABPARTS ran in the lab VM (\`tools/labvm\`: QEMU TCG \`-cpu max\`, Debian's cloud kernel with kvm_amd), where everything is emulated: only their ratios against QEMU in the same lab VM mean anything, and their absolute figures and fixed targets do not"
	for DIR in $DIRS; do
		echo "- block image: 1 GiB of random data in \`$DIR\` ($(df -P "$DIR" | awk 'NR == 2 { print $1 }'), $(stat -f -c %T "$DIR")), O_DIRECT on every side: hyve-blk --nocache, qemu-storage-daemon cache.direct=on,aio=io_uring, fio --direct=1 --ioengine=io_uring$(pages "$DIR")"
	done
	echo "- guest block image (part 4): 256 MiB of random data in \`$E2EDIR\` ($(df -P "$E2EDIR" | awk 'NR == 2 { print $1 }'), $(stat -f -c %T "$E2EDIR")); hyve \`-s 3,virtio-blk,IMG,nocache\`, QEMU q35 \`aio=io_uring,cache=none\`, hyve-blk --nocache under QEMU; guest memory 256 MiB"
	want 8 && echo "- hyve-net alone (part 8): \`bench/vunet\` as the vhost-user-net frontend of a standalone, sandboxed hyve-net on a vnet_hdr tap in a private namespace, 256-entry rings, no EVENT_IDX, waiting on the call eventfd; baseline: the same frames through another such tap by \`vunet --raw\`, one write()/read() per frame; rx is a sendmmsg flood on a packet socket bound to the tap; ${SECS} s per case"
	want 7 && echo "- Debian guest (part 7): make linux-guest's kernel, initrd and root image, 2 vCPUs, 512 MiB, hyve.test=smp; QEMU q35 \`-accel kvm -cpu host\` with virtio-blk-pci and virtio-rng-pci, and with vhost-user-blk-pci/vhost-user-rng-pci to hyve-blk/hyve-rnd; hyve with \`-s 5,virtio-balloon\` and QEMU q35 with virtio-balloon-pci,free-page-reporting=on (each booted after the QEMU q35 round); every other round QEMU q35 boots first; hyve's guest RAM in 2 MiB pages (its own tmpfs, the default), and hyve-4k with \`-o memory.huge_pages=false\` (a memfd of 4 KiB pages, shmem_enabled never); PSS taken when the guest's checks start"
	want 9 && echo "- core upgrade pause (part 9): the test guest's tscgap (a tight rdtsc loop printing a beat line every ${BENCH_BEAT_MS:-5} ms of its own time), 1 vCPU, 128 MiB, a virtio-rng device; $UPGRADES each of: \`hyvectl upgrade\`; \`hyvectl snapshot\` (the VM stops) then at once \`hyve -r\`; QEMU q35 \`-accel kvm\` with RAM in a shared \`memory-backend-file\` in /dev/shm migrated over a unix socket to a second QEMU on the same file started beforehand with \`-incoming defer\`, capability \`x-ignore-shared\` (only device state is sent). Host figure: the largest gap between beat lines as bench/stamp stamps them on arrival from the serial port; guest figure: the largest gap in the rdtsc loop (hyve's upgrade keeps the TSC running through the pause; a restore and QEMU's migration restore the saved TSC, so the guest cannot see theirs); n is the number of operations"
	want 10 && echo "- Debian snapshot and restore (part 10): make linux-guest's kernel, initrd and root image, 2 vCPUs, 512 MiB, hyve.test=beat (a console line every ${BENCH_SNAP_BEAT_MS:-100} ms of the guest's time); one boot per side and run, a fresh sparse copy of the root image that the restore runs on again; hyve: \`hyvectl snapshot VM DIR\` (the VM stops) and \`hyve -r DIR\`; QEMU q35 \`-accel kvm -cpu host\`, virtio-blk-pci and virtio-rng-pci: QMP \`migrate\` of the running VM to \`exec:cat > FILE\` with max-bandwidth unlimited, until it says completed, then the same command line with \`-incoming \"exec:cat FILE\"\`; restore time from the exec to the first new beat line on the serial port (stamped on arrival by bench/stamp); size by du -k (allocated) and --apparent-size; PSS of every process of the restored VM once it beats; before each restore 640 MiB written to /tmp and deleted, on both sides (the lab's slow first write to memory that held the ended guest's code); hyve's booted VM has guest RAM in 2 MiB pages (the default), its restore a memfd of 4 KiB pages that a userfaultfd fills; n is the number of snapshots"
	want 11 && echo "- clones (part 11): the clone guest of make linux-guest (Debian's generic kernel, tests/linux/clone-init), 1 vCPU, 256 MiB, virtio-net on a tap in a private namespace; booted once (its PSS once up is one fresh VM's; $CLONES fresh VMs are $CLONES times that), snapshotted (the VM stops) and restored $CLONES times at once, each with its own tap and MAC; each clone's PSS (all its processes) once every clone has reported its new VM generation ID; then the same again with -o memory.share_snapshot=true (each clone copies in only the pages it touches), the snapshot's memory file first dropped from the page cache and its cached size added once"
	echo "- each figure is the median of $RUNS runs, (min-max) where shown; block runs last ${SECS} s after 0.5 s of warm-up; the guest's bench-blk and bench-net cases last ${GSECS} s; restart: $KILLS kills on hyve, $QKILLS on QEMU"
	echo "- command: \`make bench\` (\`BENCH_RUNS=$RUNS BENCH_SECS=$SECS BENCH_DIRS=\"$DIRS\" BENCH_GUEST_SECS=$GSECS BENCH_E2E_DIR=$E2EDIR BENCH_KILLS=$KILLS BENCH_UPGRADES=$UPGRADES${KEPT:+ BENCH_PARTS=\"$PARTS\"} sh bench/run.sh\`)"
	[ -n "$PREV" ] && echo "- parts $KEPT were not run this time: their rows are copied from the results generated on $PREV"
	[ -n "$PREVNOTE" ] && echo "$PREVNOTE"
	echo
	cat "$TABLE"
	echo
	echo "<!-- results: end -->"
} >"$RES"
if [ -f "$DOC" ] && grep -q '^<!-- results: begin' "$DOC" && grep -q '^<!-- results: end' "$DOC"; then
	awk -v res="$RES" '
		/^<!-- results: begin/ { while ((getline l < res) > 0) print l; skip = 1; next }
		/^<!-- results: end/ { skip = 0; next }
		!skip' "$DOC" >"$T/doc" && cat "$T/doc" >"$DOC"
else
	mkdir -p "$(dirname "$DOC")"
	cat "$RES" >>"$DOC"
fi
say "wrote the results section of $DOC"
