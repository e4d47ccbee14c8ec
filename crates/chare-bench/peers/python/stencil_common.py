"""Stencil2D for the Python peers (PAPER.md section 4): the decomposition,
one block with its ghost layer, the halo packing, the time step, the
checksum, and the output in chare-bench stencil's format, so that
`chare-bench paper` and its report read a peer's file like the Rust
models' (same columns, `# run N:` and `# summary:` lines, `# checksum:`).

Conventions (those of crates/chare-bench/src/stencil/grid.rs, docs/stencil.md):
the global grid has n rows and m columns; P parts form an x by y process
grid, x the largest divisor of P with x <= floor(sqrt(P + 1)); part
(bx, by) is process bx * y + by and owns rows bx*h .. (bx+1)*h and columns
by*w .. (by+1)*w; neighbours up (bx-1), down (bx+1), left (by-1), right
(by+1), no wrap-around. Both buffers start at 1.0; the update is
new = ((((up + down) + left) + right) + centre) * 0.2 (this order, no
fused multiply-add: every model computes bitwise the same grid); then swap,
then the top ghost row and the left ghost column (corners excluded) are set
to 255. The checksum is the wrapping sum over interior points of
mix(mix(mix(i) ^ j) ^ bits(value)), splitmix64's finaliser for mix: the
same number as the Rust models for the same grid, whatever the
decomposition.
"""
import math

import numpy as np

import peerlib

WEIGHT = 0.2
HOT = 255.0
UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3
SIDE_NAMES = ['up', 'down', 'left', 'right']
OPPOSITE = [DOWN, UP, RIGHT, LEFT]
# MPI tag of a halo unpacked on each side (the Rust mpi model's).
TAGS = [101, 102, 103, 104]
COLUMNS = ['process', 'num_processes', 'iteration', 'iteration_s', 'communication_s', 'computation_s']


def factor(p):
    x = max(d for d in range(1, math.isqrt(p + 1) + 1) if p % d == 0)
    return x, p // x


class Decomp:
    def __init__(self, n, m, parts):
        if n < 1 or m < 1 or parts < 1:
            raise ValueError(f'grid {n} x {m} over {parts} parts: all must be positive')
        self.n, self.m = n, m
        self.x, self.y = factor(parts)
        if n % self.x or m % self.y:
            raise ValueError(f'grid {n} x {m} does not divide evenly over the {self.x} x {self.y} process grid '
                             f'of {parts} processes (n must be a multiple of {self.x}, m a multiple of {self.y})')
        self.h, self.w = n // self.x, m // self.y

    def parts(self):
        return self.x * self.y

    def coords(self, rank):
        return rank // self.y, rank % self.y

    def rank(self, bx, by):
        return bx * self.y + by

    def neighbours(self, bx, by):
        """(side, (bx, by)) of the neighbours that exist: up, down, left, right."""
        out = []
        if bx > 0:
            out.append((UP, (bx - 1, by)))
        if bx + 1 < self.x:
            out.append((DOWN, (bx + 1, by)))
        if by > 0:
            out.append((LEFT, (bx, by - 1)))
        if by + 1 < self.y:
            out.append((RIGHT, (bx, by + 1)))
        return out


def _update_loops(nxt, cur, h, w):
    for i in range(1, h + 1):
        for j in range(1, w + 1):
            nxt[i, j] = ((((cur[i - 1, j] + cur[i + 1, j]) + cur[i, j - 1]) + cur[i, j + 1]) + cur[i, j]) * 0.2


_update_jit = peerlib.jit(_update_loops)


class Block:
    """h x w interior points and one ghost layer, two buffers."""

    def __init__(self, h, w, row0, col0):
        self.h, self.w, self.row0, self.col0 = h, w, row0, col0
        self.cur = np.ones((h + 2, w + 2))
        self.nxt = np.ones((h + 2, w + 2))
        self.tmp = None if _update_jit is not None else np.empty((h, w))

    def reset(self):
        self.cur.fill(1.0)
        self.nxt.fill(1.0)

    def halo_len(self, side):
        return self.w if side in (UP, DOWN) else self.h

    def pack(self, side, out=None):
        """The interior edge on `side` (what that neighbour needs), into
        `out` or a new array."""
        h, w, c = self.h, self.w, self.cur
        src = (c[1, 1:w + 1] if side == UP else c[h, 1:w + 1] if side == DOWN
               else c[1:h + 1, 1] if side == LEFT else c[1:h + 1, w])
        if out is None:
            return src.copy()
        np.copyto(out, src)
        return out

    def unpack(self, side, halo):
        h, w, c = self.h, self.w, self.cur
        if len(halo) != self.halo_len(side):
            raise ValueError(f'received a {SIDE_NAMES[side]} halo of {len(halo)} values, expected {self.halo_len(side)}')
        if side == UP:
            c[0, 1:w + 1] = halo
        elif side == DOWN:
            c[h + 1, 1:w + 1] = halo
        elif side == LEFT:
            c[1:h + 1, 0] = halo
        else:
            c[1:h + 1, w + 1] = halo

    def step(self):
        """Update into the other buffer, swap, boundary condition."""
        h, w, cur, nxt = self.h, self.w, self.cur, self.nxt
        if _update_jit is not None:
            _update_jit(nxt, cur, h, w)
        else:
            t = self.tmp
            np.add(cur[0:h, 1:w + 1], cur[2:h + 2, 1:w + 1], out=t)
            t += cur[1:h + 1, 0:w]
            t += cur[1:h + 1, 2:w + 2]
            t += cur[1:h + 1, 1:w + 1]
            np.multiply(t, WEIGHT, out=nxt[1:h + 1, 1:w + 1])
        self.cur, self.nxt = nxt, cur
        self.cur[0, 1:w + 1] = HOT
        self.cur[1:h + 1, 0] = HOT

    def checksum(self):
        """This block's part of the checksum (an int modulo 2^64)."""
        bits = np.ascontiguousarray(self.cur[1:self.h + 1, 1:self.w + 1]).view(np.uint64)
        gi = np.arange(self.row0, self.row0 + self.h, dtype=np.uint64)
        gj = np.arange(self.col0, self.col0 + self.w, dtype=np.uint64)
        hashes = mix(mix(mix(gi)[:, None] ^ gj[None, :]) ^ bits)
        return int(hashes.sum(dtype=np.uint64))


def mix(z):
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
    return z ^ (z >> np.uint64(31))


def combine(parts):
    return sum(parts) % (1 << 64)


def block_of(dec, rank):
    bx, by = dec.coords(rank)
    return Block(dec.h, dec.w, bx * dec.h, by * dec.w)


def summarize(procs):
    """The slowest process (largest mean iteration time) and its means;
    `procs` holds one (iters, 3) array of seconds per process."""
    best, means = 0, None
    for i, t in enumerate(procs):
        mu = t.mean(axis=0) if len(t) else np.zeros(3)
        if means is None or mu[0] > means[0]:
            best, means = i, mu
    return best, means


def report(prog, model, layer, pes, odf, dec, iters, warmup, runs, checksum, fmt, extra_header=()):
    """The text chare-bench stencil prints, from the per-run, per-process
    timings (`runs`: a list of lists of (iters, 3) arrays, seconds)."""
    summaries = [summarize(r) for r in runs]
    order = sorted(range(len(runs)), key=lambda k: summaries[k][1][0])
    med = order[(len(order) - 1) // 2]
    parts = dec.parts()
    processes = f'{parts} chares ({odf} per PE)' if model == 'charm4py' else f'{parts} (one per PE)'
    header = [
        'chare-bench stencil (Stencil2D, 5-point Jacobi; PAPER.md section 4)',
        f'command: {peerlib.command(prog)}',
        f'model: {model}',
        f'layer: {layer}',
        f'pes: {pes}',
        f'odf: {odf}',
        f'processes: {processes}',
        f'process grid: {dec.x} x {dec.y} (block-rows x block-columns)',
        f'grid: {dec.n} x {dec.m} (rows x columns); block {dec.h} x {dec.w} plus one ghost layer',
        f'iterations: {iters} timed, {warmup} warmup (not recorded)',
        f'runs: {len(runs)} (rows of the median run, run {med + 1})',
    ]
    header += machine_and_units(pes, fmt)
    header += list(extra_header)
    procs = runs[med]
    rows = []
    if fmt == 'csv':
        for pi, t in enumerate(procs):
            for it, (a, b, c) in enumerate(t):
                rows.append([str(pi), str(len(procs)), str(it), f'{a:.9f}', f'{b:.9f}', f'{c:.9f}'])
        columns = COLUMNS
    else:
        for pi, t in enumerate(procs):
            mu = t.mean(axis=0)
            rows.append([str(pi)] + [f'{v * 1e3:.3f}' for v in mu])
        columns = ['process', 'iteration_ms', 'communication_ms', 'computation_ms']
    footer = []
    for k, (slow, mu) in enumerate(summaries):
        footer.append(f'run {k + 1}: slowest_process={slow} iteration_ms={mu[0] * 1e3:.4f} '
                      f'communication_ms={mu[1] * 1e3:.4f} computation_ms={mu[2] * 1e3:.4f}')
    slow, mu = summaries[med]
    points = dec.n * dec.m
    footer.append(
        f'summary: model={model} layer={layer} pes={pes} odf={odf} processes={parts} n={dec.n} m={dec.m} '
        f'iters={iters} warmup={warmup} runs={len(runs)} kernel={peerlib.kernel_name().split()[0]} '
        f'slowest_process={slow} iteration_ms={mu[0] * 1e3:.4f} communication_ms={mu[1] * 1e3:.4f} '
        f'computation_ms={mu[2] * 1e3:.4f} mpoints_per_s={points / mu[0] / 1e6:.2f} '
        f'compute_mpoints_per_s={points / mu[2] / 1e6:.2f}')
    if checksum is not None:
        footer.append(f'checksum: {checksum:#018x}')
    return peerlib.render(header, columns, rows, footer, fmt)


def machine_and_units(pes, fmt):
    units = ('units: seconds; iteration numbered from 0 after the warmup' if fmt == 'csv'
             else 'units: milliseconds, means over the timed iterations')
    return peerlib.machine_lines(pes) + [units]


def add_arguments(ap):
    ap.add_argument('--n', type=int, default=4096, help='rows of the global grid')
    ap.add_argument('--m', type=int, default=4096, help='columns of the global grid')
    ap.add_argument('--iters', type=int, default=100, help='timed iterations')
    ap.add_argument('--warmup', type=int, default=10, help='iterations before timing (not recorded)')
    ap.add_argument('--runs', type=int, default=1, help='repetitions in one launch (median reported)')
    ap.add_argument('--verify', action='store_true', help='print the checksum of the final grid')
    ap.add_argument('--format', choices=['csv', 'table'], default='table')


def check_arguments(ap, a):
    if a.iters < 1 or a.runs < 1 or a.warmup < 0:
        ap.error('--iters and --runs must be at least 1, --warmup at least 0')
