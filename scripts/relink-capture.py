#!/usr/bin/env python3
"""Rewrite the link headers of an Ethernet pcap, packet for packet, to measure
pgtls on the link types other capture setups produce:

    scripts/relink-capture.py IN.pcap OUT.pcap KIND

KIND is one of
  sll    Linux cooked v1 (tcpdump -i any, older libpcap)
  sll2   Linux cooked v2 (tcpdump -i any, libpcap >= 1.10)
  vlan   Ethernet with one 802.1Q tag (VLAN 100)
  raw    raw IP (DLT_RAW, e.g. captures from tunnels)
  null   BSD loopback (macOS lo0)

The IP packets themselves are untouched, so pgtls must give every session the
same report it gives on IN.pcap. Only classic pcap with Ethernet (DLT 1) input
is accepted.
"""
import struct
import sys

KINDS = {"sll": 113, "sll2": 276, "vlan": 1, "raw": 101, "null": 0}


def relink(frame, kind):
    mac, ether_type, body = frame[6:12], frame[12:14], frame[14:]
    if kind == "sll":
        return struct.pack(">HHH", 0, 1, 6) + mac + b"\0\0" + ether_type + body
    if kind == "sll2":
        return ether_type + b"\0\0" + struct.pack(">IHBB", 1, 1, 0, 6) + mac + b"\0\0" + body
    if kind == "vlan":
        return frame[:12] + b"\x81\x00\x00\x64" + ether_type + body
    if kind == "raw":
        return body
    family = 30 if ether_type == b"\x86\xdd" else 2
    return struct.pack("<I", family) + body


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in KINDS:
        sys.exit(__doc__)
    src, dst, kind = sys.argv[1:]
    with open(src, "rb") as f, open(dst, "wb") as o:
        head = f.read(24)
        if len(head) < 24:
            sys.exit("relink-capture: %s is not a pcap file" % src)
        order = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
                 b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}.get(head[:4])
        if order is None or struct.unpack(order + "I", head[20:24])[0] != 1:
            sys.exit("relink-capture: %s is not an Ethernet pcap file" % src)
        o.write(head[:20] + struct.pack(order + "I", KINDS[kind]))
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, frac, caplen, wirelen = struct.unpack(order + "IIII", rec)
            frame = f.read(caplen)
            if len(frame) < caplen or caplen < 14:
                sys.exit("relink-capture: %s: a record is cut short" % src)
            out = relink(frame, kind)
            grown = len(out) - caplen
            o.write(struct.pack(order + "IIII", sec, frac, len(out), wirelen + grown) + out)


if __name__ == "__main__":
    main()
