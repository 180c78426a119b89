"""Brute-force oracles for the latent class model (tiny models only).

Every quantity is computed by enumerating the class z *and* every completion
of the missing cells, so marginalisation is checked too, not assumed.
"""
import itertools

import numpy as np


def joint(weights, items, z, x):
    """p(z, x) for a complete row x."""
    p = weights[z]
    for j, c in enumerate(x):
        p *= items[j][z, c]
    return p


def completions(row, cards):
    miss = [j for j, v in enumerate(row) if v < 0]
    for fill in itertools.product(*[range(cards[j]) for j in miss]):
        x = list(row)
        for j, c in zip(miss, fill):
            x[j] = c
        yield miss, fill, x


def row_by_enumeration(weights, items, row):
    """log p(x_obs), posterior p(z | x_obs), expected counts of one row."""
    K = len(weights)
    cards = [t.shape[1] for t in items]
    pz = np.zeros(K)
    for z in range(K):
        for _, _, x in completions(row, cards):
            pz[z] += joint(weights, items, z, x)
    total = pz.sum()
    post = pz / total
    wcounts = post.copy()
    icounts = [np.zeros_like(t) for t in items]
    for j, c in enumerate(row):
        if c >= 0:
            icounts[j][:, c] += post
    return np.log(total), post, wcounts, icounts


def data_by_enumeration(weights, items, X):
    """Total log-likelihood, posteriors and summed expected counts of X."""
    ll = 0.0
    posts = []
    wc = np.zeros(len(weights))
    ic = [np.zeros_like(t) for t in items]
    for row in X:
        l, p, w, c = row_by_enumeration(weights, items, row)
        ll += l
        posts.append(p)
        wc += w
        for a, b in zip(ic, c):
            a += b
    return ll, np.array(posts), wc, ic


def map_by_enumeration(weights, items, row):
    """argmax over (z, x_mis) of p(z, x_mis, x_obs), first maximum in enumeration order
    over x_mis (product order) then z; returns the completed row and the max value."""
    K = len(weights)
    cards = [t.shape[1] for t in items]
    best, best_x = -1.0, None
    for _, _, x in completions(row, cards):
        for z in range(K):
            p = joint(weights, items, z, x)
            if p > best * (1 + 1e-12):
                best, best_x = p, list(x)
    return best_x, best
