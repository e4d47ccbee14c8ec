"""What the two OSU peers (osu_mpi4py.py, osu_charm4py.py) share: the
command line, the sizes and iteration counts per size, and the rows of the
output (chare-bench's `latency` / `bandwidth` columns and footers).
"""
import argparse
import statistics

import peerlib

MIB = 1 << 20
LATENCY_LARGE_SIZE = MIB
BANDWIDTH_SMALL_SIZE = 8 * 1024
ACK_BYTES = 4


def touch(buf):
    return int(buf[0]) + int(buf[-1])


def parse(prog, description, args):
    """The options: (namespace, is_bw, iters, warmup); bad ones exit 2."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument('benchmark', choices=['latency', 'bandwidth'])
    ap.add_argument('--min-size', type=int, default=1)
    ap.add_argument('--max-size', type=int, default=4 * MIB)
    ap.add_argument('--iters', type=int, default=None, help='latency: 1000, bandwidth: 100')
    ap.add_argument('--warmup', type=int, default=None, help='latency: 60, bandwidth: 10')
    ap.add_argument('--window', type=int, default=64)
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--format', choices=['csv', 'table'], default='table')
    a = ap.parse_args(args)
    is_bw = a.benchmark == 'bandwidth'
    iters = a.iters if a.iters is not None else (100 if is_bw else 1000)
    warmup = a.warmup if a.warmup is not None else (10 if is_bw else 60)
    if a.min_size < 1 or a.min_size > a.max_size or iters < 1 or a.runs < 1 or a.window < 1 or warmup < 0:
        ap.error('sizes, --iters, --runs and --window must be positive, --min-size <= --max-size')
    return a, is_bw, iters, warmup


def plan(a, is_bw, iters):
    """(size, iterations) per size: sizes double from --min-size; bandwidth
    runs 10x the iterations up to 8 KiB, latency half above 1 MiB."""
    out, size = [], a.min_size
    while size <= a.max_size:
        if is_bw:
            n = iters * 10 if size <= BANDWIDTH_SMALL_SIZE else iters
        else:
            n = max(iters // 2, 1) if size > LATENCY_LARGE_SIZE else iters
        out.append((size, n))
        size *= 2
    return out


def output(a, is_bw, iters, warmup, results, head, tail):
    """The whole output: `head` (the lines before the machine lines),
    `results` ((size, n), elapsed seconds per run), `tail` (version lines)."""
    rows, footer = [], []
    for (size, n), elapsed in results:
        if is_bw:
            per_run = [size * a.window * n / e / 1e6 for e in elapsed]
            rows.append([str(size), str(n), str(a.window), f'{statistics.median(per_run):.2f}'])
            footer.append(f'runs size_bytes={size} bandwidth_mb_s=' + ','.join(f'{v:.2f}' for v in per_run))
        else:
            per_run = [e / (2.0 * n) * 1e6 for e in elapsed]
            one_way = statistics.median(per_run)
            rows.append([str(size), str(n), f'{one_way:.3f}', f'{size / one_way:.2f}'])
            footer.append(f'runs size_bytes={size} one_way_us=' + ','.join(f'{v:.3f}' for v in per_run))
    header = [f'chare-bench {a.benchmark} (OSU-style)'] + head + [
        f'iterations: {iters} (latency: half above 1 MiB; bandwidth: 10x up to 8 KiB), warmup {warmup}',
        f'runs: {a.runs} (median reported)',
    ] + peerlib.machine_lines(2) + ['units: microseconds (us), MB/s = 10^6 bytes per second'] + tail
    columns = (['size_bytes', 'iterations', 'window', 'bandwidth_mb_s'] if is_bw
               else ['size_bytes', 'iterations', 'one_way_us', 'bandwidth_mb_s'])
    return peerlib.render(header, columns, rows, footer if a.runs > 1 else [], a.format)
