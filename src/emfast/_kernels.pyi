"""Type stubs for the compiled module ``emfast._kernels``.

Arrays are numpy arrays of the dtypes named in each kernel's docstring;
``floating`` arguments accept float32 or float64 (one dtype per call).
"""
import numpy as np
from numpy.typing import NDArray

# ---------------------------------------------------------------- common
def openmp_enabled() -> bool: ...
def max_threads() -> int: ...
def debug_build() -> bool: ...
def unique_rows(X: NDArray[np.int32], first: NDArray[np.int64],
                inverse: NDArray[np.int64]) -> int: ...

# ---------------------------------------------------------------- HMM
def hmm_estep_codes(X: NDArray[np.int32], offsets: NDArray[np.int64],
                    startprob: NDArray[np.float64], transmat: NDArray[np.float64],
                    transT: NDArray[np.float64], emitT: NDArray[np.float64], choff: NDArray[np.int64],
                    loglik: NDArray[np.float64], status: NDArray[np.int32],
                    bad_t: NDArray[np.int64], alpha_scratch: NDArray[np.float64],
                    scale_scratch: NDArray[np.float64], work: NDArray[np.float64],
                    cstart: NDArray[np.float64], ctrans: NDArray[np.float64],
                    cemit: NDArray[np.float64], gamma: NDArray[np.float64],
                    want_counts: bool, use_scale: bool, n_threads: int) -> None: ...
def hmm_fb_frames(frame: NDArray[np.floating], offsets: NDArray[np.int64],
                  startprob: NDArray[np.float64], transmat: NDArray[np.float64],
                  transT: NDArray[np.float64], loglik: NDArray[np.float64], status: NDArray[np.int32],
                  bad_t: NDArray[np.int64], alpha_scratch: NDArray[np.float64],
                  scale_scratch: NDArray[np.float64], work: NDArray[np.float64],
                  ctrans: NDArray[np.float64], gamma: NDArray[np.floating],
                  want_trans: bool, use_scale: bool, n_threads: int) -> None: ...
def hmm_viterbi(X: NDArray[np.int32], frame: NDArray[np.floating], offsets: NDArray[np.int64],
                logstart: NDArray[np.float64], logtransT: NDArray[np.float64],
                logemitT: NDArray[np.float64], choff: NDArray[np.int64],
                path: NDArray[np.int32], logprob: NDArray[np.float64],
                status: NDArray[np.int32], bad_t: NDArray[np.int64],
                backptr: NDArray[np.int32], work: NDArray[np.float64],
                n_threads: int) -> None: ...
