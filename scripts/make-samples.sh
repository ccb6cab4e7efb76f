#!/usr/bin/env bash
# Make the sample captures in samples/ with real PostgreSQL 15 servers and real
# clients, all on loopback port 5432.
#
#   sudo scripts/make-samples.sh            # needs root (tcpdump, runuser)
#
# What it does: a throwaway CA + server certificate for localhost, one initdb'd
# data directory (owned by postgres, under a mktemp dir in /tmp) that is started
# three times, one configuration at a time, on 127.0.0.1/::1 port 5432:
#   STRICT  ssl=on, ssl_min_protocol_version=TLSv1.2, hostssl-only pg_hba
#   LAX     ssl=on, pg_hba accepts hostssl and host (plaintext)
#   SSLOFF  ssl=off, pg_hba host
# Each scenario is captured in its own file (tcpdump on lo, filter tcp port 5432).
# See samples/README.md for what each file holds and the expected verdicts.
#
# Environment:
#   OUT=dir           where to write the samples (default: <repo>/samples)
#   PGBIN=dir         PostgreSQL server binaries (default /usr/lib/postgresql/15/bin)
#   PGTLS_VENV=dir    Python venv for psycopg/asyncpg (created if missing;
#                     default /var/tmp/pgtls-samples-venv)
#   SKIP_OPTIONAL=1   skip the optional scanner / Python captures
#   ONLY="GROUP..."   make only these groups of samples, leave the others as they
#                     are: base (the first set), certs (TLS 1.2 certificate
#                     chain, expired certificate, SNI mismatch), proto32
#                     (psycopg protocol 3.2 in clear), audit (the samples of
#                     `pgtls audit`: password and md5 auth in clear, a server
#                     that allows TLS 1.1 and weak ciphers, sslmode=prefer
#                     falling back and sslmode=allow, a CancelRequest beside
#                     TLS, bytes injected around SSLRequest/S). Default: all.
#   NO_INSTALL=1      never apt-get/pip install missing optional tools
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/samples}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGTLS_VENV=${PGTLS_VENV:-/var/tmp/pgtls-samples-venv}
SKIP_OPTIONAL=${SKIP_OPTIONAL:-0}
NO_INSTALL=${NO_INSTALL:-0}
ONLY=${ONLY:-base certs proto32 audit}
want() { [[ " $ONLY " == *" $1 "* ]]; }
PORT=5432
PASSWORD=app-secret
# The audit group's role: its password is a marker that tests look for in the
# captures (it crosses in clear) and must never find in pgtls's output.
AUDIT_USER=audit
AUDIT_PASSWORD=pgtls-audit-marker-7d1c

# shellcheck source=lib/pgtest.sh
. "$(dirname "$0")/lib/pgtest.sh"

[[ $(id -u) -eq 0 ]] || die "run as root (tcpdump on lo, runuser -u postgres)"
for t in "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/postgres"; do
    [[ -x $t ]] || die "missing $t (apt-get install postgresql-15)"
done
for t in psql openssl tcpdump tshark mergecap editcap capinfos runuser ss; do
    command -v "$t" >/dev/null || die "missing $t (apt-get install -y postgresql-client-15 openssl tcpdump tshark iproute2)"
done
id postgres >/dev/null 2>&1 || die "no postgres user"

# Nothing may listen on 5432 (the Debian cluster must be stopped; we never start it).
if [[ -n $(ss -Hltn "sport = :$PORT") ]]; then
    ss -ltnp "sport = :$PORT" >&2 || true
    die "something already listens on port $PORT; stop it first"
fi

WORK=$(mktemp -d /tmp/pgtls-samples.XXXXXX)
chown postgres: "$WORK"
chmod 755 "$WORK"
DATA=$WORK/data
CAPDIR=$WORK/caps
mkdir -p "$CAPDIR" "$OUT"
CAP_PID=
SERVER_UP=0

cleanup() {
    local rc=$?
    set +e
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
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ---------------------------------------------------------------- certificates
PKI=$WORK/pki
make_pki "$PKI" samples 30

# For the certs group: a second root with an intermediate (root -> intermediate
# -> leaf; the server sends leaf + intermediate), a certificate that expired in
# 2021, and one only for another name (db.example.internal).
make_cert_scenarios() {
    openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days 3650 \
        -subj "/O=pgtls samples/CN=pgtls samples root CA 2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$PKI/root2.key" -out "$PKI/root2.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -sha384 \
        -subj "/O=pgtls samples/CN=pgtls samples intermediate CA" \
        -keyout "$PKI/inter.key" -out "$PKI/inter.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$PKI/inter.ext"
    openssl x509 -req -in "$PKI/inter.csr" -CA "$PKI/root2.pem" -CAkey "$PKI/root2.key" \
        -CAcreateserial -days 1825 -sha256 -extfile "$PKI/inter.ext" -out "$PKI/inter.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$PKI/chain-leaf.key" -out "$PKI/chain-leaf.csr" 2>/dev/null
    openssl x509 -req -in "$PKI/chain-leaf.csr" -CA "$PKI/inter.pem" -CAkey "$PKI/inter.key" \
        -CAcreateserial -days 365 -sha384 -extfile "$PKI/server.ext" -out "$PKI/chain-leaf.pem" 2>/dev/null
    cat "$PKI/chain-leaf.pem" "$PKI/inter.pem" >"$PKI/chain-leaf-inter.pem"

    # Expired: openssl ca can set dates in the past (openssl x509 -req cannot in 3.0).
    mkdir -p "$PKI/ca-db"
    : >"$PKI/ca-db/index.txt"
    printf '1001\n' >"$PKI/ca-db/serial"
    printf '%s\n' '[ca]' 'default_ca = ca_sect' '[ca_sect]' "dir = $PKI/ca-db" \
        'database = $dir/index.txt' 'new_certs_dir = $dir' 'serial = $dir/serial' \
        "certificate = $PKI/ca.pem" "private_key = $PKI/ca.key" 'default_md = sha256' \
        'policy = policy_any' 'unique_subject = no' '[policy_any]' 'commonName = supplied' \
        >"$PKI/ca.cnf"
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
        -keyout "$PKI/expired.key" -out "$PKI/expired.csr" 2>/dev/null
    openssl ca -batch -config "$PKI/ca.cnf" -in "$PKI/expired.csr" -out "$PKI/expired.pem" \
        -startdate 20200101000000Z -enddate 20210101000000Z -extfile "$PKI/server.ext" \
        -notext >/dev/null 2>&1

    # Another name only: SAN DNS:db.example.internal.
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=db.example.internal" \
        -keyout "$PKI/other.key" -out "$PKI/other.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:db.example.internal\n' >"$PKI/other.ext"
    openssl x509 -req -in "$PKI/other.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
        -CAcreateserial -days 90 -sha256 -extfile "$PKI/other.ext" -out "$PKI/other.pem" 2>/dev/null

    local f
    for f in chain-leaf expired other; do
        chown postgres: "$PKI/$f.key"
        chmod 600 "$PKI/$f.key"
    done
    chmod 644 "$PKI"/*.pem
    [[ -s $PKI/expired.pem && -s $PKI/chain-leaf-inter.pem && -s $PKI/other.pem ]] \
        || die "could not make the certificates of the certs group"
}
want certs && make_cert_scenarios

# ---------------------------------------------------------------- server
log "initdb $DATA"
init_cluster "$DATA" "$WORK/initdb.log"
cat >>"$DATA/postgresql.conf" <<EOF

# --- pgtls make-samples.sh
port = $PORT
listen_addresses = '127.0.0.1,::1'
unix_socket_directories = '$WORK'
ssl_cert_file = '$PKI/server.crt'
ssl_key_file = '$PKI/server.key'
password_encryption = 'scram-sha-256'
fsync = off
log_connections = on
log_disconnections = on
include = 'mode.conf'
EOF
cat >"$DATA/hba-strict.conf" <<'EOF'
local   all all                 trust
hostssl all all 127.0.0.1/32    scram-sha-256
hostssl all all ::1/128         scram-sha-256
EOF
cat >"$DATA/hba-lax.conf" <<'EOF'
local   all all                 trust
hostssl all all 127.0.0.1/32    scram-sha-256
hostssl all all ::1/128         scram-sha-256
host    all all 127.0.0.1/32    scram-sha-256
host    all all ::1/128         scram-sha-256
EOF
cat >"$DATA/hba-ssloff.conf" <<'EOF'
local   all all                 trust
host    all all 127.0.0.1/32    scram-sha-256
host    all all ::1/128         scram-sha-256
EOF
# Audit group: one method for plaintext connections per configuration.
for m in password md5; do
    { printf 'local   all all                 trust\n'
      printf 'hostssl all all 127.0.0.1/32    scram-sha-256\n'
      printf 'hostssl all all ::1/128         scram-sha-256\n'
      printf 'host    all all 127.0.0.1/32    %s\n' "$m"
    } >"$DATA/hba-$m.conf"
done
chown postgres: "$DATA"/hba-*.conf

MODE=
start_server() { # STRICT | LAX | SSLOFF [CERT_FILE KEY_FILE]
    MODE=$1
    {
    case $MODE in
        STRICT) printf "ssl = on\nssl_min_protocol_version = 'TLSv1.2'\nhba_file = '%s'\n" "$DATA/hba-strict.conf" ;;
        LAX)    printf "ssl = on\nssl_min_protocol_version = 'TLSv1.2'\nhba_file = '%s'\n" "$DATA/hba-lax.conf" ;;
        SSLOFF) printf "ssl = off\nhba_file = '%s'\n" "$DATA/hba-ssloff.conf" ;;
        PASSWORD) printf "ssl = on\nssl_min_protocol_version = 'TLSv1.2'\nhba_file = '%s'\n" "$DATA/hba-password.conf" ;;
        MD5)    printf "ssl = on\nssl_min_protocol_version = 'TLSv1.2'\nhba_file = '%s'\n" "$DATA/hba-md5.conf" ;;
        # TLS 1.1 allowed, and every cipher OpenSSL has (NULL and anonymous
        # included) at security level 0: a server nobody should run.
        OLDTLS) printf "ssl = on\nssl_min_protocol_version = 'TLSv1.1'\nssl_ciphers = 'ALL:eNULL:@SECLEVEL=0'\nhba_file = '%s'\n" "$DATA/hba-strict.conf" ;;
        *) die "bad mode $MODE" ;;
    esac
    if [[ $# -ge 3 ]]; then
        printf "ssl_cert_file = '%s'\nssl_key_file = '%s'\n" "$2" "$3"
    fi
    } >"$DATA/mode.conf"
    chown postgres: "$DATA/mode.conf"
    log "starting PostgreSQL ($MODE${2:+, certificate $(basename "$2")}) on port $PORT"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 60 start >/dev/null
    SERVER_UP=1
}
stop_server() {
    log "stopping PostgreSQL ($MODE)"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    SERVER_UP=0
}

# ---------------------------------------------------------------- capture
# cap_start NAME [tcpdump|tcpdump-any|dumpcap]; the file goes to $CAPDIR/NAME,
# and cap_stop moves it to $OUT/NAME once it is complete.
CAP_NAME=
cap_start() {
    CAP_NAME=$1
    local how=${2:-tcpdump} ready
    local file=$CAPDIR/$CAP_NAME
    rm -f "$file"
    : >"$WORK/cap.err"
    case $how in
        tcpdump)
            tcpdump --immediate-mode -B 32768 -i lo -s 0 -U -n -Z root -w "$file" "tcp port $PORT" 2>"$WORK/cap.err" &
            ready='listening on' ;;
        tcpdump-any)
            tcpdump --immediate-mode -B 32768 -i any -s 0 -U -n -Z root -w "$file" "tcp port $PORT" 2>"$WORK/cap.err" &
            ready='listening on' ;;
        dumpcap)
            dumpcap -q -i lo -s 0 -f "tcp port $PORT" -w "$file" 2>"$WORK/cap.err" &
            ready='Capturing on' ;;
    esac
    CAP_PID=$!
    local i
    for i in $(seq 1 100); do
        if grep -q "$ready" "$WORK/cap.err"; then
            sleep 0.2
            return 0
        fi
        kill -0 "$CAP_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/cap.err" >&2
    die "capture for $CAP_NAME did not start"
}
cap_stop() {
    sleep 1
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    CAP_PID=
    local stats
    stats=$(grep -E 'captured|received|dropped' "$WORK/cap.err" | tr '\n' ' ' || true)
    [[ -n $stats ]] && log "  capture: $stats"
    [[ -s $CAPDIR/$CAP_NAME ]] || die "empty capture $CAP_NAME"
    mv -f "$CAPDIR/$CAP_NAME" "$OUT/$CAP_NAME"
    chmod 644 "$OUT/$CAP_NAME"
    log "  -> $OUT/$CAP_NAME ($(capinfos -c -M "$OUT/$CAP_NAME" | awk -F': *' '/Number of packets/{print $2}') packets)"
}

# ---------------------------------------------------------------- clients
# psql as root with a clean libpq environment (no ~/.pgpass, ~/.psqlrc, client cert).
CLIENT_HOME=$WORK/client-home
mkdir -p "$CLIENT_HOME"
PQENV=(env -u PGHOST -u PGHOSTADDR -u PGPORT -u PGUSER -u PGDATABASE -u PGSSLMODE
    -u PGSERVICE -u PGSSLROOTCERT -u PGGSSENCMODE -u PGOPTIONS
    HOME="$CLIENT_HOME" PGPASSWORD="$PASSWORD" PGCONNECT_TIMEOUT=10 PGAPPNAME=pgtls-samples)
pq() { # pq CONNINFO SQL...
    "${PQENV[@]}" psql -X -q -At "$@"
}
# expect_ok / expect_fail: run a client, check its outcome, never abort on it.
expect_ok() {
    local out
    if out=$("$@" 2>&1); then
        log "  client ok: ${out//$'\n'/ | }"
    else
        warn "  client FAILED unexpectedly: ${out//$'\n'/ | }"
    fi
}
expect_fail() {
    local out
    if out=$("$@" 2>&1); then
        warn "  client succeeded but should have failed: ${out//$'\n'/ | }"
    else
        local msg
        msg=$(printf '%s\n' "$out" | grep -iE 'error|fatal|alert' | tail -n 2 | tr '\n' '|')
        [[ -n $msg ]] || msg=$(printf '%s\n' "$out" | grep -v '^$' | tail -n 2 | tr '\n' '|')
        log "  client failed as expected: $msg"
    fi
}
V4="host=localhost hostaddr=127.0.0.1 port=$PORT user=app dbname=appdb"
V6="host=localhost hostaddr=::1 port=$PORT user=app dbname=appdb"

s_client() { # s_client -tls1_1 | -tls1
    openssl s_client -starttls postgres -connect "127.0.0.1:$PORT" "$1" \
        -cipher 'DEFAULT@SECLEVEL=0' </dev/null
}

setup_venv() {
    [[ -x $PGTLS_VENV/bin/python ]] && "$PGTLS_VENV/bin/python" -c 'import psycopg, asyncpg' 2>/dev/null && return 0
    [[ $NO_INSTALL == 1 ]] && return 1
    log "creating Python venv $PGTLS_VENV with psycopg[binary] and asyncpg"
    python3 -m venv "$PGTLS_VENV" >/dev/null 2>&1 || return 1
    "$PGTLS_VENV/bin/pip" install -q 'psycopg[binary]' asyncpg >/dev/null 2>&1 || return 1
}
apt_tool() { # apt_tool COMMAND PACKAGE
    command -v "$1" >/dev/null && return 0
    [[ $NO_INSTALL == 1 ]] && return 1
    log "installing $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1; } \
        || return 1
    command -v "$1" >/dev/null
}

# Remove samples that this script owns, so a re-run never leaves stale files.
BASE_SAMPLES=(tls13-verify-full.pcap tls12.pcap plaintext-refused.pcap tls11-refused.pcap
    tls10-refused.pcap tls13-ipv6.pcap any-interface.pcap tls13.pcapng
    scanner-testssl.pcap scanner-nmap.pcap psycopg-tls.pcap psycopg-cancel-tls.pcap
    psycopg-direct-tls-refused.pcap asyncpg-tls.pcap
    plaintext-accepted.pcap prefer-on-lax.pcap cancel-plaintext.pcap
    ssl-off-prefer.pcap ssl-off-require.pcap multi.pcap)
CERTS_SAMPLES=(tls12-cert-chain.pcap tls12-cert-expired.pcap tls12-sni-mismatch.pcap)
PROTO32_SAMPLES=(psycopg-protocol32.pcap)
AUDIT_SAMPLES=(audit-password.pcap audit-md5.pcap audit-tls11-accepted.pcap
    audit-weak-ciphers.pcap audit-prefer-fallback.pcap audit-allow-strict.pcap
    audit-cancel-tls.pcap audit-injection.pcap)
SAMPLES=()
want base && SAMPLES+=("${BASE_SAMPLES[@]}")
want certs && SAMPLES+=("${CERTS_SAMPLES[@]}")
want proto32 && SAMPLES+=("${PROTO32_SAMPLES[@]}")
want audit && SAMPLES+=("${AUDIT_SAMPLES[@]}")
for f in "${SAMPLES[@]}"; do rm -f "$OUT/$f"; done

# ================================================================ STRICT
start_server STRICT
log "creating role app and database appdb"
as_pg psql -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres \
    -c "CREATE ROLE app LOGIN PASSWORD '$PASSWORD'" \
    -c "CREATE DATABASE appdb OWNER app" >/dev/null

if want base; then
log "tls13-verify-full.pcap"
cap_start tls13-verify-full.pcap
expect_ok pq "$V4 sslmode=verify-full sslrootcert=$CA" -c 'select 1'
cap_stop

log "tls12.pcap"
cap_start tls12.pcap
expect_ok pq "$V4 sslmode=require ssl_max_protocol_version=TLSv1.2" -c 'select 1'
cap_stop

log "plaintext-refused.pcap"
cap_start plaintext-refused.pcap
expect_fail pq "$V4 sslmode=disable" -c 'select 1'
cap_stop

# An old-version ClientHello from openssl s_client. If this OpenSSL refuses to
# send one (its config raises MinProtocol), retry with a permissive OPENSSL_CONF.
write_legacy_openssl_conf "$WORK/openssl-legacy.cnf"
old_tls_capture() { # NAME S_CLIENT_FLAG HEX_VERSION
    local name=$1 flag=$2 ver=$3 n
    log "$name"
    cap_start "$name"
    expect_fail s_client "$flag"
    cap_stop
    n=$(tshark -r "$OUT/$name" -d "tcp.port==$PORT,pgsql" -Y "tls.handshake.type==1 && tls.handshake.version==$ver" 2>/dev/null | wc -l)
    if [[ $n -eq 0 ]]; then
        warn "  no ClientHello $ver in $name: retrying with OPENSSL_CONF=$WORK/openssl-legacy.cnf"
        cap_start "$name"
        OPENSSL_CONF=$WORK/openssl-legacy.cnf expect_fail s_client "$flag"
        cap_stop
    fi
}
old_tls_capture tls11-refused.pcap -tls1_1 0x0302
old_tls_capture tls10-refused.pcap -tls1 0x0301

log "tls13-ipv6.pcap"
cap_start tls13-ipv6.pcap
expect_ok pq "$V6 sslmode=verify-full sslrootcert=$CA" -c 'select 1'
cap_stop

log "any-interface.pcap (tcpdump -i any)"
cap_start any-interface.pcap tcpdump-any
expect_ok pq "$V4 sslmode=require ssl_max_protocol_version=TLSv1.2" -c 'select 1'
expect_fail pq "$V4 sslmode=disable" -c 'select 1'
cap_stop

log "tls13.pcapng (dumpcap)"
if command -v dumpcap >/dev/null; then
    cap_start tls13.pcapng dumpcap
    expect_ok pq "$V4 sslmode=verify-full sslrootcert=$CA" -c 'select 1'
    expect_fail pq "$V4 sslmode=disable" -c 'select 1'
    cap_stop
else
    cap_start tls13.pcapng.tmp.pcap
    expect_ok pq "$V4 sslmode=verify-full sslrootcert=$CA" -c 'select 1'
    expect_fail pq "$V4 sslmode=disable" -c 'select 1'
    cap_stop
    editcap -F pcapng "$OUT/tls13.pcapng.tmp.pcap" "$OUT/tls13.pcapng"
    rm -f "$OUT/tls13.pcapng.tmp.pcap"
fi

if [[ $SKIP_OPTIONAL != 1 ]]; then
    if apt_tool testssl testssl.sh; then
        log "scanner-testssl.pcap (testssl --starttls postgres -p)"
        cap_start scanner-testssl.pcap
        # -p: protocols only (SSLv2 .. TLS 1.3, ALPN/NPN); bounded in time.
        if ! timeout 180 testssl --quiet --color 0 --warnings off --nodns none \
            --starttls postgres -p "127.0.0.1:$PORT" >"$WORK/testssl.out" 2>&1; then
            warn "  testssl exited non-zero (see below)"
        fi
        grep -E '^ ?(SSLv|TLS)' "$WORK/testssl.out" | sed 's/^/   testssl: /' >&2 || true
        cap_stop
    else
        warn "testssl.sh not available: no scanner-testssl.pcap"
    fi
    if apt_tool nmap nmap; then
        log "scanner-nmap.pcap (nmap --script ssl-enum-ciphers)"
        cap_start scanner-nmap.pcap
        # -sT: plain connect() scan; -Pn -n: no ping, no DNS.
        if ! timeout 180 nmap -sT -Pn -n -p "$PORT" --script ssl-enum-ciphers 127.0.0.1 \
            >"$WORK/nmap.out" 2>&1; then
            warn "  nmap exited non-zero"
        fi
        grep -E '^\|' "$WORK/nmap.out" | grep -E 'TLSv|SSLv|least strength' | sed 's/^/   nmap: /' >&2 || true
        cap_stop
    else
        warn "nmap not available: no scanner-nmap.pcap"
    fi
    if setup_venv; then
        PY=$PGTLS_VENV/bin/python
        log "psycopg-tls.pcap (psycopg 3, libpq $("$PY" -c 'import psycopg; print(psycopg.pq.version())'))"
        cap_start psycopg-tls.pcap
        expect_ok "${PQENV[@]}" "$PY" - "$V4 password=$PASSWORD sslmode=require" <<'EOF'
import sys, psycopg
with psycopg.connect(sys.argv[1]) as conn:
    print(conn.execute("select version from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0])
EOF
        cap_stop

        log "psycopg-cancel-tls.pcap (libpq 18 encrypted cancel: conn.cancel_safe())"
        cap_start psycopg-cancel-tls.pcap
        expect_ok "${PQENV[@]}" "$PY" - "$V4 password=$PASSWORD sslmode=require" <<'EOF'
import sys, threading, time, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    def cancel():
        time.sleep(1)
        conn.cancel_safe()
    threading.Thread(target=cancel).start()
    try:
        conn.execute("select pg_sleep(5)")
        print("not cancelled")
    except psycopg.errors.QueryCanceled as e:
        print("cancelled:", str(e).strip())
EOF
        cap_stop

        log "psycopg-direct-tls-refused.pcap (sslnegotiation=direct against PG15)"
        cap_start psycopg-direct-tls-refused.pcap
        expect_fail "${PQENV[@]}" "$PY" - "$V4 password=$PASSWORD sslmode=require sslnegotiation=direct connect_timeout=10" <<'EOF'
import sys, psycopg
psycopg.connect(sys.argv[1]).close()
EOF
        cap_stop

        log "asyncpg-tls.pcap"
        cap_start asyncpg-tls.pcap
        expect_ok "${PQENV[@]}" "$PY" - "$PORT" "$PASSWORD" <<'EOF'
import sys, asyncio, asyncpg
async def main():
    conn = await asyncpg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="app",
                                 password=sys.argv[2], database="appdb", ssl="require")
    print(await conn.fetchval("select 1"))
    await conn.close()
asyncio.run(main())
EOF
        cap_stop
    else
        warn "no Python venv with psycopg/asyncpg: no psycopg-*.pcap, asyncpg-tls.pcap"
    fi
fi
fi # want base
stop_server

# ================================================================ certificates (TLS 1.2)
# psql with ssl_max_protocol_version=TLSv1.2, so that the server's certificate
# crosses in clear; each scenario restarts the STRICT server with its own
# certificate.
if want certs; then
start_server STRICT "$PKI/chain-leaf-inter.pem" "$PKI/chain-leaf.key"
log "tls12-cert-chain.pcap (leaf + intermediate; verify-full against root CA 2)"
cap_start tls12-cert-chain.pcap
expect_ok pq "$V4 sslmode=verify-full sslrootcert=$PKI/root2.pem ssl_max_protocol_version=TLSv1.2" -c 'select 1'
cap_stop
stop_server

start_server STRICT "$PKI/expired.pem" "$PKI/expired.key"
log "tls12-cert-expired.pcap (require accepts it; verify-ca refuses it)"
cap_start tls12-cert-expired.pcap
expect_ok pq "$V4 sslmode=require ssl_max_protocol_version=TLSv1.2" -c 'select 1'
expect_fail pq "$V4 sslmode=verify-ca sslrootcert=$CA ssl_max_protocol_version=TLSv1.2" -c 'select 1'
cap_stop
stop_server

start_server STRICT "$PKI/other.pem" "$PKI/other.key"
log "tls12-sni-mismatch.pcap (host=127.0.0.1: no SNI; certificate for db.example.internal)"
IP4="host=127.0.0.1 port=$PORT user=app dbname=appdb"
cap_start tls12-sni-mismatch.pcap
expect_ok pq "$IP4 sslmode=require ssl_max_protocol_version=TLSv1.2" -c 'select 1'
expect_fail pq "$IP4 sslmode=verify-full sslrootcert=$CA ssl_max_protocol_version=TLSv1.2" -c 'select 1'
cap_stop
stop_server
fi # want certs

# ================================================================ LAX
start_server LAX
if want proto32; then
    if [[ $SKIP_OPTIONAL != 1 ]] && setup_venv; then
        PY=$PGTLS_VENV/bin/python
        log "psycopg-protocol32.pcap (libpq $("$PY" -c 'import psycopg; print(psycopg.pq.version())'), max_protocol_version=3.2, sslmode=disable)"
        cap_start psycopg-protocol32.pcap
        expect_ok "${PQENV[@]}" "$PY" - "$V4 password=$PASSWORD sslmode=disable max_protocol_version=3.2" <<'EOF'
import sys, psycopg
with psycopg.connect(sys.argv[1]) as conn:
    print("protocol", conn.info.pgconn.protocol_version, conn.execute("select 1").fetchone()[0])
EOF
        cap_stop
    else
        warn "no Python venv with psycopg: no psycopg-protocol32.pcap"
    fi
fi
if want base; then
log "plaintext-accepted.pcap"
cap_start plaintext-accepted.pcap
expect_ok pq "$V4 sslmode=disable" -c 'select 1'
cap_stop

log "prefer-on-lax.pcap"
cap_start prefer-on-lax.pcap
expect_ok pq "$V4 sslmode=prefer" -c 'select 1'
cap_stop

log "cancel-plaintext.pcap (psql sslmode=disable, SIGINT after 1 s)"
cap_start cancel-plaintext.pcap
# exec: $! must be psql itself (env execs psql), not a subshell, to get the SIGINT.
(exec "${PQENV[@]}" psql -X -At "$V4 sslmode=disable" -c 'select pg_sleep(5)') >"$WORK/cancel.out" 2>&1 &
PSQL_PID=$!
sleep 1
kill -INT "$PSQL_PID"
wait "$PSQL_PID" || true
log "  psql said: $(tr '\n' '|' <"$WORK/cancel.out")"
cap_stop
fi # want base
stop_server

# ================================================================ SSLOFF
if want base; then
start_server SSLOFF
log "ssl-off-prefer.pcap"
cap_start ssl-off-prefer.pcap
expect_ok pq "$V4 sslmode=prefer" -c 'select 1'
cap_stop

log "ssl-off-require.pcap"
cap_start ssl-off-require.pcap
expect_fail pq "$V4 sslmode=require" -c 'select 1'
cap_stop
stop_server

# ================================================================ merged sample
log "multi.pcap (mergecap)"
(cd "$OUT" && mergecap -F pcap -w multi.pcap tls13-verify-full.pcap tls12.pcap \
    plaintext-refused.pcap tls11-refused.pcap plaintext-accepted.pcap \
    ssl-off-prefer.pcap cancel-plaintext.pcap)
chmod 644 "$OUT/multi.pcap"
fi # want base

# ================================================================ audit
# The samples of `pgtls audit`: one per rule and finding. The role audit has
# an md5-hashed password (so that the md5 method does not switch to SCRAM),
# the marker $AUDIT_PASSWORD.
if want audit; then
write_legacy_openssl_conf "$WORK/openssl-legacy.cnf"
AUDIT_CI="host=localhost hostaddr=127.0.0.1 port=$PORT user=$AUDIT_USER dbname=appdb"
pqa() { # pqa CONNINFO SQL...: psql as the audit role
    "${PQENV[@]}" PGPASSWORD="$AUDIT_PASSWORD" psql -X -q -At "$@"
}
# libpq capped at TLS 1.1 (with OPENSSL_CONF at security level 0, as an old client is).
LEGACY_TLS="ssl_min_protocol_version=TLSv1 ssl_max_protocol_version=TLSv1.1"
s_client_cipher() { # s_client_cipher VERSION_FLAG CIPHERS
    openssl s_client -starttls postgres -connect "127.0.0.1:$PORT" "$1" -cipher "$2" </dev/null
}

start_server PASSWORD
log "creating role $AUDIT_USER (md5-hashed password)"
as_pg psql -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres \
    -c "SET password_encryption = 'md5'" \
    -c "DROP ROLE IF EXISTS $AUDIT_USER" \
    -c "CREATE ROLE $AUDIT_USER LOGIN PASSWORD '$AUDIT_PASSWORD'" >/dev/null
log "audit-password.pcap (pg_hba method password: AuthenticationCleartextPassword in clear)"
cap_start audit-password.pcap
expect_ok pqa "$AUDIT_CI sslmode=disable application_name=billing-batch" \
    -c "select 'pgtls-audit-query' as q"
# A password in a query's text: --show-queries must not print it.
expect_ok pqa "$AUDIT_CI sslmode=disable application_name=billing-batch" \
    -c "SET password_encryption = 'md5'" -c "ALTER ROLE $AUDIT_USER PASSWORD '$AUDIT_PASSWORD'"
expect_ok pq "$V4 sslmode=require" -c 'select 1'
cap_stop
stop_server

start_server MD5
log "audit-md5.pcap (pg_hba method md5: salt and hash in clear)"
cap_start audit-md5.pcap
expect_ok pqa "$AUDIT_CI sslmode=disable application_name=report-job" \
    -c "select 'pgtls-audit-long-query: $(printf 'abcdefghij%.0s' $(seq 1 30))' as long_text"
expect_ok pq "$V4 sslmode=require" -c 'select 1'
cap_stop
stop_server

start_server OLDTLS
log "audit-tls11-accepted.pcap (ssl_min_protocol_version=TLSv1.1: TLS 1.1 negotiated, TLS 1.0 refused)"
cap_start audit-tls11-accepted.pcap
expect_ok s_client_cipher -tls1_1 'DEFAULT@SECLEVEL=0'
OPENSSL_CONF=$WORK/openssl-legacy.cnf expect_ok pq "$V4 sslmode=require $LEGACY_TLS application_name=legacy-app" -c 'select 1'
expect_fail s_client_cipher -tls1 'DEFAULT@SECLEVEL=0'
expect_ok pq "$V4 sslmode=require" -c 'select 1'
cap_stop

# (This OpenSSL 3.0 has no 3DES, RC4 or export suites left to negotiate.)
log "audit-weak-ciphers.pcap (TLS 1.2 with a NULL and an anonymous ECDH cipher suite)"
cap_start audit-weak-ciphers.pcap
expect_ok s_client_cipher -tls1_2 'NULL-SHA256:@SECLEVEL=0'
expect_ok s_client_cipher -tls1_2 'AECDH-AES128-SHA:@SECLEVEL=0'
cap_stop
stop_server

start_server LAX
log "audit-prefer-fallback.pcap (sslmode=prefer, client capped at TLS 1.1: refused, then plaintext)"
cap_start audit-prefer-fallback.pcap
OPENSSL_CONF=$WORK/openssl-legacy.cnf expect_ok pq "$V4 sslmode=prefer $LEGACY_TLS application_name=legacy-app" -c 'select 1'
cap_stop
stop_server

start_server STRICT
log "audit-allow-strict.pcap (sslmode=allow: plaintext refused, then TLS)"
cap_start audit-allow-strict.pcap
expect_ok pq "$V4 sslmode=allow" -c 'select 1'
cap_stop

log "audit-cancel-tls.pcap (psql sslmode=require, SIGINT after 1 s: the CancelRequest goes in clear)"
cap_start audit-cancel-tls.pcap
(exec "${PQENV[@]}" psql -X -At "$V4 sslmode=require" -c 'select pg_sleep(5)') >"$WORK/cancel.out" 2>&1 &
PSQL_PID=$!
sleep 1
kill -INT "$PSQL_PID"
wait "$PSQL_PID" || true
log "  psql said: $(tr '\n' '|' <"$WORK/cancel.out")"
cap_stop

# Two injections of CVE-2021-23214 / CVE-2021-23222 style. A client that
# sends a Query in the segment of its SSLRequest (against the real server,
# which refuses it once TLS is up), then a server that sends an ErrorResponse
# in the segment of its 'S' (a Python stand-in on the port, against psql,
# which refuses it).
log "audit-injection.pcap (bytes after SSLRequest; bytes after S)"
cap_start audit-injection.pcap
expect_ok python3 - "$PORT" <<'EOF'
import socket, ssl, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
query = b"select 'injected'\0"
s.sendall(struct.pack("!ii", 8, 80877103) + b"Q" + struct.pack("!i", 4 + len(query)) + query)
answer = s.recv(1)
print("answer", answer)
if answer == b"S":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s, server_hostname="localhost")
    print("tls", t.version())
    try:
        print("server said", t.recv(4096)[:120])
    except (ssl.SSLError, OSError) as e:
        print("server closed:", e)
EOF
stop_server
python3 - "$PORT" >"$WORK/fake.out" 2>&1 <<'EOF' &
import socket, struct, sys
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(1)
print("ready", flush=True)
srv.settimeout(20)
c, _ = srv.accept()
c.recv(8)
fields = b"SFATAL\0C08P01\0Minjected before the TLS handshake\0\0"
c.sendall(b"S" + b"E" + struct.pack("!i", 4 + len(fields)) + fields)
c.settimeout(5)
try:
    c.recv(4096)
except OSError:
    pass
c.close()
EOF
FAKE_PID=$!
for i in $(seq 1 50); do grep -q ready "$WORK/fake.out" 2>/dev/null && break; sleep 0.1; done
expect_fail pq "$V4 sslmode=require" -c 'select 1'
wait "$FAKE_PID" || true
cap_stop
fi # want audit

# ================================================================ summary
log "samples in $OUT:"
total=0
for f in "${SAMPLES[@]}"; do
    [[ -f $OUT/$f ]] || continue
    conns=$(tshark -r "$OUT/$f" -T fields -e tcp.stream 2>/dev/null | sort -u | grep -c . || true)
    size=$(stat -c %s "$OUT/$f")
    total=$((total + size))
    printf '%8d bytes  %4d TCP connections  %s\n' "$size" "$conns" "$f"
done
printf '%8d bytes total\n' "$total"

# ================================================================ self-checks
# Warn (do not fail) when a capture does not show what samples/README.md says.
BAD=0
check() { # FILE MIN_COUNT DISPLAY_FILTER WHAT
    local f=$OUT/$1 n
    [[ -f $f ]] || return 0
    n=$(tshark -r "$f" -d "tcp.port==$PORT,pgsql" -Y "$3" 2>/dev/null | wc -l)
    if [[ $n -lt $2 ]]; then
        warn "check failed: $1: expected $4 ($3)"
        BAD=1
    fi
}
for f in "${SAMPLES[@]}"; do
    [[ -f $OUT/$f ]] || continue
    n=$(tshark -r "$OUT/$f" -Y 'tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment' 2>/dev/null | wc -l)
    [[ $n -eq 0 ]] || { warn "check failed: $f: $n packets show a lost segment (capture dropped packets; re-run)"; BAD=1; }
done
check tls13-verify-full.pcap 1 'tls.handshake.type==2 && tls.handshake.extensions.supported_version==0x0304 && !(tls.handshake.random == cf:21:ad:74:e5:9a:61:11:be:1d:8c:02:1e:65:b8:91:c2:a2:11:16:7a:bb:8c:5e:07:9e:09:e2:c8:a8:33:9c)' 'a TLS 1.3 ServerHello'
check tls12.pcap 1 'tls.handshake.type==2 && tls.handshake.version==0x0303 && !tls.handshake.extensions.supported_version' 'a TLS 1.2 ServerHello'
check plaintext-refused.pcap 1 'pgsql.code=="28000"' 'ErrorResponse 28000'
check tls11-refused.pcap 1 'tls.handshake.type==1 && tls.handshake.version==0x0302' 'a TLS 1.1 ClientHello'
check tls11-refused.pcap 1 'tls.alert_message.desc==70' 'alert protocol_version'
check tls10-refused.pcap 1 'tls.handshake.type==1 && tls.handshake.version==0x0301' 'a TLS 1.0 ClientHello'
check tls10-refused.pcap 1 'tls.alert_message.desc==70' 'alert protocol_version'
check tls13-ipv6.pcap 1 'ipv6 && tls.handshake.type==2 && tls.handshake.extensions.supported_version==0x0304' 'a TLS 1.3 ServerHello over IPv6'
check any-interface.pcap 1 'sll && tls.handshake.type==2' 'SLL2 frames with a ServerHello'
check any-interface.pcap 1 'pgsql.code=="28000"' 'ErrorResponse 28000'
check tls13.pcapng 1 'tls.handshake.type==2 && tls.handshake.extensions.supported_version==0x0304' 'a TLS 1.3 ServerHello'
check tls13.pcapng 1 'pgsql.code=="28000"' 'ErrorResponse 28000'
check plaintext-accepted.pcap 1 'pgsql.type=="Ready for query"' 'ReadyForQuery in clear'
check prefer-on-lax.pcap 1 'tls.handshake.type==2' 'a ServerHello'
check cancel-plaintext.pcap 1 'pgsql.type=="Cancel request"' 'a CancelRequest'
check cancel-plaintext.pcap 1 'pgsql.code=="57014"' 'ErrorResponse 57014'
check ssl-off-prefer.pcap 1 'pgsql.type=="Ready for query"' 'ReadyForQuery in clear'
check ssl-off-require.pcap 1 'tcp.srcport==5432 && tcp.payload==4e' "the server's N"
check multi.pcap 8 'tcp.flags.syn==1 && tcp.flags.ack==0' '8 connections'
check tls12-cert-chain.pcap 1 'count(tls.handshake.certificate) == 2' 'a leaf and an intermediate in clear'
check tls12-cert-expired.pcap 1 'tls.alert_message.desc==45' 'the client refusing the expired certificate (alert 45)'
check tls12-sni-mismatch.pcap 1 'tls.handshake.type==1 && !tls.handshake.extensions_server_name' 'a ClientHello without SNI'
# tshark 4.0 does not dissect a 3.2 StartupMessage: match its version word.
check psycopg-protocol32.pcap 1 'tcp.dstport==5432 && tcp.payload[4:4]==00:03:00:02' 'a 3.2 StartupMessage'
check psycopg-protocol32.pcap 1 'pgsql.type=="Negotiate protocol version"' 'NegotiateProtocolVersion'
check audit-password.pcap 2 'pgsql.authtype==3' 'AuthenticationCleartextPassword twice'
check audit-password.pcap 1 "frame contains \"$AUDIT_PASSWORD\"" 'the marker password on the wire'
check audit-md5.pcap 1 'pgsql.authtype==5' 'AuthenticationMD5Password'
check audit-tls11-accepted.pcap 2 'tls.handshake.type==2 && tls.handshake.version==0x0302' 'two TLS 1.1 ServerHellos'
check audit-tls11-accepted.pcap 1 'tls.alert_message.desc==70' 'TLS 1.0 refused (alert 70)'
check audit-weak-ciphers.pcap 1 'tls.handshake.type==2 && tls.handshake.ciphersuite==0x003b' 'TLS_RSA_WITH_NULL_SHA256 chosen'
check audit-weak-ciphers.pcap 1 'tls.handshake.type==2 && tls.handshake.ciphersuite==0xc018' 'TLS_ECDH_anon_WITH_AES_128_CBC_SHA chosen'
check audit-prefer-fallback.pcap 1 'tls.alert_message.desc==70' 'the TLS 1.1 attempt refused'
check audit-prefer-fallback.pcap 1 'pgsql.type=="Ready for query"' 'the plaintext retry accepted'
check audit-allow-strict.pcap 1 'pgsql.code=="28000"' 'the plaintext attempt refused'
check audit-allow-strict.pcap 1 'tls.handshake.type==2' 'then a ServerHello'
check audit-cancel-tls.pcap 1 'pgsql.type=="Cancel request"' 'a CancelRequest in clear'
check audit-cancel-tls.pcap 1 'tls.handshake.type==2' 'beside a TLS session'
check audit-injection.pcap 1 'tcp.dstport==5432 && tcp.len==31' 'SSLRequest and a Query in one segment'
check audit-injection.pcap 1 'tcp.srcport==5432 && tcp.payload[0:1]==53 && tcp.len>1' "'S' and more bytes in one segment"
[[ $BAD -eq 0 ]] && log "all self-checks passed" || warn "some self-checks failed (see above)"
