# The SQUAREM step of emfast.accel (included by _kernels.pyx). See that file for conventions.
#
# Not a loop over rows: these run over the parameters (every table of θ as one vector,
# a few hundred to a few thousand entries). They exist because the same arithmetic and
# checks in numpy took ~30 array calls per SQUAREM cycle, 35-40 us on a 150-entry model,
# as much as a small latent class model's E-step (house votes: ~35 us), so the
# accelerator's bookkeeping showed in the wall time of every small fit. One pass here
# costs ~1 us plus the call. squarem_boundary (the shortened step of an infeasible
# proposal) replaced ~25 more numpy calls, 60-140 us per infeasible proposal, on the
# rows where they are frequent (DJIA: propose 20 -> 9 us per call, bench/accel_overhead.py).
#
# Arithmetic per entry is numpy's (the Python version it replaced, kept in
# tests/test_accel.py as the oracle): r = θ1 - θ0, v = (θ2 - 2 θ1) + θ0,
# θ' = (θ0 + (2α) r) + (α²) v, in that order (bit-equal unless the compiler fuses
# multiply-adds; the x86-64 portable build has no FMA).

from libc.math cimport INFINITY, copysign, fabs, fmax, fmin, isfinite, sqrt


def squarem_norms(const double[::1] t0,       # IN  (n,) the base θ0, all tables as one vector
                  const double[::1] t1,       # IN  (n,) θ1 = F(θ0)
                  const double[::1] t2):      # IN  (n,) θ2 = F(θ1)
    """(||r||², ||v||²) with r = θ1 - θ0 and v = θ2 - 2 θ1 + θ0 (equal lengths:
    checked by the caller)."""
    cdef Py_ssize_t i, n = t0.shape[0]
    cdef double r, v, sr = 0.0, sv = 0.0
    with nogil:
        for i in range(n):
            r = t1[i] - t0[i]
            v = t2[i] - 2.0 * t1[i] + t0[i]
            sr += r * r
            sv += v * v
    return sr, sv


def squarem_point(const double[::1] t0,       # IN  (n,) θ0
                  const double[::1] t1,       # IN  (n,) θ1
                  const double[::1] t2,       # IN  (n,) θ2
                  const int64_t[::1] bounds,  # IN  (m + 1,) table b is [bounds[b], bounds[b+1]),
                                              #     0 = bounds[0] <= ... <= bounds[m] = n
                  double alpha,               # IN  the step length
                  double sum_rtol,            # IN  allowed drift of a table's total
                  double[::1] out):           # OUT (n,) θ' = θ0 + 2α r + α² v (partly written
                                              #     when infeasible)
    """Write the SQUAREM point for step ``alpha`` into ``out`` and return 0 when it is
    feasible, else a code for the first failed condition met in order of entries: 1 an entry not finite or outside [0, 1];
    3 a cell positive in θ2 is <= 0; 4 a cell that is 0 in θ1 and θ2 is not 0; 2 a
    table's total differs from θ2's by more than ``sum_rtol * max(total, 1)``. The
    caller checks lengths and bounds."""
    cdef Py_ssize_t b, i, lo, hi, m = bounds.shape[0] - 1
    cdef double a2 = 2.0 * alpha, aa = alpha * alpha
    cdef double r, v, c, x2, tot, tot2
    cdef int code = 0
    with nogil:
        for b in range(m):
            lo = <Py_ssize_t>bounds[b]
            hi = <Py_ssize_t>bounds[b + 1]
            tot = 0.0
            tot2 = 0.0
            for i in range(lo, hi):
                x2 = t2[i]
                r = t1[i] - t0[i]
                v = x2 - 2.0 * t1[i] + t0[i]
                c = t0[i] + a2 * r + aa * v
                out[i] = c
                if not (c >= 0.0 and c <= 1.0):     # also NaN
                    code = 1
                    break
                if x2 > 0.0:
                    if c <= 0.0:                    # no row the data contain may become
                        code = 3                    # impossible
                        break
                elif x2 == 0.0 and t1[i] == 0.0 and c != 0.0:
                    code = 4                        # a zero of the EM map must stay zero
                    break
                tot += c
                tot2 += x2
            if code:
                break
            if hi > lo and fabs(tot - tot2) > sum_rtol * fmax(tot2, 1.0):
                code = 2
                break
    return code


def squarem_boundary(const double[::1] t0,    # IN  (n,) θ0
                     const double[::1] t1,    # IN  (n,) θ1
                     const double[::1] t2,    # IN  (n,) θ2
                     double alpha_max,        # IN  the SqS3 step (> 1) that was infeasible
                     double[::1] lo,          # OUT (n,) scratch: starts of the bad intervals
                     double[::1] hi):         # OUT (n,) scratch: their ends (inf: unbounded)
    """The largest α in [1, ``alpha_max``] at which no entry of θ0 + 2α r + α² v that is
    positive in θ2 is <= 0 (``emfast.accel._largest_feasible``; only infeasible
    proposals come here). Each such entry is a quadratic ``a + bα + cα²`` with
    ``a = θ0``, ``b = 2r``, ``c = v``, >= 0 at α = 1; the α where it is negative form at
    most one interval per entry: between the roots when ``c > 0``, beyond the larger
    root when ``c < 0``, beyond ``-a/b`` when ``c = 0`` and ``b < 0``. From
    ``alpha_max`` down, α is moved just below the start of every interval it is in
    (``(1 - 1e-9)`` times it) until it is in none, or reaches 1. The arithmetic and the
    order of its operations are those of the numpy version it replaced (the oracle in
    tests/test_accel.py); the roots use the stable form ``q = -(b + sign(b) √disc) / 2``,
    ``q / c`` and ``a / q``, with ``fmin``/``fmax`` ignoring a NaN (0/0) root."""
    cdef Py_ssize_t i, j, it, k = 0, n = t0.shape[0]
    cdef double a, b, c, disc, sq, q, ra, rb, rlo, rhi, lft, rgt, alpha, low
    cdef bint bad, found
    cdef double inf = INFINITY
    with nogil:
        for i in range(n):
            if not t2[i] > 0.0:                     # also NaN: no constraint
                continue
            a = t0[i]
            b = 2.0 * (t1[i] - t0[i])
            c = t2[i] - 2.0 * t1[i] + t0[i]
            bad = False
            if c > 0.0 or c < 0.0:
                disc = b * b - 4.0 * a * c
                if disc != disc:
                    sq = disc                       # NaN, as np.maximum gives
                else:
                    sq = sqrt(fmax(disc, 0.0))
                q = -0.5 * (b + copysign(sq, b))
                ra = q / c                          # cdivision: IEEE inf / NaN, no raise
                rb = a / q
                rlo = fmin(ra, rb)
                rhi = fmax(ra, rb)
                if c > 0.0:
                    if disc > 0.0 and rhi > 1.0:    # negative between the roots
                        bad = True
                        lft = rlo
                        rgt = rhi
                else:                               # c < 0: negative beyond the larger root
                    bad = True
                    lft = rhi
                    rgt = inf
            elif c == 0.0 and b < 0.0:              # linear: negative beyond -a/b
                bad = True
                lft = -a / b
                rgt = inf
            if bad and isfinite(lft) and lft < alpha_max:
                lo[k] = fmax(lft, 1.0)
                hi[k] = rgt
                k += 1
        alpha = alpha_max
        found = True
        for it in range(k + 1):
            found = False
            low = inf
            for j in range(k):
                lft = lo[j]
                rgt = hi[j]
                if (lft < alpha and alpha < rgt) or (lft < alpha and not isfinite(rgt)) \
                        or lft == alpha:
                    found = True
                    low = fmin(low, lft)
            if not found:                           # in no interval: feasible
                break
            alpha = low * (1.0 - 1e-9)
            if alpha <= 1.0:
                break
    if found:                                       # down to 1, or out of passes
        return 1.0
    return alpha
