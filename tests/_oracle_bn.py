"""Brute-force oracle for Bayesian networks: enumerate every joint configuration.

Only for tiny networks (the joint table has prod(cards) entries).
"""
from __future__ import annotations

import numpy as np

import emfast as em


def random_network(rng, n_vars=None, max_parents=3, p_edge=0.45, max_card=4):
    """A random DAG with random cardinalities (2..max_card) and Dirichlet(1) CPTs."""
    if n_vars is None:
        n_vars = int(rng.integers(2, 9))
    names = [f"V{i}" for i in rng.permutation(n_vars)]   # column order != topological order
    topo = list(rng.permutation(names))
    cards = {v: int(rng.integers(2, max_card + 1)) for v in names}
    edges = []
    for j, c in enumerate(topo):
        cands = [p for p in topo[:j] if rng.random() < p_edge]
        rng.shuffle(cands)
        edges += [(p, c) for p in cands[:max_parents]]
    order = rng.permutation(len(edges))
    edges = [edges[k] for k in order]
    bn = em.BayesianNetwork(edges, cards)
    for v in names:
        sh = bn.cpts[v].shape
        bn.cpts[v] = rng.dirichlet(np.ones(sh[-1]), size=sh[:-1])
    return bn


def joint(bn) -> np.ndarray:
    """The full joint table, axes in ``bn.variables`` order."""
    vs = bn.variables
    cards = [bn.cardinalities[v] for v in vs]
    p = np.ones(cards)
    for v in vs:
        axes = [vs.index(u) for u in bn.parents(v)] + [vs.index(v)]
        shape = [1] * len(vs)
        t = bn.cpts[v]
        # move CPT axes into the joint's axis order
        perm = np.argsort(axes)
        t = np.transpose(t, perm)
        for a in axes:
            shape[a] = cards[a]
        p = p * t.reshape(shape)
    return p


def _consistent(P, row):
    idx = tuple(slice(None) if x < 0 else int(x) for x in row)
    mask = np.zeros(P.shape, dtype=bool)
    mask[idx] = True
    return mask


def row_loglik(bn, P, row) -> float:
    return float(np.log(P[_consistent(P, row)].sum()))


def posterior(bn, P, row) -> np.ndarray:
    """p(x | x_obs) as a full joint table (zero off the evidence)."""
    mask = _consistent(P, row)
    q = np.where(mask, P, 0.0)
    return q / q.sum()


def marginals(bn, P, row) -> dict:
    q = posterior(bn, P, row)
    vs = bn.variables
    return {v: q.sum(axis=tuple(a for a in range(len(vs)) if a != i)) for i, v in enumerate(vs)}


def expected_counts(bn, P, rows) -> list:
    """Σ_rows p(family configuration | x_obs), in CPT layout, variables order."""
    vs = bn.variables
    out = [np.zeros(bn.cpts[v].shape) for v in vs]
    for row in rows:
        q = posterior(bn, P, row)
        for k, v in enumerate(vs):
            axes = [vs.index(u) for u in bn.parents(v)] + [vs.index(v)]
            keep = sorted(axes)
            m = q.sum(axis=tuple(a for a in range(len(vs)) if a not in axes))
            # m has axes in sorted order; reorder to CPT order
            out[k] += np.transpose(m, [keep.index(a) for a in axes])
    return out


def map_completion(bn, P, row):
    """(completed row, log p(x_obs, x_mis*)) by exhaustive search."""
    mask = _consistent(P, row)
    q = np.where(mask, P, -1.0)
    flat = int(np.argmax(q))
    best = np.array(np.unravel_index(flat, P.shape), dtype=np.int32)
    return best, float(np.log(P.flat[flat]))


def random_data(bn, rng, n, p_missing=0.3, n_hidden=None):
    """Rows sampled from ``bn`` with random hidden variables and missing cells."""
    X = bn.sample(n, random_state=rng)
    nv = X.shape[1]
    if n_hidden is None:
        n_hidden = int(rng.integers(0, max(1, nv // 2) + 1))
    hidden = rng.choice(nv, size=min(n_hidden, nv - 1), replace=False)
    X[rng.random(X.shape) < p_missing] = -1
    X[:, hidden] = -1
    return X, hidden
