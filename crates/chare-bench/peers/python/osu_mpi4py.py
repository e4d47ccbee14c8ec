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
import argparse
import os
import platform
import socket
import statistics
import sys

import numpy as np
from mpi4py import MPI

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


def cpu_model():
    try:
        for line in open('/proc/cpuinfo'):
            key, _, value = line.partition(':')
            if key.strip() == 'model name':
                return value.strip()
    except OSError:
        pass
    return 'unknown'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('benchmark', choices=['latency', 'bandwidth'])
    ap.add_argument('--min-size', type=int, default=1)
    ap.add_argument('--max-size', type=int, default=4 * MIB)
    ap.add_argument('--iters', type=int, default=None, help='latency: 1000, bandwidth: 100')
    ap.add_argument('--warmup', type=int, default=None, help='latency: 60, bandwidth: 10')
    ap.add_argument('--window', type=int, default=64)
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--format', choices=['csv', 'table'], default='table')
    a = ap.parse_args()
    is_bw = a.benchmark == 'bandwidth'
    iters = a.iters if a.iters is not None else (100 if is_bw else 1000)
    warmup = a.warmup if a.warmup is not None else (10 if is_bw else 60)
    if a.min_size < 1 or a.min_size > a.max_size or iters < 1 or a.runs < 1 or a.window < 1 or warmup < 0:
        ap.error('sizes, --iters, --runs and --window must be positive, --min-size <= --max-size')

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    if comm.Get_size() != 2:
        if rank == 0:
            print(f'osu_mpi4py: runs on exactly 2 ranks, got {comm.Get_size()} (use mpirun -np 2)', file=sys.stderr)
        sys.exit(2)

    rows, footer = [], []
    ack = np.zeros(ACK_BYTES, dtype=np.uint8)
    for size in sizes(a.min_size, a.max_size):
        if is_bw:
            n = iters * 10 if size <= BANDWIDTH_SMALL_SIZE else iters
        else:
            n = max(iters // 2, 1) if size > LATENCY_LARGE_SIZE else iters
        buf = np.ones(size, dtype=np.uint8)
        elapsed = []
        for _ in range(a.runs):
            if is_bw:
                elapsed.append(bandwidth(comm, rank, size, n, warmup, a.window, buf, ack))
            else:
                elapsed.append(latency(comm, rank, size, n, warmup, buf))
        elapsed = [max(e, sys.float_info.min) for e in elapsed]
        if is_bw:
            per_run = [size * a.window * n / e / 1e6 for e in elapsed]
            rows.append([str(size), str(n), str(a.window), f'{statistics.median(per_run):.2f}'])
            footer.append(f'runs size_bytes={size} bandwidth_mb_s=' + ','.join(f'{v:.2f}' for v in per_run))
        else:
            per_run = [e / (2.0 * n) * 1e6 for e in elapsed]
            one_way = statistics.median(per_run)
            rows.append([str(size), str(n), f'{one_way:.3f}', f'{size / one_way:.2f}'])
            footer.append(f'runs size_bytes={size} one_way_us=' + ','.join(f'{v:.3f}' for v in per_run))
    if rank != 0:
        return
    cores = os.cpu_count() or 1
    header = [
        f'chare-bench {a.benchmark} (OSU-style)',
        'command: ' + ' '.join(['osu_mpi4py.py'] + sys.argv[1:]),
        'model: mpi4py',
        'layer: mpi',
        'pes: 2',
        'via: n/a',
        f'iterations: {iters} (latency: half above 1 MiB; bandwidth: 10x up to 8 KiB), warmup {warmup}',
        f'runs: {a.runs} (median reported)',
        f'cores: {cores}',
        f'cpu: {cpu_model()}',
        f'host: {socket.gethostname() or platform.node()}',
        f'oversubscribed: {"yes" if 2 > cores else "no"}',
        'units: microseconds (us), MB/s = 10^6 bytes per second',
        f'mpi4py {__import__("mpi4py").__version__}, numpy {np.__version__}, {MPI.Get_library_version().replace(chr(0), "").splitlines()[0].strip()}',
    ]
    columns = (['size_bytes', 'iterations', 'window', 'bandwidth_mb_s'] if is_bw
               else ['size_bytes', 'iterations', 'one_way_us', 'bandwidth_mb_s'])
    sys.stdout.write(peerlib.render(header, columns, rows, footer if a.runs > 1 else [], a.format))


if __name__ == '__main__':
    main()
