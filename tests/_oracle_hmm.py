"""Brute-force HMM oracle: enumerate every state path (tiny models only)."""
import itertools

import numpy as np


def hmm_by_enumeration(start, trans, tables, x):
    """Exact quantities of one sequence by summing over all K**T state paths.

    Parameters
    ----------
    start : (K,), trans : (K, K), tables : list of (K, M_c) emission tables
    x : (T, C) int codes, -1 = missing

    Returns
    -------
    dict with loglik, gamma (T, K), xi (K, K) summed over t, emit (list of (K, M_c)
    expected counts), start_counts (K,), viterbi_path (T,), viterbi_logp
    """
    x = np.atleast_2d(np.asarray(x))
    if x.shape[0] == 1 and len(tables) == 1 and x.shape[1] != 1:
        x = x.T
    K, T = len(start), x.shape[0]
    Z = 0.0
    gamma = np.zeros((T, K))
    xi = np.zeros((K, K))
    best_p, best_path = -1.0, None
    for path in itertools.product(range(K), repeat=T):
        p = start[path[0]]
        for a, b in zip(path, path[1:]):
            p *= trans[a, b]
        for t, z in enumerate(path):
            for c, B in enumerate(tables):
                if x[t, c] >= 0:
                    p *= B[z, x[t, c]]
        Z += p
        gamma[np.arange(T), path] += p
        for a, b in zip(path, path[1:]):
            xi[a, b] += p
        if p > best_p:
            best_p, best_path = p, path
    gamma /= Z
    xi /= Z
    emit = []
    for c, B in enumerate(tables):
        E = np.zeros_like(B, dtype=float)
        for t in range(T):
            if x[t, c] >= 0:
                E[:, x[t, c]] += gamma[t]
        emit.append(E)
    return dict(loglik=np.log(Z), gamma=gamma, xi=xi, emit=emit, start_counts=gamma[0].copy(),
                viterbi_path=np.array(best_path), viterbi_logp=np.log(best_p))


def fb_reference(start, trans, frame):
    """Textbook scaled forward-backward of one sequence (NumPy, normalise every step).

    ``frame`` (T, K) emission likelihoods. Returns (loglik, gamma (T, K), xi (K, K)
    summed over t). Independent of the kernels' power-of-two scaling and layout.
    """
    frame = np.asarray(frame, dtype=float)
    T, K = frame.shape
    alpha = np.empty((T, K))
    c = np.empty(T)
    a = start * frame[0]
    for t in range(T):
        if t:
            a = (alpha[t - 1] @ trans) * frame[t]
        c[t] = a.sum()
        alpha[t] = a / c[t]
    beta = np.ones(K)
    gamma = np.empty((T, K))
    xi = np.zeros((K, K))
    gamma[T - 1] = alpha[T - 1]
    for t in range(T - 1, 0, -1):
        tmp = frame[t] * beta / c[t]
        xi += trans * np.outer(alpha[t - 1], tmp)
        beta = trans @ tmp
        gamma[t - 1] = alpha[t - 1] * beta
    return np.log(c).sum(), gamma, xi
