# Kernels for the lca models (included by _kernels.pyx). See that file for conventions.
#
# Latent class model = a hidden class Z with every item X_j as its child (a star).
# The item tables of all items are concatenated into one (S, K) table of log
# probabilities, S = sum_j M_j, row ``offsets[j] + c`` holding log p(X_j = c | Z = k)
# for every class k (class axis last, so the inner loop over classes is contiguous).
# Python validates every code against its item's cardinality before calling.

from libc.math cimport exp, log, INFINITY

DEF _LCA_KBUF = 16


cdef inline void _lca_row(const int32_t* x_row, Py_ssize_t J, Py_ssize_t K, double wi,
                          const double* log_w, const double* log_items,
                          const int64_t* offsets, double* post, double* loglik,
                          int32_t* status, double* wc, double* ic,
                          bint accumulate) noexcept nogil:
    # Raw pointers, not memoryviews: passing memoryview slices to a helper per row
    # costs a struct copy and an atomic reference count each, which dominates here.
    cdef Py_ssize_t j, k, n_obs = 0
    cdef const double* lrow
    cdef double* crow
    cdef int32_t x
    cdef double m, tot, p
    for k in range(K):
        post[k] = log_w[k]
    for j in range(J):
        x = x_row[j]
        if x < 0:
            continue
        n_obs += 1
        lrow = log_items + (offsets[j] + x) * K
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
        x = x_row[j]
        if x < 0:
            continue
        crow = ic + (offsets[j] + x) * K
        for k in range(K):
            crow[k] += wi * post[k]


cdef inline void _lca_row_small(const int32_t* x_row, Py_ssize_t J, Py_ssize_t K, double wi,
                                const double* log_w, const double* log_items,
                                const int64_t* offsets, double* post, double* loglik,
                                int32_t* status, double* wc, double* ic,
                                bint accumulate) noexcept nogil:
    # Same as _lca_row for K <= _LCA_KBUF, with the per-class sums in local arrays:
    # through ``post`` the compiler must store and reload them after every item
    # (``post`` may alias the tables), a load-add-store chain per item and class.
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
        if x < 0:
            continue
        n_obs += 1
        lrow = log_items + (offsets[j] + x) * K
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
        x = x_row[j]
        if x < 0:
            continue
        crow = ic + (offsets[j] + x) * K
        for k in range(K):
            crow[k] += q[k]


def lca_estep(const int32_t[:, ::1] X,             # IN  (n, J) codes, -1 = missing, validated
              const double[::1] row_weights,       # IN  (n,) multiplicity of each row
              const double[::1] log_w,             # IN  (K,) log class weights
              const double[:, ::1] log_items,      # IN  (S, K) concatenated log item tables
              const int64_t[::1] offsets,          # IN  (J,) first row of item j in log_items
              double[:, ::1] post,                 # OUT (n, K) class posteriors
              double[::1] loglik,                  # OUT (n,) log p(x_obs) of every row
              int32_t[::1] status,                 # OUT (n,) 0 ok, 1 probability zero
              double[:, ::1] wcounts,              # INOUT (n_threads, >= K) zeroed by caller;
                                                   #   columns K.. are padding (false sharing)
              double[:, :, ::1] icounts,           # INOUT (n_threads, S, K) zeroed by caller
              bint accumulate,                     # IN  add expected counts to the slabs
              int n_threads):                      # IN  OpenMP threads (<= slab count)
    """E-step of a latent class model over (distinct, weighted) rows.

    For every row: class log-posterior from the observed items (missing items
    skipped), normalised by log-sum-exp, written to ``post[i]``; ``loglik[i]``
    is ``log p(x_obs,i)`` (0 for a row with nothing observed, whose posterior
    is the prior and which adds no counts). With ``accumulate``, thread ``t``
    adds ``row_weights[i] * post[i, k]`` to ``wcounts[t, k]`` and to
    ``icounts[t, offsets[j] + x_ij, k]`` for every observed item. A row with
    probability zero under every class gets ``status 1``, ``loglik -inf``,
    a zero posterior and adds nothing. Rows run in parallel (``prange``).
    """
    cdef Py_ssize_t i, n = X.shape[0], J = X.shape[1], K = log_w.shape[0]
    cdef Py_ssize_t S = log_items.shape[0]
    cdef bint acc = accumulate
    cdef int tid
    cdef Py_ssize_t j
    if n_threads < 1:
        n_threads = 1
    # shape checks (cheap; the loop below uses raw pointers, so they are not optional)
    if (row_weights.shape[0] != n or post.shape[0] != n or post.shape[1] != K
            or loglik.shape[0] != n or status.shape[0] != n or log_items.shape[1] != K
            or offsets.shape[0] != J or wcounts.shape[1] < K or icounts.shape[2] != K
            or wcounts.shape[0] < 1 or icounts.shape[0] < 1 or icounts.shape[1] < 1):
        raise ValueError("lca_estep: inconsistent array shapes.")
    if accumulate and (wcounts.shape[0] < n_threads or icounts.shape[0] < n_threads
                       or icounts.shape[1] != S):
        raise ValueError("lca_estep: the count slabs need shape (n_threads, >= K) and "
                         "(n_threads, S, K).")
    if n == 0 or J == 0 or K == 0:
        return
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
    cdef const int32_t* xp = &X[0, 0]
    cdef const double* lw = &log_w[0]
    cdef const double* li = &log_items[0, 0]
    cdef const int64_t* off = &offsets[0]
    cdef double* pp = &post[0, 0]
    cdef double* llp = &loglik[0]
    cdef int32_t* stp = &status[0]
    cdef double* wcp = &wcounts[0, 0]
    cdef double* icp = &icounts[0, 0, 0]
    cdef Py_ssize_t wstride = wcounts.shape[1]
    cdef Py_ssize_t istride = icounts.shape[1] * icounts.shape[2]
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static"):
        tid = threadid()
        if K <= _LCA_KBUF:
            _lca_row_small(xp + i * J, J, K, row_weights[i], lw, li, off, pp + i * K, llp + i,
                           stp + i, wcp + tid * wstride, icp + tid * istride, acc)
        else:
            _lca_row(xp + i * J, J, K, row_weights[i], lw, li, off, pp + i * K, llp + i,
                     stp + i, wcp + tid * wstride, icp + tid * istride, acc)
