# The universal M-step's normalisation (emfast.em.normalize; included by _kernels.pyx).
# See that file for conventions.
#
# Not a loop over rows of data: this runs over the cells of one count table (a few to a
# few thousand). It exists because normalize in numpy is ~20 array calls per table
# (checks, pseudocounts, totals, zero rows, division): ~17 us for a 4 x 4 table and
# ~40 us for a latent class model's two tables, more than the whole E-step of a small
# model (house votes K = 3: ~30 us), so the M-step set the pace of every small fit
# (bench/accel_overhead.py: "M-steps ms"). One pass here costs the call plus ~1 ns a cell.
#
# The result is bit-for-bit that of the numpy path, which stays in em.normalize for
# every case this kernel declines (status != 0) and is its oracle in tests/test_em.py:
# cells are c + a (then max(., 0) with clip), divided by their row's (or segment's)
# total; a total of 0 gives a uniform row (segment). The totals are summed in numpy's
# order: numpy's add.reduce over a contiguous axis is a pairwise sum (blocks of up to
# 128 cells, eight accumulators each; `_pairwise_sum`), and add.reduceat (the segments
# of a packed table) is the first cell plus the pairwise sum of the rest. The kernel
# sums its own C-ordered copy of c + a, so em.normalize sends it only the cases where
# numpy's sum runs over contiguous rows too (C-ordered tables, or segments).


cdef double _pairwise_sum(const double* a, Py_ssize_t n) noexcept nogil:
    """numpy's pairwise summation of ``a[0:n]`` (numpy/_core/src/umath/loops_utils.h:
    the same association of additions, so the same bits)."""
    cdef Py_ssize_t i, n2
    cdef double res, r0, r1, r2, r3, r4, r5, r6, r7
    if n < 8:
        res = -0.0                  # numpy starts at -0.0, which keeps a sum of -0.0s
        for i in range(n):
            res = res + a[i]
        return res
    elif n <= 128:
        r0 = a[0]
        r1 = a[1]
        r2 = a[2]
        r3 = a[3]
        r4 = a[4]
        r5 = a[5]
        r6 = a[6]
        r7 = a[7]
        i = 8
        while i < n - (n % 8):
            r0 = r0 + a[i]
            r1 = r1 + a[i + 1]
            r2 = r2 + a[i + 2]
            r3 = r3 + a[i + 3]
            r4 = r4 + a[i + 4]
            r5 = r5 + a[i + 5]
            r6 = r6 + a[i + 6]
            r7 = r7 + a[i + 7]
            i = i + 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res = res + a[i]
            i = i + 1
        return res
    else:
        n2 = n // 2
        n2 = n2 - n2 % 8
        return _pairwise_sum(a, n2) + _pairwise_sum(a + n2, n - n2)


cdef int _normalize_rows(const double[:, :] counts, const double[:, :] pseudo,
                         const int64_t[::1] starts, bint clip,
                         double[:, ::1] out) noexcept nogil:
    cdef Py_ssize_t i, j, s, lo, hi, ai, aj
    cdef Py_ssize_t R = counts.shape[0], n = counts.shape[1]
    cdef Py_ssize_t ns = starts.shape[0]
    cdef Py_ssize_t ra = pseudo.shape[0], na = pseudo.shape[1]
    cdef double x, p, t, tot, u
    cdef double* row
    if n == 0 or ra != 1 and ra != R or na != 1 and na != n or out.shape[0] != R \
            or out.shape[1] != n:
        return 3
    if ns > 0:
        if starts[0] != 0:
            return 3
        for s in range(1, ns):
            if not (starts[s - 1] < starts[s] < n):
                return 3
    for i in range(R):
        ai = i if ra > 1 else 0
        for j in range(n):
            x = counts[i, j]
            if not (x >= 0.0 and x < INFINITY):         # also NaN
                return 1
            p = pseudo[ai, j if na > 1 else 0]
            if not (p > -INFINITY and p < INFINITY) or (not clip and p < 0.0):
                return 1
            t = x + p
            if not (t < INFINITY):                      # overflow: numpy's guarded path
                return 2
            if clip and not (t > 0.0):                  # np.maximum(t, 0.0), -0.0 -> 0.0
                t = 0.0
            out[i, j] = t
        row = &out[i, 0]
        for s in range(max(ns, 1)):
            lo = starts[s] if ns > 0 else 0
            hi = starts[s + 1] if s + 1 < ns else n
            if ns > 0:
                tot = row[lo]
                if hi - lo > 1:
                    tot = tot + _pairwise_sum(row + lo + 1, hi - lo - 1)
            else:
                tot = _pairwise_sum(row, n)
            if not (tot < INFINITY):
                return 2
            if tot <= 0.0:
                u = 1.0 / <double>(hi - lo)
                for j in range(lo, hi):
                    row[j] = u
            else:
                for j in range(lo, hi):
                    row[j] = row[j] / tot
    return 0


def normalize_rows(const double[:, :] counts,   # IN  (R, n) expected counts, a row per
                                                #     parent configuration (any strides)
                   const double[:, :] pseudo,   # IN  (1 or R, 1 or n) pseudocounts,
                                                #     broadcast over counts
                   const int64_t[::1] starts,    # IN  (s,) starts of a row's segments
                                                #     (0 = starts[0] < ... < n), summed as
                                                #     add.reduceat does; or (0,) empty:
                                                #     the whole row, summed as add.reduce
                   bint clip,                   # IN  max(counts + pseudo, 0) (hmmlearn)
                   double[:, ::1] out):         # OUT (R, n) the normalised rows (partly
                                                #     written when the status is not 0)
    """Normalise each row (or each segment of a row) of ``counts + pseudo`` into
    ``out`` and return 0, or decline with the first reason met: 1 a count that is
    not finite and >= 0, or a pseudocount not finite (or negative without ``clip``);
    2 a cell or a total that overflows; 3 shapes or segment starts that do not fit.
    The caller then takes em.normalize's numpy path, which raises or handles it."""
    cdef int status
    with nogil:
        status = _normalize_rows(counts, pseudo, starts, clip, out)
    return status
