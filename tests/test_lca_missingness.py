"""Latent class model vs Bayesian network with a hidden root; LCA with missingness mechanisms."""
import warnings

import numpy as np
import pytest

import emfast as em
from emfast.mixture import latent_class_network

from conftest import assert_monotone


def _lca_data(rng, n, weights, items, p_miss=0.15):
    z = rng.choice(len(weights), size=n, p=weights)
    X = np.column_stack([(rng.random(n)[:, None] < np.cumsum(t[z], axis=1)).argmax(axis=1)
                         for t in items]).astype(np.int32)
    X[rng.random(X.shape) < p_miss] = -1
    return X, z


def test_lca_equals_bayesnet_with_hidden_root(rng):
    """Same model, same fit. The two EMs differ in their complete data (the network also
    imputes missing item cells, the latent class kernel marginalises them), so their paths
    differ, but their fixed points are the same: the network's EM map leaves the latent
    class MLE where it is, and from the same start both reach the same optimum."""
    K, cards = 3, [2, 3, 4, 3, 2]
    w = np.array([0.5, 0.3, 0.2])
    items = [rng.dirichlet(np.ones(m) * 0.5, size=K) for m in cards]
    X, _ = _lca_data(rng, 3000, w, items)
    X[:7] = -1   # rows with nothing observed contribute nothing to either
    w0 = rng.dirichlet(np.ones(K) * 5)
    t0 = [rng.dirichlet(np.ones(m) * 5, size=K) for m in cards]
    lca = em.LatentClassModel(K, init={"weights": w0, "item_probs": t0}, max_iter=20000,
                              tol=1e-14).fit(X)
    assert_monotone(lca.history_)
    names = [f"item {j}" for j in range(len(cards))]
    full = np.concatenate([np.full((len(X), 1), -1), X], axis=1)

    def network(weights, tables):
        bn, cls = latent_class_network(names, cards, K)
        bn.cpts[cls] = weights
        for n, t in zip(names, tables):
            bn.cpts[n] = t
        return bn, cls

    # 1. the latent class MLE is a fixed point of the network's EM
    bn, cls = network(lca.weights_, lca.item_probs_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.ConvergenceWarning)
        bn.fit(full, init="current", max_iter=1, tol=0.0)
    assert bn.history_[0] == pytest.approx(lca.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(bn.cpts[cls], lca.weights_, rtol=1e-7)
    for j, n in enumerate(names):
        np.testing.assert_allclose(bn.cpts[n], lca.item_probs_[j], rtol=1e-5, atol=1e-7)
    # same per-row log-likelihoods and class posteriors
    np.testing.assert_allclose(lca.score_samples(X), network(lca.weights_, lca.item_probs_)[0]
                               .score_samples(full), rtol=1e-12, atol=1e-13)
    bn2, _ = network(lca.weights_, lca.item_probs_)
    np.testing.assert_allclose(lca.predict_proba(X), bn2.predict_proba(full, [cls])[cls],
                               rtol=1e-9, atol=1e-14)
    # 2. from the same start, the network's EM reaches the same optimum
    bn, cls = network(w0, t0)
    bn.fit(full, init="current", max_iter=20000, tol=1e-14)
    assert_monotone(bn.history_)
    assert bn.log_likelihood_ == pytest.approx(lca.log_likelihood_, rel=1e-9)
    order = np.argsort(-bn.cpts[cls], kind="stable")
    np.testing.assert_allclose(bn.cpts[cls][order], lca.weights_, atol=1e-4)


def test_lca_mar_mechanism_separates(rng):
    K, cards = 2, [2, 2, 3, 2]
    w = np.array([0.6, 0.4])
    items = [np.array([[0.8, 0.2], [0.2, 0.8]]), np.array([[0.7, 0.3], [0.25, 0.75]]),
             np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]]), np.array([[0.9, 0.1], [0.3, 0.7]])]
    X, _ = _lca_data(rng, 3000, w, items, p_miss=0.0)
    # item 1 missing depends on item 0 (always observed): MAR
    X[(rng.random(len(X)) < np.where(X[:, 0] == 1, 0.5, 0.1)), 1] = -1
    X[rng.random(len(X)) < 0.1, 2] = -1
    # the joint fit runs on the network form of the model (see the test above), so compare
    # optima, not paths; the exact same-path check is in tests/test_missingness.py
    kw = dict(max_iter=20000, tol=1e-14, random_state=4)
    ign = em.LatentClassModel(K, **kw).fit(X)
    joint = em.LatentClassModel(K, missingness=em.MAR({"item 1": ["item 0"]}), **kw).fit(X)
    assert_monotone(joint.history_)
    np.testing.assert_allclose(joint.weights_, ign.weights_, rtol=1e-5)
    for a, b in zip(joint.item_probs_, ign.item_probs_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    parts_theta = joint.log_likelihood_ - sum(
        np.log(np.where(X[:, j] == -1, t[..., 1][X[:, 0]] if j == 1 else t[1],
                        t[..., 0][X[:, 0]] if j == 1 else t[0])).sum()
        for j, t in [(1, joint.missingness_["item 1"]), (2, joint.missingness_["item 2"])])
    assert parts_theta == pytest.approx(ign.log_likelihood_, rel=1e-10)
    m1 = X[:, 1] == -1
    for c in (0, 1):
        assert joint.missingness_["item 1"][c, 1] == pytest.approx(m1[X[:, 0] == c].mean(),
                                                                    rel=1e-12)
    assert joint.missingness_["item 2"][1] == pytest.approx((X[:, 2] == -1).mean(), rel=1e-12)
    assert joint.missingness_parents_ == {"item 1": ("item 0",), "item 2": ()}


def test_lca_mnar_by_class_recovery():
    rng = np.random.default_rng(7)
    w = np.array([0.65, 0.35])
    items = [np.array([[0.85, 0.15], [0.2, 0.8]]), np.array([[0.8, 0.2], [0.15, 0.85]]),
             np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]]), np.array([[0.9, 0.1], [0.3, 0.7]])]
    X, z = _lca_data(rng, 30000, w, items, p_miss=0.0)
    X[rng.random(len(X)) < np.array([0.05, 0.5])[z], 0] = -1   # dropout depends on the class
    mech = em.MNAR({"item 0": ["class"]})
    fit = em.LatentClassModel(2, missingness=mech, n_init=3, random_state=0, tol=1e-10,
                              max_iter=3000).fit(X)
    assert_monotone(fit.history_)
    np.testing.assert_allclose(fit.weights_, w, atol=0.02)
    np.testing.assert_allclose(fit.missingness_["item 0"][:, 1], [0.05, 0.5], atol=0.03)
    for a, b in zip(fit.item_probs_, items):
        np.testing.assert_allclose(a, b, atol=0.03)
    # the class posterior uses the pattern: a row with everything missing but the
    # pattern "item 0 missing" has p(z | m) ∝ w_z δ_z(missing) (other items never missing)
    row = np.full((1, 4), -1)
    post = fit.predict_proba(row)[0]
    ref = fit.weights_ * fit.missingness_["item 0"][:, 1]
    np.testing.assert_allclose(post, ref / ref.sum(), rtol=1e-10)
    warm = em.LatentClassModel(2, warm_start=True, max_iter=500, tol=1e-6,
                               random_state=0).fit(X)
    with pytest.raises(ValueError, match="warm_start cannot be combined with missingness="):
        warm.set_params(missingness=mech).fit(X)
