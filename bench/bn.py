"""Benchmark: EM for Bayesian networks with missing values / a hidden variable.

emfast (1 and 2 threads) against pyAgrum (BNLearner + EM, fixed DAG, same initial
network) and pgmpy (ExpectationMaximization), on data forward-sampled from the
bnlearn networks in ../shared/data/networks.

Workloads (issue 4):
  * ALARM, n = 10,000 and 100,000 rows, 20% of all cells blanked completely at random (MCAR);
  * the same with LVEDVOLUME also hidden in every row;
  * hailfinder and win95pts (larger cliques), n = 10,000, 20% MCAR.
Every library starts from the same random network (every CPT row ~ Dirichlet(1)).

Seconds per EM iteration:
  * emfast: ``fit(init="current", tol=0)`` with max_iter = K2 and K1; per iteration =
    (t(K2) - t(K1)) / (K2 - K1), which removes the one-off compile / row-compression
    cost (reported separately as "setup").
  * pyAgrum: ``learnParameters`` with EMsetMaxIter(2) (its minimum) and, when the
    budget allows, 3; per iteration = t(3) - t(2) when both ran, else t(2) / 2.
    noise=0 so that it starts exactly from the given network; 1 thread.
  * pgmpy: ``get_parameters(max_iter=1, init_cpds=<same start>)``. pgmpy drops every row
    with a missing cell in a partially observed column, so with 20% MCAR over 37
    columns almost nothing is left; we report how many rows it kept and time it on
    those, and also time it on a workload it can take in full (LVEDVOLUME hidden, no
    other missing values) on a subset of rows, with emfast on the same rows.

Trajectory check: pyAgrum's EMHistory values are not the observed-data log-likelihood,
so we compare parameters instead: the CPTs pyAgrum returns after k iterations vs
emfast's after k iterations (max |difference|), and the log-likelihood emfast computes
for pyAgrum's network vs emfast's own history[k].

Run:  PYTHONPATH=src /work/bench-venv/bin/python bench/bn.py            (full, ~10-20 min)
      PYTHONPATH=src /work/bench-venv/bin/python bench/bn.py --quick    (small sizes)
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import emfast
from emfast import _kernels
from emfast.exceptions import ConvergenceWarning

NETWORKS = Path(os.environ.get("EMFAST_NETWORKS", "/work/shared/data/networks"))
SEED = 20261125


# ---------------------------------------------------------------------------
# workloads
# ---------------------------------------------------------------------------

def make_workload(name, n, missing, hide, seed=SEED):
    truth = emfast.read_bif(NETWORKS / f"{name}.bif.gz")
    rng = np.random.default_rng([seed, n, int(missing * 1000), len(name)])
    codes = truth.sample(n, random_state=rng)
    complete = codes.copy()
    codes[rng.random(codes.shape) < missing] = -1
    if hide:
        codes[:, truth.variables.index(hide)] = -1
    init = truth.copy()
    irng = np.random.default_rng([seed, len(name)])  # one start per network
    for v in init.variables:
        sh = tuple(init.cardinalities[p] for p in init.parents(v))
        init.cpts[v] = irng.dirichlet(np.ones(init.cardinalities[v]), size=sh)
    return truth, init, codes, complete


def median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), ts


# ---------------------------------------------------------------------------
# emfast
# ---------------------------------------------------------------------------

def emfast_fit(init, codes, max_iter, n_jobs):
    bn = init.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bn.fit(codes, init="current", max_iter=max_iter, tol=0.0, n_jobs=n_jobs)
    return bn


def time_emfast(init, codes, n_jobs, repeats, k1=1, k2=6):
    t1, _ = median_time(lambda: emfast_fit(init, codes, k1, n_jobs), repeats)
    t2, _ = median_time(lambda: emfast_fit(init, codes, k2, n_jobs), repeats)
    per_iter = (t2 - t1) / (k2 - k1)
    # fit(max_iter=k) runs k+1 E-steps and k M-steps: setup = t1 - 2 E-steps - 1 M-step
    setup = max(t1 - 2 * per_iter, 0.0)
    return per_iter, setup


# ---------------------------------------------------------------------------
# pyAgrum
# ---------------------------------------------------------------------------

def agrum_available():
    try:
        import pyagrum  # noqa: F401
        return True
    except ImportError:
        return False


def _agrum_layout(gbn, v, bn):
    """pyAgrum CPT of v as an array in emfast's layout (parents in order, child last)."""
    pot = gbn.cpt(v)
    a = np.asarray(pot.toarray())
    axes = list(pot.names)[::-1]  # toarray(): first variable of the tensor varies fastest
    return a.transpose([axes.index(x) for x in list(bn.parents(v)) + [v]])


class AgrumRunner:
    def __init__(self, init, codes, tmpdir):
        import pyagrum as gum

        self.gum = gum
        self.init = init
        init_path = Path(tmpdir) / "init.bif"
        init.write_bif(init_path)
        self.gbn = gum.loadBN(str(init_path))
        # pyAgrum's BIF reader parses probabilities as float32: set the doubles directly
        for v in init.variables:
            pot = self.gbn.cpt(v)
            axes = list(pot.names)[::-1]
            order = list(init.parents(v)) + [v]
            a = np.asarray(init.cpts[v]).transpose([order.index(x) for x in axes])
            pot.fillWith(a.ravel().tolist())
        for v in init.variables:  # the start must be the same network, bit for bit
            assert np.array_equal(_agrum_layout(self.gbn, v, init), init.cpts[v]), v
        self.csv = Path(tmpdir) / "data.csv"
        states = init.states
        with open(self.csv, "w") as fh:
            fh.write(",".join(init.variables) + "\n")
            labels = [np.asarray(states[v] + ["?"], dtype=object) for v in init.variables]
            cols = [lab[np.where(codes[:, j] < 0, len(lab) - 1, codes[:, j])]
                    for j, lab in enumerate(labels)]
            fh.writelines(",".join(r) + "\n" for r in zip(*cols))

    def run(self, iters, threads=1):
        gum = self.gum
        learner = gum.BNLearner(str(self.csv), self.gbn, ["?"])
        learner.setNumberOfThreads(threads)
        learner.useEMWithDiffCriterion(1e-300, noise=0.0)
        learner.EMsetMaxIter(iters)
        learner.EMsetVerbosity(True)
        t = time.perf_counter()
        res = learner.learnParameters(self.gbn)
        dt = time.perf_counter() - t
        return dt, res, learner.EMnbrIterations(), tuple(learner.EMHistory())

    def as_emfast(self, res):
        bn = self.init.copy()
        for v in bn.variables:
            bn.cpts[v] = _agrum_layout(res, v, bn)
        return bn


# ---------------------------------------------------------------------------
# pgmpy
# ---------------------------------------------------------------------------

def pgmpy_available():
    try:
        import pgmpy  # noqa: F401
        return True
    except ImportError:
        return False


def run_pgmpy(init, codes, hidden, max_iter=1):
    """Returns (seconds, rows kept, fitted emfast network or None)."""
    import logging

    import pandas as pd
    from pgmpy.estimators import ExpectationMaximization
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    logging.getLogger("pgmpy").setLevel(logging.ERROR)
    states = init.states
    hidden = set(hidden)
    names = {v: (list(range(init.cardinalities[v])) if v in hidden else states[v])
             for v in init.variables}
    cols = {}
    for j, v in enumerate(init.variables):
        if v in hidden:
            continue
        lab = np.asarray(list(states[v]) + [None], dtype=object)
        cols[v] = lab[np.where(codes[:, j] < 0, len(lab) - 1, codes[:, j])]
    df = pd.DataFrame(cols)
    model = DiscreteBayesianNetwork(init.edges, latents=hidden)
    model.add_nodes_from(init.variables)
    cpds = {}
    for v in init.variables:
        pa = list(init.parents(v))
        t = np.asarray(init.cpts[v]).reshape(-1, init.cardinalities[v]).T  # (card, configs)
        cpds[v] = TabularCPD(v, init.cardinalities[v], t, evidence=pa or None,
                             evidence_card=[init.cardinalities[p] for p in pa] or None,
                             state_names={x: names[x] for x in [v] + pa})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = ExpectationMaximization(
            model, df, state_names={v: names[v] for v in init.variables if v not in hidden})
        kept = int(est.data.shape[0])
        if kept == 0:
            return float("nan"), 0, None
        t = time.perf_counter()
        out = est.get_parameters(latent_card={v: init.cardinalities[v] for v in hidden},
                                 max_iter=max_iter, atol=0.0, n_jobs=1, init_cpds=cpds,
                                 show_progress=False)
        dt = time.perf_counter() - t
    fitted = init.copy()
    for cpd in out:
        v = cpd.variable
        pa = list(init.parents(v))
        vals = cpd.get_values()  # (card, configs) with evidence in cpd.variables[1:] order
        order = list(cpd.variables[1:])
        arr = vals.T.reshape([init.cardinalities[p] for p in order] + [init.cardinalities[v]])
        for ax, x in enumerate(order + [v]):  # put every axis in our state order
            pos = [list(cpd.state_names[x]).index(s) for s in names[x]]
            arr = np.take(arr, pos, axis=ax)
        arr = arr.transpose([order.index(p) for p in pa] + [len(pa)])
        fitted.cpts[v] = arr / arr.sum(-1, keepdims=True)
    return dt, kept, fitted


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def fmt(x, unit="s"):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.4g} {unit}" if unit else f"{x:.4g}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-agrum", action="store_true")
    ap.add_argument("--no-pgmpy", action="store_true")
    ap.add_argument("--agrum-max-n", type=int, default=10_000,
                    help="largest n at which pyAgrum runs (default 10000)")
    ap.add_argument("--agrum-three", action="store_true",
                    help="also run pyAgrum with 3 iterations (per-iteration by difference)")
    ap.add_argument("--agrum-others", action="store_true",
                    help="also run pyAgrum on hailfinder / win95pts")
    ap.add_argument("--pgmpy-rows", type=int, default=500,
                    help="rows for the pgmpy hidden-variable-only workload (default 500)")
    args = ap.parse_args(argv)

    sizes = [2_000, 10_000] if args.quick else [10_000, 100_000]
    repeats = 1 if args.quick else args.repeats
    print(f"emfast {emfast.__version__}, numpy {np.__version__}, python "
          f"{platform.python_version()}, {platform.machine()} {platform.processor() or ''}")
    print(f"openmp={_kernels.openmp_enabled()} max_threads={_kernels.max_threads()} "
          f"cpu_count={os.cpu_count()} (machine shared with other jobs: medians of "
          f"{repeats} repeats)")
    if agrum_available() and not args.no_agrum:
        import pyagrum
        print(f"pyAgrum {pyagrum.__version__} (1 thread)")
    if pgmpy_available() and not args.no_pgmpy:
        import pgmpy
        print(f"pgmpy {pgmpy.__version__}")
    print()

    rows = []
    tmp = tempfile.TemporaryDirectory()
    work = [("alarm", n, 0.2, hide) for n in sizes for hide in (None, "LVEDVOLUME")]
    work += [(nm, sizes[0], 0.2, None) for nm in ("hailfinder", "win95pts")]
    for name, n, missing, hide in work:
        label = f"{name} n={n:,} {int(missing * 100)}% MCAR" + (f" +{hide} hidden" if hide else "")
        truth, init, codes, _ = make_workload(name, n, missing, hide)
        t1, setup = time_emfast(init, codes, 1, repeats)
        t2, _ = time_emfast(init, codes, 2, repeats)
        row = {"workload": label, "emfast_1": t1, "emfast_2": t2, "setup": setup,
               "distinct": len(emfast.compress_rows(codes).counts)}
        print(f"{label}: {row['distinct']:,} distinct rows; emfast {fmt(t1)}/iter (1 thread), "
              f"{fmt(t2)}/iter (2 threads), speed-up {t1 / t2:.2f}x; setup {fmt(setup)}",
              flush=True)
        run_agrum = (agrum_available() and not args.no_agrum and n <= args.agrum_max_n
                     and (name == "alarm" or args.agrum_others))
        if run_agrum:
            d = Path(tmp.name) / f"{name}{n}{hide}"
            d.mkdir()
            ar = AgrumRunner(init, codes, d)
            ta2, res2, nit, hist = ar.run(2)
            per = ta2 / 2
            how = "t(2 iterations)/2"
            if args.agrum_three:
                ta3, _, _, _ = ar.run(3)
                per = ta3 - ta2
                how = "t(3) - t(2)"
            row["agrum"] = per
            ours2 = emfast_fit(init, codes, 2, 1)
            ag = ar.as_emfast(res2)
            diff = max(float(np.abs(ag.cpts[v] - ours2.cpts[v]).max()) for v in init.variables)
            ll_ag = ag.log_likelihood(codes)
            ll_ours = ours2.history_[2]
            row["traj"] = (diff, ll_ag, ll_ours)
            print(f"  pyAgrum {fmt(per)}/iter ({how}; {nit} iterations in {fmt(ta2)}); "
                  f"ratio pyAgrum/emfast(1 thread) = {per / t1:.0f}x", flush=True)
            print(f"  trajectory from the same start, after 2 iterations: max |CPT diff| = "
                  f"{diff:.2e}; log-lik of pyAgrum's network {ll_ag:.6f} vs emfast "
                  f"history[2] {ll_ours:.6f}; pyAgrum EMHistory = {hist}", flush=True)
        if pgmpy_available() and not args.no_pgmpy and name == "alarm" and n == sizes[0]:
            tp, kept, _ = run_pgmpy(init, codes, [hide] if hide else [])
            row["pgmpy_kept"] = kept
            row["pgmpy"] = tp
            row["pgmpy_partial"] = kept < n
            print(f"  pgmpy keeps {kept} of {n:,} rows (it drops rows with a missing cell); "
                  f"1 iteration on those: {fmt(tp)}", flush=True)
        rows.append(row)

    if pgmpy_available() and not args.no_pgmpy:
        n = args.pgmpy_rows
        truth, init, codes, _ = make_workload("alarm", n, 0.0, "LVEDVOLUME")
        label = f"alarm n={n:,} complete but LVEDVOLUME hidden (pgmpy keeps every row)"
        tp, kept, fitted = run_pgmpy(init, codes, ["LVEDVOLUME"], max_iter=1)
        t1, setup = time_emfast(init, codes, 1, repeats)
        ours = emfast_fit(init, codes, 1, 1)
        diff = max(float(np.abs(fitted.cpts[v] - ours.cpts[v]).max()) for v in init.variables)
        print(f"{label}: pgmpy {fmt(tp)}/iter, emfast {fmt(t1)}/iter (1 thread), ratio "
              f"{tp / t1:.0f}x; max |CPT diff| after 1 iteration from the same start: "
              f"{diff:.2e}", flush=True)
        rows.append({"workload": label, "emfast_1": t1, "emfast_2": float("nan"),
                     "setup": setup, "pgmpy": tp, "pgmpy_kept": kept})

    print("\nSummary (seconds per EM iteration; ratios = peer / emfast single thread)")
    hdr = (f"{'workload':72s} {'emfast 1T':>10s} {'emfast 2T':>10s} {'2T gain':>8s} "
           f"{'pyAgrum':>9s} {'ratio':>7s} {'pgmpy':>9s} {'ratio':>7s}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        ag, pg, e1, e2 = r.get("agrum"), r.get("pgmpy"), r["emfast_1"], r["emfast_2"]
        partial = r.get("pgmpy_partial", False)
        gain = f"{e1 / e2:.2f}" if np.isfinite(e2) else "-"
        e2s = f"{e2:.4f}" if np.isfinite(e2) else "-"
        ag_s = "-" if ag is None else f"{ag:.3g}"
        ag_r = "-" if ag is None else f"{ag / e1:.0f}x"
        if pg is None or not np.isfinite(pg):
            pg_s, pg_r = "-", "-"
        else:
            pg_s = f"{pg:.3g}" + (f"[{r['pgmpy_kept']}r]" if partial else "")
            pg_r = "n/a" if partial else f"{pg / e1:.0f}x"
        print(f"{r['workload']:72s} {e1:10.4f} {e2s:>10s} {gain:>8s} {ag_s:>9s} {ag_r:>7s} "
              f"{pg_s:>9s} {pg_r:>7s}")
    print("[Nr] = pgmpy ran on the N rows it kept (rows with a missing cell are dropped), "
          "so its ratio is not like for like.")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
