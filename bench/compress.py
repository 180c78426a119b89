"""Row compression: emfast.compress_rows vs np.unique(axis=0).

Usage: PYTHONPATH=src python bench/compress.py [n_rows] [n_cols] [card]
Prints seconds (best of 3) and the ratio. Never imported by tests.
"""
import platform
import sys
import time

import numpy as np

import emfast
from emfast.data import compress_rows


def best_of(f, repeat=3):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    card = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rng = np.random.default_rng(0)
    X = rng.integers(-1, card, size=(n, d)).astype(np.int32)
    print(f"# {platform.processor() or platform.machine()}, numpy {np.__version__}, "
          f"emfast {emfast.__version__}; X: {n} x {d}, codes -1..{card - 1}")
    c = compress_rows(X)
    print(f"distinct rows: {len(c.rows)}")
    t_em = best_of(lambda: compress_rows(X))
    # np.unique(axis=0) sorts the rows: one run is enough to see the difference
    t_np = best_of(lambda: np.unique(X, axis=0, return_inverse=True, return_counts=True),
                   repeat=1)
    print(f"{'emfast.compress_rows':28s} {t_em:8.3f} s")
    print(f"{'np.unique(axis=0)':28s} {t_np:8.3f} s")
    print(f"ratio np.unique / emfast: {t_np / t_em:.1f}x")


if __name__ == "__main__":
    main()
