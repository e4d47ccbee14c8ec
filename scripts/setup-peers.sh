#!/usr/bin/env bash
# Installs, when missing, the Python packages of chare-bench's peers
# (crates/chare-bench/peers/python): numpy and mpi4py (the mpi4py peers),
# numba (their kernels; without it they run vectorised numpy), charm4py
# (the Charm4Py peers; its wheel ships Charm++ and the charmrun launcher).
# From PyPI with pip, one package at a time: a package that does not
# install is reported and skipped, never an error (the paper run then lists
# those peers as not run, with the reason). Safe to run repeatedly: a
# package that imports already is left alone.
#
#   bash scripts/setup-peers.sh            # PAPER_PEERS=0 skips it
# Honours CHARE_PYTHON (default python3), the interpreter the peers run on.
set -uo pipefail
py=${CHARE_PYTHON:-python3}
if [ "${PAPER_PEERS:-1}" = 0 ]; then
    echo "setup-peers: PAPER_PEERS=0: not installing the Python peers' packages" >&2
    exit 0
fi
if ! command -v "$py" >/dev/null 2>&1; then
    echo "setup-peers: warning: no $py: the mpi4py and Charm4Py peers will not run" >&2
    exit 0
fi
if ! "$py" -m pip --version >/dev/null 2>&1; then
    echo "setup-peers: warning: $py has no pip: the peers run only if their packages are there" >&2
    exit 0
fi
pip_install() {
    # Quiet unless it fails; an "externally managed" interpreter (Debian's
    # own python3) needs the second form.
    local log
    log=$(mktemp)
    if "$py" -m pip install --quiet --disable-pip-version-check "$@" >"$log" 2>&1 \
        || { grep -q externally-managed "$log" \
             && "$py" -m pip install --quiet --disable-pip-version-check --break-system-packages "$@" >"$log" 2>&1; }; then
        rm -f "$log"
        return 0
    fi
    tail -n 5 "$log" | sed 's/^/setup-peers:   /' >&2
    rm -f "$log"
    return 1
}
# package to install, then the import that shows it works
for pair in "numpy:numpy" "mpi4py:mpi4py.MPI" "numba:numba" "charm4py:charm4py, charmrun.start"; do
    pkg=${pair%%:*}
    mod=${pair#*:}
    if "$py" -c "import $mod" >/dev/null 2>&1; then
        continue
    fi
    echo "setup-peers: installing $pkg (pip)" >&2
    if ! pip_install "$pkg" || ! "$py" -c "import $mod" >/dev/null 2>&1; then
        echo "setup-peers: warning: $pkg does not install or import here; its peers are skipped" >&2
    fi
done
exit 0
