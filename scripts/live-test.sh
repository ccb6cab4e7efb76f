#!/usr/bin/env bash
# Live test of `pgtls sniff` on loopback, with real PostgreSQL 15 servers and
# real clients (issue 3). Needs root: capture on lo, runuser -u postgres.
#
#   sudo scripts/live-test.sh             # uses target/debug/pgtls (build with --features live)
#
# Sets up a throwaway CA and two servers on 127.0.0.1 (data directories under a
# mktemp dir in /tmp, removed at the end):
#   STRICT  port 5432: ssl=on, ssl_min_protocol_version=TLSv1.2, hostssl only for user app
#   LAX     port 5433: ssl=on, host (plaintext) and hostssl accepted
# then runs `pgtls sniff -i lo --port 5432 --port 5433 --format jsonl --duration 120
# --write live.pcap` while real clients connect:
#   psql sslmode=verify-full (TLS 1.3)                 -> encrypted TLSv1.3
#   psql ssl_max_protocol_version=TLSv1.2              -> encrypted TLSv1.2
#   psql sslmode=disable (refused by pg_hba)           -> rejected-plaintext
#   openssl s_client -starttls postgres -tls1_1        -> rejected-tls-version
#   psql sslmode=disable against LAX                   -> plaintext
# stops it with SIGINT, and checks the verdicts it printed, its summary line, and
# that `pgtls read live.pcap` classifies every session the same way. Then a second
# short run checks that --count 1 ends the capture by itself.
#
# Environment:
#   PGTLS_BIN=path     the pgtls binary (default: <repo>/target/debug/pgtls)
#   PGBIN=dir          PostgreSQL server binaries (default /usr/lib/postgresql/15/bin)
#   OUT_DIR=dir        keep sniff/read outputs and the capture here (default: removed)
#   STRICT_PORT, LAX_PORT   ports (default 5432, 5433; when busy and not set,
#                      free ports from 15432 up are used instead)
#
# Exit status 0 when every check passed; 1 otherwise (the failed checks are listed).
#
# scripts/soak-sniff.sh sources this file for its server setup functions.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGTLS_BIN=${PGTLS_BIN:-$REPO/target/debug/pgtls}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PASSWORD=app-secret

# shellcheck source=lib/pgtest.sh
. "$(dirname "$0")/lib/pgtest.sh"

require_tools() {
    [[ $(id -u) -eq 0 ]] || die "run as root (capture on lo, runuser -u postgres)"
    [[ -x $PGTLS_BIN ]] || die "no $PGTLS_BIN: cargo build --features live"
    "$PGTLS_BIN" interfaces >/dev/null 2>&1 \
        || die "$PGTLS_BIN cannot capture: $("$PGTLS_BIN" interfaces 2>&1 | head -n 1)"
    for t in "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/postgres"; do
        [[ -x $t ]] || die "missing $t (apt-get install postgresql-15)"
    done
    for t in psql openssl runuser; do
        command -v "$t" >/dev/null || die "missing $t (apt-get install postgresql-client-15 openssl util-linux)"
    done
    id postgres >/dev/null 2>&1 || die "no postgres user (apt-get install postgresql-15)"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port DEFAULT EXPLICIT: the port to use.
pick_port() {
    local want=$1 explicit=$2 p
    if [[ -n $explicit ]]; then
        port_busy "$explicit" && die "port $explicit is in use"
        echo "$explicit"
        return
    fi
    if ! port_busy "$want"; then
        echo "$want"
        return
    fi
    for p in $(seq 15432 15532); do
        if ! port_busy "$p" && [[ $p != "${TAKEN_PORT:-}" ]]; then
            warn "port $want is in use: using $p instead"
            echo "$p"
            return
        fi
    done
    die "no free port found"
}

WORK=
SERVERS=()
SNIFF_PID=

cleanup() {
    local rc=$?
    set +e
    if [[ -n $SNIFF_PID ]]; then
        kill -INT "$SNIFF_PID" 2>/dev/null
        wait "$SNIFF_PID" 2>/dev/null
    fi
    local d
    for d in "${SERVERS[@]}"; do
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
    done
    if [[ $rc -ne 0 && -n $WORK ]]; then
        for d in "$WORK"/strict.log "$WORK"/lax.log; do
            [[ -f $d ]] || continue
            warn "last lines of $d:"
            tail -n 15 "$d" >&2
        done
    fi
    [[ -n $WORK ]] && rm -rf "$WORK"
    exit "$rc"
}

setup_work() {
    WORK=$(mktemp -d /tmp/pgtls-live.XXXXXX)
    chown postgres: "$WORK"
    chmod 755 "$WORK"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}



# start_server NAME PORT strict|lax: initdb, configure, start, create role app
# and database appdb.
start_server() {
    local name=$1 port=$2 mode=$3
    local data=$WORK/$name
    log "initdb + start $name ($mode) on 127.0.0.1:$port"
    init_cluster "$data" "$WORK/$name-initdb.log"
    cat >>"$data/postgresql.conf" <<EOF

# --- pgtls live-test.sh
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
ssl = on
ssl_cert_file = '$PKI/server.crt'
ssl_key_file = '$PKI/server.key'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
fsync = off
max_connections = 50
EOF
    case $mode in
        strict) cat >"$data/pg_hba.conf" <<'EOF'
local   all all                 trust
hostssl all app 127.0.0.1/32    scram-sha-256
EOF
        ;;
        lax) cat >"$data/pg_hba.conf" <<'EOF'
local   all all                 trust
hostssl all app 127.0.0.1/32    scram-sha-256
host    all app 127.0.0.1/32    scram-sha-256
EOF
        ;;
        *) die "bad mode $mode" ;;
    esac
    chown postgres: "$data/pg_hba.conf"
    SERVERS+=("$data")
    as_pg "$PGBIN/pg_ctl" -D "$data" -l "$WORK/$name.log" -w -t 60 start >/dev/null
    as_pg psql -X -q -h "$WORK" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE app LOGIN PASSWORD '$PASSWORD'" \
        -c "CREATE DATABASE appdb OWNER app" >/dev/null
}

# psql as root with a clean libpq environment (no ~/.pgpass, ~/.psqlrc, client cert).
setup_clients() {
    CLIENT_HOME=$WORK/client-home
    mkdir -p "$CLIENT_HOME"
    PQENV=(env -u PGHOST -u PGHOSTADDR -u PGPORT -u PGUSER -u PGDATABASE -u PGSSLMODE
        -u PGSERVICE -u PGSSLROOTCERT -u PGGSSENCMODE -u PGOPTIONS -u PGSSLMAXPROTOCOLVERSION
        HOME="$CLIENT_HOME" PGPASSWORD="$PASSWORD" PGCONNECT_TIMEOUT=10 PGAPPNAME=pgtls-live-test)
    # openssl s_client must really send a TLS 1.1 ClientHello, whatever the
    # system's MinProtocol.
    write_legacy_openssl_conf "$WORK/openssl-legacy.cnf"
}
pq() { "${PQENV[@]}" psql -X -q -At "$@"; }

FAILED=()
check() { # check CONDITION-DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then
        log "  ok: $what"
    else
        warn "  FAILED: $what"
        FAILED+=("$what")
    fi
}
client_ok() {
    local out
    if out=$("$@" 2>&1); then
        log "  client ok: ${out//$'\n'/ | }"
    else
        warn "  client FAILED: ${out//$'\n'/ | }"
        FAILED+=("client should have succeeded: $*")
    fi
}
client_fails() {
    local out
    if out=$("$@" 2>&1); then
        warn "  client succeeded but should have failed: ${out//$'\n'/ | }"
        FAILED+=("client should have failed: $*")
    else
        log "  client failed as expected: $(printf '%s\n' "$out" | grep -iE 'error|fatal|alert' | tail -n 1)"
    fi
}

# sniff_start OUT ERR ARGS...: starts pgtls sniff in the background and waits
# until it listens.
sniff_start() {
    local out=$1 err=$2 i
    shift 2
    "$PGTLS_BIN" sniff "$@" >"$out" 2>"$err" &
    SNIFF_PID=$!
    for i in $(seq 1 100); do
        grep -q 'listening on' "$err" && { sleep 0.3; return 0; }
        kill -0 "$SNIFF_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$err" >&2
    die "pgtls sniff did not start"
}
# sniff_wait [SIGNAL]: stops it (SIGINT by default; "none" waits for it to
# end by itself, at most 30 s) and sets SNIFF_RC.
sniff_wait() {
    local sig=${1:-INT} i
    if [[ $sig == none ]]; then
        for i in $(seq 1 300); do
            kill -0 "$SNIFF_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$SNIFF_PID" 2>/dev/null && { warn "pgtls sniff still running after 30 s"; kill -INT "$SNIFF_PID"; }
    else
        sleep 1
        kill -"$sig" "$SNIFF_PID"
    fi
    SNIFF_RC=0
    wait "$SNIFF_PID" || SNIFF_RC=$?
    SNIFF_PID=
}

# summarize FILE: one line per session, "PORTNAME verdict tls-version", sorted.
summarize() {
    local line server verdict tls port
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        verdict=$(grep -o '"verdict":"[^"]*"' <<<"$line" | head -n 1 | cut -d'"' -f4)
        server=$(grep -o '"server":"[^"]*"' <<<"$line" | head -n 1 | cut -d'"' -f4)
        tls=$(grep -o '"server_version":"TLS[^"]*"' <<<"$line" | head -n 1 | cut -d'"' -f4)
        port=${server##*:}
        case $port in
            "$STRICT_PORT") port=STRICT ;;
            "$LAX_PORT") port=LAX ;;
        esac
        printf '%s %s %s\n' "$port" "$verdict" "${tls:--}"
    done <"$1" | sort
}
# by_client FILE: "client verdict tls-version" per session, sorted.
by_client() {
    local line client verdict tls
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        client=$(grep -o '"client":"[^"]*"' <<<"$line" | head -n 1 | cut -d'"' -f4)
        verdict=$(grep -o '"verdict":"[^"]*"' <<<"$line" | head -n 1 | cut -d'"' -f4)
        tls=$(grep -o '"server_version":"TLS[^"]*"' <<<"$line" | head -n 1 | cut -d'"' -f4)
        printf '%s %s %s\n' "$client" "$verdict" "${tls:--}"
    done <"$1" | sort
}

main() {
    require_tools
    STRICT_PORT=$(pick_port 5432 "${STRICT_PORT:-}")
    TAKEN_PORT=$STRICT_PORT
    LAX_PORT=$(pick_port 5433 "${LAX_PORT:-}")
    setup_work
    local out=${OUT_DIR:-$WORK/out}
    mkdir -p "$out"
    PKI=$WORK/pki
    make_pki "$PKI" live-test 2
    start_server strict "$STRICT_PORT" strict
    start_server lax "$LAX_PORT" lax
    setup_clients
    local V="host=localhost hostaddr=127.0.0.1 user=app dbname=appdb"

    log "pgtls sniff -i lo --port $STRICT_PORT --port $LAX_PORT --format jsonl --duration 120 --write $out/live.pcap"
    sniff_start "$out/sniff.jsonl" "$out/sniff.err" -i lo --port "$STRICT_PORT" --port "$LAX_PORT" \
        --format jsonl --duration 120 --write "$out/live.pcap"

    log "clients"
    client_ok pq "$V port=$STRICT_PORT sslmode=verify-full sslrootcert=$CA" \
        -c 'select version from pg_stat_ssl where pid = pg_backend_pid()'
    client_ok pq "$V port=$STRICT_PORT sslmode=require ssl_max_protocol_version=TLSv1.2" \
        -c 'select version from pg_stat_ssl where pid = pg_backend_pid()'
    client_fails pq "$V port=$STRICT_PORT sslmode=disable" -c 'select 1'
    client_fails env OPENSSL_CONF="$WORK/openssl-legacy.cnf" openssl s_client -starttls postgres \
        -connect "127.0.0.1:$STRICT_PORT" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' </dev/null
    client_ok pq "$V port=$LAX_PORT sslmode=disable" -c 'select 1'

    log "stopping pgtls sniff with SIGINT"
    sniff_wait INT
    sed 's/^/   sniff stderr: /' "$out/sniff.err" >&2
    sed 's/^/   sniff: /' "$out/sniff.jsonl" | cut -c1-200 >&2

    local expected
    expected=$(printf '%s\n' "LAX plaintext -" "STRICT encrypted TLSv1.2" "STRICT encrypted TLSv1.3" \
        "STRICT rejected-plaintext -" "STRICT rejected-tls-version -" | sort)
    check "sniff exits 0 on SIGINT (got $SNIFF_RC)" test "$SNIFF_RC" -eq 0
    check "sniff printed the five expected verdicts" \
        test "$(summarize "$out/sniff.jsonl")" == "$expected"
    if [[ $(summarize "$out/sniff.jsonl") != "$expected" ]]; then
        warn "expected:"; printf '%s\n' "$expected" >&2
        warn "got:"; summarize "$out/sniff.jsonl" >&2
    fi
    check "stdout holds only session lines" \
        test "$(grep -vc '^{"file":"lo","verdict":' "$out/sniff.jsonl")" -eq 0
    local trailer
    trailer=$(tail -n 1 "$out/sniff.err")
    check "the last stderr line is the JSON summary (stopped: interrupted)" \
        grep -q '"capture":{"interface":"lo".*"stopped":"interrupted"' <<<"$trailer"
    check "the summary counts 5 sessions" grep -q '"summary":{"sessions":5,' <<<"$trailer"
    check "libpcap dropped nothing" grep -q '"dropped":0,"if_dropped":0' <<<"$trailer"

    log "pgtls read $out/live.pcap --port $STRICT_PORT --port $LAX_PORT --format jsonl"
    local rrc=0
    "$PGTLS_BIN" read "$out/live.pcap" --port "$STRICT_PORT" --port "$LAX_PORT" --format jsonl \
        >"$out/read.jsonl" 2>"$out/read.err" || rrc=$?
    check "read exits 0 (got $rrc)" test "$rrc" -eq 0
    check "read of --write's capture gives the five expected verdicts" \
        test "$(summarize "$out/read.jsonl")" == "$expected"
    check "read classifies every session as sniff did (client, verdict, TLS version)" \
        test "$(by_client "$out/read.jsonl")" == "$(by_client "$out/sniff.jsonl")"

    log "pgtls sniff --count 1 ends by itself after one session"
    sniff_start "$out/count.jsonl" "$out/count.err" -i lo --port "$STRICT_PORT" --format jsonl \
        --count 1 --duration 60
    client_ok pq "$V port=$STRICT_PORT sslmode=verify-full sslrootcert=$CA" -c 'select 1'
    sniff_wait none
    check "sniff --count 1 exits 0 (got $SNIFF_RC)" test "$SNIFF_RC" -eq 0
    check "it printed one encrypted session" \
        test "$(summarize "$out/count.jsonl")" == "STRICT encrypted TLSv1.3"
    check "it says it stopped on the count" grep -q '"stopped":"count"' "$out/count.err"

    if [[ ${#FAILED[@]} -gt 0 ]]; then
        warn "${#FAILED[@]} checks failed:"
        printf '   %s\n' "${FAILED[@]}" >&2
        exit 1
    fi
    log "PASS: live verdicts as expected"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
