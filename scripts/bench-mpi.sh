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
for bench in latency bandwidth; do
    for model in c-mpi mpi; do
        "$bin" $bench --model $model --runs "$runs" --format csv > "$out/$bench-$model.csv"
    done
    mpirun -np 2 --bind-to core "$bin" $bench --model chare --runs "$runs" --format csv > "$out/$bench-chare-mpi.csv"
done
python3 - "$out" <<'PY'
import csv, sys, os
out = sys.argv[1]
def load(name):
    rows = [l for l in open(os.path.join(out, name)) if not l.startswith('#')]
    return {int(r['size_bytes']): r for r in csv.DictReader(rows)}
for bench, col, sizes in [('latency', 'one_way_us', [8, 1048576, 4194304]), ('bandwidth', 'bandwidth_mb_s', [8, 1048576, 4194304])]:
    c, m, ch = (load(f'{bench}-{k}.csv') for k in ('c-mpi', 'mpi', 'chare-mpi'))
    print(f'{bench} ({col}):')
    print(f'  {"size":>8} {"c-mpi":>12} {"mpi":>12} {"chare":>12} {"mpi/c":>7} {"chare/c":>8}')
    for s in sizes:
        a, b, d = (float(x[s][col]) for x in (c, m, ch))
        print(f'  {s:>8} {a:>12.3f} {b:>12.3f} {d:>12.3f} {b/a:>7.2f} {d/a:>8.2f}')
PY
