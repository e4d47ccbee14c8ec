"""PIC for the Python peers: the Parallel Research Kernels' particle-in-cell
kernel (PAPER.md section 5) as crates/chare-bench/src/pic/{kernel,random}.rs
computes it, on numpy arrays (numba for the time step when it imports), and
the output in chare-bench pic's format.

The facts (from the PRK, as the Rust kernel's docs list them):
* Random stream: s <- a s + c (mod 2^64), a = 6364136223846793005,
  c = 1442695040888963407, from s = 27182818285; cell (x, y) draws the two
  numbers at stream positions 2 (x L + y) + 1 and + 2 (x-major cells), so a
  cell's draw does not depend on the decomposition. random_draw(mu): for
  mu >= 1, u = (s mod (2^64 - 1)) 2^-64, z = sqrt(-2 ln u0) cos(2 pi u1),
  count = trunc(z 0.15 mu + mu + 0.5) (0 when negative); for mu < 1 one
  particle when (s2 mod (2^32 - 1)) <= trunc(mu (2^32 - 1)). ln and cos are
  the C library's (Python's math module), pow too, as in the Rust kernel.
* mu per column: GEOMETRIC A rho^x, A = n ((1 - rho) / (1 - rho^L)) / L
  (n / L / L at rho = 1); SINUSOIDAL 2 cos^2(x pi / L) n / L^2; LINEAR
  n ((beta - alpha x / (L - 1)) / W) / L, W = beta L - alpha 0.5 (1/(L-1)) L (L-1);
  PATCH n / cells of the box inside it.
* Ids: 1..N in the serial run's order (x-major cells, then draw order) in
  every decomposition: a tile's column gets the id base counted from the
  column counts of every tile (exchanged, not redrawn).
* Particles start at cell centres with vx = 0, vy = m / DT and the charge
  (2k+1) base (negated at odd x) that moves them 2k+1 cells right per step.
* Step: the Coulomb force of the 4 corner charges (+Q at even x), then
  x <- fmod(x + vx DT + 0.5 ax DT^2 + L, L), then v += a DT; the operations
  in the Rust kernel's order (bitwise the same positions).
* Tiles: nx x ny (nx the largest divisor of the part count with
  nx <= floor(sqrt(P + 1))); the first L mod nx columns of tiles one cell
  wider (rows too); tile index iy nx + ix; 8 periodic neighbours in the
  order left, right, down, up, down-left, down-right, up-left, up-right.
* Verification after iters + 1 steps (one untimed warm-up step first):
  every particle within 1e-6 of x0 + s (2k+1), y0 + s m (mod L), and the
  ids add up to N (N + 1) / 2.

Particles are a (10, n) float64 array, one row per field: x, y, vx, vy, q,
x0, y0, k, m, id (k, m and the id as doubles, as the PRK's MPI code stores
them; exact below 2^53).
"""
import math

import numpy as np

import peerlib

X, Y, VX, VY, QQ, X0, Y0, K, M, ID = range(10)
FIELDS = 10
Q = 1.0
DT = 1.0
MASS_INV = 1.0
EPSILON = 1e-6
MASK64 = (1 << 64) - 1
LCG_A = 6364136223846793005
LCG_C = 1442695040888963407
LCG_SEED = 27182818285
TWO_PI = 2.0 * math.pi
RAND_DIV = 1.0 / float(MASK64)
DENOMINATOR = (1 << 32) - 1
DIRECTIONS = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, -1), (-1, 1), (1, 1)]
COLUMNS = ['model', 'grid', 'particles', 'timed_steps', 'time_s', 'ms_per_step', 'mparticle_steps_per_s', 'verified',
           'particles_min', 'particles_max', 'compute_max_avg', 'load_max_avg']


def opposite(slot):
    dx, dy = DIRECTIONS[slot]
    return DIRECTIONS.index((-dx, -dy))


class Params:
    def __init__(self, l, n, iters, mode='geometric', rho=0.999, alpha=None, beta=None, patch=None, k=0, m=1):
        self.l, self.n, self.iters, self.mode = l, n, iters, mode
        self.rho, self.alpha, self.beta, self.patch, self.k, self.m = rho, alpha, beta, patch, k, m

    def validate(self):
        l = self.l
        if l < 2 or l % 2:
            return f'the grid must have a positive, even number of cells per side, got {l}'
        if self.n < 1 or self.iters < 1:
            return 'at least one particle and one time step are needed'
        if not 0 <= self.k <= 1 << 30 or not -l <= self.m <= 1 << 30:
            return f'k must be in 0..=2^30 and m in -L..=2^30, got k={self.k} m={self.m}'
        if self.mode == 'geometric' and not 0.0 < self.rho <= 1.0:
            return f'rho (attenuation factor) must be in (0, 1], got {self.rho}'
        if self.mode == 'linear':
            if self.alpha is None or self.beta is None:
                return '--mode linear needs --alpha and --beta'
            if self.beta < 0 or self.beta < self.alpha or (self.alpha == 0 and self.beta == 0):
                return f'the linear profile must be positive, got alpha={self.alpha} beta={self.beta}'
        if self.mode == 'patch':
            if self.patch is None:
                return '--mode patch needs --patch x0,x1,y0,y1'
            x0, x1, y0, y1 = self.patch
            if x0 >= x1 or y0 >= y1 or x1 >= l or y1 >= l:
                return f'the patch {x0},{x1},{y0},{y1} must have left < right, bottom < top, inside the grid'
        return None

    def steps(self):
        return self.iters + 1

    def describe(self):
        if self.mode == 'geometric':
            return f'geometric rho={self.rho:g}'
        if self.mode == 'linear':
            return f'linear alpha={self.alpha:g} beta={self.beta:g}'
        if self.mode == 'patch':
            return 'patch ' + ','.join(str(v) for v in self.patch)
        return 'sinusoidal'


def add_arguments(ap):
    ap.add_argument('--grid', type=int, default=1000, help='cells per side (L, even)')
    ap.add_argument('--particles', type=int, default=100_000, help='particles requested')
    ap.add_argument('--iters', type=int, default=100, help='timed steps (one untimed warm-up step first)')
    ap.add_argument('--mode', choices=['geometric', 'sinusoidal', 'linear', 'patch'], default='geometric')
    ap.add_argument('--rho', type=float, default=0.999)
    ap.add_argument('--alpha', type=float)
    ap.add_argument('--beta', type=float)
    ap.add_argument('--patch', type=lambda s: tuple(int(v) for v in s.split(',')))
    ap.add_argument('-k', type=int, default=0)
    ap.add_argument('-m', type=int, default=1)
    ap.add_argument('--state-hash', action='store_true',
                    help='print the FNV-1a hash of the final x, y, vx bits in id order (tests)')
    ap.add_argument('--format', choices=['csv', 'table'], default='table')


def params_of(ap, a):
    p = Params(a.grid, a.particles, a.iters, a.mode, a.rho, a.alpha, a.beta, a.patch, a.k, a.m)
    err = p.validate()
    if err:
        ap.error(err)
    return p


# --- the random stream ------------------------------------------------------

def lcg_at(n):
    """The state after n draws from the start (jump by squaring the map)."""
    mul, add, pm, pa = 1, 0, LCG_A, LCG_C
    while n:
        if n & 1:
            mul = (pm * mul) & MASK64
            add = (pm * add + pa) & MASK64
        pa = (pm * pa + pa) & MASK64
        pm = (pm * pm) & MASK64
        n >>= 1
    return (mul * LCG_SEED + add) & MASK64


_powers = (np.array([LCG_A], dtype=np.uint64), np.array([LCG_C], dtype=np.uint64))


def powers(count):
    """(mul, add) of the map raised to 1..count, as uint64 arrays."""
    global _powers
    mul, add = _powers
    while len(mul) < count:
        mj, aj = mul[-1], add[-1]
        mul, add = np.concatenate([mul, mj * mul]), np.concatenate([add, mj * add + aj])
    _powers = (mul, add)
    return mul[:count], add[:count]


class Density:
    def __init__(self, p):
        n, l = float(p.n), float(p.l)
        self.p = p
        if p.mode == 'geometric':
            rho = p.rho
            self.a = n / l / l if rho == 1.0 else n * ((1.0 - rho) / (1.0 - math.pow(rho, l))) / l
        elif p.mode == 'sinusoidal':
            self.step, self.nn, self.cells = math.pi / l, n, float(p.l * p.l)
        elif p.mode == 'linear':
            self.step = 1.0 / float(p.l - 1)
            self.total = p.beta * l - p.alpha * 0.5 * self.step * l * float(p.l - 1)
        else:
            x0, x1, y0, y1 = p.patch
            self.per_cell = n / float((x1 - x0 + 1) * (y1 - y0 + 1))

    def mu(self, x):
        p = self.p
        if p.mode == 'geometric':
            return self.a * math.pow(p.rho, float(x))
        if p.mode == 'sinusoidal':
            c = math.cos(float(x) * self.step)
            return 2.0 * c * c * self.nn / self.cells
        if p.mode == 'linear':
            weight = p.beta - p.alpha * self.step * float(x)
            return float(p.n) * (weight / self.total) / float(p.l)
        return self.per_cell

    def rows(self, x, y0, y1):
        """The rows of y0..y1 in column x that can hold particles."""
        if self.p.mode != 'patch':
            return y0, y1
        px0, px1, py0, py1 = self.p.patch
        if x < px0 or x > px1:
            return y0, y0
        lo = max(y0, py0)
        return lo, max(min(y1, py1 + 1), lo)


def _draw_counts(mu, states):
    """Particles per cell from the two draws of each cell (states: (cells, 2)
    uint64, the states after the first and second draw)."""
    if mu >= 1.0:
        sigma = mu * 0.15
        u = (states % np.uint64(MASK64)).astype(np.float64) * RAND_DIV
        out = np.empty(len(states), dtype=np.int64)
        for i, (u0, u1) in enumerate(u.tolist()):
            z0 = math.sqrt(-2.0 * math.log(u0)) * math.cos(TWO_PI * u1) if u0 > 0.0 else math.inf
            v = z0 * sigma + mu + 0.5
            out[i] = int(v) if 0.0 < v < 9.2e18 else 0
        return out
    numerator = int(mu * float(DENOMINATOR))
    return (states[:, 1] % np.uint64(DENOMINATOR) <= np.uint64(numerator)).astype(np.int64)


def column_cells(p, d, x, y0, y1):
    """Counts of the cells y0..y1 of column x (zeros outside a patch)."""
    out = np.zeros(y1 - y0, dtype=np.int64)
    lo, hi = d.rows(x, y0, y1)
    if lo >= hi:
        return out
    mul, add = powers(2 * (hi - lo))
    base = np.uint64(lcg_at(2 * (x * p.l + lo)))
    states = (mul * base + add).reshape(hi - lo, 2)
    out[lo - y0:hi - y0] = _draw_counts(d.mu(x), states)
    return out


def tile_cells(p, tile):
    """Counts of every cell of a tile, (width, height), x-major."""
    x0, x1, y0, y1 = tile
    d = Density(p)
    return np.stack([column_cells(p, d, x, y0, y1) for x in range(x0, x1)]) if x1 > x0 else np.zeros((0, y1 - y0))


# --- tiles ------------------------------------------------------------------

def split(l, parts, i):
    w, extra = l // parts, l % parts
    if i < extra:
        s = (w + 1) * i
        return s, s + w + 1
    s = (w + 1) * extra + w * (i - extra)
    return s, s + w


class Tiling:
    def __init__(self, l, parts):
        nx = max(d for d in range(1, math.isqrt(parts + 1) + 1) if parts % d == 0)
        self.l, self.nx, self.ny = l, nx, parts // nx
        if self.nx > l or self.ny > l:
            raise ValueError(f'a {l} x {l} grid cannot be cut into {self.nx} x {self.ny} tiles')

    def parts(self):
        return self.nx * self.ny

    def coords(self, index):
        return index % self.nx, index // self.nx

    def index(self, ix, iy):
        return iy * self.nx + ix

    def tile(self, index):
        ix, iy = self.coords(index)
        return split(self.l, self.nx, ix) + split(self.l, self.ny, iy)

    def neighbours(self, index):
        ix, iy = self.coords(index)
        return [self.index((ix + dx) % self.nx, (iy + dy) % self.ny) for dx, dy in DIRECTIONS]

    def owners(self, x, y):
        """The tile of each position (arrays)."""
        return self.index(_part_of(self.l, self.nx, x.astype(np.int64)), _part_of(self.l, self.ny, y.astype(np.int64)))

    def check_motion(self, p):
        w, h = self.l // self.nx, self.l // self.ny
        if self.nx > 1 and w < 2 * p.k + 1:
            return f'k = {p.k} moves particles {2 * p.k + 1} cells per step, more than the narrowest tile ({w} cells)'
        if self.ny > 1 and h < abs(p.m):
            return f'm = {p.m} moves particles {abs(p.m)} cells per step, more than the lowest tile ({h} cells)'
        return None


def _part_of(l, parts, c):
    w, extra = l // parts, l % parts
    crit = (w + 1) * extra
    return np.where(c < crit, c // (w + 1), extra + (c - crit) // max(w, 1))


def column_counts(p, tile):
    return tile_cells(p, tile).sum(axis=1)


def id_bases(tiling, counts, index):
    """The id base of each column of tile `index` from every tile's column
    counts (by tile index): the particles of the cells before the tile's
    first cell of that column, x-major."""
    column_total = np.zeros(tiling.l, dtype=np.int64)
    for t, c in enumerate(counts):
        x0, x1, _, _ = tiling.tile(t)
        column_total[x0:x1] += c
    x0, x1, _, _ = tiling.tile(index)
    ix, iy = tiling.coords(index)
    before = int(column_total[:x0].sum())
    below = np.zeros(x1 - x0, dtype=np.int64)
    for jy in range(iy):
        below += counts[tiling.index(ix, jy)]
    acc = before + np.concatenate([[0], np.cumsum(column_total[x0:x1])[:-1]]).astype(np.int64)
    return acc + below


def base_charge():
    rel_x = math.fmod(0.5, 1.0)
    rel_y = rel_x
    r1_sq = rel_y * rel_y + rel_x * rel_x
    r2_sq = rel_y * rel_y + (1.0 - rel_x) * (1.0 - rel_x)
    cos_theta = rel_x / math.sqrt(r1_sq)
    cos_phi = (1.0 - rel_x) / math.sqrt(r2_sq)
    return 1.0 / ((DT * DT) * Q * (cos_theta / r1_sq + cos_phi / r2_sq))


def init_particles(p, tile, bases, cells=None):
    """The particles of a tile's cells with the serial run's ids (`bases`:
    one id base per column, from id_bases)."""
    x0, x1, y0, y1 = tile
    if cells is None:
        cells = tile_cells(p, tile)
    w, h = cells.shape
    flat = cells.reshape(-1)
    total = int(flat.sum())
    part = np.zeros((FIELDS, total))
    if total == 0:
        return part
    starts = np.cumsum(cells, axis=1) - cells + np.asarray(bases, dtype=np.int64)[:, None]
    cell_of = np.repeat(np.arange(w * h), flat)
    first_of_cell = np.cumsum(flat) - flat
    rank_in_cell = np.arange(total) - first_of_cell[cell_of]
    cx = x0 + cell_of // h
    cy = y0 + cell_of % h
    semi = float(2 * p.k + 1)
    base = base_charge()
    part[X] = cx + 0.5
    part[Y] = cy + 0.5
    part[VY] = float(p.m) / DT
    part[QQ] = np.where(cx % 2 == 0, semi * base, -semi * base)
    part[X0] = part[X]
    part[Y0] = part[Y]
    part[K] = p.k
    part[M] = p.m
    part[ID] = starts.reshape(-1)[cell_of] + rank_in_cell + 1
    return part


# --- the time step ----------------------------------------------------------

def _move_loops(part, lf):
    n = part.shape[1]
    for i in range(n):
        x = part[0, i]
        y = part[1, i]
        q = part[4, i]
        cx = np.int64(x)
        cy = np.int64(y)
        rx = x - np.float64(cx)
        ry = y - np.float64(cy)
        left = 1.0 if cx % 2 == 0 else -1.0
        right = -left
        # lower-left
        dx, dy = rx, ry
        r2 = dx * dx + dy * dy
        r = np.sqrt(r2)
        f = q * left / r2
        sx = f * dx / r
        sy = f * dy / r
        # upper-left
        dx, dy = rx, 1.0 - ry
        r2 = dx * dx + dy * dy
        r = np.sqrt(r2)
        f = q * left / r2
        sx += f * dx / r
        sy -= f * dy / r
        # lower-right
        dx, dy = 1.0 - rx, ry
        r2 = dx * dx + dy * dy
        r = np.sqrt(r2)
        f = q * right / r2
        sx -= f * dx / r
        sy += f * dy / r
        # upper-right
        dx, dy = 1.0 - rx, 1.0 - ry
        r2 = dx * dx + dy * dy
        r = np.sqrt(r2)
        f = q * right / r2
        sx -= f * dx / r
        sy -= f * dy / r
        ax = sx * 1.0
        ay = sy * 1.0
        part[0, i] = np.fmod(x + part[2, i] * 1.0 + 0.5 * ax * 1.0 * 1.0 + lf, lf)
        part[1, i] = np.fmod(y + part[3, i] * 1.0 + 0.5 * ay * 1.0 * 1.0 + lf, lf)
        part[2, i] += ax * 1.0
        part[3, i] += ay * 1.0


_move_jit = peerlib.jit(_move_loops)


def _coulomb(dx, dy, q1q2):
    r2 = dx * dx + dy * dy
    r = np.sqrt(r2)
    f = q1q2 / r2
    return f * dx / r, f * dy / r


def move(part, l):
    """One step of every particle, in place (the Rust kernel's operations;
    multiplications by DT and 1/mass, both 1.0, are exact and left out of
    the numpy version)."""
    if part.shape[1] == 0:
        return
    lf = float(l)
    if _move_jit is not None:
        _move_jit(part, lf)
        return
    x, y, q = part[X], part[Y], part[QQ]
    cx, cy = x.astype(np.int64), y.astype(np.int64)
    rx, ry = x - cx, y - cy
    ql = np.where(cx % 2 == 0, q * Q, q * -Q)
    qr = np.where(cx % 2 == 0, q * -Q, q * Q)
    fx, fy = _coulomb(rx, ry, ql)
    sx, sy = fx, fy
    fx, fy = _coulomb(rx, 1.0 - ry, ql)
    sx = sx + fx
    sy = sy - fy
    fx, fy = _coulomb(1.0 - rx, ry, qr)
    sx = sx - fx
    sy = sy + fy
    fx, fy = _coulomb(1.0 - rx, 1.0 - ry, qr)
    sx = sx - fx
    sy = sy - fy
    part[X] = np.fmod(x + part[VX] + 0.5 * sx + lf, lf)
    part[Y] = np.fmod(y + part[VY] + 0.5 * sy + lf, lf)
    part[VX] += sx
    part[VY] += sy


def step_tile(part, tiling, index, nbrs):
    """Moves a tile's particles; returns (kept, outgoing) with outgoing[s]
    the particles for neighbour slot s (the first slot naming their tile),
    all C-contiguous (a boolean index along axis 1 may give another layout,
    which a raw-buffer send would scramble).
    Raises ValueError for a particle that went past the neighbours."""
    move(part, tiling.l)
    owner = tiling.owners(part[X], part[Y])
    stay = owner == index
    outgoing = [None] * 8
    if stay.all():
        return part, outgoing
    leaving = ~stay
    for t in np.unique(owner[leaving]).tolist():
        if t not in nbrs:
            bad = part[ID, leaving & (owner == t)][0]
            raise ValueError(f'particle {int(bad)} moved from tile {index} to tile {t}, which is not a neighbour')
        outgoing[nbrs.index(t)] = np.ascontiguousarray(part[:, owner == t])
    return np.ascontiguousarray(part[:, stay]), outgoing


# --- verification and output ------------------------------------------------

def check(part, l, steps):
    """(particles, misplaced, first misplaced id, id sum) of a set."""
    if part.shape[1] == 0:
        return 0, 0, 0, 0
    lf, t = float(l), float(steps)
    semi = 2.0 * part[K] + 1.0
    disp = t * semi
    x0, y0 = part[X0], part[Y0]
    cell_charge = np.where(x0.astype(np.int64) % 2 == 0, Q, -Q)
    x_final = np.where(part[QQ] * cell_charge > 0.0, x0 + disp, x0 - disp)
    y_final = y0 + part[M] * t
    x_periodic = np.fmod(x_final + t * semi * lf, lf)
    y_periodic = np.fmod(y_final + t * np.abs(part[M]) * lf, lf)
    ok = (np.abs(part[X] - x_periodic) <= EPSILON) & (np.abs(part[Y] - y_periodic) <= EPSILON)
    ids = part[ID].astype(np.int64)
    bad = ids[~ok]
    return part.shape[1], len(bad), int(bad.min()) if len(bad) else 0, int(ids.sum())


def merge_checks(checks):
    n = sum(c[0] for c in checks)
    bad = sum(c[1] for c in checks)
    firsts = [c[2] for c in checks if c[2]]
    return n, bad, min(firsts) if firsts else 0, sum(c[3] for c in checks)


def verdict(c, placed):
    n, bad, first, id_sum = c
    if n != placed:
        return f'{n} particles at the end, {placed} placed'
    if bad:
        return f'{bad} of {n} particles are not at their analytic position (first: id {first})'
    want = placed * (placed + 1) // 2
    if id_sum != want:
        return f'the particle id checksum is {id_sum}, {want} expected'
    return None


def state_hash(parts):
    """FNV-1a-style hash of the bits of x, y and vx of every particle in id
    order (the Rust kernel's test hash, computed on the PRK's own runs)."""
    part = np.concatenate(parts, axis=1) if parts else np.zeros((FIELDS, 0))
    part = part[:, np.argsort(part[ID], kind='stable')]
    words = np.stack([part[X], part[Y], part[VX]]).T.reshape(-1).view(np.uint64).tolist()
    h = 1469598103934665603
    for w in words:
        h = ((h ^ w) * 1099511628211) & MASK64
    return h


def report(prog, model, layer, pes, p, tiling, placed, timed_s, ranks, c, fmt, extra_header=(), extra_footer=()):
    """chare-bench pic's output (the Rust mpi model's columns). `ranks`:
    per PE (or tile group) a dict with start, end, compute_s, exchange_s,
    particle_steps."""
    per_step = timed_s / p.iters
    rate = placed * p.iters / timed_s if timed_s > 0 else 0.0
    comp = [r['compute_s'] for r in ranks]
    load = [r['particle_steps'] for r in ranks]
    ends = [r['end'] for r in ranks]
    starts = [r['start'] for r in ranks]

    def max_avg(v):
        avg = sum(v) / len(v)
        return max(v) / avg if avg > 0 else 1.0

    header = [
        'chare-bench pic (PRK particle-in-cell; PAPER.md section 5)',
        f'command: {peerlib.command(prog)}',
        f'model: {model}',
        f'pes: {pes}',
        f'grid: {p.l} x {p.l} cells',
        f'particles requested: {p.n}',
        f'mode: {p.describe()}',
        f'k: {p.k} ({2 * p.k + 1} cells per step in x); m: {p.m}',
        f'steps: {p.iters} timed, 1 warmup (not timed); verified after {p.steps()}',
    ] + peerlib.machine_lines(pes) + [
        f'layer: {layer}',
        f'tiles: {tiling.nx} x {tiling.ny} (x by y; index iy*{tiling.nx}+ix)',
        f'particles placed: {placed}',
        f'particles per PE at start: min {min(starts)} avg {sum(starts) / len(starts):.1f} max {max(starts)}',
        f'particles per PE at end: min {min(ends)} avg {sum(ends) / len(ends):.1f} max {max(ends)}',
        f'compute per PE (s, timed steps): min {min(comp):.4f} avg {sum(comp) / len(comp):.4f} max {max(comp):.4f}; '
        f'max/avg {max_avg(comp):.3f}',
        f'rank particles start: {",".join(str(v) for v in starts)}',
        f'rank particles end: {",".join(str(v) for v in ends)}',
        f'id checksum: {c[3]} (expected {placed * (placed + 1) // 2} for ids 1..={placed})',
        f'verification: passed ({c[0]} particles after {p.steps()} steps)',
        f'kernel: {peerlib.kernel_name()}',
    ] + list(extra_header)
    if fmt == 'csv':
        t, ms, mr = f'{timed_s:.9f}', f'{per_step * 1e3:.6f}', f'{rate / 1e6:.3f}'
    else:
        t, ms, mr = f'{timed_s:.4f}', f'{per_step * 1e3:.4f}', f'{rate / 1e6:.2f}'
    row = [model, str(p.l), str(placed), str(p.iters), t, ms, mr, 'yes', str(min(ends)), str(max(ends)),
           f'{max_avg(comp):.3f}', f'{max_avg(load):.3f}']
    footer = list(extra_footer) + [
        f'summary: model={model} pes={pes} grid={p.l} particles={placed} iters={p.iters} mode={p.mode} k={p.k} '
        f'm={p.m} ms_per_step={per_step * 1e3:.6f} mparticle_steps_per_s={rate / 1e6:.3f} '
        f'compute_max_avg={max_avg(comp):.3f} load_max_avg={max_avg(load):.3f} particles_min={min(ends)} '
        f'particles_max={max(ends)} verified=yes']
    return peerlib.render(header, COLUMNS, [row], footer, fmt)
