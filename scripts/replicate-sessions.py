#!/usr/bin/env python3
"""Replicate the real short PostgreSQL sessions of a few sample captures into one
large pcap with many distinct sessions, plus the expected verdict of every copy.

    scripts/replicate-sessions.py --pgtls target/release/pgtls \
        --sessions 1000000 --out short-sessions.pcap --expected short-sessions.expected.tsv \
        samples/tls13-verify-full.pcap samples/tls12.pcap ...

Each source file is a "unit": all of its packets, with all of its sessions (a file
may hold several, e.g. cancel-plaintext.pcap: the query session and the
CancelRequest session). Units are copied in turn (file 1, 2, ..., N, 1, 2, ...) until
at least --sessions sessions have been written. Every copied session gets its own
client address: client IPv4 10.x.y.z (never 10.0.0.0/16) and a client port in
1024..65535 other than the server ports; the server side (e.g. 127.0.0.1:5432) is
kept as captured.

Packets of --interleave consecutive copies are written round-robin (one packet
of each copy in turn), so that many flows are open at once as in a real capture;
the order of the packets within one copy is kept. Timestamps are rewritten to
increase by 1 microsecond per packet from --start.

The IPv4 header checksum is recomputed and the TCP checksum adjusted
incrementally (RFC 1624) for the new client address and port, so each copy is
exactly as valid as its source (loopback captures often carry partial TCP sums).

The expected verdicts come from `pgtls read SOURCE --format jsonl` on each source
file. The TSV has one line per copied session in order of session start (its first
packet in the output): index, client, server, verdict, source file, source client.

    pgtls read short-sessions.pcap --format jsonl \
        | scripts/replicate-sessions.py --check short-sessions.expected.tsv

checks pgtls's verdicts against the TSV: every expected session reported once,
with the expected verdict, and no other session; sorted by first frame, the
sessions come in the TSV's order (pgtls streams them as they end).

Only Ethernet (DLT 1) / IPv4 / TCP classic pcap sources (either byte order,
micro- or nanosecond) are supported; anything else is refused.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time

PCAP_MAGIC = {  # byte order; source timestamps are not kept, so either resolution
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
}


def die(msg):
    sys.stderr.write("replicate-sessions: %s\n" % msg)
    sys.exit(2)


def fold(s):
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return s


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24 or data[:4] not in PCAP_MAGIC:
        die("%s: not a classic pcap file" % path)
    endian = PCAP_MAGIC[data[:4]]
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype != 1:
        die("%s: link type %d, only Ethernet (1) is supported" % (path, linktype))
    frames = []
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _orig = struct.unpack_from(endian + "IIII", data, off)
        off += 16
        frame = data[off:off + incl]
        if len(frame) < incl:
            die("%s: truncated record" % path)
        frames.append((frame, _orig))
        off += incl
    return frames


def source_verdicts(pgtls, path, ports):
    cmd = [pgtls, "read", path, "--format", "jsonl"]
    for p in ports:
        cmd += ["--port", str(p)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout.decode()
    sessions = []
    for line in out.splitlines():
        if line.strip():
            d = json.loads(line)
            sessions.append((d["client"], d["server"], d["verdict"], d["first_frame"]))
    return sessions


def ip4(b):
    return "%d.%d.%d.%d" % tuple(b)


class Unit:
    """One source file turned into packet templates.

    For every packet: (pieces, ip_base, tcp_base, client_is_src, session_index)
    where pieces are the bytes between the fields that change per copy.
    """

    def __init__(self, path, pgtls, ports):
        self.path = path
        self.name = os.path.basename(path)
        frames = read_pcap(path)
        sessions = source_verdicts(pgtls, path, ports)
        if not sessions:
            die("%s: pgtls reported no session" % path)
        # session key: (client ip bytes, client port)
        key_to_idx = {}
        self.sessions = []  # (source client "ip:port", server, verdict)
        for i, (client, server, verdict, _first) in enumerate(sessions):
            host, port = client.rsplit(":", 1)
            key_to_idx[(bytes(int(x) for x in host.split(".")), int(port))] = i
            self.sessions.append((client, server, verdict))
        portset = set(ports)
        self.packets = []
        for n, (frame, orig_len) in enumerate(frames, 1):
            if len(frame) < 14 + 20 + 20 or frame[12:14] != b"\x08\x00":
                die("%s frame %d: not Ethernet/IPv4 (or cut short)" % (path, n))
            ihl = (frame[14] & 0x0F) * 4
            if frame[14] >> 4 != 4 or ihl < 20 or frame[23] != 6:
                die("%s frame %d: not IPv4/TCP" % (path, n))
            ip = 14
            tcp = ip + ihl
            if len(frame) < tcp + 18:
                die("%s frame %d: TCP header cut short" % (path, n))
            src, dst = frame[ip + 12:ip + 16], frame[ip + 16:ip + 20]
            sport, dport = struct.unpack_from(">HH", frame, tcp)
            if dport in portset:
                client_is_src, cip, cport = True, src, sport
            elif sport in portset:
                client_is_src, cip, cport = False, dst, dport
            else:
                die("%s frame %d: neither port is a server port" % (path, n))
            sidx = key_to_idx.get((bytes(cip), cport))
            if sidx is None:
                die("%s frame %d: packet of no session pgtls reported" % (path, n))
            # IPv4 header sum without the checksum and without the client address.
            hdr = bytearray(frame[ip:ip + ihl])
            hdr[10:12] = b"\0\0"
            coff = 12 if client_is_src else 16
            hdr[coff:coff + 4] = b"\0\0\0\0"
            s = 0
            for i in range(0, ihl, 2):
                s += (hdr[i] << 8) | hdr[i + 1]
            ip_base = fold(s)
            # TCP: RFC 1624 HC' = ~(~HC + ~m + m'); keep ~HC + sum(~m) as the base.
            old = struct.unpack_from(">H", frame, tcp + 16)[0]
            t = (~old & 0xFFFF)
            t += (~((cip[0] << 8) | cip[1]) & 0xFFFF) + (~((cip[2] << 8) | cip[3]) & 0xFFFF)
            t += (~cport & 0xFFFF)
            tcp_base = fold(t)
            # Pieces: [eth+ip up to csum] csum [..] CIP [..] CPORT [..] TCPCSUM [rest]
            ipc = ip + coff
            poff = tcp + (0 if client_is_src else 2)
            pieces = (
                frame[:ip + 10],
                frame[ip + 12:ipc],
                frame[ipc + 4:poff],
                frame[poff + 2:tcp + 16],
                frame[tcp + 18:],
            )
            lens = struct.pack("<II", len(frame), orig_len)
            self.packets.append((lens, pieces, ip_base, tcp_base, sidx))


def make_client_for(server_ports):
    """Distinct client address for global session number n (0-based): ports
    1024..65535 except the server ports, then the next address from 10.1.0.0 up
    (never 10.0.x.x)."""
    ports = [p for p in range(1024, 65536) if p not in server_ports]
    nports = len(ports)

    def client_for(n):
        host = (10 << 24) + (1 << 16) + n // nports
        return struct.pack(">I", host), ports[n % nports]

    return client_for


def check(tsv):
    """Compare `pgtls read --format jsonl` on stdin with the expected TSV."""
    expected = []
    with open(tsv) as f:
        for line in f:
            if not line.startswith("#"):
                fields = line.rstrip("\n").split("\t")
                expected.append((fields[1], fields[3]))
    want = dict(expected)
    seen = {}
    wrong = []
    extra = []
    order_ok = True
    n = 0
    reports = [json.loads(line) for line in sys.stdin]
    reports.sort(key=lambda d: d["first_frame"])
    for d in reports:
        client, verdict = d["client"], d["verdict"]
        if client not in want:
            extra.append((client, verdict, d.get("reason")))
            continue
        if client in seen:
            extra.append((client, verdict, "reported twice"))
            continue
        seen[client] = verdict
        if n < len(expected) and expected[n][0] != client:
            order_ok = False
        n += 1
        if verdict != want[client]:
            wrong.append((client, want[client], verdict, d.get("reason")))
    missing = len(want) - len(seen)
    print("expected %d sessions; pgtls reported %d of them, %d with another verdict, "
          "%d missing, %d not expected; order %s" % (
              len(want), len(seen), len(wrong), missing, len(extra),
              "identical" if order_ok and not missing else "DIFFERENT"))
    for w in wrong[:10]:
        print("  verdict differs: %s expected %s got %s (%s)" % w)
    for e in extra[:10]:
        print("  not expected: %s %s (%s)" % e)
    ok = not wrong and not missing and not extra and order_ok
    print("verdicts match" if ok else "VERDICTS DO NOT MATCH")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sources", nargs="*", help="Ethernet/IPv4 pcap files of real sessions")
    ap.add_argument("--check", metavar="TSV",
                    help="compare pgtls jsonl on stdin with this expected TSV, and exit")
    ap.add_argument("--pgtls", help="pgtls binary (for the source verdicts)")
    ap.add_argument("--out", help="output pcap")
    ap.add_argument("--expected", help="output TSV of expected verdicts")
    ap.add_argument("--sessions", type=int, default=1_000_000, help="at least this many sessions")
    ap.add_argument("--interleave", type=int, default=32,
                    help="copies whose packets are written round-robin (default 32)")
    ap.add_argument("--port", type=int, action="append", help="server port (default 5432)")
    ap.add_argument("--start", type=float, default=1_780_000_000.0,
                    help="first timestamp, Unix seconds (default 1780000000)")
    a = ap.parse_args()
    if a.check:
        sys.exit(check(a.check))
    if not (a.sources and a.pgtls and a.out and a.expected):
        ap.error("SOURCES, --pgtls, --out and --expected are needed (or --check TSV)")
    ports = a.port or [5432]
    if a.interleave < 1:
        die("--interleave must be at least 1")

    t0 = time.time()
    units = [Unit(p, a.pgtls, ports) for p in a.sources]
    per_round = sum(len(u.sessions) for u in units)
    copies = []  # unit index for each copy
    total = 0
    while total < a.sessions:
        ui = len(copies) % len(units)
        copies.append(ui)
        total += len(units[ui].sessions)

    client_for = make_client_for(set(ports))
    pack_ts = struct.Struct("<II").pack
    pack_h = struct.Struct(">H").pack
    ts_us = int(round(a.start * 1_000_000))
    next_session = 0
    npackets = 0
    nbytes = 24
    out = open(a.out + ".tmp", "wb", buffering=8 << 20)
    exp = open(a.expected + ".tmp", "w", buffering=4 << 20)
    exp.write("#index\tclient\tserver\tverdict\tsource\tsource_client\n")
    # Classic pcap, microseconds, Ethernet, snaplen 262144.
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    w = out.write

    for g in range(0, len(copies), a.interleave):
        group = []
        for ui in copies[g:g + a.interleave]:
            u = units[ui]
            # per copy: session -> (client ip bytes, port bytes, ip add, tcp add)
            addrs = [None] * len(u.sessions)
            group.append([u, addrs, 0])
        live = list(group)
        while live:
            still = []
            for c in live:
                u, addrs, k = c
                lens, pieces, ip_base, tcp_base, sidx = u.packets[k]
                ad = addrs[sidx]
                if ad is None:
                    cip, cport = client_for(next_session)
                    next_session += 1
                    csum_add = (cip[0] << 8 | cip[1]) + (cip[2] << 8 | cip[3])
                    cipstr = ip4(cip)
                    src_client, server, verdict = u.sessions[sidx]
                    exp.write("%d\t%s:%d\t%s\t%s\t%s\t%s\n" % (
                        next_session, cipstr, cport, server, verdict, u.name, src_client))
                    ad = addrs[sidx] = (cip, pack_h(cport), csum_add, csum_add + cport)
                cip, cportb, ipadd, tcpadd = ad
                s = ip_base + ipadd
                s = (s & 0xFFFF) + (s >> 16)
                s = (s & 0xFFFF) + (s >> 16)
                t = tcp_base + tcpadd
                t = (t & 0xFFFF) + (t >> 16)
                t = (t & 0xFFFF) + (t >> 16)
                p0, p1, p2, p3, p4 = pieces
                w(b"".join((pack_ts(ts_us // 1_000_000, ts_us % 1_000_000), lens,
                            p0, pack_h(~s & 0xFFFF), p1, cip, p2, cportb, p3,
                            pack_h(~t & 0xFFFF), p4)))
                ts_us += 1
                npackets += 1
                nbytes += 16 + len(p0) + len(p1) + len(p2) + len(p3) + len(p4) + 10
                k += 1
                if k < len(u.packets):
                    c[2] = k
                    still.append(c)
            live = still

    out.close()
    exp.close()
    os.replace(a.out + ".tmp", a.out)
    os.replace(a.expected + ".tmp", a.expected)
    sys.stderr.write(
        "replicate-sessions: %d sessions (%d copies of %d files, %d sessions a round), "
        "%d packets, %d bytes in %.1f s\n" % (
            next_session, len(copies), len(units), per_round, npackets, nbytes,
            time.time() - t0))


if __name__ == "__main__":
    main()
