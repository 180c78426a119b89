# Kernels for the lca models (included by _kernels.pyx). See that file for conventions.
#
# Latent class model = a hidden class Z with every item X_j as its child (a star).
# The item tables of all items are concatenated into one (S, K) table of log
# probabilities, S = sum_j M_j, row ``offsets[j] + c`` holding log p(X_j = c | Z = k)
# for every class k (class axis last, so the inner loop over classes is contiguous).
# Python validates every code against its item's cardinality before calling.

from libc.math cimport exp, log, INFINITY

DEF _LCA_KBUF = 16

# Missing codes without a branch: the kernel reads from an extended table whose
# row 0 is all zeros (log 1) and whose row 1 + r is row r of the caller's table.
# Item j, code x maps to row (1 + offsets[j] + x) when x >= 0 and to row 0 when
# x == -1, computed with a mask rather than an ``if``: with a few percent of
# cells missing at random, the branch mispredicts on every missing cell, twice
# per cell (class sums and counts), which cost ~15 % of the kernel. The counts
# go to a per-thread extended slab in the same layout; row 0 collects the
# posterior mass of missing cells and is dropped when the slabs are folded back.


cdef inline Py_ssize_t _lca_ext_row(int32_t x, int64_t eoff) noexcept nogil:
    # (eoff + x) when x >= 0, else 0; eoff = 1 + offsets[j]
    return <Py_ssize_t>((eoff + x) & (-(<int64_t>(x >= 0))))


cdef inline void _lca_row(const int32_t* x_row, Py_ssize_t J, Py_ssize_t K, double wi,
                          const double* log_w, const double* ext, const int64_t* eoff,
                          double* post, double* loglik, int32_t* status, double* wc,
                          double* ic, bint accumulate) noexcept nogil:
    # Generic K: the per-class sums live in ``post``. Raw pointers, not memoryviews:
    # passing memoryview slices to a helper per row costs a struct copy and an
    # atomic reference count each, which dominates here.
    cdef Py_ssize_t j, k, n_obs = 0
    cdef const double* lrow
    cdef double* crow
    cdef int32_t x
    cdef double m, tot, p
    for k in range(K):
        post[k] = log_w[k]
    for j in range(J):
        x = x_row[j]
        n_obs += (x >= 0)
        lrow = ext + _lca_ext_row(x, eoff[j]) * K
        for k in range(K):
            post[k] += lrow[k]
    if n_obs == 0:
        # nothing observed: the posterior is the prior and the row adds nothing
        for k in range(K):
            post[k] = exp(log_w[k])
        loglik[0] = 0.0
        status[0] = 0
        return
    m = -INFINITY
    for k in range(K):
        if post[k] > m:
            m = post[k]
    if not (m > -INFINITY):
        # probability zero under every class (or NaN): report, add nothing
        for k in range(K):
            post[k] = 0.0
        loglik[0] = -INFINITY
        status[0] = 1
        return
    tot = 0.0
    for k in range(K):
        p = post[k] - m
        # exp of anything below -700 is < 1e-304 next to a largest term of 1: flush it
        # to 0 rather than produce subnormal numbers, which are very slow to compute with
        p = exp(p) if p > -700.0 else 0.0
        post[k] = p
        tot += p
    p = 1.0 / tot
    for k in range(K):
        post[k] *= p
    loglik[0] = m + log(tot)
    status[0] = 0
    if not accumulate:
        return
    for k in range(K):
        wc[k] += wi * post[k]
    for j in range(J):
        crow = ic + _lca_ext_row(x_row[j], eoff[j]) * K
        for k in range(K):
            crow[k] += wi * post[k]


cdef inline void _lca_row_small(const int32_t* x_row, Py_ssize_t J, Py_ssize_t K, double wi,
                                const double* log_w, const double* ext, const int64_t* eoff,
                                double* post, double* loglik, int32_t* status, double* wc,
                                double* ic, bint accumulate) noexcept nogil:
    # Same as _lca_row for K <= _LCA_KBUF, with the per-class sums in local arrays:
    # through ``post`` the compiler must store and reload them after every item
    # (``post`` may alias the tables), a load-add-store chain per item and class.
    # Called with a literal K for common class counts, so that the C compiler
    # inlines a copy per K with the class loops unrolled.
    cdef double a[_LCA_KBUF]
    cdef double q[_LCA_KBUF]
    cdef Py_ssize_t j, k, n_obs = 0
    cdef const double* lrow
    cdef double* crow
    cdef int32_t x
    cdef double m, tot, p
    for k in range(K):
        a[k] = log_w[k]
    for j in range(J):
        x = x_row[j]
        n_obs += (x >= 0)
        lrow = ext + _lca_ext_row(x, eoff[j]) * K
        for k in range(K):
            a[k] += lrow[k]
    if n_obs == 0:
        for k in range(K):
            post[k] = exp(log_w[k])
        loglik[0] = 0.0
        status[0] = 0
        return
    m = -INFINITY
    for k in range(K):
        if a[k] > m:
            m = a[k]
    if not (m > -INFINITY):
        for k in range(K):
            post[k] = 0.0
        loglik[0] = -INFINITY
        status[0] = 1
        return
    tot = 0.0
    for k in range(K):
        p = a[k] - m
        p = exp(p) if p > -700.0 else 0.0
        a[k] = p
        tot += p
    p = 1.0 / tot
    for k in range(K):
        a[k] *= p
        post[k] = a[k]
    loglik[0] = m + log(tot)
    status[0] = 0
    if not accumulate:
        return
    for k in range(K):
        q[k] = wi * a[k]
        wc[k] += q[k]
    for j in range(J):
        crow = ic + _lca_ext_row(x_row[j], eoff[j]) * K
        for k in range(K):
            crow[k] += q[k]


cdef inline void _lca_row_dispatch(const int32_t* x_row, Py_ssize_t J, Py_ssize_t K,
                                   double wi, const double* log_w, const double* ext,
                                   const int64_t* eoff, double* post, double* loglik,
                                   int32_t* status, double* wc, double* ic,
                                   bint accumulate) noexcept nogil:
    # literal K for the class counts people fit most (see _lca_row_small)
    if K == 2:
        _lca_row_small(x_row, J, 2, wi, log_w, ext, eoff, post, loglik, status, wc, ic,
                       accumulate)
    elif K == 3:
        _lca_row_small(x_row, J, 3, wi, log_w, ext, eoff, post, loglik, status, wc, ic,
                       accumulate)
    elif K == 4:
        _lca_row_small(x_row, J, 4, wi, log_w, ext, eoff, post, loglik, status, wc, ic,
                       accumulate)
    elif K == 5:
        _lca_row_small(x_row, J, 5, wi, log_w, ext, eoff, post, loglik, status, wc, ic,
                       accumulate)
    elif K == 6:
        _lca_row_small(x_row, J, 6, wi, log_w, ext, eoff, post, loglik, status, wc, ic,
                       accumulate)
    elif K == 8:
        _lca_row_small(x_row, J, 8, wi, log_w, ext, eoff, post, loglik, status, wc, ic,
                       accumulate)
    elif K <= _LCA_KBUF:
        _lca_row_small(x_row, J, K, wi, log_w, ext, eoff, post, loglik, status, wc, ic,
                       accumulate)
    else:
        _lca_row(x_row, J, K, wi, log_w, ext, eoff, post, loglik, status, wc, ic, accumulate)


def lca_log_tables(const double[::1] w,            # IN  (K,) class weights
                   const double[:, :] items,        # IN  (K, S) item tables side by side,
                                                    #     class axis first, any strides
                   double[::1] log_w,               # OUT (K,) log w
                   double[:, ::1] log_items):       # OUT (S, K) log items.T
    """The log tables :func:`lca_estep` reads: ``log_w = log(w)`` and ``log_items =
    log(items).T`` (C-ordered, class axis last), with the C library's ``log``
    (``log(0) = -inf``, no floating-point warning to silence). One pass instead of
    ``np.errstate``, two ``np.log``, a concatenation and a transposed copy: ~5 us of
    a ~35 us E-step on a small model (house votes); 2.4 us with its Python wrapper,
    ``emfast.mixture._log_tables``."""
    cdef Py_ssize_t k, s, K = w.shape[0], S = items.shape[1]
    if (items.shape[0] != K or log_w.shape[0] != K or log_items.shape[0] != S
            or log_items.shape[1] != K):
        raise ValueError("lca_log_tables: inconsistent array shapes.")
    with nogil:
        for k in range(K):
            log_w[k] = log(w[k])
        for s in range(S):
            for k in range(K):
                log_items[s, k] = log(items[k, s])


# Rows are cut into blocks of consecutive rows; each block sums its counts in its
# own slab, blocks are handed out to threads dynamically (on a shared machine one
# thread is often slowed down for a while, and the other takes over its blocks
# instead of waiting), and the slabs are added up in block order at the end. The
# blocks depend on n only, never on the thread count, so every count is summed
# in the same order whatever the number of threads: results are bit-identical
# for 1, 2, ... threads and from run to run.
def lca_estep(const int32_t[:, ::1] X,             # IN  (n, J) codes, -1 = missing, validated
              const double[::1] row_weights,       # IN  (n,) multiplicity of each row
              const double[::1] log_w,             # IN  (K,) log class weights
              const double[:, ::1] log_items,      # IN  (S, K) concatenated log item tables
              const int64_t[::1] offsets,          # IN  (J,) first row of item j in log_items
              double[:, ::1] post,                 # OUT (n, K) class posteriors
              double[::1] loglik,                  # OUT (n,) log p(x_obs) of every row
              int32_t[::1] status,                 # OUT (n,) 0 ok, 1 probability zero
              double[::1] wcounts,                 # INOUT (K,) expected class counts, added to
              double[:, ::1] icounts,              # INOUT (S, K) expected item counts, added to
              bint accumulate,                     # IN  add expected counts
              Py_ssize_t n_blocks,                 # IN  blocks of consecutive rows (from
                                                   #     emfast._blocks.plan_blocks: the data
                                                   #     alone, never the thread count)
              int n_threads):                      # IN  OpenMP threads
    """E-step of a latent class model over (distinct, weighted) rows.

    For every row: class log-posterior from the observed items (missing items
    skipped), normalised by log-sum-exp, written to ``post[i]``; ``loglik[i]``
    is ``log p(x_obs,i)`` (0 for a row with nothing observed, whose posterior
    is the prior and which adds no counts). With ``accumulate``,
    ``row_weights[i] * post[i, k]`` is added to ``wcounts[k]`` and to
    ``icounts[offsets[j] + x_ij, k]`` for every observed item. A row with
    probability zero under every class gets ``status 1``, ``loglik -inf``,
    a zero posterior and adds nothing. Blocks of rows run in parallel
    (``prange``); the results do not depend on ``n_threads``, bit for bit.

    Returns ``(sum_i row_weights[i] * loglik[i], number of rows with status 1)``,
    summed in the same fixed order (the total is -inf when a row has status 1).
    """
    cdef Py_ssize_t i, n = X.shape[0], J = X.shape[1], K = log_w.shape[0]
    cdef Py_ssize_t S = log_items.shape[0]
    cdef bint acc = accumulate
    cdef Py_ssize_t j, k, r, b, lo, hi
    if n_threads < 1:
        n_threads = 1
    # shape checks (cheap; the loop below uses raw pointers, so they are not optional)
    if (row_weights.shape[0] != n or post.shape[0] != n or post.shape[1] != K
            or loglik.shape[0] != n or status.shape[0] != n or log_items.shape[1] != K
            or offsets.shape[0] != J or wcounts.shape[0] != K or icounts.shape[0] != S
            or icounts.shape[1] != K):
        raise ValueError("lca_estep: inconsistent array shapes.")
    if J == 0 or K == 0:
        raise ValueError("lca_estep: needs at least one item and one class.")
    if n == 0:
        return 0.0, 0
    for j in range(J):
        if offsets[j] < 0 or offsets[j] >= S:
            raise ValueError(f"lca_estep: offsets[{j}] = {offsets[j]} is outside 0..{S - 1}.")
    if EMFAST_DEBUG_BUILD:
        # debug builds also check every code against its item's table (O(n J))
        for i in range(n):
            for j in range(J):
                if X[i, j] < -1 or offsets[j] + X[i, j] >= S:
                    raise IndexError(f"lca_estep: code {X[i, j]} at row {i}, item {j} "
                                     "is outside the item table.")
    # block slab: (S + 1) x K item counts (row 0 = missing cells, dropped), K class
    # counts, then the block's weighted log-likelihood and its count of rows with
    # status 1; rounded up to whole cache lines plus one spare (false sharing)
    cdef Py_ssize_t estride = (((S + 2) * K + 2 + 7) // 8) * 8 + 8
    cdef Py_ssize_t tail = (S + 2) * K
    if n_blocks < 1:
        n_blocks = 1
    if n_blocks > n:
        n_blocks = n
    cdef Py_ssize_t bsize = (n + n_blocks - 1) // n_blocks
    n_blocks = (n + bsize - 1) // bsize
    cdef double total = 0.0, n_bad = 0.0
    cdef int nt = <int>min(<Py_ssize_t>n_threads, n_blocks)
    cdef const int32_t* xp = &X[0, 0]
    cdef const double* rw = &row_weights[0]
    cdef const double* lw = &log_w[0]
    cdef double* pp = &post[0, 0]
    cdef double* llp = &loglik[0]
    cdef int32_t* stp = &status[0]
    cdef double* ext = <double*>calloc((S + 1) * K, sizeof(double))
    cdef int64_t* eoff = <int64_t*>malloc(J * sizeof(int64_t))
    cdef double* slabs = <double*>calloc(n_blocks * estride, sizeof(double))
    cdef double* slab
    if ext == NULL or eoff == NULL or slabs == NULL:
        free(ext)
        free(eoff)
        free(slabs)
        raise MemoryError("lca_estep: could not allocate work space.")
    try:
        for r in range(S):
            for k in range(K):
                ext[(r + 1) * K + k] = log_items[r, k]
        for j in range(J):
            eoff[j] = offsets[j] + 1
        for b in prange(n_blocks, nogil=True, num_threads=nt, schedule="dynamic", chunksize=1):
            slab = slabs + b * estride
            lo = b * bsize
            hi = min(lo + bsize, n)
            for i in range(lo, hi):
                _lca_row_dispatch(xp + i * J, J, K, rw[i], lw, ext, eoff, pp + i * K, llp + i,
                                  stp + i, slab + (S + 1) * K, slab, acc)
                slab[tail] += rw[i] * llp[i]
                slab[tail + 1] += stp[i]
        # add the block slabs up in block order, dropping row 0 (missing cells)
        for b in range(n_blocks):
            slab = slabs + b * estride
            total += slab[tail]
            n_bad += slab[tail + 1]
            if accumulate:
                for r in range(S):
                    for k in range(K):
                        icounts[r, k] += slab[(r + 1) * K + k]
                for k in range(K):
                    wcounts[k] += slab[(S + 1) * K + k]
    finally:
        free(ext)
        free(eoff)
        free(slabs)
    return total, int(n_bad)
