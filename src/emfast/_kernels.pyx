"""emfast numeric kernels.

Only loops whose cost grows with the number of rows or time steps live here,
the SQUAREM step (``_kernels_accel.pxi``: serial passes over the parameters that
replaced ~30 numpy calls, which cost as much as a small model's E-step), and the
M-step's normalisation of one count table (``_kernels_mstep.pxi``, for the same reason).
Every kernel takes typed memoryviews and scalars, never Python objects; all
checking (shapes, dtypes, ranges, contiguity) happens in the Python callers
before a kernel is entered, so a kernel cannot read out of bounds (the build
turns ``boundscheck`` off unless ``EMFAST_CYTHON_DEBUG=1``).

Conventions (see docs/kernels.md):

* observations are ``int32`` codes, ``-1`` marks a missing value;
* every argument carries an ``# IN`` / ``# OUT`` / ``# INOUT`` comment;
* a kernel never raises inside ``nogil``: it writes a status per sequence/row
  into an ``int32`` OUT array and the Python wrapper raises;
* parallel loops (``prange``) run over blocks of consecutive rows / sequences
  chosen from the data alone (never from the thread count); each block adds
  into its own slab of an accumulator, the slabs are summed in block order, so
  results are bit-identical for any number of threads (docs/kernels.md).

The model-specific kernels are kept in include files (one per model family) so
that they can be read, reviewed and changed separately; they all compile into
this single extension module ``emfast._kernels``.
"""

cimport cython
from libc.stdlib cimport malloc, free, calloc
from libc.stdint cimport int64_t, uint64_t, int32_t, uint32_t
from cython.parallel cimport prange, threadid

ctypedef fused floating:
    float
    double

cdef extern from *:
    """
    #if EMFAST_HAVE_OPENMP
    #include <omp.h>
    static int emfast_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int emfast_max_threads(void) { return 1; }
    #endif
    """
    int EMFAST_HAVE_OPENMP
    int EMFAST_DEBUG_BUILD
    int emfast_max_threads() nogil


def openmp_enabled():
    """Return True when the kernels were compiled with OpenMP."""
    return bool(EMFAST_HAVE_OPENMP)


def max_threads():
    """Return OpenMP's default number of threads (1 without OpenMP)."""
    return emfast_max_threads()


def debug_build():
    """Return True when compiled with EMFAST_CYTHON_DEBUG=1 (bounds checking on)."""
    return bool(EMFAST_DEBUG_BUILD)


# ---------------------------------------------------------------------------
# Row compression: hash distinct rows of an int32 matrix in one pass.
# ---------------------------------------------------------------------------

cdef inline uint64_t _mix64(uint64_t h) noexcept nogil:
    # splitmix64 finaliser: good avalanche for consecutive small integers
    h ^= h >> 30
    h *= <uint64_t>0xbf58476d1ce4e5b9ULL
    h ^= h >> 27
    h *= <uint64_t>0x94d049bb133111ebULL
    h ^= h >> 31
    return h


cdef inline uint64_t _row_hash(const int32_t[:, ::1] X, Py_ssize_t i,
                               Py_ssize_t d) noexcept nogil:
    # Two codes per step, packed into one 64-bit word: rotate, xor, one multiply (a
    # bijection of h for each word, so no step loses what came before), and the
    # splitmix avalanche once at the end. A splitmix round per code (as before
    # 2026-12-03) was a chain of ~10 cycles per code and set the pace of compress_rows
    # when the distinct rows fit in cache (GSS abortion, 45,599 x 7: 23 ns a row).
    # Collisions cost only time: equal hashes are always checked by _rows_equal.
    cdef uint64_t h = <uint64_t>0x9e3779b97f4a7c15ULL ^ <uint64_t>d
    cdef uint64_t w
    cdef Py_ssize_t j = 0
    while j + 1 < d:
        w = (<uint64_t>(<uint32_t>X[i, j])) | ((<uint64_t>(<uint32_t>X[i, j + 1])) << 32)
        h = (((h << 23) | (h >> 41)) ^ w) * <uint64_t>0x9fb21c651e98df25ULL
        j += 2
    if j < d:
        h = (((h << 23) | (h >> 41)) ^ <uint64_t>(<uint32_t>X[i, j])) \
            * <uint64_t>0x9fb21c651e98df25ULL
    return _mix64(h)


cdef inline bint _rows_equal(const int32_t[:, ::1] X, Py_ssize_t a, Py_ssize_t b,
                             Py_ssize_t d) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(d):
        if X[a, j] != X[b, j]:
            return False
    return True


cdef Py_ssize_t _unique_rows(const int32_t[:, ::1] X, int64_t[::1] first,
                             int64_t[::1] inverse) noexcept nogil:
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1]
    cdef Py_ssize_t i, u = 0, slot, cap = 1024, new_cap, k
    cdef uint64_t h, mask
    cdef int64_t r
    cdef int64_t* table = <int64_t*>malloc(cap * sizeof(int64_t))
    cdef uint64_t* hashes = <uint64_t*>malloc(cap * sizeof(uint64_t))
    cdef int64_t* new_table
    cdef uint64_t* new_hashes
    if table == NULL or hashes == NULL:
        free(table)
        free(hashes)
        return -1
    for k in range(cap):
        table[k] = -1
    mask = cap - 1
    for i in range(n):
        h = _row_hash(X, i, d)
        slot = <Py_ssize_t>(h & mask)
        while True:
            r = table[slot]
            if r < 0:
                table[slot] = u
                hashes[slot] = h
                first[u] = i
                inverse[i] = u
                u += 1
                break
            if hashes[slot] == h and _rows_equal(X, first[r], i, d):
                inverse[i] = r
                break
            slot = (slot + 1) & mask
        if 2 * u > cap:
            # grow to keep the load factor at most 1/2, then rehash
            new_cap = 4 * cap
            new_table = <int64_t*>malloc(new_cap * sizeof(int64_t))
            new_hashes = <uint64_t*>malloc(new_cap * sizeof(uint64_t))
            if new_table == NULL or new_hashes == NULL:
                free(table)
                free(hashes)
                free(new_table)
                free(new_hashes)
                return -1
            for k in range(new_cap):
                new_table[k] = -1
            mask = new_cap - 1
            for k in range(cap):
                if table[k] >= 0:
                    slot = <Py_ssize_t>(hashes[k] & mask)
                    while new_table[slot] >= 0:
                        slot = (slot + 1) & mask
                    new_table[slot] = table[k]
                    new_hashes[slot] = hashes[k]
            free(table)
            free(hashes)
            table = new_table
            hashes = new_hashes
            cap = new_cap
    free(table)
    free(hashes)
    return u


def unique_rows(const int32_t[:, ::1] X,      # IN  (n, d) codes
                int64_t[::1] first,           # OUT (n,) row index of each distinct row (first u used)
                int64_t[::1] inverse):        # OUT (n,) distinct-row id of every row
    """Find the distinct rows of ``X`` with an open-addressing hash table.

    Distinct rows are numbered in order of first occurrence. Returns the number
    of distinct rows ``u`` (``first[:u]`` holds their row indices), or -1 if
    the hash table could not be allocated. Expected cost O(n d), no sort.
    """
    cdef Py_ssize_t u
    with nogil:
        u = _unique_rows(X, first, inverse)
    return u


def code_summary(const int32_t[:, ::1] X,    # IN  (n, d) codes, -1 = missing
                 int32_t[::1] lo,             # OUT (d,) smallest code of each column
                 int32_t[::1] hi):            # OUT (d,) largest code of each column
    """Per-column range of a code matrix and the number of rows with an observed code
    (one that is not -1), in one serial pass over the rows. numpy's reductions across
    a C-ordered matrix of few columns (``X.max(axis=0)``, ``(X != -1).any(axis=1)``)
    step through one short row at a time: ~15 ns a row each (GSS abortion, 45,599 x 7:
    0.65 ms per call), more than the E-step of the fit that needed them. For n = 0,
    ``lo`` is INT32_MAX and ``hi`` INT32_MIN. ``lo`` and ``hi`` must have d entries
    (a ValueError, before any is written, otherwise)."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i, j
    cdef int32_t v
    cdef int64_t n_obs = 0
    cdef bint seen
    if lo.shape[0] != d or hi.shape[0] != d:
        raise ValueError("code_summary: lo and hi need one entry per column of X.")
    with nogil:
        for j in range(d):
            lo[j] = 2147483647
            hi[j] = -2147483648
        for i in range(n):
            seen = False
            for j in range(d):
                v = X[i, j]
                if v < lo[j]:
                    lo[j] = v
                if v > hi[j]:
                    hi[j] = v
                seen = seen | (v != -1)
            n_obs += seen
    return n_obs


def codes_to_int32(const int64_t[:] src,       # IN  (n,) int64 codes, any stride
                   int32_t[::1] dst,           # OUT (n,) the same codes as int32
                   int64_t card,               # IN  codes must lie in -1 .. card - 1
                   int64_t[::1] bad,           # OUT (nb,) per block: first bad index or -1
                   int n_threads):
    """Copy int64 codes to int32 and check them in one parallel pass.

    The rows are cut into ``nb = len(bad)`` blocks of ``ceil(n / nb)``; block ``b``
    writes the index of its first code outside ``-1 .. card - 1`` to ``bad[b]`` (or
    -1) and stops there. Returns the smallest such index, or -1 when every code is
    valid (otherwise ``dst`` is incomplete and must not be used). The blocks come
    from ``nb`` and ``n`` alone, so the answer does not depend on the threads.
    """
    cdef Py_ssize_t n = src.shape[0]
    cdef Py_ssize_t nb = bad.shape[0]
    cdef Py_ssize_t bs, b, i, lo, hi
    cdef int64_t v
    if dst.shape[0] != n or nb < 1:
        raise ValueError("codes_to_int32: dst must have the length of src, bad >= 1 entry.")
    bs = (n + nb - 1) // nb
    for b in prange(nb, nogil=True, schedule="static", num_threads=max(1, n_threads)):
        bad[b] = -1
        lo = b * bs
        hi = min(lo + bs, n)
        for i in range(lo, hi):
            v = <int64_t>src[i]
            if v < -1 or v >= card:
                bad[b] = i
                break
            dst[i] = <int32_t>v
    for b in range(nb):
        if bad[b] >= 0:
            return bad[b]
    return -1


include "_kernels_hmm.pxi"
include "_kernels_bn.pxi"
include "_kernels_lca.pxi"
include "_kernels_accel.pxi"
include "_kernels_mstep.pxi"
