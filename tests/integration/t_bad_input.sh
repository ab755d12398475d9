# Every bad option, key, slot, size or file: exit 4 with one line on stderr
# that names it, and no guest code runs (nothing on the console).  All of it
# is checked before /dev/kvm is opened, so this test needs no KVM and gives
# the same answers on any host.
. "$(dirname "$0")/lib.sh"
BASE="-s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit"
K="-o boot.kernel=$GUEST -o boot.cmdline=test=uart"
printf 'garbage' >"$TMP/notelf"
truncate -s 1M "$TMP/disk.img"
printf 'memory.size=64M\nthis line is bad\n' >"$TMP/bad.conf"
n=0
check() {
	want=$1; shift
	n=$((n + 1))
	# shellcheck disable=SC2086
	"$HYVE" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"; rc=$?
	lines=$(wc -l <"$TMP/err")
	printf 'case %d: exit %d: %s\n' $n $rc "$(cat "$TMP/err")"
	[ $rc -eq 4 ] || fail "case $n ($*): exit $rc, expected 4"
	[ "$lines" -eq 1 ] || fail "case $n ($*): $lines lines on stderr, expected 1"
	grep -q -- "$want" "$TMP/err" || fail "case $n ($*): message does not name '$want'"
	[ ! -s "$TMP/out" ] || fail "case $n ($*): the guest ran: $(cat "$TMP/out")"
}
check "-Z"		-Z $BASE $K vm0
check "0"		-c 0 $BASE $K vm0
check "abc"		-c abc $BASE $K vm0
check "sockets"		-c 4,sockets=3 $BASE $K vm0
check "12X"		-m 12X $BASE $K vm0
check "0"		-m 0 $BASE $K vm0
check "-m"		-m 4T $BASE $K vm0
check "frobnicator"	-s 3,frobnicator $BASE $K vm0
check "32"		-s 32,hostbridge $BASE $K vm0
check "3:9"		-s 3:9,hostbridge $BASE $K vm0
check "already used"	-s 3,hostbridge -s 3,lpc $BASE $K vm0
check "com5"		-l com5,stdio $BASE $K vm0
check "lpc"		-s 0,hostbridge -l com1,stdio $K vm0
check "nokey"		-o nokey $BASE $K vm0
check "foo.bar"		-o foo.bar=1 $BASE $K vm0
check "/nonexistent.conf" -k /nonexistent.conf $BASE $K vm0
check "bad.conf:2"	-k "$TMP/bad.conf" $BASE $K vm0
check "vmname"		$BASE $K
check "not-a-uuid"	-U not-a-uuid $BASE $K vm0
check "boot.kernel"	$BASE vm0
check "/nonexistent/kernel" $BASE -o boot.kernel=/nonexistent/kernel vm0
check "notelf"		$BASE -o boot.kernel="$TMP/notelf" vm0
check "/nonexistent/initrd" $BASE $K -o boot.initrd=/nonexistent/initrd vm0
check "/nonexistent/dir/console" -s 0,hostbridge -s 31,lpc -l com1,/nonexistent/dir/console $K vm0
check "bad vm name"	$BASE $K 'bad vm name'
check "/nonexistent/disk.img" -s 3,virtio-blk,/nonexistent/disk.img $BASE $K vm0
check "frob"		-s 3,virtio-blk,"$TMP/disk.img",frob=1 $BASE $K vm0
check "tap name"	-s 3,virtio-net,averyveryverylongtapname0 $BASE $K vm0
check "/nonexistent/hyve-rnd" -s 3,virtio-rnd,binary=/nonexistent/hyve-rnd $BASE $K vm0
check "gpu"		-s 3,vhost-user,socket=/nonexistent.sock,type=gpu $BASE $K vm0
check "socket=PATH"	-s 3,vhost-user,type=blk $BASE $K vm0
echo "all $n bad inputs refused"
