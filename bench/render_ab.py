#!/usr/bin/env python3
"""A/B timing of render_bench builds: the builds take turns, process after process, so a slow
spell of a shared machine hits each alike.

    bench/render_ab.py CHART BIN_A BIN_B [--rounds R] [--renders N] [--cpu C]

Each round runs every build once as `BIN CHART --bench N` (N renders, default 400) and keeps the
median it prints; the script prints each build's median, quartiles and maximum over the rounds
(default 12), in milliseconds. With --cpu C every process is pinned to that CPU (`taskset -c C`):
the one-core figure. Keep builds to compare with
`cp target/release/examples/render_bench /tmp/rb_NAME` after `cargo build --release -p ferry
--example render_bench`. CHART is a directory, or a name under ../shared/corpus/charts.
"""
import argparse
import os
import statistics
import subprocess

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("chart")
p.add_argument("builds", nargs="+")
p.add_argument("--rounds", type=int, default=12)
p.add_argument("--renders", type=int, default=400)
p.add_argument("--cpu")
a = p.parse_args()
chart = a.chart
if not os.path.isdir(chart):
    chart = os.path.join(here, "..", "..", "shared", "corpus", "charts", chart)
times = {b: [] for b in a.builds}
for _ in range(a.rounds):
    for b in a.builds:
        cmd = [b, chart, "--bench", str(a.renders)]
        if a.cpu is not None:
            cmd = ["taskset", "-c", a.cpu] + cmd
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        times[b].append(float(out[0]) * 1000)
for b, x in times.items():
    x.sort()
    q = statistics.quantiles(x, n=4) if len(x) > 1 else [x[0]] * 3
    print(f"{b}: median {statistics.median(x):.3f} ms  q1 {q[0]:.3f}  q3 {q[2]:.3f}  max {x[-1]:.3f}  ({len(x)} processes of {a.renders} renders)")
