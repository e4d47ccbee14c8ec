#!/usr/bin/env python3
# Compares chare-bench binaries (e.g. built from two commits, with the MPI feature) on the MPI layer at 8 B:
#   python3 scripts/compare-mpi-8b.py ROUNDS BIN...
# Each round runs c-mpi (latency and bandwidth) and c-mpi-am (latency) once, then for every binary in turn
# `mpirun -np 2 --bind-to core` chare bandwidth (window 64), chare latency via entry and via channel
# (`--runs 3` each). Per round the ratios are against that round's c-mpi (the dev VM switches between fast
# and slow periods, so only values of one round compare); printed are every round's values and the medians.
# The C peer comes from target/peers (scripts/setup-mpi.sh builds it) or $CHARE_OSU_C. Used for docs/perf.md
# v0.10. Runs as root too (sets Open MPI's two permission variables).
import os, statistics, subprocess, sys

rounds = int(sys.argv[1])
bins = sys.argv[2:]
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
if "CHARE_OSU_C" not in env:
    env["CHARE_OSU_C"] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "peers", "osu_pingpong")


def last_row(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300).stdout
    return [l for l in out.splitlines() if l and not l.startswith("#")][-1].split()


def bench(b, kind, *args, mpi=False):
    iters = ["--iters", "5000"] if kind == "bandwidth" else ["--iters", "50000"]
    cmd = [b, kind, *args, "--min-size", "8", "--max-size", "8", "--runs", "3", *iters]
    if mpi:
        cmd = ["mpirun", "-np", "2", "--bind-to", "core", *cmd]
    row = last_row(cmd)
    return float(row[3] if kind == "bandwidth" else row[2])


R = {b: {"rate": [], "entry": [], "channel": []} for b in bins}
C = {"rate": [], "lat": [], "am": []}
for r in range(rounds):
    C["rate"].append(bench(bins[0], "bandwidth", "--model", "c-mpi"))
    C["lat"].append(bench(bins[0], "latency", "--model", "c-mpi"))
    C["am"].append(bench(bins[0], "latency", "--model", "c-mpi-am"))
    line = f"round {r + 1}: c-mpi {C['rate'][-1]:.1f} MB/s {C['lat'][-1]:.3f} us, c-mpi-am {C['am'][-1]:.3f} us |"
    for b in bins:
        x = R[b]
        x["rate"].append(bench(b, "bandwidth", "--model", "chare", mpi=True))
        x["entry"].append(bench(b, "latency", "--model", "chare", "--via", "entry", mpi=True))
        x["channel"].append(bench(b, "latency", "--model", "chare", "--via", "channel", mpi=True))
        line += (f" {os.path.basename(b)}: {x['rate'][-1]:.1f} MB/s ({x['rate'][-1] / C['rate'][-1]:.2f}x),"
                 f" entry {x['entry'][-1]:.3f} ({x['entry'][-1] / C['lat'][-1]:.2f}x), channel {x['channel'][-1]:.3f} |")
    print(line, flush=True)
m = statistics.median
print(f"medians: c-mpi {m(C['rate']):.1f} MB/s {m(C['lat']):.3f} us, c-mpi-am {m(C['am']):.3f} us")
for b in bins:
    x = R[b]
    rr = [v / c for v, c in zip(x["rate"], C["rate"])]
    er = [v / c for v, c in zip(x["entry"], C["lat"])]
    cr = [v / c for v, c in zip(x["channel"], C["lat"])]
    print(f"  {os.path.basename(b)}: rate {m(x['rate']):.1f} MB/s, ratio {m(rr):.2f}x | entry {m(x['entry']):.3f} us,"
          f" {m(er):.2f}x | channel {m(x['channel']):.3f} us, {m(cr):.2f}x")
