#!/usr/bin/env python3
"""The mpi4py peer of `chare-bench pic` (PAPER.md section 5): the PRK's
particle-in-cell kernel, one tile per rank, on mpi4py and numpy (numba for
the particle loop when it imports), printed in chare-bench pic's format.

    mpirun -np P python3 pic_mpi4py.py [--grid L] [--particles N] [--iters I]
        [--mode geometric|sinusoidal|linear|patch] [--rho R] [--alpha A --beta B]
        [--patch x0,x1,y0,y1] [-k K] [-m M] [--state-hash] [--format csv|table]

As the Rust mpi model (crates/chare-bench/src/pic/mpi.rs) and the PRK's
MPI1/PIC-static: each rank counts the particles of its tile's columns, the
counts are allgathered, and each rank places its particles with the serial
run's ids. Each step every rank moves its particles and sends those that
left its tile to its 8 neighbours: first the counts (Irecv one count from
each neighbour slot, Isend one to each, Waitall; tags 0..8 name the
direction of travel), then the particles (10 doubles each; Irecv/Isend of
the non-empty ones, tags 8..16, Waitall). One untimed warm-up step, a
barrier, then the timed steps; the run's time is the slowest rank's.
Verification after iters + 1 steps: rank 0 gathers every rank's check
(particles, misplaced, id sum) and judges them; a failed verification exits
with status 1.
"""
import argparse
import sys
import time

import numpy as np
from mpi4py import MPI

import peerlib
import pic_common as pc


def exchange(comm, nbrs, outgoing):
    """Sends outgoing[s] to slot s's neighbour; returns what arrived."""
    count_out = [np.array([0 if o is None else o.shape[1]], dtype=np.int64) for o in outgoing]
    count_in = [np.zeros(1, dtype=np.int64) for _ in range(8)]
    reqs = [comm.Irecv(count_in[r], source=nbrs[r], tag=pc.opposite(r)) for r in range(8)]
    reqs += [comm.Isend(count_out[s], dest=nbrs[s], tag=s) for s in range(8)]
    MPI.Request.Waitall(reqs)
    bufs = [np.empty((pc.FIELDS, int(c[0]))) for c in count_in]
    reqs = [comm.Irecv(bufs[r], source=nbrs[r], tag=8 + pc.opposite(r)) for r in range(8) if bufs[r].shape[1]]
    sends = [np.ascontiguousarray(o) if o is not None else None for o in outgoing]
    reqs += [comm.Isend(sends[s], dest=nbrs[s], tag=8 + s) for s in range(8) if sends[s] is not None]
    MPI.Request.Waitall(reqs)
    return [b for b in bufs if b.shape[1]]


def step(comm, part, tiling, rank, nbrs):
    try:
        return pc.step_tile(part, tiling, rank, nbrs)
    except ValueError as e:
        print(f'pic_mpi4py: error: rank {rank}: {e}', file=sys.stderr)
        comm.Abort(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    pc.add_arguments(ap)
    a = ap.parse_args()
    p = pc.params_of(ap, a)
    comm = MPI.COMM_WORLD
    size, rank = comm.Get_size(), comm.Get_rank()
    try:
        tiling = pc.Tiling(p.l, size)
    except ValueError as e:
        ap.error(str(e))
    err = tiling.check_motion(p)
    if err:
        ap.error(err)
    tile = tiling.tile(rank)
    nbrs = tiling.neighbours(rank)

    comm.Barrier()
    t0 = time.perf_counter()
    cells = pc.tile_cells(p, tile)
    counts = comm.allgather(cells.sum(axis=1))
    placed = int(sum(int(c.sum()) for c in counts))
    part = pc.init_particles(p, tile, pc.id_bases(tiling, counts, rank), cells)
    initial = part.shape[1]
    init_s = time.perf_counter() - t0
    comm.Barrier()
    part, out = step(comm, part, tiling, rank, nbrs)
    part = np.concatenate([part] + exchange(comm, nbrs, out), axis=1)

    comm.Barrier()
    compute_s = exchange_s = 0.0
    particle_steps = 0
    now = time.perf_counter
    start = now()
    for _ in range(p.iters):
        ta = now()
        particle_steps += part.shape[1]
        part, out = step(comm, part, tiling, rank, nbrs)
        tb = now()
        part = np.concatenate([part] + exchange(comm, nbrs, out), axis=1)
        compute_s += tb - ta
        exchange_s += now() - tb
    timed_s = now() - start

    c = pc.check(part, p.l, p.steps())
    stats = dict(start=initial, end=part.shape[1], compute_s=compute_s, exchange_s=exchange_s,
                 particle_steps=particle_steps, timed_s=timed_s, init_s=init_s)
    all_stats = comm.gather(stats, root=0)
    checks = comm.gather(c, root=0)
    parts = comm.gather(part, root=0) if a.state_hash else None
    if rank != 0:
        return
    merged = pc.merge_checks(checks)
    bad = pc.verdict(merged, placed)
    if bad:
        print(f'pic_mpi4py: verification failed after {p.steps()} steps: {bad}', file=sys.stderr)
        comm.Abort(1)
    import mpi4py
    slowest = max(s['timed_s'] for s in all_stats)
    extra = [f'init: {max(s["init_s"] for s in all_stats):.3f} s (slowest rank; counts allgathered)',
             'exchange per rank (s, timed steps): ' + ','.join(f'{s["exchange_s"]:.4f}' for s in all_stats),
             'versions: ' + peerlib.versions(['mpi4py ' + mpi4py.__version__])]
    footer = [f'state hash: {pc.state_hash(parts)}'] if a.state_hash else []
    sys.stdout.write(pc.report('pic_mpi4py.py', 'mpi4py', 'mpi', size, p, tiling, placed, slowest, all_stats, merged,
                               a.format, extra, footer))


if __name__ == '__main__':
    main()
