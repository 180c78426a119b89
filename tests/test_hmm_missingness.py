"""CategoricalHMM(missingness="state"): state-dependent missingness (issue 6, HMM part)."""
import numpy as np
import pytest

import emfast
from emfast import CategoricalHMM

from _oracle_hmm import hmm_by_enumeration
from conftest import assert_monotone


def _aug(tables, q):
    # brute-force definition: symbol M_c of channel c means "missing"
    return [np.hstack([(1 - q[:, [c]]) * B, q[:, [c]]]) for c, B in enumerate(tables)]


def _recode(X, sizes):
    return np.column_stack([np.where(X[:, c] < 0, m, X[:, c]) for c, m in enumerate(sizes)])


def _model(rng, K, sizes):
    return (rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
            [rng.dirichlet(np.ones(m), size=K) for m in sizes],
            rng.uniform(0.05, 0.8, size=(K, len(sizes))))


def _set(model, start, trans, tables, q):
    model.startprob_, model.transmat_, model.missingprob_ = start, trans, q
    model.emissionprob_ = list(tables) if len(tables) > 1 else tables[0]
    model.n_features_ = [t.shape[1] for t in tables] if len(tables) > 1 else tables[0].shape[1]
    return model


@pytest.mark.parametrize("K,sizes", [(2, [3]), (3, [2, 3])])
def test_state_missingness_matches_enumeration(rng, K, sizes):
    start, trans, tables, q = _model(rng, K, sizes)
    X = np.column_stack([rng.integers(-1, m, size=9) for m in sizes])
    lengths = [4, 5]
    model = _set(CategoricalHMM(n_components=K, missingness="state"), start, trans, tables, q)
    Xin = X if len(sizes) > 1 else X[:, 0]
    ll = model.score_sequences(Xin, lengths)
    post = model.predict_proba(Xin, lengths)
    _, path = model.decode(Xin, lengths)
    Xa = _recode(X, sizes)
    for s, (a, b) in enumerate([(0, 4), (4, 9)]):
        ref = hmm_by_enumeration(start, trans, _aug(tables, q), Xa[a:b])
        np.testing.assert_allclose(ll[s], ref["loglik"], rtol=1e-10)
        np.testing.assert_allclose(post[a:b], ref["gamma"], rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(path[a:b], ref["viterbi_path"])


def test_one_em_step_is_the_factorised_mle(rng):
    K, sizes = 2, [3, 2]
    start, trans, tables, q = _model(rng, K, sizes)
    X = np.column_stack([rng.integers(-1, m, size=6) for m in sizes])
    model = _set(CategoricalHMM(n_components=K, missingness="state", init_params="", n_iter=1),
                 start, trans, tables, q)
    model.fit(X)
    ref = hmm_by_enumeration(start, trans, _aug(tables, q), _recode(X, sizes))
    g = ref["gamma"]
    for c, m in enumerate(sizes):
        miss = X[:, c] < 0
        np.testing.assert_allclose(model.missingprob_[:, c], g[miss].sum(0) / g.sum(0),
                                   rtol=1e-10)
        counts = np.stack([g[X[:, c] == v].sum(0) for v in range(m)], axis=1)
        np.testing.assert_allclose(model.emissionprob_[c],
                                   counts / counts.sum(1, keepdims=True), rtol=1e-10)
    np.testing.assert_allclose(model.transmat_, ref["xi"] / ref["xi"].sum(1, keepdims=True),
                               rtol=1e-10)


def test_state_independent_q_adds_a_bernoulli_term(rng):
    K, sizes = 3, [4, 2]
    start, trans, tables, _ = _model(rng, K, sizes)
    qc = np.array([0.2, 0.6])
    q = np.tile(qc, (K, 1))
    X = np.column_stack([rng.integers(-1, m, size=50) for m in sizes])
    ign = _set(CategoricalHMM(n_components=K), start, trans, tables, q)
    st = _set(CategoricalHMM(n_components=K, missingness="state"), start, trans, tables, q)
    n_mis = (X < 0).sum(0)
    extra = np.sum(n_mis * np.log(qc) + (len(X) - n_mis) * np.log(1 - qc))
    np.testing.assert_allclose(st.score(X, [20, 30]), ign.score(X, [20, 30]) + extra,
                               rtol=1e-12)
    np.testing.assert_allclose(st.predict_proba(X, [20, 30]), ign.predict_proba(X, [20, 30]),
                               rtol=1e-10, atol=1e-14)


def test_recovery_of_missingprob():
    rng = np.random.default_rng(3)
    truth = CategoricalHMM(n_components=2, missingness="state", random_state=1)
    q = np.array([[0.05, 0.1], [0.6, 0.4]])
    tables = [np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]]), np.array([[0.7, 0.3], [0.4, 0.6]])]
    _set(truth, np.array([0.5, 0.5]), np.array([[0.95, 0.05], [0.05, 0.95]]), tables, q)
    X, z = truth.sample(20000, random_state=rng)
    assert abs(np.mean(X[:, 0] < 0) - np.mean(q[z, 0])) < 0.02
    lengths = [1000] * 20
    model = CategoricalHMM(n_components=2, missingness="state", n_iter=300, tol=1e-4,
                           random_state=0, n_init=2).fit(X, lengths)
    assert_monotone(model.history_)
    perm = np.argsort(model.missingprob_[:, 0])
    np.testing.assert_allclose(model.missingprob_[perm], q, atol=0.03)
    for est, true in zip(model.emissionprob_, tables):
        np.testing.assert_allclose(est[perm], true, atol=0.05)
    assert model.missingprob_.shape == (2, 2) and model._n_parameters() == 1 + 2 + 2 + 4 + 4
    imp = model.impute(X, lengths)
    assert imp.min() >= 0 and np.array_equal(imp[X >= 0], X[X >= 0])


def test_missingness_bad_value():
    with pytest.raises(ValueError, match=r"missingness must be None, 'ignorable', 'state' or an "
                                         r"emfast.MCAR\(\)"):
        CategoricalHMM(missingness="mnar").fit(np.array([0, 1]))
