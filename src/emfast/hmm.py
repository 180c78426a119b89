"""Categorical hidden Markov model with missing observations (hmmlearn drop-in)."""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._base import BaseEstimator, check_is_fitted, check_n_jobs, check_random_state
from .data import MISSING, _codes_from_numeric, check_lengths
from .em import ConvergenceMonitor, dirichlet_log_prior, fit_with_restarts, run_em
from .kernels import _viterbi_run, estep_codes

__all__ = ["CategoricalHMM"]

_ZERO_OBS = ("some observed symbol has emission probability 0 in every state reachable there. "
             "Use emissionprob_prior > 1 or check the data.")


@dataclass
class HMMStats:
    """Expected sufficient statistics of a categorical HMM (additive over sequences)."""

    start: np.ndarray            # (K,)
    trans: np.ndarray            # (K, K)
    emit: list                   # [(K, M_c)] per channel

    def __add__(self, other: "HMMStats") -> "HMMStats":
        return HMMStats(self.start + other.start, self.trans + other.trans,
                        [a + b for a, b in zip(self.emit, other.emit)])


def _stack_emissions(tables):
    """Per-channel (K, M_c) tables -> the kernels' stacked transposed table.

    Returns ``emitT`` of shape (sum M_c + 1, K) (channel c in rows
    ``choff[c]:choff[c + 1]``, then one row of ones that a missing code points
    to) and ``choff`` (C + 1,) int64.
    """
    K = tables[0].shape[0]
    emitT = np.ascontiguousarray(np.concatenate(
        [np.asarray(t, dtype=np.float64).T for t in tables] + [np.ones((1, K))], axis=0))
    sizes = [t.shape[1] for t in tables]
    choff = np.zeros(len(tables) + 1, dtype=np.int64)
    np.cumsum(sizes, out=choff[1:])
    return emitT, choff


def _recode_missing(codes, sizes):
    """State-dependent missingness: missing (-1) in channel c becomes symbol sizes[c]."""
    out = codes.copy()
    for c, m in enumerate(sizes):
        col = out[:, c]
        col[col == MISSING] = m
    return out


def _join(tables, q):
    """Observed-symbol tables B_c (K, M_c) and missingness q (K, C) -> augmented
    tables [(1 - q_c) B_c | q_c] of shape (K, M_c + 1)."""
    return [np.hstack([(1.0 - q[:, c:c + 1]) * B, q[:, c:c + 1]]) for c, B in enumerate(tables)]


def _split(aug):
    """Inverse of :func:`_join` (a state with q = 1 gets a uniform B row)."""
    q = np.column_stack([A[:, -1] for A in aug])
    tables = []
    for A in aug:
        obs = A[:, :-1]
        tot = obs.sum(axis=1, keepdims=True)
        zero = tot <= 0
        tables.append(np.where(zero, 1.0 / obs.shape[1], obs / np.where(zero, 1.0, tot)))
    return tables, q


class CategoricalHMM(BaseEstimator):
    """Hidden Markov model with categorical emissions, fitted by EM (Baum-Welch).

    A drop-in for ``hmmlearn.hmm.CategoricalHMM`` (same constructor names,
    fitted attributes and methods) that also accepts missing observations
    (code ``-1``) and several categorical channels per time step.

    Parameters
    ----------
    n_components : int, default=1
        Number of hidden states K.
    startprob_prior : float or array-like of shape (n_components,), default=1.0
        Dirichlet concentration of the start probabilities (1 = no prior).
    transmat_prior : float or array-like of shape (n_components, n_components), default=1.0
        Dirichlet concentration of every transition row.
    emissionprob_prior : float or array-like, default=1.0
        Dirichlet concentration of the emission tables (an array of shape
        ``(n_components, n_features)`` for one channel; a scalar for several).
    n_features : int or list of int, optional
        Number of symbols (hmmlearn's meaning). With several channels, a list
        with one symbol count per column. Inferred from the data (largest
        observed code + 1) or from a preset ``emissionprob_`` when ``None``.
        Never modified by ``fit``; the value used is ``n_features_``.
    algorithm : {"viterbi", "map"}, default="viterbi"
        Decoder used by :meth:`decode` and :meth:`predict`.
    random_state : int, Generator, RandomState or None, default=None
        Seed of the random initialisation; never modified by ``fit``.
    n_iter : int, default=10
        Maximum number of EM iterations (M-steps).
    tol : float, default=1e-2
        Stop when the objective (total log-likelihood, plus the log Dirichlet
        prior when priors are not 1) improves by less than ``tol``: hmmlearn's
        absolute rule, so it depends on the data size.
    verbose : bool, default=False
        Show per-iteration progress.
    params : str, default="ste"
        Which parameters are updated: ``s`` start, ``t`` transitions, ``e`` emissions.
    init_params : str, default="ste"
        Which parameters are initialised randomly before fitting. Parameters not
        listed that were set by hand (``startprob_``, ``transmat_``,
        ``emissionprob_``) are the starting point.
    implementation : {"log", "scaling"}, default="log"
        Accepted for compatibility; the scaled kernel is always used (it is exact
        up to round-off and faster).
    n_init : int, default=1
        Number of random restarts; the fit with the highest objective is kept.
    n_jobs : int, optional
        Threads for the E-step (``None`` or -1: all cores). Sequences are
        processed in parallel; results do not depend on it beyond round-off.
    missingness : {"ignorable", "state"}, default="ignorable"
        ``"ignorable"``: a missing entry is marginalised (valid under MCAR/MAR).
        ``"state"``: whether channel c is missing depends on the hidden state,
        with probability ``missingprob_[k, c]``, fitted jointly (a missing-not-
        at-random model in which missingness carries information about the
        state). Likelihoods then include the missingness indicators.

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
    emissionprob_ : ndarray of shape (n_components, n_features) or list of such arrays
        A list of ``(n_components, n_features[c])`` tables when X has several columns.
    n_features_ : int or list of int
        Symbol counts used by the fit.
    missingprob_ : ndarray of shape (n_components, n_channels)
        Only with ``missingness="state"``: probability that channel c is
        missing in state k. ``emissionprob_`` is then the distribution of the
        value given the state (whether observed or not).
    monitor_ : ConvergenceMonitor
        ``history`` (objective after each E-step; hmmlearn's first ``n_iter``
        entries) and ``converged``.
    log_likelihood_ : float
        Log-likelihood of the training data under the fitted parameters.
    history_ : list of float
    n_iter_ : int
        Number of M-steps performed.
    converged_ : bool

    Notes
    -----
    A missing entry (``-1``) contributes a factor 1 to the emission
    likelihood of its time step (it is marginalised out: ignorable
    missingness); a time step with every channel missing is a pure transition
    step. The E-step is one fused scaled forward-backward pass per sequence
    that accumulates the expected counts directly. The M-step is hmmlearn's
    ``max(prior - 1 + counts, 0)`` normalised; a row with zero total becomes
    uniform.

    With ``missingness="state"`` every channel gets one extra symbol,
    "missing", with emission probability ``q[k, c]``, observed symbols having
    ``(1 - q[k, c]) B_c[k, x]``: the same fused kernel fits it, and the MLE
    factorises into ``q`` (share of missing mass per state) and ``B`` (the
    usual normalised counts of the observed symbols, with the prior).

    Examples
    --------
    >>> import numpy as np, emfast
    >>> X = np.array([0, 1, 1, -1, 2, 0, 0, 1, 2, 2])
    >>> model = emfast.CategoricalHMM(n_components=2, n_iter=20, random_state=0).fit(X)
    >>> model.emissionprob_.shape
    (2, 3)
    """

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, *,
                 emissionprob_prior=1.0, n_features=None, algorithm="viterbi",
                 random_state=None, n_iter=10, tol=1e-2, verbose=False, params="ste",
                 init_params="ste", implementation="log", n_init=1, n_jobs=None,
                 missingness="ignorable", accelerate=None, max_time=None, param_tol=None):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_init = n_init
        self.n_jobs = n_jobs
        self.missingness = missingness
        self.accelerate = accelerate
        self.max_time = max_time
        self.param_tol = param_tol

    # ------------------------------------------------------------------ checks
    def _check_hyper(self):
        K = self.n_components
        if not isinstance(K, (numbers.Integral, np.integer)) or K < 1:
            raise ValueError(f"n_components must be a positive int; got {K!r}.")
        if not isinstance(self.n_iter, (numbers.Integral, np.integer)) or self.n_iter < 1:
            raise ValueError(f"n_iter must be a positive int; got {self.n_iter!r}.")
        if self.implementation not in ("log", "scaling"):
            raise ValueError(f"implementation must be 'log' or 'scaling'; got "
                             f"{self.implementation!r}.")
        if self.missingness not in ("ignorable", "state"):
            raise ValueError(f"missingness must be 'ignorable' or 'state'; got "
                             f"{self.missingness!r}.")
        if self.algorithm not in ("viterbi", "map"):
            raise ValueError(f"algorithm must be 'viterbi' or 'map'; got {self.algorithm!r}.")
        for name in ("params", "init_params"):
            v = getattr(self, name)
            if not isinstance(v, str) or set(v) - set("ste"):
                raise ValueError(f"{name} must be a string made of 's', 't', 'e'; got {v!r}.")

    def _preset_emission_sizes(self):
        """Symbol counts implied by a hand-set ``emissionprob_`` (or None)."""
        if "e" in self.init_params or not hasattr(self, "emissionprob_"):
            return None
        e = self.emissionprob_
        if isinstance(e, (list, tuple)):
            return [int(np.shape(t)[1]) for t in e]
        return [int(np.atleast_2d(e).shape[1])]

    def _validate_X(self, X, n_features=None, *, infer=False):
        """X -> (codes (N, C) int32, n_features list, multi). ``-1`` = missing."""
        if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
            X = X.to_numpy()
        arr = np.asarray(X)
        if arr.ndim == 1:
            arr = arr[:, None]
            multi = False
        elif arr.ndim == 2:
            multi = arr.shape[1] > 1
        else:
            raise ValueError(f"X must be 1-D (n_samples,) or 2-D (n_samples, n_channels); "
                             f"got shape {arr.shape}.")
        N, C = arr.shape
        if N == 0 or C == 0:
            raise ValueError(f"X is empty (shape {arr.shape}); need at least one time step and "
                             "one column.")
        if arr.dtype.kind not in "iufb":
            raise ValueError(f"X has dtype {arr.dtype}; expected integer codes (-1 = missing).")
        if n_features is None:
            sizes = None
        elif isinstance(n_features, (numbers.Integral, np.integer)):
            sizes = [int(n_features)] * C
        else:
            sizes = [int(m) for m in n_features]
            if len(sizes) != C:
                raise ValueError(f"n_features has {len(sizes)} entries but X has {C} column(s).")
        if sizes is not None and any(m < 1 for m in sizes):
            raise ValueError(f"n_features must be >= 1; got {n_features!r}.")
        if sizes is None and not infer:
            raise ValueError("n_features is unknown; fit the model first.")
        codes = None if C == 1 else np.empty((N, C), dtype=np.int32)
        out_sizes = []
        for c in range(C):
            where = f"X[:, {c}]" if multi else "X"
            var = f"channel {c}" if multi else "X"
            card = sizes[c] if sizes is not None else np.iinfo(np.int32).max
            col = _codes_from_numeric(arr[:, c], where, var, card)
            if C == 1:      # no second copy of a single int32 column
                codes = np.ascontiguousarray(col).reshape(N, 1)
            else:
                codes[:, c] = col
            out_sizes.append(sizes[c] if sizes is not None else max(int(col.max()) + 1, 1))
        return codes, out_sizes, multi

    def _priors(self, sizes):
        K = self.n_components
        def bc(v, shape, name):
            a = np.asarray(v, dtype=np.float64)
            try:
                return np.broadcast_to(a, shape)
            except ValueError:
                raise ValueError(f"{name} must be a scalar or broadcast to shape {shape}; got "
                                 f"shape {a.shape}.") from None
        ps = bc(self.startprob_prior, (K,), "startprob_prior")
        pt = bc(self.transmat_prior, (K, K), "transmat_prior")
        ep = self.emissionprob_prior
        if isinstance(ep, (list, tuple)) and len(sizes) > 1:
            if len(ep) != len(sizes):
                raise ValueError(f"emissionprob_prior has {len(ep)} entries for {len(sizes)} "
                                 "channels.")
            pe = [bc(e, (K, m), f"emissionprob_prior[{c}]") for c, (e, m) in
                  enumerate(zip(ep, sizes))]
        else:
            pe = [bc(ep, (K, m), "emissionprob_prior") for m in sizes]
        return [ps, pt] + pe

    # -------------------------------------------------------------- parameters
    def _theta_from_attrs(self, K, sizes):
        """Current parameters as a list [start, trans, E_1..E_C], validated."""
        e = self.emissionprob_
        tables = list(e) if isinstance(e, (list, tuple)) else [np.atleast_2d(e)]
        if len(tables) != len(sizes):
            raise ValueError(f"emissionprob_ has {len(tables)} table(s) but X has {len(sizes)} "
                             "channel(s).")
        theta = [self._check_part("startprob_", self.startprob_, (K,)),
                 self._check_part("transmat_", self.transmat_, (K, K))]
        for c, (t, m) in enumerate(zip(tables, sizes)):
            name = f"emissionprob_[{c}]" if len(sizes) > 1 else "emissionprob_"
            theta.append(self._check_part(name, t, (K, m)))
        if getattr(self, "missingness", "ignorable") == "state":
            q = self._check_q(self.missingprob_, K, len(sizes))
            theta = theta[:2] + _join(theta[2:], q)
        return theta

    @staticmethod
    def _check_q(q, K, C):
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (K, C):
            raise ValueError(f"missingprob_ must have shape ({K}, {C}); got {q.shape}.")
        if not np.all((q >= 0) & (q <= 1)):
            raise ValueError("missingprob_ must lie in [0, 1].")
        return q

    def _init_theta(self, rng, K, sizes, preset):
        """Random start (hmmlearn's distributions) for what init_params names or is unset."""
        theta = list(preset) if preset is not None else [None] * (2 + len(sizes))
        a = np.full(K, 1.0 / K)
        if "s" in self.init_params or theta[0] is None:
            theta[0] = rng.dirichlet(a)
        if "t" in self.init_params or theta[1] is None:
            theta[1] = rng.dirichlet(a, size=K)
        for c, m in enumerate(sizes):
            if "e" in self.init_params or theta[2 + c] is None:
                e = rng.random((K, m))
                theta[2 + c] = e / e.sum(axis=1, keepdims=True)
        return theta

    def _preset_theta(self, K, sizes):
        have = [hasattr(self, n) for n in ("startprob_", "transmat_", "emissionprob_")]
        if not any(have):
            return None
        theta = [None] * (2 + len(sizes))
        # validate the hand-set parts only
        if have[0] and "s" not in self.init_params:
            theta[0] = self._check_part("startprob_", self.startprob_, (K,))
        if have[1] and "t" not in self.init_params:
            theta[1] = self._check_part("transmat_", self.transmat_, (K, K))
        if have[2] and "e" not in self.init_params:
            e = self.emissionprob_
            tables = list(e) if isinstance(e, (list, tuple)) else [np.atleast_2d(e)]
            if len(tables) != len(sizes):
                raise ValueError(f"emissionprob_ has {len(tables)} table(s) but X has "
                                 f"{len(sizes)} channel(s).")
            for c, (t, m) in enumerate(zip(tables, sizes)):
                name = f"emissionprob_[{c}]" if len(sizes) > 1 else "emissionprob_"
                theta[2 + c] = self._check_part(name, t, (K, m))
        return theta

    @staticmethod
    def _check_part(name, value, shape):
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}; got {arr.shape}.")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{name} must be finite and non-negative.")
        sums = arr.sum(axis=-1)
        if not np.allclose(sums, 1.0, rtol=0, atol=1e-8):
            raise ValueError(f"{name} rows must sum to 1; got sums {sums!r}.")
        return arr

    # --------------------------------------------------------------- E and M
    def _run_fb(self, codes, offsets, theta, n_threads, *, counts=True, posteriors=False):
        """One fused E-step. Returns (per-sequence loglik, HMMStats or None, gamma or None)."""
        tables = theta[2:]
        emitT, choff = _stack_emissions(tables)
        ll, cstart, xi, E, gamma = estep_codes(codes, offsets, theta[0], theta[1], emitT, choff,
                                               n_threads, counts=counts, posteriors=posteriors,
                                               what=_ZERO_OBS)
        stats = None
        if counts:
            emit = [np.ascontiguousarray(E[o:o + t.shape[1]].T) for o, t in zip(choff[:-1], tables)]
            stats = HMMStats(cstart, xi, emit)
        return ll, stats, gamma

    def _mstep(self, stats: HMMStats, theta, priors):
        """hmmlearn's M-step: max(prior - 1 + counts, 0), normalised (zero rows uniform)."""
        new = list(theta)
        def upd(counts, prior):
            t = np.maximum(prior - 1.0 + counts, 0.0)
            tot = t.sum(axis=-1, keepdims=True)
            zero = tot <= 0
            return np.where(zero, 1.0 / t.shape[-1], t / np.where(zero, 1.0, tot))
        if "s" in self.params:
            new[0] = upd(stats.start, priors[0])
        if "t" in self.params:
            new[1] = upd(stats.trans, priors[1])
        if "e" in self.params:
            for c, counts in enumerate(stats.emit):
                if self.missingness == "state":
                    # augmented table: last column = missing; factorised MLE
                    tot = counts.sum(axis=1)
                    q = np.where(tot > 0, counts[:, -1] / np.where(tot > 0, tot, 1.0),
                                 1.0 / counts.shape[1])
                    B = upd(counts[:, :-1], priors[2 + c])
                    new[2 + c] = _join([B], q[:, None])[0]
                else:
                    new[2 + c] = upd(counts, priors[2 + c])
        return new

    def _log_prior(self, theta, pseudo):
        """Log Dirichlet prior of theta (on the observed-symbol tables)."""
        if self.missingness == "state":
            tables, _ = _split(theta[2:])
            theta = theta[:2] + tables
        return dirichlet_log_prior(theta, pseudo)

    # --------------------------------------------------------------------- fit
    def fit(self, X, lengths=None):
        """Estimate the parameters by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_channels)
            Integer symbol codes, ``-1`` (or NaN in a float array) = missing.
            Sequences are concatenated.
        lengths : array-like of int of shape (n_sequences,), optional
            Lengths of the sequences, summing to ``n_samples``.

        Returns
        -------
        self
        """
        self._check_hyper()
        K = int(self.n_components)
        nf = self.n_features
        if nf is None:
            nf = self._preset_emission_sizes()
            if nf is not None and len(nf) == 1:
                nf = nf[0]
        codes, sizes, multi = self._validate_X(X, nf, infer=True)
        offsets = check_lengths(lengths, codes.shape[0])
        state_mis = self.missingness == "state"
        if state_mis:
            miss_rate = np.mean(codes == MISSING, axis=0)
            q_preset = None
            if hasattr(self, "missingprob_") and "e" not in self.init_params:
                q_preset = self._check_q(self.missingprob_, K, len(sizes))
            codes = _recode_missing(codes, sizes)
        priors = self._priors(sizes)
        pseudo = [p - 1.0 for p in priors]
        use_prior = any(np.any(p != 0) for p in pseudo)
        n_threads = check_n_jobs(self.n_jobs)
        preset = self._preset_theta(K, sizes)
        rng = check_random_state(self.random_state)
        tol = float(self.tol)

        def fit_one(rng_k):
            theta0 = self._init_theta(rng_k, K, sizes, preset)
            if state_mis:
                q0 = q_preset
                if q0 is None:
                    q0 = np.clip(miss_rate * rng_k.uniform(0.5, 1.5, size=(K, len(sizes))),
                                 1e-3, 1 - 1e-3)
                theta0 = theta0[:2] + _join(theta0[2:], q0)
            current = {}

            def estep(theta):
                current["theta"] = theta
                ll, stats, _ = self._run_fb(codes, offsets, theta, n_threads)
                return stats, float(ll.sum())

            def mstep(stats):
                return self._mstep(stats, current["theta"], priors)

            monitor = ConvergenceMonitor(tol, int(self.n_iter), bool(self.verbose), 1.0,
                                         "CategoricalHMM")
            log_prior = (lambda th: self._log_prior(th, pseudo)) if use_prior else None
            res = run_em(estep, mstep, theta0, max_iter=int(self.n_iter), tol=tol, scale=1.0,
                         monitor=monitor, log_prior=log_prior, accelerate=self.accelerate,
                         max_time=self.max_time, param_tol=self.param_tol)
            res.extra["monitor"] = monitor
            return res

        best = fit_with_restarts(fit_one, int(self.n_init), rng,
                                 estimator_name="CategoricalHMM", max_iter=int(self.n_iter))
        theta = best.theta
        self.startprob_ = theta[0]
        self.transmat_ = theta[1]
        tables = list(theta[2:])
        if state_mis:
            tables, self.missingprob_ = _split(tables)
        self.emissionprob_ = list(tables) if multi else tables[0]
        self.n_features_ = list(sizes) if multi else sizes[0]
        self.monitor_ = best.extra["monitor"]
        self.log_likelihood_ = best.log_likelihood
        self.history_ = list(best.history)
        self.n_iter_ = best.n_iter
        self.converged_ = best.converged
        self.n_estep_ = int(best.n_estep)
        self.stop_reason_ = best.stop_reason
        self.init_histories_ = list(best.extra.get("traces", [best.trace()]))
        return self

    # ----------------------------------------------------------------- scoring
    def _fitted_inputs(self, X, lengths):
        check_is_fitted(self, "emissionprob_")
        sizes = self.n_features_ if isinstance(self.n_features_, list) else [self.n_features_]
        codes, sizes, _ = self._validate_X(X, sizes if len(sizes) > 1 else sizes[0])
        offsets = check_lengths(lengths, codes.shape[0])
        theta = self._theta_from_attrs(int(self.n_components), sizes)
        if self.missingness == "state":
            codes = _recode_missing(codes, sizes)
        return codes, offsets, theta

    def score_sequences(self, X, lengths=None):
        """Log-likelihood of every sequence.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_channels)
            Integer codes, ``-1`` = missing.
        lengths : array-like of int, optional

        Returns
        -------
        ndarray of shape (n_sequences,)
        """
        codes, offsets, theta = self._fitted_inputs(X, lengths)
        ll, _, _ = self._run_fb(codes, offsets, theta, check_n_jobs(self.n_jobs), counts=False)
        return ll

    def score(self, X, lengths=None):
        """Total log-likelihood ``log p(X)`` (missing entries marginalised).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_channels)
            Integer codes, ``-1`` = missing.
        lengths : array-like of int, optional

        Returns
        -------
        float
        """
        return float(self.score_sequences(X, lengths).sum())

    def score_samples(self, X, lengths=None):
        """Log-likelihood and state posteriors.

        Returns
        -------
        log_prob : float
            Total log-likelihood of X.
        posteriors : ndarray of shape (n_samples, n_components)
            ``p(z_t = k | X)``.
        """
        codes, offsets, theta = self._fitted_inputs(X, lengths)
        ll, _, gamma = self._run_fb(codes, offsets, theta, check_n_jobs(self.n_jobs),
                                    counts=False, posteriors=True)
        return float(ll.sum()), gamma

    def predict_proba(self, X, lengths=None):
        """State posteriors ``p(z_t = k | X)``, shape (n_samples, n_components)."""
        return self.score_samples(X, lengths)[1]

    def decode(self, X, lengths=None, algorithm=None):
        """Most likely state sequence.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_channels)
            Integer codes, ``-1`` = missing.
        lengths : array-like of int, optional
        algorithm : {"viterbi", "map"}, optional
            Defaults to :attr:`algorithm`. ``"map"`` takes the most likely state
            of every time step; its log_prob is hmmlearn's: the sum of the
            maximal posteriors.

        Returns
        -------
        log_prob : float
            ``log p(X, path)`` summed over sequences (Viterbi).
        state_sequence : ndarray of shape (n_samples,)
        """
        algorithm = self.algorithm if algorithm is None else algorithm
        if algorithm not in ("viterbi", "map"):
            raise ValueError(f"algorithm must be 'viterbi' or 'map'; got {algorithm!r}.")
        if algorithm == "map":
            _, post = self.score_samples(X, lengths)
            return float(np.max(post, axis=1).sum()), np.argmax(post, axis=1)
        codes, offsets, theta = self._fitted_inputs(X, lengths)
        emitT, choff = _stack_emissions(theta[2:])
        with np.errstate(divide="ignore"):
            logemitT = np.log(emitT)
        logprob, path = _viterbi_run(codes, np.empty((0, theta[0].shape[0])), offsets,
                                     theta[0], theta[1], logemitT, choff,
                                     check_n_jobs(self.n_jobs), _ZERO_OBS)
        return float(logprob.sum()), path.astype(np.intp)

    def predict(self, X, lengths=None):
        """Most likely states (decoder :attr:`algorithm`), shape (n_samples,)."""
        return self.decode(X, lengths)[1]

    def get_stationary_distribution(self):
        """Stationary distribution of ``transmat_`` (left eigenvector for eigenvalue 1)."""
        check_is_fitted(self, "transmat_")
        vals, vecs = np.linalg.eig(np.asarray(self.transmat_, dtype=np.float64).T)
        v = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
        return v / v.sum()

    def _n_parameters(self):
        K = int(self.n_components)
        sizes = self.n_features_ if isinstance(self.n_features_, list) else [self.n_features_]
        n = (K - 1) + K * (K - 1) + sum(K * (m - 1) for m in sizes)
        return n + (K * len(sizes) if self.missingness == "state" else 0)

    def aic(self, X, lengths=None):
        """Akaike information criterion ``-2 log p(X) + 2 n_params`` (lower is better)."""
        return -2 * self.score(X, lengths) + 2 * self._n_parameters()

    def bic(self, X, lengths=None):
        """Bayesian information criterion ``-2 log p(X) + n_params log(n_samples)``."""
        n = len(np.asarray(X))
        return -2 * self.score(X, lengths) + self._n_parameters() * np.log(n)

    # ------------------------------------------------------------ generation
    def sample(self, n_samples=1, random_state=None, currstate=None):
        """Draw a sequence from the model.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, Generator or None
            Defaults to the estimator's ``random_state``.
        currstate : int, optional
            State of the first sample (instead of drawing it from ``startprob_``).

        Returns
        -------
        X : ndarray of shape (n_samples, 1) or (n_samples, n_channels)
            Symbol codes (int).
        state_sequence : ndarray of shape (n_samples,)

        With ``missingness="state"`` missing entries (-1) are drawn as well.
        """
        check_is_fitted(self, "emissionprob_")
        K = int(self.n_components)
        sizes = self.n_features_ if isinstance(self.n_features_, list) else [self.n_features_]
        theta = self._theta_from_attrs(K, sizes)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        n = int(n_samples)
        if n < 1:
            raise ValueError(f"n_samples must be >= 1; got {n_samples!r}.")
        states = np.empty(n, dtype=np.intp)
        cum_t = np.cumsum(theta[1], axis=1)
        u = rng.random(n)
        if currstate is None:
            states[0] = min(int(np.searchsorted(np.cumsum(theta[0]), u[0], side="right")), K - 1)
        else:
            if not 0 <= int(currstate) < K:
                raise ValueError(f"currstate must be in 0..{K - 1}; got {currstate!r}.")
            states[0] = int(currstate)
        for t in range(1, n):
            states[t] = min(int(np.searchsorted(cum_t[states[t - 1]], u[t], side="right")), K - 1)
        X = np.empty((n, len(sizes)), dtype=np.intp)
        for c, table in enumerate(theta[2:]):
            cum_e = np.cumsum(table, axis=1)[states]
            X[:, c] = np.minimum((rng.random(n)[:, None] >= cum_e).sum(axis=1),
                                 table.shape[1] - 1)
            if self.missingness == "state":          # the extra symbol means "missing"
                X[X[:, c] == sizes[c], c] = MISSING
        return X, states

    def impute(self, X, lengths=None, method="map", random_state=None):
        """Fill missing entries from the posterior predictive distribution.

        For a missing entry of channel c at step t,
        ``p(x = m | X_obs) = sum_k p(z_t = k | X_obs) emissionprob_[c][k, m]``.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_channels)
            Integer codes, ``-1`` = missing.
        lengths : array-like of int, optional
        method : {"map", "sample"}, default="map"
            The most probable symbol, or a draw.
        random_state : int, Generator or None
            For ``method="sample"``; defaults to the estimator's ``random_state``.

        Returns
        -------
        ndarray of the shape of X (int), no ``-1`` left.
        """
        if method not in ("map", "sample"):
            raise ValueError(f"method must be 'map' or 'sample'; got {method!r}.")
        codes, offsets, theta = self._fitted_inputs(X, lengths)
        ll, _, gamma = self._run_fb(codes, offsets, theta, check_n_jobs(self.n_jobs),
                                    counts=False, posteriors=True)
        out = codes.astype(np.intp)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        tables = theta[2:]
        missing_code = [MISSING] * len(tables)
        if self.missingness == "state":
            missing_code = [t.shape[1] - 1 for t in tables]
            tables, _ = _split(tables)
        for c, table in enumerate(tables):
            rows = np.flatnonzero(codes[:, c] == missing_code[c])
            if rows.size == 0:
                continue
            pred = gamma[rows] @ table
            if method == "map":
                out[rows, c] = np.argmax(pred, axis=1)
            else:
                cum = np.cumsum(pred, axis=1)
                u = rng.random(rows.size)[:, None] * cum[:, -1:]
                out[rows, c] = np.minimum((u >= cum).sum(axis=1), table.shape[1] - 1)
        return out if np.asarray(X).ndim == 2 else out[:, 0]
