#!/usr/bin/env python3
"""Writes N open plaintext sessions, interleaved, each answering R `SET`s.

    scripts/make-plaintext-churn.py N R OUT.pcap [S|N]

With S every answer carries a ParameterStatus, which thaws a frozen
plaintext session (pgtls reads it the full way, then freezes it again); with
N the answers are only RowDescription, CommandComplete and ReadyForQuery,
which a frozen session counts in place. Past 4,096 open sessions (`-j 1`)
this measures what freezing plaintext sessions costs and saves:

    scripts/make-plaintext-churn.py 6000 40 /tmp/churn-s.pcap S
    hyperfine -N 'target/release/pgtls read /tmp/churn-s.pcap -j 1'

Raw IPv4 pcap, no FIN: every session is still open at the end.
"""
import struct
import sys

SYN, PSH, ACK = 0x02, 0x08, 0x10
SERVER = bytes([10, 0, 0, 2])


def msg(tag, body):
    return tag + struct.pack("!I", len(body) + 4) + body


def ip_tcp(src, sport, dst, dport, seq, ack, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    return ip + tcp + payload


def main():
    n, rounds, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    with_status = len(sys.argv) < 5 or sys.argv[4] == "S"
    body = struct.pack("!I", 196608) + b"user\0app\0database\0shop\0\0"
    startup = struct.pack("!I", len(body) + 4) + body
    auth = (msg(b"R", struct.pack("!I", 0)) + msg(b"S", b"server_version\x0015.8\0")
            + msg(b"K", b"\0\0\x30\x39\1\2\3\4") + msg(b"Z", b"I"))
    query = msg(b"Q", b"SET TimeZone = 'UTC'\0")
    answer = (msg(b"T", b"\0\0") + msg(b"C", b"SET\0")
              + (msg(b"S", b"TimeZone\0UTC\0") if with_status else b"") + msg(b"Z", b"I"))
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        ts = 1_700_000_000_000_000

        def record(data):
            nonlocal ts
            ts += 10
            f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(data), len(data)) + data)

        # [client address, client port, client's next seq, server's next seq]
        sessions = [[bytes([172, 16, i // 60000, 0]), 1024 + i % 60000, 1000, 5000] for i in range(n)]

        def client(s, payload, flags=ACK | PSH):
            record(ip_tcp(s[0], s[1], SERVER, 5432, s[2], s[3], flags, payload))
            s[2] += len(payload)

        def server(s, payload, flags=ACK | PSH):
            record(ip_tcp(SERVER, 5432, s[0], s[1], s[3], s[2], flags, payload))
            s[3] += len(payload)

        for s in sessions:
            record(ip_tcp(s[0], s[1], SERVER, 5432, s[2], 0, SYN, b""))
            s[2] += 1
            server(s, b"", SYN | ACK)
            s[3] += 1
            client(s, startup)
            server(s, auth)
        for _ in range(rounds):
            for s in sessions:
                client(s, query)
                server(s, answer)


if __name__ == "__main__":
    main()
