"""Time to answer: plain EM vs SQUAREM to the same tolerance, and the peers' whole fits.

Every case starts plain EM, SQUAREM and the peer from ONE shared parameter set and
runs to a tolerance (tol on the change of the mean per-row log-likelihood; for the
HMMs hmmlearn's rule, an absolute change of the total log-likelihood, with tol
given per row: tol_abs = tol x number of time steps). Reported per case and tol:
E-steps, wall time of the whole fit and final log-likelihood, for plain EM and
SQUAREM; their ratios; how many E-steps SQUAREM needed to reach plain EM's final
objective; and the peer's whole fit to the same tolerance from the same start
(hmmlearn, StepMix, pyAgrum; each capped by --peer-max-time seconds).

Cases (issue 12): W1-style HMM (1000 sequences x 1000 steps, 32 symbols, K = 4 and
16, with and without 10% missing), ALARM n = 10,000 with 20% MCAR with and without
LVEDVOLUME hidden, the 100,000 x 20 latent class workload of bench/lca.py, house
votes K = 2..4, GSS abortion K = 3, the DJIA HMM of examples/hmm_djia.py (K = 3),
and one MNAR fit (house votes K = 3, V16's missingness depending on the class).

Safeguards checked in every run: NonMonotoneEMWarning is an error (no accepted step
lowers the objective), every SQUAREM proposal that is evaluated is checked to be a
list of valid tables (finite, in [0, 1]), and every fitted table is checked
(>= 0, rows sum to 1).

Run (niced; the peers live in /work/peers):

    python setup.py build_ext --inplace -q
    PYTHONPATH=src nice -n 10 /work/peers/bin/python bench/converge.py --json converge.json
    PYTHONPATH=src python bench/converge.py --quick          # small smoke run, no peers

``--only`` selects cases by substring, ``--tols`` the tolerances, ``--no-peers`` skips
the peers.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np

import emfast
from emfast import accel as _accel
from emfast.exceptions import ConvergenceWarning, NonMonotoneEMWarning

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261125


def _bench_module(name):
    """bench/<name>.py imported by path (its generators are shared with this script)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------------
# safeguard checks
# ---------------------------------------------------------------------------

CHECKS = {"proposals": 0, "invalid_proposals": 0, "fits": 0, "invalid_fits": 0}


_PENDING = []          # the proposals of the fit being timed, checked after it


def _install_proposal_check():
    """Wrap Squarem.propose: every proposal handed to an E-step is checked, after the
    timed fit (each proposal is a fresh array the accelerator never writes again; the
    check itself, a few numpy calls per table, was ~2-3% of a millisecond-scale fit)."""
    orig = _accel.Squarem.propose
    if getattr(orig, "_checked", False):
        return

    def propose(self, theta):
        cand = orig(self, theta)
        if cand is not None:
            _PENDING.append(cand)
        return cand
    propose._checked = True
    _accel.Squarem.propose = propose


def _check_proposals():
    for cand in _PENDING:
        CHECKS["proposals"] += 1
        if not all(np.all(np.isfinite(t)) and np.all((t >= 0) & (t <= 1)) for t in cand):
            CHECKS["invalid_proposals"] += 1
    _PENDING.clear()


def _check_tables(tables):
    _check_proposals()
    CHECKS["fits"] += 1
    for t in tables:
        t = np.asarray(t, dtype=np.float64)
        if not (np.all(np.isfinite(t)) and np.all(t >= 0)
                and np.allclose(t.sum(axis=-1), 1.0, rtol=0, atol=1e-9)):
            CHECKS["invalid_fits"] += 1
            return


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------

@dataclass
class Run:
    n_estep: int
    n_iter: int
    seconds: float
    loglik: float
    objective: float
    stop: str
    stats: dict = field(default_factory=dict)
    trace_obj: list = field(default_factory=list)
    trace_estep: list = field(default_factory=list)
    trace_seconds: list = field(default_factory=list)
    trace_iterates: list = field(default_factory=list)

    def esteps_to(self, target):
        """E-steps this run needed to reach ``target`` (None if it never did)."""
        for o, s in zip(self.trace_obj, self.trace_estep):
            if o >= target:
                return int(s)
        return None


@dataclass
class PeerRun:
    name: str
    n_iter: int
    seconds: float
    loglik: float
    converged: bool
    note: str = ""


def _run_from(model, seconds, tables):
    _check_tables(tables)
    tr = model.init_histories_[0]
    return Run(int(model.n_estep_), int(model.n_iter_), seconds, float(model.log_likelihood_),
               float(model.history_[-1]), model.stop_reason_, dict(tr.stats),
               [float(x) for x in tr.objective], [int(x) for x in tr.n_estep],
               [float(x) for x in tr.seconds], [int(x) for x in tr.iterates])


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


# ---------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    family: str
    scale: float                 # rows (per-row tol) or time steps (HMM: tol_abs = tol * scale)
    fit: object                  # fit(accelerate, tol) -> Run
    peer: object = None          # peer(tol) -> PeerRun, or None
    peer_name: str = "-"


def hmm_case(K, missing, n_seq, T, args):
    bh = _bench_module("hmm")
    rng = np.random.default_rng(SEED + K)                  # bench/hmm.py's data and start
    truth = bh.sticky_hmm(rng, K, 32)
    Xseq = bh.simulate(rng, *truth, n_seq, T)
    init = (rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
            rng.dirichlet(np.ones(32), size=K))
    mask = rng.random(Xseq.shape) >= 0.10
    X = (np.where(mask, Xseq, -1) if missing else Xseq).ravel()
    lengths = np.full(n_seq, T)
    N = X.size
    return _hmm_case(f"HMM {n_seq}x{T} K={K}" + (" 10% missing" if missing else ""),
                     X, lengths, init, 32, N, args, peer_ok=not missing)


def djia_case(args):
    sys.path.insert(0, str(ROOT / "examples"))
    from djia import load_djia_symbols          # the same coding as the examples
    x, lengths, _ = load_djia_symbols()
    K = 3
    rng = np.random.default_rng(SEED)
    init = (rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
            rng.dirichlet(np.ones(3), size=K))
    return _hmm_case(f"DJIA HMM K=3 ({len(x)} days, holidays missing)", x, lengths, init, 3,
                     x.size, args, peer_ok=False)


def _hmm_case(name, X, lengths, init, M, N, args, peer_ok):
    K = len(init[0])

    def fit(accelerate, tol):
        m = emfast.CategoricalHMM(K, n_iter=args.max_iter, tol=tol * N, init_params="",
                                  n_features=M, n_jobs=args.n_jobs, accelerate=accelerate,
                                  max_time=args.max_time)
        m.startprob_, m.transmat_, m.emissionprob_ = (np.array(a) for a in init)
        _, dt = _timed(lambda: m.fit(X, lengths))
        return _run_from(m, dt, [m.startprob_, m.transmat_, m.emissionprob_])

    peer = None
    if peer_ok and _have("hmmlearn") and not args.no_peers:
        def peer(tol):
            return run_hmmlearn(X, lengths, init, tol * N, args)
    return Case(name, "hmm", float(N), fit, peer, "hmmlearn" if peer else "-")


def alarm_case(hide, args, n=10_000):
    truth = emfast.datasets.load_network("alarm")
    # bench/bn.py's recipe (same seeds), on the bundled copy of the network
    rng = np.random.default_rng([SEED, n, 200, len("alarm")])
    codes = truth.sample(n, random_state=rng)
    codes[rng.random(codes.shape) < 0.2] = -1
    if hide:
        codes[:, truth.variables.index(hide)] = -1
    init = truth.copy()
    irng = np.random.default_rng([SEED, len("alarm")])
    for v in init.variables:
        sh = tuple(init.cardinalities[p] for p in init.parents(v))
        init.cpts[v] = irng.dirichlet(np.ones(init.cardinalities[v]), size=sh)

    def fit(accelerate, tol):
        bn = init.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _, dt = _timed(lambda: bn.fit(codes, init="current", max_iter=args.max_iter,
                                          tol=tol, n_jobs=args.n_jobs, accelerate=accelerate,
                                          max_time=args.max_time))
        return _run_from(bn, dt, [bn.cpts[v] for v in bn.variables])

    peer = None
    if _have("pyagrum") and not args.no_peers and not args.no_agrum:
        def peer(tol):
            return run_agrum(init, codes, tol, args)
    name = f"ALARM n={n:,} 20% MCAR" + (f" + {hide} hidden" if hide else "")
    return Case(name, "bn", float(n), fit, peer, "pyAgrum" if peer else "-")


def _lca_fit(X, K, w0, items0, args, **kw):
    cards = [t.shape[1] for t in items0]

    def fit(accelerate, tol):
        m = emfast.LatentClassModel(K, init={"weights": w0, "item_probs": items0},
                                    max_iter=args.max_iter, tol=tol, n_jobs=args.n_jobs,
                                    n_categories=cards, accelerate=accelerate,
                                    max_time=args.max_time, random_state=SEED, **kw)
        # random_state: the start of what init does not give (the MNAR δ) is drawn from it,
        # so plain EM and SQUAREM start from the same point in every row
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _, dt = _timed(lambda: m.fit(X))
        return _run_from(m, dt, [m.weights_] + list(m.item_probs_)
                         + list(getattr(m, "missingness_", {}).values()))
    return fit


def lca_case(args, n=100_000):
    bl = _bench_module("lca")
    X, w0, items0 = bl.make_data(n, 20, 3, 4, 0.10, 12345)
    return _lca_with_peer(f"LCA n={n:,} x 20 items K=4 10% MCAR", X, 4, w0, items0, args)


def _lca_with_peer(name, X, K, w0, items0, args):
    X = np.ascontiguousarray(X[(X >= 0).any(axis=1)])      # StepMix counts all-missing rows
    peer = None
    if _have("stepmix") and not args.no_peers:
        def peer(tol):
            return run_stepmix(X, w0, items0, tol, args)
    return Case(name, "lca", float(X.shape[0]), _lca_fit(X, K, w0, items0, args), peer,
                "StepMix" if peer else "-")


def _house_votes():
    import pandas as pd
    hv = pd.read_csv(ROOT / "tests" / "data" / "house_votes_84.csv")
    votes = [f"V{i}" for i in range(1, 17)]
    return (hv[votes].apply(lambda c: c.map({"n": 0, "y": 1})).fillna(-1).astype(np.int32)
            .to_numpy())


def _start(rng, K, cards):
    return rng.dirichlet(np.full(K, 5.0)), [rng.dirichlet(np.full(m, 5.0), size=K) for m in cards]


def votes_case(K, args):
    X = _house_votes()
    w0, items0 = _start(np.random.default_rng([SEED, K]), K, [2] * X.shape[1])
    return _lca_with_peer(f"house votes LCA K={K}", X, K, w0, items0, args)


def gss_case(args):
    import pandas as pd
    ab = ["abany", "abdefect", "abnomore", "abhlth", "abpoor", "abrape", "absingle"]
    X = (pd.read_csv(ROOT / "tests" / "data" / "gss_abortion.csv.gz")[ab].fillna(-1)
         .astype(np.int32).to_numpy())
    w0, items0 = _start(np.random.default_rng([SEED, 3]), 3, [2] * len(ab))
    return _lca_with_peer("GSS abortion LCA K=3", X, 3, w0, items0, args)


def mnar_case(args):
    X = _house_votes()
    K = 3
    w0, items0 = _start(np.random.default_rng([SEED, K]), K, [2] * X.shape[1])
    fit = _lca_fit(X, K, w0, items0, args, missingness=emfast.MNAR({"item 15": ["class"]}))
    return Case("house votes LCA K=3, MNAR (V16 missingness given the class)", "lca-mnar",
                float(X.shape[0]), fit)


# ---------------------------------------------------------------------------
# peers (imported lazily)
# ---------------------------------------------------------------------------

def _have(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


def run_hmmlearn(X, lengths, init, tol_abs, args):
    from hmmlearn import hmm
    from hmmlearn.base import ConvergenceMonitor

    class Timed(ConvergenceMonitor):            # hmmlearn has no time limit: stop it here
        deadline = None

        @property
        def converged(self):
            if time.perf_counter() > self.deadline:
                return True
            return super().converged

    K = len(init[0])
    m = hmm.CategoricalHMM(n_components=K, n_iter=args.max_iter, tol=tol_abs, init_params="",
                           implementation="scaling", n_features=init[2].shape[1])
    m.startprob_, m.transmat_, m.emissionprob_ = (np.array(a) for a in init)
    m.monitor_ = Timed(tol_abs, args.max_iter, False)
    t = time.perf_counter()
    Timed.deadline = t + args.peer_max_time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X[:, None], lengths)
    dt = time.perf_counter() - t
    timed_out = time.perf_counter() > Timed.deadline
    hist = m.monitor_.history
    conv = len(hist) > 1 and hist[-1] - hist[-2] < tol_abs and not timed_out
    ll = float(m.score(X[:, None], lengths))
    return PeerRun("hmmlearn", int(m.monitor_.iter), dt, ll, conv,
                   "time cap" if timed_out else "")


def run_stepmix(X, w0, items0, tol, args):
    from stepmix.stepmix import StepMix
    K, J = len(w0), X.shape[1]
    M = max(t.shape[1] for t in items0)
    Xf = np.where(X < 0, np.nan, X).astype(float)

    class FromStart(StepMix):                   # StepMix's own fit loop, from our start
        def _initialize_parameters(self, X_, random_state):
            super()._initialize_parameters(X_, random_state)
            params = self.get_parameters()
            pis = np.zeros((K, J * M))
            for j, t in enumerate(items0):
                pis[:, j * M:j * M + t.shape[1]] = t
            params["weights"] = np.array(w0)
            params["measurement"]["pis"] = pis
            self.set_parameters(params)

    sm = FromStart(n_components=K, measurement="categorical_nan", max_iter=args.max_iter,
                   abs_tol=tol, rel_tol=0.0, verbose=0, progress_bar=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, dt = _timed(lambda: sm.fit(Xf))
    # its lower bound is the mean log-likelihood per row of the returned parameters
    ll = float(sm.score(Xf)) * X.shape[0]
    return PeerRun("StepMix", int(sm.n_iter_), dt, ll, bool(sm.converged_))


def run_agrum(init, codes, tol, args):
    bb = _bench_module("bn")
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        ar = bb.AgrumRunner(init, codes, d)
        gum = ar.gum
        learner = gum.BNLearner(str(ar.csv), ar.gbn, ["?"])
        learner.setNumberOfThreads(1)
        # pyAgrum's own stopping rule: change of its log-likelihood below epsilon; we give
        # it the per-row tol times the rows, and its own time limit (seconds, checked
        # between iterations, although its docstring says milliseconds)
        learner.useEMWithDiffCriterion(tol * codes.shape[0], noise=0.0)
        learner.EMsetMaxIter(args.max_iter)
        learner.EMsetMaxTime(float(args.peer_max_time))
        t = time.perf_counter()
        res = learner.learnParameters(ar.gbn)
        dt = time.perf_counter() - t
        n_it = int(learner.EMnbrIterations())
        msg = str(learner.EMStateMessage())
        ll = float(ar.as_emfast(res).log_likelihood(codes))
    conv = "time" not in msg.lower() and n_it < args.max_iter
    return PeerRun("pyAgrum", n_it, dt, ll, conv, "" if conv else msg)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def build_cases(args):
    """(name, maker) pairs; ``--only`` filters on the name before any data is made."""
    if args.quick:
        return [("HMM quick", lambda: hmm_case(4, False, 50, 200, args)),
                ("HMM quick missing", lambda: hmm_case(4, True, 50, 200, args)),
                ("house votes LCA K=3", lambda: votes_case(3, args)),
                ("house votes MNAR", lambda: mnar_case(args))]
    cases = []
    for K in (4, 16):
        for missing in (False, True):
            cases.append((f"HMM 1000x1000 K={K}" + (" 10% missing" if missing else ""),
                          lambda K=K, missing=missing: hmm_case(K, missing, 1000, 1000, args)))
    cases += [("ALARM 20% MCAR", lambda: alarm_case(None, args)),
              ("ALARM 20% MCAR + LVEDVOLUME hidden", lambda: alarm_case("LVEDVOLUME", args)),
              ("LCA n=100,000", lambda: lca_case(args))]
    cases += [(f"house votes LCA K={K}", lambda K=K: votes_case(K, args)) for K in (2, 3, 4)]
    cases += [("GSS abortion LCA K=3", lambda: gss_case(args)),
              ("DJIA HMM K=3", lambda: djia_case(args)),
              ("house votes LCA K=3, MNAR", lambda: mnar_case(args))]
    return cases


SQUAREM = "squarem"     # or a configured emfast.accel.Squarem (--step-max0, --mstep)


def _fit_twice(case, tol, short=0.5, budget=1.0, repeats=(5, 101)):
    """Plain EM and SQUAREM from the same start; a fit shorter than ``short`` seconds is
    repeated (plain and SQUAREM interleaved) and its median wall time kept (the fits are
    deterministic: everything else is the same). The number of repeats fills about
    ``budget`` seconds per method, within ``repeats`` (min, max): a few-millisecond fit
    timed 5 times moved its time ratio by +-10% from run to run on the shared 2-core
    machine (house votes K = 3 at 1e-6: 0.87x, 0.93x, 0.97x in three runs)."""
    plain, sq = case.fit(None, tol), case.fit(SQUAREM, tol)
    longest = max(plain.seconds, sq.seconds)
    if longest < short:
        n = min(repeats[1], max(repeats[0], int(budget / max(longest, 1e-6))))
        tp, ts = [plain.seconds], [sq.seconds]
        for _ in range(n - 1):
            tp.append(case.fit(None, tol).seconds)
            ts.append(case.fit(SQUAREM, tol).seconds)
        plain.seconds, sq.seconds = statistics.median(tp), statistics.median(ts)
    return plain, sq


def _fmt_ll(x):
    return f"{x:.6f}" if abs(x) < 1e5 else f"{x:.4f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny cases, tol 1e-6, no peers")
    ap.add_argument("--tols", type=float, nargs="+", default=[1e-6, 1e-8])
    ap.add_argument("--only", nargs="+", help="run the cases whose name contains one of these")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-agrum", action="store_true", help="skip pyAgrum (~1 min/iteration)")
    ap.add_argument("--peer-max-time", type=float, default=600.0,
                    help="seconds a peer fit may run (default 600)")
    ap.add_argument("--max-iter", type=int, default=20_000)
    ap.add_argument("--max-time", type=float, default=1800.0,
                    help="seconds an emfast fit may run (default 1800)")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--step-max0", type=float, default=1.0,
                    help="SQUAREM's initial step cap (emfast.accel.Squarem step_max0)")
    ap.add_argument("--mstep", type=float, default=4.0,
                    help="SQUAREM's cap growth factor (emfast.accel.Squarem mstep)")
    args = ap.parse_args(argv)
    if args.quick:
        args.tols = [1e-6]
        args.no_peers = True
    global SQUAREM
    if (args.step_max0, args.mstep) != (1.0, 4.0):
        from emfast.accel import Squarem
        SQUAREM = Squarem(step_max0=args.step_max0, mstep=args.mstep)
    warnings.simplefilter("error", NonMonotoneEMWarning)
    _install_proposal_check()
    from emfast import _kernels
    print(f"machine: {platform.platform()} | cpus={os.cpu_count()} | python "
          f"{platform.python_version()} | numpy {np.__version__} | emfast {emfast.__version__} "
          f"openmp={_kernels.openmp_enabled()} n_jobs={args.n_jobs} | SQUAREM step_max0="
          f"{args.step_max0:g} mstep={args.mstep:g}")
    if not args.no_peers:
        from importlib.metadata import version
        have = {p: version(p) for p in ("hmmlearn", "stepmix", "pyagrum") if _have(p)}
        print("peers:", have or "none", f"(1 thread, capped at {args.peer_max_time:g} s)")
    try:
        print(f"load average at start: {os.getloadavg()}")
    except OSError:
        pass
    rows = []
    for hint, make in build_cases(args):
        if args.only and not any(s.lower() in hint.lower() for s in args.only):
            continue
        case = make()
        capped = None      # a peer run stopped by the time cap at a looser tol
        capped_tol = None
        for tol in sorted(args.tols, reverse=True):
            plain, sq = _fit_twice(case, tol)
            peer = None
            if capped is not None:
                # a tighter tol would have stopped no earlier: the same (deterministic) run
                peer = PeerRun(capped.name, capped.n_iter, capped.seconds, capped.loglik,
                               False, capped.note + f" (the tol={capped_tol:g} run)")
            elif case.peer is not None:
                peer = case.peer(tol)
                if not peer.converged and peer.seconds >= 0.95 * args.peer_max_time:
                    capped, capped_tol = peer, tol
            row = {"case": case.name, "family": case.family, "tol": tol,
                   "plain": plain.__dict__, "squarem": sq.__dict__,
                   "peer": None if peer is None else peer.__dict__,
                   "sq_esteps_to_plain": sq.esteps_to(plain.objective),
                   "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
            rows.append(row)
            _print_row(row, case)
    _print_table(rows)
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "checks": CHECKS, "argv": sys.argv[1:]}, fh, indent=1)
    return 0


def _print_row(row, case):
    p, s, pe = row["plain"], row["squarem"], row["peer"]
    st = s["stats"]
    print(f"\n{case.name}  tol={row['tol']:g}")
    print(f"  plain EM : {p['n_estep']:6d} E-steps {p['seconds']:9.2f} s  ll {_fmt_ll(p['loglik'])}"
          f"  ({p['stop']})")
    print(f"  SQUAREM  : {s['n_estep']:6d} E-steps {s['seconds']:9.2f} s  ll {_fmt_ll(s['loglik'])}"
          f"  ({s['stop']}; accepted {st.get('accepted')}, rejected {st.get('rejected')}, "
          f"infeasible {st.get('infeasible')}, shrunk {st.get('shrunk')}, max step "
          f"{st.get('max_alpha', 1):.3g})")
    if pe is not None:
        print(f"  {pe['name']:9s}: {pe['n_iter']:6d} iters   {pe['seconds']:9.2f} s  ll "
              f"{_fmt_ll(pe['loglik'])}  ({'converged' if pe['converged'] else pe['note']})")
    sys.stdout.flush()


def _print_table(rows):
    if not rows:
        return
    hdr = ("| case | tol | EM E-steps | SQ E-steps | E-step ratio | EM s | SQ s | time ratio | "
           "EM final ll | SQ - EM ll | SQ E-steps to EM ll | peer: iters, s, ll - EM ll | "
           "peer s / SQ s |")
    print("\n" + hdr)
    print("|" + " --- |" * (hdr.count("|") - 1))
    ratios_e, ratios_t, worse = [], [], []
    for r in rows:
        p, s, pe = r["plain"], r["squarem"], r["peer"]
        re_, rt = p["n_estep"] / s["n_estep"], p["seconds"] / s["seconds"]
        ratios_e.append(re_)
        ratios_t.append(rt)
        d = s["objective"] - p["objective"]
        if d < -1e-8 * abs(p["objective"]):
            worse.append(r["case"] + f" tol={r['tol']:g}")
        to = r["sq_esteps_to_plain"]
        if pe is None:
            peer_s, peer_r = "-", "-"
        else:
            flag = "" if pe["converged"] else " (not converged: " + (pe["note"] or "cap") + ")"
            peer_s = (f"{pe['name']}: {pe['n_iter']}, {pe['seconds']:.3g} s, "
                      f"{pe['loglik'] - p['loglik']:+.3g}{flag}")
            peer_r = f"{pe['seconds'] / s['seconds']:.3g}x"
        print(f"| {r['case']} | {r['tol']:g} | {p['n_estep']} | {s['n_estep']} | {re_:.2f}x | "
              f"{p['seconds']:.3g} | {s['seconds']:.3g} | {rt:.2f}x | {_fmt_ll(p['loglik'])} | "
              f"{s['loglik'] - p['loglik']:+.3g} | {to if to is not None else 'never'} | "
              f"{peer_s} | {peer_r} |")
    print(f"\nmedian E-step ratio (plain / SQUAREM) {statistics.median(ratios_e):.2f}x, "
          f"median wall-time ratio {statistics.median(ratios_t):.2f}x, worst wall-time ratio "
          f"{min(ratios_t):.2f}x over {len(rows)} rows")
    reach = [r["plain"]["n_estep"] / r["sq_esteps_to_plain"] for r in rows
             if r["sq_esteps_to_plain"]]
    if reach:
        print(f"E-steps SQUAREM needed to reach plain EM's final objective: median ratio "
              f"{statistics.median(reach):.2f}x (range {min(reach):.2f}x..{max(reach):.2f}x; "
              f"never reached in {len(rows) - len(reach)} of {len(rows)} rows)")
    print("SQUAREM ended below plain EM - 1e-8 |LL| in: " + (", ".join(worse) or "no case"))
    print(f"safeguards: {CHECKS['proposals']} proposals evaluated, "
          f"{CHECKS['invalid_proposals']} invalid; {CHECKS['fits']} fits, "
          f"{CHECKS['invalid_fits']} with an invalid table; NonMonotoneEMWarning is an error "
          "(no accepted step lowered the objective)")


if __name__ == "__main__":
    sys.exit(main())
