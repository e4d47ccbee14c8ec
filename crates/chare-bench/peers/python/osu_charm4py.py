#!/usr/bin/env python3
"""The Charm4Py peer of chare-bench latency and bandwidth: OSU-style
ping-pong latency and windowed bandwidth between two chares on two PEs,
over one Channel, timed and printed as chare-bench's models (and
osu_mpi4py.py).

    python3 -m charmrun.start +p2 osu_charm4py.py ++quiet +quiet latency   [--min-size N] [--max-size N]
                                   [--iters N] [--warmup N] [--runs N] [--format csv|table]
    python3 -m charmrun.start +p2 osu_charm4py.py ++quiet +quiet bandwidth [--window N] [same options]

A Group (one element per PE) whose two elements open one Channel to each
other (PAPER.md section 1: "a Group with one channel between the two
elements"). Latency: element 0 sends a numpy uint8 buffer and receives the
answer; element 1 receives it, reads its first and last byte and sends
the received array back (the received object is kept until the next one
arrives, so freeing it is not timed); an allreduce (a barrier) after the
warm-up; one-way = elapsed / (2 x iterations); sizes above 1 MiB run half
the iterations. Bandwidth: element 0 sends WINDOW messages of one buffer,
then receives a 4-byte ack; element 1 receives the WINDOW messages,
touches the last and sends the ack; bandwidth = size x window x iterations
/ elapsed; sizes up to 8 KiB run 10x the iterations. MB/s = 10^6 bytes per
second. Each size runs RUNS times; the median is reported and every run
listed in trailing `#` lines.
"""
import argparse
import statistics
import sys
import time

import numpy as np
from charm4py import charm, Chare, Group, Channel, coro

import peerlib

MIB = 1 << 20
LATENCY_LARGE_SIZE = MIB
BANDWIDTH_SMALL_SIZE = 8 * 1024
ACK_BYTES = 4


def sizes(lo, hi):
    out, s = [], lo
    while s <= hi:
        out.append(s)
        s *= 2
    return out


def touch(buf):
    return int(buf[0]) + int(buf[-1])


class Ping(Chare):

    @coro
    def run(self, bandwidth, plan, warmup, window, runs, done):
        me = self.thisIndex
        ch = Channel(self, remote=self.thisProxy[1 - me])
        ack = np.zeros(ACK_BYTES, dtype=np.uint8)
        now = time.perf_counter
        results = []
        for size, n in plan:
            buf = np.ones(size, dtype=np.uint8)
            elapsed = []
            for _ in range(runs):
                t0 = 0.0
                kept = None
                for i in range(warmup + n):
                    if i == warmup:
                        self.allreduce().get()
                        t0 = now()
                    if bandwidth:
                        if me == 0:
                            for _ in range(window):
                                ch.send(buf)
                            ch.recv()
                        else:
                            for _ in range(window):
                                kept = ch.recv()
                            touch(kept)
                            ch.send(ack)
                    elif me == 0:
                        ch.send(buf)
                        kept = ch.recv()
                        touch(kept)
                    else:
                        kept = ch.recv()
                        touch(kept)
                        ch.send(kept)
                elapsed.append(max(now() - t0, sys.float_info.min))
            results.append(elapsed)
        if me == 0:
            done.send(results)


def main(args):
    ap = argparse.ArgumentParser(prog='osu_charm4py.py', description=__doc__.split('\n\n')[0])
    ap.add_argument('benchmark', choices=['latency', 'bandwidth'])
    ap.add_argument('--min-size', type=int, default=1)
    ap.add_argument('--max-size', type=int, default=4 * MIB)
    ap.add_argument('--iters', type=int, default=None, help='latency: 1000, bandwidth: 100')
    ap.add_argument('--warmup', type=int, default=None, help='latency: 60, bandwidth: 10')
    ap.add_argument('--window', type=int, default=64)
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--format', choices=['csv', 'table'], default='table')
    a = ap.parse_args([x for x in args[1:] if not x.startswith('+')])
    is_bw = a.benchmark == 'bandwidth'
    iters = a.iters if a.iters is not None else (100 if is_bw else 1000)
    warmup = a.warmup if a.warmup is not None else (10 if is_bw else 60)
    if a.min_size < 1 or a.min_size > a.max_size or iters < 1 or a.runs < 1 or a.window < 1 or warmup < 0:
        ap.error('sizes, --iters, --runs and --window must be positive, --min-size <= --max-size')
    if charm.numPes() != 2:
        print(f'osu_charm4py: runs on exactly 2 PEs, got {charm.numPes()} (use +p2)', file=sys.stderr)
        charm.exit(2)
        return
    plan = []
    for size in sizes(a.min_size, a.max_size):
        if is_bw:
            n = iters * 10 if size <= BANDWIDTH_SMALL_SIZE else iters
        else:
            n = max(iters // 2, 1) if size > LATENCY_LARGE_SIZE else iters
        plan.append((size, n))
    g = Group(Ping)
    done = charm.Future()
    g.run(is_bw, plan, warmup, a.window, a.runs, done)
    results = done.get()
    rows, footer = [], []
    for (size, n), elapsed in zip(plan, results):
        if is_bw:
            per_run = [size * a.window * n / e / 1e6 for e in elapsed]
            rows.append([str(size), str(n), str(a.window), f'{statistics.median(per_run):.2f}'])
            footer.append(f'runs size_bytes={size} bandwidth_mb_s=' + ','.join(f'{v:.2f}' for v in per_run))
        else:
            per_run = [e / (2.0 * n) * 1e6 for e in elapsed]
            one_way = statistics.median(per_run)
            rows.append([str(size), str(n), f'{one_way:.3f}', f'{size / one_way:.2f}'])
            footer.append(f'runs size_bytes={size} one_way_us=' + ','.join(f'{v:.3f}' for v in per_run))
    header = [
        f'chare-bench {a.benchmark} (OSU-style)',
        'command: ' + ' '.join(['osu_charm4py.py'] + [x for x in args[1:] if not x.startswith('+')]),
        'model: charm4py',
        'layer: charm',
        'pes: 2',
        'via: channel',
        f'iterations: {iters} (latency: half above 1 MiB; bandwidth: 10x up to 8 KiB), warmup {warmup}',
        f'runs: {a.runs} (median reported)',
    ] + peerlib.machine_lines(2) + [
        'units: microseconds (us), MB/s = 10^6 bytes per second',
        'versions: ' + peerlib.versions([peerlib.charm4py_version()]),
    ]
    columns = (['size_bytes', 'iterations', 'window', 'bandwidth_mb_s'] if is_bw
               else ['size_bytes', 'iterations', 'one_way_us', 'bandwidth_mb_s'])
    sys.stdout.write(peerlib.render(header, columns, rows, footer if a.runs > 1 else [], a.format))
    sys.stdout.flush()
    charm.exit()


if __name__ == '__main__':
    charm.start(main)
