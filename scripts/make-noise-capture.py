#!/usr/bin/env python3
"""Write a pcap of traffic pgtls has nothing to follow in, to measure how
fast it skips it: UDP datagrams (DNS-sized, to port 53) from many clients.

    scripts/make-noise-capture.py OUT.pcap [PACKETS]

PACKETS defaults to 2,000,000 (196 MB). Every packet is a valid Ethernet,
IPv4 and UDP frame with a 40-byte payload, 10 microseconds after the last.
pgtls must find no session in it.
"""
import struct
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    count = int(sys.argv[2]) if len(sys.argv) == 3 else 2_000_000
    ether = bytes.fromhex("001122334455 66778899aabb 0800")
    payload = b"x" * 40
    with open(sys.argv[1], "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        records = []
        for i in range(count):
            src = bytes([10, 0, (i >> 8) & 255, i & 255])
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), i & 0xFFFF,
                             0, 64, 17, 0, src, bytes([10, 1, 0, 1]))
            udp = struct.pack(">HHHH", 1024 + i % 60000, 53, 8 + len(payload), 0)
            frame = ether + ip + udp + payload
            usecs = 1_700_000_000 * 1_000_000 + 10 * i
            records.append(struct.pack("<IIII", usecs // 1_000_000, usecs % 1_000_000,
                                       len(frame), len(frame)) + frame)
            if len(records) == 100_000:
                out.write(b"".join(records))
                records = []
        out.write(b"".join(records))


if __name__ == "__main__":
    main()
