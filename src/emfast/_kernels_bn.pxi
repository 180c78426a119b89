# Kernels for the bn models (included by _kernels.pyx). See that file for conventions.
#
# Exact inference per (distinct) row on a junction tree compiled by
# emfast._jtree into flat arrays. Every table a clique touches (family CPTs,
# separators, query marginals) is a *target*: for every variable of the owner
# clique it has a stride, 0 when the variable is not in the table. Per row we
#
#   1. find the missing variables of each clique; the clique's *reduced* table
#      runs over the missing configurations only (size = product of missing
#      cardinalities); for each target an odometer writes the target index of
#      every reduced entry into a map (observed variables add a fixed offset);
#   2. collect (leaves to root): clique potential = product of its family CPT
#      entries and of its children's messages, scaled to sum 1 (the log of the
#      scale adds to the row log-likelihood), then summed (max for max-product)
#      into the separator message;
#   3. distribute (root to leaves, sum-product only): beta_c = phi_c * nu / mu
#      with nu the parent's posterior on the separator, mu the message sent up;
#   4. accumulate: family expected counts (times the row weight) or query
#      marginals; or trace back a MAP completion / a posterior sample.
#
# A separator whose variables are all observed in the row carries the constant
# message 1 (after scaling): no message is sent, multiplied or distributed.
#
# Status per row: 0 ok, 1 the evidence has probability 0. A clique whose normaliser
# is tiny (its factors underflowed) is recomputed in log space, so every probability
# down to the smallest subnormal is handled exactly.

from libc.math cimport log, exp, INFINITY

cdef enum:
    _BN_FAMILY = 0
    _BN_UP = 1
    _BN_DOWN = 2
    _BN_QUERY = 3


cdef struct BNTree:
    Py_ssize_t n_cl
    Py_ssize_t max_t           # most targets owned by one clique
    const int32_t* clq_ptr     # (n_cl + 1,)
    const int32_t* clq_vars
    const int64_t* clq_off     # (n_cl + 1,) full-table offsets (sizes only; rows use W.poff)
    const int32_t* order       # (n_cl,) breadth first, order[0] = root
    const int32_t* parent      # (n_cl,)
    const int32_t* card        # (n_vars,)
    const int64_t* sep_off     # (n_cl + 1,) separator tables by child clique
    const int32_t* t_ptr       # (n_cl + 1,) targets owned by clique c
    const int32_t* t_kind
    const int64_t* t_ref
    const int64_t* nz_ptr      # (n_t + 1,) non-zero strides of target t ...
    const int32_t* nz_pos      # ... at these positions of the owner clique
    const int64_t* nz_stride
    const int64_t* vt_ptr      # (len clq_vars + 1,) targets indexed by clique variable g ...
    const int32_t* vt_t        # ... (relative target number within the clique)
    const int64_t* vt_stride
    const int64_t* map_off     # (n_t + 1,) full-size map offsets (sizes only; rows use W.moff)
    const int32_t* up_tgt
    const int32_t* down_tgt


cdef struct BNWork:
    double* phi        # sum of clique sizes
    double* msg        # sum of separator sizes
    double* nu         # max separator size
    int32_t* maps      # map_off[n_targets] entries (an upper bound of what a row packs)
    int64_t* msize     # (n_cl,) reduced size of each clique for this row
    int64_t* cur       # (max targets per clique,)
    int64_t* moff      # (n_targets,) where target t's map starts for this row (packed)
    int64_t* poff      # (n_cl,) where clique c's table starts in phi for this row (packed)
    int64_t* chosen    # (n_cl,) traceback choice
    int32_t* mpos      # (len clq_vars,) positions of missing variables in each clique
    int32_t* mcnt      # (n_cl,)
    int32_t* sepobs    # (n_cl,) 1 when every variable of c's up separator is observed
    int32_t* digit     # (max clique length,)


cdef void _bn_maps(const BNTree* T, const int32_t* x, BNWork* W) noexcept nogil:
    """Step 1: reduced sizes and target maps of every clique for row x."""
    cdef Py_ssize_t c, j, i, a, b, k, t, t0, t1, g, e, nt
    cdef int64_t m, r, base, pos_phi = 0, pos_map = 0
    cdef int32_t v, cv, xv
    cdef int32_t* mp
    for c in range(T.n_cl):
        a = T.clq_ptr[c]
        b = T.clq_ptr[c + 1]
        k = 0
        m = 1
        for j in range(a, b):
            v = T.clq_vars[j]
            if x[v] < 0:
                W.mpos[a + k] = <int32_t>(j - a)
                k += 1
                m *= T.card[v]
        W.mcnt[c] = <int32_t>k
        W.msize[c] = m
        W.poff[c] = pos_phi
        pos_phi += m
        for t in range(T.t_ptr[c], T.t_ptr[c + 1]):
            W.moff[t] = pos_map
            pos_map += m
        W.sepobs[c] = 1
        if T.up_tgt[c] >= 0:
            t = T.up_tgt[c]
            for e in range(T.nz_ptr[t], T.nz_ptr[t + 1]):
                if x[T.clq_vars[a + T.nz_pos[e]]] < 0:
                    W.sepobs[c] = 0
                    break
        t0 = T.t_ptr[c]
        t1 = T.t_ptr[c + 1]
        nt = t1 - t0
        for t in range(t0, t1):
            base = 0
            for e in range(T.nz_ptr[t], T.nz_ptr[t + 1]):
                xv = x[T.clq_vars[a + T.nz_pos[e]]]
                if xv >= 0:
                    base = base + T.nz_stride[e] * xv
            if m == 1:
                W.maps[W.moff[t]] = <int32_t>base
            else:
                W.cur[t - t0] = base
        if m == 1:
            continue
        for i in range(k):
            W.digit[i] = 0
        for r in range(m):
            for t in range(nt):
                W.maps[W.moff[t0 + t] + r] = <int32_t>W.cur[t]
            i = k - 1
            while i >= 0:
                g = a + W.mpos[a + i]
                cv = T.card[T.clq_vars[g]]
                W.digit[i] += 1
                if W.digit[i] < cv:
                    for e in range(T.vt_ptr[g], T.vt_ptr[g + 1]):
                        W.cur[T.vt_t[e]] += T.vt_stride[e]
                    break
                W.digit[i] = 0
                for e in range(T.vt_ptr[g], T.vt_ptr[g + 1]):
                    W.cur[T.vt_t[e]] -= (cv - 1) * T.vt_stride[e]
                i -= 1


# A clique whose normaliser is below this may have lost entries to underflow (its
# factors multiplied into the subnormal range, or to 0): it is recomputed in log space.
# Above it, 1/z <= 2**969 cannot overflow, and an entry that underflowed is below
# 2**-53 of z, so z and every posterior entry not already below round-off are exact.
DEF _BN_SAFE_Z = 2.0041683600089728e-292    # 2**-969

cdef extern from *:
    """
    #if defined(__GNUC__)
    #define emfast_likely(x) __builtin_expect(!!(x), 1)
    #else
    #define emfast_likely(x) (x)
    #endif
    """
    bint emfast_likely(bint) nogil


cdef int _bn_clique_log(const BNTree* T, const double* theta, BNWork* W, Py_ssize_t c,
                        double* lz) noexcept nogil:
    """Clique c's potential in log space (rare path): the product of its family CPT
    entries and incoming messages as a sum of logs, shifted by its maximum,
    exponentiated and normalised. Every factor >= the smallest subnormal keeps its
    exact log. Writes log(normaliser) to lz; returns 1 when every entry is 0."""
    cdef Py_ssize_t t, r, m = W.msize[c]
    cdef double* p = W.phi + W.poff[c]
    cdef const double* th
    cdef const double* ms
    cdef const int32_t* mp
    cdef double mx = -INFINITY, z = 0.0, inv
    cdef int kind
    for r in range(m):
        p[r] = 0.0
    for t in range(T.t_ptr[c], T.t_ptr[c + 1]):
        kind = T.t_kind[t]
        mp = W.maps + W.moff[t]
        if kind == _BN_FAMILY:
            th = theta + T.t_ref[t]
            for r in range(m):
                p[r] += log(th[mp[r]])
        elif kind == _BN_DOWN and not W.sepobs[T.t_ref[t]]:
            ms = W.msg + T.sep_off[T.t_ref[t]]
            for r in range(m):
                p[r] += log(ms[mp[r]])
    for r in range(m):
        if p[r] > mx:
            mx = p[r]
    if not (mx > -INFINITY):
        return 1
    for r in range(m):
        p[r] = exp(p[r] - mx)
        z += p[r]
    inv = 1.0 / z             # z in [1, m]
    for r in range(m):
        p[r] *= inv
    lz[0] = mx + log(z)
    return 0


cdef int _bn_collect(const BNTree* T, const double* theta, BNWork* W, bint maxprod,
                     double* ll) noexcept nogil:
    """Step 2: collect to the root. Returns 0, or 1 when the evidence has probability 0."""
    cdef Py_ssize_t oi, c, t, r, m
    cdef double* p
    cdef double* ms
    cdef const double* th
    cdef const int32_t* mp
    cdef double z, inv, lz, zprod = 1.0
    cdef int kind
    ll[0] = 0.0
    for oi in range(T.n_cl - 1, -1, -1):
        c = T.order[oi]
        m = W.msize[c]
        p = W.phi + W.poff[c]
        for r in range(m):
            p[r] = 1.0
        for t in range(T.t_ptr[c], T.t_ptr[c + 1]):
            kind = T.t_kind[t]
            mp = W.maps + W.moff[t]
            if kind == _BN_FAMILY:
                th = theta + T.t_ref[t]
                for r in range(m):
                    p[r] *= th[mp[r]]
            elif kind == _BN_DOWN and not W.sepobs[T.t_ref[t]]:
                # (a child whose separator is observed sends the constant message 1)
                ms = W.msg + T.sep_off[T.t_ref[t]]
                for r in range(m):
                    p[r] *= ms[mp[r]]
        z = 0.0
        for r in range(m):
            z += p[r]
        # z <= m (entries are products of numbers <= 1). The running product of
        # normalisers stays normal: a z below 1e-20 goes to ll directly, and zprod is
        # flushed to ll once it leaves [1e-250, 1e250] (checked once per clique).
        if emfast_likely(z > 1e-20):
            zprod *= z
            inv = 1.0 / z
            for r in range(m):
                p[r] *= inv
        elif z >= _BN_SAFE_Z:
            ll[0] += log(z)
            inv = 1.0 / z
            for r in range(m):
                p[r] *= inv
        elif z != z:
            return 1
        else:
            # tiny or 0 (a subnormal z would overflow 1/z): redo the clique in log space
            if _bn_clique_log(T, theta, W, c, &lz) != 0:
                return 1
            ll[0] += lz
        if T.parent[c] >= 0 and W.sepobs[c]:
            if maxprod:
                # the max-message is max(p) on the one observed separator entry
                z = 0.0
                for r in range(m):
                    if p[r] > z:
                        z = p[r]
                zprod *= z        # in [1/m, 1], m <= 2**26
        elif T.parent[c] >= 0:
            mp = W.maps + W.moff[T.up_tgt[c]]
            ms = W.msg + T.sep_off[c]
            for r in range(m):
                ms[mp[r]] = 0.0
            if maxprod:
                for r in range(m):
                    if p[r] > ms[mp[r]]:
                        ms[mp[r]] = p[r]
            else:
                for r in range(m):
                    ms[mp[r]] += p[r]
        if zprod < 1e-250 or zprod > 1e250:
            ll[0] += log(zprod)
            zprod = 1.0
    ll[0] += log(zprod)
    return 0


cdef void _bn_distribute(const BNTree* T, BNWork* W) noexcept nogil:
    """Step 3: every clique table becomes the posterior of its missing variables."""
    cdef Py_ssize_t oi, c, pc, r
    cdef double* pp
    cdef double* p
    cdef double* ms
    cdef const int32_t* mp
    cdef int32_t s
    for oi in range(1, T.n_cl):
        c = T.order[oi]
        if W.sepobs[c]:
            continue        # observed separator: nu = mu = 1, beta_c = phi_c
        pc = T.parent[c]
        mp = W.maps + W.moff[T.down_tgt[c]]
        pp = W.phi + W.poff[pc]
        for r in range(W.msize[pc]):
            W.nu[mp[r]] = 0.0
        for r in range(W.msize[pc]):
            W.nu[mp[r]] += pp[r]
        mp = W.maps + W.moff[T.up_tgt[c]]
        ms = W.msg + T.sep_off[c]
        p = W.phi + W.poff[c]
        for r in range(W.msize[c]):
            s = mp[r]
            if ms[s] > 0.0:
                # p[r] <= ms[s] (ms sums p over the separator entry): p/ms <= 1 cannot
                # overflow, where nu/ms would for a subnormal ms
                p[r] = (p[r] / ms[s]) * W.nu[s]
            else:
                p[r] = 0.0


cdef void _bn_decode(const BNTree* T, BNWork* W, Py_ssize_t c, int64_t r,
                     int32_t* out) noexcept nogil:
    """Write the missing variables of clique c in reduced configuration r into out."""
    cdef Py_ssize_t a = T.clq_ptr[c], i
    cdef int32_t v
    for i in range(W.mcnt[c] - 1, -1, -1):
        v = T.clq_vars[a + W.mpos[a + i]]
        out[v] = <int32_t>(r % T.card[v])
        r = r // T.card[v]


cdef void _bn_traceback(const BNTree* T, BNWork* W, bint maxprod, const double* u,
                        int32_t* out, double* pmax) noexcept nogil:
    """MAP traceback (maxprod) or forward-filtering backward-sampling (u: one uniform per clique)."""
    cdef Py_ssize_t oi, c, pc, r, m, best
    cdef double* p
    cdef const int32_t* mp
    cdef int32_t s
    cdef double tot, acc, target, bv
    for oi in range(T.n_cl):
        c = T.order[oi]
        pc = T.parent[c]
        p = W.phi + W.poff[c]
        m = W.msize[c]
        if pc >= 0 and not W.sepobs[c]:   # (observed separator: every entry agrees)
            s = (W.maps + W.moff[T.down_tgt[c]])[W.chosen[pc]]
            mp = W.maps + W.moff[T.up_tgt[c]]
        else:
            s = 0
            mp = NULL
        best = -1
        if maxprod:
            bv = -1.0
            for r in range(m):
                if (mp == NULL or mp[r] == s) and p[r] > bv:
                    bv = p[r]
                    best = r
            if pc < 0:
                pmax[0] = bv
        else:
            tot = 0.0
            for r in range(m):
                if mp == NULL or mp[r] == s:
                    tot += p[r]
            target = u[oi] * tot
            acc = 0.0
            for r in range(m):
                if mp == NULL or mp[r] == s:
                    if p[r] > 0.0:
                        best = r
                        acc += p[r]
                        if acc > target:
                            break
        if best < 0:
            best = 0
        W.chosen[c] = best
        _bn_decode(T, W, c, best, out)


cdef void _bn_setup(BNTree* T, const int32_t[::1] clq_ptr, const int32_t[::1] clq_vars,
                    const int64_t[::1] clq_off, const int32_t[::1] order,
                    const int32_t[::1] parent, const int32_t[::1] card,
                    const int64_t[::1] sep_off, const int32_t[::1] t_ptr,
                    const int32_t[::1] t_kind, const int64_t[::1] t_ref,
                    const int64_t[::1] nz_ptr, const int32_t[::1] nz_pos,
                    const int64_t[::1] nz_stride, const int64_t[::1] vt_ptr,
                    const int32_t[::1] vt_t, const int64_t[::1] vt_stride,
                    const int64_t[::1] map_off, const int32_t[::1] up_tgt,
                    const int32_t[::1] down_tgt) noexcept:
    cdef Py_ssize_t c
    T.n_cl = order.shape[0]
    T.max_t = 1
    for c in range(T.n_cl):
        if t_ptr[c + 1] - t_ptr[c] > T.max_t:
            T.max_t = t_ptr[c + 1] - t_ptr[c]
    T.clq_ptr = &clq_ptr[0]
    T.clq_vars = &clq_vars[0]
    T.clq_off = &clq_off[0]
    T.order = &order[0]
    T.parent = &parent[0]
    T.card = &card[0]
    T.sep_off = &sep_off[0]
    T.t_ptr = &t_ptr[0]
    T.t_kind = &t_kind[0]
    T.t_ref = &t_ref[0]
    T.nz_ptr = &nz_ptr[0]
    T.nz_pos = &nz_pos[0]
    T.nz_stride = &nz_stride[0]
    T.vt_ptr = &vt_ptr[0]
    T.vt_t = &vt_t[0]
    T.vt_stride = &vt_stride[0]
    T.map_off = &map_off[0]
    T.up_tgt = &up_tgt[0]
    T.down_tgt = &down_tgt[0]



cdef void _bn_work(BNWork* W, double* f, int32_t* iw, int64_t* lw, int64_t phi_size,
                   int64_t msg_size, int64_t map_size, Py_ssize_t n_clv,
                   Py_ssize_t n_cl, Py_ssize_t max_t, Py_ssize_t n_t) noexcept nogil:
    W.phi = f
    W.msg = f + phi_size
    W.nu = W.msg + msg_size
    W.maps = iw
    W.mpos = iw + map_size
    W.mcnt = W.mpos + n_clv
    W.sepobs = W.mcnt + n_cl
    W.digit = W.sepobs + n_cl
    W.msize = lw
    W.chosen = lw + n_cl
    W.cur = W.chosen + n_cl
    W.moff = W.cur + max_t
    W.poff = W.moff + n_t


cdef int _bn_infer_row(const BNTree* T, const double* theta, const int32_t* x, double w,
                       double* counts, double* qrow, double* f, int32_t* iw, int64_t* lw,
                       int64_t phi_size, int64_t msg_size, int64_t map_size, Py_ssize_t n_clv,
                       bint do_counts, bint do_query, double* ll) noexcept nogil:
    cdef BNWork W
    cdef Py_ssize_t c, t, r
    cdef double* acc
    cdef double* p
    cdef const int32_t* mp
    cdef int st
    _bn_work(&W, f, iw, lw, phi_size, msg_size, map_size, n_clv, T.n_cl, T.max_t, T.t_ptr[T.n_cl])
    _bn_maps(T, x, &W)
    st = _bn_collect(T, theta, &W, False, ll)
    if st != 0:
        ll[0] = -INFINITY
        return st
    _bn_distribute(T, &W)
    for c in range(T.n_cl):
        p = W.phi + W.poff[c]
        for t in range(T.t_ptr[c], T.t_ptr[c + 1]):
            mp = W.maps + W.moff[t]
            if T.t_kind[t] == _BN_FAMILY and do_counts:
                acc = counts + T.t_ref[t]
                for r in range(W.msize[c]):
                    acc[mp[r]] += w * p[r]
            elif T.t_kind[t] == _BN_QUERY and do_query:
                acc = qrow + T.t_ref[t]
                for r in range(W.msize[c]):
                    acc[mp[r]] += p[r]
    return 0


cdef int _bn_complete_row(const BNTree* T, const double* theta, const int32_t* x,
                          const double* u, int32_t* out, double* f, int32_t* iw, int64_t* lw,
                          int64_t phi_size, int64_t msg_size, int64_t map_size,
                          Py_ssize_t n_clv, bint maxprod, double* score) noexcept nogil:
    cdef BNWork W
    cdef double lli = 0.0, pmax = 1.0
    cdef int st
    _bn_work(&W, f, iw, lw, phi_size, msg_size, map_size, n_clv, T.n_cl, T.max_t, T.t_ptr[T.n_cl])
    _bn_maps(T, x, &W)
    st = _bn_collect(T, theta, &W, maxprod, &lli)
    if st != 0:
        score[0] = -INFINITY
        return st
    _bn_traceback(T, &W, maxprod, u, out, &pmax)
    if maxprod:
        score[0] = lli + log(pmax)
    else:
        score[0] = lli
    return 0


def bn_infer(const int32_t[:, ::1] X,         # IN  (n, n_vars) codes, -1 missing
             const double[::1] weights,       # IN  (n,) row weights (counts)
             const double[::1] theta,         # IN  flat CPTs (cpt_off layout)
             const int32_t[::1] clq_ptr, const int32_t[::1] clq_vars,      # IN tree
             const int64_t[::1] clq_off, const int32_t[::1] order,         # IN tree
             const int32_t[::1] parent, const int32_t[::1] card,           # IN tree
             const int64_t[::1] sep_off,                                   # IN tree
             const int32_t[::1] t_ptr, const int32_t[::1] t_kind,          # IN targets
             const int64_t[::1] t_ref,                                     # IN targets
             const int64_t[::1] nz_ptr, const int32_t[::1] nz_pos,         # IN targets
             const int64_t[::1] nz_stride, const int64_t[::1] vt_ptr,      # IN targets
             const int32_t[::1] vt_t, const int64_t[::1] vt_stride,        # IN targets
             const int64_t[::1] map_off,                                   # IN targets
             const int32_t[::1] up_tgt, const int32_t[::1] down_tgt,       # IN targets
             double[:, ::1] counts,           # OUT (n_blocks, n_params) zeroed (n_params may be
                                              #   1 without do_counts); rows are cut into
                                              #   n_blocks consecutive blocks, block b adds
                                              #   to counts[b]
             double[:, ::1] qout,             # OUT (n, n_q >= 1) zeroed; used if do_query
             double[::1] ll,                  # OUT (n,) per-row log p(x_obs)
             int32_t[::1] status,             # OUT (n,) 0 ok, 1 zero probability
             double[:, ::1] fbuf,             # WORK (n_threads, phi + msg + nu sizes)
             int32_t[:, ::1] ibuf,            # WORK (n_threads, maps + mpos + mcnt + digit)
             int64_t[:, ::1] lbuf,            # WORK (n_threads, 2 * n_cl + max targets/clique)
             int64_t phi_size, int64_t msg_size, int64_t map_size,
             bint do_counts, bint do_query, int n_threads):
    """Sum-product calibration of every row: log-likelihood, expected counts, marginals.

    Row ``i`` adds ``weights[i] * P(family configuration | x_obs)`` to
    ``counts[block of i]`` (flat CPT layout), writes ``log p(x_obs)`` to ``ll[i]``
    (``-inf`` and ``status[i] = 1`` when the evidence has probability 0) and
    the posterior marginals of the query targets to ``qout[i]``.

    The blocks (``counts.shape[0]`` runs of consecutive rows) are handed to the
    threads dynamically; each block sums its rows in order into its own slab,
    so ``counts.sum(axis=0)`` does not depend on the number of threads, bit
    for bit, as long as the caller chooses the block count from the data alone.
    """
    cdef BNTree T
    _bn_setup(&T, clq_ptr, clq_vars, clq_off, order, parent, card, sep_off, t_ptr, t_kind,
              t_ref, nz_ptr, nz_pos, nz_stride, vt_ptr, vt_t, vt_stride,
              map_off, up_tgt, down_tgt)
    cdef Py_ssize_t n = X.shape[0], i, tid, b, lo, hi
    cdef Py_ssize_t n_clv = clq_vars.shape[0]
    cdef Py_ssize_t n_blocks = counts.shape[0]
    if n == 0:
        return
    if n_blocks < 1 or fbuf.shape[0] < n_threads or ibuf.shape[0] < n_threads \
            or lbuf.shape[0] < n_threads:
        raise ValueError("bn_infer: counts needs >= 1 block and the work buffers one row "
                         "per thread.")
    cdef Py_ssize_t bsize = (n + n_blocks - 1) // n_blocks
    for b in prange(n_blocks, nogil=True, num_threads=n_threads, schedule="dynamic",
                    chunksize=1):
        tid = threadid()
        lo = b * bsize
        hi = min(lo + bsize, n)
        for i in range(lo, hi):
            status[i] = _bn_infer_row(&T, &theta[0], &X[i, 0], weights[i], &counts[b, 0],
                                      &qout[i, 0], &fbuf[tid, 0], &ibuf[tid, 0], &lbuf[tid, 0],
                                      phi_size, msg_size, map_size, n_clv, do_counts, do_query,
                                      &ll[i])


def bn_complete(const int32_t[:, ::1] X,      # IN  (n, n_vars) codes, -1 missing
                const double[::1] theta,      # IN  flat CPTs
                const int32_t[::1] clq_ptr, const int32_t[::1] clq_vars,      # IN tree
                const int64_t[::1] clq_off, const int32_t[::1] order,         # IN tree
                const int32_t[::1] parent, const int32_t[::1] card,           # IN tree
                const int64_t[::1] sep_off,                                   # IN tree
                const int32_t[::1] t_ptr, const int32_t[::1] t_kind,          # IN targets
                const int64_t[::1] t_ref,                                     # IN targets
                const int64_t[::1] nz_ptr, const int32_t[::1] nz_pos,         # IN targets
                const int64_t[::1] nz_stride, const int64_t[::1] vt_ptr,      # IN targets
                const int32_t[::1] vt_t, const int64_t[::1] vt_stride,        # IN targets
                const int64_t[::1] map_off,                                   # IN targets
                const int32_t[::1] up_tgt, const int32_t[::1] down_tgt,       # IN targets
                const double[:, ::1] u,       # IN  (n, n_cl) uniforms (sampling), (n, 1) for MAP
                int32_t[:, ::1] out,          # INOUT (n, n_vars) copy of X; missing cells filled
                double[::1] score,            # OUT (n,) log p(x_obs, x_mis*) (MAP) or log p(x_obs)
                int32_t[::1] status,          # OUT (n,) 0 ok, 1 zero probability
                double[:, ::1] fbuf, int32_t[:, ::1] ibuf, int64_t[:, ::1] lbuf,  # WORK
                int64_t phi_size, int64_t msg_size, int64_t map_size,
                bint maxprod, int n_threads):
    """Fill the missing cells of every row: the MAP joint completion (max-product
    collect + traceback, ``maxprod=True``) or an exact posterior draw
    (sum-product collect + backward sampling with the uniforms ``u``)."""
    cdef BNTree T
    _bn_setup(&T, clq_ptr, clq_vars, clq_off, order, parent, card, sep_off, t_ptr, t_kind,
              t_ref, nz_ptr, nz_pos, nz_stride, vt_ptr, vt_t, vt_stride,
              map_off, up_tgt, down_tgt)
    cdef Py_ssize_t n = X.shape[0], i, tid
    cdef Py_ssize_t n_clv = clq_vars.shape[0]
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="dynamic", chunksize=64):
        tid = threadid()
        status[i] = _bn_complete_row(&T, &theta[0], &X[i, 0], &u[i, 0], &out[i, 0],
                                     &fbuf[tid, 0], &ibuf[tid, 0], &lbuf[tid, 0], phi_size,
                                     msg_size, map_size, n_clv, maxprod, &score[i])
