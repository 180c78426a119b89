"""Latent class model: a mixture of independent categorical items, fitted by EM.

The model is the simplest Bayesian network with a hidden variable: a class
``Z`` (``K`` states, weights ``π``) with every item ``X_j`` (``M_j`` categories)
as its child, ``p(x) = Σ_k π_k Π_j p_j(x_j | k)``. Missing items are
marginalised (skipped), which is the ignorable (MAR) fit.
"""
from __future__ import annotations

import functools
import numbers
from functools import partial as _partial

import numpy as np

from . import _kernels
from ._base import (BaseEstimator, EMFitMixin, EMProblem, check_int, check_is_fitted,
                    check_n_jobs, draw_categorical, first_row, method_rng, raise_for_status,
                    sklearn_tags)
from ._blocks import plan_blocks
from ._config import check_memory
from .bayesnet import BayesianNetwork
from .data import (MISSING, NO_CARD_LIMIT as _BIG, ColumnCodec, _as_array, _is_dataframe,
                   _require_pandas, check_data, code_summary, compress_rows,
                   refuse_label_columns)
from .distributed import Partitions, is_partitioned
from .em import check_table, dirichlet_log_prior, normalize
from .kernels import _scratch
from .missingness import augment_codes, check_mechanism

__all__ = ["LatentClassModel", "latent_class_network"]


@functools.lru_cache(maxsize=256)
def lca_blocks(n: int, S: int, K: int) -> int:
    """Row blocks of the latent class kernel (>= 512 rows each, slabs of (S + 2) K
    doubles), from the data alone: the kernel's sums are the same for any n_jobs.
    Cached: it is asked once per E-step with the same sizes, and planning took ~10 us,
    a third of a small model's E-step (house votes)."""
    return len(plan_blocks(n, min_size=512, slab_nbytes=8 * ((S + 2) * K + 10))) - 1


def _log_tables(theta):
    """``theta = [weights, item tables...]`` -> ``(log w (K,), log items (S, K))``, the
    kernel's inputs. The item tables may also come as one (K, S) array already side by
    side (the layout inside the EM loop of fit): then nothing is copied before the
    compiled pass (``_kernels.lca_log_tables``), which replaced ~5 us of numpy calls
    per E-step (a seventh of a house-votes E-step)."""
    w = np.ascontiguousarray(theta[0], dtype=np.float64)
    items = theta[1] if len(theta) == 2 else np.concatenate(theta[1:], axis=1)
    items = np.asarray(items, dtype=np.float64)
    log_w = np.empty(w.shape[0])
    log_items = np.empty((items.shape[1], items.shape[0]))
    _kernels.lca_log_tables(w, items, log_w, log_items)
    return log_w, log_items


def _lca_kernel(rows, row_w, theta, offsets, S, accumulate, n_threads, out=None):
    """One latent class E-step over (distinct) rows; returns (post, loglik, status,
    weight counts (K,), item counts (S, K), total loglik, number of zero rows)."""
    log_w, log_items = _log_tables(theta)
    K = log_w.shape[0]
    n = rows.shape[0]
    if out is None:
        post = np.empty((n, K), dtype=np.float64)
        loglik = np.empty(n, dtype=np.float64)
        status = np.zeros(n, dtype=np.int32)
    else:                       # buffers reused across EM iterations
        post, loglik, status = out
    # small inputs: one thread (an OpenMP team costs more than it saves); the
    # kernel's results do not depend on the thread count
    n_threads = int(max(1, min(n_threads, (n * rows.shape[1] * K) // 100_000)))
    wc = np.zeros(K, dtype=np.float64)
    ic = np.zeros((S, K), dtype=np.float64)
    total, n_bad = _kernels.lca_estep(rows, row_w, log_w, log_items, offsets, post, loglik,
                                      status, wc, ic, bool(accumulate),
                                      lca_blocks(n, S, K), int(n_threads))
    return post, loglik, status, wc, ic, total, n_bad


def _zero_row_message(r, row):
    return (f"Row {r} of X ({row.tolist()}) has probability 0 under every class: some "
            "observed category has probability 0 in every class. Use pseudocount > 0 "
            "or check the data.")


def _check_given_categories(codes, n_categories, names):
    """Codes against n_categories (an int, or one int per item; other values are the
    driver's to refuse), with the local fit's message."""
    J = codes.shape[1]
    if isinstance(n_categories, (numbers.Integral, np.integer)):
        given = [int(n_categories)] * J
    else:
        try:
            given = [int(g) for g in n_categories]
        except (TypeError, ValueError):
            return
        if len(given) != J:
            return
    for j, g in enumerate(given):
        _check_item_categories(codes, j, g, names[j])


def _check_item_categories(codes, j, g, name):
    """Refuse a code >= g (the given n_categories) in column j of ``codes``."""
    bad = np.flatnonzero(codes[:, j] >= g)
    if bad.size:
        r = int(bad[0])
        raise ValueError(f"X[:, {j}] contains category {int(codes[r, j])} at row {r}, "
                         f"but item {name!r} has {g} categories "
                         f"(0..{g - 1}) (n_categories); use -1 for missing values.")


def _lca_prepare(columns, n_categories, part, lengths):
    """One partition of a partitioned fit (run on a worker): validated codes, row
    compressed. Summary: (n_items, rows, rows with an observed item, largest code + 1
    per item)."""
    from .distributed import compressed_state

    if columns is not None:
        if not _is_dataframe(part):
            raise TypeError(f"expected a DataFrame partition; got {type(part).__name__}.")
        refuse_label_columns(part[c] for c in part.columns)
        codes = check_data(part, columns, [_BIG] * len(columns), require_all=True)
        names = columns
    else:
        arr = np.asarray(part)
        if arr.ndim != 2:
            raise ValueError(f"X must be 2-dimensional (n_rows, n_items); got shape "
                             f"{arr.shape}.")
        names = [f"item {j}" for j in range(arr.shape[1])]
        codes = check_data(arr, names, [_BIG] * arr.shape[1])
    if n_categories is not None:
        _check_given_categories(codes, n_categories, names)
    _, hi, n_obs = code_summary(codes)
    seen = hi.astype(np.int64) + 1 if codes.shape[0] else np.zeros(codes.shape[1], np.int64)
    return compressed_state(codes), (codes.shape[1], codes.shape[0], n_obs, seen)


#: Largest posterior / log-likelihood / status buffers kept per thread for the
#: partitions' E-steps (bytes); larger partitions allocate them per call.
_KEEP_PART_BUFFERS = 256 << 20


def _partition_buffers(n, K):
    """The kernel's (n, K) posterior, (n,) log-likelihood and (n,) status buffers for one
    partition's E-step, carved from this thread's kept scratch arena
    (``kernels._scratch``, kept up to :data:`_KEEP_PART_BUFFERS`).

    A worker thread runs the partitions of its block one after the other, every
    iteration; a local fit allocates its buffers once per fit. Fresh arrays of tens of
    MB per partition and iteration cost page faults, and more so in a dask worker, whose
    ``MALLOC_TRIM_THRESHOLD_`` (set by the nanny) returns freed memory to the system at
    once: a 1.25-million-row partition's E-step took 122-149 ms in a worker with fresh
    buffers, 112 ms with kept ones (and 114 ms in the client process).
    """
    w = n * K + n + (n + 1) // 2                 # doubles: posteriors, loglik, int32 status
    raw = _scratch(1, w, keep=_KEEP_PART_BUFFERS)[0]
    return (raw[:n * K].reshape(n, K), raw[n * K:n * K + n],
            raw[n * K + n:w].view(np.int32)[:n])


def _lca_part_estep(static, state, theta):
    """One partition's latent class E-step: ([weight counts, item counts (K, S)], ll)."""
    offsets, S, n_jobs = static
    rows, row_w, first = state
    out = _partition_buffers(rows.shape[0], np.shape(theta[0])[0])
    _, _, status, wc, ic, total, n_bad = _lca_kernel(rows, row_w, theta, offsets, S, True,
                                                     check_n_jobs(n_jobs), out=out)
    if n_bad:
        raise_for_status(status, lambda u: _zero_row_message(int(first[u]), rows[u]))
    return [wc, ic.T], total


def latent_class_network(names, cards, n_classes, class_name="class"):
    """The latent class model as a Bayesian network: hidden root ``class`` -> every item.

    Returns ``(network, class node name)``; the class node is renamed
    (``_class``, ``__class``, ...) if an item already uses the name.
    """
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        raise ValueError(f"item names must be distinct as strings; got {names!r}.")
    cls = class_name
    while cls in names:
        cls = "_" + cls
    cardinalities = {cls: int(n_classes)}
    cardinalities.update({n: int(c) for n, c in zip(names, cards)})
    return BayesianNetwork([(cls, n) for n in names], cardinalities), cls



class LatentClassModel(EMFitMixin, BaseEstimator):
    """Latent class model (mixture of independent categoricals) fitted by EM.

    Items may have different numbers of categories and any cell may be missing
    (``-1`` in integer arrays, NaN in float arrays, NaN/None/``pd.NA`` in
    DataFrames). Missing cells are marginalised out (ignorable / MAR fit). A
    row with every item missing is allowed: its log-likelihood is 0 and it adds
    nothing to the fit or to the sample size ``n`` used by the fit statistics.

    Parameters
    ----------
    n_classes : int, default=2
        Number of latent classes ``K``.
    max_iter : int, default=1000
        Maximum number of EM iterations (M-steps) per initialisation.
    tol : float, default=1e-6
        Stop when the mean per-row log-likelihood (objective divided by the
        number of rows with at least one observed item) improves by less than
        ``tol``.
    n_init : int, default=1
        Number of seeded random initialisations; the best final objective is
        kept. ``n_best_`` says how many of them reached it.
    pseudocount : float, default=0
        Dirichlet pseudocount added to every expected count in the M-step
        (0 = maximum likelihood; > 0 = MAP estimate, and the monitored
        objective is log-likelihood + ``Σ pseudocount · log θ``).
    init : {"random"} or dict, default="random"
        ``"random"``: class weights and every item row drawn from a symmetric
        Dirichlet(5). A dict ``{"weights": (K,), "item_probs": [(K, M_j), ...]}``
        starts every initialisation from the given parameters.
    n_categories : int, sequence of int or None, default=None
        Number of categories of each item (an int applies to all items). By
        default it is inferred at ``fit`` as the largest code + 1 per column;
        later data with a code outside ``0..M_j-1`` is a ``ValueError``.
    random_state : int, Generator, RandomState or None, default=None
        Seeds the random initialisations (never modified).
    n_jobs : int or None, default=None
        OpenMP threads of the E-step kernel (None or -1: all available).
    verbose : bool, default=False
        Show the progress of EM.
    warm_start : bool, default=False
        When True and the model is fitted, ``fit`` continues from the fitted
        parameters (one run, ``n_init`` and ``init`` ignored).
    missingness : MCAR, MAR, MNAR or None, default=None
        Model why items are missing (see :mod:`emfast.missingness`). ``None``
        is the ignorable fit. With a mechanism, indicator variables are added
        (the model is fitted as a Bayesian network with a hidden root
        ``"class"``, which the mechanism may name as a parent, e.g.
        ``MNAR({"item 3": ["class"]})``) and θ and δ are fitted jointly;
        ``log_likelihood_`` and ``history_`` are then those of the data and
        the missingness pattern, and :meth:`predict_proba` includes the
        pattern's evidence about the class. The fit statistics (``bic``...)
        and ``score_samples`` always refer to ``log p(x_obs | θ)``.
        Not combinable with ``warm_start``.
    accelerate : {None, "squarem"}, default=None
        ``"squarem"``: SQUAREM extrapolation between EM steps (:func:`emfast.run_em`;
        docs/acceleration.md): fewer E-steps on slow fits, monotone objective, valid
        tables; ``tol`` then applies to one SQUAREM iteration and ``n_estep_``
        counts its E-steps (rejected extrapolations included).
    max_time : float, optional
        Stop each initialisation after this many seconds (``stop_reason_ ==
        "max_time"``; not converged).
    param_tol : float, optional
        Also stop when an EM step changes no parameter by more than this
        (absolute; ``stop_reason_ == "param_tol"``).

    Attributes
    ----------
    weights_ : ndarray of shape (n_classes,)
        Class weights, in decreasing order (canonical label order).
    item_probs_ : list of ndarray of shape (n_classes, M_j)
        ``item_probs_[j][k, c] = p(X_j = c | Z = k)``.
    n_categories_ : list of int
        Categories per item, ``M_j``.
    n_features_in_ : int
        Number of items ``J``.
    feature_names_in_ : ndarray of str
        Item names (DataFrame column names, else ``"item j"``).
    log_likelihood_ : float
        Log-likelihood of the training data at the returned parameters.
    history_ : list of float
        Objective after every E-step of the best initialisation (monotone).
    n_iter_ : int
        Number of M-steps of the best initialisation.
    converged_ : bool
        Whether the best initialisation passed the tolerance test.
    n_best_ : int
        Number of initialisations whose final objective lies within 1e-6
        (relative) of the best: ``n_best_ == n_init`` suggests a stable optimum.
    init_objectives_ : list of float
        Final objective of every initialisation.
    missingness_ : dict
        Only with ``missingness=``: ``{item name: δ table of shape
        (*parent_cards, 2)}``, ``[..., 1]`` = P(missing | parents); a class axis
        follows the order of ``weights_``.
    missingness_parents_ : dict
        ``{item name: parents of its indicator}`` (the class is ``"class"``).

    See Also
    --------
    emfast.EMImputer : fills missing codes from a fitted model.

    Notes
    -----
    Number of free parameters: ``n_parameters = (K - 1) + K · Σ_j (M_j - 1)``.
    With ``n`` the number of rows with at least one observed item and ``L``
    the log-likelihood: ``aic = -2L + 2p``, ``bic = -2L + p log n``,
    ``caic = -2L + p (log n + 1)``, ``sabic = -2L + p log((n + 2) / 24)``.

    The E-step runs over distinct rows (identical rows merged and weighted) in
    a Cython kernel, in parallel over rows. Class labels are sorted by
    decreasing weight after every fit, so repeated fits are comparable.

    Examples
    --------
    >>> import numpy as np, emfast
    >>> X = np.array([[0, 0, 1], [0, 0, -1], [1, 1, 0], [1, -1, 0]] * 20)
    >>> lca = emfast.LatentClassModel(2, random_state=0, n_init=3).fit(X)
    >>> lca.weights_.round(2)
    array([0.5, 0.5])
    >>> lca.predict([[0, 0, 1], [1, 1, 0]]).tolist() in ([0, 1], [1, 0])
    True
    """

    def __init__(self, n_classes=2, *, max_iter=1000, tol=1e-6, n_init=1, pseudocount=0.0,
                 init="random", n_categories=None, random_state=None, n_jobs=None,
                 verbose=False, warm_start=False, missingness=None, accelerate=None,
                 max_time=None, param_tol=None):
        self.n_classes = n_classes
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.pseudocount = pseudocount
        self.init = init
        self.n_categories = n_categories
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.warm_start = warm_start
        self.missingness = missingness
        self.accelerate = accelerate
        self.max_time = max_time
        self.param_tol = param_tol

    def __sklearn_tags__(self):
        return sklearn_tags(self)

    # ------------------------------------------------------------------
    # data
    # ------------------------------------------------------------------
    def _as_table(self, X, *, fitted=False):
        """``X`` as a DataFrame (kept), or a 2-D array, with scikit-learn's wording for
        the shapes and types it cannot take."""
        if _is_dataframe(X):
            return X
        if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
            raise TypeError("LatentClassModel does not support sparse input: X is a sparse "
                            "matrix; pass a dense array of codes (X.toarray()) or a DataFrame.")
        arr = _as_array(X, "X")
        if np.iscomplexobj(arr):
            raise ValueError("Complex data not supported: X has a complex dtype; pass integer "
                             "codes (-1 or NaN = missing).")
        if arr.ndim != 2:
            raise ValueError(f"X must be 2-dimensional (n_rows, n_items); got shape {arr.shape}. "
                             "Reshape your data either using X.reshape(-1, 1) if it has a "
                             "single item or X.reshape(1, -1) if it is a single row.")
        if arr.shape[1] == 0:
            raise ValueError(f"0 feature(s) (shape={arr.shape}) while a minimum of 1 is "
                             "required: X has no items.")
        if fitted and arr.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {arr.shape[1]} features, but LatentClassModel is expecting "
                             f"{self.n_features_in_} features as input (one column per item).")
        return arr

    def _validate_fit_data(self, X):
        """Codes, the learned column codec (names, labels) and the categories per item."""
        X = self._as_table(X)
        J = X.shape[1]
        if J == 0:
            raise ValueError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is "
                             "required: X has no items.")
        default = [f"item {j}" for j in range(J)]
        if not _is_dataframe(X) and X.dtype.kind in "OUS":
            # labels in an object / string array: learned as for a DataFrame, by position
            pd = _require_pandas()
            codes, codec = ColumnCodec.learn(pd.DataFrame(X, columns=default), default)
            codec.from_frame = False
        else:
            codes, codec = ColumnCodec.learn(X, default)
        if codes is None:
            codes = check_data(X, default, [_BIG] * J)
        if codes.shape[0] == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a "
                             "minimum of 1 is required: X has no rows.")
        seen = [max(int(c), -1) + 1 for c in code_summary(codes)[1]]
        cards = [len(lab) if lab is not None else m for lab, m in zip(codec.labels, seen)]
        if self.n_categories is not None:
            given = self._check_n_categories(J)
            for j, (g, m, lab) in enumerate(zip(given, seen, codec.labels)):
                if lab is not None and g != len(lab):
                    raise ValueError(f"n_categories[{j}] = {g}, but column {codec.names[j]!r} "
                                     f"has the {len(lab)} labels {lab!r}.")
                if m > g:
                    _check_item_categories(codes, j, g, codec.names[j])
            cards = given
        cards = [max(c, 1) for c in cards]
        check_memory(8 * (len(cards) + 2) * max(cards) * 2,
                     f"LatentClassModel: tables for {max(cards)} categories (the largest code "
                     "seen + 1)")
        return codes, codec, cards

    def _check_n_categories(self, J):
        nc = self.n_categories
        if isinstance(nc, (numbers.Integral, np.integer)) and not isinstance(nc, bool):
            cards = [int(nc)] * J
        else:
            try:
                cards = [check_int(c, "n_categories[j]") for c in nc]
            except TypeError:
                raise TypeError(f"n_categories must be an int or a list of ints; got "
                                f"{nc!r}.") from None
            if len(cards) != J:
                raise ValueError(f"n_categories has {len(cards)} entries but X has {J} items.")
        for j, c in enumerate(cards):
            if c < 1:
                raise ValueError(f"n_categories[{j}] = {c}; every item needs at least 1 category.")
        return cards

    def _check_X(self, X):
        """Validate data against the fitted items (names, labels, cardinalities)."""
        self._checked_theta()
        X = self._as_table(X, fitted=True)
        return self._codec_.encode(X, self.n_categories_)

    # ------------------------------------------------------------------
    # parameters <-> kernel inputs
    # ------------------------------------------------------------------
    @staticmethod
    def _layout(cards):
        offsets = np.zeros(len(cards), dtype=np.int64)
        if len(cards) > 1:
            np.cumsum(cards[:-1], out=offsets[1:])
        return offsets, int(sum(cards))

    def _run_kernel(self, rows, row_w, theta, offsets, S, accumulate, n_threads, out=None):
        return _lca_kernel(rows, row_w, theta, offsets, S, accumulate, n_threads, out)

    # ------------------------------------------------------------------
    # fit
    # ------------------------------------------------------------------
    def _check_params(self):
        K = check_int(self.n_classes, "n_classes", low=1)
        check_int(self.max_iter, "max_iter", low=1)
        if isinstance(self.tol, bool) or not isinstance(self.tol, numbers.Real) \
                or not self.tol >= 0:
            raise ValueError(f"tol must be a number >= 0; got {self.tol!r}.")
        check_int(self.n_init, "n_init", low=1)
        pc = self.pseudocount
        if isinstance(pc, bool) or not (isinstance(pc, numbers.Real) and np.isfinite(pc)
                                        and pc >= 0):
            raise ValueError(f"pseudocount must be a finite number >= 0; got {pc!r}.")
        if not (isinstance(self.init, dict) or (isinstance(self.init, str)
                                                and self.init == "random")):
            raise ValueError(f"init must be 'random' or a dict with 'weights' and 'item_probs'; "
                             f"got {self.init!r}.")
        return K

    def _check_theta(self, params, K, cards, what="init"):
        if not isinstance(params, dict) or set(params) != {"weights", "item_probs"}:
            raise ValueError(f"{what} dict must have exactly the keys 'weights' and "
                             f"'item_probs'; got {sorted(params) if isinstance(params, dict) else params!r}.")
        return self._validated(params["weights"], params["item_probs"], K, cards, what)

    @staticmethod
    def _validated(weights, item_probs, K, cards, what):
        """[weights, item tables...] checked with the one table validator."""
        if K is None:
            K = int(np.shape(weights)[0]) if np.ndim(weights) == 1 else -1
        name_w = f"{what}['weights']" if what == "init" else "weights_"
        name_i = f"{what}['item_probs']" if what == "init" else "item_probs_"
        w = check_table(weights, (K,), name_w)
        if isinstance(item_probs, np.ndarray) and item_probs.ndim == 3:
            item_probs = list(item_probs)
        if not isinstance(item_probs, (list, tuple)):
            raise TypeError(f"{name_i} must be a list of (n_classes, M_j) tables, one per item; "
                            f"got {type(item_probs).__name__}.")
        if len(item_probs) != len(cards):
            raise ValueError(f"{name_i} has {len(item_probs)} tables but "
                             f"{'X' if what == 'init' else 'the model'} has {len(cards)} items.")
        tables = [check_table(t, (K, m), f"{name_i}[{j}]")
                  for j, (t, m) in enumerate(zip(item_probs, cards))]
        return [w] + tables

    def _random_theta(self, rng, K, cards):
        theta = [rng.dirichlet(np.full(K, 5.0))]
        for m in cards:
            theta.append(rng.dirichlet(np.full(m, 5.0), size=K))
        return theta

    _fit_state_attributes = ("missingness_", "missingness_parents_", "_mech_")

    def fit(self, X, y=None):
        """Fit the model by EM.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_items) or pandas.DataFrame
            Integer codes ``0..M_j-1``; ``-1`` (or NaN) marks a missing value. A
            DataFrame may also hold labels (categorical, object, string or bool
            columns): they are learned here (``categories_``) and matched by
            name afterwards. Data in partitions (a dask array or DataFrame of codes,
            :func:`emfast.distributed.partitions`, :func:`emfast.distributed.from_parquet`)
            is fitted partition by partition where it lives (docs/distributed.md).
        y : ignored

        Returns
        -------
        self
        """
        K = self._check_params()
        if is_partitioned(X):
            return self._fit_partitioned(X, K)
        n_threads = check_n_jobs(self.n_jobs)
        warm = bool(self.warm_start) and hasattr(self, "weights_")
        if warm:
            theta_w = self._checked_theta()
            if theta_w[0].shape[0] != K:
                raise ValueError(f"warm_start: the fitted model has {theta_w[0].shape[0]} "
                                 f"classes but n_classes={K}.")
            if self.missingness is not None:
                raise ValueError("warm_start cannot be combined with missingness=; refit from "
                                 "scratch.")
            codec, cards = self._codec_, list(self.n_categories_)
            codes = self._check_X(X)
        else:
            codes, codec, cards = self._validate_fit_data(X)
        if self.missingness is not None:
            problem, context = self._mechanism_problem(codes, codec.names, cards, K, n_threads)
        else:
            problem, context = self._problem(codes, cards, K, n_threads), {}
        best = self._run_problem(problem, K, cards, warm_theta=theta_w if warm else None)
        self._store_fit(best, codec=codec, cards=cards, unpack=problem.extra["unpack"], **context)
        return self

    def _run_problem(self, problem, K, cards, *, warm_theta=None):
        """The starting point (the fitted tables for warm_start, a given ``init`` dict,
        else the problem's random draw) and the restarts of ``fit``."""
        draw = problem.init
        if warm_theta is not None:      # the fitted tables, in the loop's layout
            problem.init = lambda rng, k: draw(rng, k, [t.copy() for t in warm_theta])
        elif isinstance(self.init, dict):
            given = self._check_theta(self.init, K, cards)
            problem.init = lambda rng, k: draw(rng, k, given)
        return self._fit_em(problem, n_init=1 if warm_theta is not None else self.n_init,
                            max_iter=self.max_iter, tol=float(self.tol),
                            random_state=self.random_state, verbose=bool(self.verbose),
                            name="LatentClassModel", accelerate=self.accelerate,
                            max_time=self.max_time, param_tol=self.param_tol)

    def _fit_partitioned(self, X, K):
        """fit on data in partitions (emfast.distributed): each partition validated and
        row-compressed where it lives, the E-step summed over partitions."""
        from .distributed import PartitionedEStep, partitions

        if self.missingness is not None or (self.warm_start and hasattr(self, "weights_")):
            raise ValueError("a partitioned (dask / Parquet) fit supports neither "
                             "missingness= nor warm_start=True yet; fit in memory instead.")
        data = X if isinstance(X, Partitions) else partitions(X)
        engine = PartitionedEStep(data, _partial(_lca_prepare, data.columns, self.n_categories))
        try:
            sums = engine.summaries
            Js = {s[0] for s in sums}
            if len(Js) != 1:
                raise ValueError(f"the partitions have different numbers of items: "
                                 f"{sorted(Js)}.")
            J = Js.pop()
            if J == 0:
                raise ValueError("0 feature(s) while a minimum of 1 is required: X has no "
                                 "items.")
            if sum(s[1] for s in sums) == 0:
                raise ValueError("Found array with 0 sample(s) while a minimum of 1 is "
                                 "required: X has no rows.")
            seen = np.max(np.stack([s[3] for s in sums]), axis=0)
            if self.n_categories is not None:    # the codes were checked on the workers
                cards = self._check_n_categories(J)
            else:
                cards = [int(m) for m in seen]
            cards = [max(int(c), 1) for c in cards]
            names = list(data.columns) if data.frame else [f"item {j}" for j in range(J)]
            codec = ColumnCodec(names, [None] * J, from_frame=data.frame,
                                dtypes=list(data.dtypes) if data.frame and data.dtypes else [])
            offsets, S = self._layout(cards)
            estep = engine.estep(_lca_part_estep, (offsets, S, self.n_jobs))
            n_rows = max(1, sum(s[2] for s in sums))
            problem = self._problem_from(estep, n_rows, cards, K)
            best = self._run_problem(problem, K, cards)
        finally:
            engine.close()
        self._store_fit(best, codec=codec, cards=cards, unpack=problem.extra["unpack"])
        return self

    def _problem(self, codes, cards, K, n_threads) -> EMProblem:
        """The latent class EM on the star kernel: E-step over distinct rows; the item
        tables travel as one (K, S) array inside the loop, normalised segment by
        segment by :func:`emfast.normalize` (one NumPy call per iteration, not one
        per item)."""
        comp = compress_rows(codes)
        rows = comp.rows
        row_w = comp.counts.astype(np.float64)
        offsets, S = self._layout(cards)
        buffers = (np.empty((rows.shape[0], K)), np.empty(rows.shape[0]),
                   np.empty(rows.shape[0], dtype=np.int32))

        def estep(theta):
            _, _, status, wc, ic, total, n_bad = self._run_kernel(
                rows, row_w, theta, offsets, S, True, n_threads, out=buffers)
            if n_bad:
                self._raise_zero(status, comp, None)
            return [wc, ic.T], total          # the kernel sums row_weights * loglik itself

        # rows with nothing observed add nothing (not even to the tol scale); counted
        # on the distinct rows, with their multiplicities
        n_rows = max(1, int(comp.counts[(rows != MISSING).any(axis=1)].sum()))
        return self._problem_from(estep, n_rows, cards, K)

    def _problem_from(self, estep, n_rows, cards, K) -> EMProblem:
        """The latent class EMProblem around an E-step (local or partitioned)."""
        offsets, S = self._layout(cards)
        pc = float(self.pseudocount)

        def mstep(counts):
            return normalize(counts, pc, segments=[None, offsets])

        def init(rng, k, given=None):
            theta = given if given is not None else self._random_theta(rng, K, cards)
            return [theta[0], np.concatenate(theta[1:], axis=1)]

        prior = (lambda th: dirichlet_log_prior(th, pc)) if pc > 0 else None
        return EMProblem(estep, mstep, init, scale=float(n_rows), log_prior=prior,
                         extra={"unpack": lambda th: [th[0]] + [th[1][:, o:o + m] for o, m in
                                                                zip(offsets, cards)]})

    def _mechanism_problem(self, codes, names, cards, K, n_threads):
        """The joint θ/δ fit: the model as a Bayesian network with a hidden root
        ``class`` and one indicator node per modelled item (emfast.missingness), its EM
        declared by that network and run by this estimator's skeleton."""
        str_names = [str(n) for n in names]
        bn, cls = latent_class_network(str_names, cards, K)
        mechanism = check_mechanism(self.missingness)
        if mechanism.parents is not None and cls != "class":
            parents = {k: [cls if p == "class" else p for p in ([v] if isinstance(v, str) else v)]
                       for k, v in dict(mechanism.parents).items()}
            mechanism = type(mechanism)(parents)
        full = np.concatenate([np.full((codes.shape[0], 1), MISSING, np.int32), codes], axis=1)
        resolved = mechanism.resolve(bn.variables, full)
        aug, ind_names = bn._augmented(resolved)
        problem = aug._em_problem(augment_codes(full, bn.variables, resolved),
                                  pseudocount=float(self.pseudocount), n_threads=n_threads)
        n_theta = 1 + len(cards)

        def init(rng, k, given=None):
            theta = given if given is not None else self._random_theta(rng, K, cards)
            delta = [rng.dirichlet(np.ones(2), size=aug._cpt_shape(ind_names[v])[:-1])
                     for v in resolved]
            return [np.asarray(t, dtype=np.float64) for t in theta] + delta

        problem.init = init
        problem.extra["unpack"] = lambda th: list(th[:n_theta])
        context = {"mechanism_net": aug, "class_name": cls, "resolved": resolved,
                   "indicator_names": ind_names, "str_names": str_names}
        return problem, context

    def _set_fitted_params(self, theta, *, codec, cards, unpack, mechanism_net=None,
                           class_name=None, resolved=None, indicator_names=None, str_names=None):
        tables = unpack(theta)[1:]
        order = np.argsort(-theta[0], kind="stable")
        self.weights_ = np.ascontiguousarray(theta[0][order])
        self.item_probs_ = [np.ascontiguousarray(t[order]) for t in tables]
        self.n_categories_ = list(cards)
        self.n_features_in_ = len(cards)
        self._codec_ = codec
        self.categories_ = [list(lab) if lab is not None else list(range(m))
                            for lab, m in zip(codec.labels, cards)]
        if codec.from_frame:
            self.feature_names_in_ = np.asarray([str(n) for n in codec.names], dtype=object)
        else:
            self.__dict__.pop("feature_names_in_", None)
        if mechanism_net is None:
            return
        # the fitted δ tables (class axis in the order of weights_), and the fitted
        # network with its indicators for predict_proba
        idx = mechanism_net._index
        for v, t in zip(mechanism_net.variables, theta):
            mechanism_net.cpts._set_unchecked(v, t)
        item_of = dict(zip(str_names, codec.names))
        delta, parents = {}, {}
        for v, pa in resolved.items():
            t = theta[idx[indicator_names[v]]]
            if class_name in pa:
                t = np.take(t, order, axis=pa.index(class_name))
            delta[item_of[v]] = np.ascontiguousarray(t)
            parents[item_of[v]] = tuple("class" if p == class_name else item_of.get(p, p)
                                        for p in pa)
        self.missingness_ = delta
        self.missingness_parents_ = parents
        self._mech_ = {"network": mechanism_net, "class_name": class_name,
                       "indicator_parents": dict(resolved), "order": order}

    def _predict_proba_mechanism(self, codes):
        """Class posterior including the indicators' evidence, p(z | x_obs, m)."""
        aug = self._mech_["network"]
        cls = self._mech_["class_name"]
        parents = self._mech_["indicator_parents"]
        full = np.concatenate([np.full((codes.shape[0], 1), MISSING, np.int32), codes], axis=1)
        A = augment_codes(full, aug.variables[:full.shape[1]], parents)
        post = aug.predict_proba(A, [cls])[cls]
        return post[:, self._mech_["order"]]

    def _raise_zero(self, status, comp, codes):
        def describe(u):
            if comp is not None:
                return _zero_row_message(first_row(comp.inverse, u), comp.rows[u])
            return _zero_row_message(u, codes[u])
        raise_for_status(status, describe)

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def _checked_theta(self):
        """The fitted (or hand-set) parameters, validated on use: [weights, items...].

        Parameters set by hand on a model that was never fitted take their item
        layout from ``item_probs_`` (codes only, items ``"item j"``)."""
        check_is_fitted(self, "weights_")
        if not hasattr(self, "item_probs_"):
            raise ValueError("weights_ is set but item_probs_ is not; set both (or call fit).")
        if not hasattr(self, "_codec_"):           # hand-set, never fitted
            items = self.item_probs_
            if not isinstance(items, (list, tuple)) or not all(np.ndim(t) == 2 for t in items):
                raise TypeError("item_probs_ must be a list of (n_classes, M_j) tables, one "
                                "per item.")
            self.n_categories_ = [int(np.shape(t)[1]) for t in items]
            self.n_features_in_ = len(items)
            names = [f"item {j}" for j in range(len(items))]
            self._codec_ = ColumnCodec(names, [None] * len(items))
        return self._validated(self.weights_, self.item_probs_, None, self.n_categories_,
                               "fitted")

    @property
    def _theta(self):
        return self._checked_theta()

    def _infer(self, X):
        theta = self._checked_theta()
        codes = self._check_X(X)
        offsets, S = self._layout(self.n_categories_)
        comp = compress_rows(codes)
        post, ll, status, *_ = self._run_kernel(
            comp.rows, comp.counts.astype(np.float64), theta, offsets, S, False,
            check_n_jobs(self.n_jobs))
        return codes, post[comp.inverse], ll[comp.inverse], status[comp.inverse]

    def score_samples(self, X):
        """Log-likelihood ``log p(x_obs)`` of every row.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_items) or DataFrame
            Codes, ``-1``/NaN = missing.

        Returns
        -------
        ndarray of shape (n_rows,)
            0 for a row with nothing observed; ``-inf`` for a row that has
            probability 0 under the model.
        """
        return self._infer(X)[2]

    def score(self, X, y=None):
        """Mean per-row log-likelihood of ``X`` (scikit-learn's convention; ``-inf`` if a
        row is impossible). Raises ``ValueError`` for ``X`` without rows."""
        ll = self.score_samples(X)
        if ll.size == 0:
            raise ValueError("X has no rows: the mean log-likelihood of no rows is undefined.")
        return float(np.mean(ll))

    def predict_proba(self, X):
        """Posterior class probabilities ``p(Z = k | x_obs)``.

        Returns
        -------
        ndarray of shape (n_rows, n_classes), or DataFrame
            A row with nothing observed gets ``weights_``. For DataFrame input,
            a DataFrame with the input's index and one column per class.

        Raises
        ------
        ValueError
            If a row has probability 0 under every class.
        """
        codes, post, _, status = self._infer(X)
        if status.any():
            self._raise_zero(status, None, codes)
        if hasattr(self, "_mech_"):
            post = self._predict_proba_mechanism(codes)
        if _is_dataframe(X):
            pd = _require_pandas()
            return pd.DataFrame(post, index=X.index,
                                columns=pd.RangeIndex(post.shape[1], name="class"))
        return post

    def predict(self, X):
        """Most probable class of every row (ndarray of int)."""
        p = self.predict_proba(X)
        return np.argmax(np.asarray(p), axis=1)

    def sample(self, n_samples=1, random_state=None, *, as_frame=None):
        """Draw complete rows from the fitted model.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, Generator or None
            ``None``: the estimator's ``random_state`` (as scikit-learn's mixtures).
        as_frame : bool, optional
            Return X as a DataFrame with the fitted column names and labels;
            default: whether the model was fitted on a DataFrame.

        Returns
        -------
        X : ndarray of shape (n_samples, n_items), int32, or DataFrame
        labels : ndarray of shape (n_samples,), int64
        """
        theta = self._checked_theta()
        n_samples = check_int(n_samples, "n_samples", low=1)
        rng = method_rng(self, random_state)
        width = max(len(t) if j == 0 else t.shape[1] for j, t in enumerate(theta))
        check_memory(n_samples * (4 * (len(theta) - 1) + 16 + 17 * width),
                     f"sample({n_samples}) of {len(theta) - 1} items")
        z = draw_categorical(rng, np.broadcast_to(theta[0], (n_samples, len(theta[0]))))
        X = np.empty((n_samples, len(theta) - 1), dtype=np.int32)
        for j, t in enumerate(theta[1:]):
            X[:, j] = draw_categorical(rng, t[z])
        if as_frame is None:
            as_frame = self._codec_.from_frame
        if as_frame:
            X = self._codec_.frame(X)
        return X, z

    def impute(self, X, method="map", random_state=None):
        """Fill the missing cells of ``X`` from the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_items) or DataFrame
            Codes, ``-1``/NaN = missing.
        method : {"map", "sample"}, default="map"
            ``"map"``: the most probable joint completion together with the
            class, ``argmax_{z, x_mis} p(z, x_mis | x_obs)``; for a latent
            class model that is the class ``z*`` maximising
            ``p(z | x_obs) · Π_{j missing} max_c p_j(c | z)`` and, for every
            missing cell, ``argmax_c p_j(c | z*)`` (ties: lowest index).
            ``"sample"``: one draw from the posterior predictive, ``z ~
            p(z | x_obs)`` then each missing cell from ``p_j(· | z)``.
        random_state : int, Generator or None
            For ``method="sample"``; ``None``: the estimator's ``random_state``.

        Returns
        -------
        ndarray of shape (n_rows, n_items), int32, or DataFrame
            Observed cells unchanged, missing cells filled. For DataFrame input, a
            DataFrame with the same index, columns (in its order) and labels.
        """
        if method not in ("map", "sample"):
            raise ValueError(f"method must be 'map' or 'sample'; got {method!r}.")
        theta = self._checked_theta()
        codes, post, _, status = self._infer(X)
        if status.any():
            self._raise_zero(status, None, codes)
        out = codes.copy()
        miss = codes == MISSING
        rows = np.flatnonzero(miss.any(axis=1))
        if rows.size:
            p = post[rows]
            m = miss[rows]
            items = theta[1:]
            if method == "map":
                with np.errstate(divide="ignore"):
                    score = np.log(p)
                    for j, t in enumerate(items):
                        best_c = np.log(t.max(axis=1))          # (K,)
                        score = score + np.where(m[:, j:j + 1], best_c[None, :], 0.0)
                z = np.argmax(score, axis=1)
                for j, t in enumerate(items):
                    r = m[:, j]
                    out[rows[r], j] = np.argmax(t, axis=1)[z[r]]
            else:
                rng = method_rng(self, random_state)
                z = draw_categorical(rng, p)
                for j, t in enumerate(items):
                    r = m[:, j]
                    if r.any():
                        out[rows[r], j] = draw_categorical(rng, t[z[r]])
        if _is_dataframe(X):
            return self._codec_.frame(out, index=X.index, columns=list(X.columns))
        return out

    # ------------------------------------------------------------------
    # fit statistics
    # ------------------------------------------------------------------
    @property
    def n_parameters(self):
        """Free parameters: ``(K - 1) + K · Σ_j (M_j - 1)``."""
        K = len(self._checked_theta()[0])
        return (K - 1) + K * int(sum(m - 1 for m in self.n_categories_))

    def _ll_n(self, X):
        codes = self._check_X(X)
        ll = self.score_samples(codes)
        n = code_summary(codes)[2]
        if n == 0:
            raise ValueError("The fit statistics need at least one row with an observed item; "
                             f"X has {codes.shape[0]} row(s) and every cell is missing.")
        return float(np.sum(ll)), n

    def aic(self, X):
        """Akaike criterion ``-2 L + 2 p`` (p = :attr:`n_parameters`); lower is better."""
        L, _ = self._ll_n(X)
        return -2 * L + 2 * self.n_parameters

    def bic(self, X):
        """Bayesian criterion ``-2 L + p log n``; ``n`` = rows with an observed item."""
        L, n = self._ll_n(X)
        return -2 * L + self.n_parameters * np.log(n)

    def caic(self, X):
        """Consistent AIC ``-2 L + p (log n + 1)``."""
        L, n = self._ll_n(X)
        return -2 * L + self.n_parameters * (np.log(n) + 1)

    def sabic(self, X):
        """Sample-size adjusted BIC ``-2 L + p log((n + 2) / 24)``."""
        L, n = self._ll_n(X)
        return -2 * L + self.n_parameters * np.log((n + 2) / 24)

    def entropy(self, X):
        """Relative entropy of the classification (1 = perfectly separated classes).

        ``E = 1 - Σ_i Σ_k (-p_ik log p_ik) / (n log K)`` with ``p_ik`` the
        posterior of class ``k`` for row ``i`` (``0 log 0 = 0``), summed over
        the ``n`` rows with at least one observed item. With one class the
        classification is trivially perfect: 1.0. A ``ValueError`` when no row
        has an observed item.
        """
        codes = self._check_X(X)
        keep = (codes != MISSING).any(axis=1)
        n = int(keep.sum())
        if n == 0:
            raise ValueError("entropy needs at least one row with an observed item; X has "
                             f"{codes.shape[0]} row(s) and every cell is missing.")
        post = self.predict_proba(codes[keep])
        K = post.shape[1]
        if K == 1:
            return 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.sum(np.where(post > 0, post * np.log(post), 0.0))
        return float(1.0 - h / (n * np.log(K)))

    # ------------------------------------------------------------------
    # standard errors
    # ------------------------------------------------------------------
    def _free_layout(self):
        """Index of every free parameter: weights 0..K-2, then class k item j cats 0..M_j-2."""
        K = len(self.weights_)
        idx = []
        pos = K - 1
        for k in range(K):
            row = []
            for m in self.n_categories_:
                row.append(pos)
                pos += m - 1
            idx.append(row)
        return idx, pos

    def observed_information(self, X):
        """Observed information matrix (minus the Hessian of the log-likelihood).

        In the free parametrisation: weights ``π_0..π_{K-2}`` (``π_{K-1} =
        1 - Σ``), then for class ``k = 0..K-1`` and item ``j`` the
        probabilities of categories ``0..M_j-2`` (the last one is 1 minus the
        rest). Computed exactly by Louis' identity: expected complete-data
        information minus the posterior covariance of the complete-data score,
        summed over rows. Valid at any parameter value, not only the MLE.

        Returns
        -------
        ndarray of shape (n_parameters, n_parameters)
        """
        codes = self._check_X(X)
        comp = compress_rows(codes)
        rows, nw = comp.rows, comp.counts.astype(np.float64)
        post, _, status = self._infer(rows)[1:]
        if status.any():
            self._raise_zero(status, None, rows)
        w = self.weights_
        K = len(w)
        idx, P = self._free_layout()
        # expected complete-data information (from expected counts)
        info = np.zeros((P, P))
        Nk = post.T @ nw
        for k in range(K - 1):
            info[k, k] += Nk[k] / w[k] ** 2
        if K > 1:
            info[:K - 1, :K - 1] += Nk[K - 1] / w[K - 1] ** 2
        for j, (t, m) in enumerate(zip(self.item_probs_, self.n_categories_)):
            if m < 2:
                continue
            obs = rows[:, j] != MISSING
            onehot = np.zeros((rows.shape[0], m))
            onehot[np.flatnonzero(obs), rows[obs, j]] = 1.0
            Nkc = (post * nw[:, None]).T @ onehot  # (K, m)
            for k in range(K):
                b = idx[k][j]
                sl = slice(b, b + m - 1)
                info[sl, sl] += np.diag(Nkc[k, :m - 1] / t[k, :m - 1] ** 2)
                info[sl, sl] += Nkc[k, m - 1] / t[k, m - 1] ** 2
        # minus the posterior covariance of the complete-data score, in row chunks
        chunk = max(1, int(2_000_000 // max(1, K * P)))
        for a in range(0, rows.shape[0], chunk):
            r = rows[a:a + chunk]
            pr = post[a:a + chunk]
            n_c = nw[a:a + chunk]
            s = np.zeros((r.shape[0], K, P))
            for k in range(K - 1):
                s[:, k, k] = 1.0 / w[k]
            if K > 1:
                s[:, K - 1, :K - 1] = -1.0 / w[K - 1]
            for j, (t, m) in enumerate(zip(self.item_probs_, self.n_categories_)):
                if m < 2:
                    continue
                x = r[:, j]
                for k in range(K):
                    b = idx[k][j]
                    sel = np.flatnonzero((x >= 0) & (x < m - 1))
                    s[sel, k, b + x[sel]] = 1.0 / t[k, x[sel]]
                    last = np.flatnonzero(x == m - 1)
                    s[last[:, None], k, b + np.arange(m - 1)[None, :]] = -1.0 / t[k, m - 1]
            mean = np.einsum("ik,ikp->ip", pr, s)
            A = (np.sqrt(pr * n_c[:, None])[:, :, None] * s).reshape(-1, P)
            B = np.sqrt(n_c)[:, None] * mean
            info -= A.T @ A - B.T @ B
        return info

    def standard_errors(self, X):
        """Standard errors of ``weights_`` and ``item_probs_`` from the observed information.

        The covariance of the free parameters (see
        :meth:`observed_information`) is the inverse of the observed
        information at the fitted parameters; the standard error of each
        dependent parameter (the last weight, the last category of every
        item) follows by the delta method (it is 1 minus the others).
        Parameters on the boundary (0 or 1) make the information singular;
        their standard errors are then NaN or unreliable.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_items)
            The training data.

        Returns
        -------
        weights_se : ndarray of shape (n_classes,)
        item_probs_se : list of ndarray of shape (n_classes, M_j)
        """
        info = self.observed_information(X)
        try:
            cov = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(info)
        idx, P = self._free_layout()
        K = len(self.weights_)

        def se_block(sl_idx):
            sub = cov[np.ix_(sl_idx, sl_idx)]
            var = np.append(np.diag(sub), np.sum(sub))
            with np.errstate(invalid="ignore"):
                return np.where(var >= 0, np.sqrt(np.abs(var)), np.nan)

        weights_se = se_block(np.arange(K - 1)) if K > 1 else np.zeros(1)
        item_se = []
        for j, m in enumerate(self.n_categories_):
            tab = np.zeros((K, m))
            if m > 1:
                for k in range(K):
                    tab[k] = se_block(np.arange(idx[k][j], idx[k][j] + m - 1))
            item_se.append(tab)
        return weights_se, item_se

    def log_likelihood_free(self, X, free):
        """Log-likelihood of ``X`` at the free parameter vector ``free`` (for checks)."""
        theta = self._unpack_free(np.asarray(free, dtype=np.float64))
        codes = self._check_X(X)
        offsets, S = self._layout(self.n_categories_)
        comp = compress_rows(codes)
        *_, total, _ = self._run_kernel(comp.rows, comp.counts.astype(np.float64), theta,
                                        offsets, S, False, 1)
        return float(total)

    def free_parameters(self):
        """The fitted parameters as the free vector used by :meth:`observed_information`."""
        check_is_fitted(self, "weights_")
        out = [self.weights_[:-1]]
        for k in range(len(self.weights_)):
            for t in self.item_probs_:
                out.append(t[k, :-1])
        return np.concatenate(out)

    def _unpack_free(self, free):
        K = len(self.weights_)
        w = np.append(free[:K - 1], 1 - np.sum(free[:K - 1]))
        idx, _ = self._free_layout()
        items = []
        for j, m in enumerate(self.n_categories_):
            t = np.zeros((K, m))
            for k in range(K):
                v = free[idx[k][j]: idx[k][j] + m - 1]
                t[k] = np.append(v, 1 - np.sum(v))
            items.append(t)
        return [w] + items
