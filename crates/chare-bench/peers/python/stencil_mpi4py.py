#!/usr/bin/env python3
"""The mpi4py peer of `chare-bench stencil` (PAPER.md section 4): one block
per rank, the paper's MPI model on mpi4py and numpy (numba for the update
when it imports), printed in chare-bench stencil's format.

    mpirun -np P python3 stencil_mpi4py.py [--n N] [--m M] [--iters I] [--warmup W]
                                           [--runs R] [--verify] [--format csv|table]

The process grid is a Cartesian communicator (dims x by y, not periodic, no
reordering: rank r is block (r // y, r % y)); neighbours from Shift. Each
iteration, as the Rust mpi model (crates/chare-bench/src/stencil/mpi.rs):
per neighbour Irecv into its buffer (tag: the side it is unpacked on), pack
the edge, Isend (tag: the side the neighbour unpacks it on); Waitany over
the receives, unpacking each by its status's tag (communication time ends
after the last unpack); Waitall on the sends; then the update, swap and
boundary (computation time). Warm-up iterations are run, not recorded; a
barrier starts each run. Rank 0 gathers every rank's timings and checksum.
"""
import argparse
import sys
import time

import numpy as np
from mpi4py import MPI

import peerlib
import stencil_common as sc


def run_once(comm, dec, block, nbrs, inbox, outbox, iters, warmup):
    """One run: returns this rank's (iters, 3) timings."""
    block.reset()
    times = np.zeros((iters, 3))
    status = MPI.Status()
    comm.Barrier()
    now = time.perf_counter
    for it in range(warmup + iters):
        t0 = now()
        recvs, sends = [], []
        for k, (side, rank) in enumerate(nbrs):
            recvs.append(comm.Irecv([inbox[k], MPI.DOUBLE], source=rank, tag=sc.TAGS[side]))
            block.pack(side, outbox[k])
            sends.append(comm.Isend([outbox[k], MPI.DOUBLE], dest=rank, tag=sc.TAGS[sc.OPPOSITE[side]]))
        for _ in range(len(nbrs)):
            k = MPI.Request.Waitany(recvs, status)
            side = sc.TAGS.index(status.Get_tag())
            block.unpack(side, inbox[k])
        t1 = now()
        MPI.Request.Waitall(sends)
        t2 = now()
        block.step()
        t3 = now()
        if it >= warmup:
            times[it - warmup] = (t3 - t0, t1 - t0, t3 - t2)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sc.add_arguments(ap)
    a = ap.parse_args()
    sc.check_arguments(ap, a)
    comm = MPI.COMM_WORLD
    size, rank = comm.Get_size(), comm.Get_rank()
    try:
        dec = sc.Decomp(a.n, a.m, size)
    except ValueError as e:
        if rank == 0:
            print(f'stencil_mpi4py: {e}', file=sys.stderr)
        sys.exit(2)
    cart = comm.Create_cart(dims=[dec.x, dec.y], periods=[False, False], reorder=False)
    crank = cart.Get_rank()
    bx, by = cart.Get_coords(crank)
    if (bx, by) != dec.coords(crank):
        raise SystemExit(f'stencil_mpi4py: Create_cart placed rank {crank} at ({bx},{by}), expected row-major order')
    up, down = cart.Shift(0, 1)
    left, right = cart.Shift(1, 1)
    nbrs = [(s, r) for s, r in ((sc.UP, up), (sc.DOWN, down), (sc.LEFT, left), (sc.RIGHT, right))
            if r != MPI.PROC_NULL]
    expect = [dec.rank(i, j) for _, (i, j) in dec.neighbours(bx, by)]
    if [r for _, r in nbrs] != expect:
        raise SystemExit(f'stencil_mpi4py: Shift gave neighbours {nbrs} to rank {crank}, expected {expect}')
    block = sc.block_of(dec, crank)
    inbox = [np.zeros(block.halo_len(s)) for s, _ in nbrs]
    outbox = [np.zeros(block.halo_len(s)) for s, _ in nbrs]
    runs, checksum = [], None
    for _ in range(a.runs):
        times = run_once(cart, dec, block, nbrs, inbox, outbox, a.iters, a.warmup)
        all_times = cart.gather(times, root=0)
        sums = cart.gather(block.checksum() if a.verify else 0, root=0)
        if crank == 0:
            runs.append(all_times)
            if a.verify:
                c = sc.combine(sums)
                if checksum is not None and c != checksum:
                    raise SystemExit('stencil_mpi4py: the checksum differs between runs of the same computation')
                checksum = c
    if crank == 0:
        import mpi4py
        extra = [f'kernel: {peerlib.kernel_name()}',
                 'versions: ' + peerlib.versions(['mpi4py ' + mpi4py.__version__])]
        sys.stdout.write(sc.report('stencil_mpi4py.py', 'mpi4py', 'mpi', size, 1, dec, a.iters, a.warmup, runs,
                                   checksum, a.format, extra))


if __name__ == '__main__':
    main()
