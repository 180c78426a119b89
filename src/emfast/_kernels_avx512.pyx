"""The HMM kernels of ``emfast._kernels`` compiled for x86-64 CPUs with AVX-512.

Same source (``_kernels_hmm.pxi``, rendered from ``_kernels_hmm.pxi.in``), built by
setup.py with ``-mavx512f -mavx512dq -mavx512vl -mavx2 -mfma``: eight doubles per
vector and fused multiply-adds. ``emfast.kernels`` imports this module only when the
running CPU and OS report these features (``_kernels.cpu_has_avx512()``), so that a
wheel built for every x86-64 CPU still runs everywhere. Never import it directly.
"""

cimport cython
from libc.stdint cimport int64_t, uint64_t, int32_t, uint32_t
from cython.parallel cimport prange, threadid

ctypedef fused floating:
    float
    double

include "_kernels_hmm.pxi"
