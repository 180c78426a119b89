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


def memory_check(X, lengths, init, label):
    """Peak of new allocations (tracemalloc sees NumPy buffers) during a 2-iteration fit."""
    import tracemalloc
    K = len(init[0])
    tracemalloc.start()
    tracemalloc.reset_peak()
    run_emfast(X, lengths, init, 2, 2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  memory {label}: extra peak during fit {peak / 2**20:7.1f} MiB; input X "
          f"{X.nbytes / 2**20:.1f} MiB ({X.dtype}); one T x K float64 = "
          f"{len(X) * K * 8 / 2**20:.1f} MiB")


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
    ap.add_argument("--only", nargs="+", help="peers to run, e.g. hmmlearn")
    ap.add_argument("--memory", action="store_true", help="only the peak-memory check")
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
    if args.only:
        have = {k: v for k, v in have.items() if k in args.only or k == "torch" and
                "pomegranate" in args.only}
    print("peers:", have or "none")
    if "torch" in have:
        import torch
        torch.set_num_threads(1)
    print(f"workload: {args.n_seq} sequences x {args.T} steps, {args.M} symbols, "
          f"{args.n_iter} EM iterations; seconds per iteration = median(total)/{args.n_iter}; "
          f"{args.repeats} repeats (peers {args.peer_repeats}), interleaved")
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
        if args.memory:
            print(f"\nK={K}")
            memory_check(X, lengths, init, f"{args.n_seq} sequences")
            memory_check(X, None, init, "one sequence")
            memory_check(X.astype(np.int32), None, init, "one sequence, int32 input")
            continue
        configs = {}
        for j in (1, 2):
            configs[f"emfast n_jobs={j}"] = (lambda j=j: run_emfast(X, lengths, init, j, n_it))
            configs[f"emfast n_jobs={j} 10% missing"] = (
                lambda j=j: run_emfast(Xmiss, lengths, init, j, n_it))
        peers = {}
        if "hmmlearn" in have:
            for impl in ("scaling", "log"):
                peers[f"hmmlearn {impl}"] = (lambda impl=impl: run_hmmlearn(X, lengths, init,
                                                                             impl, n_it))
            a = run_emfast(X, lengths, init, 2, n_it).monitor_.history[:n_it]
            b = run_hmmlearn(X, lengths, init, "scaling", n_it).monitor_.history
            print(f"K={K}: max rel. diff of log-likelihood trajectory vs hmmlearn: "
                  f"{np.max(np.abs(np.subtract(a, b)) / np.abs(b)):.2e}")
        if "pomegranate" in have:
            peers["pomegranate"] = lambda: run_pomegranate(Xseq, init, n_it)
            peers["pomegranate 10% missing"] = lambda: run_pomegranate(Xseq, init, n_it, mask)
        # interleave: every repeat runs every configuration once, so that a change of
        # machine load hits all of them alike; record wall and CPU (process) time
        wall = {k: [] for k in list(configs) + list(peers)}
        cpu = {k: [] for k in wall}
        for r in range(max(args.repeats, args.peer_repeats)):
            todo = dict(configs) if r < args.repeats else {}
            if r < args.peer_repeats:
                todo.update(peers)
            for name, fn in todo.items():
                w0, c0 = time.perf_counter(), time.process_time()
                fn()
                wall[name].append(time.perf_counter() - w0)
                cpu[name].append(time.process_time() - c0)
        pw = {k: statistics.median(v) / n_it for k, v in wall.items() if v}
        pc = {k: statistics.median(v) / n_it for k, v in cpu.items() if v}
        print(f"\nK={K}   (median s/iter; wall and CPU time of the process)")
        for k in pw:
            print(f"  {k:34s} wall {pw[k]:8.4f}   cpu {pc[k]:8.4f}")
        e1, e2 = pw["emfast n_jobs=1"], pw["emfast n_jobs=2"]
        print(f"  emfast 1 thread / 2 threads (wall):            {e1 / e2:6.2f}x")
        m1, m2 = pw["emfast n_jobs=1 10% missing"], pw["emfast n_jobs=2 10% missing"]
        print(f"  emfast 1 thread / 2 threads, 10% missing (wall): {m1 / m2:6.2f}x")
        for peer, ours in (("hmmlearn scaling", "emfast n_jobs=1"),
                           ("hmmlearn log", "emfast n_jobs=1"),
                           ("pomegranate", "emfast n_jobs=1"),
                           ("pomegranate 10% missing", "emfast n_jobs=1 10% missing")):
            if peer in pw:
                print(f"  {peer:24s} / {ours:28s} wall {pw[peer] / pw[ours]:6.1f}x   "
                      f"cpu {pc[peer] / pc[ours]:6.1f}x")


if __name__ == "__main__":
    main()
