"""Whole fits with emfast.normalize's compiled kernel against its numpy path, A/B in one process.

The compiled normalisation (``_kernels.normalize_rows``) gives the same bits as the
numpy path it bypasses, so both arms of each pair run the same iterations (checked:
same E-step counts and log-likelihoods). The small rows of bench/converge.py (house
votes K = 2..4, GSS abortion, the DJIA HMM, house votes MNAR), plain EM and SQUAREM,
at tol 1e-6 and 1e-8; each pair alternates the two arms, the ratio printed is the
median of the paired ratios (numpy path / kernel).

    PYTHONPATH=src python bench/normalize_ab.py [--repeats 15]

Timings are medians on a shared machine; the load average is printed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import emfast.em as em

sys.path.insert(0, str(Path(__file__).resolve().parent))
import converge  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    cargs = argparse.Namespace(max_iter=100_000, n_jobs=1, max_time=None, no_peers=True,
                               peer_max_time=120)
    cases = [lambda: converge.votes_case(2, cargs), lambda: converge.votes_case(3, cargs),
             lambda: converge.votes_case(4, cargs), lambda: converge.gss_case(cargs),
             lambda: converge.djia_case(cargs), lambda: converge.mnar_case(cargs)]
    compiled = em._normalize_compiled
    print("load average at start:", os.getloadavg())
    print("case | tol | method | E-steps | kernel ms | numpy path ms | numpy / kernel")
    for make in cases:
        case = make()
        for tol in (1e-6, 1e-8):
            for method in (None, "squarem"):
                tk, tn, runs = [], [], []
                try:
                    for _ in range(args.repeats):
                        em._normalize_compiled = compiled
                        a = case.fit(method, tol)
                        em._normalize_compiled = lambda *a: None
                        b = case.fit(method, tol)
                        tk.append(a.seconds)
                        tn.append(b.seconds)
                        runs.append((a, b))
                finally:
                    em._normalize_compiled = compiled
                for a, b in runs:
                    if (a.n_estep, a.loglik) != (b.n_estep, b.loglik):
                        raise SystemExit(f"{case.name}: the two paths differ: {a.n_estep} / "
                                         f"{b.n_estep} E-steps, {a.loglik!r} / {b.loglik!r}")
                ratio = statistics.median(n / k for k, n in zip(tk, tn))
                print(f"{case.name} | {tol:g} | {method or 'plain EM'} | {runs[0][0].n_estep} | "
                      f"{statistics.median(tk) * 1e3:.3f} | {statistics.median(tn) * 1e3:.3f} | "
                      f"{ratio:.2f}x", flush=True)
    print("load average at the end:", os.getloadavg())


if __name__ == "__main__":
    main()
