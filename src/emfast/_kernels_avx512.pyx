"""The HMM kernels of ``emfast._kernels`` compiled for x86-64 CPUs with AVX-512.

Same source (``_kernels_hmm.pxi``, rendered from ``_kernels_hmm.pxi.in``), built by
setup.py with ``-mavx512f -mavx512dq -mavx512vl -mavx2 -mfma``: eight doubles per
vector and fused multiply-adds. ``emfast.kernels`` imports this module only when the
running CPU and OS report these features (``_kernels.cpu_has_avx512()``), so that a
wheel built for every x86-64 CPU still runs everywhere. Never import it directly.
"""

include "_kernels_simd.pxi"
