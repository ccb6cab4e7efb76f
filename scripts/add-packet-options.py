#!/usr/bin/env python3
"""Give every packet block of a pcapng file options, to measure pgtls on
captures whose tools record something per packet (a direction flag, a
comment, the capturing process):

    scripts/add-packet-options.py IN.pcapng OUT.pcapng

Each enhanced packet block gets an epb_flags option (inbound) and the end of
options; every other block is copied as is. The packets are untouched, so
pgtls must give every session the report it gives on IN.pcapng.
"""
import struct
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data = open(sys.argv[1], "rb").read()
    out = bytearray()
    end = "<"
    at = 0
    blocks = 0
    while at + 12 <= len(data):
        if data[at:at + 4] == b"\x0a\x0d\x0d\x0a":
            # A section header: its byte-order magic sets the byte order.
            end = "<" if data[at + 8:at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        kind, length = struct.unpack_from(end + "II", data, at)
        block = data[at:at + length]
        if len(block) != length or length < 12:
            sys.exit(f"{sys.argv[1]}: block at byte {at} is cut or corrupt")
        if kind == 6:
            caplen = struct.unpack_from(end + "I", block, 20)[0]
            fixed = block[8:28 + (caplen + 3) // 4 * 4]
            options = struct.pack(end + "HHI", 2, 4, 1) + struct.pack(end + "HH", 0, 0)
            new_length = 8 + len(fixed) + len(options) + 4
            out += struct.pack(end + "II", 6, new_length) + fixed + options
            out += struct.pack(end + "I", new_length)
            blocks += 1
        else:
            out += block
        at += length
    open(sys.argv[2], "wb").write(out)
    print(f"{blocks} packet blocks given options", file=sys.stderr)


if __name__ == "__main__":
    main()
