#!/usr/bin/env python3
"""Interleaved timing of commands: A, B, C, A, B, C, ... so that a shared
machine's drift from minute to minute falls on every command alike (hyperfine
runs each command's runs back to back, and on the project's VM whole minutes
run 5-10% slower than others). The order rotates from round to round, so
that no command always runs first. Prints the median, mean and minimum of
each.

    scripts/ab-time.py ROUNDS "CMD A" "CMD B" ...

Example, the last build against this one on the million short sessions:

    scripts/ab-time.py 5 "/tmp/pgtls-old read F" "target/release/pgtls read F"

Standard output and error of the commands are discarded.
"""
import shlex
import statistics
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    rounds, cmds = int(sys.argv[1]), sys.argv[2:]
    times = {c: [] for c in cmds}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    for c in cmds:  # warm-up: page cache, binaries
        subprocess.run(shlex.split(c), **quiet)
    for r in range(rounds):
        # Each round starts with the next command: the same binary measured
        # 1-2% slower in one place of a fixed order than in another.
        for c in cmds[r % len(cmds):] + cmds[:r % len(cmds)]:
            start = time.perf_counter()
            subprocess.run(shlex.split(c), check=False, **quiet)
            times[c].append(time.perf_counter() - start)
    for c in cmds:
        t = times[c]
        print(f"median {statistics.median(t) * 1e3:9.1f} ms  mean {statistics.mean(t) * 1e3:9.1f}"
              f"  min {min(t) * 1e3:9.1f}  {c}")


if __name__ == "__main__":
    main()
