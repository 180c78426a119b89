"""Optional agreement with hmmlearn (skipped when hmmlearn is not installed)."""
import numpy as np
import pytest

import emfast

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")
pytestmark = pytest.mark.peer


@pytest.mark.parametrize("implementation", ["log", "scaling"])
@pytest.mark.parametrize("params", ["ste", "te"])
def test_same_trajectory_as_hmmlearn(rng, implementation, params):
    K, M = 3, 6
    start = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K), size=K) * 0.5 + np.eye(K) * 0.5
    B = rng.dirichlet(np.ones(M), size=K)
    lengths = [120, 80, 200]
    X = rng.integers(0, M, size=(sum(lengths), 1))
    ref = hmmlearn_hmm.CategoricalHMM(n_components=K, n_iter=10, tol=-np.inf, params=params,
                                      init_params="", implementation=implementation)
    ref.startprob_, ref.transmat_, ref.emissionprob_ = start, trans, B
    ref.n_features = M
    ref.fit(X, lengths)
    ours = emfast.CategoricalHMM(n_components=K, n_iter=10, tol=0, params=params,
                                 init_params="", implementation=implementation)
    ours.startprob_, ours.transmat_, ours.emissionprob_ = start, trans, B
    ours.fit(X, lengths)          # no ConvergenceWarning: hmmlearn emits none
    assert len(ref.monitor_.history) == 10
    assert ours.monitor_.iter == ref.monitor_.iter == 10
    assert ours.monitor_.converged == ref.monitor_.converged
    np.testing.assert_allclose(list(ours.monitor_.history), list(ref.monitor_.history),
                               rtol=1e-9)
    np.testing.assert_allclose(ours.startprob_, ref.startprob_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.transmat_, ref.transmat_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.emissionprob_, ref.emissionprob_, rtol=1e-9, atol=1e-12)
    # scoring, posteriors and decoding agree on the fitted model
    np.testing.assert_allclose(ours.score(X, lengths), ref.score(X, lengths), rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X, lengths), ref.predict_proba(X, lengths),
                               rtol=1e-7, atol=1e-10)
    lp_o, path_o = ours.decode(X, lengths)
    lp_r, path_r = ref.decode(X, lengths)
    np.testing.assert_allclose(lp_o, lp_r, rtol=1e-9)
    np.testing.assert_array_equal(path_o, path_r)
    assert ours.bic(X, lengths) == pytest.approx(ref.bic(X, lengths), rel=1e-9)
    assert ours.aic(X, lengths) == pytest.approx(ref.aic(X, lengths), rel=1e-9)


def test_priors_same_parameters_as_hmmlearn(rng):
    K, M = 2, 4
    X = rng.integers(0, M, size=(150, 1))
    start, trans, B = (rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
                       rng.dirichlet(np.ones(M), size=K))
    kw = dict(n_components=K, startprob_prior=2.0, transmat_prior=1.5, emissionprob_prior=3.0,
              n_iter=5, init_params="")
    ref = hmmlearn_hmm.CategoricalHMM(**kw, tol=-np.inf)
    ours = emfast.CategoricalHMM(**kw, tol=0)
    for m in (ref, ours):
        m.startprob_, m.transmat_, m.emissionprob_ = start, trans, B
    ref.fit(X)
    ours.fit(X)
    np.testing.assert_allclose(ours.transmat_, ref.transmat_, rtol=1e-9)
    np.testing.assert_allclose(ours.emissionprob_, ref.emissionprob_, rtol=1e-9)
