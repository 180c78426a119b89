"""Public low-level HMM kernels for other libraries.

These functions run emfast's compiled forward-backward and Viterbi loops on
emission likelihoods that *you* compute (Gaussian, Poisson, neural network
outputs, ...). They validate every input in Python, then run a ``nogil``
kernel in parallel over sequences.

Functions
---------
forward_backward(frame_likelihood, startprob, transmat, lengths=None, *, log=False, n_jobs=None)
    -> (loglik per sequence (n_sequences,), posteriors (n_samples, K), transition counts (K, K))
viterbi(frame_loglik, startprob, transmat, lengths=None, *, log=True, n_jobs=None)
    -> (log-probability of the best path per sequence (n_sequences,), states (n_samples,))

Conventions: ``startprob`` (K,), ``transmat`` (K, K) with rows summing to 1
(``transmat[i, j] = p(z_t = j | z_{t-1} = i)``); ``lengths`` as in hmmlearn
(``None`` = one sequence). See ``docs/hmm.md``.
"""
from __future__ import annotations

import math
import os
import threading

import numpy as np

from . import _kernels
from ._base import check_n_jobs, raise_for_status
from ._blocks import plan_blocks
from ._config import check_memory, get_config
from .data import check_lengths
from .em import check_table

__all__ = ["forward_backward", "viterbi"]

# ---------------------------------------------------------------------------
# which compiled copy of the HMM kernels runs
# ---------------------------------------------------------------------------
# ``_kernels`` holds the portable build (SSE2 on x86-64); ``_kernels_avx2`` the same
# source compiled with -mavx2 -mfma, ``_kernels_avx512`` with AVX-512 F/DQ/VL as well,
# each imported only when the CPU has what it was compiled for. The choice changes
# speed and round-off (FMA, lane count), never the algorithm; the environment variable
# EMFAST_SIMD=portable | avx2 | avx512 forces one ("auto", the default, takes the widest).

_SIMDS = ("portable", "avx2", "avx512")


def _load_simd(name):
    """The compiled module for ``name`` if this build has it and the CPU runs it."""
    if name == "portable":
        return _kernels
    runs = _kernels.cpu_has_avx512() if name == "avx512" else _kernels.cpu_has_avx2_fma()
    if not runs:
        return None
    try:
        if name == "avx512":
            from . import _kernels_avx512 as mod
        else:
            from . import _kernels_avx2 as mod
    except ImportError:
        return None
    return mod


def available_simd() -> tuple:
    """Names of the compiled HMM kernels this build has and this CPU runs, narrowest first
    (``'portable'`` always)."""
    return tuple(n for n in _SIMDS if _load_simd(n) is not None)


def _choose_simd(name=None):
    name = (os.environ.get("EMFAST_SIMD", "auto") if name is None else name).strip().lower()
    if name not in ("auto",) + _SIMDS:
        raise ValueError("EMFAST_SIMD must be 'auto', 'portable', 'avx2' or 'avx512'; "
                         f"got {name!r}.")
    if name == "auto":
        return _load_simd(available_simd()[-1])
    mod = _load_simd(name)
    if mod is None:
        raise ValueError(f"EMFAST_SIMD={name}, but this build has no {name} kernels or the "
                         f"CPU lacks the instructions they need (available: "
                         f"{', '.join(available_simd())}).")
    return mod


_hmm = _choose_simd()


def simd_backend() -> str:
    """Name of the compiled HMM kernels in use: ``'avx512'``, ``'avx2'`` or ``'portable'``."""
    return "portable" if _hmm is _kernels else _hmm.__name__.rsplit("_", 1)[-1]


def _set_simd(name):
    """Switch the HMM kernels ('portable', 'avx2', 'avx512', 'auto'); returns the previous
    name. For tests and benchmarks."""
    global _hmm
    old = simd_backend()
    _hmm = _choose_simd(name)
    return old


# lanes per group, by vector width W: L = 8 with SSE2 (U = 4) and AVX2 (U = 2), 16 with
# AVX-512 (U = 2): the fastest measured for K = 4 and K = 16 (docs/kernels.md)
_LANES = {2: 8, 4: 8, 8: 16}
_CKPT_MIN_BLOCK = 16
# the single path also checkpoints when its full-memory scratch is this large: measured
# faster there (one sequence, T = 1e7: K = 4 24 vs 29 ns/step, K = 16 95 vs 263 ns/step
# CPU time), as the block stays in cache and no fresh pages are touched
_CKPT_ABOVE = 64 << 20


def _lane_multiple(U=None):
    W = _hmm.simd_width()
    us, _ = _hmm.lane_variants()
    if U is None:
        U = max(1, _LANES.get(W, 8) // W)
    if U not in us:
        raise ValueError(f"lane multiple must be one of {us}; got {U}.")
    return int(U)


def _check_chain(startprob, transmat, K=None):
    """startprob (K,) and transmat (K, K), checked by the one table validator."""
    if K is None:
        K = int(np.shape(startprob)[0]) if np.ndim(startprob) == 1 and np.size(startprob) else -1
        if K < 0:
            raise ValueError(f"startprob must be a non-empty 1-D array; got shape "
                             f"{np.shape(startprob)}.")
    return (check_table(startprob, (K,), "startprob"),
            check_table(transmat, (K, K), "transmat"))


def _check_frame(frame, name):
    arr = np.asarray(frame)
    if arr.dtype not in (np.float32, np.float64):
        if arr.dtype.kind in "iub":
            arr = arr.astype(np.float64)
        else:
            raise TypeError(f"{name} must be a float32 or float64 array; got dtype {arr.dtype}.")
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n_samples, n_components) with n_samples >= 1; "
                         f"got shape {arr.shape}.")
    return np.ascontiguousarray(arr)


def _raise_status(status, bad_t, offsets, what):
    raise_for_status(status, lambda s_: (
        f"Sequence {s_} has probability 0 at t={int(bad_t[s_])} (row "
        f"{int(offsets[s_]) + int(bad_t[s_])} of X) under every state: {what}"))


def _slab(n_rows, n, zero=True):
    """Buffer (n_rows, width >= n) whose rows start 64 bytes apart on a 64-byte boundary
    (no false sharing between threads, aligned vectors); use ``[:, :n]``."""
    width = ((n + 7) // 8) * 8 + 8
    raw = np.zeros(n_rows * width + 8) if zero else np.empty(n_rows * width + 8)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip:skip + n_rows * width].reshape(n_rows, width)


#: Scratch arenas up to this size are kept between calls (one per Python thread, so
#: each holds at most this much after its last E-step): an EM fit calls the E-step
#: with the same sizes every iteration, and a fresh arena pays its page faults every
#: time. Together with the kept plan this cut the Python-side cost of an E-step from
#: 0.5 to 0.25 ms (K = 4, 1000 x 1000 steps; the two were not timed apart). Larger
#: arenas (long single sequences) are freed after the call.
_KEEP_SCRATCH = 64 << 20
_local = threading.local()


def _scratch(n_rows, n, keep=None):
    """Like ``_slab(n_rows, n, zero=False)`` (contents undefined: the kernels write
    before they read), reusing this thread's previous arena when it is big enough.
    Arenas up to ``keep`` bytes (default :data:`_KEEP_SCRATCH`) are kept."""
    width = ((n + 7) // 8) * 8 + 8
    size = n_rows * width + 8
    if 8 * size > (_KEEP_SCRATCH if keep is None else keep):
        return _slab(n_rows, n, zero=False)
    raw = getattr(_local, "arena", None)
    if raw is None or raw.size < size:
        raw = _local.arena = np.empty(size)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip:skip + n_rows * width].reshape(n_rows, width)


def _padded(start, trans, W):
    """Zero-padded copies for the single path: states K .. Kp - 1 never carry mass."""
    K = start.shape[0]
    Kp = -(-K // W) * W
    sp = np.zeros(Kp)
    sp[:K] = start
    tp = np.zeros((Kp, Kp))
    tp[:K, :K] = trans
    return Kp, sp, tp, np.ascontiguousarray(tp.T)


def _plan(offsets, L, lane_cap):
    """Blocks of sequences (fixed by the data, never by the thread count) and, in each
    block, the lanes groups: sequences sorted by length (longest first) and cut into
    runs of up to ``L`` of similar length (``_kernels.hmm_plan_groups``).

    The last plan is kept (per Python thread, with a copy of ``offsets``): every
    E-step of a fit asks for the same one."""
    last = getattr(_local, "plan", None)
    if (last is not None and last[1] == (L, lane_cap, _hmm.__name__)
            and last[0].shape == offsets.shape and np.array_equal(last[0], offsets)):
        return last[2]
    out = _make_plan(offsets, L, lane_cap)
    _local.plan = (np.array(offsets, copy=True), (L, lane_cap, _hmm.__name__), out)
    return out


def _make_plan(offsets, L, lane_cap):
    lengths = np.diff(offsets)
    S = len(lengths)
    blocks = plan_blocks(offsets=offsets, min_size=1024, multiple=L)
    B = len(blocks) - 1
    blk_of = np.repeat(np.arange(B), np.diff(blocks))
    order = np.lexsort((np.arange(S), -lengths, blk_of)).astype(np.int64)
    grp = np.empty(S + 1, dtype=np.int64)
    blk_grp = np.empty(B + 1, dtype=np.int64)
    G = _hmm.hmm_plan_groups(order, lengths, blocks, L, lane_cap, grp, blk_grp)
    grp = grp[:G + 1].copy()
    sizes = np.diff(grp)
    glen = lengths[order[grp[:-1]]]               # longest sequence of each group
    lmax = int(glen[sizes > 1].max()) if np.any(sizes > 1) else 0
    smax = int(glen[sizes == 1].max()) if np.any(sizes == 1) else 0
    return order, grp, blk_grp, B, lmax, smax


def _run(X, frame, offsets, start, trans, emitT, choff, n_jobs, *, counts, posteriors,
         post_dtype, what, max_memory, lanes_U=None, ckpt=None, lane_cap=None, repair=True):
    """Plan, size the scratch from the memory budget, run ``hmm_fb``, raise on status.

    ``lanes_U`` (lane multiple), ``ckpt`` (checkpoint block, 0 = full pass) and
    ``lane_cap`` (longest sequence the lanes take; 0 = single path only) override
    the automatic choices (tests and benchmarks)."""
    budget = get_config()["max_memory"] if max_memory is None else int(max_memory)
    if budget <= 0:
        raise ValueError(f"max_memory must be a positive number of bytes; got {max_memory!r}.")
    K = start.shape[0]
    W = _hmm.simd_width()
    U = _lane_multiple(lanes_U)
    L = U * W
    Kp, sp, tp, tpT = _padded(start, trans, W)
    S = len(offsets) - 1
    N = int(offsets[-1])
    # lanes take sequences up to lane_cap steps (their scratch grows with L T K);
    # longer ones run the single path. Depends on the budget, never on the threads.
    if lane_cap is None:
        lane_cap = max(1, min(budget // 8, 512 << 20) // (8 * L * (K + 1)))
    order, grp, blk_grp, B, lmax, smax = _plan(offsets, L, lane_cap)
    T1 = max(lmax, smax)
    full = 8 * _hmm.hmm_arena_doubles(lmax, smax, K, Kp, L, 0)
    if ckpt is None:
        # checkpoint the single path when one full-memory scratch exceeds the budget
        # (or is large enough that checkpointing is faster)
        ckpt = 0 if full <= min(budget, _CKPT_ABOVE) else max(_CKPT_MIN_BLOCK, math.isqrt(T1))
    need = 8 * _hmm.hmm_arena_doubles(lmax, smax, K, Kp, L, int(ckpt))
    # fewer threads rather than another plan when the budget is short: the plan, hence
    # the result, never depends on the thread count
    n_threads = max(1, min(int(n_jobs), B, budget // max(need, 1)))
    check_memory(n_threads * need, f"HMM forward-backward scratch ({n_threads} thread(s))",
                 budget)
    if posteriors:
        check_memory(N * K * np.dtype(post_dtype).itemsize, f"posteriors ({N} x {K})", budget)
    arena = _scratch(n_threads, need // 8)
    R = emitT.shape[0]
    ll = np.empty(S)
    status = np.zeros(S, dtype=np.int32)
    bad_t = np.zeros(S, dtype=np.int64)
    if counts:
        cstart, ctrans = _slab(B, Kp), _slab(B, K * Kp)
        cemit = _slab(B, R * Kp) if X.shape[0] else np.zeros((1, 1))
    else:
        cstart = ctrans = cemit = np.zeros((1, 1))
    g64 = np.empty((N if posteriors and post_dtype == np.float64 else 0, K))
    g32 = np.empty((N if posteriors and post_dtype == np.float32 else 0, K), dtype=np.float32)
    f64 = frame if frame is not None and frame.dtype == np.float64 else np.empty((0, K))
    f32 = (frame if frame is not None and frame.dtype == np.float32
           else np.empty((0, K), dtype=np.float32))
    _hmm.hmm_fb(X, f64, f32, offsets, order, grp, blk_grp, start, trans,
                np.ascontiguousarray(trans.T), sp, tp, tpT, emitT, choff,
                np.full(max(X.shape[1], 1), -1, np.int32), np.ones(K), np.ones(K, np.float32),
                ll, status, bad_t,
                arena, cstart, ctrans, cemit, g64, g32, U, int(ckpt), counts, n_threads)
    _raise_status(status, bad_t, offsets, what)
    gamma = (g64 if post_dtype == np.float64 else g32) if posteriors else None
    if not counts:
        out = ll, None, None, None, gamma
    else:
        E = cemit.sum(axis=0)[:R * Kp].reshape(R, Kp)[:, :K] if X.shape[0] else None
        xi = trans * ctrans.sum(axis=0)[:K * Kp].reshape(K, Kp)[:, :K]
        out = ll, cstart.sum(axis=0)[:K], xi, E, gamma
    if not repair or _finite(out):
        return out
    return _repair(X, frame, offsets, start, trans, emitT, choff, n_jobs, out,
                   counts=counts, posteriors=posteriors, post_dtype=post_dtype, what=what,
                   max_memory=max_memory, lanes_U=lanes_U, ckpt=ckpt, lane_cap=lane_cap)


# ---------------------------------------------------------------------------
# the exact fallback for the rare sequence the scaled recursion cannot carry
# ---------------------------------------------------------------------------
# The scaled backward variable is beta'_t = beta_t * prod_{u > t} f_u. gamma_t =
# alpha^_t o beta'_t is bounded by 1, but beta'_t(k) itself is not: for a state whose
# filtered probability alpha^_t(k) is tiny (or 0) while the future is much more likely
# from it than on average, beta'_t(k) ~ 1 / alpha^_t(k) can exceed the float64 range
# (e.g. an emission probability of 1e-310 the data force the path through twice). The
# forward pass and the log-likelihood stay exact; the posteriors and counts of that
# sequence become inf / NaN. Such sequences are found after the kernel (any non-finite
# output), recomputed here in log space (numpy; O(T K^2) per sequence, slow but only
# for these), and the counts of the other sequences come from a second kernel run over
# them alone, so the result is finite, exact to rounding, and independent of threads.

def _finite(out) -> bool:
    # a finite sum means every entry is finite (an inf or NaN entry makes the sum inf
    # or NaN); only an overflowing sum of finite entries needs the entry-wise test
    with np.errstate(over="ignore", invalid="ignore"):
        return all(a is None or math.isfinite(float(a.sum())) or bool(np.all(np.isfinite(a)))
                   for a in out)


def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        return np.squeeze(np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m, axis)


def _log_space_sequence(logB, lstart, ltrans, chunk=4096):
    """Exact forward-backward of one sequence in log space: (ll, gamma (T, K),
    xi (K, K) summed over t)."""
    T, K = logB.shape
    la = np.empty((T, K))
    lb = np.zeros((T, K))
    la[0] = lstart + logB[0]
    for t in range(1, T):
        la[t] = _logsumexp(la[t - 1][:, None] + ltrans, 0) + logB[t]
    for t in range(T - 2, -1, -1):
        lb[t] = _logsumexp(ltrans + (logB[t + 1] + lb[t + 1])[None, :], 1)
    ll = float(_logsumexp(la[-1], 0))
    with np.errstate(under="ignore"):
        gamma = np.exp(la + lb - ll)
        xi = np.zeros((K, K))
        for a in range(1, T, chunk):
            b = min(T, a + chunk)
            w = la[a - 1:b - 1, :, None] + ltrans[None] + (logB[a:b] + lb[a:b])[:, None, :]
            xi += np.exp(w - ll).sum(axis=0)
    return ll, gamma, xi


def _repair(X, frame, offsets, start, trans, emitT, choff, n_jobs, out, *, counts,
            posteriors, post_dtype, what, max_memory, lanes_U, ckpt, lane_cap):
    """Recompute the sequences with non-finite results exactly (see above)."""
    ll, cs, xi, E, gamma = out
    opts = dict(what=what, max_memory=max_memory, lanes_U=lanes_U, ckpt=ckpt,
                lane_cap=lane_cap, repair=False)
    if gamma is None:           # which sequences? the posteriors tell first
        ll, _, _, _, gamma = _run(X, frame, offsets, start, trans, emitT, choff, n_jobs,
                                  counts=False, posteriors=True, post_dtype=np.float64, **opts)
    S = len(offsets) - 1
    lengths = np.diff(offsets)
    seq_of = np.repeat(np.arange(S), lengths)
    row_bad = ~np.all(np.isfinite(gamma), axis=1)
    bad = np.zeros(S, dtype=bool)
    bad[seq_of[row_bad]] = True
    bad |= ~np.isfinite(ll)
    if not bad.any():
        # the posteriors are finite but some counts are not (a scaled transition term
        # overflowed where the transition probability is 0): probe sequence by sequence
        for s_ in range(S):
            a, b = int(offsets[s_]), int(offsets[s_ + 1])
            one = _run(X[a:b] if X.shape[0] else X,
                       frame[a:b] if frame is not None and frame.shape[0] else frame,
                       np.array([0, b - a], dtype=np.int64), start, trans, emitT, choff, 1,
                       counts=counts, posteriors=False, post_dtype=post_dtype, **opts)
            bad[s_] = not _finite(one)
    if not bad.any():           # pragma: no cover - every sequence is finite on its own
        raise FloatingPointError("HMM forward-backward produced non-finite values that "
                                 "could not be localised to a sequence.")
    K = start.shape[0]
    R = emitT.shape[0]
    good = np.flatnonzero(~bad)
    new_ll = np.array(ll, dtype=np.float64)
    new_gamma = np.empty((int(offsets[-1]), K), dtype=post_dtype) if posteriors else None
    cs_t = np.zeros(K)
    xi_t = np.zeros((K, K))
    E_t = np.zeros((R, K)) if (counts and X.shape[0]) else None
    if good.size:
        rows = np.concatenate([np.arange(offsets[s], offsets[s + 1]) for s in good])
        sub_off = np.zeros(good.size + 1, dtype=np.int64)
        np.cumsum(lengths[good], out=sub_off[1:])
        sub = _run(np.ascontiguousarray(X[rows]) if X.shape[0] else X,
                   np.ascontiguousarray(frame[rows]) if frame is not None and frame.shape[0]
                   else frame, sub_off, start, trans, emitT, choff, n_jobs, counts=counts,
                   posteriors=posteriors, post_dtype=post_dtype, what=what,
                   max_memory=max_memory, lanes_U=lanes_U, ckpt=ckpt, lane_cap=lane_cap)
        # (may repair again: a sequence can overflow in a lanes group of one plan and
        # not in another; the recursion ends, each level has fewer sequences)
        new_ll[good] = sub[0]
        if counts:
            cs_t += sub[1]
            xi_t += sub[2]
            if E_t is not None:
                E_t += sub[3]
        if posteriors:
            new_gamma[rows] = sub[4]
    with np.errstate(divide="ignore"):
        lstart, ltrans = np.log(start), np.log(trans)
        lemit = np.log(emitT[:, :K])
    for s in np.flatnonzero(bad):
        a, b = int(offsets[s]), int(offsets[s + 1])
        if X.shape[0]:
            codes = X[a:b]
            rr = np.where(codes >= 0, choff[:codes.shape[1]][None, :] + codes, R - 1)
            logB = lemit[rr].sum(axis=1)
        else:
            with np.errstate(divide="ignore"):
                logB = np.log(np.asarray(frame[a:b], dtype=np.float64))
        lls, g, xs = _log_space_sequence(logB, lstart, ltrans)
        new_ll[s] = lls
        if posteriors:
            new_gamma[a:b] = g
        if counts:
            cs_t += g[0]
            xi_t += xs
            if E_t is not None:
                np.add.at(E_t, rr.ravel(), np.repeat(g, rr.shape[1], axis=0))
    if not counts:
        return new_ll, None, None, None, new_gamma
    return new_ll, cs_t, xi_t, E_t, new_gamma


def estep_codes(codes, offsets, startprob, transmat, emitT, choff, n_threads, *, counts=True,
                posteriors=False, what="zero likelihood", max_memory=None):
    """The fused E-step of a categorical HMM on validated int32 codes (private to emfast).

    Parameters
    ----------
    codes : ndarray (N, C) int32, C-contiguous
        Symbol codes, ``-1`` = missing (validated by the caller).
    offsets : ndarray (S + 1,) int64
        Sequence boundaries (from :func:`emfast.data.check_lengths`).
    startprob, transmat : ndarray (K,), (K, K) float64
    emitT, choff : the stacked transposed emission table (sum M_c + 1, K) whose last
        row is all ones, and the channel offsets (C + 1,) int64.
    n_threads : int
    counts : bool
        Accumulate the expected counts.
    posteriors : bool
        Return the state posteriors (N, K).
    what : str
        End of the error message when a sequence has probability 0.
    max_memory : int, optional
        Scratch budget in bytes (default ``emfast.get_config()["max_memory"]``). When
        the full-memory pass of the longest sequence does not fit, long sequences
        run the checkpointed pass (same results, one more forward pass).

    Returns
    -------
    ll : (S,) per-sequence log-likelihood
    start_counts : (K,) or None
    trans_counts : (K, K) or None
        Expected transition counts.
    emit_counts : (sum M_c + 1, K) or None
        Expected emission counts in the stacked transposed layout of ``emitT``.
    gamma : (N, K) or None
    """
    start = np.ascontiguousarray(startprob, dtype=np.float64)
    trans = np.ascontiguousarray(transmat, dtype=np.float64)
    K = start.shape[0]
    Kp = -(-K // _hmm.simd_width()) * _hmm.simd_width()
    emitTp = np.zeros((emitT.shape[0], Kp))
    emitTp[:, :K] = emitT
    ll, cs, xi, E, gamma = _run(codes, None, offsets, start, trans, emitTp,
                                np.ascontiguousarray(choff, dtype=np.int64), n_threads,
                                counts=counts, posteriors=posteriors, post_dtype=np.float64,
                                what=what, max_memory=max_memory)
    if counts:
        E = np.ascontiguousarray(E)
    return ll, cs, xi, E, gamma


def forward_backward(frame_likelihood, startprob, transmat, lengths=None, *, log=False,
                     n_jobs=None, max_memory=None):
    """Scaled forward-backward over caller-supplied emission likelihoods.

    Parameters
    ----------
    frame_likelihood : array-like of shape (n_samples, n_components)
        ``p(x_t | z_t = k)`` (any non-negative scale per row is fine; a row of
        ones marginalises a missing observation). float32 or float64. With
        ``log=True`` this is ``log p(x_t | z_t = k)`` instead: each row is
        shifted by its maximum before exponentiation, so very small
        likelihoods (e.g. high-dimensional Gaussians) do not underflow.
    startprob : array-like of shape (n_components,)
    transmat : array-like of shape (n_components, n_components)
        ``transmat[i, j] = p(z_t = j | z_{t-1} = i)``; rows sum to 1.
    lengths : array-like of int, optional
        Sequence lengths summing to ``n_samples`` (``None``: one sequence).
    log : bool, default=False
        Whether ``frame_likelihood`` holds log-likelihoods.
    n_jobs : int, optional
        Threads (``None`` or -1: all OpenMP threads). Sequences run in parallel; the
        results are bit-identical for any number of threads.
    max_memory : int, optional
        Scratch budget in bytes (default ``emfast.get_config()["max_memory"]``). When
        the full-memory pass of the longest sequence does not fit, it runs
        checkpointed: alphas kept every ~sqrt(T) steps and recomputed block by block
        (the same numbers, about 1.3x the time, O(sqrt(T) K) scratch).

    Returns
    -------
    loglik : ndarray of shape (n_sequences,)
        ``log p(x_s)`` of every sequence (float64); the total is ``loglik.sum()``.
    posteriors : ndarray of shape (n_samples, n_components)
        ``p(z_t = k | x)``, same dtype as ``frame_likelihood``.
    trans_counts : ndarray of shape (n_components, n_components)
        Expected transition counts ``sum_t p(z_{t-1}=i, z_t=j | x)`` summed over
        all sequences (float64).

    Raises
    ------
    ValueError
        If some time step has likelihood 0 under every reachable state; the
        message names the sequence and the time step.
    """
    frame = _check_frame(frame_likelihood, "frame_likelihood")
    N, K = frame.shape
    start, trans = _check_chain(startprob, transmat, K)
    offsets = check_lengths(lengths, N)
    shift = None
    if log:
        if np.any(np.isnan(frame)) or np.any(frame == np.inf):
            raise ValueError("frame_likelihood (log=True) must not contain NaN or +inf.")
        shift = frame.max(axis=1)
        shift = np.where(np.isfinite(shift), shift, 0.0).astype(np.float64)
        frame = np.exp(frame - shift[:, None].astype(frame.dtype))
    else:
        if not np.all(np.isfinite(frame)) or np.any(frame < 0):
            raise ValueError("frame_likelihood must be finite and non-negative "
                             "(pass log=True for log-likelihoods).")
    ll, _, xi, _, gamma = _run(np.zeros((0, 1), np.int32), frame, offsets, start, trans,
                               np.zeros((1, -(-K // _hmm.simd_width()) * _hmm.simd_width())),
                               np.zeros(2, np.int64), check_n_jobs(n_jobs), counts=True,
                               posteriors=True, post_dtype=frame.dtype,
                               what="frame_likelihood is 0 for every state reachable there.",
                               max_memory=max_memory)
    if shift is not None:
        ll += np.add.reduceat(shift, offsets[:-1])
    return ll, gamma, xi


def viterbi(frame_loglik, startprob, transmat, lengths=None, *, log=True, n_jobs=None):
    """Most likely state path per sequence (log-space Viterbi).

    Parameters
    ----------
    frame_loglik : array-like of shape (n_samples, n_components)
        ``log p(x_t | z_t = k)`` (``-inf`` allowed); with ``log=False`` the
        likelihoods themselves (their logarithm is taken).
    startprob : array-like of shape (n_components,)
    transmat : array-like of shape (n_components, n_components)
    lengths : array-like of int, optional
    log : bool, default=True
    n_jobs : int, optional

    Returns
    -------
    logprob : ndarray of shape (n_sequences,)
        ``log p(x_s, best path)`` of every sequence.
    states : ndarray of shape (n_samples,)
        The best path (int32), sequences concatenated. Ties go to the lowest
        state index.
    """
    frame = _check_frame(frame_loglik, "frame_loglik")
    N, K = frame.shape
    start, trans = _check_chain(startprob, transmat, K)
    offsets = check_lengths(lengths, N)
    if not log:
        if not np.all(np.isfinite(frame)) or np.any(frame < 0):
            raise ValueError("frame_loglik (log=False) must be finite and non-negative.")
        with np.errstate(divide="ignore"):
            frame = np.log(frame)
    if np.any(np.isnan(frame)) or np.any(frame == np.inf):
        raise ValueError("frame_loglik must not contain NaN or +inf.")
    return _viterbi_run(np.zeros((1, 1), np.int32), frame, offsets, start, trans,
                        np.zeros((2, K)), np.array([0, 1], np.int64), check_n_jobs(n_jobs),
                        "frame_loglik is -inf for every state reachable there.")


def _viterbi_run(X, frame, offsets, start, trans, logemitT, choff, n_jobs, what):
    N = int(offsets[-1])
    K = start.shape[0]
    S = len(offsets) - 1
    n_threads = max(1, min(n_jobs, S))
    with np.errstate(divide="ignore"):
        logstart = np.log(start)
        logtransT = np.ascontiguousarray(np.log(trans).T)
    path = np.empty(N, dtype=np.int32)
    logprob = np.empty(S)
    status = np.zeros(S, dtype=np.int32)
    bad_t = np.zeros(S, dtype=np.int64)
    backptr = np.empty((N, K), dtype=np.int32)
    work = _slab(n_threads, 3 * K, zero=False)
    _kernels.hmm_viterbi(X, frame, offsets, logstart, logtransT, logemitT, choff, path,
                         logprob, status, bad_t, backptr, work, n_threads)
    _raise_status(status, bad_t, offsets, what)
    return logprob, path
