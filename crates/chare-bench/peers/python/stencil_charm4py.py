#!/usr/bin/env python3
"""The Charm4Py peer of `chare-bench stencil` (PAPER.md section 4): a 2-D
chare array of P x ODF blocks, one channel per neighbour, halos handled in
arrival order (charm.iwait), printed in chare-bench stencil's format.

    python3 -m charmrun.start +pP ++quiet +quiet stencil_charm4py.py [--odf K] [--n N] [--m M]
        [--iters I] [--warmup W] [--runs R] [--verify] [--format csv|table]

The blocks are placed in row-major blocks of ODF per PE (element bx*y+by on
PE (bx*y+by) // ODF), as the Rust chare model places its array. Each
iteration of a block (a coroutine entry method): pack and send each halo on
its channel, receive every neighbour's halo in the order they arrive and
unpack it (communication time ends after the last unpack), then the update,
swap and boundary (computation time). An allreduce (a barrier) starts each
run; each block's timings and checksum reach the main chare through a
gather reduction (ordered by element index = process number).
"""
import argparse
import sys
import time

import numpy as np
from charm4py import charm, Chare, Array, ArrayMap, Channel, Group, Reducer, coro

import peerlib
import stencil_common as sc


class BlockMap(ArrayMap):
    """Element (bx, by) on PE (bx * y + by) // odf."""

    def __init__(self, y, odf):
        self.y, self.odf = y, odf

    def procNum(self, index):
        return (index[0] * self.y + index[1]) // self.odf


class Cell(Chare):

    def __init__(self, n, m, parts):
        self.dec = sc.Decomp(n, m, parts)
        bx, by = self.thisIndex
        self.block = sc.block_of(self.dec, self.dec.rank(bx, by))
        self.nbrs = self.dec.neighbours(bx, by)

    @coro
    def run(self, iters, warmup, runs, verify, done):
        channels = [Channel(self, remote=self.thisProxy[idx]) for _, idx in self.nbrs]
        side_of = {id(ch): side for ch, (side, _) in zip(channels, self.nbrs)}
        sides = [side for side, _ in self.nbrs]
        block = self.block
        now = time.perf_counter
        for r in range(runs):
            block.reset()
            times = np.zeros((iters, 3))
            self.allreduce().get()
            for it in range(warmup + iters):
                t0 = now()
                for side, ch in zip(sides, channels):
                    ch.send(block.pack(side))
                for ch in charm.iwait(channels):
                    block.unpack(side_of[id(ch)], ch.recv())
                t1 = now()
                block.step()
                t2 = now()
                if it >= warmup:
                    times[it - warmup] = (t2 - t0, t1 - t0, t2 - t1)
            self.reduce(done[r], (times, block.checksum() if verify else 0), Reducer.gather)


def main(args):
    ap = argparse.ArgumentParser(prog='stencil_charm4py.py', description=__doc__.split('\n\n')[0])
    sc.add_arguments(ap)
    ap.add_argument('--odf', type=int, default=1, help='chares per PE')
    a = ap.parse_args([x for x in args[1:] if not x.startswith('+')])
    sc.check_arguments(ap, a)
    pes = charm.numPes()
    if a.odf < 1:
        ap.error('--odf must be at least 1')
    try:
        dec = sc.Decomp(a.n, a.m, pes * a.odf)
    except ValueError as e:
        print(f'stencil_charm4py: {e}', file=sys.stderr)
        charm.exit(2)
        return
    cells = Array(Cell, (dec.x, dec.y), args=[a.n, a.m, dec.parts()], map=Group(BlockMap, args=[dec.y, a.odf]))
    charm.awaitCreation(cells)
    futures = [charm.Future() for _ in range(a.runs)]
    cells.run(a.iters, a.warmup, a.runs, a.verify, futures)
    runs, checksum = [], None
    for f in futures:
        res = f.get()
        runs.append([t for t, _ in res])
        if a.verify:
            c = sc.combine(s for _, s in res)
            if checksum is not None and c != checksum:
                raise SystemExit('stencil_charm4py: the checksum differs between runs of the same computation')
            checksum = c
    extra = [f'kernel: {peerlib.kernel_name()}', 'versions: ' + peerlib.versions([peerlib.charm4py_version()])]
    sys.stdout.write(sc.report('stencil_charm4py.py', 'charm4py', 'charm', pes, a.odf, dec, a.iters, a.warmup, runs,
                               checksum, a.format, extra))
    sys.stdout.flush()
    charm.exit()


if __name__ == '__main__':
    charm.start(main)
