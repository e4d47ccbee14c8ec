#!/usr/bin/env bash
# The MPI comparison of issue 3, from one invocation: the C MPI floor
# (`c-mpi`), the message-driven C floor (`c-mpi-am`: a polled any-source
# receive and MPI_Isend, the MPI calls a runtime makes per message), the MPI model on rsmpi (`mpi`), the chare runtime on its MPI
# layer (`chare` under mpirun) and, when mpi4py and numpy import, the mpi4py
# peer (peers/python/osu_mpi4py.py), 2 ranks on one node, medians of 5 runs.
# chare-bench's large buffers live on huge pages (chare::HugePageAlloc); with
# HUGEPAGES_AB=1 (default) each round also runs `mpi` and `chare` with
# CHARE_HUGEPAGES=0 (columns mpi_4k, chare_4k), HUGEPAGES_AB=0 skips them.
# Installs MPI when missing. CSVs in results/mpi/, a summary on stdout.
# Honours CARGO_TARGET_DIR (the C program stays in target/peers).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-mpi.sh
cargo build --release --locked -p chare-bench --features mpi
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/chare-bench
export CHARE_OSU_C=${CHARE_OSU_C:-$PWD/target/peers/osu_pingpong}
out=results/mpi
mkdir -p "$out"
runs=${RUNS:-5}
ab=${HUGEPAGES_AB:-1}
py=crates/chare-bench/peers/python/osu_mpi4py.py
if python3 -c 'import mpi4py, numpy' 2>/dev/null; then
    mpi4py=1
else
    mpi4py=0
    echo "bench-mpi: mpi4py or numpy missing (pip install mpi4py numpy): skipping the mpi4py peer" >&2
fi
rm -f "$out"/*.csv
# Waits (at most SETTLE_S seconds, default 60) until other processes leave
# the CPU alone (/proc/pressure/cpu: tasks kept waiting < 15 % of the last
# 10 s): two busy ranks on this 2-core VM measure nothing while a compile
# runs beside them. SETTLE_S=0 measures at once.
settle() {
    [ -r /proc/pressure/cpu ] || return 0
    for _ in $(seq "${SETTLE_S:-60}"); do
        awk '/^some/ { split($2, a, "="); exit !(a[2] < 15) }' /proc/pressure/cpu && return 0
        sleep 1
    done
    [ "${SETTLE_S:-60}" = 0 ] || echo "bench-mpi: CPU still busy after ${SETTLE_S:-60} s, measuring anyway" >&2
}
# Round-robin: each round runs every model once (one run each), so that the
# models of one round are measured close together in time. (This VM
# switches between a fast and a slow period; a whole sweep per model would
# put the models in different periods.) Medians over the rounds.
for r in $(seq "$runs"); do
    for bench in latency bandwidth; do
        for model in c-mpi c-mpi-am mpi; do
            settle
            "$bin" $bench --model $model --runs 1 --format csv > "$out/$bench-$model.$r.csv"
            if [ "$ab" = 1 ] && [ $model = mpi ]; then
                settle
                CHARE_HUGEPAGES=0 "$bin" $bench --model $model --runs 1 --format csv > "$out/$bench-mpi-4k.$r.csv"
            fi
        done
        settle
        mpirun -np 2 --bind-to core "$bin" $bench --model chare --runs 1 --format csv > "$out/$bench-chare-mpi.$r.csv"
        if [ "$ab" = 1 ]; then
            settle
            mpirun -np 2 --bind-to core -x CHARE_HUGEPAGES=0 "$bin" $bench --model chare --runs 1 --format csv \
                > "$out/$bench-chare-mpi-4k.$r.csv"
        fi
        if [ "$mpi4py" = 1 ]; then
            settle
            mpirun -np 2 --bind-to core python3 "$py" $bench --runs 1 --format csv > "$out/$bench-mpi4py.$r.csv"
        fi
    done
done
python3 - "$out" "$runs" <<'PY'
import csv, sys, os, statistics
out, runs = sys.argv[1], int(sys.argv[2])
def load(name, col):
    per_size = {}
    if not os.path.exists(os.path.join(out, f'{name}.1.csv')):
        return None, None
    for r in range(1, runs + 1):
        rows = [l for l in open(os.path.join(out, f'{name}.{r}.csv')) if not l.startswith('#')]
        for row in csv.DictReader(rows):
            per_size.setdefault(int(row['size_bytes']), []).append(float(row[col]))
    return {s: statistics.median(v) for s, v in per_size.items()}, per_size
# Columns: the three of issue 3 first (as before), then the huge-page A/B and mpi4py.
models = [('c_mpi', 'c-mpi'), ('mpi', 'mpi'), ('chare', 'chare-mpi'), ('c_mpi_am', 'c-mpi-am'),
          ('mpi_4k', 'mpi-4k'), ('chare_4k', 'chare-mpi-4k'), ('mpi4py', 'mpi4py')]
summary = open(os.path.join(out, 'summary.csv'), 'w')
summary.write('benchmark,size_bytes,' + ','.join(k for k, _ in models)
              + ',mpi_over_c,chare_over_c,chare_4k_over_c,mpi4py_over_c,chare_over_mpi4py\n')
def ratio(a, b):
    return a / b if a is not None and b else None
def cell(v, fmt):
    return format(v, fmt) if v is not None else 'n/a'
for bench, col, sizes in [('latency', 'one_way_us', [8, 1048576, 4194304]), ('bandwidth', 'bandwidth_mb_s', [8, 1048576, 4194304])]:
    loaded = {k: load(f'{bench}-{f}', col) for k, f in models}
    med = {k: (v[0] or {}) for k, v in loaded.items()}
    print(f'{bench} ({col}), medians of {runs} rounds:')
    print(f'  {"size":>8}' + ''.join(f' {k:>10}' for k, _ in models)
          + f' {"mpi/c":>7} {"chare/c":>8} {"4k/c":>6} {"py/c":>6} {"chare/py":>8}')
    for s in sizes:
        v = {k: med[k].get(s) for k, _ in models}
        rs = [ratio(v['mpi'], v['c_mpi']), ratio(v['chare'], v['c_mpi']), ratio(v['chare_4k'], v['c_mpi']),
              ratio(v['mpi4py'], v['c_mpi']), ratio(v['chare'], v['mpi4py'])]
        print(f'  {s:>8}' + ''.join(f' {cell(v[k], ">10.3f")}' for k, _ in models)
              + ''.join(f' {cell(x, f">{w}.2f")}' for x, w in zip(rs, [7, 8, 6, 6, 8])))
        summary.write(f'{bench},{s},' + ','.join('' if v[k] is None else str(v[k]) for k, _ in models) + ','
                      + ','.join('' if x is None else f'{x:.3f}' for x in rs) + '\n')
    print(f'  c-mpi 8 B per round: {", ".join(f"{x:.3f}" for x in loaded["c_mpi"][1][8])}')
    print(f'  chare 8 B per round: {", ".join(f"{x:.3f}" for x in loaded["chare"][1][8])}')
    print(f'  c-mpi-am 8 B per round: {", ".join(f"{x:.3f}" for x in loaded["c_mpi_am"][1][8])}')
    for s in [1048576, 4194304]:
        for k in ('c_mpi', 'chare', 'chare_4k', 'mpi4py'):
            if loaded[k][1]:
                print(f'  {k} {s} B per round: {", ".join(f"{x:.3f}" for x in loaded[k][1][s])}')
PY
