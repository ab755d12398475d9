#!/usr/bin/env python3
"""Turns a ring that tests/fuzz/vu_record wrote (as a real guest left it)
into inputs for fuzz_ring and fuzz_requests: the descriptor table and the
avail ring as they were, the buffers moved into the harness's small guest
memory with the descriptors' addresses changed to match, and the first
avail index set so that the last chains the guest posted are walked again.

usage: ring_seed.py DUMP DEVICE RING_OUT REQUESTS_OUT
DEVICE is blk or rnd (fuzz_requests' device 0 or 2)."""
import struct
import sys

F_NEXT, F_INDIRECT = 1, 4
EVENT_IDX, INDIRECT_DESC = 29, 28

def load(path):
    b = open(path, "rb").read()
    features, num = struct.unpack_from("<QH", b)
    off = 10
    descs = [list(struct.unpack_from("<QIHH", b, off + 16 * i))
             for i in range(num)]
    off += 16 * num
    avail = b[off:off + 6 + 2 * num]
    off += 6 + 2 * num

    def buf():
        nonlocal off
        n, = struct.unpack_from("<I", b, off)
        off += 4 + n
        return b[off - n:off]
    bufs = []
    for d in descs:
        data = buf()
        table = []
        if d[2] & F_INDIRECT:
            table = [[*struct.unpack_from("<QIHH", data, 16 * k), buf()]
                     for k in range(min(len(data), d[1]) // 16)]
        bufs.append((data, table))
    return features, num, descs, avail, bufs

class Image:
    """Guest memory of the harness: rings at fixed places, buffers after."""
    def __init__(self, size, first_free):
        self.m = bytearray(size)
        self.free = first_free

    def put(self, data):
        at = (self.free + 15) & ~15
        if at + len(data) > len(self.m):
            return None
        self.m[at:at + len(data)] = data
        self.free = at + len(data)
        return at

def chain_heads(num, avail, count):
    """The heads of the last count chains the guest made available."""
    idx, = struct.unpack_from("<H", avail, 2)
    return [struct.unpack_from("<H", avail, 4 + 2 * (i % num))[0]
            for i in range(idx - count, idx)]

def place(img, table, bufs, i):
    """Moves descriptor i's buffer (an indirect one's entries too) into
    the image and points it there; False when the image is full."""
    data, entries = bufs[i]
    if table[i][2] & F_INDIRECT:
        ind = b""
        for e in entries:
            at = img.put(e[4])
            if at is None:
                return False
            ind += struct.pack("<QIHH", at, len(e[4]), e[2], e[3])
        data = ind
    at = img.put(data)
    if at is None:
        return False
    table[i][0], table[i][1] = at, len(data)
    return True

def lay_out(num, descs, avail, bufs, size, desc_at, avail_at, first_free):
    """The image with as many of the last chains as fit, the first avail
    index that walks them, and their count."""
    img = Image(size, first_free)
    table = [list(d) for d in descs]
    idx, = struct.unpack_from("<H", avail, 2)
    done, count = set(), 0
    for head in reversed(chain_heads(num, avail, min(idx, num))):
        # Each descriptor is placed once: later chains may share it.
        i, ok = head, True
        while ok and i < num and i not in done:
            done.add(i)
            ok = place(img, table, bufs, i)
            if not table[i][2] & F_NEXT:
                break
            i = table[i][3]
        if not ok:
            break
        count += 1
    img.m[desc_at:desc_at + 16 * num] = b"".join(
        struct.pack("<QIHH", *d) for d in table)
    img.m[avail_at:avail_at + len(avail)] = avail
    return bytes(img.m).rstrip(b"\0"), (idx - count) & 0xffff, count

def main():
    dump, device, ring_out, req_out = sys.argv[1:5]
    features, num, descs, avail, bufs = load(dump)
    log2 = num.bit_length() - 1
    rflags = (1 if features >> EVENT_IDX & 1 else 0) | \
        (2 if features >> INDIRECT_DESC & 1 else 0)
    # fuzz_ring: default memory table, rings at 0, 0x1000, 0x2000 in the
    # first (32 KiB) region, iov limit 64.
    img, base, n1 = lay_out(num, descs, avail, bufs, 0x8000, 0, 0x1000,
                            0x3000)
    hdr = struct.pack("<BBHHHHH", rflags, log2, 0, 0x1000, 0x2000, 63, base)
    open(ring_out, "wb").write(hdr + img)
    # fuzz_requests: queue 0 at 0 (desc), 0x800 (avail), 0x1000 (used).
    if num > 128:
        sys.exit("ring_seed: %s: a %u-entry ring does not fit fuzz_requests"
                 % (dump, num))
    img, base, n2 = lay_out(num, descs, avail, bufs, 0x10000, 0, 0x800,
                            0x4000)
    dev = {"blk": 0, "rnd": 2}[device]
    hdr = struct.pack("<BBBBH", dev, 0, rflags, log2, base)
    open(req_out, "wb").write(hdr + img)
    print("ring_seed: %s: %u-entry ring, %u and %u chains" % (dump, num, n1, n2))

main()
