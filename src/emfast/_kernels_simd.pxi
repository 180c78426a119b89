# The body of each SIMD copy of the HMM kernels (_kernels_avx2.pyx, _kernels_avx512.pyx):
# the same declarations as _kernels.pyx and the rendered HMM template. The copies
# differ only by the compile flags setup.py gives them.

cimport cython
from libc.stdint cimport int64_t, uint64_t, int32_t, uint32_t
from cython.parallel cimport prange, threadid

ctypedef fused floating:
    float
    double

include "_kernels_hmm.pxi"
