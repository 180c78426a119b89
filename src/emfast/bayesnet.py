"""Bayesian networks over categorical variables, fitted by EM on a junction tree.

The network object holds the structure (variables, cardinalities, state
labels, parent lists) and one conditional probability table (CPT) per
variable: ``cpts[name]`` has shape ``(*parent_cards, card)`` with the parents in
the order :meth:`BayesianNetwork.parents` returns and the last axis summing
to 1 (DESIGN.md, "The one idea that keeps it small").

Fitting and inference compile the structure once into a junction tree
(:mod:`emfast._jtree`) whose flat index arrays drive the Cython kernels in
``_kernels_bn.pxi``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
import functools
import math

import numpy as np

from . import _kernels
from ._base import (EMFitMixin, EMProblem, check_int, check_n_jobs, draw_categorical,
                    first_row, method_rng, raise_for_status)
from ._blocks import plan_blocks
from ._config import check_memory
from .data import _is_dataframe, check_data, code_summary, compress_rows
from .distributed import Partitions, is_partitioned
from .em import check_table, dirichlet_log_prior, normalize
from .missingness import (MCAR, LogLikelihoodParts, augment_codes, augment_structure,
                          check_fixed_missingness, check_mechanism)

__all__ = ["BayesianNetwork", "read_bif", "load"]


class _CPTs(Mapping):
    """The CPTs of a :class:`BayesianNetwork`: ``cpts[name]`` -> read-only ndarray.

    Assigning ``cpts[name] = table`` checks the shape ``(*parent_cards, card)``,
    that entries are finite and non-negative and that every row sums to 1
    (within 1e-6), then stores a float64 copy.
    """

    def __init__(self, bn: "BayesianNetwork"):
        self._bn = bn
        self._tables: dict = {}

    def __getitem__(self, name):
        return self._tables[name]

    def __iter__(self):
        return iter(self._bn.variables)

    def __len__(self):
        return len(self._tables)

    def __repr__(self):
        return f"CPTs({', '.join(f'{k}: {v.shape}' for k, v in self._tables.items())})"

    def __setitem__(self, name, table):
        self._tables[name] = self._bn._check_cpt(name, table)

    def _set_unchecked(self, name, table):
        t = np.array(table, dtype=np.float64, order="C", copy=True)
        t.flags.writeable = False
        self._tables[name] = t


class BayesianNetwork(EMFitMixin):
    """A discrete Bayesian network with hidden variables and missing values, fitted by EM.

    Parameters
    ----------
    edges : sequence of (str, str)
        ``(parent, child)`` pairs. The parent order of a child is the order in
        which its edges appear here; it fixes the axes of ``cpts[child]``.
    cardinalities : dict
        ``{name: number of states}``; its key order fixes :attr:`variables`
        (isolated variables, without any edge, are allowed).
    states : dict, optional
        ``{name: [state labels]}`` for some or all variables. A variable not
        given gets the labels ``"0", "1", ..., str(card - 1)``.

    Attributes
    ----------
    variables : list of str
    cardinalities : dict
    states : dict of list of str
    edges : list of (str, str)
    cpts : mapping
        ``cpts[name]`` is an ndarray of shape ``(*parent_cards, card)``. A new
        network has uniform CPTs. ``cpts[name] = table`` validates and stores.
    history_ : list of float
        Objective (log-likelihood, plus the log Dirichlet prior when
        ``pseudocount > 0``) after each E-step of the best restart of the last
        :meth:`fit`.
    n_iter_ : int
        Number of M-steps of that fit.
    converged_ : bool
    log_likelihood_ : float
        Log-likelihood of the fitted CPTs on the training data (of data and
        missingness pattern when fitted with ``missingness=``).
    n_best_ : int
        Number of restarts whose final objective is within 1e-6 (relative) of
        the best one.
    init_objectives_ : list of float
        Final objective of every restart.
    missingness_ : dict
        Only after ``fit(..., missingness=mechanism)``: ``{variable: δ table of
        shape (*parent_cards, 2)}``; ``[..., 1]`` is P(missing | parents).
    missingness_parents_ : dict
        ``{variable: parents of its indicator}`` for the fitted mechanism.
    mechanism_ : MCAR, MAR or MNAR
        The fitted mechanism.

    Notes
    -----
    Data for :meth:`fit` and the inference methods: a numpy array with one
    column per variable in :attr:`variables` order (``-1`` = missing; a
    hidden variable is a column of all ``-1``), or ``columns=[names]`` for a
    subset of the variables, or a pandas DataFrame matched by column name
    (integer columns hold codes, other columns state labels).

    Examples
    --------
    >>> import emfast as em
    >>> bn = em.BayesianNetwork([("Z", "A"), ("Z", "B")], {"Z": 2, "A": 3, "B": 2})
    >>> bn.parents("A")
    ('Z',)
    >>> bn.cpts["A"].shape
    (2, 3)
    """

    def __init__(self, edges, cardinalities, states=None):
        if not isinstance(cardinalities, Mapping):
            raise TypeError("cardinalities must be a dict {name: number of states}; got "
                            f"{type(cardinalities).__name__}.")
        variables = list(cardinalities)
        cards = {}
        for v in variables:
            c = cardinalities[v]
            if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)) or c < 1:
                raise ValueError(f"cardinality of variable {v!r} must be a positive int; got {c!r}.")
            cards[v] = int(c)
        index = {v: i for i, v in enumerate(variables)}
        parents: dict = {v: [] for v in variables}
        children: dict = {v: [] for v in variables}
        edge_list = []
        seen = set()
        for e in edges:
            try:
                p, c = e
            except (TypeError, ValueError):
                raise ValueError(f"every edge must be a (parent, child) pair; got {e!r}.") from None
            for x in (p, c):
                if x not in index:
                    raise ValueError(f"edge {(p, c)!r} names the unknown variable {x!r}; "
                                     f"variables are {variables!r}.")
            if p == c:
                raise ValueError(f"edges contain a cycle: {p} -> {p} (self-loop on {p!r}).")
            if (p, c) in seen:
                raise ValueError(f"edge {(p, c)!r} is given more than once.")
            seen.add((p, c))
            parents[c].append(p)
            children[p].append(c)
            edge_list.append((p, c))
        _check_table_sizes(variables, parents, cards, states)
        self._variables = variables
        self._index = index
        self._cards = cards
        self._parents = {v: tuple(ps) for v, ps in parents.items()}
        self._children = {v: tuple(cs) for v, cs in children.items()}
        self._edges = edge_list
        self._topo = _topological_order(variables, self._parents, children)
        st = {}
        states = {} if states is None else dict(states)
        for v in states:
            if v not in index:
                raise ValueError(f"states names the unknown variable {v!r}; variables are "
                                 f"{variables!r}.")
        for v in variables:
            if v in states and states[v] is not None:
                if isinstance(states[v], (str, bytes)) or not isinstance(states[v], Iterable):
                    raise TypeError(f"states[{v!r}] must be a list of state names; got "
                                    f"{type(states[v]).__name__} {states[v]!r:.60}.")
                labels = [str(s) for s in states[v]]
                if len(labels) != cards[v]:
                    raise ValueError(f"states[{v!r}] has {len(labels)} labels but variable {v!r} "
                                     f"has cardinality {cards[v]}.")
                if len(set(labels)) != len(labels):
                    raise ValueError(f"states[{v!r}] has repeated labels: {labels!r}.")
            else:
                labels = [str(i) for i in range(cards[v])]
            st[v] = labels
        self._states = st
        self._tree_cache = None
        self.cpts = _CPTs(self)
        for v in variables:
            shape = self._cpt_shape(v)
            self.cpts._set_unchecked(v, np.full(shape, 1.0 / cards[v]))

    # ------------------------------------------------------------------ structure
    @property
    def variables(self) -> list:
        """Variable names, in the order of the data columns."""
        return list(self._variables)

    @property
    def cardinalities(self) -> dict:
        """``{name: number of states}``."""
        return dict(self._cards)

    @property
    def states(self) -> dict:
        """``{name: [state labels]}``; code ``k`` of ``name`` is ``states[name][k]``."""
        return {v: list(s) for v, s in self._states.items()}

    @property
    def edges(self) -> list:
        """``(parent, child)`` pairs, in the order given."""
        return list(self._edges)

    @property
    def topological_order(self) -> list:
        """Variables ordered so that every parent comes before its children."""
        return list(self._topo)

    def parents(self, name) -> tuple:
        """Parents of ``name`` in CPT axis order."""
        self._check_var(name)
        return self._parents[name]

    def children(self, name) -> tuple:
        """Children of ``name``, in edge order."""
        self._check_var(name)
        return self._children[name]

    def _check_var(self, name):
        if name not in self._index:
            raise ValueError(f"unknown variable {name!r}; variables are {self._variables!r}.")

    def _cpt_shape(self, name) -> tuple:
        return tuple(self._cards[p] for p in self._parents[name]) + (self._cards[name],)

    def _check_cpt(self, name, table) -> np.ndarray:
        self._check_var(name)
        pa = self._parents[name]

        def describe(idx):
            conf = ", ".join(f"{p}={self._states[p][k]}" for p, k in zip(pa, idx))
            return f"the row for parent configuration ({conf})" if conf else "its (only) row"

        t = check_table(table, self._cpt_shape(name), f"CPT for {name!r}", describe_row=describe,
                        shape_note=f"(parents {pa!r}, then {name!r})")
        t.flags.writeable = False
        return t

    # ------------------------------------------------------------------ compilation
    def _tree(self):
        """The junction tree of this structure (compiled once, cached)."""
        if self._tree_cache is None:
            self._tree_cache = _Compiled(self)
        return self._tree_cache

    def _theta(self) -> list:
        return [self.cpts[v] for v in self._variables]

    def _codes(self, data, columns=None, name="X") -> np.ndarray:
        return check_data(data, self._variables, [self._cards[v] for v in self._variables],
                          states=[self._states[v] for v in self._variables],
                          columns=columns, name=name)

    # ------------------------------------------------------------------ fitting
    _fit_state_attributes = ("missingness_", "missingness_parents_", "mechanism_")

    def fit(self, data, *, columns=None, max_iter=100, tol=1e-6, n_init=1, init="random",
            pseudocount=0.0, random_state=None, n_jobs=None, verbose=False,
            missingness=None, fixed_missingness=None, accelerate=None, max_time=None,
            param_tol=None):
        """Fit the CPTs by EM (maximum likelihood, or MAP with ``pseudocount > 0``).

        Parameters
        ----------
        data : array-like of shape (n_rows, n_columns) or pandas.DataFrame
            Integer codes with ``-1`` (or NaN) for missing values, one column
            per variable in :attr:`variables` order (or ``columns=``), or a
            DataFrame matched by column name (integer columns hold codes, other
            columns state labels; booleans match states named true/false in any
            case). A variable without a column, or whose column is all missing,
            is hidden. Data in partitions (a dask array or DataFrame,
            :func:`emfast.distributed.partitions`, :func:`emfast.distributed.from_parquet`)
            is fitted partition by partition where it lives (docs/distributed.md;
            without ``missingness=``).
        columns : list of str, optional
            For array input: the variable held by each column.
        max_iter : int, default=100
            Maximum number of EM iterations (M-steps).
        tol : float, default=1e-6
            Stop when the mean per-row log-likelihood (objective) improves by
            less than ``tol``.
        n_init : int, default=1
            Number of initialisations; the fit with the best final objective is
            kept. With ``init="current"`` or ``"uniform"``, restart 0 starts
            from the current / uniform CPTs and the others from random CPTs.
        init : {"random", "uniform", "current"}, default="random"
            ``"random"``: every CPT row drawn from a Dirichlet(1) distribution;
            ``"uniform"``: uniform rows; ``"current"``: the CPTs the network
            holds now (to compare libraries from the same start).
        pseudocount : float, default=0
            Dirichlet pseudocount added to every expected count (MAP-EM); the
            monitored objective is then log-likelihood + log prior.
        random_state : None, int or numpy Generator
        n_jobs : int, optional
            Threads of the E-step (None or -1: all OpenMP threads).
        verbose : bool, default=False
            Progress bar (tqdm when installed) with the log-likelihood per iteration.
        missingness : MCAR, MAR or MNAR, optional
            Model why cells are missing. ``None`` (default) is the ignorable
            fit of θ alone. With a mechanism, one always-observed binary
            indicator node per modelled variable is added with the parents the
            mechanism names, and θ and δ are fitted jointly; the fitted δ tables
            are in ``missingness_`` (``{variable: (*parent_cards, 2)}``,
            ``[..., 1]`` = P(missing)). ``log_likelihood_`` and ``history_`` are
            then those of the data *and* the missingness pattern. See
            :mod:`emfast.missingness` and docs/missing-data.md.
        fixed_missingness : dict, optional
            ``{variable: δ table}`` held fixed (not fitted), for sensitivity
            analyses of MNAR mechanisms that the data cannot identify. A table
            may also be given as P(missing) of shape ``parent_cards``.
        accelerate : {None, "squarem"}, default=None
            ``"squarem"``: SQUAREM extrapolation between EM steps
            (:func:`emfast.run_em`; docs/acceleration.md): fewer E-steps on slow
            fits, monotone objective, valid CPTs (fixed tables and structural zeros
            kept); ``tol`` then applies to one SQUAREM iteration and ``n_estep_``
            counts its E-steps.
        max_time : float, optional
            Stop each initialisation after this many seconds (``stop_reason_ ==
            "max_time"``; not converged).
        param_tol : float, optional
            Also stop when an EM step changes no CPT entry by more than this
            (absolute; ``stop_reason_ == "param_tol"``).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Bad data (see :func:`emfast.data.check_data`), or a row whose
            observed values have probability 0 under the current CPTs (possible
            only with ``init="current"`` and zeros in the CPTs).
        """
        if init not in ("random", "uniform", "current"):
            raise ValueError(f"init must be 'random', 'uniform' or 'current'; got {init!r}.")
        pseudocount = _check_pseudocount(pseudocount)
        if is_partitioned(data):
            return self._fit_partitioned(data, columns=columns, max_iter=max_iter, tol=tol,
                                         n_init=n_init, init=init, pseudocount=pseudocount,
                                         random_state=random_state, n_jobs=n_jobs,
                                         verbose=verbose, accelerate=accelerate,
                                         max_time=max_time, param_tol=param_tol,
                                         mechanism=(missingness, fixed_missingness))
        codes = self._codes(data, columns)
        if codes.shape[0] == 0:
            raise ValueError("X has no rows: there is nothing to fit.")
        n_threads = check_n_jobs(n_jobs)
        context = {"from_frame": _is_dataframe(data)}
        if missingness is None and fixed_missingness is None:
            net, fit_codes, fixed = self, codes, ()
        else:
            mechanism = check_mechanism(MCAR() if missingness is None else missingness)
            resolved = mechanism.resolve(self._variables, codes)
            held = check_fixed_missingness(fixed_missingness, resolved, self._cards)
            delta0 = {}
            if init == "current" and getattr(self, "missingness_parents_", None) == resolved:
                delta0.update(self.missingness_)
            delta0.update(held)
            net, names = self._augmented(resolved, delta0)
            fit_codes = augment_codes(codes, self._variables, resolved)
            fixed = tuple(net._index[names[v]] for v in held)
            context.update(mechanism=mechanism, resolved=resolved, names=names, net=net)
        problem = net._em_problem(fit_codes, init=init, pseudocount=pseudocount, fixed=fixed,
                                  n_threads=n_threads)
        best = self._fit_em(problem, n_init=n_init, max_iter=max_iter, tol=tol,
                            random_state=random_state, verbose=verbose, name="BayesianNetwork",
                            accelerate=accelerate, max_time=max_time, param_tol=param_tol)
        self._store_fit(best, **context)
        return self

    def _fit_partitioned(self, data, *, columns, max_iter, tol, n_init, init, pseudocount,
                         random_state, n_jobs, verbose, accelerate, max_time, param_tol,
                         mechanism):
        """fit on data in partitions (emfast.distributed): each partition validated and
        row-compressed where it lives, the E-step summed over partitions."""
        from .distributed import PartitionedEStep, partitions

        if mechanism != (None, None):
            raise ValueError("a partitioned (dask / Parquet) fit does not support "
                             "missingness= / fixed_missingness= yet; fit in memory instead.")
        parts = data if isinstance(data, Partitions) else partitions(data)
        check_n_jobs(n_jobs)
        v = self._variables
        engine = PartitionedEStep(parts, functools.partial(
            _bn_prepare, list(v), [self._cards[x] for x in v], [self._states[x] for x in v],
            None if columns is None else list(columns)))
        try:
            n_rows = sum(engine.summaries)
            if n_rows == 0:
                raise ValueError("X has no rows: there is nothing to fit.")
            estep = engine.estep(_bn_part_estep, (self.copy(), n_jobs))
            problem = self._em_problem(None, init=init, pseudocount=pseudocount,
                                       estep=estep, n_rows=n_rows)
            best = self._fit_em(problem, n_init=n_init, max_iter=max_iter, tol=tol,
                                random_state=random_state, verbose=verbose,
                                name="BayesianNetwork", accelerate=accelerate,
                                max_time=max_time, param_tol=param_tol)
        finally:
            engine.close()
        self._store_fit(best, from_frame=parts.frame)
        return self

    def _augmented(self, resolved, delta=None):
        """A new network with one indicator node per resolved variable (CPTs copied,
        indicator CPTs from ``delta`` where given, else uniform)."""
        edges, cards, states, names = augment_structure(self._variables, self._cards,
                                                        self._states, self._edges, resolved)
        aug = BayesianNetwork(edges, cards, states=states)
        for v in self._variables:
            aug.cpts._set_unchecked(v, self.cpts[v])
        for v, table in (delta or {}).items():
            if v in names:
                aug.cpts[names[v]] = table
        return aug, names

    def _em_problem(self, codes, *, init="random", pseudocount=0.0, fixed=(), n_threads=1,
                    log_prior=True, estep=None, n_rows=None) -> EMProblem:
        """This network's EM, declared for the skeleton: E-step on the distinct rows of
        ``codes`` (validated int32, one column per variable), M-step
        :func:`~emfast.normalize` with the tables at indices ``fixed`` held at their
        current values, initial CPTs per restart as ``init`` says (a string, or a
        callable ``init(rng, k) -> theta``). A given ``estep`` (a partitioned one,
        over ``n_rows`` rows) replaces the E-step on ``codes``."""
        shapes = [self._cpt_shape(v) for v in self._variables]
        start = self._theta()
        fixed = tuple(fixed)
        if estep is None:
            cr = compress_rows(codes)
            n_rows = codes.shape[0]

            weights = cr.counts.astype(np.float64)        # once, not per E-step

            def estep(theta):
                return _bn_estep(self, cr.rows, weights, theta, n_threads,
                                 lambda k: first_row(cr.inverse, k))

        def mstep(counts):
            theta = normalize(counts, pseudocount)
            for i in fixed:
                theta[i] = start[i]
            return theta

        if callable(init):
            draw = init
        else:
            def draw(rng_k, k):
                if init == "current" and k == 0:
                    theta0 = [t.copy() for t in start]
                elif init == "uniform" and k == 0:
                    theta0 = [np.full(sh, 1.0 / sh[-1]) for sh in shapes]
                else:
                    theta0 = [rng_k.dirichlet(np.ones(sh[-1]), size=sh[:-1]) for sh in shapes]
                for i in fixed:
                    theta0[i] = start[i]
                return theta0

        prior = None
        if pseudocount > 0 and log_prior:
            def prior(th):
                return dirichlet_log_prior(th, pseudocount)
        return EMProblem(estep, mstep, draw, scale=float(n_rows), log_prior=prior,
                         fixed=fixed)

    def _set_fitted_params(self, theta, *, from_frame=False, mechanism=None, resolved=None,
                           names=None, net=None):
        for v, t in zip(self._variables, theta):
            self.cpts._set_unchecked(v, t)
        self._fitted_from_frame = bool(from_frame)
        if mechanism is not None:
            index = net._index
            self.missingness_ = {v: np.array(theta[index[names[v]]]) for v in resolved}
            self.missingness_parents_ = dict(resolved)
            self.mechanism_ = mechanism

    # ------------------------------------------------------------------ inference
    def _infer_rows(self, data, columns, n_jobs, *, query=None):
        """Codes, their compression and the kernel's (counts, ll, status[, marginals])."""
        codes = self._codes(data, columns)
        comp = self._tree()
        cr = compress_rows(codes)
        if query is None:
            out = comp.infer(cr.rows, np.ones(len(cr.rows)), self._theta(), comp.targets(),
                             check_n_jobs(n_jobs))
        else:
            qidx = tuple(self._index[v] for v in query)
            out = comp.infer(cr.rows, np.ones(len(cr.rows)), self._theta(), comp.targets(qidx),
                             check_n_jobs(n_jobs), n_query=sum(self._cards[v] for v in query))
        return codes, cr, out

    def score_samples(self, data, *, columns=None, n_jobs=None) -> np.ndarray:
        """Per-row log-likelihood ``log p(x_obs)`` (hidden/missing cells summed out).

        A row whose observed values have probability 0 gets ``-inf``.
        """
        _, cr, (_, ll, _) = self._infer_rows(data, columns, n_jobs)
        return ll[cr.inverse]

    def score(self, data, *, columns=None, n_jobs=None) -> float:
        """Mean per-row log-likelihood (scikit-learn's convention; the total is
        :meth:`log_likelihood`). ``-inf`` if some row has probability 0."""
        ll = self.score_samples(data, columns=columns, n_jobs=n_jobs)
        if ll.size == 0:
            raise ValueError("X has no rows: the mean log-likelihood of no rows is undefined.")
        return float(np.mean(ll))

    def log_likelihood(self, data, *, columns=None, n_jobs=None, missingness=None):
        """Total log-likelihood of the data (``-inf`` if some row has probability 0).

        With ``missingness=`` (the mechanism the network was fitted with), return a
        :class:`~emfast.missingness.LogLikelihoodParts` with ``.total`` =
        log p(x_obs, m), ``.theta`` = log p(x_obs) and ``.delta`` = the difference
        (Σ log p(m | x_obs, δ) under MCAR/MAR), using the fitted ``missingness_``.
        """
        if missingness is not None:
            return self._log_likelihood_parts(data, missingness, columns, n_jobs)
        _, cr, (_, ll, _) = self._infer_rows(data, columns, n_jobs)
        return float(ll @ cr.counts.astype(np.float64))

    def _log_likelihood_parts(self, data, mechanism, columns, n_jobs) -> LogLikelihoodParts:
        mechanism = check_mechanism(mechanism)
        if not hasattr(self, "missingness_"):
            raise ValueError("This network has no fitted missingness mechanism; call "
                             "fit(data, missingness=...) first.")
        if mechanism != self.mechanism_:
            raise ValueError(f"The network was fitted with missingness={self.mechanism_!r}, not "
                             f"{mechanism!r}; refit to evaluate another mechanism.")
        codes = self._codes(data, columns)
        resolved = self.missingness_parents_
        mechanism.resolve(self._variables, codes)   # the same checks as fit (MAR parents observed)
        aug, _ = self._augmented(resolved, self.missingness_)
        total = aug.log_likelihood(augment_codes(codes, self._variables, resolved), n_jobs=n_jobs)
        theta = self.log_likelihood(codes, n_jobs=n_jobs)
        return LogLikelihoodParts(float(total), float(theta), float(total - theta), mechanism)

    @property
    def n_parameters(self) -> int:
        """Free parameters: ``Σ_v (card_v - 1) · Π_{p in parents(v)} card_p`` (plus the δ
        tables' when a missingness mechanism was fitted)."""
        n = sum((self._cards[v] - 1) * int(np.prod([self._cards[p] for p in self._parents[v]],
                                                   dtype=np.int64))
                for v in self._variables)
        for v, pa in getattr(self, "missingness_parents_", {}).items():
            n += int(np.prod([self._cards[p] for p in pa], dtype=np.int64))
        return int(n)

    def aic(self, data, *, columns=None, n_jobs=None) -> float:
        """Akaike criterion ``-2 L + 2 p`` (``p`` = :attr:`n_parameters`); lower is better."""
        return -2 * self.log_likelihood(data, columns=columns, n_jobs=n_jobs) \
            + 2 * self.n_parameters

    def bic(self, data, *, columns=None, n_jobs=None) -> float:
        """Bayesian criterion ``-2 L + p log n`` (``n`` = rows with an observed cell)."""
        codes = self._codes(data, columns)
        n = code_summary(codes)[2]
        if n == 0:
            raise ValueError("bic needs at least one row with an observed value; every cell "
                             "of X is missing.")
        return -2 * self.log_likelihood(codes, n_jobs=n_jobs) + self.n_parameters * np.log(n)

    def predict_proba(self, data, variables=None, *, columns=None, n_jobs=None) -> dict:
        """Posterior marginals ``P(v | x_obs)`` of the named variables, for every row.

        Parameters
        ----------
        data : array-like or DataFrame
            As for :meth:`fit`.
        variables : str or list of str, optional
            Variables wanted (hidden ones included); default all.

        Returns
        -------
        dict
            ``{name: ndarray of shape (n_rows, card)}``; for DataFrame input
            ``{name: DataFrame}`` with the input's index and the variable's
            state names as columns. An observed cell gives a one-hot row.

        Raises
        ------
        ValueError
            If a row has probability 0 (its posterior is undefined).
        """
        if variables is None:
            variables = self.variables
        elif isinstance(variables, str):
            variables = [variables]
        else:
            variables = list(variables)
        for v in variables:
            self._check_var(v)
        _, cr, (_, _, status, q) = self._infer_rows(data, columns, n_jobs, query=variables)
        _raise_status(status, cr.inverse)
        out, off = {}, 0
        frame = _is_dataframe(data)
        if frame:
            import pandas as pd
        for v in variables:
            k = self._cards[v]
            p = q[cr.inverse, off:off + k]
            out[v] = pd.DataFrame(p, index=data.index, columns=pd.Index(self._states[v], name=v)) \
                if frame else p
            off += k
        return out

    def impute(self, data, method="map", *, columns=None, random_state=None, n_jobs=None):
        """Fill the missing cells of every row.

        Parameters
        ----------
        data : array-like or DataFrame
            As for :meth:`fit`.
        method : {"map", "sample"}, default="map"
            ``"map"``: the most probable *joint* completion of each row's
            missing cells (max-product on the junction tree with traceback);
            ``"sample"``: one draw from the exact posterior ``p(x_mis | x_obs)``
            (forward filtering, backward sampling).
        random_state : None, int or Generator
            For ``method="sample"`` (``None``: fresh entropy, as everywhere in
            emfast: the estimator's own seed, and a network has none).

        Returns
        -------
        ndarray of int32 codes, or DataFrame
            Array input: an int32 array of the same columns as the input (all
            variables, or ``columns``). DataFrame input: a DataFrame with the
            same columns and index; numeric columns hold int codes, the others state
            labels.
        """
        if method not in ("map", "sample"):
            raise ValueError(f"method must be 'map' or 'sample'; got {method!r}.")
        codes = self._codes(data, columns)
        comp = self._tree()
        targets = comp.targets()
        if method == "map":
            cr = compress_rows(codes)
            full, _, status = comp.complete(cr.rows, self._theta(), targets, None,
                                            check_n_jobs(n_jobs))
            _raise_status(status, cr.inverse)
            full = full[cr.inverse]
        else:
            rng = method_rng(self, random_state)
            u = rng.random((codes.shape[0], comp.tree.n_cliques))
            full, _, status = comp.complete(codes, self._theta(), targets, u,
                                            check_n_jobs(n_jobs))
            _raise_status(status, None)
        return self._restore(full, data, columns)

    def _restore(self, full, data, columns):
        if _is_dataframe(data):
            import pandas as pd
            cols = {}
            for c in data.columns:
                j = self._index[c]
                dt = data[c].dtype
                if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt):
                    cols[c] = full[:, j]
                elif isinstance(dt, pd.CategoricalDtype) and \
                        list(map(str, dt.categories)) == self._states[c]:
                    cols[c] = pd.Categorical.from_codes(full[:, j], dtype=dt)
                else:
                    labels = np.asarray(self._states[c], dtype=object)
                    cols[c] = labels[full[:, j]]
            return pd.DataFrame(cols, index=data.index, columns=data.columns)
        if columns is not None:
            return np.ascontiguousarray(full[:, [self._index[c] for c in columns]])
        return full

    def sample(self, n, random_state=None, *, as_frame=None):
        """Draw ``n`` complete rows by ancestral sampling.

        Parameters
        ----------
        n : int
        random_state : None, int or Generator
            ``None``: fresh entropy (a network has no seed of its own).
        as_frame : bool, optional
            Return a DataFrame of state labels (categorical columns) instead of
            codes; default: whether the network was last fitted on a DataFrame.

        Returns
        -------
        ndarray of shape (n, n_variables), dtype int32, or DataFrame
            Codes (or labels) in :attr:`variables` order.
        """
        n = check_int(n, "n", low=0)
        rng = method_rng(self, random_state)
        # the codes, plus per variable: configurations, gathered rows, their cumsum, a compare
        width = max(self._cards.values(), default=1)
        check_memory(n * (4 * len(self._variables) + 24 + 17 * width),
                     f"sample({n}) of {len(self._variables)} variables")
        out = np.zeros((n, len(self._variables)), dtype=np.int32)
        for v in self._topo:
            t = self.cpts[v]
            pa = self._parents[v]
            flat = t.reshape(-1, self._cards[v])
            if pa:
                cfg = np.ravel_multi_index(tuple(out[:, self._index[p]] for p in pa),
                                           t.shape[:-1])
            else:
                cfg = np.zeros(n, dtype=np.intp)
            out[:, self._index[v]] = draw_categorical(rng, flat[cfg]) if n else 0
        if as_frame is None:
            as_frame = getattr(self, "_fitted_from_frame", False)
        if as_frame:
            import pandas as pd
            return pd.DataFrame({v: pd.Categorical.from_codes(out[:, j], categories=self._states[v])
                                 for j, v in enumerate(self._variables)})
        return out

    @classmethod
    def from_spec(cls, spec) -> "BayesianNetwork":
        """Build a network from a plain specification (:class:`emfast.io.BifNetwork`:
        what :func:`emfast.io.read_bif_spec` / :func:`emfast.io.load_spec` return);
        every CPT is validated as by ``cpts[name] = table``."""
        bn = cls(spec.edges, spec.cardinalities, states=spec.states)
        for v, t in spec.tables.items():
            bn.cpts[v] = t
        if spec.name is not None:
            bn.name = spec.name
        return bn

    def write_bif(self, path):
        """Write the network in BIF format (see :func:`emfast.io.write_bif`)."""
        from .io import write_bif
        write_bif(self, path)

    def save(self, path):
        """Save structure, states and CPTs as JSON (exact round trip; see ``emfast.load``)."""
        from .io import save
        save(self, path)

    def copy(self) -> "BayesianNetwork":
        """A deep copy (structure, states and CPTs; fitted attributes are not copied)."""
        new = BayesianNetwork(self._edges, self._cards, self._states)
        new._tree_cache = self._tree_cache      # same structure, same junction tree
        for v in self._variables:
            new.cpts._set_unchecked(v, self.cpts[v])
        return new

    def __repr__(self):
        return (f"BayesianNetwork(n_variables={len(self._variables)}, "
                f"n_edges={len(self._edges)})")


def read_bif(path) -> BayesianNetwork:
    """Read a Bayesian network from a BIF file (plain or gzip-compressed).

    Parameters
    ----------
    path : str, path-like or file object
        The file. Gzip is recognised by its magic bytes, whatever the suffix.

    Returns
    -------
    BayesianNetwork
        Variables in declaration order, each child's parents in the order of
        its probability header, ``cpts[v]`` of shape ``(*parent_cards, card)``
        and state names from the file.

    Raises
    ------
    ValueError
        On a syntax error, an undeclared variable, a missing parent
        configuration, a cycle, or a row that does not sum to 1 (to 1e-3;
        smaller rounding errors are renormalised away). See :mod:`emfast.io`.

    Examples
    --------
    >>> import emfast
    >>> bn = emfast.datasets.load_network("asia")
    >>> bn.parents("either")
    ('lung', 'tub')
    """
    from .io import read_bif_spec
    return BayesianNetwork.from_spec(read_bif_spec(path))


def load(path) -> BayesianNetwork:
    """Load a network saved by :func:`emfast.save` (plain or gzip JSON).

    Returns
    -------
    BayesianNetwork
        With the same variables, parent orders, state names and bit-identical CPTs.
    """
    from .io import load_spec
    return BayesianNetwork.from_spec(load_spec(path))


def _check_table_sizes(variables, parents, cards, states) -> None:
    """Refuse, before the CPTs and state labels are allocated, a family larger than the
    junction tree's clique limit (every family lies in some clique, so inference would
    refuse it later) and tables plus default labels ("0", "1", ...; about 80 bytes each)
    beyond the memory budget. Sizes are Python ints: no wrap-around."""
    from ._jtree import MAX_CLIQUE_SIZE

    sizes = [math.prod([cards[p] for p in parents[v]]) * cards[v] for v in variables]
    for v, n in zip(variables, sizes):
        if n > MAX_CLIQUE_SIZE:
            raise ValueError(
                f"the CPT of {v!r} ({len(parents[v])} parent(s)) has {n:,} entries, more than "
                f"the {MAX_CLIQUE_SIZE:,} configurations exact inference allows in a clique "
                "(each variable and its parents lie in one clique); use fewer parents or "
                "fewer states.")
    given = states if isinstance(states, Mapping) else {}
    n_labels = sum(cards[v] for v in variables if given.get(v) is None)
    check_memory(8 * sum(sizes) + 80 * n_labels,
                 f"the CPTs of the network ({sum(sizes):,} probabilities) and its "
                 f"{n_labels:,} default state labels")


def _topological_order(variables, parents, children) -> list:
    """Kahn's algorithm; a cycle is a ValueError that names it."""
    indeg = {v: len(parents[v]) for v in variables}
    ready = [v for v in variables if indeg[v] == 0]
    order = []
    k = 0
    while k < len(ready):
        v = ready[k]
        k += 1
        order.append(v)
        for c in children[v]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    if len(order) == len(variables):
        return order
    # find one cycle among the remaining nodes: follow parents until a repeat
    left = {v for v in variables if indeg[v] > 0}
    v = next(iter(left))
    path, pos = [], {}
    while v not in pos:
        pos[v] = len(path)
        path.append(v)
        v = next(p for p in parents[v] if p in left)
    cyc = path[pos[v]:][::-1]
    cyc.append(cyc[0])
    raise ValueError(f"edges contain a cycle: {' -> '.join(map(str, cyc))}; a Bayesian network "
                     "must be acyclic.")


def _check_pseudocount(pseudocount) -> float:
    if isinstance(pseudocount, (bool, np.bool_)) or not np.isscalar(pseudocount):
        raise TypeError(f"pseudocount must be a number; got {pseudocount!r}.")
    try:
        value = float(pseudocount)
    except (TypeError, ValueError):
        raise TypeError(f"pseudocount must be a number; got {pseudocount!r}.") from None
    if not (value >= 0 and np.isfinite(value)):
        raise ValueError(f"pseudocount must be a finite number >= 0; got {pseudocount!r}.")
    return value


def _bn_estep(bn, rows, weights, theta, n_threads, row_of):
    """The network's E-step over (distinct) rows with weights: (counts per CPT, ll)."""
    comp = bn._tree()
    counts, ll, status = comp.infer(rows, weights, theta, comp.targets(), n_threads,
                                    do_counts=True)
    raise_for_status(status, lambda k: (
        f"row {row_of(k)} of X has probability 0 under the current CPTs "
        "(its observed values are impossible); fix the CPTs or the data, or use "
        "init='random' / pseudocount > 0."))
    off = comp.tree.cpt_off
    return [counts[off[i]:off[i + 1]].reshape(bn._cpt_shape(v))
            for i, v in enumerate(bn._variables)], float(ll @ weights)


def _bn_prepare(variables, cards, states, columns, part, lengths):
    """One partition of a partitioned fit (run on a worker): validated codes, row
    compressed; the summary is its number of rows."""
    from .distributed import compressed_state

    codes = check_data(part, variables, cards, states=states, columns=columns)
    return compressed_state(codes), int(codes.shape[0])


def _bn_part_estep(static, state, theta):
    """One partition's E-step (``static`` = (the network, n_jobs))."""
    bn, n_jobs = static
    rows, weights, first = state
    return _bn_estep(bn, rows, weights, theta, check_n_jobs(n_jobs), lambda k: int(first[k]))


def _raise_status(status, inverse):
    raise_for_status(status, lambda k: (
        f"row {k if inverse is None else first_row(inverse, k)} of X has probability 0 under "
        "the network's CPTs (its observed values are impossible); its posterior is undefined."))


class _Compiled:
    """A junction tree plus the work-buffer sizes the kernels need."""

    def __init__(self, bn: BayesianNetwork):
        from ._jtree import compile_tree
        self.tree = compile_tree(bn._variables, bn._cards, bn._parents)
        idx = bn._index
        self.fams = [tuple(idx[p] for p in bn._parents[v]) + (idx[v],) for v in bn._variables]
        t = self.tree
        self.clq_off = np.zeros(t.n_cliques + 1, dtype=np.int64)
        np.cumsum(t.clq_size, out=self.clq_off[1:])
        self.phi_size = int(self.clq_off[-1])
        self.msg_size = int(t.sep_off[-1])
        self.nu_size = int(np.diff(t.sep_off).max(initial=1))
        self.max_len = int(np.diff(t.clq_ptr).max(initial=1))
        self._targets = {}

    def targets(self, query=()):
        from ._jtree import build_targets
        tg = self._targets.get(query)
        if tg is None:
            tg = build_targets(self.tree, self.fams, query)
            if len(self._targets) > 16:
                self._targets.clear()
            self._targets[query] = tg
        return tg

    def _work(self, tg, n_threads):
        t = self.tree
        map_size = int(tg.map_off[-1])
        max_t = int(np.diff(tg.t_ptr).max(initial=1)) + 1
        fbuf = np.empty((n_threads, self.phi_size + self.msg_size + self.nu_size), np.float64)
        ibuf = np.empty((n_threads, map_size + len(t.clq_vars) + 2 * t.n_cliques + self.max_len + 1),
                        np.int32)
        lbuf = np.empty((n_threads, 3 * t.n_cliques + max_t + len(tg.t_kind)), np.int64)
        return fbuf, ibuf, lbuf, map_size

    def _args(self, tg):
        t = self.tree
        return (t.clq_ptr, t.clq_vars, self.clq_off, t.order, t.parent, t.card, t.sep_off,
                tg.t_ptr, tg.t_kind, tg.t_ref, tg.nz_ptr, tg.nz_pos, tg.nz_stride, tg.vt_ptr,
                tg.vt_t, tg.vt_stride, tg.map_off, tg.up_tgt, tg.down_tgt)

    def flat(self, theta) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate([np.ravel(a) for a in theta]),
                                    dtype=np.float64)

    def infer(self, rows, weights, theta, tg, n_threads, *, do_counts=False, n_query=0):
        """Run the sum-product kernel; returns (counts, ll, status[, marginals])."""
        n = rows.shape[0]
        fbuf, ibuf, lbuf, map_size = self._work(tg, n_threads)
        n_params = int(self.tree.cpt_off[-1])
        # One slab per block of consecutive rows (the kernel takes &counts[b, 0] even when
        # it does not count). The block count depends on the data only, never on
        # n_threads, so the summed counts are bit-identical for any number of threads.
        n_blocks = len(plan_blocks(n, min_size=256,
                                   slab_nbytes=8 * n_params if do_counts else 0)) - 1
        counts = np.zeros((n_blocks, n_params if do_counts else 1), np.float64)
        q = np.zeros((n, max(n_query, 1)), np.float64) if n_query else np.zeros((n, 1))
        ll = np.empty(n, np.float64)
        status = np.zeros(n, np.int32)
        _kernels.bn_infer(rows, np.ascontiguousarray(weights, dtype=np.float64), self.flat(theta),
                          *self._args(tg), counts, q, ll, status, fbuf, ibuf, lbuf,
                          self.phi_size, self.msg_size, map_size, bool(do_counts),
                          bool(n_query), n_threads)
        c = counts.sum(axis=0)
        if n_query:
            return c, ll, status, q
        return c, ll, status

    def complete(self, rows, theta, tg, u, n_threads):
        """MAP completion (u is None) or posterior sample; returns (codes, score, status)."""
        n = rows.shape[0]
        fbuf, ibuf, lbuf, map_size = self._work(tg, n_threads)
        out = np.array(rows, dtype=np.int32, order="C", copy=True)
        score = np.empty(n, np.float64)
        status = np.zeros(n, np.int32)
        maxprod = u is None
        if maxprod:
            u = np.zeros((n, 1), np.float64)
        _kernels.bn_complete(rows, self.flat(theta), *self._args(tg),
                             np.ascontiguousarray(u, dtype=np.float64), out, score, status,
                             fbuf, ibuf, lbuf, self.phi_size, self.msg_size, map_size,
                             maxprod, n_threads)
        return out, score, status
