# Kernels for the lca models (included by _kernels.pyx). See that file for conventions.
#
# Latent class model = a hidden class Z with every item X_j as its child (a star).
# The item tables of all items are concatenated into one (S, K) table of log
# probabilities, S = sum_j M_j, row ``offsets[j] + c`` holding log p(X_j = c | Z = k)
# for every class k (class axis last, so the inner loop over classes is contiguous).
# Python validates every code against its item's cardinality before calling.

from libc.math cimport exp, log, INFINITY


cdef inline void _lca_row(const int32_t[:, ::1] X, Py_ssize_t i, double wi,
                          const double[::1] log_w, const double[:, ::1] log_items,
                          const int64_t[::1] offsets, double[:, ::1] post,
                          double[::1] loglik, int32_t[::1] status,
                          double[:, ::1] wcounts, double[:, :, ::1] icounts,
                          Py_ssize_t tid, bint accumulate) noexcept nogil:
    cdef Py_ssize_t J = X.shape[1], K = log_w.shape[0]
    cdef Py_ssize_t j, k, s, n_obs = 0
    cdef int32_t x
    cdef double m, tot, p
    for k in range(K):
        post[i, k] = log_w[k]
    for j in range(J):
        x = X[i, j]
        if x < 0:
            continue
        n_obs += 1
        s = offsets[j] + x
        for k in range(K):
            post[i, k] += log_items[s, k]
    if n_obs == 0:
        # nothing observed: the posterior is the prior and the row adds nothing
        for k in range(K):
            post[i, k] = exp(log_w[k])
        loglik[i] = 0.0
        status[i] = 0
        return
    m = -INFINITY
    for k in range(K):
        if post[i, k] > m:
            m = post[i, k]
    if not (m > -INFINITY):
        # probability zero under every class (or NaN): report, add nothing
        for k in range(K):
            post[i, k] = 0.0
        loglik[i] = -INFINITY
        status[i] = 1
        return
    tot = 0.0
    for k in range(K):
        p = exp(post[i, k] - m)
        post[i, k] = p
        tot += p
    for k in range(K):
        post[i, k] /= tot
    loglik[i] = m + log(tot)
    status[i] = 0
    if accumulate:
        for k in range(K):
            wcounts[tid, k] += wi * post[i, k]
        for j in range(J):
            x = X[i, j]
            if x < 0:
                continue
            s = offsets[j] + x
            for k in range(K):
                icounts[tid, s, k] += wi * post[i, k]


def lca_estep(const int32_t[:, ::1] X,             # IN  (n, J) codes, -1 = missing, validated
              const double[::1] row_weights,       # IN  (n,) multiplicity of each row
              const double[::1] log_w,             # IN  (K,) log class weights
              const double[:, ::1] log_items,      # IN  (S, K) concatenated log item tables
              const int64_t[::1] offsets,          # IN  (J,) first row of item j in log_items
              double[:, ::1] post,                 # OUT (n, K) class posteriors
              double[::1] loglik,                  # OUT (n,) log p(x_obs) of every row
              int32_t[::1] status,                 # OUT (n,) 0 ok, 1 probability zero
              double[:, ::1] wcounts,              # INOUT (n_threads, K) zeroed by caller
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
    cdef Py_ssize_t i, n = X.shape[0]
    cdef bint acc = accumulate
    if n_threads < 1:
        n_threads = 1
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static"):
        _lca_row(X, i, row_weights[i], log_w, log_items, offsets, post, loglik, status,
                 wcounts, icounts, threadid(), acc)
