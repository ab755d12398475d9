# -k files, -o keys and config.dump: the bhyve_config(5) tree.
. "$(dirname "$0")/lib.sh"
cat >"$TMP/vm.conf" <<CONF
# a comment
cpus=2
memory.size=96M
pci.0.0.0.device=hostbridge
pci.0.31.0.device=lpc
lpc.com1.path=stdio
CONF
"$HYVE" -k "$TMP/vm.conf" -o config.dump=1 -s 3:1,hostbridge vmc >"$TMP/dump" 2>&1 ||
    fail "config.dump failed: $(cat "$TMP/dump")"
cat "$TMP/dump"
for kv in cpus=2 memory.size=96M pci.0.0.0.device=hostbridge \
    pci.0.31.0.device=lpc lpc.com1.path=stdio pci.0.3.1.device=hostbridge name=vmc; do
	grep -qx "$kv" "$TMP/dump" || fail "dump lacks $kv"
done
# Later options override earlier ones, in command-line order.
"$HYVE" -k "$TMP/vm.conf" -m 128M -o config.dump=1 vmc | grep -qx memory.size=128M ||
    fail "-m after -k did not override"
# -c with topology.
"$HYVE" -c 4,sockets=2,cores=2 -o config.dump=1 vmc >"$TMP/dump" || fail "-c topology"
grep -qx cpus=4 "$TMP/dump" && grep -qx sockets=2 "$TMP/dump" && grep -qx cores=2 "$TMP/dump" ||
    fail "topology keys missing"
need_kvm
# The config file alone boots the test guest.
"$HYVE" -k "$TMP/vm.conf" -l debug-exit -o boot.kernel="$GUEST" \
    -o boot.cmdline=test=uart,smp vmc </dev/null >"$TMP/out" 2>&1; rc=$?
cat "$TMP/out"
[ $rc -eq 1 ] || fail "boot from -k file: exit $rc"
grep -qx "2 passed, 0 failed" "$TMP/out" || fail "guest tests failed"
echo ok
