"""Whole fits with a compiled step against the numpy code it replaced, A/B in one process.

``--part normalize`` (default): emfast.normalize's kernel (``_kernels.normalize_rows``)
against its numpy path, which gives the same bits, so both arms of each pair run the
same iterations (checked: same E-step counts and log-likelihoods).

``--part log_tables``: the latent class E-step's log tables (``_kernels.lca_log_tables``,
the C library's ``log``) against the numpy version they replaced (``np.errstate``, two
``np.log``, a concatenation and a transposed copy, kept below). The two ``log`` differ in
the last bit on a few values in a thousand, so the check is: same E-step counts and
log-likelihoods equal to 1e-12 relative. Only the latent class rows use it.

The small rows of bench/converge.py (house votes K = 2..4, GSS abortion, the DJIA HMM,
house votes MNAR), plain EM and SQUAREM, at tol 1e-6 and 1e-8; each pair alternates the
two arms, the ratio printed is the median of the paired ratios (old / compiled).

    PYTHONPATH=src python bench/normalize_ab.py [--repeats 15] [--part log_tables]

Timings are medians on a shared machine; the load average is printed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np

import emfast.em as em
import emfast.mixture as mixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
import converge  # noqa: E402


def _numpy_log_tables(theta):
    """The numpy version of emfast.mixture._log_tables (before 2026-12-03 10:40)."""
    with np.errstate(divide="ignore"):
        log_w = np.ascontiguousarray(np.log(theta[0]), dtype=np.float64)
        log_items = np.ascontiguousarray(
            np.log(np.concatenate(theta[1:], axis=1)).T, dtype=np.float64)
    return log_w, log_items


def _parts():
    """part -> (use the compiled step, use the old one, same bits?, case filter)."""
    compiled_norm = em._normalize_compiled
    compiled_log = mixture._log_tables

    def norm_new():
        em._normalize_compiled = compiled_norm

    def norm_old():
        em._normalize_compiled = lambda *a: None

    def log_new():
        mixture._log_tables = compiled_log

    def log_old():
        mixture._log_tables = _numpy_log_tables
    return {"normalize": (norm_new, norm_old, True, lambda name: True),
            "log_tables": (log_new, log_old, False,
                           lambda name: "LCA" in name and "MNAR" not in name)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--part", choices=("normalize", "log_tables"), default="normalize")
    args = ap.parse_args(argv)
    cargs = argparse.Namespace(max_iter=100_000, n_jobs=1, max_time=None, no_peers=True,
                               peer_max_time=120)
    cases = [lambda: converge.votes_case(2, cargs), lambda: converge.votes_case(3, cargs),
             lambda: converge.votes_case(4, cargs), lambda: converge.gss_case(cargs),
             lambda: converge.djia_case(cargs), lambda: converge.mnar_case(cargs)]
    new, old, exact, wanted = _parts()[args.part]
    print("load average at start:", os.getloadavg())
    print(f"part: {args.part}")
    print("case | tol | method | E-steps | compiled ms | old ms | old / compiled")
    for make in cases:
        case = make()
        if not wanted(case.name):
            continue
        for tol in (1e-6, 1e-8):
            for method in (None, "squarem"):
                tk, tn, runs = [], [], []
                try:
                    for _ in range(args.repeats):
                        new()
                        a = case.fit(method, tol)
                        old()
                        b = case.fit(method, tol)
                        tk.append(a.seconds)
                        tn.append(b.seconds)
                        runs.append((a, b))
                finally:
                    new()
                for a, b in runs:
                    same = (a.loglik == b.loglik if exact
                            else abs(a.loglik - b.loglik) <= 1e-12 * abs(b.loglik))
                    if a.n_estep != b.n_estep or not same:
                        raise SystemExit(f"{case.name}: the two arms differ: {a.n_estep} / "
                                         f"{b.n_estep} E-steps, {a.loglik!r} / {b.loglik!r}")
                ratio = statistics.median(n / k for k, n in zip(tk, tn))
                print(f"{case.name} | {tol:g} | {method or 'plain EM'} | {runs[0][0].n_estep} | "
                      f"{statistics.median(tk) * 1e3:.3f} | {statistics.median(tn) * 1e3:.3f} | "
                      f"{ratio:.2f}x", flush=True)
    print("load average at the end:", os.getloadavg())


if __name__ == "__main__":
    main()
