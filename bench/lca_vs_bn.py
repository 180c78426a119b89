"""The latent class model on its dedicated kernel vs the Bayesian-network kernel.

Issue 5 asks whether the junction-tree kernel runs a latent class model within 1.5x of
the star kernel (then one kernel could serve both). Same data, same start, one thread,
seconds per EM iteration (median of fits of a fixed number of iterations).

Usage: PYTHONPATH=src python bench/lca_vs_bn.py [n_rows]
"""
import sys
import time
import warnings

import numpy as np

import emfast as em
from emfast.mixture import latent_class_network


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    J, M, K = 20, 3, 4
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.full(K, 5.0))
    items = [rng.dirichlet(np.full(M, 5.0), size=K) for _ in range(J)]
    z = rng.choice(K, size=n, p=w)
    X = np.column_stack([(rng.random(n)[:, None] < np.cumsum(t[z], 1)).argmax(1)
                         for t in items]).astype(np.int32)
    X[rng.random(X.shape) < 0.1] = -1
    w0 = rng.dirichlet(np.full(K, 5.0))
    t0 = [rng.dirichlet(np.full(M, 5.0), size=K) for _ in range(J)]
    names = [f"item {j}" for j in range(J)]
    full = np.concatenate([np.full((n, 1), -1, np.int32), X], axis=1)
    print(f"# n={n}, {J} items x {M} categories, K={K}, 10% MCAR; 1 thread; s/iteration")

    def time_lca(iters):
        m = em.LatentClassModel(K, init={"weights": w0, "item_probs": t0}, max_iter=iters,
                                tol=0.0, n_jobs=1)
        t = time.perf_counter()
        m.fit(X)
        return time.perf_counter() - t

    def time_bn(iters):
        bn, cls = latent_class_network(names, [M] * J, K)
        bn.cpts[cls] = w0
        for nm, t in zip(names, t0):
            bn.cpts[nm] = t
        t = time.perf_counter()
        bn.fit(full, init="current", max_iter=iters, tol=0.0, n_jobs=1)
        return time.perf_counter() - t

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = {}
        for name, f in [("LatentClassModel (star kernel)", time_lca),
                        ("BayesianNetwork (junction-tree kernel)", time_bn)]:
            # per-iteration cost as a difference of two fit lengths (setup cancels out)
            d = [(f(11) - f(1)) / 10 for _ in range(3)]
            res[name] = float(np.median(d))
            print(f"{name:40s} {res[name]:8.4f}")
    a, b = res.values()
    print(f"ratio BN / LCA: {b / a:.2f}x")


if __name__ == "__main__":
    main()
