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
import sys
import time

import numpy as np
from charm4py import charm, Chare, Group, Channel, coro

import osu_common
import peerlib
from osu_common import ACK_BYTES, touch


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
    own = [x for x in args[1:] if not x.startswith('+')]
    a, is_bw, iters, warmup = osu_common.parse('osu_charm4py.py', __doc__.split('\n\n')[0], own)
    if charm.numPes() != 2:
        print(f'osu_charm4py: runs on exactly 2 PEs, got {charm.numPes()} (use +p2)', file=sys.stderr)
        charm.exit(2)
        return
    plan = osu_common.plan(a, is_bw, iters)
    g = Group(Ping)
    done = charm.Future()
    g.run(is_bw, plan, warmup, a.window, a.runs, done)
    results = list(zip(plan, done.get()))
    head = [
        'command: ' + ' '.join(['osu_charm4py.py'] + own),
        'model: charm4py',
        'layer: charm',
        'pes: 2',
        'via: channel',
    ]
    tail = ['versions: ' + peerlib.versions([peerlib.charm4py_version()])]
    sys.stdout.write(osu_common.output(a, is_bw, iters, warmup, results, head, tail))
    sys.stdout.flush()
    charm.exit()


if __name__ == '__main__':
    charm.start(main)
