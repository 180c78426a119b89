"""Benchmark: hmmlearn's GaussianHMM fit, hmmlearn's own loop vs the emfast backend.

A multi-sequence fit (default 1,000 sequences x 1,000 steps, K = 8 states, 4-d diagonal
Gaussian emissions, data drawn from an 8-state model) with ``init_params=""`` from one
fixed starting model and ``tol=-inf``, so every run does exactly ``--n-iter`` EM
iterations on the same arrays. Three configurations, alternated ``--repeats`` times in
one process: hmmlearn as installed, ``emfast.compat.hmmlearn.backend(n_jobs=1)`` and
``backend(n_jobs=2)``. Prints the median wall time of each, the ratios to hmmlearn, and
the largest relative difference of the fitted log-likelihood trajectory and parameters
to hmmlearn's (the backend must give hmmlearn's numbers).

hmmlearn itself is single-threaded (its C++ forward-backward runs one sequence at a
time, in a Python loop); BLAS threads are pinned to 1 for every configuration so that
numpy's matrix products do not use other cores.

Run (in a venv with hmmlearn, e.g. /work/peers):
    OMP_NUM_THREADS=2 PYTHONPATH=src /work/peers/bin/python bench/hmmlearn_backend.py
    PYTHONPATH=src /work/peers/bin/python bench/hmmlearn_backend.py --n-seq 200 --quick
"""
from __future__ import annotations

import argparse
import os

for _v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

SEED = 20261202


def make_problem(n_seq, T, K, F):
    from hmmlearn.hmm import GaussianHMM
    rng = np.random.RandomState(SEED)
    truth = GaussianHMM(K, covariance_type="diag", init_params="")
    truth.startprob_ = rng.dirichlet(np.ones(K))
    truth.transmat_ = 0.8 * np.eye(K) + 0.2 * rng.dirichlet(np.ones(K), size=K)
    truth.means_ = 3.0 * rng.normal(size=(K, F))
    truth.covars_ = rng.uniform(0.5, 2.0, size=(K, F))
    # sequences: one long draw cut into pieces (fast; the states mix within 1000 steps)
    X, _ = truth.sample(n_seq * T, random_state=rng)
    lengths = np.full(n_seq, T)
    start = {
        "startprob_": np.full(K, 1.0 / K),
        "transmat_": 0.5 * np.eye(K) + 0.5 / K,
        "means_": truth.means_ + rng.normal(size=(K, F)),
        "covars_": np.full((K, F), 2.0),
    }
    return X, lengths, start


def fit_once(X, lengths, start, n_iter, n_jobs):
    from hmmlearn.hmm import GaussianHMM

    import emfast.compat.hmmlearn as ehl
    K = start["startprob_"].shape[0]
    model = GaussianHMM(K, covariance_type="diag", init_params="", n_iter=n_iter,
                        tol=-np.inf)
    for name, value in start.items():
        setattr(model, name, value.copy())
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if n_jobs is None:
            model.fit(X, lengths)
        else:
            with ehl.backend(n_jobs=n_jobs):
                model.fit(X, lengths)
    return time.perf_counter() - t0, model


def max_rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-seq", type=int, default=1000)
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--K", type=int, default=8)
    ap.add_argument("--F", type=int, default=4)
    ap.add_argument("--n-iter", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat, two iterations")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.n_iter = 1, 2
    X, lengths, start = make_problem(args.n_seq, args.T, args.K, args.F)
    print(f"GaussianHMM diag fit: {args.n_seq} sequences x {args.T} steps, K={args.K}, "
          f"F={args.F}, {args.n_iter} EM iterations, {args.repeats} alternated repeats; "
          f"load {os.getloadavg()[0]:.2f} at start")
    configs = [("hmmlearn", None), ("backend n_jobs=1", 1), ("backend n_jobs=2", 2)]
    times = {name: [] for name, _ in configs}
    models = {}
    for _ in range(args.repeats):
        for name, n_jobs in configs:
            t, model = fit_once(X, lengths, start, args.n_iter, n_jobs)
            times[name].append(t)
            models[name] = model
    ref = models["hmmlearn"]
    base = statistics.median(times["hmmlearn"])
    print(f"{'configuration':<18} {'median s':>9} {'s/iter':>8} {'ratio':>6}   runs")
    for name, _ in configs:
        med = statistics.median(times[name])
        runs = " ".join(f"{t:.2f}" for t in times[name])
        print(f"{name:<18} {med:9.2f} {med / args.n_iter:8.3f} {base / med:6.2f}x   {runs}")
    for name, _ in configs[1:]:
        m = models[name]
        diff = max(max_rel(m.monitor_.history, ref.monitor_.history),
                   max_rel(m.transmat_, ref.transmat_), max_rel(m.means_, ref.means_),
                   max_rel(m._covars_, ref._covars_), max_rel(m.startprob_, ref.startprob_))
        print(f"{name}: max relative difference to hmmlearn "
              f"(history, startprob, transmat, means, covars) {diff:.2e}")
    print(f"load {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
