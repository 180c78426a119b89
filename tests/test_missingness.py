"""Missingness mechanisms on Bayesian networks: separation theorem, brute force, MNAR recovery."""
import itertools
import warnings

import numpy as np
import pytest

import emfast as em
from emfast.missingness import augment_codes

import _oracle_bn as O
from conftest import assert_monotone


def _net(rng=None):
    # C -> Y -> X1, Y -> X2; C always observed in the tests below
    bn = em.BayesianNetwork([("C", "Y"), ("Y", "X1"), ("Y", "X2")],
                            {"C": 2, "Y": 3, "X1": 3, "X2": 3})
    bn.cpts["C"] = np.array([0.6, 0.4])
    bn.cpts["Y"] = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    bn.cpts["X1"] = np.array([[0.6, 0.25, 0.15], [0.2, 0.6, 0.2], [0.15, 0.25, 0.6]])
    bn.cpts["X2"] = np.array([[0.7, 0.2, 0.1], [0.25, 0.5, 0.25], [0.1, 0.3, 0.6]])
    return bn


def _blank(rng, X, p_by_row, col):
    X = X.copy()
    X[rng.random(len(X)) < p_by_row, col] = -1
    return X


@pytest.mark.parametrize("kind", ["MCAR", "MAR"])
def test_separation_theorem(rng, kind):
    truth = _net()
    X = truth.sample(3000, random_state=rng)
    C = X[:, 0]
    if kind == "MCAR":
        X = _blank(rng, X, 0.25, 1)
        X = _blank(rng, X, 0.15, 2)
        mech = em.MCAR()
    else:
        X = _blank(rng, X, np.where(C == 1, 0.5, 0.1), 1)       # Y missing depends on C
        X = _blank(rng, X, np.where(C == 1, 0.05, 0.3), 2)      # X1 missing depends on C
        mech = em.MAR({"Y": ["C"], "X1": ["C"]})
    # the same EM path: 8 iterations from the same random start (too few to meet tol=0, so
    # both runs do exactly 8 M-steps), then both fits run to convergence
    for max_iter, tol, rtol in [(8, 0.0, 1e-12), (5000, 1e-12, 1e-6)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", em.ConvergenceWarning)
            ign = truth.copy().fit(X, max_iter=max_iter, tol=tol, random_state=3)
            joint = truth.copy().fit(X, max_iter=max_iter, tol=tol, random_state=3,
                                     missingness=mech)
        assert_monotone(ign.history_)
        assert_monotone(joint.history_)
        if max_iter == 8:
            assert ign.n_iter_ == joint.n_iter_ == 8
        for v in truth.variables:
            np.testing.assert_allclose(joint.cpts[v], ign.cpts[v], rtol=rtol, atol=1e-12)
    # delta equals the closed-form indicator frequencies
    mY = X[:, 1] == -1
    m1 = X[:, 2] == -1
    if kind == "MCAR":
        np.testing.assert_allclose(joint.missingness_["Y"], [1 - mY.mean(), mY.mean()], rtol=1e-12)
        np.testing.assert_allclose(joint.missingness_["X1"][1], m1.mean(), rtol=1e-12)
        assert set(joint.missingness_) == {"Y", "X1"}
    else:
        for c in (0, 1):
            np.testing.assert_allclose(joint.missingness_["Y"][c, 1], mY[C == c].mean(), rtol=1e-12)
            np.testing.assert_allclose(joint.missingness_["X1"][c, 1], m1[C == c].mean(), rtol=1e-12)
    # the log-likelihood separates: delta part is a closed-form function of delta alone
    parts = joint.log_likelihood(X, missingness=mech)
    assert parts.theta == pytest.approx(joint.log_likelihood(X), rel=1e-12)
    if kind == "MCAR":
        d = sum(np.log(np.where(m, t[1], t[0])).sum()
                for m, t in [(mY, joint.missingness_["Y"]), (m1, joint.missingness_["X1"])])
    else:
        d = sum(np.log(np.where(m, t[C, 1], t[C, 0])).sum()
                for m, t in [(mY, joint.missingness_["Y"]), (m1, joint.missingness_["X1"])])
    assert parts.delta == pytest.approx(d, rel=1e-10)
    assert parts.total == pytest.approx(joint.log_likelihood_, rel=1e-10)


def _enumerate_with_indicators(bn, delta, parents, row):
    """log p(x_obs, m) and posterior marginals by enumeration, including p(m | x)."""
    P = O.joint(bn)
    V = bn.variables
    idx = {v: i for i, v in enumerate(V)}
    total = 0.0
    post = {v: np.zeros(bn.cardinalities[v]) for v in V}
    for x in itertools.product(*[range(bn.cardinalities[v]) for v in V]):
        if any(row[i] >= 0 and row[i] != x[i] for i in range(len(V))):
            continue
        p = P[x]
        for v, pa in parents.items():
            m = int(row[idx[v]] == -1)
            p *= delta[v][tuple(x[idx[q]] for q in pa) + (m,)]
        total += p
        for v in V:
            post[v][x[idx[v]]] += p
    return np.log(total), {v: post[v] / total for v in V}


def test_brute_force_with_indicators(rng):
    for trial in range(4):
        bn = O.random_network(rng, n_vars=5, max_card=3)
        V = bn.variables
        X = bn.sample(40, random_state=rng)
        X[rng.random(X.shape) < 0.3] = -1
        a, b = V[0], V[-1]
        mech = em.MNAR({a: [a], b: [V[1], b]})
        resolved = mech.resolve(V, X)
        delta = {v: rng.dirichlet([1, 1], size=tuple(bn.cardinalities[p] for p in pa))
                 for v, pa in resolved.items()}
        aug, names = bn._augmented(resolved, delta)
        A = augment_codes(X, V, resolved)
        ll = aug.score_samples(A)
        pp = aug.predict_proba(A, V)
        for r in range(len(X)):
            ref_ll, ref_post = _enumerate_with_indicators(bn, delta, resolved, X[r])
            assert ll[r] == pytest.approx(ref_ll, rel=1e-10)
            for v in V:
                np.testing.assert_allclose(pp[v][r], ref_post[v], rtol=1e-9, atol=1e-12)


def test_mnar_self_masking_recovery():
    """Y (3 levels) self-masking: top level missing w.p. 0.6, others 0.1; X1, X2 always observed."""
    rng = np.random.default_rng(12345)
    truth = em.BayesianNetwork([("Y", "X1"), ("Y", "X2")], {"Y": 3, "X1": 3, "X2": 3})
    truth.cpts["Y"] = np.array([0.5, 0.3, 0.2])
    truth.cpts["X1"] = np.array([[0.6, 0.25, 0.15], [0.2, 0.6, 0.2], [0.15, 0.25, 0.6]])
    truth.cpts["X2"] = np.array([[0.5, 0.3, 0.2], [0.3, 0.4, 0.3], [0.2, 0.3, 0.5]])
    n = 200_000
    X = truth.sample(n, random_state=rng)
    p_miss = np.array([0.1, 0.1, 0.6])[X[:, 0]]
    X[rng.random(n) < p_miss, 0] = -1
    mech = em.MNAR({"Y": ["Y"]})
    fit = truth.copy().fit(X, missingness=mech, max_iter=2000, tol=1e-10, random_state=0)
    assert_monotone(fit.history_)
    np.testing.assert_allclose(fit.cpts["Y"], truth.cpts["Y"], atol=0.02)
    np.testing.assert_allclose(fit.missingness_["Y"][:, 1], [0.1, 0.1, 0.6], atol=0.04)
    for v in ("X1", "X2"):
        np.testing.assert_allclose(fit.cpts[v], truth.cpts[v], atol=0.02)
    # the ignorable fit is visibly biased towards the levels that are seldom missing
    ign = truth.copy().fit(X, max_iter=2000, tol=1e-10, random_state=0)
    assert_monotone(ign.history_)
    assert truth.cpts["Y"][2] - ign.cpts["Y"][2] > 0.05
    # and the MNAR model fits data + pattern better than the (ignorable θ, MCAR δ) model
    mcar = truth.copy().fit(X, missingness=em.MCAR(), max_iter=2000, tol=1e-10, random_state=0)
    assert fit.log_likelihood_ > mcar.log_likelihood_ + 100


def test_mar_rejects_sometimes_missing_parent(rng):
    truth = _net()
    X = truth.sample(200, random_state=rng)
    X[:5, 1] = -1
    X[3:9, 2] = -1
    with pytest.raises(ValueError, match=r"MAR: the indicator of 'Y' depends on 'X1', which is "
                                         r"missing in 6 row\(s\) \(first: row 3\).*MNAR, not MAR"):
        truth.copy().fit(X, missingness=em.MAR({"Y": ["X1"]}))
    with pytest.raises(TypeError, match=r"missingness must be emfast.MCAR\(\)"):
        truth.copy().fit(X, missingness="MAR")


def test_fixed_missingness_and_sensitivity(rng):
    truth = em.BayesianNetwork([("Y", "X1")], {"Y": 2, "X1": 3})
    truth.cpts["Y"] = np.array([0.6, 0.4])
    truth.cpts["X1"] = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    X = truth.sample(4000, random_state=rng)
    X[rng.random(len(X)) < np.array([0.1, 0.5])[X[:, 0]], 0] = -1
    mech = em.MNAR({"Y": ["Y"]})
    fixed = {"Y": np.array([0.1, 0.5])}
    bn = truth.copy().fit(X, missingness=mech, fixed_missingness=fixed, max_iter=300, tol=1e-9,
                          random_state=0)
    assert_monotone(bn.history_)
    np.testing.assert_allclose(bn.missingness_["Y"], [[0.9, 0.1], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"fixed_missingness\['Y'\] must have shape \(2, 2\)"):
        truth.copy().fit(X, missingness=mech, fixed_missingness={"Y": np.ones(3)})
    with pytest.raises(ValueError, match=r"fixed_missingness names 'X1', which has no missingness"):
        truth.copy().fit(X, missingness=mech, fixed_missingness={"X1": [0.1, 0.2, 0.3]})
    grid = [{"Y": [d0, 0.5]} for d0 in (0.05, 0.1, 0.3)]
    res = em.sensitivity_analysis(truth, X, mech, grid, lambda m: m.cpts["Y"][1],
                                  max_iter=300, tol=1e-9, random_state=0)
    est = [r["estimate"] for r in res]
    # assuming Y=0 is missing more often moves P(Y=1) down, monotonically
    assert est[0] > est[1] > est[2]
    assert abs(est[1] - 0.4) < 0.05
    assert all(np.isfinite(r["log_likelihood"]) for r in res)


def test_log_likelihood_parts_errors(rng):
    truth = _net()
    X = truth.sample(100, random_state=rng)
    X[:10, 1] = -1
    bn = truth.copy()
    with pytest.raises(ValueError, match="no fitted missingness mechanism"):
        bn.log_likelihood(X, missingness=em.MCAR())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.ConvergenceWarning)
        bn.fit(X, missingness=em.MCAR(), max_iter=5, random_state=0)
    with pytest.raises(ValueError, match=r"fitted with missingness=MCAR\(\), not MNAR"):
        bn.log_likelihood(X, missingness=em.MNAR({"Y": ["Y"]}))
    # a plain refit forgets the mechanism
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.ConvergenceWarning)
        bn.fit(X, max_iter=5, random_state=0)
    assert not hasattr(bn, "missingness_")
