"""Benchmark: whole EM fits through the bridges (emfast.compat) against the peers.

1. pgmpy 1.x: pgmpy's own ``DiscreteEM`` against ``emfast.compat.pgmpy.DiscreteEM``, both
   passed to pgmpy's ``model.fit(data, estimator=...)`` with the same ``init_cpds`` (every
   CPD, a random start), ``max_iter`` and ``atol``, on complete rows with one latent
   variable (what pgmpy can fit): pgmpy's bundled networks (cancer with Smoker latent, as
   in pgmpy's own EM tests; asia with "either" latent; sachs with "PKA" latent) and ALARM
   with LVEDVOLUME latent. pgmpy's iterations are counted (its E-step is wrapped), the
   CPDs compared (max |difference|), and the ratio is pgmpy's whole-fit time over emfast's.
2. pyAgrum: ``BNLearner`` with ``useEM`` against ``BayesianNetwork.fit``, ALARM with 20% of
   the cells missing completely at random and LVEDVOLUME hidden, from the same random start
   handed over exactly by ``to_pyagrum`` (no BIF text in between), the same number of
   iterations; CPDs compared through ``from_pyagrum``.

Every library runs single-threaded (emfast ``n_jobs=1``). Timings are best of
``--repeats`` for emfast (fast) and one run for the peers (slow); the machine is shared.

Run (in a venv with pgmpy and pyagrum, e.g. /work/peers):
    PYTHONPATH=src /work/peers/bin/python bench/bridges.py
    PYTHONPATH=src /work/peers/bin/python bench/bridges.py --quick
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import emfast
from emfast import _kernels
from emfast.exceptions import ConvergenceWarning

SEED = 20261201


def random_start(bn, rng):
    start = bn.copy()
    for v in bn.variables:
        sh = bn.cpts[v].shape
        start.cpts[v] = rng.dirichlet(np.ones(sh[-1]), size=sh[:-1])
    return start


def label_frame(bn, codes, hidden=()):
    import pandas as pd

    cols = {}
    for j, v in enumerate(bn.variables):
        if v in hidden:
            continue
        lab = np.asarray(list(bn.states[v]) + [None], dtype=object)
        cols[v] = lab[np.where(codes[:, j] < 0, len(lab) - 1, codes[:, j])]
    return pd.DataFrame(cols)


def aligned(table, parents, like):
    """``table`` with parents ``parents`` transposed to the parent order ``like``."""
    return np.asarray(table).transpose([list(parents).index(p) for p in like] + [len(like)])


def best_of(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


# ----------------------------------------------------------------------------- pgmpy

def pgmpy_row(name, latent, n, iters, repeats, atol):
    from pgmpy.models import DiscreteBayesianNetwork
    from pgmpy.parameter_estimator import DiscreteEM as PgmpyEM
    from pgmpy.utils import get_example_model

    from emfast.compat.pgmpy import DiscreteEM, from_pgmpy, to_pgmpy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        truth = from_pgmpy(get_example_model(name))
    rng = np.random.default_rng([SEED, n, len(name)])
    codes = truth.sample(n, random_state=rng)
    df = label_frame(truth, codes, [latent])
    start = random_start(truth, rng)
    card = truth.cardinalities[latent]
    init = {c.variable: c for c in
            to_pgmpy(start, state_names={latent: list(range(card))}).get_cpds()}
    states = {v: truth.states[v] for v in truth.variables if v != latent}
    kw = dict(latent_card={latent: card}, init_cpds=init, max_iter=iters, atol=atol,
              state_names=states, show_progress=False)

    def new_model():
        m = DiscreteBayesianNetwork(truth.edges, latents={latent})
        m.add_nodes_from(truth.variables)
        return m

    theirs = PgmpyEM(batch_size=10**9, **kw)   # one batch: one E-step call per iteration
    calls = []
    orig = theirs._parallel_compute_weights
    theirs._parallel_compute_weights = lambda *a, **k: (calls.append(1), orig(*a, **k))[1]
    m_theirs = new_model()
    t = time.perf_counter()
    m_theirs.fit(df, estimator=theirs)
    t_pgmpy = time.perf_counter() - t

    def ours_fit():
        m = new_model()
        est = DiscreteEM(n_jobs=1, **kw)
        m.fit(df, estimator=est)
        return m, est

    t_ours, (m_ours, est) = best_of(ours_fit, repeats)
    diff = max(float(np.abs(m_ours.get_cpds(v).get_values()
                            - m_theirs.get_cpds(v).get_values()).max())
               for v in truth.variables)
    return {"workload": f"pgmpy {name}, n={n:,} complete, {latent} latent",
            "distinct": len(df.drop_duplicates()), "peer": t_pgmpy, "ours": t_ours,
            "iters_peer": len(calls), "iters_ours": est.n_iter_, "diff": diff}


# ----------------------------------------------------------------------------- pyAgrum

def agrum_row(n, iters, repeats, missing=0.2, hide="LVEDVOLUME"):
    import pyagrum as gum

    from emfast.compat.pyagrum import from_pyagrum, to_pyagrum

    truth = emfast.datasets.load_network("alarm")
    rng = np.random.default_rng([SEED, n, 7])
    codes = truth.sample(n, random_state=rng)
    codes[rng.random(codes.shape) < missing] = -1
    codes[:, truth.variables.index(hide)] = -1
    start = random_start(truth, rng)
    gbn = to_pyagrum(start)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        labels = [np.asarray(start.states[v] + ["?"], dtype=object) for v in start.variables]
        with open(csv, "w") as fh:
            fh.write(",".join(start.variables) + "\n")
            cols = [lab[np.where(codes[:, j] < 0, len(lab) - 1, codes[:, j])]
                    for j, lab in enumerate(labels)]
            fh.writelines(",".join(r) + "\n" for r in zip(*cols))
        learner = gum.BNLearner(str(csv), gbn, ["?"])
        learner.setNumberOfThreads(1)
        learner.useEMWithDiffCriterion(1e-300, noise=0.0)
        learner.EMsetMaxIter(iters)
        t = time.perf_counter()
        res = learner.learnParameters(gbn)
        t_agrum = time.perf_counter() - t
        n_agrum = learner.EMnbrIterations()

    def ours_fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return start.copy().fit(codes, init="current", max_iter=n_agrum, tol=0.0, n_jobs=1)

    t_ours, ours = best_of(ours_fit, repeats)
    theirs = from_pyagrum(res)
    diff = max(float(np.abs(ours.cpts[v] - aligned(theirs.cpts[v], theirs.parents(v),
                                                    ours.parents(v))).max())
               for v in truth.variables)
    return {"workload": f"pyAgrum alarm, n={n:,}, {int(missing * 100)}% MCAR + {hide} hidden",
            "distinct": len(emfast.compress_rows(codes).counts), "peer": t_agrum,
            "ours": t_ours, "iters_peer": n_agrum, "iters_ours": ours.n_iter_, "diff": diff}


# ----------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--repeats", type=int, default=5, help="emfast repeats (best of)")
    ap.add_argument("--iters", type=int, default=5, help="EM iterations for the pgmpy rows")
    ap.add_argument("--alarm-n", type=int, default=2_000,
                    help="rows for ALARM under pgmpy (its E-step is slow; default 2000)")
    ap.add_argument("--agrum-n", type=int, default=2_000, help="rows for the pyAgrum row")
    ap.add_argument("--agrum-iters", type=int, default=3)
    ap.add_argument("--no-pgmpy", action="store_true")
    ap.add_argument("--no-agrum", action="store_true")
    args = ap.parse_args(argv)
    logging.getLogger("pgmpy").setLevel(logging.ERROR)
    small = 2_000 if args.quick else 10_000
    alarm_n = 300 if args.quick else args.alarm_n
    agrum_n = 500 if args.quick else args.agrum_n
    iters = 2 if args.quick else args.iters

    print(f"emfast {emfast.__version__}, numpy {np.__version__}, python "
          f"{platform.python_version()}, {platform.machine()}; openmp="
          f"{_kernels.openmp_enabled()}, emfast n_jobs=1; cpu_count={os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    rows = []
    if not args.no_pgmpy:
        import pgmpy
        print(f"pgmpy {pgmpy.__version__}: DiscreteEM(init_cpds=<same start>, max_iter={iters}, "
              "atol=0) through model.fit, n_jobs=1", flush=True)
        work = [("cancer", "Smoker", small), ("asia", "either", small), ("sachs", "PKA", small),
                ("alarm", "LVEDVOLUME", alarm_n)]
        for name, latent, n in work:
            r = pgmpy_row(name, latent, n, iters, args.repeats, atol=0.0)
            rows.append(r)
            print(f"  {r['workload']}: pgmpy {r['peer']:.3f} s, emfast {r['ours']:.4f} s, "
                  f"{r['peer'] / r['ours']:.0f}x; iterations {r['iters_peer']} / "
                  f"{r['iters_ours']}; max |CPD diff| {r['diff']:.1e}", flush=True)
    if not args.no_agrum:
        import pyagrum
        print(f"pyAgrum {pyagrum.__version__}: BNLearner.useEM, 1 thread, EMsetMaxIter("
              f"{args.agrum_iters}), start from to_pyagrum", flush=True)
        r = agrum_row(agrum_n, args.agrum_iters, args.repeats)
        rows.append(r)
        print(f"  {r['workload']}: pyAgrum {r['peer']:.3f} s, emfast {r['ours']:.4f} s, "
              f"{r['peer'] / r['ours']:.0f}x; iterations {r['iters_peer']} / "
              f"{r['iters_ours']}; max |CPT diff| {r['diff']:.1e}", flush=True)

    print("\nSummary: whole fits from the same start, same iterations, seconds, 1 thread")
    hdr = (f"{'workload':58s} {'distinct':>8s} {'iters':>5s} {'peer':>9s} {'emfast':>9s} "
           f"{'ratio':>7s} {'max diff':>9s}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        its = f"{r['iters_peer']}" if r["iters_peer"] == r["iters_ours"] else \
            f"{r['iters_peer']}/{r['iters_ours']}"
        print(f"{r['workload']:58s} {r['distinct']:8,d} {its:>5s} {r['peer']:9.3f} "
              f"{r['ours']:9.4f} {r['peer'] / r['ours']:6.0f}x {r['diff']:9.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
