#!/bin/bash
# The Debian guest's side of t_linux_vsock, run by hyve-test.service in
# place of tests/linux/hyve-test (the test writes it into its own copy of
# the root image, with vsockt).  The host side is vsockpeer.py.
#   hyve.vsock.cid=N   the CID the device was given
#   hyve.vsock.mb=N    MiB per direction, over 4 connections at once
#   hyve.vsock.cid2=N  the CID after the host's snapshot and restore (none:
#                      no such round)
# Prints PASS name / FAIL name: reason, then "N passed, M failed", and
# powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
pass=0
fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); say "at $(up)s"; }
ko() { echo "FAIL $1: $2"; fail=$((fail + 1)); say "at $(up)s"; }
say() { echo "hyve-linux: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
arg() {
	local w
	for w in $(cat /proc/cmdline); do
		case $w in "$1="*) echo "${w#*=}"; return ;; esac
	done
	echo "$2"
}
bounded() { timeout -k 5 300 "$@"; }
cid=$(arg hyve.vsock.cid 3)
mb=$(arg hyve.vsock.mb 64)
per=$((mb / 4))
say "checks start at $(up)s: vsock"

# The driver: the kernel's own (vsock, vmw_vsock_virtio_transport).
modprobe vmw_vsock_virtio_transport 2>/tmp/err || ko vsock-driver "modprobe: $(cat /tmp/err)"
i=0
until [ -e /dev/vsock ] && got=$(vsockt cid 2>/dev/null) && [ "$got" = "$cid" ]; do
	i=$((i + 1))
	[ $i -le 600 ] || break
	sleep 0.1
done
if [ "$got" = "$cid" ]; then ok vsock-cid; else ko vsock-cid "local CID '$got', expected $cid"; fi

# Host to guest: the peer opens 4 connections to port 6000 at once and
# checks the sha256 each answers.  Guest to host: 4 at once to port 5000,
# whose answer is the sha256 of what the host received.
vsockt hashd 6000 4 >/tmp/hashd.out 2>&1 &
hd=$!
say "vsock: hashd on port 6000"
for i in 1 2 3 4; do
	(
		head -c ${per}M /dev/urandom >/tmp/g$i
		want=$(sha256sum </tmp/g$i | cut -d' ' -f1)
		got=$(bounded vsockt connect 2 5000 </tmp/g$i 2>/tmp/ge$i | cut -d' ' -f1)
		if [ "$got" = "$want" ]; then echo ok; else echo "host got sha '$got', sent '$want' $(cat /tmp/ge$i)"; fi >/tmp/r$i
		rm -f /tmp/g$i
	) &
done
for i in 1 2 3 4; do
	j=0
	until [ -s /tmp/r$i ]; do j=$((j + 1)); [ $j -le 3000 ] || break; sleep 0.1; done
done
bad=$(cat /tmp/r1 /tmp/r2 /tmp/r3 /tmp/r4 2>/dev/null | grep -v '^ok$')
n=$(cat /tmp/r1 /tmp/r2 /tmp/r3 /tmp/r4 2>/dev/null | grep -c '^ok$')
if [ "$n" -eq 4 ]; then ok vsock-g2h; else ko vsock-g2h "$n of 4 connections: $bad"; fi
j=0
while kill -0 $hd 2>/dev/null; do j=$((j + 1)); [ $j -le 3000 ] || break; sleep 0.1; done
if ! kill -0 $hd 2>/dev/null && wait $hd; then
	ok vsock-h2g
else
	kill $hd 2>/dev/null
	ko vsock-h2g "hashd on port 6000 did not serve 4 connections: $(cat /tmp/hashd.out)"
fi

# interrupted NAME PORT SECONDS WHEN: while the guest holds a connection to
# host port 5001 and serves one on PORT, the host interrupts hyve-vsock
# (WHEN says how).  The held connection must be reset within SECONDS; a
# new one to the host (retried while the backend comes back) and the
# host's to PORT must work.  Checks NAME-reset, after-NAME, h2g-after-NAME.
interrupted() {
	vsockt hashd $2 1 >/tmp/hashd$2.out 2>&1 &
	hd=$!
	vsockt hold 2 5001 >/tmp/hold$2.out 2>&1 &
	hp=$!
	say "vsock: holding a connection to port 5001 for the $1"
	j=0
	while kill -0 $hp 2>/dev/null; do j=$((j + 1)); [ $j -le $(($3 * 10)) ] || break; sleep 0.1; done
	if ! kill -0 $hp 2>/dev/null && wait $hp; then
		ok vsock-$1-reset
		say "$(cat /tmp/hold$2.out)"
	else
		kill $hp 2>/dev/null
		ko vsock-$1-reset "the connection open at the $4 was not reset in $3 s"
	fi
	[ -z "$5" ] || $5
	j=0
	while :; do
		got=$(timeout -k 5 60 vsockt connect 2 5000 </tmp/a 2>/dev/null | cut -d' ' -f1)
		[ "$got" = "$want" ] && break
		j=$((j + 1)); [ $j -le 100 ] || break
		sleep 1
	done
	if [ "$got" = "$want" ]; then ok vsock-after-$1; else ko vsock-after-$1 "sha '$got', sent '$want'"; fi
	j=0
	while kill -0 $hd 2>/dev/null; do j=$((j + 1)); [ $j -le 3000 ] || break; sleep 0.1; done
	if ! kill -0 $hd 2>/dev/null && wait $hd; then
		ok vsock-h2g-after-$1
	else
		kill $hd 2>/dev/null
		ko vsock-h2g-after-$1 "hashd on port $2 served nothing: $(cat /tmp/hashd$2.out)"
	fi
}

# After the restore the driver must have read the new CID.
new_cid() {
	j=0
	until got=$(vsockt cid 2>/dev/null) && [ "$got" = "$cid2" ]; do
		j=$((j + 1)); [ $j -le 300 ] || break
		sleep 0.1
	done
	if [ "$got" = "$cid2" ]; then ok vsock-restore-cid; else ko vsock-restore-cid "local CID '$got' after the restore, expected $cid2"; fi
}

head -c 1M /dev/urandom >/tmp/a
want=$(sha256sum </tmp/a | cut -d' ' -f1)
# Restart: the host kills hyve-vsock once the peer sees "hold".
interrupted restart 6001 300 restart
# Snapshot: the host snapshots the VM while it holds a connection and
# restores it with CID cid2.  The restored backend holds no connection;
# the driver reads the new CID at its transport reset.
cid2=$(arg hyve.vsock.cid2 "")
[ -z "$cid2" ] || interrupted restore 6002 600 snapshot new_cid

echo "$pass passed, $fail failed"
say "checks done at $(up)s"
systemctl --no-block --check-inhibitors=no poweroff
