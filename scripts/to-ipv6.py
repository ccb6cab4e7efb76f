#!/usr/bin/env python3
"""Rewrite the IPv4 packets of an Ethernet pcap as IPv6, packet for packet, to
measure pgtls on IPv6 traffic (a client that reaches `localhost` over ::1):

    scripts/to-ipv6.py IN.pcap OUT.pcap

127.0.0.1 becomes ::1 and any other address a.b.c.d becomes fd00::a.b.c.d.
The IPv4 header (with its options) is replaced by a 40-byte IPv6 header
carrying the same protocol and payload; packets that are not IPv4 are copied
as they are. TCP checksums are left as they were (pgtls does not check them),
so a tool that validates checksums will flag them. Every session must get the
same verdict on OUT.pcap as on IN.pcap, with the IPv6 addresses. Only classic
little-endian microsecond pcap with Ethernet (DLT 1) is accepted as input
(what tcpdump writes on Linux).
"""
import struct
import sys

LOOPBACK_V4 = b"\x7f\x00\x00\x01"


def v6_address(v4):
    if v4 == LOOPBACK_V4:
        return b"\x00" * 15 + b"\x01"
    return b"\xfd" + b"\x00" * 11 + v4


def to_v6(frame):
    """The frame with its IPv4 header replaced and how many bytes longer it
    got, or None if it is not IPv4."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[14] >> 4 != 4:
        return None
    ihl = (frame[14] & 0x0F) * 4
    if ihl < 20 or len(frame) < 14 + ihl:
        return None
    total = struct.unpack(">H", frame[16:18])[0]
    header = struct.pack(">IHBB", 0x6000_0000, max(total - ihl, 0), frame[23], 64)
    header += v6_address(frame[26:30]) + v6_address(frame[30:34])
    return frame[:12] + b"\x86\xdd" + header + frame[14 + ihl :], 40 - ihl


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data = open(sys.argv[1], "rb").read()
    magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", data[:24])
    if magic != 0xA1B2C3D4 or link != 1:
        sys.exit("to-ipv6: only little-endian microsecond pcap with Ethernet is read")
    out = [data[:24]]
    at = 24
    while at + 16 <= len(data):
        sec, usec, caplen, orig = struct.unpack("<IIII", data[at : at + 16])
        frame = data[at + 16 : at + 16 + caplen]
        at += 16 + caplen
        rewritten = to_v6(frame)
        if rewritten is not None:
            frame, grew = rewritten
            caplen, orig = len(frame), orig + grew
        out.append(struct.pack("<IIII", sec, usec, caplen, orig))
        out.append(frame)
    with open(sys.argv[2], "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main()
