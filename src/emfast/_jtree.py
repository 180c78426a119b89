"""Compile a Bayesian network structure into a junction tree of flat index arrays.

Steps (done once per structure and cached by :class:`~emfast.BayesianNetwork`):

1. moralise: connect every variable to its parents and the parents to each other;
2. triangulate by greedy elimination: the next variable eliminated is the one
   adding the fewest fill-in edges (min-fill), ties broken by the smallest
   clique table (min-weight), then by variable index;
3. keep the maximal elimination cliques and join them into a tree with a
   maximum-weight spanning tree on separator sizes (Kruskal; this gives the
   running-intersection property for the cliques of a chordal graph); a
   network with several connected components gets empty separators;
4. root the tree at clique 0 and order cliques breadth first;
5. assign each family ``{v} ∪ pa(v)`` to the smallest clique containing it;
6. flatten into arrays of *targets*.

A *target* is a table indexed by a subset of one clique's variables: a family
CPT, the separator to the clique's parent (owned by the child clique: "up"),
the same separator seen from the parent ("down"), or a query variable. For
every variable ``j`` of its owner clique the target stores a stride (0 if the
variable is not in the table), so that the table entry of a clique
configuration is ``Σ_j stride_j · value_j``. Per row the kernel adds the
observed variables' part once (the "evidence offset") and runs an odometer over
the *missing* variables only, so a clique costs the product of its missing
cardinalities, not its full table.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

KIND_FAMILY, KIND_UP, KIND_DOWN, KIND_QUERY = 0, 1, 2, 3

# Refuse trees whose clique tables would not fit comfortably in memory.
MAX_CLIQUE_SIZE = 1 << 26


@dataclass
class JunctionTree:
    """The compiled structure (all arrays C-contiguous, read by the kernels)."""

    n_vars: int
    card: np.ndarray          # (n_vars,) int32
    cliques: list             # list of tuples of variable indices (sorted)
    clq_ptr: np.ndarray       # (n_cl + 1,) int32: clique c has clq_vars[clq_ptr[c]:clq_ptr[c+1]]
    clq_vars: np.ndarray      # int32
    clq_size: np.ndarray      # (n_cl,) int64 full table size
    order: np.ndarray         # (n_cl,) int32 breadth-first order, order[0] = root
    parent: np.ndarray        # (n_cl,) int32, -1 for the root
    sep_vars: list            # sep_vars[c]: tuple of variables shared with the parent
    sep_off: np.ndarray       # (n_cl + 1,) int64 offsets of separator tables (by child clique)
    fam_clique: np.ndarray    # (n_vars,) int32 clique holding the family of v
    cpt_off: np.ndarray       # (n_vars + 1,) int64 offsets of CPTs in the flat parameter vector
    var_clique: np.ndarray    # (n_vars,) int32 smallest clique containing v

    @property
    def n_cliques(self) -> int:
        return len(self.cliques)

    def total_size(self) -> int:
        return int(self.clq_size.sum())


@dataclass
class Targets:
    """Flat target arrays for one kernel call (families + separators [+ queries])."""

    t_ptr: np.ndarray      # (n_cl + 1,) int32: targets owned by clique c
    t_kind: np.ndarray     # (n_t,) int32
    t_ref: np.ndarray      # (n_t,) int64: cpt offset (family), child clique (up/down), out offset (query)
    t_stride: np.ndarray   # int64, aligned with the owner's clique variables: t_sptr[t] + j
    t_sptr: np.ndarray     # (n_t,) int64
    map_off: np.ndarray    # (n_t + 1,) int64 offsets into the per-thread map buffer
    up_tgt: np.ndarray     # (n_cl,) int32 target id of the up separator of c (-1: root or empty)
    down_tgt: np.ndarray   # (n_cl,) int32 target id of c's separator in its parent (-1 root)
    # sparse forms of t_stride used by the kernels:
    nz_ptr: np.ndarray     # (n_t + 1,) int64: target t's non-zero strides
    nz_pos: np.ndarray     # int32 position of the variable in the owner clique
    nz_stride: np.ndarray  # int64
    vt_ptr: np.ndarray     # (len(clq_vars) + 1,) int64: targets that clique variable g indexes
    vt_t: np.ndarray       # int32 target index relative to the clique's first target
    vt_stride: np.ndarray  # int64


def _triangulate(n, adj, card):
    """Greedy min-fill / min-weight elimination; returns the elimination cliques."""
    adj = [set(a) for a in adj]
    alive = set(range(n))
    cliques = []
    logc = np.log(np.asarray(card, dtype=float))
    while alive:
        best = None
        for v in alive:
            nb = adj[v]
            nbl = list(nb)
            fill = 0
            for i in range(len(nbl)):
                ai = adj[nbl[i]]
                for j in range(i + 1, len(nbl)):
                    if nbl[j] not in ai:
                        fill += 1
            w = logc[v] + sum(logc[u] for u in nb)
            key = (fill, w, v)
            if best is None or key < best:
                best = key
        v = best[2]
        nb = adj[v]
        cliques.append(frozenset(nb | {v}))
        for a in nb:
            adj[a] |= nb - {a}
            adj[a].discard(v)
        alive.discard(v)
        adj[v] = set()
    # keep maximal cliques, in elimination order
    maximal = []
    for c in cliques:
        if not any(c <= m for m in maximal):
            maximal = [m for m in maximal if not m < c]
            maximal.append(c)
    return maximal


def compile_tree(variables, cards, parents) -> JunctionTree:
    """Build the junction tree of a network.

    Parameters
    ----------
    variables : list of str
    cards : dict name -> int
    parents : dict name -> tuple of parent names (CPT axis order)
    """
    n = len(variables)
    idx = {v: i for i, v in enumerate(variables)}
    card = np.array([cards[v] for v in variables], dtype=np.int32)
    fams = [tuple(idx[p] for p in parents[v]) + (i,) for i, v in enumerate(variables)]
    adj = [set() for _ in range(n)]
    for f in fams:
        for a in f:
            for b in f:
                if a != b:
                    adj[a].add(b)
    cl_sets = _triangulate(n, adj, card)
    cliques = [tuple(sorted(c)) for c in cl_sets]
    n_cl = len(cliques)
    # clique sizes as exact Python ints, refused above the limit before any int64 cast: a
    # clique of 64 binary variables has 2**64 configurations, which int64 wraps to 0
    exact = [math.prod(int(card[v]) for v in c) for c in cliques]
    if max(exact, default=1) > MAX_CLIQUE_SIZE:
        k = max(range(n_cl), key=exact.__getitem__)
        names = [variables[v] for v in cliques[k]]
        raise ValueError(f"the junction tree has a clique of {exact[k]} configurations "
                         f"(variables {names}); exact inference is too expensive for this "
                         f"network (limit {MAX_CLIQUE_SIZE}).")
    sizes = np.array(exact, dtype=np.int64)
    # Kruskal on separator sizes (then smaller separator tables first)
    pairs = []
    for a in range(n_cl):
        sa = cl_sets[a]
        for b in range(a + 1, n_cl):
            inter = sa & cl_sets[b]
            w = math.prod(int(card[v]) for v in inter)
            pairs.append((-len(inter), w, a, b))
    pairs.sort()
    uf = list(range(n_cl))

    def find(x):
        while uf[x] != x:
            uf[x] = uf[uf[x]]
            x = uf[x]
        return x

    nbrs = [[] for _ in range(n_cl)]
    for _, _, a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            uf[ra] = rb
            nbrs[a].append(b)
            nbrs[b].append(a)
    # root at 0, breadth-first order
    parent = np.full(n_cl, -1, dtype=np.int32)
    order = [0]
    seen = {0}
    k = 0
    while k < len(order):
        c = order[k]
        k += 1
        for d in nbrs[c]:
            if d not in seen:
                seen.add(d)
                parent[d] = c
                order.append(d)
    assert len(order) == n_cl
    sep_vars = []
    sep_sizes = np.zeros(n_cl, dtype=np.int64)
    for c in range(n_cl):
        if parent[c] < 0:
            sv = ()
        else:
            sv = tuple(sorted(cl_sets[c] & cl_sets[parent[c]]))
        sep_vars.append(sv)
        sep_sizes[c] = math.prod(int(card[v]) for v in sv)
    sep_off = np.zeros(n_cl + 1, dtype=np.int64)
    np.cumsum(sep_sizes, out=sep_off[1:])
    fam_clique = np.zeros(n, dtype=np.int32)
    var_clique = np.zeros(n, dtype=np.int32)
    for v in range(n):
        fs = set(fams[v])
        cands = [c for c in range(n_cl) if fs <= cl_sets[c]]
        fam_clique[v] = min(cands, key=lambda c: (sizes[c], c))
        cands = [c for c in range(n_cl) if v in cl_sets[c]]
        var_clique[v] = min(cands, key=lambda c: (sizes[c], c))
    cpt_sizes = np.array([math.prod(int(card[u]) for u in f) for f in fams],
                         dtype=np.int64)
    cpt_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cpt_sizes, out=cpt_off[1:])
    clq_ptr = np.zeros(n_cl + 1, dtype=np.int32)
    np.cumsum([len(c) for c in cliques], out=clq_ptr[1:])
    clq_vars = np.array([v for c in cliques for v in c], dtype=np.int32)
    return JunctionTree(n, card, cliques, clq_ptr, clq_vars, sizes, np.array(order, np.int32),
                        parent, sep_vars, sep_off, fam_clique, cpt_off, var_clique)


def _strides(table_vars, card):
    """C-order strides of a table over ``table_vars``: {var: stride}."""
    out = {}
    s = 1
    for v in reversed(table_vars):
        out[v] = s
        s *= int(card[v])
    return out


def build_targets(tree: JunctionTree, fams, query=()) -> Targets:
    """Targets for a kernel call.

    Parameters
    ----------
    tree : JunctionTree
    fams : list of tuples
        ``fams[v]`` = (parent indices..., v): CPT axis order of variable v.
    query : sequence of int
        Variables whose posterior marginals are wanted; their output columns
        are laid out consecutively in this order.
    """
    n_cl = tree.n_cliques
    card = tree.card
    per_clique = [[] for _ in range(n_cl)]   # (kind, ref, {var: stride})
    for v in range(tree.n_vars):
        per_clique[tree.fam_clique[v]].append((KIND_FAMILY, int(tree.cpt_off[v]),
                                               _strides(fams[v], card)))
    for c in range(n_cl):
        p = int(tree.parent[c])
        if p < 0 or not tree.sep_vars[c]:
            continue        # root, or an empty separator (another component): no message
        st = _strides(tree.sep_vars[c], card)
        per_clique[c].append((KIND_UP, c, st))
        per_clique[p].append((KIND_DOWN, c, st))
    q_off = 0
    for v in query:
        per_clique[tree.var_clique[v]].append((KIND_QUERY, q_off, {v: 1}))
        q_off += int(card[v])
    t_ptr = np.zeros(n_cl + 1, dtype=np.int32)
    kinds, refs, sptr, strides, moff = [], [], [], [], [0]
    up_tgt = np.full(n_cl, -1, dtype=np.int32)
    down_tgt = np.full(n_cl, -1, dtype=np.int32)
    t = 0
    for c in range(n_cl):
        cv = tree.cliques[c]
        for kind, ref, st in per_clique[c]:
            kinds.append(kind)
            refs.append(ref)
            sptr.append(len(strides))
            strides.extend(int(st.get(v, 0)) for v in cv)
            moff.append(moff[-1] + int(tree.clq_size[c]))
            if kind == KIND_UP:
                up_tgt[ref] = t
            elif kind == KIND_DOWN:
                down_tgt[ref] = t
            t += 1
        t_ptr[c + 1] = t
    strides_a = np.array(strides, np.int64)
    sptr_a = np.array(sptr, np.int64)
    nz_ptr, nz_pos, nz_stride = [0], [], []
    vt = [[] for _ in range(len(tree.clq_vars))]
    for c in range(n_cl):
        a = int(tree.clq_ptr[c])
        L = len(tree.cliques[c])
        for t in range(int(t_ptr[c]), int(t_ptr[c + 1])):
            for j in range(L):
                st = int(strides_a[sptr_a[t] + j])
                if st:
                    nz_pos.append(j)
                    nz_stride.append(st)
                    vt[a + j].append((t - int(t_ptr[c]), st))
            nz_ptr.append(len(nz_pos))
    vt_ptr = np.zeros(len(vt) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in vt], out=vt_ptr[1:])
    vt_t = np.array([t for e in vt for t, _ in e] or [0], np.int32)
    vt_stride = np.array([st for e in vt for _, st in e] or [0], np.int64)
    return Targets(t_ptr, np.array(kinds, np.int32), np.array(refs, np.int64),
                   strides_a, sptr_a, np.array(moff, np.int64), up_tgt, down_tgt,
                   np.array(nz_ptr, np.int64), np.array(nz_pos or [0], np.int32),
                   np.array(nz_stride or [0], np.int64), vt_ptr, vt_t, vt_stride)
