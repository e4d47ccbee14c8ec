#!/usr/bin/env python3
"""The mpi4py peer of chare-bench: OSU-style ping-pong latency and windowed
bandwidth on numpy buffers, timed and printed exactly as chare-bench's models.

    mpirun -np 2 python3 osu_mpi4py.py latency   [--min-size N] [--max-size N] [--iters N]
                                                 [--warmup N] [--runs N] [--format csv|table]
    mpirun -np 2 python3 osu_mpi4py.py bandwidth [--window N] [same options]

Latency: blocking Send/Recv ping-pong of one numpy uint8 buffer (the
receiver reads its first and last byte, then sends the same buffer back);
a barrier after the warm-up; one-way = elapsed / (2 x iterations). Sizes
above 1 MiB run half the iterations (OSU: 1000 vs 500).
Bandwidth: rank 0 posts WINDOW Isends of one buffer and waits for all, then
receives a 4-byte ack; rank 1 posts WINDOW Irecvs into one buffer, waits,
touches it and sends the ack; bandwidth = size x window x iterations /
elapsed. Sizes up to 8 KiB run 10x the iterations (1000 vs 100).
Each size runs RUNS times; the median is reported and every run listed in
trailing `#` lines. MB/s = 10^6 bytes per second. Only rank 0 prints.

numpy backs arrays of 4 MiB and more with transparent huge pages
(madvise), which is what a plain mpi4py program gets.
"""
import sys

import numpy as np
from mpi4py import MPI

import osu_common
from osu_common import ACK_BYTES, touch

def latency(comm, rank, size, iters, warmup, buf):
    peer = 1 - rank
    t0 = 0.0
    for i in range(warmup + iters):
        if i == warmup:
            comm.Barrier()
            t0 = MPI.Wtime()
        if rank == 0:
            comm.Send([buf, MPI.BYTE], dest=peer, tag=1)
            comm.Recv([buf, MPI.BYTE], source=peer, tag=1)
            touch(buf)
        else:
            comm.Recv([buf, MPI.BYTE], source=peer, tag=1)
            touch(buf)
            comm.Send([buf, MPI.BYTE], dest=peer, tag=1)
    return MPI.Wtime() - t0


def bandwidth(comm, rank, size, iters, warmup, window, buf, ack):
    peer = 1 - rank
    t0 = 0.0
    for i in range(warmup + iters):
        if i == warmup:
            comm.Barrier()
            t0 = MPI.Wtime()
        if rank == 0:
            reqs = [comm.Isend([buf, MPI.BYTE], dest=peer, tag=100) for _ in range(window)]
            MPI.Request.Waitall(reqs)
            comm.Recv([ack, MPI.BYTE], source=peer, tag=101)
        else:
            reqs = [comm.Irecv([buf, MPI.BYTE], source=peer, tag=100) for _ in range(window)]
            MPI.Request.Waitall(reqs)
            touch(buf)
            comm.Send([ack, MPI.BYTE], dest=peer, tag=101)
    return MPI.Wtime() - t0


def main():
    a, is_bw, iters, warmup = osu_common.parse(None, __doc__.split('\n\n')[0], sys.argv[1:])

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    if comm.Get_size() != 2:
        if rank == 0:
            print(f'osu_mpi4py: runs on exactly 2 ranks, got {comm.Get_size()} (use mpirun -np 2)', file=sys.stderr)
        sys.exit(2)

    results = []
    ack = np.zeros(ACK_BYTES, dtype=np.uint8)
    for size, n in osu_common.plan(a, is_bw, iters):
        buf = np.ones(size, dtype=np.uint8)
        elapsed = []
        for _ in range(a.runs):
            if is_bw:
                elapsed.append(bandwidth(comm, rank, size, n, warmup, a.window, buf, ack))
            else:
                elapsed.append(latency(comm, rank, size, n, warmup, buf))
        results.append(((size, n), [max(e, sys.float_info.min) for e in elapsed]))
    if rank != 0:
        return
    head = [
        'command: ' + ' '.join(['osu_mpi4py.py'] + sys.argv[1:]),
        'model: mpi4py',
        'layer: mpi',
        'pes: 2',
        'via: n/a',
    ]
    library = MPI.Get_library_version().replace(chr(0), "").splitlines()[0].strip()
    tail = [f'mpi4py {__import__("mpi4py").__version__}, numpy {np.__version__}, {library}']
    sys.stdout.write(osu_common.output(a, is_bw, iters, warmup, results, head, tail))


if __name__ == '__main__':
    main()
