"""Tests of emfast.CategoricalHMM against brute force, textbook numbers and its own invariants."""
import numpy as np
import pytest

import emfast
from emfast import CategoricalHMM, NotFittedError
from emfast.hmm import _fused_estep, _stack_emissions

from _oracle_hmm import hmm_by_enumeration
from conftest import assert_monotone


def random_model(rng, K, sizes, sticky=0.0):
    start = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K), size=K)
    if sticky:
        trans = (1 - sticky) * trans + sticky * np.eye(K)
    tables = [rng.dirichlet(np.ones(m), size=K) for m in sizes]
    return start, trans, tables


def set_model(model, start, trans, tables, multi):
    model.startprob_ = start
    model.transmat_ = trans
    model.emissionprob_ = list(tables) if multi else tables[0]
    model.n_features_ = [t.shape[1] for t in tables] if multi else tables[0].shape[1]
    return model


def simulate(rng, start, trans, tables, lengths, p_missing=0.0):
    K = len(start)
    xs, zs = [], []
    for T in lengths:
        z = np.empty(T, dtype=int)
        z[0] = rng.choice(K, p=start)
        for t in range(1, T):
            z[t] = rng.choice(K, p=trans[z[t - 1]])
        x = np.column_stack([(rng.random(T)[:, None] > np.cumsum(B[z], axis=1)).sum(axis=1)
                             for B in tables])
        x = np.minimum(x, [B.shape[1] - 1 for B in tables])
        if p_missing:
            x[rng.random(x.shape) < p_missing] = -1
        xs.append(x)
        zs.append(z)
    return np.concatenate(xs), np.concatenate(zs)


# ---------------------------------------------------------------- brute force
@pytest.mark.parametrize("K,sizes", [(1, [3]), (2, [3]), (3, [2]), (2, [3, 2]), (3, [2, 4, 2])])
def test_estep_matches_enumeration(rng, K, sizes):
    start, trans, tables = random_model(rng, K, sizes)
    lengths = [1, 4, 6, 3]
    X, _ = simulate(rng, start, trans, tables, lengths, p_missing=0.3)
    X[5] = -1                      # one step with every channel missing
    multi = len(sizes) > 1
    model = set_model(CategoricalHMM(n_components=K), start, trans, tables, multi)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ll, stats, gamma = _fused_estep(X.astype(np.int32), offsets, [start, trans] + tables, 2,
                                    posteriors=True)
    st = np.zeros(K)
    xi = np.zeros((K, K))
    em = [np.zeros_like(t) for t in tables]
    Xin = X if multi else X[:, 0]
    lp_v, path_v = model.decode(Xin, lengths)
    lp_v_total = 0.0
    for s, (a, b) in enumerate(zip(offsets[:-1], offsets[1:])):
        ref = hmm_by_enumeration(start, trans, tables, X[a:b])
        np.testing.assert_allclose(ll[s], ref["loglik"], rtol=1e-10)
        np.testing.assert_allclose(gamma[a:b], ref["gamma"], rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(path_v[a:b], ref["viterbi_path"])
        lp_v_total += ref["viterbi_logp"]
        st += ref["start_counts"]
        xi += ref["xi"]
        for c in range(len(tables)):
            em[c] += ref["emit"][c]
    np.testing.assert_allclose(stats.start, st, rtol=1e-10)
    np.testing.assert_allclose(stats.trans, xi, rtol=1e-10, atol=1e-14)
    for c in range(len(tables)):
        np.testing.assert_allclose(stats.emit[c], em[c], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(lp_v, lp_v_total, rtol=1e-10)
    np.testing.assert_allclose(model.score(Xin, lengths), ll.sum(), rtol=1e-12)
    np.testing.assert_allclose(model.score_sequences(Xin, lengths), ll, rtol=1e-12)
    lp, post = model.score_samples(Xin, lengths)
    np.testing.assert_allclose(post, gamma, rtol=1e-12)


def test_all_missing_sequence_has_loglik_zero(rng):
    start, trans, tables = random_model(rng, 3, [4])
    model = set_model(CategoricalHMM(n_components=3), start, trans, tables, False)
    X = np.full(7, -1)
    assert model.score(X) == pytest.approx(0.0, abs=1e-14)
    # posteriors are the prior state marginals
    post = model.predict_proba(X)
    marg = start.copy()
    for t in range(7):
        np.testing.assert_allclose(post[t], marg, rtol=1e-12)
        marg = marg @ trans


def test_wikipedia_weather_viterbi():
    # https://en.wikipedia.org/wiki/Viterbi_algorithm (Rainy=0, Sunny=1; walk, shop, clean)
    model = CategoricalHMM(n_components=2)
    set_model(model, np.array([0.6, 0.4]), np.array([[0.7, 0.3], [0.4, 0.6]]),
              [np.array([[0.1, 0.4, 0.5], [0.6, 0.3, 0.1]])], False)
    logprob, states = model.decode(np.array([[0], [1], [2]]))
    assert np.exp(logprob) == pytest.approx(0.01344, rel=1e-12)
    np.testing.assert_array_equal(states, [1, 0, 0])


def test_reduces_to_mixture_when_rows_equal(rng):
    K = 3
    w = rng.dirichlet(np.ones(K))
    B = rng.dirichlet(np.ones(5), size=K)
    model = set_model(CategoricalHMM(n_components=K), w, np.tile(w, (K, 1)), [B], False)
    X = rng.integers(-1, 5, size=40)
    post = model.predict_proba(X, [15, 25])
    lik = np.where(X[:, None] >= 0, B[:, np.maximum(X, 0)].T, 1.0) * w
    np.testing.assert_allclose(post, lik / lik.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(model.score(X, [15, 25]), np.log(lik.sum(axis=1)).sum(),
                               rtol=1e-12)


def test_long_sequence_no_underflow():
    # 10**7 steps in one sequence: the likelihood itself underflows by far, the scaled
    # log-likelihood must equal the exact sum of per-step terms (rows of transmat equal w,
    # so p(x) = prod_t sum_k w_k B[k, x_t]).
    rng = np.random.default_rng(5)
    K, M, T = 2, 4, 10**7
    w = np.array([0.3, 0.7])
    B = rng.dirichlet(np.ones(M), size=K)
    X = rng.integers(0, M, size=T).astype(np.int32)
    X[::1000] = -1
    model = set_model(CategoricalHMM(n_components=K, n_jobs=1), w, np.tile(w, (K, 1)), [B],
                      False)
    ll = model.score(X)
    step = np.log(w @ B)
    counts = np.bincount(X[X >= 0], minlength=M)
    assert np.isfinite(ll) and ll < -1e6
    np.testing.assert_allclose(ll, counts @ step, rtol=1e-10)


# --------------------------------------------------------------------- fitting
def test_fit_monotone_and_score_matches(rng):
    start, trans, tables = random_model(rng, 3, [5], sticky=0.6)
    X, _ = simulate(rng, start, trans, tables, [50, 80, 30], p_missing=0.1)
    model = CategoricalHMM(n_components=3, n_iter=1000, tol=1e-4, random_state=1)
    model.fit(X, [50, 80, 30])
    assert model.converged_ and model.monitor_.converged and model.stop_reason_ == "tol"
    assert_monotone(model.monitor_.history)
    assert model.history_ == list(model.monitor_.history)
    # hmmlearn's loop: an M-step after every E-step, so the returned parameters are one
    # M-step past the last scored ones (EM: they score at least as well)
    assert model.log_likelihood_ == pytest.approx(model.history_[-1], rel=1e-12)
    assert model.n_iter_ == len(model.history_) == model.monitor_.iter
    assert model.score(X, [50, 80, 30]) >= model.log_likelihood_ - 1e-9
    assert model.emissionprob_.shape == (3, 5)
    assert model.n_features_ == 5 and model.n_features == 5    # written back, as hmmlearn
    assert model.random_state == 1
    # score_final=True: one more E-step scores the returned parameters
    scored = CategoricalHMM(n_components=3, n_iter=1000, tol=1e-4, random_state=1,
                            score_final=True).fit(X, [50, 80, 30])
    np.testing.assert_array_equal(scored.transmat_, model.transmat_)
    assert scored.score(X, [50, 80, 30]) == pytest.approx(scored.log_likelihood_, rel=1e-12)
    assert len(scored.history_) == len(model.history_) + 1


def test_multichannel_recovery():
    rng = np.random.default_rng(11)
    start = np.array([0.5, 0.5])
    trans = np.array([[0.95, 0.05], [0.1, 0.9]])
    tables = [np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]]), np.array([[0.9, 0.1], [0.2, 0.8]])]
    lengths = [500] * 20
    X, z = simulate(rng, start, trans, tables, lengths, p_missing=0.2)
    model = CategoricalHMM(n_components=2, n_iter=200, tol=1e-6, random_state=0, n_init=3)
    model.fit(X, lengths)
    assert_monotone(model.history_)
    assert isinstance(model.emissionprob_, list) and model.n_features_ == [3, 2]
    perm = np.argsort(model.emissionprob_[0][:, 0])[::-1]
    np.testing.assert_allclose(model.transmat_[np.ix_(perm, perm)], trans, atol=0.03)
    for est, true in zip(model.emissionprob_, tables):
        np.testing.assert_allclose(est[perm], true, atol=0.03)
    acc = np.mean(perm[model.predict(X, lengths)] == z) if False else \
        np.mean(np.argsort(perm)[model.predict(X, lengths)] == z)
    assert acc > 0.9


def test_threads_give_same_parameters(rng):
    start, trans, tables = random_model(rng, 4, [6, 3], sticky=0.5)
    lengths = list(rng.integers(20, 120, size=40))
    X, _ = simulate(rng, start, trans, tables, lengths, p_missing=0.1)
    # sequences are summed in blocks fixed by the lengths, not by the threads:
    # bit-identical fits for 1, 2 and 3 threads (and from run to run)
    fits = []
    for j in (1, 2, 3, 2):
        fits.append(CategoricalHMM(n_components=4, n_iter=15, tol=0, random_state=3,
                                   n_jobs=j).fit(X, lengths))
    for g in fits[1:]:
        np.testing.assert_array_equal(fits[0].startprob_, g.startprob_)
        np.testing.assert_array_equal(fits[0].transmat_, g.transmat_)
        for a, b in zip(fits[0].emissionprob_, g.emissionprob_):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(fits[0].history_, g.history_)


@pytest.mark.filterwarnings("ignore::emfast.ConvergenceWarning")
def test_preset_parameters_are_the_start(rng):
    start, trans, tables = random_model(rng, 2, [4])
    X, _ = simulate(rng, start, trans, tables, [60])
    model = CategoricalHMM(n_components=2, init_params="", n_iter=1)
    model.startprob_, model.transmat_, model.emissionprob_ = start, trans, tables[0]
    ref = set_model(CategoricalHMM(n_components=2), start, trans, tables, False).score(X)
    model.fit(X)
    assert model.history_[0] == pytest.approx(ref, rel=1e-12)
    assert model.n_iter_ == 1 and len(model.history_) == 1        # hmmlearn: one E, one M
    assert not np.allclose(model.emissionprob_, tables[0])        # n_iter=1 still updates
    # params restricts the update
    m2 = CategoricalHMM(n_components=2, init_params="", params="e", n_iter=5)
    m2.startprob_, m2.transmat_, m2.emissionprob_ = start, trans, tables[0]
    m2.fit(X)
    np.testing.assert_array_equal(m2.startprob_, start)
    np.testing.assert_array_equal(m2.transmat_, trans)
    # n_features taken from a preset emissionprob_ wider than the data
    wide = np.full((2, 6), 1 / 6)
    m3 = CategoricalHMM(n_components=2, init_params="st", n_iter=2)
    m3.emissionprob_ = wide
    m3.fit(np.array([0, 1, 2, 1]))
    assert m3.emissionprob_.shape == (2, 6)


def test_priors_map_objective_monotone(rng):
    start, trans, tables = random_model(rng, 3, [5], sticky=0.5)
    X, _ = simulate(rng, start, trans, tables, [40, 40], p_missing=0.1)
    model = CategoricalHMM(n_components=3, startprob_prior=2.0, transmat_prior=3.0,
                           emissionprob_prior=1.5, n_iter=30, tol=0, random_state=0,
                           score_final=True)
    model.fit(X, [40, 40])
    assert_monotone(model.history_)
    # the history holds log-likelihood + log prior; log_likelihood_ the plain one
    assert model.history_[-1] != pytest.approx(model.log_likelihood_)
    assert model.score(X, [40, 40]) == pytest.approx(model.log_likelihood_, rel=1e-12)


@pytest.mark.filterwarnings("ignore::emfast.ConvergenceWarning")
def test_n_init_never_worse(rng):
    start, trans, tables = random_model(rng, 3, [4], sticky=0.5)
    X, _ = simulate(rng, start, trans, tables, [100, 100])
    kw = dict(n_components=3, n_iter=30, tol=1e-4, random_state=7)
    one = CategoricalHMM(**kw, n_init=1).fit(X, [100, 100])
    five = CategoricalHMM(**kw, n_init=5).fit(X, [100, 100])
    assert five.log_likelihood_ >= one.log_likelihood_ - 1e-9


def test_convergence_warning_and_reproducible(rng):
    start, trans, tables = random_model(rng, 3, [4])
    X, _ = simulate(rng, start, trans, tables, [100])
    # no ConvergenceWarning (hmmlearn emits none); converged_ / stop_reason_ say it
    m = CategoricalHMM(n_components=3, n_iter=2, tol=0, random_state=0).fit(X)
    assert not m.converged_ and m.stop_reason_ == "max_iter" and m.monitor_.converged
    assert m.monitor_.iter == 2 and len(m.monitor_.history) == 2
    a = CategoricalHMM(n_components=3, random_state=4, n_iter=5, tol=0)
    a.fit(X)
    first = a.emissionprob_.copy()
    a.fit(X)
    np.testing.assert_array_equal(first, a.emissionprob_)      # random_state not consumed


# ---------------------------------------------------------------- other methods
def test_decode_map_predict_sample_impute(rng):
    start, trans, tables = random_model(rng, 2, [3, 4], sticky=0.7)
    model = set_model(CategoricalHMM(n_components=2, random_state=0), start, trans, tables, True)
    X, states = model.sample(300, random_state=1)
    assert X.shape == (300, 2) and states.shape == (300,)
    assert X[:, 0].max() < 3 and X[:, 1].max() < 4 and X.min() >= 0
    Xs, s2 = model.sample(50, currstate=1)
    assert s2[0] == 1
    lp, path = model.decode(X, algorithm="map")
    post = model.predict_proba(X)
    np.testing.assert_array_equal(path, post.argmax(axis=1))
    assert lp == pytest.approx(post.max(axis=1).sum())
    np.testing.assert_array_equal(model.predict(X), model.decode(X)[1])
    Xm = X.copy()
    hole = rng.random(X.shape) < 0.3
    Xm[hole] = -1
    imp = model.impute(Xm, method="map")
    np.testing.assert_array_equal(imp[~hole], X[~hole])
    assert imp.min() >= 0
    # map imputation = argmax of posterior predictive
    post = model.predict_proba(Xm)
    r = np.flatnonzero(hole[:, 0])[0]
    assert imp[r, 0] == np.argmax(post[r] @ tables[0])
    drawn = model.impute(Xm, method="sample", random_state=0)
    np.testing.assert_array_equal(drawn[~hole], X[~hole])
    assert drawn.min() >= 0 and drawn[:, 1].max() < 4
    pi = model.get_stationary_distribution()
    np.testing.assert_allclose(pi @ trans, pi, rtol=1e-10)
    # aic / bic
    n_params = 1 + 2 + 2 * 2 + 2 * 3
    assert model.aic(X) == pytest.approx(-2 * model.score(X) + 2 * n_params)
    assert model.bic(X) == pytest.approx(-2 * model.score(X) + n_params * np.log(300))


def test_single_channel_sample_shape_and_2d_input(rng):
    start, trans, tables = random_model(rng, 2, [3])
    model = set_model(CategoricalHMM(n_components=2), start, trans, tables, False)
    X, _ = model.sample(20, random_state=0)
    assert X.shape == (20, 1)
    assert model.score(X) == pytest.approx(model.score(X[:, 0]), rel=1e-14)


def test_sklearn_clone_and_not_fitted():
    model = CategoricalHMM(n_components=3, n_iter=7, n_jobs=1)
    assert model.get_params()["n_iter"] == 7
    assert "n_components=3" in repr(model)
    sklearn_base = pytest.importorskip("sklearn.base")
    c = sklearn_base.clone(model)
    assert c.get_params() == model.get_params()
    with pytest.raises(NotFittedError, match="This CategoricalHMM instance is not fitted yet"):
        model.score(np.array([0, 1]))


# ----------------------------------------------------------------- bad input
@pytest.fixture
def fitted(rng):
    start, trans, tables = random_model(rng, 2, [3])
    return set_model(CategoricalHMM(n_components=2), start, trans, tables, False)


def test_bad_input_messages(fitted):
    with pytest.raises(ValueError, match=r"X contains category -2 at row 1.*use -1"):
        fitted.score(np.array([0, -2, 1]))
    with pytest.raises(ValueError, match=r"X contains category 3 at row 2, but .* has 3 "
                                         r"categories \(0\.\.2\)"):
        fitted.score(np.array([0, 1, 3]))
    with pytest.raises(ValueError, match=r"lengths must sum to len\(X\)=3, got sum\(lengths\)=4"):
        fitted.score(np.array([0, 1, 2]), [2, 2])
    with pytest.raises(ValueError, match=r"lengths\[1\] = 0: every sequence must have at least"):
        fitted.score(np.array([0, 1, 2]), [3, 0])
    with pytest.raises(ValueError, match=r"non-integer value 0.5 at row 1"):
        fitted.score(np.array([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match=r"X is empty"):
        CategoricalHMM(n_components=2).fit(np.array([], dtype=int))
    with pytest.raises(ValueError, match=r"X\[:, 1\] contains category 5 at row 0"):
        CategoricalHMM(n_components=2, n_features=[3, 4]).fit(np.array([[0, 5], [1, 1]]))
    with pytest.raises(ValueError, match=r"n_features has 1 entries but X has 2 column"):
        CategoricalHMM(n_components=2, n_features=[3]).fit(np.array([[0, 1], [1, 1]]))
    with pytest.raises(TypeError, match=r"X has dtype <U1"):
        fitted.score(np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"n_components must be an int >= 1; got 0"):
        CategoricalHMM(n_components=0).fit(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"transmat_: row \(0,\) sums to 1.1, not 1"):
        m = CategoricalHMM(n_components=2, init_params="se")
        m.transmat_ = np.array([[0.5, 0.6], [0.5, 0.5]])
        m.fit(np.array([0, 1]))


def test_float_nan_is_missing(fitted):
    X = np.array([0.0, np.nan, 2.0])
    assert fitted.score(X) == pytest.approx(fitted.score(np.array([0, -1, 2])), rel=1e-14)


def test_zero_probability_observation_names_sequence_and_step(fitted):
    fitted.emissionprob_ = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    with pytest.raises(ValueError, match=r"Sequence 1 has probability 0 at t=2 \(row 5 of X\)"):
        fitted.score(np.array([0, 1, 0, 1, 0, 2, 1]), [3, 4])
    with pytest.raises(ValueError, match=r"Sequence 1 has probability 0 at t=2"):
        fitted.decode(np.array([0, 1, 0, 1, 0, 2, 1]), [3, 4])
    # a structural zero in transitions is fine as long as some path survives
    fitted.emissionprob_ = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    fitted.transmat_ = np.array([[1.0, 0.0], [0.5, 0.5]])
    fitted.startprob_ = np.array([0.5, 0.5])
    assert np.isfinite(fitted.score(np.array([1, 2, 0, 0])))
    with pytest.raises(ValueError, match=r"Sequence 0 has probability 0 at t=1"):
        fitted.score(np.array([0, 1]))


def test_stack_emissions_layout(rng):
    tables = [rng.random((3, 2)), rng.random((3, 4))]
    emitT, choff = _stack_emissions(tables)
    assert emitT.shape == (7, 3) and list(choff) == [0, 2, 6]
    np.testing.assert_array_equal(emitT[2 + 3], tables[1][:, 3])
    np.testing.assert_array_equal(emitT[6], 1.0)          # the row a missing code uses


@pytest.mark.parametrize("K", [2, 3, 4, 5, 8, 16])
def test_specialised_state_counts_match_generic_frames_path(rng, K):
    # the codes kernel has compile-time specialisations for some K; the frames kernel is
    # always generic: both must agree
    start, trans, tables = random_model(rng, K, [7, 3])
    lengths = [30, 1, 45]
    X, _ = simulate(rng, start, trans, tables, lengths, p_missing=0.2)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ll, stats, gamma = _fused_estep(X.astype(np.int32), offsets, [start, trans] + tables, 2,
                                    posteriors=True)
    frame = np.ones((len(X), K))
    for c, B in enumerate(tables):
        frame *= np.where(X[:, [c]] >= 0, B[:, np.maximum(X[:, c], 0)].T, 1.0)
    ll2, post2, xi2 = emfast.kernels.forward_backward(frame, start, trans, lengths)
    np.testing.assert_allclose(ll, ll2, rtol=1e-12)
    np.testing.assert_allclose(gamma, post2, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(stats.trans, xi2, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(stats.start, post2[offsets[:-1]].sum(0), rtol=1e-10, atol=1e-13)


def test_priors_below_one_are_monotone():
    """Issue 14 item 10: hmmlearn's rule max(prior - 1 + c, 0) with concentrations below 1;
    the monitored objective is ll + Σ_{θ>0} (α-1) log θ on the current support (rebased
    when the support changes), so the monitor (warnings are errors) never fires."""
    X = [2, 0, 1, 1, 1, 2, 2, 1, 2, 1, 2, 0]
    m = CategoricalHMM(2, emissionprob_prior=0.5, n_iter=50, tol=-1, random_state=2).fit(X)
    assert_monotone_on_support(m)
    rng = np.random.default_rng(5)
    Y = rng.integers(0, 5, 300)
    n_rebased = 0
    for rs in range(37):
        for prior in (0.5, 0.2):
            m = CategoricalHMM(3, emissionprob_prior=prior, n_iter=50, tol=-1,
                               random_state=rs).fit(Y)
            assert_monotone_on_support(m)
            n_rebased += m.monitor_.n_rebased
            # the rule's fixed zeros: an emission probability that is 0 stays 0
            assert np.all(np.isfinite(m.emissionprob_))
    assert n_rebased > 0            # the support does change in these fits


def assert_monotone_on_support(model):
    h = np.asarray(model.history_)
    assert np.all(np.isfinite(h))
    assert len(h) == model.n_iter_


def test_priors_below_one_match_hmmlearn_rule(rng):
    """On a fixed support one M-step is exactly hmmlearn's max(prior - 1 + counts, 0)."""
    from _oracle_hmm import hmm_by_enumeration
    K, M = 2, 4
    start, trans = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K)
    B = rng.dirichlet(np.ones(M), size=K)
    X = rng.integers(0, M, size=6)
    m = CategoricalHMM(K, emissionprob_prior=0.7, init_params="", n_iter=1)
    m.startprob_, m.transmat_, m.emissionprob_ = start, trans, B
    m.fit(X)
    ref = hmm_by_enumeration(start, trans, [B], X[:, None])
    counts = np.stack([ref["gamma"][X == v].sum(0) for v in range(M)], axis=1)
    expect = np.maximum(counts - 0.3, 0)
    live = expect.sum(1) > 0
    expect[live] /= expect[live].sum(1, keepdims=True)
    expect[~live] = B[~live]                  # a fully clipped row keeps its values
    np.testing.assert_allclose(m.emissionprob_, expect, rtol=1e-10, atol=1e-14)
