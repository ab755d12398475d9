#!/usr/bin/env python3
"""Writes the laid-out seed corpora under tests/fuzz/corpus/<target>/:
vhost-user conversations, rings and requests as the core, the backends and
the drivers lay them out, in the layout each target reads (see the comment
at the top of each fuzz_*.c).  The recorded-* seeds beside them come from
a real VM (tests/fuzz/record.sh)."""
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus"
UVA = 0x7f0000000000

def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def desc(addr, ln, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, ln, flags, nxt)

NEXT, WRITE, INDIRECT = 1, 2, 4

def memory(size, parts):
    m = bytearray(size)
    for off, b in parts:
        m[off:off + len(b)] = b
    return bytes(m).rstrip(b"\0")

def avail(heads, idx=None, flags=0, used_event=None, num=8):
    b = struct.pack("<HH", flags, len(heads) if idx is None else idx)
    ring = list(heads) + [0] * (num - len(heads))
    b += struct.pack("<%dH" % num, *ring)
    if used_event is not None:
        b += struct.pack("<H", used_event)
    return b

# --- surface 1: ring ---------------------------------------------------
def ring_seed(flags, descs, heads, extra=(), num=8, last=0, ue=None):
    hdr = struct.pack("<BBHHHHH", flags, num.bit_length() - 1,
                      0x000, 0x200, 0x400, 64, last)
    parts = [(0, b"".join(descs)), (0x200, avail(heads, used_event=ue,
             num=num))] + list(extra)
    return hdr + memory(0x8000, parts)

simple = [desc(0x600, 16, NEXT, 1), desc(0x800, 512, WRITE | NEXT, 2),
          desc(0xa00, 1, WRITE)]
put("ring", "chain3", ring_seed(0, simple, [0]))
put("ring", "two-chains", ring_seed(1, simple + [desc(0xb00, 64, WRITE)],
                                     [0, 3], ue=0))
put("ring", "indirect", ring_seed(2, [desc(0xc00, 48, INDIRECT)], [0],
    [(0xc00, desc(0x600, 16, NEXT, 1) + desc(0x800, 64, WRITE | NEXT, 2)
      + desc(0xa00, 1, WRITE))]))
put("ring", "second-region", ring_seed(3, [desc(0x100010, 32, NEXT, 1),
    desc(0x800, 8, WRITE)], [0]))
put("ring", "wrap-index", ring_seed(1, simple, [0], last=0xffff))
put("ring", "loop", ring_seed(0, [desc(0x600, 16, NEXT, 1),
    desc(0x600, 16, NEXT, 0)], [0]))

# --- surface 2: vu_server ----------------------------------------------
def msg(req, payload=b"", flags=1, fds=(), size=None):
    kinds = 0
    for i, k in enumerate(fds):
        kinds |= k << (2 * i)
    return struct.pack("<BBBBH", req, flags, len(fds), kinds,
                       len(payload) if size is None else size) + payload

def u64(v):
    return struct.pack("<Q", v)

def state(i, n):
    return struct.pack("<II", i, n)

def addr(i, d, u, a):
    return struct.pack("<IIQQQQ", i, 0, d, u, a, 0)

def memtable(regions):
    return struct.pack("<II", len(regions), 0) + b"".join(
        struct.pack("<QQQQ", *r) for r in regions)

MEMFD, EVENTFD, ODD, PIPE = 0, 1, 2, 3
FEAT = 1 << 32 | 1 << 30 | 1 << 28 | 1 << 29
PFEAT = 1 << 0 | 1 << 3 | 1 << 9 | 1 << 13
ring_img = memory(0x8000, [(0, b"".join(simple)),
                           (0x200, avail([0]))])

def setup(q=0, need_reply=False, inflight=False, mem=MEMFD, infl=MEMFD):
    fl = 1 | (8 if need_reply else 0)
    m = msg(1) + msg(2, u64(FEAT), fl) + msg(15) + \
        msg(16, u64(PFEAT), fl) + msg(3, flags=fl)
    m += msg(5, memtable([(0, 0x10000, UVA, 0)]), fl, [mem])
    if inflight:
        m += msg(32, struct.pack("<QQHH", 4096, 0, 2, 8) + b"\0" * 4, fl,
                 [infl])
    m += msg(8, state(q, 8), fl)
    m += msg(9, addr(q, UVA, UVA + 0x400, UVA + 0x200), fl)
    m += msg(10, state(q, 0), fl)
    m += msg(13, u64(q), fl, [EVENTFD]) + msg(14, u64(q), fl, [EVENTFD])
    m += msg(12, u64(q), fl, [EVENTFD])
    m += msg(18, state(q, 1), fl)
    return m

def vu(m, img=ring_img):
    return struct.pack("<H", len(img)) + img + m

put("vu_server", "setup", vu(setup()))
put("vu_server", "setup-ack", vu(setup(need_reply=True)))
put("vu_server", "setup-q1", vu(setup(1)))
put("vu_server", "inflight", vu(setup(inflight=True)))
put("vu_server", "config", vu(setup() + msg(24, struct.pack("<III", 0, 8, 0)
    + b"\0" * 8) + msg(11, state(0, 0)) + msg(34)))
put("vu_server", "no-fd-kick", vu(setup() + msg(12, u64(1 << 8)) +
    msg(8, state(0, 16)) + msg(11, state(0, 0))))
put("vu_server", "remap", vu(setup() + msg(5, memtable([(0, 0x8000, UVA, 0),
    (0x100000, 0x8000, UVA + 0x100000, 0x8000)]), 1, [MEMFD, MEMFD]) +
    msg(4)))
put("vu_server", "bad-fds", vu(msg(1, fds=[PIPE, EVENTFD]) +
    msg(5, memtable([(0, 0x10000, UVA, 0)]), 1, [PIPE])))

# Operations between messages (fuzz_vu.h): a new odd fd, a size change, a
# write into a file; 0xf3 only runs the rings.
def new_odd(how, size):
    return struct.pack("<BBI", 0xf0, how, size)

def trunc(odd, size):
    return struct.pack("<BBI", 0xf1, odd, size)

def poke(odd, off, b):
    return struct.pack("<BBIB", 0xf2, odd, off, len(b)) + b

KICK = b"\xf3"
more = poke(0, 0x200, avail([0, 0], idx=2))
put("vu_server", "shrink-guest-memory", vu(setup() + trunc(0, 0x1000) +
    more + KICK + trunc(0, 0) + KICK))
for how, name in ((0, "odd-memfd-shrinks"), (1, "odd-memfd-unsealed"),
                  (2, "odd-memfd-sealed"), (3, "odd-memfd-sealed-all")):
    put("vu_server", name, vu(new_odd(how, 0x10001) + setup(mem=ODD) +
        poke(1, 0x200, avail([0, 0], idx=2)) + trunc(1, 0) + KICK))
put("vu_server", "odd-memfd-tiny", vu(new_odd(0, 0xfff) + setup(mem=ODD)))
put("vu_server", "odd-fds-as-memory", vu(b"".join(new_odd(h, 0x10000) +
    msg(5, memtable([(0, 0x10000, UVA, 0)]), 1, [ODD]) for h in (4, 5, 6))))
put("vu_server", "inflight-odd-shrinks", vu(new_odd(0, 0x2000) +
    setup(inflight=True, infl=ODD) + trunc(1, 0) + more + KICK))
put("vu_server", "inflight-own-shrinks", vu(setup() + msg(31,
    struct.pack("<QQHH", 0, 0, 2, 8) + b"\0" * 4) + new_odd(7, 0) +
    trunc(1, 0) + KICK + msg(32, struct.pack("<QQHH", 4096, 0, 2, 8) +
    b"\0" * 4, 1, [ODD]) + KICK))

# --- surface 3: vu_frontend --------------------------------------------
def reply(req, payload=b"", fds=()):
    return msg(req, payload, 1 | 4, fds)

ACK = u64(0)
def handshake(pf=PFEAT | 1 << 12):
    return reply(1, u64(FEAT)) + reply(15, u64(pf)) + reply(3, ACK) + \
        reply(17, u64(2))

def fe(ops, off, ln, idx, m):
    return struct.pack("<BBBB", ops, off, ln, idx) + m

put("vu_frontend", "open", fe(0, 0, 0, 0, handshake()))
put("vu_frontend", "open-noproto", fe(0, 0, 0, 0, reply(1, u64(1 << 32))))
put("vu_frontend", "config", fe(1, 0, 8, 0, handshake() +
    reply(24, struct.pack("<III", 0, 8, 0) + bytes(range(8)))))
put("vu_frontend", "ring", fe(0x1e, 0, 0, 1, handshake() + reply(2, ACK) +
    reply(5, ACK) + b"".join(reply(r, ACK) for r in (8, 9, 10, 12, 13, 14,
    18)) + reply(11, state(1, 5))))
put("vu_frontend", "reset", fe(0x60, 0, 0, 0, handshake() + reply(13, ACK) +
    reply(34, ACK)))
put("vu_frontend", "inflight", fe(0x80, 0, 0, 0, handshake() +
    reply(31, struct.pack("<QQHH", 4096, 0, 2, 64) + b"\0" * 4, [MEMFD]) +
    reply(32, ACK) + reply(1, u64(FEAT))))
# The inflight fd the core keeps for later backends, of odd kinds and sizes.
def infl_reply(size=4096, off=0, kind=ODD, before=b"", shrink=False):
    return fe(0x80, 0, 0, 0x40 if shrink else 0, before + handshake() +
              reply(31, struct.pack("<QQHH", size, off, 2, 64) + b"\0" * 4,
                    [kind]) + reply(32, ACK) + reply(1, u64(FEAT)))

put("vu_frontend", "inflight-memfd", infl_reply(before=new_odd(0, 4096)))
put("vu_frontend", "inflight-shrinks-later", infl_reply(
    before=new_odd(0, 4096), shrink=True))
put("vu_frontend", "inflight-short-file", infl_reply(before=new_odd(0, 4095)))
put("vu_frontend", "inflight-past-end", infl_reply(0x1000, 0x1000,
    before=new_odd(2, 0x1fff)))
put("vu_frontend", "inflight-write-sealed", infl_reply(
    before=new_odd(3, 4096)))
put("vu_frontend", "inflight-read-only", infl_reply(before=new_odd(4, 4096)))
put("vu_frontend", "inflight-socket", infl_reply(before=new_odd(5, 0)))
put("vu_frontend", "inflight-dev-zero", infl_reply(before=new_odd(6, 0)))
put("vu_frontend", "inflight-eventfd", infl_reply(kind=EVENTFD))
put("vu_frontend", "inflight-pipe", infl_reply(kind=PIPE))

# --- surface 4: requests -----------------------------------------------
def req_seed(dev, dflags, rflags, q, descs, heads, extra, frames=None):
    hdr = struct.pack("<BBBBH", dev, dflags, rflags, 3, 0)
    if dev == 1:
        hdr += struct.pack("<B", len(frames or []))
        for fr in frames or []:
            hdr += struct.pack("<H", len(fr)) + fr
    base = q * 0x2000
    parts = [(base, b"".join(descs)), (base + 0x800, avail(heads))]
    return hdr + memory(0x10000, parts + list(extra))

def blk(t, sector, data_len, data_flags, name, extra=()):
    h = struct.pack("<IIQ", t, 0, sector)
    d = [desc(0x1800, 16, NEXT, 1)]
    if data_len:
        d.append(desc(0x1a00, data_len, data_flags | NEXT, 2))
    d.append(desc(0x1e00, 1, WRITE))
    put("requests", name, req_seed(0, 0, 0, 0, d, [0],
        [(0x1800, h)] + list(extra)))

blk(0, 8, 1024, WRITE, "blk-read")
blk(1, 16, 512, 0, "blk-write", [(0x1a00, b"\xab" * 512)])
blk(4, 0, 0, 0, "blk-flush")
blk(8, 0, 20, WRITE, "blk-getid")
blk(11, 0, 16, 0, "blk-discard", [(0x1a00, struct.pack("<QII", 8, 8, 0))])
blk(13, 0, 16, 0, "blk-write-zeroes", [(0x1a00, struct.pack("<QII", 8, 8, 1))])
put("requests", "blk-indirect", req_seed(0, 0, 2, 0,
    [desc(0x1f00, 48, INDIRECT)], [0], [(0x1f00, desc(0x1800, 16, NEXT, 1) +
    desc(0x1a00, 512, WRITE | NEXT, 2) + desc(0x1e00, 1, WRITE)),
    (0x1800, struct.pack("<IIQ", 0, 0, 1))]))

eth = bytes.fromhex("ffffffffffff02000000000108060001") + b"\0" * 44
vhdr = struct.pack("<BBHHHHH", 0, 0, 0, 0, 0, 0, 1)
put("requests", "net-tx", req_seed(1, 0, 0, 1, [desc(0x1800, 12 + 60)], [0],
    [(0x1800, vhdr + eth)]))
csum = struct.pack("<BBHHHHH", 1, 0, 0, 0, 14, 16, 1)
put("requests", "net-tx-csum", req_seed(1, 1, 0, 1, [desc(0x1800, 12),
    desc(0x1900, 60)], [0], [(0x1800, csum), (0x1900, eth)]))
tso = struct.pack("<BBHHHHH", 1, 1, 54, 1448, 34, 16, 1)
put("requests", "net-tx-tso4", req_seed(1, 1 | 1 << 3 | 1 << 6, 0, 1,
    [desc(0x1800, 12 + 60)], [0], [(0x1800, tso + eth)]))
put("requests", "net-rx", req_seed(1, 0, 0, 0,
    [desc(0x1a00, 2048, WRITE)], [0], [], frames=[vhdr + eth]))
put("requests", "rnd", req_seed(2, 0, 0, 0, [desc(0x1a00, 64, WRITE)], [0],
    []))
put("requests", "rnd-rate", req_seed(2, 0x11, 1, 0, [desc(0x1a00, 4096,
    WRITE)], [0], []))

def vsock_pkt(sport, dport, op, data=b"", flags=0, buf_alloc=65536, fwd=0):
    return struct.pack("<QQIIIHHIII", 3, 2, sport, dport, len(data), 1, op,
                       flags, buf_alloc, fwd) + data

def vsock_seed(tx, host=b"", hp=1000, gp=2000, rx=4, event=False):
    """Connection (hp, gp) open with host bytes waiting; tx packets on
    queue 1, rx buffers on queue 0, an event buffer on queue 2."""
    hdr = struct.pack("<BBBBH", 3, 0, 0, 3, 0)
    hdr += struct.pack("<HHHH", hp, gp, 4096, len(host)) + host
    txd, parts, at = [], [], 0x6000
    for i, p in enumerate(tx):
        txd.append(desc(at, len(p)))
        parts.append((at, p))
        at += 0x200
    parts += [(0x2000, b"".join(txd)), (0x2800, avail(range(len(tx))))]
    rxd = [desc(0x8000 + i * 0x400, 0x400, WRITE) for i in range(rx)]
    parts += [(0, b"".join(rxd)), (0x800, avail(range(rx)))]
    if event:
        parts += [(0x4000, desc(0xc000, 4, WRITE)), (0x4800, avail([0]))]
    return hdr + memory(0x10000, parts)

put("requests", "vsock-rw", vsock_seed([vsock_pkt(2000, 1000, 5, b"ping"),
    vsock_pkt(2000, 1000, 7)], host=b"hello from the host"))
put("requests", "vsock-request", vsock_seed([vsock_pkt(2001, 99, 1),
    vsock_pkt(2000, 1000, 4, flags=3)], event=True))
put("requests", "vsock-credit", vsock_seed([vsock_pkt(2000, 1000, 6,
    buf_alloc=8, fwd=0)], host=b"x" * 64))

# --- surface 5: devices ------------------------------------------------
def op(kind, sel, off, size, val, write=False):
    return struct.pack("<BBHBI", kind | (0x80 if write else 0), sel, off,
                       {1: 0, 2: 1, 4: 2, 8: 3}[size], val)

for sel in range(12):
    put("devices", "mmio-%d" % sel, b"".join(op(1, sel, o, 4, 0)
        for o in (0, 4, 8, 0x14, 0x16, 0x18, 0x1c, 0x20)) +
        op(1, sel, 0x14, 1, 0xf, True) + op(1, sel, 0x16, 2, 0, True) +
        op(1, sel, 0x1c, 2, 1, True) + op(1, sel, 0x3000, 2, 0, True) +
        op(3, 0, 0, 1, 0))
    put("devices", "pio-%d" % sel, b"".join(op(0, sel, o, 1, 0)
        for o in range(8)) + op(0, sel, 0, 1, 0x80, True) +
        op(0, sel, 1, 1, 0x0b, True) + op(0, sel, 3, 1, 0x03, True))
put("devices", "cf8", op(0, 0, 0, 4, 0x80002000, True) + op(0, 1, 0, 4, 0) +
    op(0, 0, 0, 4, 0x80002010, True) + op(0, 1, 0, 4, 0xffffffff, True))

# --- surface 6: config -------------------------------------------------
def args(*a):
    return b"\0" + b"\0".join(x.encode() for x in a)

put("config", "args", args("-c", "2", "-m", "256M", "-s", "0,hostbridge",
    "-s", "3,virtio-blk,/tmp/x.img,ro", "-l", "com1,stdio", "-H", "vm0"))
put("config", "args-o", args("-o", "cpus=4", "-o", "memory.size=1G", "-s",
    "4,virtio-net,tap0,mac=52:54:00:12:34:56", "-s", "31,lpc", "-e", "vm1"))
put("config", "args-topology", args("-c", "cpus=4,sockets=2,cores=2",
    "-s", "5:0,virtio-rnd", "-k", "/dev/null", "vm2"))
put("config", "file", b"\1" + b"# hyve\ncpus=2\nmemory.size=1G\n"
    b"pci.0.3.0.device=virtio-rnd\nlpc.com1.path=stdio\n\nname=vm0\n")
put("config", "file-bad", b"\1" + b"cpus\n=x\npci..0=1\nmemory.size=12Q\n")
for i, j in enumerate((
        '{"version":1,"cmd":"status","vm":"vm0"}',
        '{"version":1,"cmd":"poweroff","force":true}',
        '{"version":1,"cmd":"restart","device":"blk0"}',
        '{"version":1,"cmd":"swap","device":"net0","backend":"/x","path":"/y"}',
        '{"version":1,"ok":true,"result":{"a":[1,2,null]}}',
        '{"version":2,"cmd":"audit","extra":1}')):
    put("config", "control-%d" % i, b"\2" + j.encode() + b"\n" +
        b'{"version":1,"cmd":"stats"}\n')
