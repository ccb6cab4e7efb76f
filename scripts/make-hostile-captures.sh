#!/usr/bin/env bash
# Writes the hostile captures of tests/hostile.rs.
#
#   scripts/make-hostile-captures.sh            # rewrites tests/data/hostile/ (small files, committed)
#   scripts/make-hostile-captures.sh DIR [N]    # also writes DIR/syn-flood.pcap: N SYNs (default
#                                               # 1000000, ~56 MB) to port 5432 from distinct ports
#
# The captures are built by the generators in tests/common/hostile.rs and
# tests/hostile.rs (one source for the files and the tests): this script runs
# them through `cargo test`. `cargo test --test hostile` checks that the
# committed files are what the generators write.
set -euo pipefail
cd "$(dirname "$0")/.."

PGTLS_BLESS=1 cargo test --quiet --test hostile committed_hostile_captures_match_their_generator
ls -l tests/data/hostile/

if [[ $# -ge 1 ]]; then
    mkdir -p "$1"
    PGTLS_SYN_FLOOD_OUT="$(cd "$1" && pwd)/syn-flood.pcap" PGTLS_SYN_FLOOD_COUNT="${2:-1000000}" \
        cargo test --quiet --release --test hostile write_syn_flood_file -- --ignored --exact
    ls -l "$1/syn-flood.pcap"
fi
