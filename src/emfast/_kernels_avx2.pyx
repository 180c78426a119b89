"""The HMM kernels of ``emfast._kernels`` compiled for x86-64 CPUs with AVX2 and FMA.

Same source (``_kernels_hmm.pxi``, rendered from ``_kernels_hmm.pxi.in``), built by
setup.py with ``-mavx2 -mfma``: four doubles per vector instead of two and fused
multiply-adds. ``emfast.kernels`` imports this module only when the running CPU
reports both features (``_kernels.cpu_has_avx2_fma()``), so that a wheel built for
every x86-64 CPU still runs on CPUs without them. Never import it directly.
"""

include "_kernels_simd.pxi"
