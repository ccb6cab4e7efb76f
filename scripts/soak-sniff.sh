#!/usr/bin/env bash
# Sustained run of `pgtls sniff` (issue 3): pgbench with a new TLS connection
# per transaction against the strict server on loopback, while sniffing lo.
# Reports sessions seen, libpcap drops and pgtls's peak memory. Not run in CI.
#
#   sudo scripts/soak-sniff.sh                       # 120 s, 4 clients
#   sudo SOAK_SECS=300 IDLE_TIMEOUT=10 scripts/soak-sniff.sh
#
# Environment: PGTLS_BIN (default <repo>/target/release/pgtls if built, else
# target/debug/pgtls; either built with --features live), SOAK_SECS (120),
# CLIENTS (4), IDLE_TIMEOUT (sniff --idle-timeout, default 300), STRICT_PORT,
# PGBIN, OUT_DIR (keep sniff's output there), LONG_LIVED=1 (also keep one TLS
# session open for the whole run, as a connection pool would: memory must
# not grow with the short sessions that start after it).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
if [[ -z ${PGTLS_BIN:-} && -x $REPO/target/release/pgtls ]]; then
    PGTLS_BIN=$REPO/target/release/pgtls
fi
# shellcheck source=live-test.sh
source "$HERE/live-test.sh"

SOAK_SECS=${SOAK_SECS:-120}
CLIENTS=${CLIENTS:-4}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-300}

require_tools
command -v pgbench >/dev/null || die "missing pgbench (apt-get install postgresql-client-15)"
[[ -x /usr/bin/time ]] || die "missing /usr/bin/time (apt-get install time)"
STRICT_PORT=$(pick_port 5432 "${STRICT_PORT:-}")
LAX_PORT=none
setup_work
out=${OUT_DIR:-$WORK/out}
mkdir -p "$out"
PKI=$WORK/pki
make_pki "$PKI" soak 2
start_server strict "$STRICT_PORT" strict
setup_clients
V="host=localhost hostaddr=127.0.0.1 port=$STRICT_PORT user=app dbname=appdb sslmode=require"

log "pgbench -i (before sniffing)"
"${PQENV[@]}" pgbench -q -i -s 1 "$V" >"$WORK/pgbench-init.log" 2>&1 \
    || { cat "$WORK/pgbench-init.log" >&2; die "pgbench -i failed"; }

log "sniffing lo for $((SOAK_SECS + 10)) s with $PGTLS_BIN (--idle-timeout $IDLE_TIMEOUT)"
/usr/bin/time -v -o "$out/time.txt" "$PGTLS_BIN" sniff -i lo --port "$STRICT_PORT" \
    --format jsonl --duration $((SOAK_SECS + 10)) --idle-timeout "$IDLE_TIMEOUT" \
    >"$out/soak.jsonl" 2>"$out/soak.err" &
SNIFF_PID=$!
for i in $(seq 1 100); do
    grep -q 'listening on' "$out/soak.err" && break
    sleep 0.1
done
grep -q 'listening on' "$out/soak.err" || { cat "$out/soak.err" >&2; die "sniff did not start"; }
sleep 0.5

LONG_PID=
if [[ ${LONG_LIVED:-0} == 1 ]]; then
    log "one long-lived TLS session (select pg_sleep($((SOAK_SECS + 2))))"
    "${PQENV[@]}" psql -X -q -At "$V" -c "select pg_sleep($((SOAK_SECS + 2)))" >/dev/null 2>&1 &
    LONG_PID=$!
    sleep 1
fi

log "pgbench -C -T $SOAK_SECS -c $CLIENTS ($V)"
"${PQENV[@]}" pgbench -C -T "$SOAK_SECS" -c "$CLIENTS" -j "$CLIENTS" -P 30 "$V" \
    >"$out/pgbench.log" 2>&1 || { cat "$out/pgbench.log" >&2; die "pgbench failed"; }
[[ -n $LONG_PID ]] && { wait "$LONG_PID" || warn "the long-lived session failed"; }
log "pgbench done; waiting for sniff's --duration to end it"
rc=0
wait "$SNIFF_PID" || rc=$?
SNIFF_PID=

tx=$(awk -F': *' '/number of transactions actually processed/{print $2}' "$out/pgbench.log" | cut -d/ -f1)
failed=$(awk -F': *' '/number of failed transactions/{print $2}' "$out/pgbench.log" | cut -d' ' -f1)
trailer=$(tail -n 1 "$out/soak.err")
rss=$(awk -F': *' '/Maximum resident set size/{print $2}' "$out/time.txt")
cpu_user=$(awk -F': *' '/User time/{print $2}' "$out/time.txt")
cpu_sys=$(awk -F': *' '/System time/{print $2}' "$out/time.txt")
lines=$(wc -l <"$out/soak.jsonl")
encrypted=$(grep -c '^{"file":"lo","verdict":"encrypted"' "$out/soak.jsonl" || true)
grep -E 'tps|latency average|initial connection' "$out/pgbench.log" | sed 's/^/   pgbench: /' >&2 || true
{
    echo "soak: pgbench -C -T $SOAK_SECS -c $CLIENTS (TLS, sslmode=require), sniff --idle-timeout $IDLE_TIMEOUT${LONG_PID:+, one long-lived session}"
    echo "  pgbench transactions (= TLS connections): ${tx:-?} (failed: ${failed:-0})"
    echo "  sniff exit status: $rc"
    echo "  sessions printed: $lines ($encrypted encrypted)"
    echo "  sniff summary: $trailer"
    echo "  pgtls peak RSS: ${rss:-?} kB; CPU user ${cpu_user:-?} s, system ${cpu_sys:-?} s"
} | tee "$out/result.txt"
[[ $rc -eq 0 ]] || exit 1
