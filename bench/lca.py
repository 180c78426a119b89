"""Latent class model: seconds per EM iteration, emfast vs StepMix vs pomegranate.

Workload (issue 5): n = 100,000 rows, 20 items with 3 categories, K = 4 classes,
10 % of the cells missing completely at random, one shared random start (class
weights and every item row ~ Dirichlet(5)). Every library gets the same arrays
and the same start in one process and runs the same number of EM iterations;
the log-likelihood trajectories are compared as a sanity check.

Run (peers live in /work/bench-venv)::

    /work/bench-venv/bin/python setup.py build_ext --inplace -q
    PYTHONPATH=src /work/bench-venv/bin/python bench/lca.py [--n 100000] [--iters 10]

Thread counts are set explicitly: emfast ``n_jobs``, StepMix's BLAS via
threadpoolctl, pomegranate via ``torch.set_num_threads``. Timings on a shared
machine are noisy: the median of ``--repeats`` runs is quoted (best in brackets).
"""
import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np


def make_data(n, J, M, K, p_missing, seed):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(K, 5.0))
    items = [rng.dirichlet(np.full(M, 2.0), size=K) for _ in range(J)]
    z = rng.choice(K, size=n, p=w)
    X = np.empty((n, J), dtype=np.int32)
    for j, t in enumerate(items):
        c = np.cumsum(t[z], axis=1)
        X[:, j] = np.minimum((rng.random(n)[:, None] >= c).sum(axis=1), M - 1)
    X[rng.random(X.shape) < p_missing] = -1
    w0 = rng.dirichlet(np.full(K, 5.0))
    items0 = [rng.dirichlet(np.full(M, 5.0), size=K) for _ in range(J)]
    return X, w0, items0


def timed(fn, repeats):
    ts = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts), out


def bench_emfast(X, w0, items0, iters, threads, repeats):
    """Per thread count t: (whole fit / iters median, best, marginal s/iter median,
    kernel-only median, kernel-only best, history), plus the paired ratios.

    The whole-fit figure charges validation, row compression and the final scoring
    E-step to the iterations (conservative). The marginal figure is
    (fit with 1 + iters M-steps - fit with 1 M-step) / iters: the cost of one more
    EM iteration, which is what the peers' per-iteration loops measure. The kernel
    figure is one E-step of the compiled kernel alone.

    Thread counts are interleaved: every repeat runs each thread count back to
    back, so a slow spell on a shared machine hits all of them alike, and the
    thread-scaling ratios are taken within a repeat (median over repeats)."""
    import emfast
    K = len(w0)
    cards = [t.shape[1] for t in items0]

    def run(n_iter, t):
        m = emfast.LatentClassModel(K, init={"weights": w0, "item_probs": items0},
                                    max_iter=n_iter, tol=0.0, n_jobs=t, n_categories=cards)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X)
        return m

    estep = kernel_estep(X, w0, items0)

    def kernel(t):
        t0 = time.perf_counter()
        estep(t)
        return time.perf_counter() - t0

    whole = {t: [] for t in threads}
    marg = {t: [] for t in threads}
    kern = {t: [] for t in threads}
    hist = None
    for _ in range(repeats):
        for t in threads:
            t0 = time.perf_counter()
            run(1, t)
            t1 = time.perf_counter()
            m = run(1 + iters, t)
            t2 = time.perf_counter()
            whole[t].append((t2 - t1) / iters)
            marg[t].append((t2 - t1 - (t1 - t0)) / iters)
            hist = m.history_
        for _ in range(3):
            for t in threads:
                kern[t].append(kernel(t))
    out = {t: (statistics.median(whole[t]), min(whole[t]), statistics.median(marg[t]),
               statistics.median(kern[t]), min(kern[t])) for t in threads}
    ratios = {}
    if 1 in threads and 2 in threads:
        for name, d in (("whole fit", whole), ("marginal", marg), ("kernel only", kern)):
            ratios[name] = statistics.median(a / b for a, b in zip(d[1], d[2]))
    return out, ratios, hist


def kernel_estep(X, w0, items0):
    """A function ``estep(threads)`` running one E-step of the compiled kernel alone
    (distinct rows, counts accumulated) at the start ``(w0, items0)``."""
    from emfast import _kernels
    from emfast.mixture import lca_blocks
    from emfast.data import compress_rows
    K, cards = len(w0), [t.shape[1] for t in items0]
    comp = compress_rows(X)
    rows, rw = comp.rows, comp.counts.astype(np.float64)
    S = sum(cards)
    offsets = np.concatenate([[0], np.cumsum(cards[:-1])]).astype(np.int64)
    log_items = np.ascontiguousarray(np.log(np.concatenate(items0, axis=1)).T)
    log_w = np.log(w0)
    post, ll = np.empty((len(rows), K)), np.empty(len(rows))
    status = np.empty(len(rows), dtype=np.int32)

    def estep(threads):
        _kernels.lca_estep(rows, rw, log_w, log_items, offsets, post, ll, status, np.zeros(K),
                           np.zeros((S, K)), True, lca_blocks(len(rows), S, K), threads)
    return estep


def cpu_time(X, w0, items0, threads, calls):
    """Wall and process CPU time per E-step kernel call, per thread count. Equal CPU
    time for 1 and 2 threads means no parallel overhead: a 2-thread wall time above
    half the 1-thread one is then the machine (other tenants), not the kernel."""
    estep = kernel_estep(X, w0, items0)
    for t in threads:
        w0_, c0 = time.perf_counter(), os.times()
        for _ in range(calls):
            estep(t)
        wall, c1 = time.perf_counter() - w0_, os.times()
        cpu = (c1.user - c0.user) + (c1.system - c0.system)
        print(f"threads {t}: wall {wall / calls * 1e3:.2f} ms/call, process CPU "
              f"{cpu / calls * 1e3:.2f} ms/call")


def bench_stepmix(X, w0, items0, iters, threads, repeats):
    from stepmix.stepmix import StepMix
    from threadpoolctl import threadpool_limits
    K, J = len(w0), X.shape[1]
    M = max(t.shape[1] for t in items0)
    Xf = np.where(X < 0, np.nan, X).astype(float)
    sm = StepMix(n_components=K, measurement="categorical_nan", max_iter=1, verbose=0,
                 progress_bar=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm.fit(Xf)                      # one iteration, only to build the measurement model
    params = sm.get_parameters()

    def run():
        pis = np.zeros((K, J * M))
        for j, t in enumerate(items0):
            pis[:, j * M:j * M + t.shape[1]] = t
        params["weights"] = w0.copy()
        params["measurement"]["pis"] = pis
        sm.set_parameters(params)
        Xc, _ = sm._check_x_y(Xf, None)
        traj = []
        with threadpool_limits(limits=threads):
            for _ in range(iters):          # StepMix's own EM loop body: E-step, M-step
                avg, log_resp = sm._e_step(Xc)
                traj.append(avg * len(Xc))
                sm._m_step(Xc, np.exp(log_resp))
        return traj
    med, best, traj = timed(run, repeats)
    return med / iters, best / iters, traj


def bench_pomegranate(X, w0, items0, iters, threads, repeats):
    import torch
    from pomegranate.distributions import Categorical
    from pomegranate.gmm import GeneralMixtureModel
    torch.set_num_threads(threads)
    Xt = torch.tensor(np.where(X < 0, 0, X), dtype=torch.int64)
    mask = torch.tensor(X >= 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # "MaskedTensors is in prototype stage"
        Xm = torch.masked.MaskedTensor(Xt, mask)

    def run():
        dists = [Categorical(torch.tensor(np.stack([t[k] for t in items0]), dtype=torch.float64))
                 for k in range(len(w0))]
        gmm = GeneralMixtureModel(dists, priors=torch.tensor(w0, dtype=torch.float64),
                                  max_iter=iters, tol=-np.inf)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gmm.fit(Xm)
        return gmm
    med, best, _ = timed(run, repeats)
    return med / iters, best / iters


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--categories", type=int, default=3)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--missing", type=float, default=0.10)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--peer-repeats", type=int, default=3)
    ap.add_argument("--pg-iters", type=int, default=3,
                    help="iterations per pomegranate run (it is slow; per-iteration time is quoted)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--cpu-time", type=int, default=0, metavar="CALLS",
                    help="only: run CALLS E-step kernel calls per thread count and print wall "
                         "and process CPU time per call (parallel overhead shows as extra CPU)")
    ap.add_argument("--gss", action="store_true",
                    help="also time the real GSS abortion items (45599 answering rows, 7 binary "
                         "items, 5.6%% missing cells, K=3) against StepMix")
    a = ap.parse_args()

    import emfast
    from emfast import _kernels
    X, w0, items0 = make_data(a.n, a.items, a.categories, a.classes, a.missing, a.seed)
    if a.cpu_time:
        cpu_time(X, w0, items0, a.threads, a.cpu_time)
        return
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
          f"numpy {np.__version__}")
    print(f"emfast {emfast.__version__} (openmp={_kernels.openmp_enabled()}, "
          f"max threads {_kernels.max_threads()})")
    peers = {}
    if not a.no_peers:
        for name in ("stepmix", "pomegranate", "torch"):
            try:
                mod = __import__(name)
                peers[name] = getattr(mod, "__version__", "?")
            except Exception:
                pass
    try:
        from importlib.metadata import version
        if "stepmix" in peers:
            peers["stepmix"] = version("stepmix")
        if "pomegranate" in peers:
            peers["pomegranate"] = version("pomegranate")
    except Exception:
        pass
    print("peers:", peers or "none")
    print(f"workload: n={a.n}, {a.items} items x {a.categories} categories, K={a.classes}, "
          f"{a.missing:.0%} MCAR, {a.iters} iterations, seed {a.seed}")
    print("emfast rows: whole fit (validation + compression + 11 E-steps) / 10 iterations; "
          "'marginal' = cost of one more iteration; 'kernel only' = one E-step in the kernel")
    print(f"{'library':<28}{'threads':>8}{'s/iter (median)':>18}{'best':>10}{'vs StepMix 1t':>16}")
    results = {}
    traj = {}
    em, em_ratios, traj["emfast"] = bench_emfast(X, w0, items0, a.iters, a.threads, a.repeats)
    for t in a.threads:
        med, best, marg, kmed, kbest = em[t]
        results[("emfast", t)] = (med, best)
        results[("emfast (marginal)", t)] = (marg, marg)
        results[("emfast (E-step kernel only)", t)] = (kmed, kbest)
    if "stepmix" in peers:
        for t in a.threads:
            try:
                med, best, tr = bench_stepmix(X, w0, items0, a.iters, t, a.peer_repeats)
                results[("stepmix", t)] = (med, best)
                traj["stepmix"] = tr
            except Exception as exc:  # pragma: no cover - peer API drift
                print(f"stepmix failed: {exc!r}")
    if "pomegranate" in peers:
        for t in a.threads:
            try:
                med, best = bench_pomegranate(X, w0, items0, a.pg_iters, t, a.peer_repeats)
                results[("pomegranate", t)] = (med, best)
            except Exception as exc:  # pragma: no cover - peer API drift
                print(f"pomegranate failed: {exc!r}")
                break
    ref = results.get(("stepmix", 1), (None,))[0]
    for (lib, t), (med, best) in results.items():
        ratio = f"{ref / med:.1f}x" if ref else "-"
        print(f"{lib:<28}{t:>8}{med:>18.4f}{best:>10.4f}{ratio:>16}")
    if em_ratios:
        print(f"emfast 2 threads vs 1 thread (median over {a.repeats} interleaved repeats): "
              + ", ".join(f"{v:.2f}x ({k})" for k, v in em_ratios.items()))
    if "stepmix" in traj:
        h = np.asarray(traj["emfast"][:a.iters])
        s = np.asarray(traj["stepmix"])
        print(f"log-likelihood trajectory, max relative difference emfast vs StepMix: "
              f"{np.max(np.abs(h - s) / np.abs(s)):.2e}")
    if a.gss:
        bench_gss(a, peers)


def bench_gss(a, peers):
    from pathlib import Path
    import pandas as pd
    path = Path(__file__).resolve().parents[1] / "tests" / "data" / "gss_abortion.csv.gz"
    ab = ["abany", "abdefect", "abnomore", "abhlth", "abpoor", "abrape", "absingle"]
    X = pd.read_csv(path)[ab].fillna(-1).astype(np.int32).to_numpy()
    X = np.ascontiguousarray(X[(X >= 0).any(axis=1)])   # StepMix would count all-missing rows
    rng = np.random.default_rng(a.seed)
    K = 3
    w0 = rng.dirichlet(np.full(K, 5.0))
    items0 = [rng.dirichlet(np.full(2, 5.0), size=K) for _ in ab]
    print(f"\nGSS abortion items: {X.shape[0]} rows ({len(np.unique(X, axis=0))} distinct), "
          f"7 binary items, {np.mean(X < 0):.1%} missing cells, K={K}, {a.iters} iterations")
    res = {}
    em, em_ratios, _ = bench_emfast(X, w0, items0, a.iters, a.threads, a.repeats)
    for t in a.threads:
        med, best, marg, _, _ = em[t]
        res[("emfast", t)] = (med, best)
        res[("emfast (marginal)", t)] = (marg, marg)
    if "stepmix" in peers:
        for t in a.threads:
            res[("stepmix", t)] = bench_stepmix(X, w0, items0, a.iters, t, a.peer_repeats)[:2]
    ref = res.get(("stepmix", 1), (None,))[0]
    for (lib, t), (med, best) in res.items():
        ratio = f"{ref / med:.1f}x" if ref else "-"
        print(f"{lib:<28}{t:>8}{med:>18.5f}{best:>10.5f}{ratio:>16}")


if __name__ == "__main__":
    main()
