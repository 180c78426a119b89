"""Categorical hidden Markov model with missing observations (hmmlearn drop-in)."""
from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass

import numpy as np

from ._base import (BaseEstimator, EMFitMixin, EMProblem, check_int, check_is_fitted,
                    check_n_jobs, draw_categorical, method_rng, sklearn_tags)
from ._config import check_memory
from .data import (MISSING, ColumnCodec, _as_array, _codes_from_numeric, _is_dataframe,
                   _is_series, _require_pandas, check_lengths,
                   refuse_label_columns)
from .distributed import Partitions, is_partitioned
from .em import ConvergenceMonitor, _float_array, check_table, dirichlet_log_prior, normalize
from .kernels import _viterbi_run, estep_codes
from .missingness import MAR, MNAR, check_mechanism

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


def _recode_missing(codes, sizes, channels=None):
    """State-dependent missingness: missing (-1) in channel c becomes symbol sizes[c]
    (for every channel, or those listed)."""
    out = codes.copy()
    for c, m in enumerate(sizes):
        if channels is not None and c not in channels:
            continue
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
    return [normalize(A[:, :-1]) for A in aug], q


class CategoricalHMM(EMFitMixin, BaseEstimator):
    """Hidden Markov model with categorical emissions, fitted by EM (Baum-Welch).

    A drop-in for ``hmmlearn.hmm.CategoricalHMM`` (same constructor names,
    fitted attributes, methods, EM loop and ``monitor_`` counts) that also
    accepts missing observations (code ``-1``), several categorical channels per
    time step, labelled pandas input, restarts and missingness mechanisms.

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
        ``(n_components, n_features)`` for one channel; a scalar or a list of
        arrays for several).
    n_features : int or list of int, optional
        Number of symbols (hmmlearn's meaning). With several channels, a list
        with one symbol count per column. Inferred from the data (largest
        observed code + 1, or the number of labels of a label column) or from a
        preset ``emissionprob_`` when ``None``, and then written back after
        ``fit`` as hmmlearn does; the value used is also in ``n_features_``.
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
        Threads for the E-step (``None`` or -1: all cores). Results are
        bit-identical for any value.
    missingness : None, MCAR, MAR, MNAR or "state", default=None
        Why entries are missing (:mod:`emfast.missingness`). ``None`` (or the
        alias ``"ignorable"``): missing entries are marginalised (right under
        MCAR and MAR). ``emfast.MCAR()``: each channel's P(missing) is fitted too
        (``missingness_``), and log-likelihoods include the pattern.
        ``emfast.MAR({c: [other channels]})``: P(missing of c) depends on
        always-observed channels at the same step (fitted in closed form; θ is the
        ignorable fit). ``emfast.MNAR({c: ["state"]})``: whether channel ``c``
        (its index, or its column name) is missing depends on the hidden state,
        fitted jointly with θ (missingness then carries information about the
        state). ``"state"``: every channel state-dependent (``missingprob_``).
    score_final : bool, default=False
        hmmlearn's loop runs an M-step after every E-step, so the returned
        parameters are one M-step past the last scored ones and
        ``log_likelihood_`` is that of the parameters before the final M-step
        (``monitor_.history[-1]``). ``True`` runs one more E-step to score the
        returned parameters (then ``score(X) == log_likelihood_``).
    accelerate : {None, "squarem"}, default=None
        ``None``: plain Baum-Welch, hmmlearn's trajectory. ``"squarem"``: SQUAREM
        extrapolation between EM steps (:func:`emfast.run_em`; docs/acceleration.md):
        fewer E-steps on slow fits, same fixed points, monotone objective; ``tol``
        then applies to one SQUAREM iteration, ``n_estep_`` counts its E-steps.
    max_time : float, optional
        Stop after this many seconds (``stop_reason_ == "max_time"``).
    param_tol : float, optional
        Also stop when an EM step changes no parameter by more than this
        (``stop_reason_ == "param_tol"``).

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
    emissionprob_ : ndarray of shape (n_components, n_features) or list of such arrays
        A list of ``(n_components, n_features[c])`` tables when X has several columns.
    n_features_ : int or list of int
        Symbol counts used by the fit.
    categories_ : list of list
        The symbols of each channel: labels learned from a label column of a
        DataFrame / Series, else ``0 .. n_features_c - 1``.
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame.
    missingness_ : dict
        With a mechanism: ``{channel: δ table}``, ``[..., 1]`` = P(missing);
        shape ``(n_components, 2)`` for a state-dependent channel, ``(2,)``
        under MCAR, ``(*parent_cards, 2)`` under MAR.
    missingness_parents_ : dict
        ``{channel: parents of its indicator}`` (``("state",)``, ``()``, ...).
    missingprob_ : ndarray of shape (n_components, n_channels)
        Only with ``missingness="state"``: probability that channel c is
        missing in state k. ``emissionprob_`` is then the distribution of the
        value given the state (whether observed or not).
    monitor_ : ConvergenceMonitor
        hmmlearn's monitor: ``history`` (objective after each E-step, one per
        M-step), ``iter``, ``converged`` (hmmlearn's meaning: ``iter == n_iter``
        or the last change below ``tol``).
    log_likelihood_ : float
        Log-likelihood of the training data at the last E-step (see
        ``score_final``); includes the missingness pattern under a mechanism.
    history_ : list of float
        Same as ``monitor_.history`` for the best restart.
    n_iter_ : int
        Number of M-steps performed.
    converged_ : bool
        Whether the tolerance test passed (no ``ConvergenceWarning`` is emitted,
        as in hmmlearn).
    n_best_ : int
    init_objectives_ : list of float

    Notes
    -----
    A missing entry (``-1``) contributes a factor 1 to the emission
    likelihood of its time step (it is marginalised out: ignorable
    missingness); a time step with every channel missing is a pure transition
    step. The E-step is one fused scaled forward-backward pass per sequence
    that accumulates the expected counts directly. The M-step is
    :func:`emfast.normalize` with hmmlearn's rule ``max(prior - 1 + counts,
    0)`` (``clip=True``); a row with zero total becomes uniform.

    With a state-dependent mechanism a channel gets one extra symbol,
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

    _fit_state_attributes = ("missingprob_", "missingness_", "missingness_parents_",
                             "feature_names_in_", "_mech_obj_")

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, *,
                 emissionprob_prior=1.0, n_features=None, algorithm="viterbi",
                 random_state=None, n_iter=10, tol=1e-2, verbose=False, params="ste",
                 init_params="ste", implementation="log", n_init=1, n_jobs=None,
                 missingness=None, score_final=False, accelerate=None, max_time=None,
                 param_tol=None):
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
        self.score_final = score_final
        self.accelerate = accelerate
        self.max_time = max_time
        self.param_tol = param_tol

    def __sklearn_tags__(self):
        return sklearn_tags(self, one_d_array=True)

    # ------------------------------------------------------------------ checks
    def _check_hyper(self):
        K = check_int(self.n_components, "n_components", low=1)
        check_int(self.n_iter, "n_iter", low=1)
        check_int(self.n_init, "n_init", low=1)
        if isinstance(self.tol, bool) or not isinstance(self.tol, numbers.Real) \
                or self.tol != self.tol:
            raise TypeError(f"tol must be a number; got {self.tol!r}.")
        if self.implementation not in ("log", "scaling"):
            raise ValueError(f"implementation must be 'log' or 'scaling'; got "
                             f"{self.implementation!r}.")
        if self.algorithm not in ("viterbi", "map"):
            raise ValueError(f"algorithm must be 'viterbi' or 'map'; got {self.algorithm!r}.")
        for name in ("params", "init_params"):
            v = getattr(self, name)
            if not isinstance(v, str) or set(v) - set("ste"):
                raise ValueError(f"{name} must be a string made of 's', 't', 'e'; got {v!r}.")
        return K

    def _mechanism(self):
        """The missingness mechanism: None (ignorable), or a Mechanism."""
        m = self.missingness
        if m is None or (isinstance(m, str) and m == "ignorable"):
            return None
        if isinstance(m, str):
            if m == "state":
                return "state"
            raise ValueError(f"missingness must be None, 'ignorable', 'state' or an "
                             f"emfast.MCAR() / MAR({{...}}) / MNAR({{...}}) mechanism; got {m!r}.")
        return check_mechanism(m)

    @staticmethod
    def _emission_tables(e, what="emissionprob_"):
        """A hand-set ``emissionprob_`` as a list of (K, M_c) tables: a 2-D array or
        nested list is one table (hmmlearn), a 3-D array or a list of 2-D tables one per
        channel."""
        if isinstance(e, (list, tuple)):
            try:
                arr = np.asarray(e, dtype=np.float64)
            except (ValueError, TypeError):
                arr = None                    # ragged: a list of tables
            if arr is not None and arr.ndim == 2:
                return [arr]
            if arr is not None and arr.ndim != 3:
                raise ValueError(f"{what} must be a (n_components, n_features) table or a list "
                                 f"of them; got shape {arr.shape}.")
            return [_float_array(t, f"{what}[{c}]") for c, t in enumerate(e)]
        arr = _float_array(e, what)
        if arr.ndim == 3:
            return list(arr)
        return [np.atleast_2d(arr)]

    def _preset_emission_sizes(self):
        """Symbol counts implied by a hand-set ``emissionprob_`` (or None)."""
        if "e" in self.init_params or not hasattr(self, "emissionprob_"):
            return None
        return [int(t.shape[1]) for t in self._emission_tables(self.emissionprob_)]

    def _validate_X(self, X, n_features=None, *, infer=False):
        """X -> (codes (N, C) int32, n_features list, multi, codec). ``-1`` = missing.

        A DataFrame / Series is read by :class:`~emfast.data.ColumnCodec` (labels
        learned at fit, columns matched by name afterwards)."""
        if _is_frame_like(X):
            return self._validate_frame(X, n_features, infer=infer)
        if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
            raise TypeError("CategoricalHMM does not support sparse input; pass a dense array "
                            "of codes.")
        arr = _as_array(X, "X")
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
            raise TypeError(f"X has dtype {arr.dtype}; expected integer codes (-1 = missing), "
                            "or a pandas Series / DataFrame of labels.")
        sizes = self._sizes_arg(n_features, C)
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
        codec = getattr(self, "_codec_", None) if not infer else None
        if codec is None or codec.from_frame:
            codec = ColumnCodec(list(range(C)), [None] * C)
        return codes, out_sizes, multi, codec

    @staticmethod
    def _sizes_arg(n_features, C):
        if n_features is None:
            return None
        if isinstance(n_features, (numbers.Integral, np.integer)) and \
                not isinstance(n_features, bool):
            sizes = [int(n_features)] * C
        else:
            sizes = [check_int(m, "n_features") for m in n_features]
            if len(sizes) != C:
                raise ValueError(f"n_features has {len(sizes)} entries but X has {C} column(s).")
        if any(m < 1 for m in sizes):
            raise ValueError(f"n_features must be >= 1; got {n_features!r}.")
        return sizes

    def _validate_frame(self, X, n_features, *, infer):
        if infer:
            default = [X.name if getattr(X, "name", None) is not None else 0] \
                if _is_series(X) else list(X.columns)
            codes, codec = ColumnCodec.learn(X, default)
            C = codes.shape[1]
            sizes = self._sizes_arg(n_features, C)
            out = []
            for c in range(C):
                lab = codec.labels[c]
                seen = max(int(codes[:, c].max()) + 1, 1) if codes.shape[0] else 1
                if lab is not None:
                    if sizes is not None and sizes[c] != len(lab):
                        raise ValueError(f"n_features[{c}] = {sizes[c]}, but column "
                                         f"{codec.names[c]!r} has the {len(lab)} labels {lab!r}.")
                    out.append(len(lab))
                else:
                    if sizes is not None and seen > sizes[c]:
                        r = int(np.flatnonzero(codes[:, c] >= sizes[c])[0])
                        raise ValueError(f"column {codec.names[c]!r} contains category "
                                         f"{int(codes[r, c])} at row {r}, but it has "
                                         f"{sizes[c]} symbols (0..{sizes[c] - 1}); use -1 or "
                                         "NaN for missing values.")
                    out.append(sizes[c] if sizes is not None else seen)
        else:
            codec = getattr(self, "_codec_", None)
            sizes = self._sizes_arg(n_features, 1 if _is_series(X) else X.shape[1])
            if codec is None or not codec.from_frame:
                # fitted on arrays: a frame's columns are the channels in order
                C = 1 if _is_series(X) else X.shape[1]
                names = [X.name] if _is_series(X) else list(X.columns)
                codec = ColumnCodec(names, [None] * C, from_frame=True, series=_is_series(X))
            codes = codec.encode(X, sizes)
            out = sizes
        if codes.shape[0] == 0:
            raise ValueError("X is empty: need at least one time step.")
        multi = codes.shape[1] > 1
        return np.ascontiguousarray(codes), list(out), multi, codec

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
        out = [ps, pt] + pe
        for name, p in zip(["startprob_prior", "transmat_prior"] +
                           ["emissionprob_prior"] * len(pe), out):
            if not np.all(np.isfinite(p)) or np.any(p < 0):
                raise ValueError(f"{name} must hold finite Dirichlet concentrations >= 0.")
        return out

    # -------------------------------------------------------------- parameters
    def _sizes(self):
        """Symbol counts of the fitted, or hand-set, model (hmmlearn: hand-set
        parameters without fit are a usable model; n_features comes from
        emissionprob_ then, and is written back when it was None)."""
        if hasattr(self, "n_features_"):
            nf = self.n_features_
            return list(nf) if isinstance(nf, (list, tuple)) else [int(nf)]
        check_is_fitted(self, "emissionprob_")
        sizes = [int(t.shape[1]) for t in self._emission_tables(self.emissionprob_)]
        if self.n_features is None:
            self.n_features = sizes if len(sizes) > 1 else sizes[0]
        return sizes

    def _theta_from_attrs(self, K, sizes, mech=None):
        """Current parameters as a list [start, trans, E_1..E_C], validated."""
        tables = self._emission_tables(self.emissionprob_)
        if len(tables) != len(sizes):
            raise ValueError(f"emissionprob_ has {len(tables)} table(s) but X has {len(sizes)} "
                             "channel(s).")
        theta = [check_table(self.startprob_, (K,), "startprob_"),
                 check_table(self.transmat_, (K, K), "transmat_")]
        for c, (t, m) in enumerate(zip(tables, sizes)):
            name = f"emissionprob_[{c}]" if len(sizes) > 1 else "emissionprob_"
            theta.append(check_table(t, (K, m), name))
        state = self._state_channels(mech, len(sizes))
        if state:
            q = self._state_q(K, len(sizes), state)
            theta = theta[:2] + [_join([B], q[:, [c]])[0] if c in state else B
                                 for c, B in enumerate(theta[2:])]
        return theta

    def _state_channels(self, mech, C):
        """Indices of the channels whose missingness depends on the hidden state."""
        if mech is None:
            mech = self._fitted_mechanism()
        if mech is None:
            return []
        if mech == "state":
            return list(range(C))
        return [c for c, pa in self._mechanism_parents(mech, C).items() if pa == ("state",)]

    def _fitted_mechanism(self):
        if hasattr(self, "missingness_parents_"):
            return self._mech_obj_
        m = self._mechanism()
        return m if m is not None else None

    def _state_q(self, K, C, state):
        """P(missing | state) (K, C) of the state-dependent channels (others unused)."""
        if hasattr(self, "missingness_"):
            q = np.zeros((K, C))
            for c in state:
                q[:, c] = self.missingness_[self._channel_names()[c]][:, 1]
            return q
        q = np.asarray(getattr(self, "missingprob_", None), dtype=np.float64)
        if q.shape != (K, C):
            raise ValueError(f"missingprob_ must have shape ({K}, {C}); got {q.shape}.")
        if not np.all((q >= 0) & (q <= 1)):
            raise ValueError("missingprob_ must lie in [0, 1].")
        return q

    def _channel_names(self):
        codec = getattr(self, "_codec_", None)
        if codec is not None and codec.from_frame:
            return list(codec.names)
        return list(range(len(self._sizes())))

    def _mechanism_parents(self, mech, C, names=None):
        """{channel index: parents} for every channel the mechanism models."""
        names = list(range(C)) if names is None else list(names)
        lookup = {n: i for i, n in enumerate(names)}
        lookup.update({str(n): i for i, n in enumerate(names)})
        lookup.update({i: i for i in range(C)})
        out = {}
        for key, pa in (mech._parents() if mech.parents is not None else {}).items():
            if key not in lookup:
                raise ValueError(f"{mech.kind} names the channel {key!r}; the channels are "
                                 f"{names!r} (or their indices 0..{C - 1}).")
            c = lookup[key]
            pa_idx = []
            for p in pa:
                if p == "state":
                    pa_idx.append("state")
                elif p in lookup and lookup[p] != c:
                    pa_idx.append(lookup[p])
                else:
                    raise ValueError(f"{mech.kind}: the indicator of channel {key!r} depends on "
                                     f"{p!r}; a CategoricalHMM supports 'state' (the hidden "
                                     "state) or other channels at the same time step.")
            if "state" in pa_idx and pa_idx != ["state"]:
                raise ValueError(f"{mech.kind}: the indicator of channel {key!r} may depend on "
                                 "'state' alone (or on other channels), not on both.")
            if "state" in pa_idx and isinstance(mech, MAR):
                raise ValueError(f"MAR: the indicator of channel {key!r} depends on the hidden "
                                 "state, which is never observed: that is MNAR; use "
                                 f"emfast.MNAR({{{key!r}: ['state']}}).")
            if isinstance(mech, MNAR) and "state" not in pa_idx and pa_idx:
                raise ValueError(f"MNAR: the indicator of channel {key!r} depends on "
                                 f"{list(pa)!r}; for a CategoricalHMM only 'state' is supported "
                                 "(use emfast.MAR for other always-observed channels).")
            out[c] = tuple(pa_idx)
        return out

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
                theta[2 + c] = normalize(rng.random((K, m)))     # hmmlearn's start
        return theta

    def _preset_theta(self, K, sizes):
        have = [hasattr(self, n) for n in ("startprob_", "transmat_", "emissionprob_")]
        if not any(have):
            return None
        theta = [None] * (2 + len(sizes))
        # validate the hand-set parts only
        if have[0] and "s" not in self.init_params:
            theta[0] = check_table(self.startprob_, (K,), "startprob_")
        if have[1] and "t" not in self.init_params:
            theta[1] = check_table(self.transmat_, (K, K), "transmat_")
        if have[2] and "e" not in self.init_params:
            tables = self._emission_tables(self.emissionprob_)
            if len(tables) != len(sizes):
                raise ValueError(f"emissionprob_ has {len(tables)} table(s) but X has "
                                 f"{len(sizes)} channel(s).")
            for c, (t, m) in enumerate(zip(tables, sizes)):
                name = f"emissionprob_[{c}]" if len(sizes) > 1 else "emissionprob_"
                theta[2 + c] = check_table(t, (K, m), name)
        return theta

    # --------------------------------------------------------------------- fit
    def fit(self, X, lengths=None):
        """Estimate the parameters by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_channels), Series or DataFrame
            Integer symbol codes, ``-1`` (or NaN in a float array) = missing; or a
            pandas Series / DataFrame of labels (categorical, string, bool) or
            codes, one column per channel. Sequences are concatenated. Data in
            partitions (a dask array, DataFrame or Series of codes,
            :func:`emfast.distributed.partitions`), each a whole number of sequences,
            is fitted partition by partition where it lives (docs/distributed.md).
        lengths : array-like of int of shape (n_sequences,), optional
            Lengths of the sequences, summing to ``n_samples``. For partitioned data:
            one array per partition, or one flat array split at the chunk boundaries of
            a dask array.

        Returns
        -------
        self
        """
        K = self._check_hyper()
        mech = self._mechanism()
        nf = self.n_features
        if nf is None:
            nf = self._preset_emission_sizes()
            if nf is not None and len(nf) == 1:
                nf = nf[0]
        if is_partitioned(X):
            return self._fit_partitioned(X, lengths, K, mech, nf)
        codes, sizes, multi, codec = self._validate_X(X, nf, infer=True)
        offsets = check_lengths(lengths, codes.shape[0])
        return self._fit_validated(K, mech, codes, offsets, sizes, multi, codec)

    def _fit_partitioned(self, X, lengths, K, mech, nf):
        """fit on data in partitions (emfast.distributed), each partition a whole
        number of sequences, validated where it lives; the E-step summed over
        partitions."""
        from .distributed import PartitionedEStep, partitions

        if mech is not None:
            raise ValueError("a partitioned (dask / Parquet) fit does not support "
                             "missingness= yet; fit in memory instead.")
        data = X if isinstance(X, Partitions) and lengths is None else partitions(X, lengths)
        if data.lengths is None and len(data) > 1:
            raise ValueError(f"lengths=None means one sequence, which cannot span the "
                             f"{len(data)} partitions of X; pass lengths (one array per "
                             "partition, or one flat array split at the partition boundaries).")
        engine = PartitionedEStep(data, functools.partial(_hmm_prepare, nf))
        try:
            sums = [s for s in engine.summaries if s is not None]
            if not sums:
                raise ValueError("X is empty: need at least one time step.")
            Cs = {len(s[0]) for s in sums}
            if len(Cs) != 1:
                raise ValueError(f"the partitions have different numbers of columns: "
                                 f"{sorted(Cs)}.")
            sizes = [int(m) for m in np.max(np.array([s[0] for s in sums]), axis=0)]
            multi = sums[0][1]
            C = len(sizes)
            names = list(data.columns) if data.frame else list(range(C))
            codec = ColumnCodec(names, [None] * C, from_frame=data.frame,
                                dtypes=list(data.dtypes) if data.frame and data.dtypes else [])
            estep = engine.estep(_hmm_part_estep, self.n_jobs)
            return self._fit_validated(K, None, None, None, sizes, multi, codec, estep=estep)
        finally:
            engine.close()

    def _fit_validated(self, K, mech, codes, offsets, sizes, multi, codec, estep=None):
        """The EM fit on validated codes (or with a given partitioned ``estep``, then
        ``codes`` is None and ``mech`` None)."""
        C = len(sizes)
        check_memory(8 * K * (sum(sizes) + C + 2) * 4,
                     f"CategoricalHMM: emission tables for {max(sizes)} symbols (the largest "
                     "code seen + 1)")
        names = list(codec.names) if codec.from_frame else list(range(C))
        parents = {}
        if mech == "state":
            parents = {c: ("state",) for c in range(C)}
        elif mech is not None:
            parents = self._mechanism_parents(mech, C, names)
            miss = (codes == MISSING).any(axis=0)
            for c in range(C):          # every other channel with missing values: MCAR
                if c not in parents and miss[c]:
                    parents[c] = ()
        state = [c for c, pa in parents.items() if pa == ("state",)]
        fit_codes = _recode_missing(codes, sizes, state) if state else codes
        priors = self._priors(sizes)
        pseudo = [p - 1.0 for p in priors]
        use_prior = any(np.any(p != 0) for p in pseudo)
        clipping = any(np.any(p < 0) for p in pseudo)      # a concentration below 1
        n_threads = check_n_jobs(self.n_jobs)
        preset = self._preset_theta(K, sizes)
        q_preset = None
        if state and hasattr(self, "missingprob_") and "e" not in self.init_params:
            q_preset = self._state_q(K, C, state) if mech == "state" else None
        miss_rate = np.mean(codes == MISSING, axis=0) if state else None
        fixed = tuple(i for i, letter in [(0, "s"), (1, "t")] if letter not in self.params) + \
            (tuple(range(2, 2 + C)) if "e" not in self.params else ())
        # the δ part of an MCAR / MAR channel is separate from θ: fitted in closed form
        delta_fixed, delta_ll = _closed_form_delta(codes, parents, sizes) if parents else ({}, 0.0)

        current = {}
        part_estep = estep

        def estep(theta):
            current["theta"] = theta
            if part_estep is not None:
                return part_estep(theta)
            ll, stats, _ = _fused_estep(fit_codes, offsets, theta, n_threads)
            return [stats.start, stats.trans] + stats.emit, float(ll.sum()) + delta_ll

        def update(cnt, a, prev):
            # hmmlearn's rule max(prior - 1 + counts, 0), normalised. A row whose cells are
            # all clipped carries no information the rule can use (every distribution
            # maximises the clipped objective): it keeps its current values, so the MAP
            # objective on the current support cannot decrease (docs/em-driver.md).
            new = normalize(cnt, a, clip=True)
            if clipping:
                dead = ~np.any(cnt + a > 0, axis=-1)
                if dead.any():
                    new[dead] = prev[dead]
            return new

        def mstep(counts):
            prev = current["theta"]
            new = [update(counts[0], pseudo[0], prev[0]), update(counts[1], pseudo[1], prev[1])]
            for c in range(C):
                cnt = counts[2 + c]
                if c in state:           # factorised MLE: q, then B with the prior
                    q = normalize(np.stack([cnt[:, :-1].sum(axis=1), cnt[:, -1]], axis=1))[:, 1]
                    (B_prev,), _ = _split([prev[2 + c]])
                    B = update(cnt[:, :-1], pseudo[2 + c], B_prev)
                    new.append(_join([B], q[:, None])[0])
                else:
                    new.append(update(cnt, pseudo[2 + c], prev[2 + c]))
            for i in fixed:
                new[i] = theta_fixed[i]
            return new

        def init(rng_k, k):
            theta0 = self._init_theta(rng_k, K, sizes, preset)
            for c in state:
                q0 = q_preset[:, c] if q_preset is not None else np.clip(
                    miss_rate[c] * rng_k.uniform(0.5, 1.5, size=K), 1e-3, 1 - 1e-3)
                theta0[2 + c] = _join([theta0[2 + c]], q0[:, None])[0]
            theta_fixed.clear()
            theta_fixed.update({i: theta0[i] for i in fixed})
            return theta0

        theta_fixed = {}
        log_prior = None
        if use_prior:
            def log_prior(th):
                return self._log_prior(th, pseudo, state)
        problem = EMProblem(estep, mstep, init, scale=1.0, log_prior=log_prior, fixed=fixed)
        tol = float(self.tol)
        best = self._fit_em(problem, n_init=self.n_init, max_iter=self.n_iter, tol=tol,
                            random_state=self.random_state, verbose=bool(self.verbose),
                            name="CategoricalHMM", max_iter_name="n_iter",
                            monitor_factory=lambda: ConvergenceMonitor(
                                tol, int(self.n_iter), bool(self.verbose), 1.0, "CategoricalHMM"),
                            warn=False, mstep_on_converge=True,
                            score_final=bool(self.score_final),
                            rebase_on_zeros=clipping, accelerate=self.accelerate,
                            max_time=self.max_time, param_tol=self.param_tol)
        ll = best.log_likelihood
        self._store_fit(best, log_likelihood=ll, sizes=sizes, multi=multi, codec=codec,
                        mech=mech, parents=parents, names=names, delta=delta_fixed,
                        monitor=best.extra["monitor"])
        return self

    def _set_fitted_params(self, theta, *, sizes, multi, codec, mech, parents, names, delta,
                           monitor):
        K = theta[0].shape[0]
        self.startprob_ = theta[0]
        self.transmat_ = theta[1]
        tables = list(theta[2:])
        state = [c for c, pa in parents.items() if pa == ("state",)]
        q = np.zeros((K, len(sizes)))
        for c in state:
            (B,), qc = _split([tables[c]])
            tables[c] = B
            q[:, c] = qc[:, 0]
        self.emissionprob_ = list(tables) if multi else tables[0]
        self.n_features_ = list(sizes) if multi else sizes[0]
        if self.n_features is None:                # hmmlearn writes n_features after fit
            self.n_features = self.n_features_
        self._codec_ = codec
        self.categories_ = [list(lab) if lab is not None else list(range(m))
                            for lab, m in zip(codec.labels, sizes)]
        if codec.from_frame and not codec.series:
            self.feature_names_in_ = np.asarray([str(n) for n in codec.names], dtype=object)
        self.monitor_ = monitor
        if mech is None:
            return
        self._mech_obj_ = mech
        out, pa_out = {}, {}
        for c, pa in parents.items():
            if c in state:
                out[names[c]] = np.column_stack([1.0 - q[:, c], q[:, c]])
            else:
                out[names[c]] = delta[c]
            pa_out[names[c]] = tuple("state" if p == "state" else names[p] for p in pa)
        self.missingness_ = out
        self.missingness_parents_ = pa_out
        if mech == "state":
            self.missingprob_ = q

    def _log_prior(self, theta, pseudo, state=()):
        """Log Dirichlet prior of theta (on the observed-symbol tables)."""
        if state:
            theta = list(theta)
            for c in state:
                (B,), _ = _split([theta[2 + c]])
                theta[2 + c] = B
        return dirichlet_log_prior(theta, pseudo)

    # ----------------------------------------------------------------- scoring
    def _fitted_inputs(self, X, lengths):
        sizes = self._sizes()
        K = check_int(self.n_components, "n_components", low=1)
        codes, sizes, _, _ = self._validate_X(X, sizes if len(sizes) > 1 else sizes[0])
        offsets = check_lengths(lengths, codes.shape[0])
        theta = self._theta_from_attrs(K, sizes)
        state = self._state_channels(None, len(sizes))
        delta_seq = None           # the MCAR / MAR part of a fitted mechanism, per sequence
        if hasattr(self, "missingness_parents_"):
            delta_seq = _delta_per_sequence(codes, offsets, self._index_parents(),
                                            self._delta_by_index())
        if state:
            codes = _recode_missing(codes, sizes, state)
        return codes, offsets, theta, delta_seq

    def _index_parents(self):
        names = self._channel_names()
        idx = {n: i for i, n in enumerate(names)}
        return {idx[n]: tuple("state" if p == "state" else idx[p] for p in pa)
                for n, pa in self.missingness_parents_.items()}

    def _delta_by_index(self):
        names = self._channel_names()
        return {i: self.missingness_[n] for i, n in enumerate(names) if n in self.missingness_}

    def score_sequences(self, X, lengths=None):
        """Log-likelihood of every sequence (with a fitted mechanism: of the
        observations and their missingness pattern).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_channels), Series or DataFrame
            Integer codes, ``-1`` = missing, or labels.
        lengths : array-like of int, optional

        Returns
        -------
        ndarray of shape (n_sequences,)
        """
        codes, offsets, theta, delta_seq = self._fitted_inputs(X, lengths)
        ll, _, _ = _fused_estep(codes, offsets, theta, check_n_jobs(self.n_jobs), counts=False)
        return ll if delta_seq is None else ll + delta_seq

    def score(self, X, lengths=None):
        """Total log-likelihood ``log p(X)`` (missing entries marginalised; hmmlearn's
        convention: the total, not the mean).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_channels), Series or DataFrame
            Integer codes, ``-1`` = missing, or labels.
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
        codes, offsets, theta, delta_seq = self._fitted_inputs(X, lengths)
        ll, _, gamma = _fused_estep(codes, offsets, theta, check_n_jobs(self.n_jobs),
                                    counts=False, posteriors=True)
        total = float(ll.sum()) + (float(delta_seq.sum()) if delta_seq is not None else 0.0)
        return total, gamma

    def predict_proba(self, X, lengths=None):
        """State posteriors ``p(z_t = k | X)``, shape (n_samples, n_components); a
        DataFrame (input index, one column per state) for pandas input."""
        post = self.score_samples(X, lengths)[1]
        if _is_frame_like(X):
            pd = _require_pandas()
            return pd.DataFrame(post, index=X.index,
                                columns=pd.RangeIndex(post.shape[1], name="state"))
        return post

    def decode(self, X, lengths=None, algorithm=None):
        """Most likely state sequence.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_channels), Series or DataFrame
            Integer codes, ``-1`` = missing, or labels.
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
        codes, offsets, theta, _ = self._fitted_inputs(X, lengths)
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
        K = check_int(self.n_components, "n_components", low=1)
        trans = check_table(self.transmat_, (K, K), "transmat_")
        vals, vecs = np.linalg.eig(trans.T)
        v = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
        return v / v.sum()

    @property
    def n_parameters(self):
        """Free parameters: ``(K - 1) + K (K - 1) + Σ_c K (M_c - 1)`` (plus the fitted
        missingness mechanism's)."""
        K = check_int(self.n_components, "n_components", low=1)
        sizes = self._sizes()
        n = (K - 1) + K * (K - 1) + sum(K * (m - 1) for m in sizes)
        for d in getattr(self, "missingness_", {}).values():
            n += int(np.prod(np.shape(d)[:-1], dtype=np.int64))
        return n

    def _n_parameters(self):
        """Alias of :attr:`n_parameters` (kept for earlier code)."""
        return self.n_parameters

    def _n_samples(self, X):
        if X is None:
            raise TypeError("X must be an array-like of observations (n_samples,) or "
                            "(n_samples, n_channels); got None.")
        return len(X) if _is_frame_like(X) else int(np.shape(_as_array(X, "X"))[0])

    def aic(self, X, lengths=None):
        """Akaike information criterion ``-2 log p(X) + 2 n_params`` (lower is better)."""
        self._n_samples(X)
        return -2 * self.score(X, lengths) + 2 * self.n_parameters

    def bic(self, X, lengths=None):
        """Bayesian information criterion ``-2 log p(X) + n_params log(n_samples)``."""
        n = self._n_samples(X)
        return -2 * self.score(X, lengths) + self.n_parameters * np.log(n)

    # ------------------------------------------------------------ generation
    def sample(self, n_samples=1, random_state=None, currstate=None, *, as_frame=None):
        """Draw a sequence from the model.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, Generator or None
            ``None``: the estimator's ``random_state`` (hmmlearn's rule).
        currstate : int, optional
            State of the first sample (instead of drawing it from ``startprob_``).
        as_frame : bool, optional
            Return X as a DataFrame with the fitted column names and labels;
            default: whether the model was fitted on a DataFrame / Series.

        Returns
        -------
        X : ndarray of shape (n_samples, 1) or (n_samples, n_channels), or DataFrame
            Symbol codes (int); ``-1`` for entries a state-dependent mechanism
            drew as missing.
        state_sequence : ndarray of shape (n_samples,)
        """
        n = check_int(n_samples, "n_samples", low=1)
        K = check_int(self.n_components, "n_components", low=1)
        sizes = self._sizes()
        theta = self._theta_from_attrs(K, sizes)
        if currstate is not None:
            currstate = check_int(currstate, "currstate")
            if not 0 <= currstate < K:
                raise ValueError(f"currstate must be in 0..{K - 1}; got {currstate!r}.")
        check_memory(n * (8 * len(sizes) + 16 + 17 * max(max(sizes), K)),
                     f"sample({n}) of {len(sizes)} channel(s)")
        state = self._state_channels(None, len(sizes))
        seed = getattr(self, "random_state", None) if random_state is None else random_state
        if len(sizes) == 1 and not state and (
                isinstance(seed, np.random.RandomState) or
                (isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, bool))):
            # an int seed or a RandomState: hmmlearn's stream, so the same seed gives
            # hmmlearn's very draws (docs/hmm.md)
            states, X = _sample_hmmlearn_stream(seed, n, theta, currstate)
        else:
            rng = method_rng(self, random_state)
            states = np.empty(n, dtype=np.intp)
            u = rng.random(n)
            states[0] = currstate if currstate is not None else \
                draw_categorical(rng, theta[0], u[:1])[0]
            for t in range(1, n):
                states[t] = draw_categorical(rng, theta[1][states[t - 1]], u[t:t + 1])[0]
            X = np.empty((n, len(sizes)), dtype=np.intp)
            for c, table in enumerate(theta[2:]):
                X[:, c] = draw_categorical(rng, table[states])
                if c in state:                    # the extra symbol means "missing"
                    X[X[:, c] == sizes[c], c] = MISSING
        codec = getattr(self, "_codec_", None)
        if as_frame is None:
            as_frame = codec is not None and codec.from_frame
        if as_frame:
            if codec is None or not codec.from_frame:
                codec = ColumnCodec(list(range(len(sizes))), [None] * len(sizes))
            return codec.series_or_frame(X), states
        return X, states

    def impute(self, X, lengths=None, method="map", random_state=None):
        """Fill missing entries from the posterior predictive distribution.

        For a missing entry of channel c at step t,
        ``p(x = m | X_obs) = sum_k p(z_t = k | X_obs) emissionprob_[c][k, m]``.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_channels), Series or DataFrame
            Integer codes, ``-1`` = missing, or labels.
        lengths : array-like of int, optional
        method : {"map", "sample"}, default="map"
            The most probable symbol, or a draw.
        random_state : int, Generator or None
            For ``method="sample"``; ``None``: the estimator's ``random_state``.

        Returns
        -------
        ndarray of the shape of X (int), no ``-1`` left; for pandas input the same
        type (Series / DataFrame) with the input's index and labels.
        """
        if method not in ("map", "sample"):
            raise ValueError(f"method must be 'map' or 'sample'; got {method!r}.")
        codes, offsets, theta, _ = self._fitted_inputs(X, lengths)
        ll, _, gamma = _fused_estep(codes, offsets, theta, check_n_jobs(self.n_jobs),
                                    counts=False, posteriors=True)
        out = codes.astype(np.intp)
        rng = method_rng(self, random_state)
        tables = list(theta[2:])
        missing_code = [MISSING] * len(tables)
        for c in self._state_channels(None, len(tables)):
            missing_code[c] = tables[c].shape[1] - 1
            (tables[c],), _ = _split([tables[c]])
        for c, table in enumerate(tables):
            rows = np.flatnonzero(codes[:, c] == missing_code[c])
            if rows.size == 0:
                continue
            pred = gamma[rows] @ table
            if method == "map":
                out[rows, c] = np.argmax(pred, axis=1)
            else:
                out[rows, c] = draw_categorical(rng, pred)
        if _is_frame_like(X):
            codec = self._codec_ if getattr(self, "_codec_", None) is not None and \
                self._codec_.from_frame else None
            if codec is None:
                names = [X.name] if _is_series(X) else list(X.columns)
                codec = ColumnCodec(names, [None] * len(names), series=_is_series(X))
            if _is_series(X):
                return codec.series_or_frame(out, index=X.index)
            return codec.frame(out, index=X.index, columns=list(X.columns))
        return out if np.ndim(_as_array(X, "X")) == 2 else out[:, 0]


def _sample_hmmlearn_stream(seed, n, theta, currstate):
    """States and symbols drawn as hmmlearn 0.3.3 draws them: one ``rand()`` for the
    first state (unless ``currstate`` is given), then per step one for the symbol and
    one for the next state, each by ``(cumsum(p) > u).argmax()``.

    ``seed`` is an int (a new ``RandomState(seed)``, as ``check_random_state`` makes
    it) or a ``RandomState`` (advanced, as in hmmlearn)."""
    rs = seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(int(seed))
    start_cdf = np.cumsum(theta[0])
    trans_cdf = np.cumsum(theta[1], axis=1)
    emit_cdf = np.cumsum(theta[2], axis=1)
    u = rs.rand(2 * n - (currstate is not None))  # one stream, in hmmlearn's order
    if currstate is None:
        s0, u = int((start_cdf > u[0]).argmax()), u[1:]
    else:
        s0 = currstate
    states = np.empty(n, dtype=np.intp)
    states[0] = s0
    for t in range(1, n):
        states[t] = (trans_cdf[states[t - 1]] > u[2 * t - 1]).argmax()
    X = (emit_cdf[states] > u[0::2][:, None]).argmax(axis=1).astype(np.intp)
    return states, X[:, None]


def _hmm_prepare(n_features, part, lengths):
    """One partition of a partitioned fit (run on a worker): validated codes and
    sequence offsets. Summary: (symbols seen per channel, multi-channel); ``None`` for
    an empty partition."""
    if _is_frame_like(part):
        refuse_label_columns([part] if _is_series(part) else [part[c] for c in part.columns])
    if len(part) == 0:
        if lengths is not None and len(lengths):
            check_lengths(lengths, 0)
        return None, None
    codes, sizes, multi, _ = CategoricalHMM()._validate_X(part, n_features, infer=True)
    offsets = check_lengths(lengths, codes.shape[0])
    return (codes, offsets), (sizes, multi)


def _fused_estep(codes, offsets, theta, n_threads, *, counts=True, posteriors=False):
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


def _hmm_part_estep(n_jobs, state, theta):
    """One partition's fused forward-backward: ([start, trans, emissions...], ll)."""
    codes, offsets = state
    ll, stats, _ = _fused_estep(codes, offsets, theta, check_n_jobs(n_jobs))
    return [stats.start, stats.trans] + stats.emit, float(ll.sum())


def _is_frame_like(X) -> bool:
    return _is_dataframe(X) or _is_series(X)


def _closed_form_delta(codes, parents, sizes):
    """δ of the channels whose indicator does not depend on the state (MCAR: no parents;
    MAR: other, always-observed channels), by closed-form MLE (they separate from θ), and
    their log-likelihood term. Returns ({channel: table}, float)."""
    out, total = {}, 0.0
    for c, pa in parents.items():
        if pa == ("state",):
            continue
        m = (codes[:, c] == MISSING).astype(np.int64)
        for p in pa:
            bad = np.flatnonzero(codes[:, p] == MISSING)
            if bad.size:
                raise ValueError(f"MAR: the indicator of channel {c} depends on channel {p}, "
                                 f"which is missing at row {int(bad[0])}; under MAR an indicator "
                                 "may depend only on always-observed values (that would be "
                                 "MNAR).")
        shape = tuple(sizes[p] for p in pa) + (2,)
        counts = np.zeros(shape)
        idx = tuple(codes[:, p] for p in pa) + (m,)
        np.add.at(counts, idx, 1.0)
        table = normalize(counts)
        out[c] = table
        with np.errstate(divide="ignore"):
            total += float(np.sum(np.where(counts > 0, counts * np.log(table), 0.0)))
    return out, total


def _delta_per_sequence(codes, offsets, parents, delta):
    """Per-sequence log-likelihood of the missingness pattern of the channels whose
    indicator does not depend on the state (MCAR / MAR tables ``delta``)."""
    per_step = np.zeros(codes.shape[0])
    for c, pa in parents.items():
        if pa == ("state",):
            continue
        m = (codes[:, c] == MISSING).astype(np.int64)
        idx = tuple(codes[:, p] for p in pa) + (m,)
        with np.errstate(divide="ignore"):
            per_step += np.log(delta[c][idx])
    return np.add.reduceat(per_step, offsets[:-1])
