# make fuzz-seeds' recording (tests/fuzz/record.sh): a real VM's vhost-user
# conversations, rings and register accesses come out in each fuzz
# target's input layout, and every target takes them without a finding.
# lab: 32 s
. "$(dirname "$0")/lib.sh"
need_kvm
need_cmd python3
[ "$(id -u)" = 0 ] || { echo "SKIP: the KVM trace events need root"; exit 77; }
for t in ring vu_server vu_frontend requests devices; do
	[ -x "$ROOT/build/fuzz/fuzz_$t" ] || fail "build/fuzz/fuzz_$t is not built (make fuzz-build)"
done
[ -x "$ROOT/build/vu_record" ] || fail "build/vu_record is not built"
S=$TMP/seeds
sh "$ROOT/tests/fuzz/record.sh" "$S" >"$TMP/log" 2>&1 ||
    fail "record.sh failed: $(cat "$TMP/log")"
cat "$TMP/log"
FUZZ_DEVICES_RANGES=1 "$ROOT/build/fuzz/fuzz_devices" >"$TMP/ranges" 2>/dev/null
python3 - "$S" "$TMP/ranges" <<'EOF' || fail "the recorded seeds are not what the VM did"
import glob, struct, sys
S, ranges = sys.argv[1], sys.argv[2]

def msgs(path, skip):
    b = open(path, "rb").read()[skip:]
    out = []
    while b:
        r, fl, n, k, sz = struct.unpack_from("<BBBBH", b)
        out.append((r, fl, n, k, b[6:6 + sz]))
        b = b[6 + sz:]
    return out

def check(cond, what):
    if not cond:
        sys.exit("record check: " + what)

for t in ("blk", "rnd"):
    m = msgs("%s/vu_server/recorded-%s" % (S, t), 2)
    reqs = [x[0] for x in m]
    check(reqs[0] == 1, "%s: the core's first message is not GET_FEATURES" % t)
    mt = [x for x in m if x[0] == 5]
    check(len(mt) == 1 and mt[0][2] == 1 and mt[0][3] & 3 == 0,
          "%s: no SET_MEM_TABLE with one memfd" % t)
    n, = struct.unpack_from("<I", mt[0][4])
    size, = struct.unpack_from("<Q", mt[0][4], 16)
    check(n == 1 and size == 64 << 20, "%s: memory table is not the VM's "
          "64 MiB" % t)
    kick = [x for x in m if x[0] == 12]
    check(kick and kick[0][2] == 1 and kick[0][3] & 3 == 1,
          "%s: no SET_VRING_KICK with an eventfd" % t)
    check(11 in reqs, "%s: the core never stopped the ring" % t)
    r = msgs("%s/vu_frontend/recorded-%s" % (S, t), 4)
    check(r and all(x[1] & 4 for x in r), "%s: a backend message without "
          "the REPLY flag" % t)
    check(r[0][0] == 1 and len(r[0][4]) == 8, "%s: first reply is not "
          "GET_FEATURES'" % t)
    # The blk test writes its pattern: the ring still holds a request.
    ring = open("%s/requests/recorded-%s" % (S, t), "rb").read()
    dev, _, _, log2, base = struct.unpack_from("<BBBBH", ring)
    idx, = struct.unpack_from("<H", ring, 6 + 0x802)
    check(dev == {"blk": 0, "rnd": 2}[t] and 1 << log2 >= 1 and idx != base,
          "%s: the recorded ring has no chain to walk" % t)

pio = {}
for line in open(ranges):
    bus, i, base, ln, name = line.split(None, 4)
    if bus == "pio":
        pio[int(base, 16)] = int(i)
ops = b"".join(open(f, "rb").read()
               for f in sorted(glob.glob(S + "/devices/recorded-*")))
check(len(ops) % 9 == 0, "devices: not a whole number of accesses")
cf8 = [ops[i:i + 9] for i in range(0, len(ops), 9)
       if ops[i] == 0x80 and ops[i + 1] == pio[0xcf8]]
check(len(cf8) >= 10, "devices: the guest's PCI enumeration is missing")
print("record check: seeds look like the VM's")
EOF
for t in ring vu_server vu_frontend requests devices; do
	for f in "$S/$t"/*; do
		"$ROOT/build/fuzz/fuzz_$t" -runs=1 "$f" >"$TMP/replay" 2>&1 ||
		    fail "fuzz_$t fails on $f: $(tail -20 "$TMP/replay")"
	done
done
echo ok
