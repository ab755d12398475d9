#!/bin/sh
# Part 3 of `make bench`: the block datapath, backend alone.  bench/vublk
# drives hyve-blk (as it is, and with --poll-us $BENCH_POLL_US, default 50)
# and qemu-storage-daemon's vhost-user-blk export on the same image; fio with io_uring on the host is the device's own limit.
# Prints sample lines "blk DIR RW BS DEPTH hyve|hyve-poll|qsd|fio iops|mbps|p50_us|p99_us V",
# "... cpu_us V" (CPU time per request: the backend's for hyve and qsd,
# fio's own, io_uring workers included, for fio), "... fe_cpu_us V" (vublk's own per request) and, at
# the end, "blk DIR idle hyve|qsd cpu_pct V" (a connected, idle backend).
# Guest memory is in 2 MiB pages, as hyve gives its guests (README):
# vublk's memory is a memfd that asks for them, and blk.sh sets
# shmem_enabled to advise for the run if it was never, and puts it back.
# Requests of 64 KiB and more are also run with vublk --small-pages
# (hyve-4k): the guest of a host left at never.  Prints "blk DIR
# shmem_enabled V" first.
# Multiqueue, for each of MQJOBS: hyve-blk --queues 2 driven by vublk on
# both queues, a thread and DEPTH requests each (hyve-mq2), the same
# backend on one queue (hyve-mq1), and fio with numjobs=2 (fio-2j).
# Usage: blk.sh ROOT RUNS SECS DIR TMPDIR "rw:bs:depth ..." ["rw:bs:depth ..."]
ROOT=$1 RUNS=$2 SECS=$3 DIR=$4 T=$5 JOBS=$6 MQJOBS=${7:-}
B=$ROOT/build
IMG=$DIR/hyve-bench.$$.img
HSOCK=$T/hyve-blk.$$.sock
PSOCK=$T/hyve-blk-poll.$$.sock
POLL=${BENCH_POLL_US:-50}
QSOCK=$T/qsd.$$.sock
MSOCK=$T/hyve-blk-mq.$$.sock
HPID="" PPID_="" QPID="" MPID=""
. "$ROOT/bench/lib.sh"
trap 'for p in $HPID $PPID_ $QPID $MPID; do kill $p 2>/dev/null; done; rm -f "$IMG"
	thp_restore' EXIT
trap 'exit 1' INT TERM

# Real data: reads of a sparse file's holes never reach the device.
dd if=/dev/urandom of="$IMG" bs=1M count=1024 status=none conv=fsync ||
	{ echo "blk: cannot write the 1 GiB image $IMG (set BENCH_DIR)" >&2; exit 1; }
"$B/hyve-blk" --socket "$HSOCK" --file "$IMG" --nocache 2>"$T/hyve-blk.$$.err" &
HPID=$!
# The same with polling before it sleeps: what polling buys and costs.
"$B/hyve-blk" --socket "$PSOCK" --file "$IMG" --nocache --poll-us "$POLL" \
    2>"$T/hyve-blk-poll.$$.err" &
PPID_=$!
# Two queues, a thread and an io_uring each.
"$B/hyve-blk" --socket "$MSOCK" --file "$IMG" --nocache --queues 2 \
    2>"$T/hyve-blk-mq.$$.err" &
MPID=$!
thp_advise
thp=$(thp_now)
echo "blk $DIR shmem_enabled ${thp:-unknown}"
have_qsd=0
if command -v qemu-storage-daemon >/dev/null; then
	qemu-storage-daemon \
	    --blockdev driver=file,node-name=f0,filename="$IMG",cache.direct=on,aio=io_uring \
	    --blockdev driver=raw,node-name=d0,file=f0 \
	    --export type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path="$QSOCK",writable=on \
	    2>"$T/qsd.$$.err" &
	QPID=$!
	have_qsd=1
else
	echo "blk: qemu-storage-daemon is missing: its rows are skipped" >&2
fi
have_fio=1
command -v fio >/dev/null ||
	{ have_fio=0; echo "blk: fio is missing (sh tools/deps.sh installs it): its rows are skipped" >&2; }

# vublk_run LABEL SOCKET PID RW BS DEPTH [QUEUES [VUBLK_OPTION]]
vublk_run() {
	"$B/bench/vublk" --socket "$2" --pid "$3" --label "$1" --rw "$4" \
	    --bs "$5" --depth "$6" --queues "${7:-1}" --time "$SECS" $8 |
	    awk -v n="blk $DIR $4 $5 $6 $1" '{ for (i = 6; i <= NF; i++) {
		split($i, kv, "=")
		if (kv[1] != "ios" && kv[2] != "-") print n, kv[1], kv[2] } }'
}

# idle_run LABEL SOCKET PID: the CPU a connected backend with a started,
# empty queue uses.
idle_run() {
	"$B/bench/vublk" --socket "$2" --pid "$3" --label "$1" --idle "$IDLE" |
	    awk -v n="blk $DIR idle $1" '{ split($4, kv, "="); print n, kv[1], kv[2] }'
}

# fio runs as threads (--thread), so that its io_uring workers, which do
# the copies on tmpfs, are threads of the one process whose CPU time is
# sampled from /proc over the measured seconds (fio's own usr_cpu and
# sys_cpu count only the job's thread).
fio_run() {
	python3 -c '
import json, subprocess, sys, time
d, rw, bs, qd, img, secs, jobs = sys.argv[1:8]
secs = float(secs)
def cpu(pid):
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / 100.0
    except (OSError, IndexError):
        return None
p = subprocess.Popen(["fio", "--name=bench", "--filename=" + img,
    "--ioengine=io_uring", "--direct=1", "--thread", "--rw=" + rw,
    "--bs=" + bs, "--iodepth=" + qd, "--ramp_time=500ms",
    "--runtime=%g" % secs, "--time_based", "--output-format=json",
    "--numjobs=" + jobs, "--group_reporting"],
    stdout=subprocess.PIPE)
t0 = time.monotonic()
c0 = c1 = None
while p.poll() is None:
    t = time.monotonic() - t0
    if c0 is None and t >= 0.5:
        c0 = cpu(p.pid)
    elif c1 is None and t >= 0.5 + secs:
        c1 = cpu(p.pid)
    time.sleep(0.01)
n = "blk %s %s %s %s fio" % (d, rw, bs, qd) + ("" if jobs == "1" else "-%sj" % jobs)
j = json.loads(p.stdout.read())["jobs"][0]
x = j["write"] if rw == "randwrite" else j["read"]
pc = x["clat_ns"]["percentile"]
print(n, "iops %.0f" % x["iops"])
print(n, "mbps %.1f" % (x["bw_bytes"] / 1e6))
print(n, "p50_us %.1f" % (pc["50.000000"] / 1e3))
print(n, "p99_us %.1f" % (pc["99.000000"] / 1e3))
if x["iops"] > 0 and c0 is not None and c1 is not None:
    print(n, "cpu_us %.2f" % ((c1 - c0) / secs / x["iops"] * 1e6))' \
	    "$DIR" "$1" "$2" "$3" "$IMG" "$SECS" "${4:-1}"
}

r=0
while [ $r -lt "$RUNS" ]; do
	for j in $JOBS; do
		rw=${j%%:*} rest=${j#*:}
		bs=${rest%%:*} qd=${rest#*:}
		vublk_run hyve "$HSOCK" "$HPID" "$rw" "$bs" "$qd"
		vublk_run hyve-poll "$PSOCK" "$PPID_" "$rw" "$bs" "$qd"
		[ "$bs" -ge 65536 ] &&
		    vublk_run hyve-4k "$HSOCK" "$HPID" "$rw" "$bs" "$qd" 1 --small-pages
		[ $have_qsd = 1 ] && vublk_run qsd "$QSOCK" "$QPID" "$rw" "$bs" "$qd"
		[ $have_fio = 1 ] && fio_run "$rw" "$bs" "$qd"
	done
	for j in $MQJOBS; do
		rw=${j%%:*} rest=${j#*:}
		bs=${rest%%:*} qd=${rest#*:}
		vublk_run hyve-mq2 "$MSOCK" "$MPID" "$rw" "$bs" "$qd" 2
		vublk_run hyve-mq1 "$MSOCK" "$MPID" "$rw" "$bs" "$qd" 1
		[ $have_fio = 1 ] && fio_run "$rw" "$bs" "$qd" 2
	done
	r=$((r + 1))
done
IDLE=${BENCH_IDLE_SECS:-5}
idle_run hyve "$HSOCK" "$HPID"
idle_run hyve-poll "$PSOCK" "$PPID_"
[ $have_qsd = 1 ] && idle_run qsd "$QSOCK" "$QPID"
exit 0
