#!/usr/bin/env python3
"""Interleaved timing of commands: A, B, C, A, B, C, ... so that a shared
machine's drift from minute to minute falls on every command alike (hyperfine
runs each command's runs back to back, and on the project's VM whole minutes
run 5-10% slower than others). The order rotates from round to round, so
that no command always runs first. Prints the median, mean and minimum of
each's wall time, the median of its CPU time (user + system, of the command
and what it waited for), and the median over rounds of its wall and CPU
time divided by the first command's in the same round: a ratio taken round
by round holds better than the medians in minutes whose speed drifts. CPU
time separates work from waiting: two threads that wait on each other show
it in wall time only.

    scripts/ab-time.py ROUNDS "CMD A" "CMD B" ...

Example, the last build against this one on the million short sessions:

    scripts/ab-time.py 5 "/tmp/pgtls-old read F" "target/release/pgtls read F"

Standard output and error of the commands are discarded.
"""
import os
import shlex
import statistics
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    rounds, cmds = int(sys.argv[1]), sys.argv[2:]
    wall = {c: [] for c in cmds}
    cpu = {c: [] for c in cmds}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    for c in cmds:  # warm-up: page cache, binaries
        subprocess.run(shlex.split(c), **quiet)
    for r in range(rounds):
        # Each round starts with the next command: the same binary measured
        # 1-2% slower in one place of a fixed order than in another.
        for c in cmds[r % len(cmds):] + cmds[:r % len(cmds)]:
            start = time.perf_counter()
            child = subprocess.Popen(shlex.split(c), **quiet)
            _, _, usage = os.wait4(child.pid, 0)
            wall[c].append(time.perf_counter() - start)
            cpu[c].append(usage.ru_utime + usage.ru_stime)
    first = cmds[0]
    for c in cmds:
        t = wall[c]
        wall_ratio = statistics.median(a / b for a, b in zip(t, wall[first]))
        cpu_ratio = statistics.median(a / max(b, 1e-9) for a, b in zip(cpu[c], cpu[first]))
        print(f"median {statistics.median(t) * 1e3:9.1f} ms  mean {statistics.mean(t) * 1e3:9.1f}"
              f"  min {min(t) * 1e3:9.1f}  cpu {statistics.median(cpu[c]) * 1e3:9.1f}"
              f"  x first: wall {wall_ratio:.3f} cpu {cpu_ratio:.3f}  {c}")

if __name__ == "__main__":
    main()
