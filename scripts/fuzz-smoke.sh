#!/usr/bin/env bash
# Bounded fuzzing smoke run for CI: builds the cargo-fuzz targets of fuzz/ and
# runs each for a short, fixed time from its committed seeds (fuzz/seeds/).
# A crash fails the run and prints the input that caused it.
#
#   scripts/fuzz-smoke.sh              # every target, 30 s each
#   FUZZ_SECONDS=600 scripts/fuzz-smoke.sh reassembly session
#
# Needs cargo-fuzz (installed from crates.io when missing). With a nightly
# toolchain it fuzzes under AddressSanitizer; without one it builds on stable
# with `--sanitizer none` (pgtls forbids unsafe code, so ASan finds little that
# a panic would not; the fuzzing is the same libFuzzer).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(pg_parsers tls_stream reassembly session pipeline)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz"
    cargo install --quiet --locked cargo-fuzz
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
    sanitizer=()
    echo "fuzz-smoke: nightly toolchain, AddressSanitizer"
else
    fuzz=(cargo fuzz)
    sanitizer=(--sanitizer none)
    echo "fuzz-smoke: no nightly toolchain, stable without a sanitizer"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"${fuzz[@]}" build -O "${sanitizer[@]}"

status=0
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    # Inputs up to the largest seed (the sample captures reach ~22 KB).
    max_len=4096
    [[ $t == pipeline || $t == session || $t == tls_stream ]] && max_len=65536
    echo "== fuzz $t for ${seconds}s"
    if ! "${fuzz[@]}" run -O "${sanitizer[@]}" "$t" "$work/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" 2>"$work/$t.log"; then
        status=1
        tail -n 40 "$work/$t.log"
        for a in "$work/artifacts/$t"/*; do
            [[ -f $a ]] || continue
            echo "fuzz-smoke: $t crashed on $(basename "$a") ($(stat -c %s "$a") bytes):"
            od -A x -t x1z -v "$a" | head -n 64
        done
        continue
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$work/$t.log" || true
done
exit "$status"
