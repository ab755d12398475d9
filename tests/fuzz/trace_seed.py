#!/usr/bin/env python3
"""Turns a real guest's port and MMIO accesses, as KVM's kvm_pio and
kvm_mmio trace events show them, into fuzz_devices inputs.

usage: trace_seed.py RANGES TRACE OUT_PREFIX
RANGES is what fuzz_devices prints with FUZZ_DEVICES_RANGES set (the
harness's buses); an access outside them (the PIC, the LAPIC) is left out,
as are repeats of the same read (a guest polling a register) and all but
the first 64 accesses to one port range (the UART's output).  ECAM
accesses become 0xCF8/0xCFC pairs, which reach the same config space:
the harness's 16-bit offset does not reach past slot 1 in ECAM.  Writes
OUT_PREFIX-1, -2, ... of at most 512 accesses each, the most one input
runs (see fuzz_devices.c for the layout)."""
import re
import struct
import sys

PER_INPUT = 512
PER_PORT_RANGE = 64
ECAM = 0xE0000000

def ranges(path):
    out = {"pio": [], "mmio": []}
    for line in open(path):
        bus, idx, base, ln = line.split()[:4]
        out[bus].append((int(idx), int(base, 16), int(ln, 16)))
    return out

def find(rs, addr):
    for idx, base, ln in rs:
        if base <= addr < base + ln:
            return idx, addr - base
    return None

PIO = re.compile(r"kvm_pio: pio_(read|write) at (0x[0-9a-f]+) size (\d+) "
                 r"count 1 val (0x[0-9a-f]+)")
MMIO = re.compile(r"kvm_mmio: mmio (unsatisfied-read|write) len (\d+) "
                  r"gpa (0x[0-9a-f]+) val (0x[0-9a-f]+)")

def parse(line):
    """(bus, write, address, size, value) of one trace line, or None."""
    m = PIO.search(line)
    if m:
        return ("pio", m.group(1) == "write", int(m.group(2), 16),
                int(m.group(3)), int(m.group(4), 16))
    m = MMIO.search(line)
    if m:
        return ("mmio", m.group(1) == "write", int(m.group(3), 16),
                int(m.group(2)), int(m.group(4), 16))
    return None

def ecam_to_cf8(a):
    """The 0xCF8/0xCFC accesses that do what an ECAM access does."""
    bus, write, addr, size, val = a
    off = addr - ECAM
    reg = off & 0xfff
    if reg >= 0x100:
        return []
    sel = 0x80000000 | (off >> 20 & 0xff) << 16 | (off >> 15 & 0x1f) << 11 \
        | (off >> 12 & 7) << 8 | (reg & 0xfc)
    return [("pio", True, 0xcf8, 4, sel),
            ("pio", write, 0xcfc + (reg & 3), size, val)]

def raw(trace):
    for line in open(trace):
        a = parse(line)
        if a is None:
            continue
        if a[0] == "mmio" and ECAM <= a[2] < ECAM + (1 << 28):
            yield from ecam_to_cf8(a)
        else:
            yield a

def accesses(trace, rs):
    per_range = {}
    for bus, write, addr, size, val in raw(trace):
        hit = find(rs[bus], addr)
        if hit is None or hit[1] > 0xffff or size not in (1, 2, 4, 8):
            continue
        if bus == "pio" and not 0xcf8 <= addr <= 0xcff:
            per_range[hit[0]] = per_range.get(hit[0], 0) + 1
            if per_range[hit[0]] > PER_PORT_RANGE:
                continue
        yield ((1 if bus == "mmio" else 0) | (0x80 if write else 0), hit[0],
               hit[1], size.bit_length() - 1, val & 0xffffffff if write else 0)

def main():
    rs = ranges(sys.argv[1])
    ops, last = [], None
    for a in accesses(sys.argv[2], rs):
        if a == last and not a[0] & 0x80:
            continue
        last = a
        ops.append(struct.pack("<BBHBI", *a))
    if not ops:
        sys.exit("trace_seed: no access in %s falls in the harness's ranges"
                 % sys.argv[2])
    n = 0
    for i in range(0, len(ops), PER_INPUT):
        n += 1
        with open("%s-%d" % (sys.argv[3], n), "wb") as f:
            f.write(b"".join(ops[i:i + PER_INPUT]))
    print("trace_seed: %d accesses in %d inputs" % (len(ops), n))

main()
