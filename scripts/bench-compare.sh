#!/usr/bin/env bash
# Side-by-side throughput of pgtls (JSON Lines with one thread and with every
# core, and the default table: what a plain `pgtls read F > out` runs),
# tcpdump and tshark on one capture, as in the README's Performance section.
# Captures come from scripts/make-bench-captures.sh (default
# /var/tmp/pgtls-bench).
#
#   scripts/bench-compare.sh [FILE] [--tshark]
#
# Needs hyperfine, tcpdump (and tshark with --tshark); builds pgtls in release.
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:-/var/tmp/pgtls-bench/pgbench-tls.pcap}
with_tshark=${2:-}
[[ -f $file ]] || { echo "no capture at $file: run scripts/make-bench-captures.sh" >&2; exit 2; }
for t in hyperfine tcpdump; do
    command -v $t >/dev/null || { echo "needs $t (apt-get install $t)" >&2; exit 2; }
done
cargo build --release --quiet
bin=target/release/pgtls
bytes=$(stat -c %s "$file")
packets=$(capinfos -c -M "$file" 2>/dev/null | awk '/Number of packets/ {print $NF}' || true)
echo "file: $file ($bytes bytes, ${packets:-?} packets)"
cat "$file" > /dev/null   # warm the page cache
cmds=(
    "tcpdump -r $file -w /dev/null"
    "$bin read $file --format jsonl -j 1"
    "$bin read $file --format jsonl -j 0"
    "$bin read $file"
)
if [[ $with_tshark == --tshark ]]; then
    cmds+=("tshark -r $file -d tcp.port==5432,pgsql -Y tls.handshake")
fi
hyperfine --warmup 1 --runs 5 --output null --export-json /tmp/pgtls-bench.json "${cmds[@]}"
python3 - "$bytes" "${packets:-0}" <<'PY'
import json, sys
b, p = int(sys.argv[1]), int(sys.argv[2] or 0)
for r in json.load(open('/tmp/pgtls-bench.json'))['results']:
    m = r['mean']
    label = r['command'].replace('target/release/pgtls', 'pgtls')
    print(f"{label[:66]:66} {m:8.3f} s  {b/m/1e6:8.1f} MB/s  {p/m/1e6 if p else 0:6.2f} Mpkt/s")
PY
for j in 1 0; do
    /usr/bin/time -f "pgtls -j $j: peak RSS %M KB, CPU %U+%S s" $bin read "$file" --format jsonl -j $j > /dev/null
done
/usr/bin/time -f "pgtls (default table): peak RSS %M KB, CPU %U+%S s" $bin read "$file" > /dev/null
