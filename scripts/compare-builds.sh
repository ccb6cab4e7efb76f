#!/usr/bin/env bash
# Checks that two builds of pgtls write byte-identical output: every bundled
# sample, every public capture and any capture given, in table and JSON Lines
# form, with one worker and with two; standard output and standard error each
# (how the two interleave depends on when output buffers are written, not on
# what pgtls says). Run it before and after a change meant to make pgtls
# faster and nothing else.
#
#   scripts/compare-builds.sh OLD_BINARY NEW_BINARY [CAPTURE ...]
#
# Exits 1 if any output differs (and names it).
set -uo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { sed -n '2,11p' "$0"; exit 2; }
old=$1 new=$2
shift 2
n=0 bad=0
err=$(mktemp -d)
trap 'rm -rf "$err"' EXIT
for f in samples/*.pcap* tests/data/*.pcap* ../shared/captures/public/*.pcap* "$@"; do
    [[ -f $f ]] || continue
    for fmt in table jsonl; do
        for j in 1 2; do
            a=$("$old" read -j "$j" --format "$fmt" "$f" 2>"$err/old" | md5sum; md5sum <"$err/old")
            b=$("$new" read -j "$j" --format "$fmt" "$f" 2>"$err/new" | md5sum; md5sum <"$err/new")
            n=$((n + 1))
            if [[ $a != "$b" ]]; then
                echo "differs: $f --format $fmt -j $j"
                bad=$((bad + 1))
            fi
        done
    done
done
echo "compared $n outputs, $bad differ"
[[ $bad -eq 0 ]]
