"""What every Python peer of chare-bench shares: the machine lines of the
output header, the CSV/table rendering (chare-bench's format: `#` header
lines, one line of column names, rows, `#` footer lines), the versions
note, and numba when it imports (the peers fall back to vectorised numpy
without it, or with CHARE_PEER_NUMBA=0).
"""
import os
import platform
import socket
import sys

import numpy as np


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == 'model name':
                    return value.strip()
    except OSError:
        pass
    return 'unknown'


def machine_lines(pes):
    """chare-bench's `cores`, `cpu`, `host` and `oversubscribed` lines."""
    cores = os.cpu_count() or 1
    return [
        f'cores: {cores}',
        f'cpu: {cpu_model()}',
        f'host: {socket.gethostname() or platform.node()}',
        f'oversubscribed: {"yes" if pes > cores else "no"}',
    ]


def command(prog):
    """The command line as the header shows it (program name short; without
    the `+`/`++` options of Charm4Py's launcher, which Charm4Py passes on)."""
    return ' '.join([prog] + [a for a in sys.argv[1:] if not a.startswith('+')])


def charm4py_version():
    try:
        from importlib.metadata import version
        return f'charm4py {version("charm4py")}'
    except Exception:
        return 'charm4py ?'


def render(header, columns, rows, footer, fmt):
    lines = [f'# {h}' for h in header]
    if fmt == 'csv':
        lines.append(','.join(columns))
        lines += [','.join(r) for r in rows]
    else:
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
        lines.append('  '.join(c.rjust(w) for c, w in zip(columns, widths)))
        lines += ['  '.join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    lines += [f'# {f}' for f in footer]
    return '\n'.join(lines) + '\n'


def _load_numba():
    if os.environ.get('CHARE_PEER_NUMBA', '1') == '0':
        return None
    # Without this numba loads colorama, whose exit handler writes a colour
    # reset (ESC [0m) to stdout when that looks like a terminal, as it does
    # under mpirun (Open MPI forwards output through a pty): a stray line
    # after the CSV.
    os.environ.setdefault('NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING', '1')
    try:
        import numba
        return numba
    except Exception:  # not installed, or it does not fit this numpy
        return None


numba = _load_numba()


def jit(fn):
    """numba.njit(cache=True) when numba imports; else None (the caller
    keeps its numpy version)."""
    if numba is None:
        return None
    return numba.njit(cache=True)(fn)


def kernel_name():
    return f'numba {numba.__version__}' if numba is not None else 'numpy (vectorised)'


def versions(extra=()):
    v = [f'Python {platform.python_version()}', f'numpy {np.__version__}']
    v.append(f'numba {numba.__version__}' if numba is not None else 'no numba')
    v.extend(extra)
    return ', '.join(v)
