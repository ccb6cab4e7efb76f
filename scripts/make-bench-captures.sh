#!/usr/bin/env bash
# Make the large captures for throughput measurements (issue 6), outside the repo.
#
#   sudo scripts/make-bench-captures.sh [OUTDIR]     # default OUTDIR=/var/tmp/pgtls-bench
#
# Writes, in OUTDIR:
#   pgbench-tls.pcap   a real capture (tcpdump on lo, full packets) of PostgreSQL 15
#                      with TLS (ssl_min_protocol_version TLSv1.2, hostssl only,
#                      scram-sha-256) while pgbench runs over sslmode=require:
#                      first long sessions (pgbench -c 8 -j 2 -T $LONG_SECONDS), then
#                      one new connection per transaction (pgbench -C -c 4 -j 2
#                      -t $CONNECT_TXNS), so most bytes are TLS application data
#                      and there are a few thousand sessions. Refused (and retried,
#                      up to 3 times) if tcpdump reports packets dropped by kernel.
#   pgbench-plain.pcap the same runs in clear (hostnossl, sslmode=disable): every
#                      query and result is parsed, the bulk case of a plaintext audit.
#   pgbench-tls.pcapng, pgbench-tls-sll2.pcap  pgbench-tls.pcap's packets as pcapng
#                      (editcap) and with Linux cooked v2 headers (tcpdump -i any;
#                      scripts/relink-capture.py).
#   pgbench-tls-opts.pcapng  the pcapng with an option on every packet block
#                      (scripts/add-packet-options.py), as tools that record a
#                      direction, comment or process per packet write them.
#   udp-noise.pcap     2,000,000 UDP datagrams and nothing else
#                      (scripts/make-noise-capture.py): traffic pgtls skips.
#   short-sessions.pcap             >= $SESSIONS sessions: the real short sessions of
#   short-sessions.expected.tsv     six samples replicated with distinct client
#                      addresses and ports (scripts/replicate-sessions.py), and the
#                      verdict each copied session must get (that of its source).
#   tls-sessions.pcap               >= $SESSIONS encrypted sessions: the TLS sessions
#   tls-sessions.expected.tsv       of five samples (psql TLS 1.3 and 1.2, psycopg,
#                      asyncpg, a TLS 1.2 certificate chain) replicated the same way;
#                      each ends with the client's RST, as libpq's and the drivers' do.
#   open-sessions.pcap  short-sessions.pcap without its FIN and RST segments: a
#                      million sessions whose verdicts are final and that are all
#                      still open at the end, for the memory per tracked flow
#                      (pgtls read open-sessions.pcap --max-flows 1100000).
#   open-tls-sessions.pcap  $SESSIONS copies of the two encrypted samples (TLS 1.3
#                      and TLS 1.2) without FIN and RST segments: a million open
#                      sessions whose verdicts are settled, the case the 256-byte
#                      budget per final flow is about (plaintext sessions are
#                      followed to their end: their later messages are evidence).
# Then it checks that `pgtls read short-sessions.pcap --format jsonl` gives every
# session its expected verdict (VERIFY=0 skips), and prints packets and sessions.
#
# Idempotent: a file that is already there is kept (files are written under a
# temporary name and renamed once complete); FORCE=1 makes them again.
#
# Environment:
#   LONG_SECONDS=75     pgbench -T for the long TLS sessions (sets the size, ~300 MB)
#   CONNECT_TXNS=1150   pgbench -C -t per client (4 clients: 4600 short TLS sessions)
#   PLAIN_SECONDS=30    pgbench -T for the long plaintext sessions (~180 MB)
#   PLAIN_CONNECT_TXNS=500  pgbench -C -t per client for pgbench-plain.pcap
#   SCALE=10            pgbench -i -s
#   SESSIONS=1000000    sessions in short-sessions.pcap
#   FORCE=1             remake files that exist
#   VERIFY=0            skip the verdict check on short-sessions.pcap
#   PGBIN=dir           PostgreSQL 15 server binaries (default /usr/lib/postgresql/15/bin)
#   PGTLS=path          pgtls binary (default: <repo>/target/release/pgtls, built with
#                       cargo build --release when missing)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-/var/tmp/pgtls-bench}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
LONG_SECONDS=${LONG_SECONDS:-75}
CONNECT_TXNS=${CONNECT_TXNS:-1150}
PLAIN_SECONDS=${PLAIN_SECONDS:-30}
PLAIN_CONNECT_TXNS=${PLAIN_CONNECT_TXNS:-500}
SCALE=${SCALE:-10}
SESSIONS=${SESSIONS:-1000000}
FORCE=${FORCE:-0}
VERIFY=${VERIFY:-1}
PGTLS=${PGTLS:-$REPO/target/release/pgtls}
PORT=5432
PASSWORD=bench-secret
SOURCES=(tls13-verify-full.pcap tls12.pcap plaintext-refused.pcap tls11-refused.pcap
    plaintext-accepted.pcap cancel-plaintext.pcap)
TLS_SOURCES=(tls13-verify-full.pcap tls12.pcap psycopg-tls.pcap asyncpg-tls.pcap
    tls12-cert-chain.pcap)

# shellcheck source=lib/pgtest.sh
. "$(dirname "$0")/lib/pgtest.sh"

[[ $(id -u) -eq 0 ]] || die "run as root (tcpdump on lo, runuser -u postgres)"
for t in python3 capinfos tshark editcap; do
    command -v "$t" >/dev/null || die "missing $t (apt-get install -y python3 tshark)"
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
case $OUT/ in "$REPO"/*) die "OUTDIR must be outside the repository ($OUT)" ;; esac

if [[ ! -x $PGTLS ]]; then
    log "building pgtls (cargo build --release)"
    (cd "$REPO" && cargo build --release --quiet)
fi
[[ -x $PGTLS ]] || die "no pgtls binary at $PGTLS"

WORK=$(mktemp -d /tmp/pgtls-bench.XXXXXX)
chmod 755 "$WORK"
DATA=$WORK/data
CAP_PID=
BENCH_PID=
SERVER_UP=0

cleanup() {
    local rc=$?
    set +e
    [[ -n $BENCH_PID ]] && kill "$BENCH_PID" 2>/dev/null && wait "$BENCH_PID" 2>/dev/null
    if [[ -n $CAP_PID ]]; then
        kill -INT "$CAP_PID" 2>/dev/null
        wait "$CAP_PID" 2>/dev/null
    fi
    if [[ $SERVER_UP -eq 1 || -f $DATA/postmaster.pid ]]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1
    fi
    if [[ $rc -ne 0 && -f $WORK/server.log ]]; then
        warn "last server log lines:"
        tail -n 20 "$WORK/server.log" >&2
    fi
    rm -rf "$WORK"
    rm -f "$OUT"/*.tmp
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ============================================== pgbench-tls.pcap, pgbench-plain.pcap
# make_pgbench_capture tls|plain: the same server and pgbench runs, over TLS
# (hostssl, sslmode=require) or in clear (hostnossl, sslmode=disable).
make_pgbench_capture() {
    local mode=$1 name=pgbench-$1.pcap seconds=$LONG_SECONDS txns=$CONNECT_TXNS
    local hba=hostssl sslmode=require
    if [[ $mode == plain ]]; then
        seconds=$PLAIN_SECONDS txns=$PLAIN_CONNECT_TXNS hba=hostnossl sslmode=disable
    fi
    DATA=$WORK/data-$mode
    for t in "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/postgres"; do
        [[ -x $t ]] || die "missing $t (apt-get install postgresql-15)"
    done
    for t in pgbench psql openssl tcpdump runuser ss; do
        command -v "$t" >/dev/null || die "missing $t (apt-get install -y postgresql-client-15 openssl tcpdump iproute2)"
    done
    id postgres >/dev/null 2>&1 || die "no postgres user"
    if [[ -n $(ss -Hltn "sport = :$PORT") ]]; then
        ss -ltnp "sport = :$PORT" >&2 || true
        die "something already listens on port $PORT; stop it first"
    fi
    chown postgres: "$WORK"

    local pki=$WORK/pki
    make_pki "$pki" bench 30

    log "initdb $DATA"
    init_cluster "$DATA" "$WORK/initdb.log"
    cat >>"$DATA/postgresql.conf" <<EOF

# --- pgtls make-bench-captures.sh
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
max_connections = 50
ssl = on
ssl_min_protocol_version = 'TLSv1.2'
ssl_cert_file = '$pki/server.crt'
ssl_key_file = '$pki/server.key'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    cat >"$DATA/pg_hba.conf" <<EOF
local   all all                 trust
$hba all all 127.0.0.1/32    scram-sha-256
EOF
    log "starting PostgreSQL 15 ($hba only) on 127.0.0.1:$PORT"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 60 start >/dev/null
    SERVER_UP=1
    as_pg psql -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres \
        -c "CREATE ROLE app LOGIN PASSWORD '$PASSWORD'" \
        -c "CREATE DATABASE appdb OWNER app" >/dev/null

    local home=$WORK/client-home
    mkdir -p "$home"
    local pqenv=(env -u PGHOST -u PGHOSTADDR -u PGPORT -u PGUSER -u PGDATABASE -u PGSSLMODE
        -u PGSERVICE -u PGSSLROOTCERT -u PGGSSENCMODE -u PGOPTIONS
        HOME="$home" PGPASSWORD="$PASSWORD" PGCONNECT_TIMEOUT=10 PGAPPNAME=pgtls-bench)
    local conn="host=localhost hostaddr=127.0.0.1 port=$PORT user=app dbname=appdb sslmode=$sslmode"

    log "pgbench -i -s $SCALE (not captured)"
    "${pqenv[@]}" pgbench -i -q -s "$SCALE" "$conn" >"$WORK/pgbench-init.log" 2>&1 \
        || { cat "$WORK/pgbench-init.log" >&2; die "pgbench -i failed"; }
    as_pg psql -X -q -h "$WORK" -p "$PORT" -U postgres -d appdb -c "CHECKPOINT" >/dev/null

    local tmp=$OUT/$name.tmp attempt dropped
    for attempt in 1 2 3; do
        rm -f "$tmp"
        : >"$WORK/cap.err"
        # -B 262144: a 256 MiB kernel buffer, as this sandbox delivers packets in batches.
        tcpdump --immediate-mode -B 262144 -i lo -s 0 -n -Z root -w "$tmp" \
            "tcp port $PORT" 2>"$WORK/cap.err" &
        CAP_PID=$!
        local i
        for i in $(seq 1 100); do
            grep -q 'listening on' "$WORK/cap.err" && break
            kill -0 "$CAP_PID" 2>/dev/null || { cat "$WORK/cap.err" >&2; die "tcpdump did not start"; }
            sleep 0.1
        done
        sleep 0.5
        log "capture $attempt: pgbench -c 8 -j 2 -T $seconds (long $mode sessions)"
        "${pqenv[@]}" pgbench -n -c 8 -j 2 -T "$seconds" "$conn" >"$WORK/pgbench-long.log" 2>&1 \
            || { cat "$WORK/pgbench-long.log" >&2; die "pgbench (long sessions) failed"; }
        grep -E '^(number of transactions actually processed|tps)' "$WORK/pgbench-long.log" | sed 's/^/   /' >&2
        log "capture $attempt: pgbench -C -c 4 -j 2 -t $txns (a new $mode session per transaction)"
        "${pqenv[@]}" pgbench -n -C -c 4 -j 2 -t "$txns" "$conn" >"$WORK/pgbench-connect.log" 2>&1 \
            || { cat "$WORK/pgbench-connect.log" >&2; die "pgbench -C failed"; }
        grep -E '^(number of transactions actually processed|tps)' "$WORK/pgbench-connect.log" | sed 's/^/   /' >&2
        sleep 2
        kill -INT "$CAP_PID"
        wait "$CAP_PID" || true
        CAP_PID=
        log "  tcpdump: $(grep -E 'captured|received|dropped' "$WORK/cap.err" | tr '\n' ' ')"
        dropped=$(awk '/dropped by kernel/{print $1}' "$WORK/cap.err")
        [[ -n $dropped ]] || die "no 'dropped by kernel' line from tcpdump"
        if [[ $dropped -eq 0 ]]; then
            mv -f "$tmp" "$OUT/$name"
            chmod 644 "$OUT/$name"
            break
        fi
        warn "tcpdump dropped $dropped packets; capturing again"
    done
    [[ -f $OUT/$name ]] || die "every capture dropped packets"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    SERVER_UP=0
}

for mode in tls plain; do
    if [[ $FORCE == 1 || ! -f $OUT/pgbench-$mode.pcap ]]; then
        make_pgbench_capture "$mode"
    else
        log "keeping $OUT/pgbench-$mode.pcap (FORCE=1 remakes it)"
    fi
done

# ============== pgbench-tls.pcapng, pgbench-tls-sll2.pcap, pgbench-tls-opts.pcapng
# The same packets as other capture setups write them: pcapng (dumpcap,
# Wireshark) and Linux cooked v2 headers (tcpdump -i any).
if [[ $FORCE == 1 || ! -f $OUT/pgbench-tls.pcapng ]]; then
    log "pgbench-tls.pcapng (editcap -F pcapng)"
    editcap -F pcapng "$OUT/pgbench-tls.pcap" "$OUT/pgbench-tls.pcapng.tmp"
    mv "$OUT/pgbench-tls.pcapng.tmp" "$OUT/pgbench-tls.pcapng"
fi
if [[ $FORCE == 1 || ! -f $OUT/pgbench-tls-sll2.pcap ]]; then
    log "pgbench-tls-sll2.pcap (scripts/relink-capture.py ... sll2)"
    python3 "$REPO/scripts/relink-capture.py" "$OUT/pgbench-tls.pcap" "$OUT/pgbench-tls-sll2.pcap.tmp" sll2
    mv "$OUT/pgbench-tls-sll2.pcap.tmp" "$OUT/pgbench-tls-sll2.pcap"
fi
if [[ $FORCE == 1 || ! -f $OUT/pgbench-tls-opts.pcapng ]]; then
    log "pgbench-tls-opts.pcapng (scripts/add-packet-options.py)"
    python3 "$REPO/scripts/add-packet-options.py" "$OUT/pgbench-tls.pcapng" "$OUT/pgbench-tls-opts.pcapng.tmp"
    mv "$OUT/pgbench-tls-opts.pcapng.tmp" "$OUT/pgbench-tls-opts.pcapng"
fi
if [[ $FORCE == 1 || ! -f $OUT/udp-noise.pcap ]]; then
    log "udp-noise.pcap (scripts/make-noise-capture.py)"
    python3 "$REPO/scripts/make-noise-capture.py" "$OUT/udp-noise.pcap.tmp"
    mv "$OUT/udp-noise.pcap.tmp" "$OUT/udp-noise.pcap"
fi
chmod 644 "$OUT/pgbench-tls.pcapng" "$OUT/pgbench-tls-sll2.pcap" "$OUT/pgbench-tls-opts.pcapng" \
    "$OUT/udp-noise.pcap"

# ================================================================ short-sessions.pcap, tls-sessions.pcap
# replicated NAME SAMPLE...: NAME.pcap and NAME.expected.tsv, the samples
# replicated to $SESSIONS sessions.
replicated() {
    local name=$1
    shift
    if [[ $FORCE == 1 || ! -f $OUT/$name.pcap || ! -f $OUT/$name.expected.tsv ]]; then
        local srcs=() f
        for f in "$@"; do
            [[ -f $REPO/samples/$f ]] || die "missing samples/$f (scripts/make-samples.sh)"
            srcs+=("$REPO/samples/$f")
        done
        log "$name.pcap: replicating $* to $SESSIONS sessions"
        python3 "$REPO/scripts/replicate-sessions.py" --pgtls "$PGTLS" --sessions "$SESSIONS" \
            --out "$OUT/$name.pcap" --expected "$OUT/$name.expected.tsv" "${srcs[@]}"
        chmod 644 "$OUT/$name.pcap" "$OUT/$name.expected.tsv"
    else
        log "keeping $OUT/$name.pcap (FORCE=1 remakes it)"
    fi
}
replicated short-sessions "${SOURCES[@]}"
replicated tls-sessions "${TLS_SOURCES[@]}"

# ================================================================ open-sessions.pcap
if [[ $FORCE == 1 || ! -f $OUT/open-sessions.pcap ]]; then
    log "open-sessions.pcap: short-sessions.pcap without FIN and RST segments"
    tcpdump -r "$OUT/short-sessions.pcap" -w "$OUT/open-sessions.pcap.tmp" \
        'tcp[tcpflags] & (tcp-fin|tcp-rst) == 0'
    mv "$OUT/open-sessions.pcap.tmp" "$OUT/open-sessions.pcap"
    chmod 644 "$OUT/open-sessions.pcap"
else
    log "keeping $OUT/open-sessions.pcap (FORCE=1 remakes it)"
fi

# ================================================================ open-tls-sessions.pcap
if [[ $FORCE == 1 || ! -f $OUT/open-tls-sessions.pcap ]]; then
    log "open-tls-sessions.pcap: $SESSIONS encrypted sessions left open"
    python3 "$REPO/scripts/replicate-sessions.py" --pgtls "$PGTLS" --sessions "$SESSIONS" \
        --out "$OUT/open-tls-source.pcap.tmp" --expected "$OUT/open-tls-source.tsv.tmp" \
        "$REPO/samples/tls13-verify-full.pcap" "$REPO/samples/tls12.pcap"
    tcpdump -r "$OUT/open-tls-source.pcap.tmp" -w "$OUT/open-tls-sessions.pcap.tmp" \
        'tcp[tcpflags] & (tcp-fin|tcp-rst) == 0'
    rm -f "$OUT/open-tls-source.pcap.tmp" "$OUT/open-tls-source.tsv.tmp"
    mv "$OUT/open-tls-sessions.pcap.tmp" "$OUT/open-tls-sessions.pcap"
    chmod 644 "$OUT/open-tls-sessions.pcap"
else
    log "keeping $OUT/open-tls-sessions.pcap (FORCE=1 remakes it)"
fi

# ================================================================ summary
# Sessions of the pgbench capture: TCP connections (tshark's conv table; one line
# per conversation between the '====' rules, less the two header lines).
log "summary"
for f in pgbench-tls.pcap pgbench-plain.pcap short-sessions.pcap tls-sessions.pcap; do
    p=$OUT/$f
    pkts=$(capinfos -M -c "$p" | awk -F': *' '/Number of packets/{print $2}')
    size=$(stat -c %s "$p")
    if [[ $f == pgbench-* ]]; then
        sess=$(tshark -r "$p" -q -z conv,tcp 2>/dev/null | awk '/^====/{n++; next} n==1 && /<->/{c++} END{print c+0}')
        syns=$(tshark -r "$p" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' 2>/dev/null | wc -l)
        printf '%-22s %12d bytes %10d packets %9d TCP conversations (%d SYNs)\n' "$f" "$size" "$pkts" "$sess" "$syns"
    else
        sess=$(grep -vc '^#' "$OUT/${f%.pcap}.expected.tsv")
        printf '%-22s %12d bytes %10d packets %9d sessions (expected.tsv)\n' "$f" "$size" "$pkts" "$sess"
    fi
done

# ================================================================ verdict check
if [[ $VERIFY == 1 ]]; then
    for f in short-sessions tls-sessions; do
        log "checking pgtls verdicts on $f.pcap against $f.expected.tsv"
        "$PGTLS" read "$OUT/$f.pcap" --format jsonl \
            | python3 "$REPO/scripts/replicate-sessions.py" --check "$OUT/$f.expected.tsv"
    done
fi
