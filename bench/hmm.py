"""Benchmark: emfast.CategoricalHMM vs hmmlearn (scaling, log) and pomegranate.

Workload (issue 3): 1000 sequences x 1000 steps, 32 symbols, K = 4 and K = 16,
drawn from a random sticky HMM. Every library starts from ONE shared random
parameter set and runs 10 EM iterations; we report seconds per iteration
(median over repeats of total/10; emfast's total includes its extra final
scoring E-step, so its number is slightly pessimistic). Variant: 10% of the
observations missing completely at random (hmmlearn cannot run it).

Run (peers are optional; the bench venv has them):

    /work/bench-venv/bin/python setup.py build_ext --inplace -q
    PYTHONPATH=src /work/bench-venv/bin/python bench/hmm.py            # full
    PYTHONPATH=src /work/bench-venv/bin/python bench/hmm.py --quick    # 200 x 1000

Thread counts are set explicitly: OMP/BLAS threads = 1 for the peers,
emfast n_jobs = 1 and 2.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import platform
import statistics
import time
import warnings

import numpy as np

import emfast


def sticky_hmm(rng, K, M, stay=0.9):
    start = rng.dirichlet(np.ones(K))
    trans = (1 - stay) * rng.dirichlet(np.ones(K), size=K) + stay * np.eye(K)
    B = rng.dirichlet(np.full(M, 0.3), size=K)
    return start, trans, B


def simulate(rng, start, trans, B, n_seq, T):
    K, M = B.shape
    z = np.empty((n_seq, T), dtype=np.int64)
    z[:, 0] = (rng.random(n_seq)[:, None] > np.cumsum(start)).sum(1)
    cum = np.cumsum(trans, axis=1)
    for t in range(1, T):
        z[:, t] = (rng.random(n_seq)[:, None] > cum[z[:, t - 1]]).sum(1)
    z = np.minimum(z, K - 1)
    cumB = np.cumsum(B, axis=1)
    x = np.empty_like(z)
    for s in range(n_seq):
        x[s] = np.minimum((rng.random(T)[:, None] > cumB[z[s]]).sum(1), M - 1)
    return x


def timeit(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run_emfast(X, lengths, init, n_jobs, n_iter):
    start, trans, B = init
    m = emfast.CategoricalHMM(n_components=len(start), n_iter=n_iter, tol=0, init_params="",
                              n_jobs=n_jobs, n_features=B.shape[1])
    m.startprob_, m.transmat_, m.emissionprob_ = start, trans, B
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emfast.ConvergenceWarning)
        m.fit(X, lengths)
    return m


def run_hmmlearn(X, lengths, init, impl, n_iter):
    from hmmlearn import hmm
    start, trans, B = init
    m = hmm.CategoricalHMM(n_components=len(start), n_iter=n_iter, tol=-np.inf,
                           init_params="", implementation=impl, n_features=B.shape[1])
    m.startprob_, m.transmat_, m.emissionprob_ = start, trans, B
    m.fit(X[:, None], lengths)
    return m


def run_pomegranate(Xseq, init, n_iter, mask=None):
    import torch
    from pomegranate.distributions import Categorical
    from pomegranate.hmm import DenseHMM
    start, trans, B = init
    dists = [Categorical(torch.tensor(B[k:k + 1], dtype=torch.float32)) for k in range(len(B))]
    f32 = np.float32
    model = DenseHMM(dists, edges=trans.astype(f32), starts=start.astype(f32),
                     ends=np.full(len(start), 1e-3, dtype=f32),
                     max_iter=n_iter, tol=0.0, verbose=False)
    X = torch.tensor(Xseq[:, :, None])
    if mask is not None:
        X = torch.masked.MaskedTensor(torch.where(torch.tensor(mask[:, :, None]), X, 0),
                                      mask=torch.tensor(mask[:, :, None]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--K", type=int, nargs="+", default=[4, 16])
    ap.add_argument("--n-seq", type=int, default=1000)
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--M", type=int, default=32)
    ap.add_argument("--n-iter", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer-repeats", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="200 sequences")
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.n_seq = 200
    from emfast import _kernels
    print(f"machine: {platform.platform()} | {platform.processor() or platform.machine()} | "
          f"cpus={os.cpu_count()} | python {platform.python_version()} | numpy {np.__version__}")
    print(f"emfast {emfast.__version__} openmp={_kernels.openmp_enabled()} "
          f"max_threads={_kernels.max_threads()}")
    have = {}
    if not args.no_peers:
        for name in ("hmmlearn", "pomegranate", "torch"):
            try:
                have[name] = __import__(name).__version__
            except ImportError:
                pass
    print("peers:", have or "none")
    if "torch" in have:
        import torch
        torch.set_num_threads(1)
    print(f"workload: {args.n_seq} sequences x {args.T} steps, {args.M} symbols, "
          f"{args.n_iter} EM iterations; seconds per iteration = median(total)/{args.n_iter}")
    n_it = args.n_iter
    for K in args.K:
        rng = np.random.default_rng(20261125 + K)
        truth = sticky_hmm(rng, K, args.M)
        Xseq = simulate(rng, *truth, args.n_seq, args.T)
        X = Xseq.ravel()
        lengths = np.full(args.n_seq, args.T)
        init = (rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
                rng.dirichlet(np.ones(args.M), size=K))
        mask = rng.random(Xseq.shape) >= 0.10        # True = observed
        Xmiss = np.where(mask, Xseq, -1).ravel()
        res = {}
        for j in (1, 2):
            res[f"emfast n_jobs={j}"] = timeit(lambda: run_emfast(X, lengths, init, j, n_it),
                                               args.repeats)
            res[f"emfast n_jobs={j} 10% missing"] = timeit(
                lambda: run_emfast(Xmiss, lengths, init, j, n_it), args.repeats)
        if "hmmlearn" in have:
            for impl in ("scaling", "log"):
                res[f"hmmlearn {impl}"] = timeit(
                    lambda: run_hmmlearn(X, lengths, init, impl, n_it), args.peer_repeats)
            # same trajectory check (first 10 log-likelihoods)
            a = run_emfast(X, lengths, init, 2, n_it).monitor_.history[:n_it]
            b = run_hmmlearn(X, lengths, init, "scaling", n_it).monitor_.history
            print(f"K={K}: max rel. diff of log-likelihood trajectory vs hmmlearn: "
                  f"{np.max(np.abs(np.subtract(a, b)) / np.abs(b)):.2e}")
        if "pomegranate" in have:
            res["pomegranate 10% missing"] = timeit(
                lambda: run_pomegranate(Xseq, init, n_it, mask), args.peer_repeats)
            res["pomegranate"] = timeit(lambda: run_pomegranate(Xseq, init, n_it),
                                        args.peer_repeats)
        per = {k: statistics.median(v) / n_it for k, v in res.items()}
        print(f"\nK={K}")
        for k, v in per.items():
            print(f"  {k:34s} {v:8.4f} s/iter   (best {min(res[k]) / n_it:.4f})")
        e1, e2 = per["emfast n_jobs=1"], per["emfast n_jobs=2"]
        print(f"  ratio 1 thread / 2 threads (emfast):      {e1 / e2:6.2f}x")
        for peer in ("hmmlearn scaling", "hmmlearn log", "pomegranate"):
            if peer in per:
                print(f"  {peer} / emfast (1 thread):          {per[peer] / e1:6.1f}x")
        if "pomegranate 10% missing" in per:
            print(f"  pomegranate / emfast, 10% missing (1 thread): "
                  f"{per['pomegranate 10% missing'] / per['emfast n_jobs=1 10% missing']:6.1f}x")


if __name__ == "__main__":
    main()
