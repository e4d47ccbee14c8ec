#!/usr/bin/env bash
# The MPI comparison of issue 3, from one invocation: the C MPI floor
# (`c-mpi`), the MPI model on rsmpi (`mpi`), and the chare runtime on its MPI
# layer (`chare` under mpirun), 2 ranks on one node, medians of 5 runs.
# Installs MPI when missing. CSVs in results/mpi/, a summary on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-mpi.sh
cargo build --release --locked -p chare-bench --features mpi
bin=target/release/chare-bench
out=results/mpi
mkdir -p "$out"
runs=${RUNS:-5}
# Round-robin: each round runs every model once (one run each), so that the
# three models of one round are measured close together in time. (This VM
# switches between a fast and a slow period; a whole sweep per model would
# put the models in different periods.) Medians over the rounds.
for r in $(seq "$runs"); do
    for bench in latency bandwidth; do
        for model in c-mpi mpi; do
            "$bin" $bench --model $model --runs 1 --format csv > "$out/$bench-$model.$r.csv"
        done
        mpirun -np 2 --bind-to core "$bin" $bench --model chare --runs 1 --format csv > "$out/$bench-chare-mpi.$r.csv"
    done
done
python3 - "$out" "$runs" <<'PY'
import csv, sys, os, statistics
out, runs = sys.argv[1], int(sys.argv[2])
def load(name, col):
    per_size = {}
    for r in range(1, runs + 1):
        rows = [l for l in open(os.path.join(out, f'{name}.{r}.csv')) if not l.startswith('#')]
        for row in csv.DictReader(rows):
            per_size.setdefault(int(row['size_bytes']), []).append(float(row[col]))
    return {s: statistics.median(v) for s, v in per_size.items()}, per_size
summary = open(os.path.join(out, 'summary.csv'), 'w')
summary.write('benchmark,size_bytes,c_mpi,mpi,chare,mpi_over_c,chare_over_c\n')
for bench, col, sizes in [('latency', 'one_way_us', [8, 1048576, 4194304]), ('bandwidth', 'bandwidth_mb_s', [8, 1048576, 4194304])]:
    (c, cr), (m, _), (ch, chr_) = (load(f'{bench}-{k}', col) for k in ('c-mpi', 'mpi', 'chare-mpi'))
    print(f'{bench} ({col}), medians of {runs} rounds:')
    print(f'  {"size":>8} {"c-mpi":>12} {"mpi":>12} {"chare":>12} {"mpi/c":>7} {"chare/c":>8}')
    for s in sizes:
        a, b, d = c[s], m[s], ch[s]
        print(f'  {s:>8} {a:>12.3f} {b:>12.3f} {d:>12.3f} {b/a:>7.2f} {d/a:>8.2f}')
        summary.write(f'{bench},{s},{a},{b},{d},{b/a:.3f},{d/a:.3f}\n')
    print(f'  c-mpi 8 B per round: {", ".join(f"{x:.3f}" for x in cr[8])}')
    print(f'  chare 8 B per round: {", ".join(f"{x:.3f}" for x in chr_[8])}')
PY
