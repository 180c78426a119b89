# Kernels for the hmm models (included by _kernels.pyx). See that file for conventions.

from libc.math cimport log, INFINITY
#
# Layout used by every HMM kernel
# -------------------------------
# * K states; transitions ``A`` (K, K) row-major, ``A[j, k] = p(z_t = k | z_{t-1} = j)``.
# * Emissions come from one of two sources:
#   - codes: ``X`` (N, C) int32, -1 = missing, and one table ``emitT`` of shape
#     (sum_c M_c + 1, K) holding the per-channel tables *transposed* and stacked
#     (channel c occupies rows ``choff[c] .. choff[c] + M_c - 1``; the last
#     row, index ``choff[C] = sum_c M_c``, is all ones (all zeros for the log
#     table) and stands for a missing code), so the
#     emission vector of one symbol is a contiguous row of K numbers. The
#     emission factor of a time step is the product over its observed
#     channels; a missing channel contributes 1 (it is marginalised).
#   - frames: a (N, K) array of emission likelihoods computed by the caller.
# * Sequences are rows ``offsets[s] .. offsets[s + 1] - 1``; every sequence is
#   non-empty (checked in Python).
# * Status per sequence: 0 = ok, 1 = zero normaliser (the observation at
#   ``bad_t[s]`` (time step within the sequence) has probability 0 under every
#   state reachable there).
#
# The E-step is the scaled forward-backward algorithm fused with the count
# accumulation: the forward pass stores alpha_hat (T, K) and the scale factors
# c_t (or, in memory-lean mode, the backward pass recovers c_t); the backward pass keeps only the current beta_hat (K,) and adds the
# posterior of every step directly into the start, transition and emission
# count slabs of the calling thread. Nothing of size T x K x K is formed.


cdef inline Py_ssize_t _hmm_row(const int32_t* x, Py_ssize_t c, const int64_t* choff,
                                Py_ssize_t ones_row) noexcept nogil:
    # row of the stacked table for channel c; a missing code maps to the all-ones
    # (log: all-zeros) last row, so the hot loops carry no data-dependent branch
    cdef int32_t v = x[c]
    return choff[c] + v if v >= 0 else ones_row


cdef inline void _hmm_emit_vec(const int32_t* x, Py_ssize_t C, const int64_t* choff,
                               const double* emitT, Py_ssize_t K,
                               double* b) noexcept nogil:
    # b[k] = prod_{c: x[c] >= 0} emitT[choff[c] + x[c], k]; emitT has a last row of ones
    cdef Py_ssize_t c, k
    cdef Py_ssize_t ones_row = choff[C]
    cdef const double* row = emitT + _hmm_row(x, 0, choff, ones_row) * K
    for k in range(K):
        b[k] = row[k]
    for c in range(1, C):
        row = emitT + _hmm_row(x, c, choff, ones_row) * K
        for k in range(K):
            b[k] *= row[k]


cdef inline void _hmm_log_emit_vec(const int32_t* x, Py_ssize_t C, const int64_t* choff,
                                   const double* logemitT, Py_ssize_t K,
                                   double* b) noexcept nogil:
    # b[k] = sum_{c: x[c] >= 0} logemitT[choff[c] + x[c], k]; last row of zeros
    cdef Py_ssize_t c, k
    cdef Py_ssize_t ones_row = choff[C]
    cdef const double* row = logemitT + _hmm_row(x, 0, choff, ones_row) * K
    for k in range(K):
        b[k] = row[k]
    for c in range(1, C):
        row = logemitT + _hmm_row(x, c, choff, ones_row) * K
        for k in range(K):
            b[k] += row[k]


cdef inline void _hmm_gemv(double* y, const double* M, const double* x,
                           Py_ssize_t K) noexcept nogil:
    # y[k] = sum_j x[j] M[j, k] (M is K x K row-major). Rows are taken four at a
    # time so that y is loaded and stored once per four rows; the inner loop is
    # a contiguous axpy that the compiler vectorises.
    cdef Py_ssize_t j = 0, k
    cdef double a0, a1, a2, a3
    cdef const double* r0
    cdef const double* r1
    cdef const double* r2
    cdef const double* r3
    for k in range(K):
        y[k] = 0.0
    while j + 4 <= K:
        a0 = x[j]
        a1 = x[j + 1]
        a2 = x[j + 2]
        a3 = x[j + 3]
        r0 = M + j * K
        r1 = r0 + K
        r2 = r1 + K
        r3 = r2 + K
        for k in range(K):
            y[k] += (a0 * r0[k] + a1 * r1[k]) + (a2 * r2[k] + a3 * r3[k])
        j += 4
    while j < K:
        a0 = x[j]
        r0 = M + j * K
        for k in range(K):
            y[k] += a0 * r0[k]
        j += 1


cdef inline void _hmm_xi_flush(double* ctrans, const double* alpha, const Py_ssize_t* ai,
                               const double* tb, Py_ssize_t nb, Py_ssize_t K) noexcept nogil:
    # ctrans[j, k] += sum_i alpha[ai[i], j] tb[i, k] over the nb (<= 4) buffered steps
    cdef Py_ssize_t i, j, k
    cdef double a0, a1, a2, a3
    cdef double* xrow
    for j in range(K):
        xrow = ctrans + j * K
        if nb == 4:
            a0 = alpha[ai[0] * K + j]
            a1 = alpha[ai[1] * K + j]
            a2 = alpha[ai[2] * K + j]
            a3 = alpha[ai[3] * K + j]
            for k in range(K):
                xrow[k] += (a0 * tb[k] + a1 * tb[K + k]) + (a2 * tb[2 * K + k] + a3 * tb[3 * K + k])
        else:
            for i in range(nb):
                a0 = alpha[ai[i] * K + j]
                for k in range(K):
                    xrow[k] += a0 * tb[i * K + k]


cdef int _hmm_fb_seq(Py_ssize_t T, Py_ssize_t K,
                     const double* pi,            # IN  (K,)
                     const double* A,             # IN  (K, K)
                     const double* AT,            # IN  (K, K) transpose of A
                     const floating* frame,       # IN  (T, K) emission likelihoods, or NULL
                     const int32_t* x,            # IN  (T, C) codes (used when frame is NULL)
                     Py_ssize_t C,
                     const int64_t* choff,        # IN  (C + 1,)
                     const double* emitT,         # IN  (sum M + 1, K)
                     double* alpha,               # SCRATCH (T, K)
                     double* scale,               # SCRATCH (T,) scale factors, or NULL
                     double* work,                # SCRATCH (7 K,)
                     double* ll_out,              # OUT scalar: log p(x)
                     int64_t* bad_t,              # OUT scalar: failing time step
                     floating* gamma,             # OUT (T, K) posteriors, or NULL
                     double* cstart,              # INOUT (K,) start counts, or NULL
                     double* ctrans,              # INOUT (K, K) sum_t alpha_{t-1} (x) tmp_t, or NULL
                     double* cemit) noexcept nogil:  # INOUT (sum M, K) emission counts, or NULL
    cdef double* b = work
    cdef double* beta = work + K
    cdef double* g = work + 2 * K
    cdef double* tb = work + 3 * K           # (4, K): the last steps' b beta / c, pending xi
    cdef double* tmp
    cdef Py_ssize_t ai[4]
    cdef Py_ssize_t nb = 0
    cdef double s, ct, ll = 0.0, prod = 1.0
    cdef Py_ssize_t t, k, c
    cdef double* al
    cdef double* erow

    # ---- forward (scaled) -------------------------------------------------
    for t in range(T):
        if frame != NULL:
            for k in range(K):
                b[k] = <double>frame[t * K + k]
        else:
            _hmm_emit_vec(x + t * C, C, choff, emitT, K, b)
        al = alpha + t * K
        if t == 0:
            for k in range(K):
                al[k] = pi[k] * b[k]
        else:
            _hmm_gemv(al, A, al - K, K)
            for k in range(K):
                al[k] *= b[k]
        s = 0.0
        for k in range(K):
            s += al[k]
        if not (s > 0.0):
            bad_t[0] = t
            return 1
        if scale != NULL:
            scale[t] = s
        # log p(x) = sum_t log c_t; multiply moderate c_t together and take one
        # log per block (the running product stays within 1e-300..1e300)
        if s > 1e-100 and s < 1e100:
            prod *= s
            if prod < 1e-200 or prod > 1e200:
                ll += log(prod)
                prod = 1.0
        else:
            ll += log(s)
        s = 1.0 / s
        for k in range(K):
            al[k] *= s
    ll_out[0] = ll + log(prod)

    # ---- backward, accumulating counts ----------------------------------
    for k in range(K):
        beta[k] = 1.0
    t = T - 1
    while True:
        al = alpha + t * K
        if gamma != NULL or cemit != NULL or (t == 0 and cstart != NULL):
            for k in range(K):
                g[k] = al[k] * beta[k]          # posterior of step t
            if gamma != NULL:
                for k in range(K):
                    gamma[t * K + k] = <floating>g[k]
            if cemit != NULL:
                for c in range(C):
                    # missing codes add into the (ignored) last row
                    erow = cemit + _hmm_row(x + t * C, c, choff, choff[C]) * K
                    for k in range(K):
                        erow[k] += g[k]
            if t == 0 and cstart != NULL:
                for k in range(K):
                    cstart[k] += g[k]
        if t == 0:
            break
        # beta_{t-1}[j] = sum_k A[j, k] tmp[k],   tmp[k] = b_t[k] beta_t[k] / c_t
        # xi_t[j, k]    = A[j, k] * alpha_{t-1}[j] tmp[k]
        # We accumulate only the outer products alpha_{t-1} (x) tmp (the caller
        # multiplies the sum by A elementwise once), four steps at a time.
        if frame != NULL:
            for k in range(K):
                b[k] = <double>frame[t * K + k]
        else:
            _hmm_emit_vec(x + t * C, C, choff, emitT, K, b)
        tmp = tb + nb * K
        if scale != NULL:
            ct = 1.0 / scale[t]
            for k in range(K):
                tmp[k] = b[k] * beta[k] * ct
            _hmm_gemv(beta, AT, tmp, K)
        else:
            # c_t was not stored (memory-lean mode): with u = b_t beta_t and
            # beta' = A u, sum_j alpha_{t-1}[j] beta'[j] = c_t because the
            # posteriors of step t-1 sum to 1 (K extra operations, ~10 % slower).
            for k in range(K):
                tmp[k] = b[k] * beta[k]
            _hmm_gemv(beta, AT, tmp, K)
            al = al - K
            s = 0.0
            for k in range(K):
                s += al[k] * beta[k]
            ct = 1.0 / s
            for k in range(K):
                beta[k] *= ct
                tmp[k] *= ct
        if ctrans != NULL:
            ai[nb] = t - 1
            nb += 1
            if nb == 4:
                _hmm_xi_flush(ctrans, alpha, ai, tb, nb, K)
                nb = 0
        t -= 1
    if ctrans != NULL and nb > 0:
        _hmm_xi_flush(ctrans, alpha, ai, tb, nb, K)
    return 0


cdef int _hmm_fb_codes(Py_ssize_t T, Py_ssize_t K, const double* pi, const double* A,
                       const double* AT, const int32_t* x, Py_ssize_t C,
                       const int64_t* choff, const double* emitT, double* alpha,
                       double* scale, double* work, double* ll_out, int64_t* bad_t,
                       double* gamma, double* cstart, double* ctrans,
                       double* cemit) noexcept nogil:
    # Calls with a literal K let the C compiler specialise (clone and unroll) the
    # kernel for common small state counts; other K take the generic path.
    if K == 2:
        return _hmm_fb_seq[double](T, 2, pi, A, AT, NULL, x, C, choff, emitT, alpha, scale,
                                   work, ll_out, bad_t, gamma, cstart, ctrans, cemit)
    if K == 3:
        return _hmm_fb_seq[double](T, 3, pi, A, AT, NULL, x, C, choff, emitT, alpha, scale,
                                   work, ll_out, bad_t, gamma, cstart, ctrans, cemit)
    if K == 4:
        return _hmm_fb_seq[double](T, 4, pi, A, AT, NULL, x, C, choff, emitT, alpha, scale,
                                   work, ll_out, bad_t, gamma, cstart, ctrans, cemit)
    if K == 8:
        return _hmm_fb_seq[double](T, 8, pi, A, AT, NULL, x, C, choff, emitT, alpha, scale,
                                   work, ll_out, bad_t, gamma, cstart, ctrans, cemit)
    if K == 16:
        return _hmm_fb_seq[double](T, 16, pi, A, AT, NULL, x, C, choff, emitT, alpha, scale,
                                   work, ll_out, bad_t, gamma, cstart, ctrans, cemit)
    return _hmm_fb_seq[double](T, K, pi, A, AT, NULL, x, C, choff, emitT, alpha, scale,
                               work, ll_out, bad_t, gamma, cstart, ctrans, cemit)


def hmm_estep_codes(const int32_t[:, ::1] X,          # IN  (N, C) codes, -1 = missing
                    const int64_t[::1] offsets,       # IN  (S + 1,) sequence boundaries
                    const int64_t[::1] block_ptr,     # IN  (B + 1,) sequences of block b:
                                                      #   block_ptr[b] .. block_ptr[b+1]-1
                    const double[::1] startprob,      # IN  (K,)
                    const double[:, ::1] transmat,    # IN  (K, K)
                    const double[:, ::1] transT,      # IN  (K, K) transmat.T, C-contiguous
                    const double[:, ::1] emitT,       # IN  (sum M + 1, K) stacked transposed tables + ones row
                    const int64_t[::1] choff,         # IN  (C + 1,) first row of each channel; choff[C] = ones row
                    double[::1] loglik,               # OUT (S,) log p(x_s)
                    int32_t[::1] status,              # OUT (S,) 0 ok, 1 zero normaliser
                    int64_t[::1] bad_t,               # OUT (S,) failing time step (status 1)
                    double[:, ::1] alpha_scratch,     # SCRATCH (n_threads, max_len * K)
                    double[:, ::1] scale_scratch,     # SCRATCH (n_threads, max_len) if use_scale
                    double[:, ::1] work,              # SCRATCH (n_threads, 7 K)
                    double[:, ::1] cstart,            # INOUT (B, K), zeroed by caller
                    double[:, ::1] ctrans,            # INOUT (B, K * K), zeroed; the transition
                                                      #   counts are transmat * sum over blocks
                    double[:, ::1] cemit,             # INOUT (B, (sum M + 1) * K), zeroed
                    double[:, ::1] gamma,             # OUT (N, K) posteriors, or (0, K) to skip
                    bint want_counts,
                    bint use_scale,
                    int n_threads):
    """Fused scaled forward-backward E-step of a categorical HMM, one pass per sequence.

    Fills ``loglik`` and ``status`` per sequence; when ``want_counts`` adds the
    expected start / transition / emission counts of the sequences of block b
    to slab b, in sequence order (sum the slabs over axis 0 afterwards); when
    ``gamma`` has N rows writes the state posteriors. Blocks run in parallel
    (``prange``, dynamic schedule, one block at a time) over ``n_threads``
    threads; as the blocks come from the caller, not from the threads, the
    summed counts are bit-identical for any number of threads.
    """
    cdef Py_ssize_t S = offsets.shape[0] - 1
    cdef Py_ssize_t K = startprob.shape[0]
    cdef Py_ssize_t C = X.shape[1]
    cdef Py_ssize_t s, st, T, b
    cdef int tid
    cdef bint do_gamma = gamma.shape[0] > 0
    cdef Py_ssize_t B = _hmm_check_blocks(block_ptr, S, cstart, ctrans, cemit, want_counts,
                                          alpha_scratch, work, n_threads)
    for b in prange(B, nogil=True, schedule="dynamic", chunksize=1, num_threads=n_threads):
        tid = threadid()
        for s in range(block_ptr[b], block_ptr[b + 1]):
            st = offsets[s]
            T = offsets[s + 1] - st
            status[s] = _hmm_fb_codes(
                T, K, &startprob[0], &transmat[0, 0], &transT[0, 0],
                &X[st, 0], C, &choff[0], &emitT[0, 0],
                &alpha_scratch[tid, 0], &scale_scratch[tid, 0] if use_scale else <double*>NULL,
                &work[tid, 0],
                &loglik[s], &bad_t[s],
                &gamma[st, 0] if do_gamma else <double*>NULL,
                &cstart[b, 0] if want_counts else <double*>NULL,
                &ctrans[b, 0] if want_counts else <double*>NULL,
                &cemit[b, 0] if want_counts else <double*>NULL)


cdef Py_ssize_t _hmm_check_blocks(const int64_t[::1] block_ptr, Py_ssize_t S,
                                  double[:, ::1] cstart, double[:, ::1] ctrans,
                                  double[:, ::1] cemit, bint want_counts,
                                  double[:, ::1] alpha_scratch, double[:, ::1] work,
                                  int n_threads) except -1:
    # block_ptr must run from 0 to S without going back (the kernel trusts it)
    cdef Py_ssize_t B = block_ptr.shape[0] - 1, b
    if B < 1 or block_ptr[0] != 0 or block_ptr[B] != S:
        raise ValueError("hmm kernel: block_ptr must start at 0 and end at the number of "
                         "sequences.")
    for b in range(B):
        if block_ptr[b + 1] < block_ptr[b]:
            raise ValueError("hmm kernel: block_ptr must be non-decreasing.")
    if want_counts and (cstart is not None and cstart.shape[0] < B
                        or ctrans is not None and ctrans.shape[0] < B
                        or cemit is not None and cemit.shape[0] < B):
        raise ValueError("hmm kernel: the count slabs need one row per block.")
    if alpha_scratch.shape[0] < n_threads or work.shape[0] < n_threads:
        raise ValueError("hmm kernel: the scratch buffers need one row per thread.")
    return B


def hmm_fb_frames(const floating[:, ::1] frame,       # IN  (N, K) emission likelihoods >= 0
                  const int64_t[::1] offsets,         # IN  (S + 1,)
                  const int64_t[::1] block_ptr,       # IN  (B + 1,) blocks of sequences
                  const double[::1] startprob,        # IN  (K,)
                  const double[:, ::1] transmat,      # IN  (K, K)
                  const double[:, ::1] transT,        # IN  (K, K) transmat.T, C-contiguous
                  double[::1] loglik,                 # OUT (S,)
                  int32_t[::1] status,                # OUT (S,)
                  int64_t[::1] bad_t,                 # OUT (S,)
                  double[:, ::1] alpha_scratch,       # SCRATCH (n_threads, max_len * K)
                  double[:, ::1] scale_scratch,       # SCRATCH (n_threads, max_len) if use_scale
                  double[:, ::1] work,                # SCRATCH (n_threads, 7 K)
                  double[:, ::1] ctrans,              # INOUT (B, K * K), zeroed; counts =
                                                      #   transmat * sum over blocks
                  floating[:, ::1] gamma,             # OUT (N, K) posteriors, or (0, K) to skip
                  bint want_trans,
                  bint use_scale,
                  int n_threads):
    """Scaled forward-backward over caller-supplied emission likelihoods.

    Same algorithm as :func:`hmm_estep_codes` with ``b_t = frame[t]``; the
    posteriors have the dtype of ``frame``, all sums are in float64.
    """
    cdef Py_ssize_t S = offsets.shape[0] - 1
    cdef Py_ssize_t K = startprob.shape[0]
    cdef Py_ssize_t s, st, T, b
    cdef int tid
    cdef bint do_gamma = gamma.shape[0] > 0
    cdef int32_t dummy_x = 0
    cdef int64_t dummy_off = 0
    cdef double dummy_emit = 1.0
    cdef Py_ssize_t B = _hmm_check_blocks(block_ptr, S, None, ctrans, None, want_trans,
                                          alpha_scratch, work, n_threads)
    for b in prange(B, nogil=True, schedule="dynamic", chunksize=1, num_threads=n_threads):
        tid = threadid()
        for s in range(block_ptr[b], block_ptr[b + 1]):
            st = offsets[s]
            T = offsets[s + 1] - st
            status[s] = _hmm_fb_seq(
                T, K, &startprob[0], &transmat[0, 0], &transT[0, 0], &frame[st, 0],
                &dummy_x, 0, &dummy_off, &dummy_emit,
                &alpha_scratch[tid, 0], &scale_scratch[tid, 0] if use_scale else <double*>NULL,
                &work[tid, 0],
                &loglik[s], &bad_t[s],
                &gamma[st, 0] if do_gamma else <floating*>NULL,
                <double*>NULL,
                &ctrans[b, 0] if want_trans else <double*>NULL,
                <double*>NULL)


cdef int _hmm_viterbi_seq(Py_ssize_t T, Py_ssize_t K,
                          const double* logpi,         # IN  (K,)
                          const double* logAT,         # IN  (K, K) transposed: logAT[k, j] = log A[j, k]
                          const floating* frame,       # IN  (T, K) log emission likelihoods, or NULL
                          const int32_t* x, Py_ssize_t C,
                          const int64_t* choff,        # IN  (C + 1,)
                          const double* logemitT,      # IN  (sum M, K)
                          double* work,                # SCRATCH (3 K,)
                          int32_t* bp,                 # SCRATCH (T, K) back pointers
                          int32_t* path,               # OUT (T,)
                          double* logp_out,            # OUT scalar: log p(x, best path)
                          int64_t* bad_t) noexcept nogil:
    cdef double* b = work
    cdef double* prev = work + K
    cdef double* cur = work + 2 * K
    cdef double* sw
    cdef double best, v
    cdef Py_ssize_t t, j, k
    cdef int32_t arg
    cdef const double* lrow
    for t in range(T):
        if frame != NULL:
            for k in range(K):
                b[k] = <double>frame[t * K + k]
        else:
            _hmm_log_emit_vec(x + t * C, C, choff, logemitT, K, b)
        if t == 0:
            for k in range(K):
                cur[k] = logpi[k] + b[k]
        else:
            for k in range(K):
                lrow = logAT + k * K
                best = prev[0] + lrow[0]
                arg = 0
                for j in range(1, K):
                    v = prev[j] + lrow[j]
                    if v > best:
                        best = v
                        arg = <int32_t>j
                bp[t * K + k] = arg
                cur[k] = best + b[k]
        best = cur[0]
        for k in range(1, K):
            if cur[k] > best:
                best = cur[k]
        if not (best > -INFINITY):
            bad_t[0] = t
            return 1
        sw = prev
        prev = cur
        cur = sw
    best = prev[0]
    arg = 0
    for k in range(1, K):
        if prev[k] > best:
            best = prev[k]
            arg = <int32_t>k
    logp_out[0] = best
    path[T - 1] = arg
    t = T - 1
    while t > 0:
        arg = bp[t * K + arg]
        path[t - 1] = arg
        t -= 1
    return 0


def hmm_viterbi(const int32_t[:, ::1] X,            # IN  (N, C) codes (used when frame has 0 rows)
                const floating[:, ::1] frame,       # IN  (N, K) log emission likelihoods, or (0, K)
                const int64_t[::1] offsets,         # IN  (S + 1,)
                const double[::1] logstart,         # IN  (K,)
                const double[:, ::1] logtransT,     # IN  (K, K) transposed log transition matrix
                const double[:, ::1] logemitT,      # IN  (sum M + 1, K) stacked transposed log tables + zeros row
                const int64_t[::1] choff,           # IN  (C + 1,)
                int32_t[::1] path,                  # OUT (N,) most likely states
                double[::1] logprob,                # OUT (S,) log p(x_s, best path)
                int32_t[::1] status,                # OUT (S,) 0 ok, 1 every path has probability 0
                int64_t[::1] bad_t,                 # OUT (S,)
                int32_t[:, ::1] backptr,            # SCRATCH (N, K)
                double[:, ::1] work,                # SCRATCH (n_threads, 3 K)
                int n_threads):
    """Log-space Viterbi per sequence, emissions from codes or from log frames.

    Ties are broken towards the lowest state index (as ``numpy.argmax``).
    """
    cdef Py_ssize_t S = offsets.shape[0] - 1
    cdef Py_ssize_t K = logstart.shape[0]
    cdef Py_ssize_t C = X.shape[1]
    cdef Py_ssize_t s, st, T
    cdef int tid
    cdef bint use_frame = frame.shape[0] > 0
    for s in prange(S, nogil=True, schedule="dynamic", num_threads=n_threads):
        tid = threadid()
        st = offsets[s]
        T = offsets[s + 1] - st
        status[s] = _hmm_viterbi_seq(
            T, K, &logstart[0], &logtransT[0, 0],
            &frame[st, 0] if use_frame else <const floating*>NULL,
            &X[st, 0] if not use_frame else <const int32_t*>NULL, C, &choff[0],
            &logemitT[0, 0], &work[tid, 0], &backptr[st, 0], &path[st],
            &logprob[s], &bad_t[s])
