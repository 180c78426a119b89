"""What SQUAREM costs besides E-steps, on the small rows of bench/converge.py.

For each case and tolerance, plain EM and SQUAREM fits from the same start are run
alternately ``--repeats`` times; the medians of each part of a fit are printed: the
time outside ``run_em`` (validation, row compression, set-up; the same for both), the
E-steps, the M-steps, and what is left in ``run_em`` (the driver, and for SQUAREM the
accelerator), with the accelerator's time per ``Squarem.propose`` call.

``--against OTHER/accel.py`` times another version of ``emfast.accel`` (e.g. the file
from an older commit: ``git show HEAD~1:src/emfast/accel.py > /tmp/old_accel.py``) in
the same process, alternating with this one fit by fit, and prints the median of the
paired ratios of SQUAREM wall time (this / other) per row (each repeat times the other
version between two fits of this one, and pairs it with the second). Both versions must
give the same E-step counts and log-likelihoods (checked).

    PYTHONPATH=src python bench/accel_overhead.py
    PYTHONPATH=src python bench/accel_overhead.py --against /tmp/old_accel.py --repeats 15

Timings are medians on a shared machine; the load average is printed.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import emfast.accel as accel
import emfast.em as em

HERE = Path(__file__).resolve().parent


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod              # before exec: dataclasses look the module up
    spec.loader.exec_module(mod)
    return mod


def _instrument(parts):
    """Wrap run_em where the estimators call it (``emfast._base``) so that the E- and
    M-step times and the whole run_em add up in ``parts``."""
    inner = em.run_em
    pc = time.perf_counter

    def run_em(estep, mstep, theta0, **kw):
        def e(th):
            t = pc()
            r = estep(th)
            parts["estep"] += pc() - t
            return r

        def m(c):
            t = pc()
            r = mstep(c)
            parts["mstep"] += pc() - t
            return r
        t = pc()
        r = inner(e, m, theta0, **kw)
        parts["run_em"] += pc() - t
        return r
    import emfast._base as base
    base.run_em = run_em


def _time_propose(cls, parts):
    inner = cls.propose

    def propose(self, theta):
        t = time.perf_counter()
        r = inner(self, theta)
        parts["propose"] += time.perf_counter() - t
        parts["n_propose"] += 1
        return r
    cls.propose = propose


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", default=["house votes", "GSS", "DJIA"],
                    help="case names (substrings) from bench/converge.py")
    ap.add_argument("--tols", type=float, nargs="+", default=[1e-6, 1e-8])
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--against", help="another emfast/accel.py to A/B against this one")
    args = ap.parse_args(argv)
    sys.argv = sys.argv[:1]
    cv = _load(HERE / "converge.py", "_converge")
    ns = argparse.Namespace(max_iter=20_000, n_jobs=1, max_time=None, no_peers=True,
                            no_agrum=True, quick=False)
    makers = [(n, mk) for n, mk in cv.build_cases(ns) if any(k in n for k in args.only)]
    parts = dict.fromkeys(("estep", "mstep", "run_em", "propose", "n_propose"), 0.0)
    _instrument(parts)
    versions = {"this": accel}
    if args.against:
        versions["other"] = _load(args.against, "emfast._other_accel")
    for mod in versions.values():
        _time_propose(mod.Squarem, parts)
    which = {"v": accel}
    em.make_accelerator = lambda acc: None if acc is None else which["v"].Squarem()
    print(f"load average at start: {os.getloadavg()}")
    print("case | tol | E-steps plain / SQUAREM | fit ms plain / SQUAREM | outside run_em | "
          "E-steps ms | M-steps ms | driver (+ accelerator) ms | us per propose"
          + (" | SQUAREM this / other (paired median)" if args.against else ""))
    for name, mk in makers:
        case = mk()
        for tol in args.tols:
            rec = {}
            ratios = []
            for _ in range(args.repeats):
                for label, acc in (("plain", None), ("sq", "squarem")):
                    parts.update(dict.fromkeys(parts, 0.0))
                    which["v"] = accel
                    t = time.perf_counter()
                    run = case.fit(acc, tol)
                    total = time.perf_counter() - t
                    rest = parts["run_em"] - parts["estep"] - parts["mstep"]
                    per = parts["propose"] / parts["n_propose"] if parts["n_propose"] else 0.0
                    rec.setdefault(label, []).append(
                        (total, total - parts["run_em"], parts["estep"], parts["mstep"], rest,
                         per, run))
                if args.against:          # the other version, then this one again
                    which["v"] = versions["other"]
                    other = case.fit("squarem", tol)
                    which["v"] = accel
                    this = case.fit("squarem", tol)
                    if (other.n_estep, other.loglik) != (this.n_estep, this.loglik):
                        raise SystemExit(f"{name} tol={tol}: the two versions differ: "
                                         f"{(this.n_estep, this.loglik)} against "
                                         f"{(other.n_estep, other.loglik)}")
                    ratios.append(this.seconds / other.seconds)
            med = {k: [statistics.median(r[i] for r in v) for i in range(6)]
                   for k, v in rec.items()}
            p, s = med["plain"], med["sq"]
            n_p, n_s = rec["plain"][0][-1].n_estep, rec["sq"][0][-1].n_estep
            row = (f"{name} | {tol:g} | {n_p} / {n_s} | {p[0] * 1e3:.3f} / {s[0] * 1e3:.3f} | "
                   f"{p[1] * 1e3:.3f} / {s[1] * 1e3:.3f} | {p[2] * 1e3:.3f} / {s[2] * 1e3:.3f} | "
                   f"{p[3] * 1e3:.3f} / {s[3] * 1e3:.3f} | {p[4] * 1e3:.3f} / {s[4] * 1e3:.3f} | "
                   f"{s[5] * 1e6:.1f}")
            if ratios:
                row += f" | {statistics.median(ratios):.3f}"
            print(row, flush=True)
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
