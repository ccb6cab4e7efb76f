#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets from samples/.

    python3 fuzz/make-seeds.py        # rewrites fuzz/seeds/<target>/

pipeline:   the sample captures themselves (pcap and pcapng), but the big scanner one
session:    each PostgreSQL session of a sample as the session target's records
tls_stream: each direction's byte stream from its first TLS record on
pg_parsers: startup packets and the typed messages of plaintext sessions
reassembly: each direction's segments as (flags, offset, length, tail) records
"""
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "samples")
OUT = os.path.join(ROOT, "fuzz", "seeds")
PORT = 5432
SKIP = {"scanner-nmap.pcap"}  # 277 KB of probes: too slow a seed


def packets(path):
    """(linktype, frame bytes) of a legacy pcap file."""
    b = open(path, "rb").read()
    e = "<" if struct.unpack("<I", b[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack(e + "I", b[20:24])[0] & 0x0FFFFFFF
    off = 24
    while off + 16 <= len(b):
        caplen = struct.unpack(e + "I", b[off + 8 : off + 12])[0]
        yield link, b[off + 16 : off + 16 + caplen]
        off += 16 + caplen


def tcp(link, f):
    """(src, sport, dst, dport, seq, flags, payload) or None."""
    if link == 1:
        et, net = struct.unpack(">H", f[12:14])[0], f[14:]
    elif link == 276:
        et, net = struct.unpack(">H", f[0:2])[0], f[20:]
    elif link == 113:
        et, net = struct.unpack(">H", f[14:16])[0], f[16:]
    else:
        return None
    if et == 0x0800 and len(net) >= 20 and net[9] == 6:
        ihl = (net[0] & 15) * 4
        total = struct.unpack(">H", net[2:4])[0]
        src, dst, seg = net[12:16], net[16:20], net[ihl:total]
    elif et == 0x86DD and len(net) >= 40 and net[6] == 6:
        plen = struct.unpack(">H", net[4:6])[0]
        src, dst, seg = net[8:24], net[24:40], net[40 : 40 + plen]
    else:
        return None
    sport, dport, seq = struct.unpack(">HHI", seg[:8])
    doff = (seg[12] >> 4) * 4
    return src, sport, dst, dport, seq, seg[13], seg[doff:]


def sessions(path):
    """Per TCP connection to PORT: list of (to_client, seq, flags, payload)."""
    flows = {}
    for link, f in packets(path):
        t = tcp(link, f)
        if t is None:
            continue
        src, sport, dst, dport, seq, flags, payload = t
        if dport == PORT:
            key, back = (src, sport, dst, dport), False
        elif sport == PORT:
            key, back = (dst, dport, src, sport), True
        else:
            continue
        flows.setdefault(key, []).append((back, seq, flags, payload))
    return list(flows.values())


def stream(segs, back):
    """The in-order bytes of one direction."""
    out, nxt = bytearray(), None
    for b, seq, flags, payload in segs:
        if b != back:
            continue
        if flags & 2:
            nxt = (seq + 1) & 0xFFFFFFFF
            continue
        if nxt is None:
            nxt = seq
        skip = (nxt - seq) & 0xFFFFFFFF
        if skip < len(payload):
            out += payload[skip:]
            nxt = (seq + len(payload)) & 0xFFFFFFFF
    return bytes(out)


def session_records(segs):
    """The session target's input: flags, seq delta, length, payload."""
    out, nxt = bytearray(), [None, None]
    for back, seq, flags, payload in segs:
        d = 1 if back else 0
        if nxt[d] is None:
            nxt[d] = seq
        delta = (seq - nxt[d]) & 0xFFFFFFFF
        delta = delta - (1 << 32) if delta >= 1 << 31 else delta
        delta = max(-32768, min(32767, delta))
        f = d | (2 if flags & 2 else 0) | (4 if flags & 16 else 0)
        f |= (8 if flags & 1 else 0) | (16 if flags & 4 else 0)
        out += struct.pack(">BhH", f, delta, len(payload)) + payload
        end = (seq + (1 if flags & 2 else 0) + len(payload)) & 0xFFFFFFFF
        if ((end - nxt[d]) & 0xFFFFFFFF) < (1 << 31):
            nxt[d] = end
    return bytes(out)


def reassembly_records(segs, back):
    """The reassembly target's input: base, then (flags, offset, len, tail)."""
    mine = [s for s in segs if s[0] == back]
    if not mine:
        return None
    base = mine[0][1]
    out = bytearray(struct.pack(">I", base))
    for _, seq, flags, payload in mine[:200]:
        off = (seq - base) & 0xFFFFFFFF
        off = off - (1 << 32) if off >= 1 << 31 else off
        f, n = (1 if flags & 2 else 0), len(payload)
        if not -32768 <= off <= 32767:
            f |= 2
            off //= 64
        if n > 255:
            f |= 4
            n //= 64
        out += struct.pack(">BhBB", f, max(-32768, min(32767, off)), min(n, 255), 0)
    return bytes(out)


def messages(b):
    """Typed messages (tag, length, body) split off a plaintext stream."""
    while len(b) >= 5:
        n = struct.unpack(">I", b[1:5])[0]
        if n < 4 or len(b) < 1 + n:
            return
        yield b[: 1 + n]
        b = b[1 + n :]


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    dirs = {}
    for t in ("pipeline", "session", "tls_stream", "pg_parsers", "reassembly"):
        dirs[t] = os.path.join(OUT, t)
        os.makedirs(dirs[t])
    seen = set()

    def put(target, name, data):
        if data and (target, data) not in seen:
            seen.add((target, data))
            with open(os.path.join(dirs[target], name), "wb") as f:
                f.write(data)

    for name in sorted(os.listdir(SAMPLES)):
        path = os.path.join(SAMPLES, name)
        if name in SKIP or not (name.endswith(".pcap") or name.endswith(".pcapng")):
            continue
        stem = name.rsplit(".", 1)[0]
        put("pipeline", name, open(path, "rb").read())
        if not name.endswith(".pcap"):
            continue
        for i, segs in enumerate(sessions(path)):
            tag = f"{stem}-{i}"
            put("session", tag, session_records(segs))
            for back, side in ((False, "client"), (True, "server")):
                s = stream(segs, back)
                r = reassembly_records(segs, back)
                if r:
                    put("reassembly", f"{tag}-{side}", r)
                at = s.find(b"\x16\x03")
                if at >= 0:
                    put("tls_stream", f"{tag}-{side}", b"\x07\x00" + s[at : at + 8192])
                if not back:
                    put("pg_parsers", f"{tag}-startup", s[:512])
                else:
                    for j, m in enumerate(messages(s)):
                        if j < 12:
                            put("pg_parsers", f"{tag}-msg{j}", m)
                            put("pg_parsers", f"{tag}-body{j}", m[5:])
    for t, d in dirs.items():
        n = len(os.listdir(d))
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"{t}: {n} seeds, {size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
