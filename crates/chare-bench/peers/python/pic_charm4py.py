#!/usr/bin/env python3
"""The Charm4Py peer of `chare-bench pic` (PAPER.md section 5): the PRK's
particle-in-cell kernel on a 1-D chare array of P x ODF tiles, with
Charm4Py's measurement-based load balancing (AtSync), printed in
chare-bench pic's format. The paper's three Charm4Py variants:

    python3 -m charmrun.start +pP pic_charm4py.py ++quiet +quiet [options]                  # ODF 1
    python3 -m charmrun.start +pP pic_charm4py.py ++quiet +quiet --odf 8 [options]          # (O)
    python3 -m charmrun.start +pP pic_charm4py.py ++quiet +quiet --odf 8 --lb-period 20 \\
        +balancer GreedyRefineLB --balancer GreedyRefineLB [options]                       # (O, LB)

Options as pic_mpi4py.py (--grid, --particles, --iters, --mode, -k, -m, ...).

Tiles: the PRK's tiling of P x ODF parts (tile index iy nx + ix), placed in
blocks of ODF per PE (tile t on PE t // ODF), as the Rust chare model. Each
tile counts the particles of its columns; an allreduce gathers the counts,
and each tile places its particles with the serial run's ids. A tile opens
one Channel to each distinct neighbour tile; each step it moves its
particles, sends each neighbour one message with the particles that now
belong to it (possibly none), and receives one from each neighbour in
arrival order (charm.iwait). One untimed warm-up step, then the timed
steps, timed by the main chare. With --lb-period N the array is created
with useAtSync: every N timed steps each tile calls AtSync and ends its
coroutine (a chare with a suspended coroutine cannot migrate); Charm++
measures the tiles' loads, runs the balancer given by `+balancer`
(Charm++'s option; the paper used TreeLB's greedy-refine) and migrates
tiles (their particles and channels are pickled), then calls
resumeFromSync, which restarts the step loop. At the end every tile's
check (particles, misplaced, id sum) and its per-PE compute times reach the
main chare through a gather reduction; a failed verification exits with
status 1.
"""
import argparse
import sys
import time

import numpy as np
from charm4py import charm, Chare, Array, ArrayMap, Channel, Group, Reducer, coro

import peerlib
import pic_common as pc


class TileMap(ArrayMap):

    def __init__(self, odf):
        self.odf = odf

    def procNum(self, index):
        return index[0] // self.odf


class Tile(Chare):

    def __init__(self, args, parts):
        self.p = pc.Params(*args)
        self.tiling = pc.Tiling(self.p.l, parts)
        me = self.thisIndex[0]
        self.tile = self.tiling.tile(me)
        self.nbrs = self.tiling.neighbours(me)
        self.distinct = sorted(set(self.nbrs) - {me})

    @coro
    def setup(self, done):
        me = self.thisIndex[0]
        cells = pc.tile_cells(self.p, self.tile)
        counts = [c for _, c in sorted(self.allreduce((me, cells.sum(axis=1)), Reducer.gather).get())]
        self.placed = int(sum(int(c.sum()) for c in counts))
        self.part = pc.init_particles(self.p, self.tile, pc.id_bases(self.tiling, counts, me), cells)
        self.start = (charm.myPe(), self.part.shape[1])
        self.channels = [Channel(self, remote=self.thisProxy[t]) for t in self.distinct]
        self.compute = {}
        self.load = {}
        self.step_once(False)
        self.reduce(done, self.placed, Reducer.max)

    def step_once(self, timed):
        me = self.thisIndex[0]
        ta = time.perf_counter()
        n = self.part.shape[1]
        try:
            part, out = pc.step_tile(self.part, self.tiling, me, self.nbrs)
        except ValueError as e:
            charm.abort(f'pic_charm4py: tile {me}: {e}')
        if timed:
            pe = charm.myPe()
            self.compute[pe] = self.compute.get(pe, 0.0) + time.perf_counter() - ta
            self.load[pe] = self.load.get(pe, 0) + n
        for t, ch in zip(self.distinct, self.channels):
            s = self.nbrs.index(t)
            ch.send(out[s] if out[s] is not None else np.zeros((pc.FIELDS, 0)))
        got = [ch.recv() for ch in charm.iwait(self.channels)]
        self.part = np.concatenate([part] + [g for g in got if g.shape[1]], axis=1)

    @coro
    def begin(self, iters, period, want_parts, done):
        self.left, self.period, self.since = iters, period, 0
        self.want_parts, self.done = want_parts, done
        self.loop()

    @coro
    def resume(self):
        self.loop()

    def resumeFromSync(self):
        self.thisProxy[self.thisIndex].resume()

    def loop(self):
        while self.left > 0:
            self.step_once(True)
            self.left -= 1
            self.since += 1
            if self.period and self.since == self.period and self.left > 0:
                self.since = 0
                self.AtSync()
                return
        c = pc.check(self.part, self.p.l, self.p.steps())
        result = (self.start, (charm.myPe(), self.part.shape[1]), self.compute, self.load, c,
                  self.part if self.want_parts else None)
        self.reduce(self.done, result, Reducer.gather)


def main(args):
    ap = argparse.ArgumentParser(prog='pic_charm4py.py', description=__doc__.split('\n\n')[0])
    pc.add_arguments(ap)
    ap.add_argument('--odf', type=int, default=1, help='tiles per PE')
    ap.add_argument('--lb-period', type=int, default=0, help='timed steps between load-balancing steps (0: none)')
    ap.add_argument('--balancer', help="the name of Charm++'s balancer given with +balancer NAME (Charm++ takes "
                    'that option itself, so the program cannot see it: this one names it in the output)')
    a = ap.parse_args([x for x in args[1:] if not x.startswith('+')])
    balancer = a.balancer
    p = pc.params_of(ap, a)
    pes = charm.numPes()
    if a.odf < 1 or a.lb_period < 0:
        ap.error('--odf must be at least 1, --lb-period at least 0')
    if a.lb_period and not balancer:
        ap.error('--lb-period needs +balancer NAME --balancer NAME (e.g. GreedyRefineLB)')
    try:
        tiling = pc.Tiling(p.l, pes * a.odf)
    except ValueError as e:
        ap.error(str(e))
    err = tiling.check_motion(p)
    if err:
        ap.error(err)
    pargs = [p.l, p.n, p.iters, p.mode, p.rho, p.alpha, p.beta, p.patch, p.k, p.m]
    tiles = Array(Tile, tiling.parts(), args=[pargs, tiling.parts()], map=Group(TileMap, args=[a.odf]),
                  useAtSync=a.lb_period > 0)
    charm.awaitCreation(tiles)
    t0 = time.perf_counter()
    ready = charm.Future()
    tiles.setup(ready)
    placed = ready.get()
    init_s = time.perf_counter() - t0
    done = charm.Future()
    start = time.perf_counter()
    tiles.begin(p.iters, a.lb_period, a.state_hash, done)
    results = done.get()
    timed_s = time.perf_counter() - start

    merged = pc.merge_checks([r[4] for r in results])
    bad = pc.verdict(merged, placed)
    if bad:
        print(f'pic_charm4py: verification failed after {p.steps()} steps: {bad}', file=sys.stderr)
        charm.exit(1)
        return
    per_pe = [dict(start=0, end=0, compute_s=0.0, particle_steps=0) for _ in range(pes)]
    for (spe, sn), (epe, en), comp, load, _, _ in results:
        per_pe[spe]['start'] += sn
        per_pe[epe]['end'] += en
        for pe, s in comp.items():
            per_pe[pe]['compute_s'] += s
        for pe, n in load.items():
            per_pe[pe]['particle_steps'] += n
    moved = sum(1 for i, ((spe, _), (epe, _), *_rest) in enumerate(results) if spe != epe)
    lb_steps = (p.iters - 1) // a.lb_period if a.lb_period else 0
    extra = [
        f'odf: {a.odf}',
        f'balancer: {balancer if a.lb_period else "none"}',
        f'load balancing: {f"{balancer} (Charm++) every {a.lb_period} timed steps ({lb_steps} steps)" if a.lb_period else "none"}; '
        f'tiles on another PE at the end than at the start: {moved} of {tiling.parts()}',
        f'init: {init_s:.3f} s (with the warm-up step)',
        'versions: ' + peerlib.versions([peerlib.charm4py_version()]),
    ]
    footer = [f'state hash: {pc.state_hash([r[5] for r in results])}'] if a.state_hash else []
    sys.stdout.write(pc.report('pic_charm4py.py', 'charm4py', 'charm', pes, p, tiling, placed, timed_s, per_pe, merged,
                               a.format, extra, footer))
    sys.stdout.flush()
    charm.exit()


if __name__ == '__main__':
    charm.start(main)
