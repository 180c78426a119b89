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
def code_summary(X: NDArray[np.int32], lo: NDArray[np.int32], hi: NDArray[np.int32]) -> int: ...
def unique_rows(X: NDArray[np.int32], first: NDArray[np.int64],
                inverse: NDArray[np.int64]) -> int: ...

# ---------------------------------------------------------------- HMM
# (also in emfast._kernels_avx2, the same source compiled with -mavx2 -mfma)
def simd_width() -> int: ...
def cpu_has_avx2_fma() -> bool: ...
def lane_variants() -> tuple[list[int], list[int]]: ...
def hmm_arena_doubles(Tmax_lanes: int, Tmax_single: int, K: int, Kp: int, L: int,
                      ckpt: int) -> int: ...
def hmm_plan_groups(order: NDArray[np.int64], lengths: NDArray[np.int64],
                    block_ptr: NDArray[np.int64], L: int, lane_cap: int,
                    grp_ptr: NDArray[np.int64], blk_grp: NDArray[np.int64]) -> int: ...
def hmm_fb(X: NDArray[np.int32], frame64: NDArray[np.float64], frame32: NDArray[np.float32],
           offsets: NDArray[np.int64], order: NDArray[np.int64], grp_ptr: NDArray[np.int64],
           blk_grp: NDArray[np.int64], startprob: NDArray[np.float64],
           transmat: NDArray[np.float64], transT: NDArray[np.float64],
           start_p: NDArray[np.float64], trans_p: NDArray[np.float64],
           transT_p: NDArray[np.float64], emitT: NDArray[np.float64], choff: NDArray[np.int64],
           miss: NDArray[np.int32], ones64: NDArray[np.float64], ones32: NDArray[np.float32],
           loglik: NDArray[np.float64], status: NDArray[np.int32], bad_t: NDArray[np.int64],
           arena: NDArray[np.float64], cstart: NDArray[np.float64],
           ctrans: NDArray[np.float64], cemit: NDArray[np.float64],
           gamma64: NDArray[np.float64], gamma32: NDArray[np.float32], U: int, ckpt: int,
           want_counts: bool, n_threads: int) -> None: ...
def hmm_viterbi(X: NDArray[np.int32], frame: NDArray[np.floating], offsets: NDArray[np.int64],
                logstart: NDArray[np.float64], logtransT: NDArray[np.float64],
                logemitT: NDArray[np.float64], choff: NDArray[np.int64],
                path: NDArray[np.int32], logprob: NDArray[np.float64],
                status: NDArray[np.int32], bad_t: NDArray[np.int64],
                backptr: NDArray[np.int32], work: NDArray[np.float64],
                n_threads: int) -> None: ...

# ---------------------------------------------------------------- latent class models
def lca_log_tables(
    w: NDArray[np.float64],          # IN  (K,)
    items: NDArray[np.float64],      # IN  (K, S), any strides
    log_w: NDArray[np.float64],      # OUT (K,)
    log_items: NDArray[np.float64],  # OUT (S, K)
) -> None: ...


def lca_estep(
    X: NDArray[np.int32],            # IN  (n, J) codes, -1 = missing
    row_weights: NDArray[np.float64],  # IN  (n,)
    log_w: NDArray[np.float64],      # IN  (K,)
    log_items: NDArray[np.float64],  # IN  (S, K)
    offsets: NDArray[np.int64],      # IN  (J,)
    post: NDArray[np.float64],       # OUT (n, K)
    loglik: NDArray[np.float64],     # OUT (n,)
    status: NDArray[np.int32],       # OUT (n,)
    wcounts: NDArray[np.float64],    # INOUT (K,) expected class counts, added to
    icounts: NDArray[np.float64],    # INOUT (S, K) expected item counts, added to
    accumulate: bool,
    n_blocks: int,                   # IN  blocks of rows (emfast._blocks.plan_blocks)
    n_threads: int,
) -> tuple[float, int]: ...  # (sum row_weights * loglik, rows with status 1)

# ---------------------------------------------------------------- Bayesian networks
def bn_infer(
    X: NDArray[np.int32], weights: NDArray[np.float64], theta: NDArray[np.float64],
    clq_ptr: NDArray[np.int32], clq_vars: NDArray[np.int32], clq_off: NDArray[np.int64], order: NDArray[np.int32],
    parent: NDArray[np.int32], card: NDArray[np.int32], sep_off: NDArray[np.int64],
    t_ptr: NDArray[np.int32], t_kind: NDArray[np.int32], t_ref: NDArray[np.int64], nz_ptr: NDArray[np.int64], nz_pos: NDArray[np.int32],
    nz_stride: NDArray[np.int64], vt_ptr: NDArray[np.int64], vt_t: NDArray[np.int32], vt_stride: NDArray[np.int64], map_off: NDArray[np.int64],
    up_tgt: NDArray[np.int32], down_tgt: NDArray[np.int32],
    counts: NDArray[np.float64], qout: NDArray[np.float64], ll: NDArray[np.float64], status: NDArray[np.int32],
    fbuf: NDArray[np.float64], ibuf: NDArray[np.int32], lbuf: NDArray[np.int64],
    do_counts: bool, do_query: bool, n_threads: int,
) -> None: ...
def bn_complete(
    X: NDArray[np.int32], theta: NDArray[np.float64],
    clq_ptr: NDArray[np.int32], clq_vars: NDArray[np.int32], clq_off: NDArray[np.int64], order: NDArray[np.int32],
    parent: NDArray[np.int32], card: NDArray[np.int32], sep_off: NDArray[np.int64],
    t_ptr: NDArray[np.int32], t_kind: NDArray[np.int32], t_ref: NDArray[np.int64], nz_ptr: NDArray[np.int64], nz_pos: NDArray[np.int32],
    nz_stride: NDArray[np.int64], vt_ptr: NDArray[np.int64], vt_t: NDArray[np.int32], vt_stride: NDArray[np.int64], map_off: NDArray[np.int64],
    up_tgt: NDArray[np.int32], down_tgt: NDArray[np.int32],
    u: NDArray[np.float64], out: NDArray[np.int32], score: NDArray[np.float64], status: NDArray[np.int32],
    fbuf: NDArray[np.float64], ibuf: NDArray[np.int32], lbuf: NDArray[np.int64],
    maxprod: bool, n_threads: int,
) -> None: ...

# ---------------------------------------------------------------- SQUAREM (emfast.accel)
def squarem_norms(t0: NDArray[np.float64], t1: NDArray[np.float64],
                  t2: NDArray[np.float64]) -> tuple[float, float]: ...
def squarem_point(t0: NDArray[np.float64], t1: NDArray[np.float64], t2: NDArray[np.float64],
                  bounds: NDArray[np.int64], alpha: float, sum_rtol: float,
                  out: NDArray[np.float64]) -> int: ...
def squarem_boundary(t0: NDArray[np.float64], t1: NDArray[np.float64], t2: NDArray[np.float64],
                     alpha_max: float, lo: NDArray[np.float64],
                     hi: NDArray[np.float64]) -> float: ...

# ---------------------------------------------------------------- M-step (emfast.em.normalize)
def normalize_rows(counts: NDArray[np.float64], pseudo: NDArray[np.float64],
                   starts: NDArray[np.int64], clip: bool,
                   out: NDArray[np.float64]) -> int: ...
