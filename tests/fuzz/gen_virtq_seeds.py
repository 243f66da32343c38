#!/usr/bin/env python3
"""Writes seed inputs for fuzz_virtq (layout: tests/fuzz/fuzz_virtq.c) into tests/fuzz/corpus/fuzz_virtq/."""
import os
import struct

RAM0 = 0x4000
DESC, AVAIL, USED, ITABLE = 0x000, 0x100, 0x200, 0x300
NEXT, WRITE, INDIRECT = 1, 2, 4


def seed(flags, log2size, descs, ring, table=(), used_event=0, seed_byte=0x5a):
    size = 1 << log2size
    hdr = bytes([flags | log2size << 2]) + struct.pack('<HHH', DESC, AVAIL, USED) + bytes([seed_byte])
    ram = bytearray(RAM0)
    for i, (addr, length, fl, nxt) in descs.items():
        struct.pack_into('<QIHH', ram, DESC + 16 * i, addr, length, fl, nxt)
    for i, (addr, length, fl, nxt) in enumerate(table):
        struct.pack_into('<QIHH', ram, ITABLE + 16 * i, addr, length, fl, nxt)
    struct.pack_into('<HH', ram, AVAIL, 0, len(ring))
    for i, head in enumerate(ring):
        struct.pack_into('<H', ram, AVAIL + 4 + 2 * i, head)
    struct.pack_into('<H', ram, AVAIL + 4 + 2 * size, used_event)
    return hdr + bytes(ram[:0x800])  # the rest of RAM is zero anyway


out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'fuzz_virtq')
os.makedirs(out, exist_ok=True)
seeds = {
    'direct': seed(0, 3, {0: (0x400, 16, NEXT, 1), 1: (0x500, 32, WRITE, 0), 3: (0x600, 8, WRITE, 0)}, [0, 3]),
    'indirect-event-idx': seed(3, 3, {2: (ITABLE, 48, INDIRECT, 0)}, [2],
                               table=[(0x400, 16, NEXT, 1), (0x500, 16, WRITE | NEXT, 2), (0x20000, 64, WRITE, 0)],
                               used_event=1),
    'direct-then-indirect': seed(2, 4, {5: (0x700, 4, NEXT, 6), 6: (ITABLE, 32, INDIRECT, 0)}, [5],
                                 table=[(0x400, 16, NEXT, 1), (0x500, 16, WRITE, 0)]),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
