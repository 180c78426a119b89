"""Small helpers shared by the estimators (scikit-learn conventions, no sklearn import)."""
from __future__ import annotations

import inspect
import numbers
import os

import numpy as np

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


def check_is_fitted(estimator, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has ``attribute``."""
    if not hasattr(estimator, attribute):
        name = type(estimator).__name__
        raise NotFittedError(
            f"This {name} instance is not fitted yet. Call 'fit' with appropriate "
            "arguments before using this estimator.")


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
