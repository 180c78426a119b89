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

from collections.abc import Mapping
import itertools
import math

import numpy as np

from . import _kernels
from ._base import check_n_jobs, check_random_state
from .data import _is_dataframe, check_data, compress_rows
from .em import dirichlet_log_prior, fit_with_restarts, normalize, run_em

__all__ = ["BayesianNetwork", "read_bif", "load"]

_ROW_ATOL = 1e-6


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


class BayesianNetwork:
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
        t = np.array(table, dtype=np.float64, order="C", copy=True)
        shape = self._cpt_shape(name)
        if t.shape != shape:
            pa = self._parents[name]
            raise ValueError(f"CPT for {name!r} must have shape {shape} (parents {pa!r}, then "
                             f"{name!r}); got {t.shape}.")
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            bad = np.argwhere(~(np.isfinite(t) & (t >= 0)))[0]
            raise ValueError(f"CPT for {name!r} has the invalid entry {float(t[tuple(bad)])!r} "
                             f"at index {tuple(int(i) for i in bad)}; probabilities must be "
                             "finite and >= 0.")
        sums = t.sum(axis=-1)
        bad = np.argwhere(np.abs(sums - 1.0) > _ROW_ATOL)
        if bad.size:
            idx = tuple(int(i) for i in bad[0])
            conf = ", ".join(f"{p}={self._states[p][k]}" for p, k in zip(self._parents[name], idx))
            where = f"parent configuration ({conf})" if conf else "its (only) row"
            raise ValueError(f"CPT for {name!r}: the row for {where} sums to "
                             f"{float(sums[idx])!r}, not 1.")
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
    def fit(self, data, *, columns=None, max_iter=100, tol=1e-6, n_init=1, init="random",
            pseudocount=0.0, random_state=None, n_jobs=None, verbose=False,
            missingness=None, fixed_missingness=None, _fixed=None):
        """Fit the CPTs by EM (maximum likelihood, or MAP with ``pseudocount > 0``).

        Parameters
        ----------
        data : array-like of shape (n_rows, n_columns) or pandas.DataFrame
            Integer codes with ``-1`` (or NaN) for missing values, one column
            per variable in :attr:`variables` order (or ``columns=``), or a
            DataFrame matched by column name. A variable without a column, or
            whose column is all missing, is hidden.
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
        _fixed : set of str, optional
            Private (used by the missingness mechanisms): variables whose CPTs
            are held at their current values in every restart and M-step.

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
        if missingness is not None or fixed_missingness is not None:
            if _fixed:
                raise ValueError("_fixed cannot be combined with missingness=.")
            from .missingness import fit_bayesnet
            return fit_bayesnet(self, data, missingness, fixed_missingness=fixed_missingness,
                                columns=columns, init=init, max_iter=max_iter, tol=tol,
                                n_init=n_init, pseudocount=pseudocount,
                                random_state=random_state, n_jobs=n_jobs, verbose=verbose)
        for attr in ("missingness_", "missingness_parents_", "mechanism_"):
            self.__dict__.pop(attr, None)
        if not (np.isscalar(pseudocount) and float(pseudocount) >= 0
                and np.isfinite(float(pseudocount))):
            raise ValueError(f"pseudocount must be a finite number >= 0; got {pseudocount!r}.")
        pseudocount = float(pseudocount)
        fixed = set() if _fixed is None else set(_fixed)
        for v in fixed:
            self._check_var(v)
        fixed_idx = [i for i, v in enumerate(self._variables) if v in fixed]
        codes = self._codes(data, columns)
        n_rows = codes.shape[0]
        if n_rows == 0:
            raise ValueError("X has no rows: there is nothing to fit.")
        rng = check_random_state(random_state)
        n_threads = check_n_jobs(n_jobs)
        comp = self._tree()
        cr = compress_rows(codes)
        weights = cr.counts.astype(np.float64)
        shapes = [self._cpt_shape(v) for v in self._variables]
        targets = comp.targets()
        start = self._theta()

        def estep(theta):
            counts, ll, status = comp.infer(cr.rows, weights, theta, targets, n_threads,
                                            do_counts=True)
            if status.any():
                k = int(np.flatnonzero(status)[0])
                row = int(np.flatnonzero(cr.inverse == k)[0])
                raise ValueError(
                    f"row {row} of X has probability 0 under the current CPTs (its observed "
                    "values are impossible); fix the CPTs or the data, or use "
                    "init='random' / pseudocount > 0.")
            return [counts[comp.tree.cpt_off[i]:comp.tree.cpt_off[i + 1]].reshape(sh)
                    for i, sh in enumerate(shapes)], float(ll @ weights)

        def mstep(counts):
            theta = normalize(counts, pseudocount)
            for i in fixed_idx:
                theta[i] = start[i]
            return theta

        log_prior = (lambda th: dirichlet_log_prior(th, pseudocount)) if pseudocount > 0 else None

        restart = itertools.count()   # restart 0 may use the current / uniform CPTs

        def fit_one(rng_k):
            which = next(restart)
            if init == "current" and which == 0:
                theta0 = [t.copy() for t in start]
            elif init == "uniform" and which == 0:
                theta0 = [np.full(sh, 1.0 / sh[-1]) for sh in shapes]
            else:
                theta0 = [rng_k.dirichlet(np.ones(sh[-1]), size=sh[:-1]) for sh in shapes]
            for i in fixed_idx:
                theta0[i] = start[i]
            return run_em(estep, mstep, theta0, max_iter=max_iter, tol=tol, verbose=verbose,
                          scale=n_rows, log_prior=log_prior, desc="BayesianNetwork EM")

        best = fit_with_restarts(fit_one, n_init, rng, estimator_name="BayesianNetwork",
                                 max_iter=max_iter)
        for v, t in zip(self._variables, best.theta):
            self.cpts._set_unchecked(v, t)
        self.history_ = list(best.history)
        self.n_iter_ = best.n_iter
        self.converged_ = best.converged
        self.log_likelihood_ = best.log_likelihood
        self.n_best_ = int(best.extra.get("n_best", 1))
        self.init_objectives_ = list(best.extra.get("objectives", [best.objective]))
        return self

    # ------------------------------------------------------------------ inference
    def score_samples(self, data, *, columns=None, n_jobs=None) -> np.ndarray:
        """Per-row log-likelihood ``log p(x_obs)`` (hidden/missing cells summed out).

        A row whose observed values have probability 0 gets ``-inf``.
        """
        codes = self._codes(data, columns)
        comp = self._tree()
        cr = compress_rows(codes)
        _, ll, _ = comp.infer(cr.rows, np.ones(len(cr.rows)), self._theta(), comp.targets(),
                              check_n_jobs(n_jobs))
        return ll[cr.inverse]

    def log_likelihood(self, data, *, columns=None, n_jobs=None, missingness=None):
        """Total log-likelihood of the data (``-inf`` if some row has probability 0).

        With ``missingness=`` (the mechanism the network was fitted with), return a
        :class:`~emfast.missingness.LogLikelihoodParts` with ``.total`` =
        log p(x_obs, m), ``.theta`` = log p(x_obs) and ``.delta`` = the difference
        (Σ log p(m | x_obs, δ) under MCAR/MAR), using the fitted ``missingness_``.
        """
        if missingness is not None:
            from .missingness import bayesnet_log_likelihood
            return bayesnet_log_likelihood(self, data, missingness, columns=columns, n_jobs=n_jobs)
        codes = self._codes(data, columns)
        comp = self._tree()
        cr = compress_rows(codes)
        _, ll, _ = comp.infer(cr.rows, np.ones(len(cr.rows)), self._theta(), comp.targets(),
                              check_n_jobs(n_jobs))
        return float(ll @ cr.counts.astype(np.float64))

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
            ``{name: ndarray of shape (n_rows, card)}``. An observed cell gives
            a one-hot row.

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
        codes = self._codes(data, columns)
        comp = self._tree()
        cr = compress_rows(codes)
        qidx = [self._index[v] for v in variables]
        targets = comp.targets(tuple(qidx))
        _, ll, status, q = comp.infer(cr.rows, np.ones(len(cr.rows)), self._theta(), targets,
                                      check_n_jobs(n_jobs), n_query=sum(self._cards[v]
                                                                        for v in variables))
        _raise_status(status, cr.inverse)
        out, off = {}, 0
        for v in variables:
            k = self._cards[v]
            out[v] = q[cr.inverse, off:off + k]
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
            For ``method="sample"``.

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
            rng = check_random_state(random_state)
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
                else:
                    labels = np.asarray(self._states[c], dtype=object)
                    cols[c] = labels[full[:, j]]
            return pd.DataFrame(cols, index=data.index, columns=data.columns)
        if columns is not None:
            return np.ascontiguousarray(full[:, [self._index[c] for c in columns]])
        return full

    def sample(self, n, random_state=None) -> np.ndarray:
        """Draw ``n`` complete rows by ancestral sampling.

        Returns
        -------
        ndarray of shape (n, n_variables), dtype int32
            Codes in :attr:`variables` order.
        """
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative int; got {n!r}.")
        rng = check_random_state(random_state)
        out = np.zeros((int(n), len(self._variables)), dtype=np.int32)
        for v in self._topo:
            j = self._index[v]
            t = self.cpts[v]
            k = self._cards[v]
            pa = self._parents[v]
            flat = t.reshape(-1, k)
            if pa:
                cfg = np.ravel_multi_index(tuple(out[:, self._index[p]] for p in pa),
                                           t.shape[:-1])
            else:
                cfg = np.zeros(int(n), dtype=np.intp)
            cum = np.cumsum(flat, axis=1)
            cum[:, -1] = np.inf
            u = rng.random(int(n))
            out[:, j] = (u[:, None] >= cum[cfg]).sum(axis=1)
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
    from ._config import check_memory
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


def _raise_status(status, inverse):
    bad = np.flatnonzero(status)
    if bad.size:
        k = int(bad[0])
        row = k if inverse is None else int(np.flatnonzero(inverse == k)[0])
        raise ValueError(f"row {row} of X has probability 0 under the network's CPTs (its "
                         "observed values are impossible); its posterior is undefined.")


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
        n_blocks = max(1, min(64, -(-n // 256)))
        while do_counts and n_blocks > 8 and n_blocks * n_params > (1 << 23):
            n_blocks //= 2            # at most 64 MiB of slabs (8 blocks at least)
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
