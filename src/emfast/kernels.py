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

import numpy as np

from . import _kernels
from ._base import check_n_jobs
from .data import check_lengths

__all__ = ["forward_backward", "viterbi"]


def _check_chain(startprob, transmat, K=None):
    start = np.ascontiguousarray(startprob, dtype=np.float64)
    trans = np.ascontiguousarray(transmat, dtype=np.float64)
    if start.ndim != 1 or start.size == 0:
        raise ValueError(f"startprob must be a non-empty 1-D array; got shape {start.shape}.")
    k = start.shape[0] if K is None else K
    if start.shape != (k,):
        raise ValueError(f"startprob must have shape ({k},); got {start.shape}.")
    if trans.shape != (k, k):
        raise ValueError(f"transmat must have shape ({k}, {k}); got {trans.shape}.")
    for name, arr in (("startprob", start), ("transmat", trans)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{name} must be finite and non-negative.")
        sums = arr.sum(axis=-1)
        if not np.allclose(sums, 1.0, rtol=0, atol=1e-8):
            raise ValueError(f"{name} must sum to 1 along its last axis; got sums {sums!r}.")
    return start, trans


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
    bad = np.flatnonzero(status)
    if bad.size:
        s = int(bad[0])
        t = int(bad_t[s])
        raise ValueError(
            f"Sequence {s} has probability 0 at t={t} (row {int(offsets[s]) + t} of X) under every "
            f"state: {what}")


def _slab(n_threads, n, zero=True):
    """Per-thread buffer (n_threads, n) whose rows start 64-byte cache lines apart
    (padding avoids false sharing between threads); use ``[:, :n]``."""
    width = ((n + 7) // 8) * 8 + 8
    buf = np.zeros((n_threads, width)) if zero else np.empty((n_threads, width))
    return buf


def _seq_blocks(offsets, max_blocks=64):
    """Cut the sequences into at most ``max_blocks`` runs of consecutive sequences
    with about equal numbers of steps; returns ``block_ptr`` (B + 1,) int64.

    The forward-backward kernels hand whole blocks to threads and sum each
    block's counts, in sequence order, into its own slab. The blocks depend on the
    lengths only, never on the thread count, so the counts (slabs summed over
    axis 0) are bit-identical for 1, 2, ... threads and from run to run."""
    offsets = np.asarray(offsets, dtype=np.int64)
    S = len(offsets) - 1
    B = max(1, min(int(max_blocks), S))
    total = int(offsets[-1])
    # block b starts at the first sequence starting at or after b * total / B
    cuts = np.searchsorted(offsets[:-1], (np.arange(B) * total) // B, side="left")
    ptr = np.unique(np.concatenate([cuts, [S]]))
    ptr[0] = 0
    return np.ascontiguousarray(ptr, dtype=np.int64)


def _scratch(offsets, K, n_threads):
    """Per-thread scratch: alpha (max_len x K), the scale factors (max_len) when
    they fit, and a small work area. The scale factors are stored (faster
    backward pass) unless that would push the scratch beyond one
    ``n_samples x K`` float64 array (few long sequences); the kernel then
    recovers them in the backward pass (memory-lean mode)."""
    lengths = np.diff(offsets)
    n_threads = max(1, min(int(n_threads), len(lengths)))
    max_len = int(lengths.max())
    alpha = _slab(n_threads, max_len * K, zero=False)
    use_scale = n_threads * max_len * (K + 1) <= int(offsets[-1]) * K
    scale = _slab(n_threads, max_len, zero=False) if use_scale else np.empty((1, 1))
    work = _slab(n_threads, 7 * K, zero=False)
    return n_threads, alpha, scale, work, use_scale


def estep_codes(codes, offsets, startprob, transmat, emitT, choff, n_threads, *, counts=True,
                posteriors=False, what="zero likelihood"):
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
    n_threads, alpha, scale, work, use_scale = _scratch(offsets, K, n_threads)
    S = len(offsets) - 1
    ll = np.empty(S)
    status = np.zeros(S, dtype=np.int32)
    bad_t = np.zeros(S, dtype=np.int64)
    blocks = _seq_blocks(offsets)   # counts summed per block: same bits for any n_jobs
    if counts:
        B = len(blocks) - 1
        cstart = _slab(B, K)
        ctrans = _slab(B, K * K)
        cemit = _slab(B, emitT.shape[0] * K)
    else:
        cstart = ctrans = cemit = np.zeros((1, 1))
    gamma = np.empty((codes.shape[0] if posteriors else 0, K))
    _kernels.hmm_estep_codes(codes, offsets, blocks, start, trans, np.ascontiguousarray(trans.T),
                             emitT, choff, ll, status, bad_t,
                             alpha, scale, work, cstart, ctrans, cemit, gamma, counts,
                             use_scale, n_threads)
    _raise_status(status, bad_t, offsets, what)
    if not counts:
        return ll, None, None, None, (gamma if posteriors else None)
    E = cemit.sum(axis=0)[:emitT.shape[0] * K].reshape(emitT.shape[0], K)
    xi = trans * ctrans.sum(axis=0)[:K * K].reshape(K, K)
    return ll, cstart.sum(axis=0)[:K], xi, E, (gamma if posteriors else None)


def forward_backward(frame_likelihood, startprob, transmat, lengths=None, *, log=False,
                     n_jobs=None):
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
        Threads (``None`` or -1: all OpenMP threads). Sequences run in parallel.

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
    n_threads, alpha, scale, work, use_scale = _scratch(offsets, K, check_n_jobs(n_jobs))
    S = len(offsets) - 1
    ll = np.empty(S)
    status = np.zeros(S, dtype=np.int32)
    bad_t = np.zeros(S, dtype=np.int64)
    blocks = _seq_blocks(offsets)
    ctrans = _slab(len(blocks) - 1, K * K)
    gamma = np.empty((N, K), dtype=frame.dtype)
    _kernels.hmm_fb_frames(frame, offsets, blocks, start, trans, np.ascontiguousarray(trans.T),
                           ll, status, bad_t, alpha, scale, work, ctrans, gamma, True, use_scale,
                           n_threads)
    _raise_status(status, bad_t, offsets, "frame_likelihood is 0 for every state reachable there.")
    if shift is not None:
        ll += np.add.reduceat(shift, offsets[:-1])
    return ll, gamma, trans * ctrans.sum(axis=0)[:K * K].reshape(K, K)


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
