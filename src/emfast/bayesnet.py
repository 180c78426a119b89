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
from typing import Iterable, Sequence

import numpy as np

from . import _kernels
from ._base import check_is_fitted, check_n_jobs, check_random_state
from .data import MISSING, _is_dataframe, check_data, compress_rows
from .em import dirichlet_log_prior, fit_with_restarts, normalize, run_em

__all__ = ["BayesianNetwork"]

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
        Log-likelihood of the fitted CPTs on the training data.

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

    def copy(self) -> "BayesianNetwork":
        """A deep copy (structure, states and CPTs; fitted attributes are not copied)."""
        new = BayesianNetwork(self._edges, self._cards, self._states)
        for v in self._variables:
            new.cpts._set_unchecked(v, self.cpts[v])
        return new

    def __repr__(self):
        return (f"BayesianNetwork(n_variables={len(self._variables)}, "
                f"n_edges={len(self._edges)})")


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
