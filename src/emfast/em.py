"""The EM driver shared by every model.

A model hands the driver two pure functions over a *list of arrays* θ:

* ``estep(theta) -> (counts, loglik)``: expected counts with the shapes of
  ``theta`` and the log-likelihood **of theta itself**;
* ``mstep(counts) -> theta``: usually :func:`normalize`.

The driver knows nothing else about the model. Iteration ``t`` runs the
E-step at θ_t, reports its log-likelihood to a :class:`ConvergenceMonitor` and,
unless converged, runs the M-step. If the tolerance test passes we stop
*before* the M-step, so the returned log-likelihood belongs to the returned
parameters. If the budget runs out we stop after the M-step and run one more
E-step, only to score the returned parameters. ``max_iter=1`` therefore means
exactly one E-step and one M-step (plus that scoring pass).
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .exceptions import ConvergenceWarning, NonMonotoneEMWarning

__all__ = ["normalize", "run_em", "EMResult", "ConvergenceMonitor", "fit_with_restarts",
           "dirichlet_log_prior"]

_MONOTONE_RTOL = 1e-8


def normalize(counts, pseudocount=0.0):
    """The universal M-step: add Dirichlet pseudocounts, normalise the last axis.

    Parameters
    ----------
    counts : ndarray or list of ndarray
        Expected counts; each table's last axis is the child variable.
    pseudocount : float or list, default=0
        Added to every cell before normalising (a Dirichlet prior with
        concentration ``pseudocount + 1``; 0 = maximum likelihood). A list
        gives one value (scalar or broadcastable array) per table. Must be
        non-negative.

    Returns
    -------
    ndarray or list of ndarray
        Tables of the same shapes whose last axis sums to 1. A parent
        configuration whose total (counts plus pseudocounts) is zero becomes a
        uniform row, never NaN.
    """
    single = isinstance(counts, np.ndarray)
    tables = [counts] if single else list(counts)
    if isinstance(pseudocount, (list, tuple)):
        if len(pseudocount) != len(tables):
            raise ValueError(f"pseudocount has {len(pseudocount)} entries for {len(tables)} "
                             "count tables.")
        pcs = list(pseudocount)
    else:
        pcs = [pseudocount] * len(tables)
    out = []
    for k, (c, a) in enumerate(zip(tables, pcs)):
        c = np.asarray(c, dtype=np.float64)
        if c.ndim == 0:
            raise ValueError(f"counts[{k}] is a scalar; every table needs a child axis.")
        a = np.asarray(a, dtype=np.float64)
        if np.any(a < 0) or not np.all(np.isfinite(a)):
            raise ValueError(f"pseudocount for table {k} must be finite and >= 0; got {a!r}.")
        if np.any(c < 0) or not np.all(np.isfinite(c)):
            bad = np.argwhere(~(np.isfinite(c) & (c >= 0)))[0]
            raise ValueError(f"counts[{k}] has an invalid value {float(c[tuple(bad)])!r} at index "
                             f"{tuple(int(i) for i in bad)}; expected counts must be finite and >= 0.")
        t = c + a
        tot = t.sum(axis=-1, keepdims=True)
        zero = tot <= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(zero, 1.0 / t.shape[-1], t / np.where(zero, 1.0, tot))
        out.append(t)
    return out[0] if single else out


def dirichlet_log_prior(theta: Sequence[np.ndarray], pseudocount) -> float:
    """``Σ pseudocount · log θ``: the log Dirichlet prior (up to a constant) that
    :func:`normalize` maximises together with the log-likelihood (MAP-EM)."""
    if isinstance(pseudocount, (list, tuple)):
        pcs = list(pseudocount)
    else:
        pcs = [pseudocount] * len(theta)
    total = 0.0
    for t, a in zip(theta, pcs):
        a = np.broadcast_to(np.asarray(a, dtype=np.float64), np.shape(t))
        if not np.any(a):
            continue
        with np.errstate(divide="ignore"):
            total += float(np.sum(np.where(a > 0, a * np.log(t), 0.0)))
    return total


class ConvergenceMonitor:
    """Track the EM objective, test convergence and check monotonicity.

    Parameters
    ----------
    tol : float
        Stop when ``(ll_t - ll_{t-1}) / scale < tol``.
    n_iter : int
        Iteration budget (number of M-steps).
    verbose : bool
        Show progress (tqdm when installed, plain lines on stderr otherwise).
    scale : float, default=1
        Divides log-likelihood changes before the tol test (number of rows for
        a per-row tolerance, 1 for hmmlearn's total-log-likelihood rule).

    Attributes
    ----------
    history : list of float
        Objective after every E-step, in order.
    iter : int
        Number of E-steps reported.
    """

    def __init__(self, tol: float, n_iter: int, verbose: bool = False, scale: float = 1.0,
                 desc: str = "EM"):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.scale = scale
        self.desc = desc
        self.history: list[float] = []
        self.iter = 0
        self._t_last = time.perf_counter()
        self._bar = None

    def __repr__(self):
        return (f"ConvergenceMonitor(tol={self.tol}, n_iter={self.n_iter}, iter={self.iter}, "
                f"converged={self.converged})")

    def _reset(self):
        self.history = []
        self.iter = 0
        self._t_last = time.perf_counter()

    @property
    def converged(self) -> bool:
        """True when the last change of the objective (divided by ``scale``) is below ``tol``."""
        if len(self.history) < 2:
            return False
        return (self.history[-1] - self.history[-2]) / self.scale < self.tol

    def report(self, ll: float) -> None:
        """Record the objective of the current parameters; warn if it went down."""
        ll = float(ll)
        if self.history:
            prev = self.history[-1]
            drop = prev - ll
            if drop > _MONOTONE_RTOL * max(abs(prev), abs(ll), 1.0) and math.isfinite(prev):
                warnings.warn(
                    f"EM objective decreased at iteration {self.iter}: from {prev!r} to {ll!r} "
                    f"(drop {drop:.3g}). EM cannot decrease it; this indicates a bug in an "
                    "E-step or M-step.", NonMonotoneEMWarning, stacklevel=3)
        self.history.append(ll)
        self.iter += 1
        if self.verbose:
            self._show(ll)

    def _show(self, ll: float) -> None:
        # Report k (k = 0, 1, ...) scores the parameters after k M-steps, so line k says
        # "iter k" and the last line's number is the n_iter_ the fit reports; the bar
        # counts M-steps (report 0, the start, only sets the text).
        now = time.perf_counter()
        dt, self._t_last = now - self._t_last, now
        k = self.iter - 1
        if self._bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=self.n_iter, desc=self.desc, leave=True, unit="iter")
            else:
                self._bar = False
        if k == 0:
            text = f"loglik={ll:.6g} (start, E-step {dt:.3g}s)"
            line = f"{self.desc} iter {k:4d}  loglik {ll: .10g}  (start; E-step {dt:.3g} s)"
        else:
            delta = ll - self.history[-2]
            text = f"loglik={ll:.6g} change={delta:.3g} {dt:.3g}s/iter"
            line = (f"{self.desc} iter {k:4d}  loglik {ll: .10g}  change {delta: .3g}  "
                    f"{dt:.3g} s/iter")
        if self._bar:
            self._bar.set_postfix_str(text, refresh=False)
            if k > 0:
                self._bar.update(1)
            else:
                self._bar.refresh()
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self._bar:
            if self._bar.n < self._bar.total:   # converged early: the bar ends full
                self._bar.total = self._bar.n
                self._bar.refresh()
            self._bar.close()
        self._bar = None


@dataclass
class EMResult:
    """Outcome of :func:`run_em`.

    Attributes
    ----------
    theta : list of ndarray
        Final parameters.
    log_likelihood : float
        Log-likelihood of ``theta`` (without any prior term).
    history : list of float
        Objective (log-likelihood plus log prior, if any) after each E-step;
        ``history[-1]`` is that of ``theta``.
    n_iter : int
        Number of M-steps performed.
    converged : bool
        Whether the tolerance test passed before the budget ran out.
    extra : dict
        Whatever the model's E-step chose to pass on (free for models).
    """

    theta: list
    log_likelihood: float
    history: list
    n_iter: int
    converged: bool
    extra: dict = field(default_factory=dict)

    @property
    def objective(self) -> float:
        return self.history[-1] if self.history else -np.inf


def run_em(estep: Callable, mstep: Callable, theta0, *, max_iter: int = 100, tol: float = 1e-6,
           callback: Callable | None = None, verbose: bool = False, scale: float = 1.0,
           log_prior: Callable | None = None, monitor: ConvergenceMonitor | None = None,
           desc: str = "EM") -> EMResult:
    """Run EM from ``theta0``.

    Parameters
    ----------
    estep : callable
        ``estep(theta) -> (counts, loglik)``; ``loglik`` must be that of ``theta``.
    mstep : callable
        ``mstep(counts) -> theta``.
    theta0 : list of ndarray
        Starting parameters.
    max_iter : int, default=100
        Maximum number of M-steps (>= 1).
    tol : float, default=1e-6
        Stop when the objective improves by less than ``tol * scale``. A
        negative ``tol`` (as hmmlearn allows) never stops early: exactly
        ``max_iter`` M-steps are run.
    callback : callable, optional
        ``callback(iteration, theta, loglik)`` after each E-step; return
        ``True`` to stop early (counts as not converged).
    verbose : bool, default=False
        Progress bar (tqdm if installed) or plain lines on stderr.
    scale : float, default=1
        The tol test uses the change divided by ``scale`` (number of rows for
        a per-row tolerance).
    log_prior : callable, optional
        ``log_prior(theta) -> float`` added to the log-likelihood for the
        monitored objective (MAP-EM with pseudocounts maximises ll + log prior;
        the plain log-likelihood need not be monotone then).
    monitor : ConvergenceMonitor, optional
        Use this monitor (e.g. the estimator's ``monitor_``) instead of a new one.

    Returns
    -------
    EMResult
    """
    if max_iter is None or int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1; got {max_iter!r}.")
    if tol is None or np.isnan(tol):
        raise ValueError(f"tol must be a number; got {tol!r}.")
    if monitor is None:
        monitor = ConvergenceMonitor(tol, int(max_iter), verbose, scale, desc)
    else:
        monitor._reset()
    theta = [np.asarray(t, dtype=np.float64) for t in theta0]
    n_mstep = 0
    converged = False
    try:
        while True:
            counts, ll = estep(theta)
            ll = float(ll)
            obj = ll + (log_prior(theta) if log_prior is not None else 0.0)
            monitor.report(obj)
            if callback is not None and callback(monitor.iter, theta, ll):
                break
            if monitor.converged:
                converged = True
                break
            if n_mstep >= max_iter:
                break
            theta = [np.asarray(t, dtype=np.float64) for t in mstep(counts)]
            n_mstep += 1
    finally:
        monitor.close()
    return EMResult(theta, ll, list(monitor.history), n_mstep, converged)


def fit_with_restarts(fit_one: Callable, n_init: int, rng: np.random.Generator, *,
                      estimator_name: str = "model", max_iter: int | None = None,
                      rtol_same: float = 1e-6):
    """Run ``n_init`` seeded fits and keep the best.

    Parameters
    ----------
    fit_one : callable
        ``fit_one(rng_k) -> EMResult`` for restart ``k``; each restart gets its
        own generator spawned from ``rng`` (so restart k does not depend on
        how many random numbers the earlier ones used).
    n_init : int
        Number of restarts (>= 1).
    rng : numpy.random.Generator

    Returns
    -------
    best : EMResult
        The restart with the highest final objective. Its ``extra`` holds
        ``n_init``, ``n_best`` (restarts whose final objective is within
        ``rtol_same`` (relative) of the best), and ``objectives`` (all final
        objectives).

    Emits one :class:`~emfast.exceptions.ConvergenceWarning` if the best
    restart did not converge.
    """
    if n_init is None or int(n_init) < 1:
        raise ValueError(f"n_init must be >= 1; got {n_init!r}.")
    n_init = int(n_init)
    children = rng.spawn(n_init) if hasattr(rng, "spawn") else \
        [np.random.default_rng(s) for s in rng.integers(0, 2**63 - 1, n_init)]
    results = [fit_one(child) for child in children]
    objs = np.array([r.objective for r in results])
    best_k = int(np.argmax(np.where(np.isnan(objs), -np.inf, objs)))
    best = results[best_k]
    ref = objs[best_k]
    n_best = int(np.sum(np.abs(objs - ref) <= rtol_same * max(abs(ref), 1.0)))
    best.extra.update({"n_init": n_init, "n_best": n_best, "objectives": objs.tolist(),
                       "best_init": best_k})
    if not best.converged:
        budget = f" within max_iter={max_iter}" if max_iter is not None else ""
        warnings.warn(
            f"{estimator_name}: the best of {n_init} initialisation(s) did not converge"
            f"{budget}. Increase max_iter, loosen tol, or check the data.",
            ConvergenceWarning, stacklevel=3)
    return best
