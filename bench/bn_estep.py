"""Time emfast's Bayesian-network E-step kernel and EM iterations (no peers).

Workload of issue 4: a network from ../shared/data/networks, forward-sampled n rows,
20% of all cells blanked completely at random (optionally one variable fully hidden).
Prints median / best seconds per E-step and per EM iteration (E-step + M-step) for
1 and 2 threads. The peer comparison (pyAgrum, pgmpy) lives in bench/bn.py. Process CPU time is printed
too: on a shared machine wall time includes waiting for a core; with 2 threads the
CPU time is the sum over both threads (close to the 1-thread CPU time = no overhead).

    PYTHONPATH=src python bench/bn_estep.py [--networks alarm,hailfinder,win95pts]
        [--n 10000,100000] [--hide LVEDVOLUME] [--repeats 5]
"""
import argparse
import os
import platform
import resource
import time
import warnings

import numpy as np

import emfast as em
from emfast import _kernels
from emfast.exceptions import ConvergenceWarning
from emfast import read_bif

HERE = os.path.dirname(os.path.abspath(__file__))
NETWORKS = os.environ.get("EMFAST_NETWORKS",
                          os.path.join(HERE, "..", "..", "shared", "data", "networks"))


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--networks", default="alarm,hailfinder,win95pts")
    ap.add_argument("--n", default="10000,100000")
    ap.add_argument("--hide", default="", help="variable to hide completely (alarm: LVEDVOLUME)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--missing", type=float, default=0.2)
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
          f"python {platform.python_version()} numpy {np.__version__} emfast {em.__version__} "
          f"openmp={_kernels.openmp_enabled()} max_threads={_kernels.max_threads()}")
    threads = [int(t) for t in args.threads.split(",")]
    for name in args.networks.split(","):
        path = os.path.join(NETWORKS, f"{name}.bif.gz")
        bn = read_bif(path)
        t0 = time.perf_counter()
        comp = bn._tree()
        tc = time.perf_counter() - t0
        tr = comp.tree
        print(f"\n{name}: {len(bn.variables)} variables, {tr.n_cliques} cliques, largest clique "
              f"{int(tr.clq_size.max())} entries, total {int(tr.clq_size.sum())}; compile {tc:.3f}s")
        for n in [int(x) for x in args.n.split(",")]:
            rng = np.random.default_rng(12345)
            X = bn.sample(n, random_state=rng)
            X[rng.random(X.shape) < args.missing] = -1
            if args.hide and args.hide in bn.variables:
                X[:, bn.variables.index(args.hide)] = -1
            cr = em.compress_rows(X)
            w = cr.counts.astype(np.float64)
            start = bn.copy()
            for v in bn.variables:      # one shared random start: rows ~ Dirichlet(1)
                sh = bn.cpts[v].shape
                start.cpts[v] = rng.dirichlet(np.ones(sh[-1]), size=sh[:-1])
            theta = start._theta()
            tg = comp.targets()
            base = {}
            for th in threads:
                ts, cs = [], []
                for _ in range(args.repeats):
                    c0 = _cpu()
                    t0 = time.perf_counter()
                    comp.infer(cr.rows, w, theta, tg, th, do_counts=True)
                    ts.append(time.perf_counter() - t0)
                    cs.append(_cpu() - c0)
                fit_t = []
                for _ in range(max(1, args.repeats // 2)):
                    tk = {}
                    for k in (1, 4):
                        b = start.copy()
                        t0 = time.perf_counter()
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", ConvergenceWarning)
                            b.fit(X, init="current", max_iter=k, tol=0, n_jobs=th)
                        tk[k] = time.perf_counter() - t0
                    # per EM iteration (E-step + M-step), the one-off setup (validation,
                    # row compression) cancels in the difference
                    fit_t.append((tk[4] - tk[1]) / 3)
                med = float(np.median(ts))
                base.setdefault("e", med)
                print(f"  n={n:>7} distinct={len(cr.rows):>7} threads={th}: E-step median "
                      f"{med:.4f}s best {min(ts):.4f}s (process CPU {np.median(cs):.4f}s); "
                      f"EM iteration (fit) median "
                      f"{np.median(fit_t):.4f}s; speed-up vs {threads[0]} thread "
                      f"{base['e'] / med:.2f}x")


if __name__ == "__main__":
    main()
