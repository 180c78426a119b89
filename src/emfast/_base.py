"""What every estimator shares: the EM fit skeleton, the fitted-attribute write-back, and
small helpers (scikit-learn conventions, no sklearn import at run time).

The skeleton (DESIGN.md, "The estimator contract"): a model validates its data, declares
an :class:`EMProblem` (its E-step, its M-step, how to draw initial parameters), and calls
:meth:`EMFitMixin._fit_em`, which runs ``fit_with_restarts(run_em ...)``; the best restart
is stored by :meth:`EMFitMixin._store_fit`, the one place where the fitted attributes
common to every family are written.
"""
from __future__ import annotations

import inspect
import itertools
import numbers
import os
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .em import EMResult, fit_with_restarts, run_em
from .exceptions import NotFittedError


def check_random_state(seed) -> np.random.Generator:
    """Turn ``seed`` into a :class:`numpy.random.Generator`.

    ``None`` gives fresh OS entropy, an int seeds a new generator, a
    ``Generator`` is returned as is, a legacy ``RandomState`` is wrapped
    (a seed is drawn from it, so it advances).
    """
    if seed is None or isinstance(seed, (numbers.Integral, np.integer)):
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(0, 2**31 - 1))
    raise TypeError(
        f"random_state must be None, an int, a numpy Generator or RandomState; got {seed!r}.")


_SKLEARN_NOT_FITTED = {}


def _not_fitted_class():
    """emfast's NotFittedError; when scikit-learn is already imported, a subclass that is
    also scikit-learn's NotFittedError (what its tools catch), without importing it."""
    skl = sys.modules.get("sklearn.exceptions")
    base = getattr(skl, "NotFittedError", None) if skl is not None else None
    if base is None:
        return NotFittedError
    cls = _SKLEARN_NOT_FITTED.get(base)
    if cls is None:
        cls = type("NotFittedError", (NotFittedError, base), {"__module__": "emfast.exceptions"})
        _SKLEARN_NOT_FITTED[base] = cls
    return cls


def check_is_fitted(estimator, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has ``attribute``."""
    if not hasattr(estimator, attribute):
        name = type(estimator).__name__
        raise _not_fitted_class()(
            f"This {name} instance is not fitted yet. Call 'fit' with appropriate "
            "arguments before using this estimator.")


def method_rng(estimator, random_state) -> np.random.Generator:
    """The generator of a ``sample`` / ``impute`` call, the same rule in every family:
    ``random_state=None`` means the estimator's own ``random_state`` (as in hmmlearn and
    scikit-learn's mixtures), which for a model without one (a BayesianNetwork) or with
    ``random_state=None`` is fresh OS entropy."""
    if random_state is None:
        random_state = getattr(estimator, "random_state", None)
    return check_random_state(random_state)


def draw_categorical(rng: np.random.Generator, probs, u=None) -> np.ndarray:
    """The one categorical sampler: one draw per row of ``probs`` (n, M) by inverse CDF.

    ``u`` (n,) gives the uniforms to use (else drawn from ``rng``). Rows need not
    sum exactly to 1 (they are scaled by their total); a draw never exceeds ``M - 1``.
    Returns int64 codes.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 1:
        probs = probs[None, :]
    c = np.cumsum(probs, axis=1)
    if u is None:
        u = rng.random(probs.shape[0])
    u = np.asarray(u, dtype=np.float64) * c[:, -1]
    out = (u[:, None] >= c).sum(axis=1)
    return np.minimum(out, probs.shape[1] - 1).astype(np.int64)


def raise_for_status(status, describe: Callable[[int], str]) -> None:
    """The one status -> ValueError helper: kernels write a status per row / sequence (0 =
    ok); the first nonzero entry ``k`` becomes ``ValueError(describe(k))``."""
    if not status.any():            # the common case: one pass, no index array
        return
    bad = np.flatnonzero(status)
    if bad.size:
        raise ValueError(describe(int(bad[0])))


def first_row(inverse, k: int) -> int:
    """The first original row that a compressed row ``k`` stands for."""
    return int(np.flatnonzero(np.asarray(inverse) == k)[0])


def check_int(value, name: str, *, low: int | None = None, allow_none: bool = False):
    """An integer hyper-parameter / argument: ``TypeError`` for a non-integer (floats such
    as 2.5 or 2.0, bools), ``ValueError`` below ``low``."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int; got {value!r} ({type(value).__name__}).")
    if low is not None and value < low:
        raise ValueError(f"{name} must be an int >= {low}; got {value!r}.")
    return int(value)


def _n_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def check_n_jobs(n_jobs, n_work=None) -> int:
    """Resolve ``n_jobs`` to a number of threads.

    ``None`` or ``-1``: all threads OpenMP offers by default (``OMP_NUM_THREADS``
    or the number of CPUs). A positive int is capped at the number of CPUs (or
    OpenMP's default, whichever is larger) and, when given, at ``n_work``, the
    number of work blocks of the call: more threads could only wait, and
    thousands of them make OpenMP fail to create threads (libgomp then exits
    the process). The cap changes speed only, since results are bit-identical
    for any ``n_jobs``.

    Raises
    ------
    TypeError
        ``n_jobs`` is not an int (a bool, a float, a string, ...).
    ValueError
        ``0`` or below ``-1``.
    """
    from . import _kernels

    if n_jobs is not None and (isinstance(n_jobs, (bool, np.bool_))
                               or not isinstance(n_jobs, (numbers.Integral, np.integer))):
        raise TypeError(f"n_jobs must be a positive int, -1 or None; got {n_jobs!r} "
                        f"({type(n_jobs).__name__}).")
    limit = max(1, int(_kernels.max_threads()), _n_cpus())
    if n_jobs is None or n_jobs == -1:
        n = max(1, int(_kernels.max_threads()))
    elif n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive int, -1 or None; got {n_jobs!r}.")
    else:
        n = min(int(n_jobs), limit)
    if n_work is not None:
        n = min(n, max(1, int(n_work)))
    return n


class BaseEstimator:
    """get_params / set_params / repr from the ``__init__`` signature (sklearn contract).

    ``__init__`` of a subclass must store every argument unchanged under the
    same name and do nothing else, so that ``sklearn.base.clone`` works.
    """

    @classmethod
    def _get_param_names(cls):
        init = cls.__init__
        if init is object.__init__:
            return []
        sig = inspect.signature(init)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))

    def get_params(self, deep=True):
        out = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for k, v in value.get_params().items():
                    out[f"{key}__{k}"] = v
            out[key] = value
        return out

    def set_params(self, **params):
        valid = self._get_param_names()
        nested = {}
        for key, value in params.items():
            key, _, sub = key.partition("__")
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}.")
            if sub:
                nested.setdefault(key, {})[sub] = value
            else:
                setattr(self, key, value)
        for key, sub_params in nested.items():
            getattr(self, key).set_params(**sub_params)
        return self

    def __repr__(self):
        params = self.get_params(deep=False)
        defaults = {p.name: p.default for p in
                    inspect.signature(type(self).__init__).parameters.values()}
        shown = []
        for k in self._get_param_names():
            v = params[k]
            d = defaults.get(k, inspect.Parameter.empty)
            try:
                same = v is d or (not isinstance(v, np.ndarray) and v == d)
            except Exception:
                same = False
            if not same:
                shown.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


# ---------------------------------------------------------------------------
# the fit skeleton
# ---------------------------------------------------------------------------

@dataclass
class EMProblem:
    """What a model declares for one EM fit; :meth:`EMFitMixin._fit_em` runs it.

    Attributes
    ----------
    estep : callable
        ``estep(theta) -> (counts, loglik of theta)`` (counts with theta's shapes).
    mstep : callable
        ``mstep(counts) -> theta`` (built on :func:`emfast.normalize`).
    init : callable
        ``init(rng, k) -> theta0`` for restart ``k`` (``rng`` is the restart's own
        generator).
    scale : float
        Divides objective changes for the tol test (rows for a per-row tol, 1 for
        hmmlearn's rule).
    log_prior : callable, optional
        ``log_prior(theta)`` added to the monitored objective (MAP-EM).
    fixed : tuple of int
        Indices of the tables the M-step never changes.
    extra : dict
        Free for the model (passed through to nothing).
    """

    estep: Callable
    mstep: Callable
    init: Callable
    scale: float = 1.0
    log_prior: Callable | None = None
    fixed: tuple = ()
    extra: dict = field(default_factory=dict)


#: Fitted attributes every family has after ``fit`` (written by ``_store_fit`` only).
COMMON_FIT_ATTRIBUTES = ("history_", "n_iter_", "converged_", "log_likelihood_", "n_best_",
                         "init_objectives_", "n_estep_", "stop_reason_", "init_histories_")


class EMFitMixin:
    """The fit skeleton shared by BayesianNetwork, LatentClassModel and CategoricalHMM.

    Subclasses implement ``_set_fitted_params(theta, **context)`` (their own
    parameter attributes from the list of arrays) and list in
    ``_fit_state_attributes`` any other fitted attribute that a later fit may not
    set (so it is removed, never left stale).
    """

    _fit_state_attributes: tuple = ()

    def _fit_em(self, problem: EMProblem, *, n_init: int, max_iter: int, tol: float,
                random_state, verbose: bool = False, name: str | None = None,
                monitor_factory: Callable | None = None, max_iter_name: str = "max_iter",
                warn: bool = True, **run_kw) -> EMResult:
        """validate -> initial θ -> fit_with_restarts(run_em ...) -> best result.

        ``monitor_factory()`` gives a fresh :class:`~emfast.ConvergenceMonitor` per
        restart (the HMM keeps hmmlearn's ``monitor_``); ``warn=False`` drops the
        ConvergenceWarning (hmmlearn emits none); ``run_kw`` go to
        :func:`emfast.run_em`.
        """
        name = name or type(self).__name__
        n_init = check_int(n_init, "n_init", low=1)
        max_iter = check_int(max_iter, max_iter_name, low=1)
        rng = check_random_state(random_state)
        restart = itertools.count()

        def fit_one(rng_k):
            k = next(restart)
            theta0 = problem.init(rng_k, k)
            monitor = monitor_factory() if monitor_factory is not None else None
            res = run_em(problem.estep, problem.mstep, theta0, max_iter=max_iter, tol=tol,
                         verbose=verbose, scale=problem.scale, log_prior=problem.log_prior,
                         monitor=monitor, desc=name, **run_kw)
            if monitor is not None:
                res.extra["monitor"] = monitor
            return res

        return fit_with_restarts(fit_one, n_init, rng, estimator_name=name, max_iter=max_iter,
                                 warn=warn)

    def _store_fit(self, best: EMResult, *, log_likelihood=None, **context) -> None:
        """The one place where a fit's results are written onto the estimator."""
        for attr in self._fit_state_attributes:
            self.__dict__.pop(attr, None)
        self._set_fitted_params(best.theta, **context)
        self.history_ = list(best.history)
        self.n_iter_ = int(best.n_iter)
        self.converged_ = bool(best.converged)
        self.log_likelihood_ = float(best.log_likelihood if log_likelihood is None
                                     else log_likelihood)
        self.n_best_ = int(best.extra.get("n_best", 1))
        self.init_objectives_ = [float(o) for o in best.extra.get("objectives",
                                                                  [best.objective])]
        self.n_estep_ = int(best.n_estep or len(best.history))
        self.stop_reason_ = best.stop_reason
        self.init_histories_ = list(best.extra.get("traces", [best.trace()]))

    def _set_fitted_params(self, theta, **context):  # pragma: no cover - abstract
        raise NotImplementedError


def sklearn_tags(estimator, base_tags=None, *, transformer=False, **input_tags):
    """``__sklearn_tags__`` for an emfast estimator (scikit-learn imported lazily: this is
    only ever called by scikit-learn). Categorical codes with NaN allowed."""
    from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

    # outputs are integer codes (or labels), whatever the input dtype: no dtype to preserve
    tags = Tags(estimator_type=None, target_tags=TargetTags(required=False),
                transformer_tags=TransformerTags(preserves_dtype=[]) if transformer else None,
                input_tags=InputTags(categorical=True, allow_nan=True, string=True,
                                     **input_tags))
    return tags


#: scikit-learn checks that cannot apply to emfast's estimators, with the reason (tags
#: cannot express these); pass to ``check_estimator(..., expected_failed_checks=...)``.
SKLEARN_EXPECTED_FAILED_CHECKS = {
    "check_positive_only_tag_during_fit": (
        "categorical codes are >= -1 by contract (-1 = missing); an arbitrary negative value "
        "is a ValueError by design, so neither value of the positive_only tag describes the "
        "input"),
}


def sklearn_expected_failed_checks(estimator) -> dict:
    """The inapplicable scikit-learn checks of ``estimator``, with reasons."""
    return dict(SKLEARN_EXPECTED_FAILED_CHECKS)
