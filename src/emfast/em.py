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

``run_em(accelerate="squarem")`` inserts SQUAREM extrapolations between EM steps
(:mod:`emfast.accel`); the loop, the stopping rules (``tol``, ``param_tol``,
``max_time``, ``max_iter``), the monitor and the bookkeeping of E-steps and
timestamps stay here (docs/acceleration.md).
"""
from __future__ import annotations

import functools
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ._kernels import normalize_rows
from .accel import make_accelerator
from .exceptions import ConvergenceWarning, NonMonotoneEMWarning

__all__ = ["normalize", "run_em", "EMResult", "EMTrace", "ConvergenceMonitor", "fit_with_restarts",
           "dirichlet_log_prior", "check_table", "PROB_ATOL"]

_MONOTONE_RTOL = 1e-8

#: The one tolerance for "sums to 1": every probability table emfast accepts (set by
#: hand, read from a file, given as a start) must have rows within this of 1.
PROB_ATOL = 1e-6


def check_table(table, shape, name: str, *, describe_row: Callable | None = None,
                shape_note: str = "") -> np.ndarray:
    """The one probability-table validator: shape, finite, >= 0, rows sum to 1.

    Parameters
    ----------
    table : array-like
        A CPT whose last axis is the child variable.
    shape : tuple of int
        The shape it must have.
    name : str
        What to call it in messages (``"CPT for 'A'"``, ``"transmat_"``, ...).
    describe_row : callable, optional
        ``describe_row(index tuple) -> str`` naming a row (e.g. the parent
        configuration) in the message; default ``"row (i, j)"``.
    shape_note : str, optional
        Says what the axes are, in the shape error (``"(parents ('Z',), then 'A')"``).

    Returns
    -------
    ndarray
        A C-contiguous float64 copy (rows kept verbatim: a row off by less than
        :data:`PROB_ATOL` is not renormalised).

    Raises
    ------
    ValueError
        Naming the table, the entry or row and what was expected.
    TypeError
        If ``table`` is not numeric.
    """
    try:
        t = np.array(table, dtype=np.float64, order="C", copy=True)
    except (TypeError, ValueError) as exc:
        if isinstance(table, (str, bytes, dict, set)) or isinstance(exc, TypeError):
            raise TypeError(f"{name} must be an array of probabilities; got "
                            f"{type(table).__name__}.") from None
        raise ValueError(f"{name} must be an array of probabilities of shape {tuple(shape)}; "
                         f"it could not be read as numbers ({exc}).") from None
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply to be an array of probabilities.") from None
    shape = tuple(int(k) for k in shape)
    if t.shape != shape:
        note = f" {shape_note}" if shape_note else ""
        raise ValueError(f"{name} must have shape {shape}{note}; got {t.shape}.")
    if t.size == 0:
        return t
    ok = (t >= 0) & (t < np.inf)           # False for NaN, inf and negative entries
    if not ok.all():
        bad = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise ValueError(f"{name} has the invalid entry {float(t[bad])!r} at index {bad}; "
                         "probabilities must be finite and >= 0.")
    sums = t.sum(axis=-1, keepdims=True)
    off = np.abs(sums - 1.0) > PROB_ATOL
    if off.any():
        idx = tuple(int(i) for i in np.argwhere(off)[0][:-1])
        where = describe_row(idx) if describe_row is not None else (
            f"row {idx}" if idx else "its (only) row")
        raise ValueError(f"{name}: {where} sums to {float(sums[idx][0])!r}, not 1 (within "
                         f"{PROB_ATOL:g}).")
    return t


def _per_table(value, n_tables: int, what: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n_tables:
            raise ValueError(f"{what} has {len(value)} entries for {n_tables} count tables.")
        return list(value)
    return [value] * n_tables


def _segment_sum(t: np.ndarray, seg) -> np.ndarray:
    """Sums over the segments of the last axis (starts ``seg``), broadcast back."""
    seg = np.asarray(seg, dtype=np.intp)
    tot = np.add.reduceat(t, seg, axis=-1)
    sizes = np.diff(np.append(seg, t.shape[-1]))
    return np.repeat(tot, sizes, axis=-1)


def _value_range(x: np.ndarray) -> tuple:
    """(min, max) of ``x`` as floats, NaN if ``x`` holds a NaN; (0, 0) when empty."""
    if x.size == 0:
        return 0.0, 0.0
    return float(x.min()), float(x.max())


def _float_array(x, name: str) -> np.ndarray:
    """``np.asarray(x, float64)`` with an error that names ``name``."""
    try:
        return np.asarray(x, dtype=np.float64)
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply to be an array.") from None
    except (TypeError, ValueError) as exc:
        kind = TypeError if isinstance(x, (str, bytes, dict, set)) or isinstance(exc, TypeError) \
            else ValueError
        raise kind(f"{name} must be numeric; {type(x).__name__} {x!r:.60} could not be read "
                   f"as float64 ({exc}).") from None


_WHOLE_ROW = np.zeros(0, dtype=np.int64)     # normalize_rows: no segments, whole rows
_F64 = np.dtype(np.float64)


@functools.lru_cache(maxsize=64)
def _scalar_pseudocount(a: float) -> np.ndarray:
    """A scalar pseudocount as the kernel's (1, 1) array, read-only and cached (an
    np.full per table and M-step cost ~1 us, an eighth of a small model's M-step)."""
    out = np.full((1, 1), a, dtype=np.float64)
    out.flags.writeable = False
    return out


def _normalize_compiled(c, a, seg, clip):
    """:func:`normalize` of one table by the compiled kernel
    (``_kernels.normalize_rows``, bit-equal to the numpy path below), or None where
    the kernel does not apply or declines (invalid values, overflow): the numpy path
    then gives the answer or the error. The kernel sums C-ordered rows as numpy does,
    so tables whose rows numpy would sum in another order (no segments, not
    C-contiguous, several rows) take the numpy path too."""
    if type(c) is not np.ndarray or c.dtype != _F64 or c.ndim == 0:
        return None
    n = c.shape[-1]
    if n == 0:
        return None
    if seg is None:
        if not c.flags.c_contiguous:
            return None
        starts = _WHOLE_ROW
    else:
        if c.ndim != 2 and not c.flags.c_contiguous:
            return None
        starts = seg
        if type(starts) is not np.ndarray or starts.dtype != np.int64 or starts.ndim != 1 \
                or not starts.flags.c_contiguous:
            try:
                starts = np.ascontiguousarray(seg, dtype=np.int64)
            except (TypeError, ValueError, OverflowError):
                return None
            if starts.ndim != 1:
                return None
        if starts.shape[0] == 0:
            return None
    c2 = c if c.ndim == 2 else c.reshape(-1, n)
    if isinstance(a, (int, float)):
        a2 = _scalar_pseudocount(float(a))
    elif type(a) is np.ndarray and a.dtype == _F64:
        if a.ndim == 0 or a.size == 1 and a.ndim <= c.ndim:
            a2 = a.reshape(1, 1)
        elif a.shape == c.shape and (a.ndim == 2 or a.flags.c_contiguous):
            a2 = a if a.ndim == 2 else a.reshape(-1, n)
        elif a.ndim == 1 and a.shape[0] == n:
            a2 = a.reshape(1, n)
        else:
            return None
    else:
        return None
    t = np.empty(c2.shape, dtype=np.float64)
    if normalize_rows(c2, a2, starts, bool(clip), t) != 0:
        return None
    return t if c.ndim == 2 else t.reshape(c.shape)


def normalize(counts, pseudocount=0.0, *, segments=None, clip=False):
    """The universal M-step: add Dirichlet pseudocounts, normalise the last axis.

    Parameters
    ----------
    counts : ndarray or list of ndarray
        Expected counts; each table's last axis is the child variable.
    pseudocount : float, array or list, default=0
        Added to every cell before normalising (a Dirichlet prior with
        concentration ``pseudocount + 1``; 0 = maximum likelihood). A list
        gives one value (scalar or broadcastable array) per table. Must be
        finite and, unless ``clip``, non-negative.
    segments : array of int, or list of them (or None), optional
        For a *packed* table whose last axis holds several distributions side
        by side: the start of each along the last axis (as for
        ``np.add.reduceat``); each segment is normalised on its own. A list
        gives one entry (or None) per table.
    clip : bool, default=False
        Allow negative pseudocounts (Dirichlet concentrations below 1) with
        hmmlearn's rule ``max(counts + pseudocount, 0)`` before normalising.

    Returns
    -------
    ndarray or list of ndarray
        Tables of the same shapes whose last axis (or each segment of it) sums
        to 1. A parent configuration whose total (counts plus pseudocounts) is
        zero becomes a uniform row, never NaN.
    """
    single = not isinstance(counts, (list, tuple))
    tables = [counts] if single else list(counts)
    pcs = _per_table(pseudocount, len(tables), "pseudocount")
    if segments is None:
        segs = [None] * len(tables)
    elif single:
        segs = [segments]
    elif isinstance(segments, (list, tuple)):
        segs = _per_table(segments, len(tables), "segments")
    else:
        raise ValueError("segments must be a list with one entry (or None) per table when "
                         "counts is a list.")
    out = []
    for k, (c, a, seg) in enumerate(zip(tables, pcs, segs)):
        t = _normalize_compiled(c, a, seg, clip)
        if t is not None:
            out.append(t)
            continue
        c = _float_array(c, f"counts[{k}]")
        if c.ndim == 0:
            raise ValueError(f"counts[{k}] is a scalar; every table needs a child axis.")
        if c.shape[-1] == 0:
            raise ValueError(f"counts[{k}] has shape {c.shape}: the child axis is empty (a "
                             "variable needs at least one state).")
        a = _float_array(a, f"pseudocount for table {k}")
        # every check from the tables' ranges (NaN propagates into min and max), so that
        # the common M-step pays two reductions per array, not one pass per condition
        alo, ahi = _value_range(a)
        if not (-np.inf < alo and ahi < np.inf) or (not clip and alo < 0):
            raise ValueError(f"pseudocount for table {k} must be finite and >= 0; got {a!r}."
                             if not clip else
                             f"pseudocount for table {k} must be finite; got {a!r}.")
        lo, hi = _value_range(c)
        if not (lo >= 0 and hi < np.inf):
            bad = np.argwhere(~((c >= 0) & (c < np.inf)))[0]
            raise ValueError(f"counts[{k}] has an invalid value {float(c[tuple(bad)])!r} at index "
                             f"{tuple(int(i) for i in bad)}; expected counts must be finite and >= 0.")
        # every cell is <= hi + ahi, so below this bound neither a cell nor a row (or
        # segment) total can overflow and the guarded steps below are not needed
        n = max(c.shape[-1], a.shape[-1] if a.ndim else 1)
        safe = max(hi + ahi, 0.0) * n < 1e300
        if safe:
            t = c + a
        else:
            with np.errstate(over="ignore"):
                t = c + a
            if not np.all(t < np.inf):
                # finite counts and pseudocounts near the float64 maximum can add up to
                # inf: halving both first keeps every ratio (and the answer) unchanged
                t = 0.5 * c + 0.5 * a
        if clip:
            t = np.maximum(t, 0.0)
        if seg is None:
            def total(t):
                return t.sum(axis=-1, keepdims=True)
            uniform = 1.0 / t.shape[-1]
        else:
            def total(t):
                return _segment_sum(t, seg)
            sizes = np.diff(np.append(np.asarray(seg, dtype=np.intp), t.shape[-1]))
            uniform = np.repeat(1.0 / sizes, sizes)
        if safe:
            tot = total(t)
        else:
            with np.errstate(over="ignore"):
                tot = total(t)
        if not np.all(tot < np.inf):
            # a row total overflows although every cell is finite: divide each row (or
            # segment) by its largest cell first; the normalised row is the same
            if seg is None:
                peak = t.max(axis=-1, keepdims=True)
            else:
                peak = np.repeat(np.maximum.reduceat(t, np.asarray(seg, dtype=np.intp), axis=-1),
                                 sizes, axis=-1)
            t = t / np.where(peak > 0, peak, 1.0)
            tot = total(t)
        zero = tot <= 0
        if zero.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                t = np.where(zero, uniform, t / np.where(zero, 1.0, tot))
        else:
            t = t / tot
        out.append(t)
    return out[0] if single else out


def dirichlet_log_prior(theta: Sequence[np.ndarray], pseudocount) -> float:
    """``Σ pseudocount · log θ``: the log Dirichlet prior (up to a constant) that
    :func:`normalize` maximises together with the log-likelihood (MAP-EM).

    Cells with a zero pseudocount contribute nothing. A cell with ``θ = 0`` and a
    negative pseudocount (concentration below 1, ``normalize(..., clip=True)``)
    contributes 0: it left the support of the model, where its prior term is not
    defined (see docs/em-driver.md).
    """
    pcs = _per_table(pseudocount, len(theta), "pseudocount")
    total = 0.0
    for t, a in zip(theta, pcs):
        a = np.broadcast_to(np.asarray(a, dtype=np.float64), np.shape(t))
        if not np.any(a):
            continue
        t = np.asarray(t, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(t > 0, a * np.log(t), np.where(a > 0, -np.inf, 0.0))
            total += float(np.sum(np.where(a != 0, term, 0.0)))
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
        self.n_rebased = 0
        self._rebased = False        # the next report starts a new objective
        self._last_rebased = False
        self._t_last = time.perf_counter()
        self._bar = None

    def __repr__(self):
        return (f"ConvergenceMonitor(tol={self.tol}, n_iter={self.n_iter}, iter={self.iter}, "
                f"converged={self.converged})")

    def _reset(self):
        self.history = []
        self.iter = 0
        self.n_rebased = 0
        self._rebased = self._last_rebased = False
        self._t_last = time.perf_counter()

    def rebase(self) -> None:
        """The objective changes its definition from the next report on (its domain
        shrank: see ``run_em(rebase_on_zeros=True)``): that report is neither checked
        for monotonicity nor used for the tolerance test."""
        self._rebased = True

    @property
    def tol_reached(self) -> bool:
        """True when the last change of the objective (divided by ``scale``) is below ``tol``:
        the driver's stopping test."""
        if len(self.history) < 2 or self._last_rebased:
            return False
        return (self.history[-1] - self.history[-2]) / self.scale < self.tol

    @property
    def converged(self) -> bool:
        """hmmlearn's meaning: the iteration budget is used up (``iter == n_iter``) or the
        last change is below ``tol`` (:attr:`tol_reached`). The fitted estimator's
        ``converged_`` says which (True only for the tolerance)."""
        return self.iter == self.n_iter or self.tol_reached

    def report(self, ll: float) -> None:
        """Record the objective of the current parameters; warn if it went down."""
        ll = float(ll)
        self._last_rebased, self._rebased = self._rebased, False
        if self._last_rebased:
            self.n_rebased += 1
        if self.history and not self._last_rebased:
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
class EMTrace:
    """The path of one EM run (one restart), for convergence plots and benchmarks.

    Attributes
    ----------
    objective : ndarray of float
        The accepted objective values (``EMResult.history``).
    n_estep : ndarray of int
        Number of E-steps run when each value was obtained (1, 2, 3, ... for plain
        EM; with acceleration the rejected proposals are counted too).
    seconds : ndarray of float
        Wall time since the start of the run (before its first E-step) when each
        value was obtained.
    accelerate : str or None
        The accelerator used (``None``: plain EM).
    stop_reason : str
        As ``EMResult.stop_reason``.
    stats : dict
        The accelerator's counters (see :class:`emfast.accel.Squarem`); empty
        for plain EM.
    iterates : ndarray of int
        Indices into ``objective`` of the points where the convergence tests
        are applied, each against the point before it: every point after the
        first for plain EM; with SQUAREM the EM steps (a point that is the EM
        map of the point before it), not the extrapolated points it kept.
    """

    objective: np.ndarray
    n_estep: np.ndarray
    seconds: np.ndarray
    accelerate: str | None = None
    stop_reason: str = ""
    stats: dict = field(default_factory=dict)
    iterates: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


@dataclass
class EMResult:
    """Outcome of :func:`run_em`.

    Attributes
    ----------
    theta : list of ndarray
        Final parameters.
    log_likelihood : float
        Log-likelihood (without any prior term) of ``theta`` when ``scored``;
        otherwise of the parameters the last E-step saw (one M-step before
        ``theta``: hmmlearn's convention, ``run_em(..., score_final=False)``).
    history : list of float
        Objective (log-likelihood plus log prior, if any) of every accepted
        point, in order (after each E-step for plain EM; with acceleration the
        E-steps at rejected proposals leave no entry); ``history[-1]`` belongs
        to the same parameters as ``log_likelihood``.
    n_iter : int
        Number of M-steps performed.
    converged : bool
        Whether a convergence test (``tol`` or ``param_tol``) passed.
    n_estep : int
        Number of E-steps run (``len(history)`` for plain EM).
    stop_reason : str
        ``"tol"`` (converged), ``"param_tol"`` (largest parameter change below
        ``param_tol``), ``"max_iter"`` (budget), ``"max_time"`` or ``"callback"``.
    scored : bool
        Whether ``log_likelihood`` / ``history[-1]`` belong to ``theta``.
    extra : dict
        Whatever the model's E-step or the restart driver chose to pass on
        (:func:`fit_with_restarts` puts every restart's :class:`EMTrace` in
        ``extra["traces"]``).
    history_n_estep : list of int
        E-steps run when each ``history`` entry was obtained.
    history_seconds : list of float
        Seconds since the start of the run when each ``history`` entry was obtained.
    history_iterates : list of int
        Indices into ``history`` of the points where the tol and param_tol tests
        are applied, each against the entry before it (the point it is the EM step
        of): every point for plain EM; with SQUAREM, not the kept extrapolations.
    accelerate : str or None
        The accelerator used.
    accel_stats : dict
        The accelerator's counters (empty for plain EM).
    """

    theta: list
    log_likelihood: float
    history: list
    n_iter: int
    converged: bool
    n_estep: int = 0
    stop_reason: str = ""
    scored: bool = True
    extra: dict = field(default_factory=dict)
    history_n_estep: list = field(default_factory=list)
    history_seconds: list = field(default_factory=list)
    history_iterates: list = field(default_factory=list)
    accelerate: str | None = None
    accel_stats: dict = field(default_factory=dict)

    @property
    def objective(self) -> float:
        return self.history[-1] if self.history else -np.inf

    def trace(self) -> EMTrace:
        """This run's path as an :class:`EMTrace`."""
        n = len(self.history)
        steps = list(self.history_n_estep) if len(self.history_n_estep) == n else \
            list(range(1, n + 1))
        secs = list(self.history_seconds) if len(self.history_seconds) == n else [np.nan] * n
        its = list(self.history_iterates) if self.history_iterates else list(range(n))
        return EMTrace(np.asarray(self.history, dtype=np.float64), np.asarray(steps, dtype=np.int64),
                       np.asarray(secs, dtype=np.float64), self.accelerate, self.stop_reason,
                       dict(self.accel_stats), np.asarray(its, dtype=np.int64))


def _check_stopping(max_time, param_tol):
    for name, value, low in (("max_time", max_time, "> 0"), ("param_tol", param_tol, ">= 0")):
        if value is None:
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                          np.floating)):
            raise TypeError(f"{name} must be None or a number; got {value!r} "
                            f"({type(value).__name__}).")
        v = float(value)
        if math.isnan(v) or (v <= 0 if name == "max_time" else v < 0):
            raise ValueError(f"{name} must be None or a number {low}; got {value!r}.")


def _max_abs_change(new, old) -> float:
    return max((float(np.max(np.abs(a - b))) for a, b in zip(new, old) if np.size(a)),
               default=0.0)


def run_em(estep: Callable, mstep: Callable, theta0, *, max_iter: int = 100, tol: float = 1e-6,
           callback: Callable | None = None, verbose: bool = False, scale: float = 1.0,
           log_prior: Callable | None = None, monitor: ConvergenceMonitor | None = None,
           desc: str = "EM", mstep_on_converge: bool = False,
           score_final: bool = True, rebase_on_zeros: bool = False,
           accelerate: str | None = None, max_time: float | None = None,
           param_tol: float | None = None) -> EMResult:
    """Run EM from ``theta0``.

    Parameters
    ----------
    estep : callable
        ``estep(theta) -> (counts, loglik)``; ``loglik`` must be that of ``theta``.
        The counts it returns must stay valid after a later call (an accelerator
        keeps them while it tries another point).
    mstep : callable
        ``mstep(counts) -> theta``; it must depend on ``counts`` only (with an
        accelerator, the last E-step may have been at a rejected point).
    theta0 : list of ndarray
        Starting parameters.
    max_iter : int, default=100
        Maximum number of M-steps (>= 1), with or without acceleration (an
        accelerated run also spends E-steps on extrapolated points; see
        ``EMResult.n_estep``).
    tol : float, default=1e-6
        Stop when an EM step improves the objective by less than ``tol * scale``.
        A negative ``tol`` (as hmmlearn allows) never stops early.
    callback : callable, optional
        ``callback(iteration, theta, loglik)`` after each accepted point (each
        E-step for plain EM); return ``True`` to stop early (counts as not
        converged).
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
    mstep_on_converge : bool, default=False
        ``False`` (emfast): when the tolerance test passes, stop *before* the
        M-step, so the returned log-likelihood belongs to the returned
        parameters. ``True`` (hmmlearn's loop): every E-step is followed by an
        M-step, also the one that converged.
    score_final : bool, default=True
        After the last M-step (budget exhausted, or ``mstep_on_converge``), run
        one more E-step to score the returned parameters. ``False`` (hmmlearn)
        saves that E-step; ``log_likelihood`` is then that of the parameters one
        M-step earlier (``EMResult.scored`` is False).
    rebase_on_zeros : bool, default=False
        For MAP-EM with Dirichlet concentrations below 1 (``normalize(...,
        clip=True)``, hmmlearn's rule): such an M-step may set a probability to
        exactly 0 (and a row whose cells are all clipped becomes uniform). On a fixed
        support the step is an exact MAP M-step, so the objective
        ``ll + Σ_{θ>0} (α-1) log θ`` is monotone; when the support changes the
        objective changes its domain (a dropped term was ``+∞`` in the old one). With this flag the monitor is rebased at such a step
        (:meth:`ConvergenceMonitor.rebase`): no monotonicity check and no tolerance
        test for that one comparison. See docs/em-driver.md.
    accelerate : {None, "squarem"} or emfast.accel.Squarem, default=None
        ``"squarem"``: SQUAREM (SqS3) extrapolation between EM steps, with
        feasibility and monotonicity safeguards (:mod:`emfast.accel`): every
        accepted objective is >= the previous one, and every returned table is
        a valid CPT. The tol and param_tol tests apply, as without it, to EM
        steps: each EM point is compared with the point it was computed
        from (never an extrapolated point with its base). A ``Squarem`` instance sets
        its options (its settings are copied; each run starts afresh).
    max_time : float, optional
        Stop (``stop_reason="max_time"``, not converged) once this many seconds
        have passed since the start, at the last accepted point.
    param_tol : float, optional
        Also stop (converged, ``stop_reason="param_tol"``) when an EM step
        changes no parameter by more than ``param_tol`` (absolute).

    Returns
    -------
    EMResult
    """
    if max_iter is None or int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1; got {max_iter!r}.")
    if tol is None or np.isnan(tol):
        raise ValueError(f"tol must be a number; got {tol!r}.")
    _check_stopping(max_time, param_tol)
    accel = make_accelerator(accelerate)
    max_iter = int(max_iter)
    if monitor is None:
        monitor = ConvergenceMonitor(tol, max_iter, verbose, scale, desc)
    else:
        monitor._reset()
    clock = time.perf_counter
    t_start = clock()
    deadline = t_start + float(max_time) if max_time is not None else math.inf
    steps: list[int] = []
    seconds: list[float] = []
    marks: list[int] = []          # history indices of the EM points (where tol is tested)
    n_estep = 0

    def evaluate(th):
        nonlocal n_estep
        counts, ll = estep(th)
        n_estep += 1
        ll = float(ll)
        return counts, ll, ll + (log_prior(th) if log_prior is not None else 0.0)

    def keep(obj):
        monitor.report(obj)
        steps.append(n_estep)
        seconds.append(clock() - t_start)

    theta = [np.asarray(t, dtype=np.float64) for t in theta0]
    n_mstep = 0
    reason = ""
    scored = True
    try:
        counts, ll, obj = evaluate(theta)
        keep(obj)
        if accel is not None:
            accel.start(theta)
        # The convergence tests compare a point with the EM step taken from it: every
        # pair of successive points for plain EM; with an accelerator, each point that is
        # the EM map of the last accepted point (SQUAREM: θ1 from its base, θ2 after a
        # rejected proposal, F(θ') after a kept one), never an extrapolated point. So
        # tol means the same thing with and without acceleration: the gain of one EM
        # step from where the run stands, as in R's SQUAREM (whose residual test is the
        # EM step from each cycle's base). Measured against a test on successive bases
        # (the gain of a whole cycle, turboEM's rule) on the 26 rows of bench/converge.py:
        # median E-step ratio 1.62x against 1.34x, no row using more E-steps
        # (docs/acceleration.md, "EM-step stopping rule").
        iterate = (theta, obj, n_estep)
        marks.append(0)
        pair = None                 # (previous iterate, new iterate) to test
        rebased = False             # the objective changed its domain since the iterate
        called = None               # the point the callback last saw
        while True:
            if callback is not None and called is not theta:
                called = theta
                if callback(monitor.iter, theta, ll):
                    reason = "callback"
                    break
            stop = ""
            if pair is not None:
                (t_old, o_old, e_old), (t_new, o_new, e_new), skip = pair
                pair = None
                if skip:            # objectives of different domains: no test
                    pass
                elif (o_new - o_old) / scale < tol:
                    stop = "tol"
                elif param_tol is not None and _max_abs_change(t_new, t_old) < param_tol:
                    stop = "param_tol"
            if stop and not mstep_on_converge:
                reason = stop
                break
            if not stop and clock() >= deadline:
                reason = "max_time"
                break
            if n_mstep >= max_iter:
                reason = "max_iter"
                break
            new = [np.asarray(t, dtype=np.float64) for t in mstep(counts)]
            if rebase_on_zeros and any(np.any((a > 0) != (b > 0)) for a, b in zip(theta, new)):
                monitor.rebase()        # the objective changes its domain at this step
                rebased = True
            n_mstep += 1
            if stop or (n_mstep >= max_iter and not score_final):
                reason = stop or "max_iter"
                theta = new
                if not score_final:
                    scored = False
                    break
                counts, ll, obj = evaluate(theta)          # score the returned parameters
                keep(obj)
                break
            if accel is None:
                theta = new
                counts, ll, obj = evaluate(theta)
                keep(obj)
                iterate, pair = (theta, obj, n_estep), (iterate, (theta, obj, n_estep), rebased)
                rebased = False
                marks.append(len(steps) - 1)
                continue
            # SQUAREM. The EM point θ2 that completes a cycle is not evaluated before the
            # extrapolated θ' is: θ' is kept when its objective is >= that of θ1, the
            # last evaluated (accepted) point, so a kept cycle costs three E-steps (θ1,
            # θ', then F(θ'), the next base) instead of four. A rejected θ' falls back to
            # θ2, evaluated then (its objective is >= θ1's: EM is monotone).
            cand = None
            em_step = True
            if n_mstep < max_iter and clock() < deadline:
                cand = accel.propose(new)   # out of budget: the run returns this EM point
            if cand is not None:
                c2, l2, o2 = evaluate(cand)
                if o2 >= obj:       # False for NaN
                    em_step = False
                    accel.accept()
                    theta, counts, ll, obj = cand, c2, l2, o2
                    keep(obj)
                else:
                    accel.reject()
                    theta = new
                    counts, ll, obj = evaluate(theta)
                    keep(obj)
            else:
                theta = new
                counts, ll, obj = evaluate(theta)
                keep(obj)
            if em_step:             # theta = F(iterate): test the EM step
                pair = (iterate, (theta, obj, n_estep), rebased)
                rebased = False
                marks.append(len(steps) - 1)
            iterate = (theta, obj, n_estep)
    finally:
        monitor.close()
    converged = reason in ("tol", "param_tol")
    res = EMResult(theta, ll, list(monitor.history), n_mstep, converged,
                   n_estep=n_estep, stop_reason=reason, scored=scored,
                   history_n_estep=steps, history_seconds=seconds, history_iterates=marks,
                   accelerate=None if accel is None else accel.name,
                   accel_stats={} if accel is None else dict(accel.stats))
    if monitor.n_rebased:
        res.extra["n_rebased"] = monitor.n_rebased
    return res


def fit_with_restarts(fit_one: Callable, n_init: int, rng: np.random.Generator, *,
                      estimator_name: str = "model", max_iter: int | None = None,
                      rtol_same: float = 1e-6, warn: bool = True):
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
        ``rtol_same`` (relative) of the best), ``objectives`` (all final
        objectives), ``best_init`` (its index) and ``traces`` (every restart's
        :class:`EMTrace`, in order).

    Emits one :class:`~emfast.exceptions.ConvergenceWarning` if the best
    restart did not converge (unless ``warn=False``).
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
                       "best_init": best_k, "traces": [r.trace() for r in results]})
    if warn and not best.converged:
        budget = f" within max_iter={max_iter}" if max_iter is not None else ""
        warnings.warn(
            f"{estimator_name}: the best of {n_init} initialisation(s) did not converge"
            f"{budget}. Increase max_iter, loosen tol, or check the data.",
            ConvergenceWarning, stacklevel=3)
    return best
