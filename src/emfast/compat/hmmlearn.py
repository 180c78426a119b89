"""hmmlearn backend: any hmmlearn HMM runs its E-step, scoring and decoding on emfast's
fused, threaded kernels.

>>> from hmmlearn.hmm import GaussianHMM                       # doctest: +SKIP
>>> import emfast.compat.hmmlearn as ehl                       # doctest: +SKIP
>>> with ehl.backend(n_jobs=2):                                # doctest: +SKIP
...     model = GaussianHMM(n_components=8).fit(X, lengths)

Inside :func:`backend` (or between :func:`enable` and :func:`disable`) every hmmlearn model
(``GaussianHMM``, ``GMMHMM``, ``PoissonHMM``, ``MultinomialHMM``, ``CategoricalHMM``,
``VariationalCategoricalHMM``, ``VariationalGaussianHMM`` and subclasses that keep
hmmlearn's internals) computes its frame likelihoods for all of ``X`` at once (in
fixed-size row chunks, threaded), runs every sequence through
:func:`emfast.kernels.forward_backward` / :func:`emfast.kernels.viterbi` in one call, and
accumulates its sufficient statistics over row chunks instead of once per sequence. The
models, their parameters, ``monitor_`` and the results are hmmlearn's (to round-off: rtol
1e-9 in ``tests/test_compat_hmmlearn.py``); hmmlearn's own test suite passes with the
backend on (docs/hmmlearn-backend.md).

What is hooked (hmmlearn 0.3.x, ``hmmlearn.base._AbstractHMM``): ``_do_estep`` (the fit
loop's E-step), ``_score`` (``score``, ``score_samples``, ``predict_proba``) and
``decode`` (``decode``, ``predict``; also the copies that ``CategoricalHMM`` makes of it).
A model runs hmmlearn's own code instead when it overrides the per-sequence pieces the
backend replaces (``_fit_log``, ``_score_log``, ``_decode_viterbi``, ... : checked per
call), and when the kernels cannot take an input hmmlearn accepts (an observation with
probability 0 under every state, NaN likelihoods, empty sequences): then hmmlearn's own
result, warning or error is what the user gets. :func:`backend_stats` counts both paths.

Requirement on the emission model, true of all of hmmlearn's: its
``_compute_log_likelihood`` (``_compute_likelihood``) works row by row, and its
``_accumulate_sufficient_statistics`` adds one term per row (so one call on a block of
rows of several sequences equals the calls on each sequence). The base-class part of the
statistics (``nobs``, ``start``, ``trans``) is filled from the kernel's output.

Start and transition probabilities that do not sum exactly to 1 (hmmlearn only checks
``np.allclose``; the variational models run on sub-normalised ones) are handled
exactly: the row sums are folded into the frame likelihoods of the source states and the
start total into each sequence's log-likelihood, which leaves every path probability, the
posteriors and the expected transition counts unchanged.

hmmlearn is imported on first use; without it these raise an ImportError naming the
extra (``pip install 'emfast[hmmlearn]'``).
"""
from __future__ import annotations

import contextlib
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import kernels
from .._base import check_n_jobs
from . import require

__all__ = ["backend", "enable", "disable", "is_enabled", "backend_stats"]

# rows per chunk, fixed by the model's sizes (never by the thread count, so results do
# not depend on n_jobs): frame likelihoods in chunks of about _FRAME_CELLS cells of the
# (rows, K) lattice (its temporaries stay in cache), statistics in chunks whose largest
# hmmlearn temporary (GMMHMM full: rows x K x n_mix x F x F) has about _STAT_CELLS cells
_FRAME_CELLS = 1 << 16
_STAT_CELLS = 1 << 21

_lock = threading.RLock()
_state = {"depth": 0, "n_jobs": None, "orig": None, "wrapped": [], "stats": None}


class _Fallback(Exception):
    """The fast path does not apply: run hmmlearn's own code."""


def _hmmlearn_base():
    require("hmmlearn", "hmmlearn")
    from hmmlearn import base
    return base


def _new_stats():
    return {"estep": 0, "score": 0, "decode": 0, "fallback": 0, "fallback_reasons": {}}


# ----------------------------------------------------------------------------- control

def enable(n_jobs=None):
    """Switch the backend on for every hmmlearn model (process-wide) until :func:`disable`.

    Calls nest: each :func:`enable` needs one :func:`disable`; the innermost ``n_jobs``
    applies.

    Parameters
    ----------
    n_jobs : int, optional
        Threads for the kernels and the frame likelihoods (``None`` or -1: all cores).
        The results are the same for any value.

    Returns
    -------
    previous : int or None
        The ``n_jobs`` in force before (what :func:`disable` restores).

    Raises
    ------
    ImportError
        hmmlearn is not installed (``pip install 'emfast[hmmlearn]'``).
    TypeError, ValueError
        ``n_jobs`` is not a valid thread count.
    """
    check_n_jobs(n_jobs)
    base = _hmmlearn_base()
    with _lock:
        prev = _state["n_jobs"]
        if _state["depth"] == 0:
            _patch(base)
            prev = None
        _state["depth"] += 1
        _state.setdefault("stack", []).append(prev)
        _state["n_jobs"] = n_jobs
        return prev


def disable():
    """Undo one :func:`enable`; after the outermost one hmmlearn runs its own code again.

    Raises
    ------
    RuntimeError
        The backend is not enabled.
    """
    with _lock:
        if _state["depth"] == 0:
            raise RuntimeError("emfast.compat.hmmlearn.disable(): the backend is not enabled.")
        _state["depth"] -= 1
        _state["n_jobs"] = _state["stack"].pop()
        if _state["depth"] == 0:
            _unpatch()


def is_enabled() -> bool:
    """Whether the backend is on."""
    return _state["depth"] > 0


@contextlib.contextmanager
def backend(n_jobs=None):
    """Context manager: inside it, every hmmlearn HMM runs on emfast's kernels.

    Parameters
    ----------
    n_jobs : int, optional
        Threads (``None`` or -1: all cores); results do not depend on it.

    Examples
    --------
    >>> import emfast.compat.hmmlearn as ehl                  # doctest: +SKIP
    >>> with ehl.backend(n_jobs=2):                           # doctest: +SKIP
    ...     model.fit(X, lengths)
    ...     logprob, states = model.decode(X, lengths)
    """
    enable(n_jobs)
    try:
        yield
    finally:
        disable()


def backend_stats(reset=False) -> dict:
    """Calls served since the backend was first enabled: ``estep``, ``score``, ``decode``
    on the kernels, ``fallback`` to hmmlearn's own code (``fallback_reasons``: how
    many for each reason).

    Parameters
    ----------
    reset : bool, default=False
        Zero the counters after reading them.
    """
    with _lock:
        out = dict(_state["stats"] or _new_stats())
        out["fallback_reasons"] = dict(out["fallback_reasons"])
        if reset:
            _state["stats"] = _new_stats()
        return out


def _count(what, reason=None):
    with _lock:
        if _state["stats"] is None:
            _state["stats"] = _new_stats()
        _state["stats"][what] += 1
        if reason is not None:
            reasons = _state["stats"]["fallback_reasons"]
            reasons[reason] = reasons.get(reason, 0) + 1


def _all_subclasses(cls):
    out, todo = [], [cls]
    while todo:
        c = todo.pop()
        for sub in c.__subclasses__():
            if sub not in out:
                out.append(sub)
                todo.append(sub)
    return out


def _patch(base):
    A = base._AbstractHMM
    orig = {name: A.__dict__[name] for name in ("_do_estep", "_score", "decode")}
    _state["orig"] = orig
    A._do_estep = _do_estep
    A._score = _score
    A.decode = _decode
    # hmmlearn's categorical models hold their own wrapper of the original decode
    # (BaseCategoricalHMM.__init_subclass__, for the docstring): replace those too
    wrapped = []
    for cls in _all_subclasses(A):
        f = cls.__dict__.get("decode")
        if f is not None and getattr(f, "__wrapped__", None) is orig["decode"]:
            new = functools.wraps(f)(lambda *args, **kwargs: _decode(*args, **kwargs))
            new.__wrapped__ = _decode
            wrapped.append((cls, f))
            cls.decode = new
    _state["wrapped"] = wrapped


def _unpatch():
    base = _hmmlearn_base()
    A = base._AbstractHMM
    for name, f in _state["orig"].items():
        setattr(A, name, f)
    for cls, f in _state["wrapped"]:
        cls.decode = f
    _state["wrapped"] = []


def _orig(name):
    orig = _state["orig"]
    if orig is None:                 # never enabled (a class made while it was)
        base = _hmmlearn_base()
        return getattr(base._AbstractHMM, name)
    return orig[name]


# ----------------------------------------------------------------------------- helpers

def _n_threads():
    return check_n_jobs(_state["n_jobs"])


def _is(cls, name, *owners):
    f = getattr(cls, name, None)
    f = getattr(f, "__wrapped__", f) if name in ("score_samples",) else f
    return any(f is owner.__dict__.get(name) for owner in owners if name in owner.__dict__)


def _offsets(X, lengths):
    """hmmlearn's lengths rule, as sequence offsets; _Fallback for what the kernels do
    not take (empty or negative lengths)."""
    n = len(X)
    if lengths is None:
        return np.array([0, n], dtype=np.int64)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.size == 0 or lengths.dtype.kind not in "iu":
        raise _Fallback("lengths not positive integers")
    cs = np.cumsum(lengths)
    if cs[-1] != n:
        raise ValueError(f"lengths array {lengths} doesn't sum to {n} samples")
    if np.any(lengths <= 0):
        raise _Fallback("an empty sequence")
    return np.concatenate([[0], cs]).astype(np.int64)


def _chunks(n, step):
    return [(a, min(a + step, n)) for a in range(0, n, step)]


def _frame_rows(K):
    return max(64, _FRAME_CELLS // max(1, K))


def _stat_rows(self, X):
    F = max(1, int(np.prod(np.shape(X)[1:], dtype=np.int64)))
    K = max(1, int(getattr(self, "n_components", 1)))
    M = max(1, int(getattr(self, "n_mix", 1) or 1))
    return max(64, _STAT_CELLS // (K * M * F * F))


def _map_chunks(work, n, step):
    """``work(a, b)`` on the row chunks ``[a, b)`` of ``n`` rows, threaded; results in order."""
    parts = _chunks(n, step)
    n_threads = min(_n_threads(), len(parts))
    if n_threads > 1:
        with ThreadPoolExecutor(n_threads) as ex:
            return list(ex.map(lambda ab: work(*ab), parts))
    return [work(a, b) for a, b in parts]


def _frames(fn, X, K):
    """``fn`` (a row-wise frame likelihood) on all of X: fixed row chunks, threaded."""
    out = np.empty((len(X), K))

    def work(a, b):
        out[a:b] = fn(X[a:b])
    _map_chunks(work, len(X), _frame_rows(K))
    return out


def _frame_function(self, base, log, variational):
    """The model's frame (log-)likelihood, or an exact faster equal of it."""
    if variational:
        return self._compute_subnorm_log_likelihood if log else self._compute_subnorm_likelihood
    fast = _fast_gaussian(self, base)
    if fast is not None:
        if log:
            return fast
        def lik(Xc):
            with np.errstate(under="ignore"):
                return np.exp(fast(Xc))
        return lik
    return self._compute_log_likelihood if log else self._compute_likelihood


def _fast_gaussian(self, base):
    """hmmlearn's diagonal / spherical Gaussian log-density, the same operations in the
    same order (so the same numbers) without its (n, K, F) temporaries: the sum over the
    F features runs feature by feature, as numpy sums a short axis."""
    from hmmlearn import _emissions
    cls = type(self)
    if not (isinstance(self, _emissions.BaseGaussianHMM)
            and _is(cls, "_compute_log_likelihood", _emissions.BaseGaussianHMM)
            and getattr(self, "covariance_type", None) in ("diag", "spherical")):
        return None
    means = np.asarray(self.means_, dtype=np.float64)
    covars = np.asarray(self._covars_, dtype=np.float64)
    if means.ndim != 2:
        return None
    nc, nf = means.shape
    if nf >= 8:                    # numpy sums 8 or more terms pairwise: its own order
        return None
    if self.covariance_type == "spherical":
        if covars.ndim == 1:
            covars = covars[:, np.newaxis]
        covars = np.broadcast_to(covars, (nc, nf))
    if covars.shape != (nc, nf):
        return None
    covars = np.maximum(covars, np.finfo(float).tiny)
    const = nf * np.log(2 * np.pi) + np.log(covars).sum(axis=-1)

    def loglik(Xc):
        Xc = np.asarray(Xc, dtype=np.float64)
        if Xc.ndim != 2 or Xc.shape[1] != nf:
            return self._compute_log_likelihood(Xc)     # hmmlearn's, and its error
        with np.errstate(over="ignore"):
            acc = None
            for f in range(nf):
                d = Xc[:, f, None] - means[:, f]
                d **= 2
                d /= covars[:, f]
                if acc is None:
                    acc = d
                else:
                    acc += d
            acc += const
            acc *= -0.5
        return acc
    return loglik


def _prepared(fn, X, offsets, start, trans, log):
    """Frames for the kernels, chunk by chunk in threads: the model's lattice, the
    likelihoods (for ``log``: exponentiated after a shift by the row maximum, as
    :func:`emfast.kernels.forward_backward` does), the shifts, and the normalised chain."""
    K = int(np.shape(trans)[0]) if np.ndim(trans) == 2 else -1
    p, A, r, logc = _chain_parts(start, trans, K)
    fold = r is not None and np.any(r != 1.0)
    if fold:
        not_last = _not_last(len(X), offsets)

    N = len(X)
    lat = np.empty((N, K))
    lik = np.empty((N, K)) if (fold or log) else lat
    sh = np.empty(N) if log else None

    def work(a, b):
        chunk = np.asarray(fn(X[a:b]), dtype=np.float64)
        if chunk.shape != (b - a, K):
            raise _Fallback("frame likelihood of an unexpected shape")
        lat[a:b] = chunk
        out = lik[a:b]
        adj = chunk
        if fold:
            adj = _fold_row_sums(chunk, not_last[a:b], r, log, out=out)
        if log:                            # emfast.kernels.forward_backward's log=True rule
            m = _row_max(adj)              # NaN and +inf show in the row maximum
            if np.isnan(m).any() or (m == np.inf).any():
                raise _Fallback("NaN or +inf frame log-likelihood")
            m[m == -np.inf] = 0.0
            sh[a:b] = m
            np.subtract(adj, m[:, None], out=out)
            with np.errstate(under="ignore"):    # to 0 is right (hmmlearn ignores it too)
                np.exp(out, out=out)

    _map_chunks(work, N, _frame_rows(K))
    return p, A, lat, lik, sh, logc


def _row_max(a):
    """``a.max(axis=1)`` (NaN propagates), column by column: numpy's reduction over a
    short last axis is several times slower."""
    m = a[:, 0].copy()
    for k in range(1, a.shape[1]):
        np.maximum(m, a[:, k], out=m)
    return m


def _chain_parts(start, trans, K):
    """Exactly normalised (startprob, transmat) for the kernels, the row sums ``r`` of
    transmat and ``log`` of the start total. The start total goes to each sequence's
    log-likelihood and the row sums into the frame of the source state at every step
    but the last of its sequence: the same path probabilities, posteriors and counts."""
    start = np.asarray(start, dtype=np.float64)
    trans = np.asarray(trans, dtype=np.float64)
    if (K < 1 or start.shape != (K,) or trans.shape != (K, K)
            or not np.all(np.isfinite(start)) or not np.all(np.isfinite(trans))
            or np.any(start < 0) or np.any(trans < 0)):
        raise _Fallback("startprob/transmat not finite and non-negative")
    c = start.sum()
    if not c > 0:
        raise _Fallback("startprob sums to 0")
    r = trans.sum(axis=1)
    zero = r == 0
    A = np.where(zero[:, None], 1.0 / K, trans / np.where(zero, 1.0, r)[:, None])
    return start / c, A, r, float(np.log(c))


def _not_last(n, offsets):
    """True at every row but the last of its sequence."""
    keep = np.ones(n, dtype=bool)
    keep[offsets[1:] - 1] = False
    return keep


def _fold_row_sums(frames, keep, r, log, out=None):
    """``frames`` (rows, K) with the transmat row sums ``r`` folded into the rows where
    ``keep`` (added as logs when ``log``); into ``out`` if given."""
    keep = keep[:, None]
    if log:
        with np.errstate(divide="ignore"):
            lr = np.log(r)
        return np.add(frames, np.where(keep, lr, 0.0), out=out)
    with np.errstate(under="ignore"):
        return np.multiply(frames, np.where(keep, r, 1.0), out=out)


def _chain(start, trans, lattice, offsets, log):
    """:func:`_chain_parts` with the row sums folded into ``lattice``."""
    p, A, r, logc = _chain_parts(start, trans, lattice.shape[1])
    if np.any(r != 1.0):
        lattice = _fold_row_sums(lattice, _not_last(lattice.shape[0], offsets), r, log)
    return p, A, lattice, logc


def _forward_backward(fn, X, offsets, start, trans, log):
    """Frames of all of X, then every sequence through the threaded kernel in one call:
    (the model's lattice, log-likelihood per sequence, posteriors, transition counts)."""
    p, A, lat, lik, sh, logc = _prepared(fn, X, offsets, start, trans, log)
    try:
        with np.errstate(under="ignore"):     # tiny expected counts: 0 is right
            ll, post, xi = kernels.forward_backward(lik, p, A, np.diff(offsets), log=False,
                                                    n_jobs=_state["n_jobs"])
    except ValueError:               # e.g. an observation impossible in every state
        raise _Fallback("kernel: an observation impossible in every state") from None
    if sh is not None:
        ll += np.add.reduceat(sh, offsets[:-1])
    if logc != 0.0:
        ll += logc
    return lat, ll, post, xi


def _seq_sum(values):
    """hmmlearn's running total over sequences (same order, from 0)."""
    total = 0
    for v in values.tolist():
        total += v
    return total


def _noop(**kwargs):
    return None


# ----------------------------------------------------------------------------- hooks

def _estep_ok(self, base):
    cls = type(self)
    V = base.VariationalBaseHMM
    owners = (base._AbstractHMM, base.BaseHMM, V)
    return (self.implementation in ("log", "scaling")
            and all(_is(cls, n, *owners) for n in (
                "_fit_log", "_fit_scaling", "_accumulate_sufficient_statistics_log",
                "_accumulate_sufficient_statistics_scaling", "_compute_posteriors_log",
                "_compute_posteriors_scaling"))
            and "_accumulate_sufficient_statistics_log" not in vars(self)
            and "_accumulate_sufficient_statistics_scaling" not in vars(self))


def _do_estep(self, X, lengths):
    base = _hmmlearn_base()
    orig = _orig("_do_estep")
    if not is_enabled() or not _estep_ok(self, base):
        _count("fallback", "model overrides a replaced method")
        return orig(self, X, lengths)
    try:
        offsets = _offsets(X, lengths)
        log = self.implementation == "log"
        stats = self._initialize_sufficient_statistics()
        self._estep_begin()
        variational = isinstance(self, base.VariationalBaseHMM)
        if variational:
            start, trans = self.startprob_subnorm_, self.transmat_subnorm_
        else:
            start, trans = self.startprob_, self.transmat_
        fn = _frame_function(self, base, log, variational)
        lattice, ll, post, xi = _forward_backward(fn, X, offsets, start, trans, log)
    except _Fallback as why:
        _count("fallback", str(why))
        return orig(self, X, lengths)
    # the base-class part of the statistics, from the kernel
    stats["nobs"] += len(offsets) - 1
    if "s" in self.params:
        stats["start"] += post[offsets[:-1]].sum(axis=0)
    if "t" in self.params:
        stats["trans"] += xi
    # the emission part: the model's own accumulator on row blocks, its base part muted
    self._accumulate_sufficient_statistics_log = _noop
    self._accumulate_sufficient_statistics_scaling = _noop
    try:
        for a, b in _chunks(len(X), _stat_rows(self, X)):
            self._accumulate_sufficient_statistics(stats, X[a:b], lattice[a:b], post[a:b],
                                                   None, None)
    finally:
        del self._accumulate_sufficient_statistics_log
        del self._accumulate_sufficient_statistics_scaling
    _count("estep")
    return stats, _seq_sum(ll)


def _score(self, X, lengths=None, *, compute_posteriors):
    base = _hmmlearn_base()
    orig = _orig("_score")
    cls = type(self)
    if not is_enabled() or not (_is(cls, "_score_log", base._AbstractHMM)
                                and _is(cls, "_score_scaling", base._AbstractHMM)):
        _count("fallback", "model overrides a replaced method")
        return orig(self, X, lengths, compute_posteriors=compute_posteriors)
    from sklearn.utils.validation import check_array, check_is_fitted
    check_is_fitted(self, "startprob_")
    self._check()
    X = check_array(X)
    try:
        if self.implementation not in ("log", "scaling"):
            raise _Fallback("implementation not log/scaling")
        log = self.implementation == "log"
        offsets = _offsets(X, lengths)
        fn = _frame_function(self, base, log, False)
        _, ll, post, _ = _forward_backward(fn, X, offsets, self.startprob_, self.transmat_, log)
    except _Fallback as why:
        _count("fallback", str(why))
        return orig(self, X, lengths, compute_posteriors=compute_posteriors)
    _count("score")
    if not compute_posteriors:
        post = np.empty((0, self.n_components))
    return _seq_sum(ll), post


def _decode(self, X, lengths=None, algorithm=None):
    base = _hmmlearn_base()
    orig = _orig("decode")
    cls = type(self)
    algorithm = algorithm or self.algorithm
    fast = is_enabled() and (
        (algorithm == "viterbi" and _is(cls, "_decode_viterbi", base._AbstractHMM)) or
        (algorithm == "map" and _is(cls, "_decode_map", base._AbstractHMM)
         and _is(cls, "score_samples", base._AbstractHMM)))
    if not fast:
        if algorithm in base.DECODER_ALGORITHMS:
            _count("fallback", "model overrides a replaced method")
        return orig(self, X, lengths, algorithm)
    from sklearn.utils.validation import check_array, check_is_fitted
    check_is_fitted(self, "startprob_")
    self._check()
    X = check_array(X)
    try:
        offsets = _offsets(X, lengths)
        if algorithm == "map":
            post = self._score(X, lengths, compute_posteriors=True)[1]
            best = np.max(post, axis=1)
            log_prob = 0
            for a, b in zip(offsets[:-1], offsets[1:]):
                log_prob += best[a:b].sum()
            _count("decode")
            return log_prob, np.argmax(post, axis=1)
        lattice = _frames(_frame_function(self, base, True, False), X, self.n_components)
        p, A, lat, logc = _chain(self.startprob_, self.transmat_, lattice, offsets, True)
        try:
            logprob, states = kernels.viterbi(lat, p, A, np.diff(offsets), log=True,
                                              n_jobs=_state["n_jobs"])
        except ValueError:
            raise _Fallback("kernel: no path of positive probability") from None
    except _Fallback as why:
        _count("fallback", str(why))
        return orig(self, X, lengths, algorithm)
    _count("decode")
    return _seq_sum(logprob + logc), states.astype(np.intp)
