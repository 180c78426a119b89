"""Latent class model: a mixture of independent categorical items, fitted by EM.

The model is the simplest Bayesian network with a hidden variable: a class
``Z`` (``K`` states, weights ``π``) with every item ``X_j`` (``M_j`` categories)
as its child, ``p(x) = Σ_k π_k Π_j p_j(x_j | k)``. Missing items are
marginalised (skipped), which is the ignorable (MAR) fit.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from . import _kernels
from ._base import BaseEstimator, check_is_fitted, check_n_jobs, check_random_state
from .data import MISSING, NO_CARD_LIMIT as _BIG, _is_dataframe, check_data, compress_rows
from .em import dirichlet_log_prior, fit_with_restarts, run_em

__all__ = ["LatentClassModel"]



class LatentClassModel(BaseEstimator):
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
                 verbose=False, warm_start=False, missingness=None):
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

    # ------------------------------------------------------------------
    # data
    # ------------------------------------------------------------------
    def _names_for(self, X, n_cols):
        if _is_dataframe(X):
            return [str(c) for c in X.columns]
        return [f"item {j}" for j in range(n_cols)]

    def _validate_fit_data(self, X):
        if _is_dataframe(X):
            names = [c for c in X.columns]
        else:
            arr = np.asarray(X)
            if arr.ndim != 2:
                raise ValueError(f"X must be 2-dimensional (n_rows, n_items); got shape "
                                 f"{arr.shape}.")
            names = [f"item {j}" for j in range(arr.shape[1])]
        J = len(names)
        if J == 0:
            raise ValueError("X has no items (0 columns).")
        if self.n_categories is None:
            codes = check_data(X, names, [_BIG] * J)
            cards = [max(int(c), 0) + 1 for c in (codes.max(axis=0) if len(codes) else
                                                  np.zeros(J, int))]
        else:
            cards = self._check_n_categories(J)
            codes = check_data(X, names, cards)
        if codes.shape[0] == 0:
            raise ValueError("X has no rows.")
        return codes, names, cards

    def _check_n_categories(self, J):
        nc = self.n_categories
        if isinstance(nc, (numbers.Integral, np.integer)):
            cards = [int(nc)] * J
        else:
            cards = [int(c) for c in nc]
            if len(cards) != J:
                raise ValueError(f"n_categories has {len(cards)} entries but X has {J} items.")
        for j, c in enumerate(cards):
            if c < 1:
                raise ValueError(f"n_categories[{j}] = {c}; every item needs at least 1 category.")
        return cards

    def _check_X(self, X):
        """Validate data against the fitted items (names, cardinalities)."""
        check_is_fitted(self, "weights_")
        names = list(self.feature_names_in_)
        return check_data(X, names, self.n_categories_)

    # ------------------------------------------------------------------
    # parameters <-> kernel inputs
    # ------------------------------------------------------------------
    def _layout(self, cards):
        offsets = np.zeros(len(cards), dtype=np.int64)
        if len(cards) > 1:
            np.cumsum(cards[:-1], out=offsets[1:])
        return offsets, int(sum(cards))

    @staticmethod
    def _log_tables(theta):
        # theta = [weights, item tables...]; the tables may also come as one (K, S)
        # array already concatenated (the layout inside the EM loop of fit)
        with np.errstate(divide="ignore"):
            log_w = np.ascontiguousarray(np.log(theta[0]), dtype=np.float64)
            log_items = np.ascontiguousarray(
                np.log(np.concatenate(theta[1:], axis=1)).T, dtype=np.float64)
        return log_w, log_items

    def _run_kernel(self, rows, row_w, theta, offsets, S, accumulate, n_threads, out=None):
        log_w, log_items = self._log_tables(theta)
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
                                          status, wc, ic, bool(accumulate), int(n_threads))
        return post, loglik, status, wc, ic, total, n_bad

    # ------------------------------------------------------------------
    # fit
    # ------------------------------------------------------------------
    def _check_params(self):
        K = self.n_classes
        if not isinstance(K, (numbers.Integral, np.integer)) or K < 1:
            raise ValueError(f"n_classes must be a positive int; got {K!r}.")
        if not isinstance(self.max_iter, (numbers.Integral, np.integer)) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an int >= 1; got {self.max_iter!r}.")
        if not (isinstance(self.tol, numbers.Real) and self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0; got {self.tol!r}.")
        if not isinstance(self.n_init, (numbers.Integral, np.integer)) or self.n_init < 1:
            raise ValueError(f"n_init must be an int >= 1; got {self.n_init!r}.")
        pc = self.pseudocount
        if not (isinstance(pc, numbers.Real) and np.isfinite(pc) and pc >= 0):
            raise ValueError(f"pseudocount must be a finite number >= 0; got {pc!r}.")
        if not (isinstance(self.init, dict) or (isinstance(self.init, str)
                                                and self.init == "random")):
            raise ValueError(f"init must be 'random' or a dict with 'weights' and 'item_probs'; "
                             f"got {self.init!r}.")
        return int(K)

    def _check_theta(self, params, K, cards, what="init"):
        if not isinstance(params, dict) or set(params) != {"weights", "item_probs"}:
            raise ValueError(f"{what} dict must have exactly the keys 'weights' and "
                             f"'item_probs'; got {sorted(params) if isinstance(params, dict) else params!r}.")
        w = np.asarray(params["weights"], dtype=np.float64)
        if w.shape != (K,):
            raise ValueError(f"{what}['weights'] must have shape ({K},); got {w.shape}.")
        items = list(params["item_probs"])
        if len(items) != len(cards):
            raise ValueError(f"{what}['item_probs'] has {len(items)} tables but X has "
                             f"{len(cards)} items.")
        tables = [w]
        for j, (t, m) in enumerate(zip(items, cards)):
            t = np.asarray(t, dtype=np.float64)
            if t.shape != (K, m):
                raise ValueError(f"{what}['item_probs'][{j}] must have shape ({K}, {m}); got "
                                 f"{t.shape}.")
            tables.append(t)
        for i, t in enumerate(tables):
            name = "weights" if i == 0 else f"item_probs[{i - 1}]"
            if not np.all(np.isfinite(t)) or np.any(t < 0):
                raise ValueError(f"{what}[{name!r}] must be finite and >= 0.")
            if not np.allclose(t.sum(axis=-1), 1.0, rtol=0, atol=1e-8):
                raise ValueError(f"{what}[{name!r}] must sum to 1 along the last axis; got "
                                 f"sums {np.round(t.sum(axis=-1), 6).tolist()}.")
        return [t / t.sum(axis=-1, keepdims=True) for t in tables]

    def _random_theta(self, rng, K, cards):
        theta = [rng.dirichlet(np.full(K, 5.0))]
        for m in cards:
            theta.append(rng.dirichlet(np.full(m, 5.0), size=K))
        return theta

    def fit(self, X, y=None):
        """Fit the model by EM.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_items) or pandas.DataFrame
            Integer codes ``0..M_j-1``; ``-1`` (or NaN) marks a missing value.
        y : ignored

        Returns
        -------
        self
        """
        K = self._check_params()
        n_threads = check_n_jobs(self.n_jobs)
        warm = bool(self.warm_start) and hasattr(self, "weights_")
        if warm:
            if self.weights_.shape[0] != K:
                raise ValueError(f"warm_start: the fitted model has {self.weights_.shape[0]} "
                                 f"classes but n_classes={K}.")
            names, cards = list(self.feature_names_in_), list(self.n_categories_)
            codes = check_data(X, names, cards)
        else:
            codes, names, cards = self._validate_fit_data(X)
        for attr in ("missingness_", "missingness_parents_", "_mech_"):
            self.__dict__.pop(attr, None)
        if self.missingness is not None:
            if warm:
                raise ValueError("warm_start cannot be combined with missingness=; refit from "
                                 "scratch.")
            return self._fit_with_missingness(codes, names, cards, K)
        # rows with nothing observed add nothing (not even to the tol scale)
        n_rows = max(1, int(np.sum((codes != MISSING).any(axis=1))))
        comp = compress_rows(codes)
        rows = comp.rows
        row_w = comp.counts.astype(np.float64)
        offsets, S = self._layout(cards)
        pc = float(self.pseudocount)

        buffers = (np.empty((rows.shape[0], K)), np.empty(rows.shape[0]),
                   np.empty(rows.shape[0], dtype=np.int32))
        # Inside the EM loop the item tables travel as one (K, S) array (theta =
        # [weights, tables]): the M-step normalises every item's block at once and the
        # E-step takes its log in one call, so a small data set costs tens of
        # microseconds per iteration outside the kernel, not one NumPy call per item.
        seg = np.repeat(np.arange(len(cards)), cards)
        starts = offsets.copy()
        uniform = (1.0 / np.asarray(cards, dtype=np.float64))[seg][None, :]

        def pack(theta):
            return [theta[0], np.concatenate(theta[1:], axis=1)]

        def estep(theta):
            _, _, status, wc, ic, total, n_bad = self._run_kernel(
                rows, row_w, theta, offsets, S, True, n_threads, out=buffers)
            if n_bad:
                self._raise_zero(status, comp, None)
            # the kernel sums row_weights * loglik itself, in a fixed order
            return [wc, ic.T], total

        def mstep(counts):
            # same result as em.normalize on every table (pseudocounts, a table with
            # no counts -> uniform), on the concatenated (K, S) table at once
            w = counts[0] + pc
            tot = w.sum()
            w = w / tot if tot > 0 else np.full_like(w, 1.0 / len(w))
            c = counts[1] + pc                                  # (K, S)
            tot = np.add.reduceat(c, starts, axis=1)[:, seg]    # (K, S)
            with np.errstate(invalid="ignore", divide="ignore"):
                c = np.where(tot > 0, c / np.where(tot > 0, tot, 1.0), uniform)
            return [w, c]

        log_prior = (lambda th: dirichlet_log_prior(th, pc)) if pc > 0 else None

        def run(theta0):
            res = run_em(estep, mstep, pack(theta0), max_iter=int(self.max_iter),
                         tol=float(self.tol), verbose=bool(self.verbose), scale=float(n_rows),
                         log_prior=log_prior, desc="LatentClassModel")
            res.theta = [res.theta[0]] + [res.theta[1][:, o:o + m]
                                          for o, m in zip(offsets, cards)]
            return res

        if warm:
            theta0 = [self.weights_.copy()] + [t.copy() for t in self.item_probs_]
            best = run(theta0)
            best.extra.update({"n_best": 1, "objectives": [best.objective]})
            if not best.converged:
                from .exceptions import ConvergenceWarning
                warnings.warn(f"LatentClassModel: the warm-started fit did not converge within "
                              f"max_iter={self.max_iter}. Increase max_iter, loosen tol, or "
                              "check the data.", ConvergenceWarning, stacklevel=2)
        else:
            rng = check_random_state(self.random_state)
            fixed = self._check_theta(self.init, K, cards) if isinstance(self.init, dict) \
                else None

            def fit_one(child):
                theta0 = [t.copy() for t in fixed] if fixed is not None else \
                    self._random_theta(child, K, cards)
                return run(theta0)

            best = fit_with_restarts(fit_one, int(self.n_init), rng,
                                     estimator_name="LatentClassModel",
                                     max_iter=int(self.max_iter))

        theta = best.theta
        order = np.argsort(-theta[0], kind="stable")
        self.weights_ = np.ascontiguousarray(theta[0][order])
        self.item_probs_ = [np.ascontiguousarray(t[order]) for t in theta[1:]]
        self.n_categories_ = list(cards)
        self.n_features_in_ = len(cards)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.log_likelihood_ = float(best.log_likelihood)
        self.history_ = list(best.history)
        self.n_iter_ = int(best.n_iter)
        self.converged_ = bool(best.converged)
        self.n_best_ = int(best.extra.get("n_best", 1))
        self.init_objectives_ = list(best.extra.get("objectives", [best.objective]))
        return self

    def _fit_with_missingness(self, codes, names, cards, K):
        from .missingness import fit_latent_class

        init_theta = self._check_theta(self.init, K, cards) if isinstance(self.init, dict) \
            else None
        res = fit_latent_class(codes, names, cards, K, self.missingness, init_theta=init_theta,
                               max_iter=int(self.max_iter), tol=float(self.tol),
                               n_init=int(self.n_init), pseudocount=float(self.pseudocount),
                               random_state=self.random_state, n_jobs=self.n_jobs,
                               verbose=bool(self.verbose))
        theta = res["theta"]
        order = np.argsort(-theta[0], kind="stable")
        self.weights_ = np.ascontiguousarray(theta[0][order])
        self.item_probs_ = [np.ascontiguousarray(t[order]) for t in theta[1:]]
        delta = {}
        for v, t in res["missingness"].items():
            pa = res["parents"][v]
            if "class" in pa:
                t = np.take(t, order, axis=pa.index("class"))
            delta[v] = np.ascontiguousarray(t)
        self.missingness_ = delta
        self.missingness_parents_ = dict(res["parents"])
        self._mech_ = {"network": res["network"], "class_name": res["class_name"],
                       "indicator_parents": res["indicator_parents"], "order": order}
        self.n_categories_ = list(cards)
        self.n_features_in_ = len(cards)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.log_likelihood_ = float(res["log_likelihood"])
        self.history_ = list(res["history"])
        self.n_iter_ = int(res["n_iter"])
        self.converged_ = bool(res["converged"])
        self.n_best_ = int(res["n_best"])
        self.init_objectives_ = list(res["objectives"])
        return self

    def _predict_proba_mechanism(self, codes):
        """Class posterior including the indicators' evidence, p(z | x_obs, m)."""
        from .missingness import augment_codes

        aug = self._mech_["network"]
        cls = self._mech_["class_name"]
        parents = self._mech_["indicator_parents"]
        full = np.concatenate([np.full((codes.shape[0], 1), MISSING, np.int32), codes], axis=1)
        A = augment_codes(full, aug.variables[:full.shape[1]], parents)
        post = aug.predict_proba(A, [cls])[cls]
        return post[:, self._mech_["order"]]

    def _raise_zero(self, status, comp, codes):
        u = int(np.flatnonzero(status)[0])
        if comp is not None:
            r = int(np.flatnonzero(comp.inverse == u)[0])
            row = comp.rows[u]
        else:
            r, row = u, codes[u]
        raise ValueError(
            f"Row {r} of X ({row.tolist()}) has probability 0 under every class: some observed "
            "category has probability 0 in every class. Use pseudocount > 0 or check the data.")

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    @property
    def _theta(self):
        return [self.weights_] + list(self.item_probs_)

    def _infer(self, X):
        codes = self._check_X(X)
        offsets, S = self._layout(self.n_categories_)
        comp = compress_rows(codes)
        post, ll, status, *_ = self._run_kernel(
            comp.rows, comp.counts.astype(np.float64), self._theta, offsets, S, False,
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
        """Mean per-row log-likelihood of ``X`` (``-inf`` if a row is impossible)."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X):
        """Posterior class probabilities ``p(Z = k | x_obs)``.

        Returns
        -------
        ndarray of shape (n_rows, n_classes)
            A row with nothing observed gets ``weights_``.

        Raises
        ------
        ValueError
            If a row has probability 0 under every class.
        """
        codes, post, _, status = self._infer(X)
        if status.any():
            self._raise_zero(status, None, codes)
        if hasattr(self, "_mech_"):
            return self._predict_proba_mechanism(codes)
        return post

    def predict(self, X):
        """Most probable class of every row."""
        return np.argmax(self.predict_proba(X), axis=1)

    def sample(self, n_samples=1, random_state=None):
        """Draw complete rows from the fitted model.

        Returns
        -------
        X : ndarray of shape (n_samples, n_items), int32
        labels : ndarray of shape (n_samples,), int64
        """
        check_is_fitted(self, "weights_")
        if not isinstance(n_samples, (numbers.Integral, np.integer)) or n_samples < 1:
            raise ValueError(f"n_samples must be an int >= 1; got {n_samples!r}.")
        rng = check_random_state(random_state)
        z = rng.choice(len(self.weights_), size=n_samples, p=self.weights_)
        X = np.empty((n_samples, self.n_features_in_), dtype=np.int32)
        for j, t in enumerate(self.item_probs_):
            X[:, j] = _draw_rows(rng, t[z])
        return X, z.astype(np.int64)

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
            For ``method="sample"``.

        Returns
        -------
        ndarray of shape (n_rows, n_items), int32
            Observed cells unchanged, missing cells filled.
        """
        if method not in ("map", "sample"):
            raise ValueError(f"method must be 'map' or 'sample'; got {method!r}.")
        codes, post, _, status = self._infer(X)
        if status.any():
            self._raise_zero(status, None, codes)
        out = codes.copy()
        miss = codes == MISSING
        rows = np.flatnonzero(miss.any(axis=1))
        if rows.size == 0:
            return out
        p = post[rows]
        m = miss[rows]
        if method == "map":
            with np.errstate(divide="ignore"):
                score = np.log(p)
                for j, t in enumerate(self.item_probs_):
                    best_c = np.log(t.max(axis=1))          # (K,)
                    score = score + np.where(m[:, j:j + 1], best_c[None, :], 0.0)
            z = np.argmax(score, axis=1)
            for j, t in enumerate(self.item_probs_):
                r = m[:, j]
                out[rows[r], j] = np.argmax(t, axis=1)[z[r]]
        else:
            rng = check_random_state(random_state)
            z = _draw_rows(rng, p)
            for j, t in enumerate(self.item_probs_):
                r = m[:, j]
                if r.any():
                    out[rows[r], j] = _draw_rows(rng, t[z[r]])
        return out

    # ------------------------------------------------------------------
    # fit statistics
    # ------------------------------------------------------------------
    @property
    def n_parameters(self):
        """Free parameters: ``(K - 1) + K · Σ_j (M_j - 1)``."""
        check_is_fitted(self, "weights_")
        K = len(self.weights_)
        return (K - 1) + K * int(sum(m - 1 for m in self.n_categories_))

    def _ll_n(self, X):
        codes = self._check_X(X)
        ll = self.score_samples(codes)
        n = int(np.sum((codes != MISSING).any(axis=1)))
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
        the ``n`` rows with at least one observed item. NaN when ``K = 1``.
        """
        codes = self._check_X(X)
        keep = (codes != MISSING).any(axis=1)
        post = self.predict_proba(codes[keep])
        K = post.shape[1]
        n = post.shape[0]
        if K == 1 or n == 0:
            return float("nan")
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


def _draw_rows(rng, probs):
    """One categorical draw per row of ``probs`` (n, M) (inverse CDF)."""
    probs = np.asarray(probs, dtype=np.float64)
    c = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * c[:, -1]
    out = (u[:, None] >= c).sum(axis=1)
    return np.minimum(out, probs.shape[1] - 1)
