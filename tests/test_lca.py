"""Tests of the latent class model (emfast.LatentClassModel) and its kernel."""
import copy
import pickle

import numpy as np
import pytest

import emfast
from emfast import LatentClassModel, _kernels
from emfast.mixture import lca_blocks
from emfast.em import normalize
from conftest import assert_monotone
from _oracle_lca import data_by_enumeration, joint, map_by_enumeration


def random_params(rng, K, cards, alpha=1.0):
    w = rng.dirichlet(np.full(K, alpha + 2))
    items = [rng.dirichlet(np.full(m, alpha), size=K) for m in cards]
    return w, items


def simulate(rng, w, items, n, p_missing=0.0):
    z = rng.choice(len(w), size=n, p=w)
    X = np.empty((n, len(items)), dtype=np.int64)
    for j, t in enumerate(items):
        c = np.cumsum(t[z], axis=1)
        X[:, j] = np.minimum((rng.random(n)[:, None] >= c).sum(axis=1), t.shape[1] - 1)
    if p_missing:
        X[rng.random(X.shape) < p_missing] = -1
    return X, z


def fitted_at(w, items, X):
    """A model whose parameters are exactly (w, items) (one EM run of 0 M-steps is not
    possible, so set the attributes through a fit and overwrite them)."""
    m = LatentClassModel(len(w), max_iter=1, n_categories=[t.shape[1] for t in items],
                         random_state=0, tol=0.0)
    with pytest.warns(emfast.ConvergenceWarning):
        m.fit(X)
    m.weights_ = np.asarray(w, dtype=float)
    m.item_probs_ = [np.asarray(t, dtype=float) for t in items]
    return m


TINY_CARDS = [2, 3, 2, 4]


@pytest.fixture
def tiny(rng):
    w, items = random_params(rng, 3, TINY_CARDS)
    X, _ = simulate(rng, w, items, 40, p_missing=0.3)
    X[3] = -1                       # a row with everything missing
    X[7] = [1, -1, -1, 3]
    X = np.vstack([X, X[:5]])       # duplicates, merged by compression
    return w, items, X


# --------------------------------------------------------------------------------------
# kernel and inference vs brute force
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_threads", [1, 2])
def test_kernel_matches_enumeration(tiny, n_threads):
    w, items, X = tiny
    ll, post, wc, ic = data_by_enumeration(w, items, X)
    X32 = np.ascontiguousarray(X, dtype=np.int32)
    n, K = X.shape[0], len(w)
    offsets = np.array([0, 2, 5, 7], dtype=np.int64)
    S = sum(TINY_CARDS)
    log_items = np.ascontiguousarray(np.log(np.concatenate(items, axis=1)).T)
    P = np.empty((n, K))
    L = np.empty(n)
    st = np.zeros(n, dtype=np.int32)
    wslab = np.zeros(K)
    islab = np.zeros((S, K))
    total, n_bad = _kernels.lca_estep(X32, np.ones(n), np.log(w), log_items, offsets, P, L, st,
                                      wslab, islab, True, lca_blocks(n, S, K), n_threads)
    assert not st.any() and n_bad == 0
    np.testing.assert_allclose(total, ll, rtol=1e-10)
    np.testing.assert_allclose(L.sum(), ll, rtol=1e-10)
    np.testing.assert_allclose(P, post, rtol=1e-10, atol=1e-14)
    assert L[3] == 0.0
    # the all-missing row adds nothing to the counts
    allmiss = (X < 0).all(axis=1)
    np.testing.assert_allclose(wslab, wc - post[allmiss].sum(0), rtol=1e-10)
    icnt = islab.T
    for o, m, ref in zip(offsets, TINY_CARDS, ic):
        np.testing.assert_allclose(icnt[:, o:o + m], ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("K", [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_kernel_every_class_count(rng, K, n_threads):
    """The kernel has a copy per literal K (2-6, 8), a small-K path (<= 16) and a
    generic one: every path against enumeration, with weighted rows, missing cells
    (branch-free lookups), an all-missing row and a row of probability zero."""
    cards = [3, 2, 4, 3, 2]
    w, items = random_params(rng, K, cards)
    items[3][:, 2] = 0.0                          # category 2 of item 3 impossible
    items[3] /= items[3].sum(axis=1, keepdims=True)
    X, _ = simulate(rng, w, items, 300, p_missing=0.25)
    X[5] = -1
    X[9, 3] = 2                                   # the impossible row
    weights = rng.integers(1, 4, size=len(X)).astype(float)
    # items stored in a shuffled order inside the table: offsets need not be sorted
    order = [2, 0, 4, 1, 3]
    offsets = np.zeros(len(cards), dtype=np.int64)
    pos = 0
    for j in order:
        offsets[j] = pos
        pos += cards[j]
    S = pos
    with np.errstate(divide="ignore"):
        log_items = np.empty((S, K))
        for j, t in enumerate(items):
            log_items[offsets[j]:offsets[j] + cards[j]] = np.log(t).T
    n = len(X)
    P, L, st = np.empty((n, K)), np.empty(n), np.zeros(n, dtype=np.int32)
    wslab, islab = np.zeros(K), np.zeros((S, K))
    total, n_bad = _kernels.lca_estep(np.ascontiguousarray(X, dtype=np.int32), weights,
                                      np.log(w), log_items, offsets, P, L, st, wslab, islab,
                                      True, lca_blocks(n, S, K), n_threads)
    assert st.tolist() == [1 if i == 9 else 0 for i in range(n)]
    assert n_bad == 1 and total == -np.inf
    assert L[9] == -np.inf and not P[9].any()
    ok = np.ones(n, dtype=bool)
    ok[9] = False
    ll, post, _, _ = data_by_enumeration(w, items, X[ok])
    np.testing.assert_allclose(P[ok], post, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(L[5], 0.0, atol=0)
    # expected counts, weighted, all-missing and impossible rows excluded
    use = ok & (X >= 0).any(axis=1)
    wq = weights[use, None] * P[use]
    np.testing.assert_allclose(wslab, wq.sum(0), rtol=1e-10)
    icnt = islab
    for j, m in enumerate(cards):
        for c in range(m):
            ref = wq[X[use, j] == c].sum(0)
            np.testing.assert_allclose(icnt[offsets[j] + c], ref, rtol=1e-10, atol=1e-12)
    # per-row log-likelihoods (the oracle's is a total: check it, then each row)
    np.testing.assert_allclose(L[ok].sum(), ll, rtol=1e-10)
    for i in np.flatnonzero(ok)[:40]:
        np.testing.assert_allclose(L[i], data_by_enumeration(w, items, X[i:i + 1])[0],
                                   rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("K", [3, 4, 20])
@pytest.mark.parametrize("accumulate", [True, False])
def test_kernel_bit_identical_across_threads(rng, K, accumulate):
    """Rows are summed in fixed blocks whatever the thread count: 1, 2 and 3 threads
    give the same bits (and the counts are added to what the caller passes in)."""
    cards = [3] * 12
    w, items = random_params(rng, K, cards)
    X, _ = simulate(rng, w, items, 20_000, p_missing=0.1)
    X = np.ascontiguousarray(X, dtype=np.int32)
    n, S = len(X), sum(cards)
    offsets = np.arange(0, S, 3, dtype=np.int64)
    log_items = np.ascontiguousarray(np.log(np.concatenate(items, axis=1)).T)
    weights = rng.random(n) * 3
    out = []
    for nt in (1, 2, 3):
        P, L, st = np.empty((n, K)), np.empty(n), np.zeros(n, dtype=np.int32)
        wc, ic = np.full(K, 0.5), np.full((S, K), 0.25)
        total, n_bad = _kernels.lca_estep(X, weights, np.log(w), log_items, offsets, P, L, st,
                                          wc, ic, accumulate, lca_blocks(n, S, K), nt)
        assert n_bad == 0
        out.append((P, L, st, wc, ic, np.array(total)))
    for other in out[1:]:
        for a, b in zip(out[0], other):
            np.testing.assert_array_equal(a, b)
    P, L, st, wc, ic, total = out[0]
    np.testing.assert_allclose(total, np.sum(weights * L), rtol=1e-12)
    if accumulate:
        np.testing.assert_allclose(wc - 0.5, (weights[:, None] * P).sum(0), rtol=1e-10)
        assert ic.sum() == pytest.approx(0.25 * S * K + (weights[:, None] * P
                                         * (X >= 0).sum(1)[:, None]).sum(), rel=1e-10)
    else:
        assert (wc == 0.5).all() and (ic == 0.25).all()


def test_fit_same_bits_for_any_n_jobs(rng):
    w, items = random_params(rng, 3, [3] * 12)
    X, _ = simulate(rng, w, items, 20_000, p_missing=0.1)
    fits = []
    for j in (1, 2, 3):
        with pytest.warns(emfast.ConvergenceWarning):
            fits.append(LatentClassModel(3, max_iter=12, tol=0.0, random_state=2,
                                         n_jobs=j).fit(X))
    for m in fits[1:]:
        np.testing.assert_array_equal(m.history_, fits[0].history_)
        np.testing.assert_array_equal(m.weights_, fits[0].weights_)
        for a, b in zip(m.item_probs_, fits[0].item_probs_):
            np.testing.assert_array_equal(a, b)


def test_inference_matches_enumeration(tiny):
    w, items, X = tiny
    m = fitted_at(w, items, X)
    ll, post, _, _ = data_by_enumeration(w, items, X)
    np.testing.assert_allclose(m.score_samples(X).sum(), ll, rtol=1e-10)
    np.testing.assert_allclose(m.predict_proba(X), post, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(m.score(X), ll / len(X), rtol=1e-10)
    assert m.score_samples(X)[3] == 0.0
    np.testing.assert_allclose(m.predict_proba(X)[3], w, rtol=1e-12)
    np.testing.assert_array_equal(m.predict(X), post.argmax(1))


@pytest.mark.parametrize("pseudocount", [0.0, 0.7])
def test_one_em_step_matches_enumeration(tiny, pseudocount):
    """max_iter=1 from a given start = one E-step (brute force) + em.normalize."""
    w, items, X = tiny
    X = X.copy()
    X[:, 2] = -1           # an item never observed: zero counts, uniform row (or prior)
    _, _, wc, ic = data_by_enumeration(w, items, X)
    allmiss = (X < 0).all(axis=1)
    _, post, _, _ = data_by_enumeration(w, items, X[allmiss])
    wc = wc - post.sum(0)                    # all-missing rows contribute nothing
    expected = normalize([wc] + ic, pseudocount)
    m = LatentClassModel(3, max_iter=1, tol=0.0, n_categories=TINY_CARDS, pseudocount=pseudocount,
                         init={"weights": w, "item_probs": items})
    with pytest.warns(emfast.ConvergenceWarning, match="did not converge within max_iter=1"):
        m.fit(X)
    order = np.argsort(-expected[0], kind="stable")
    np.testing.assert_allclose(m.weights_, expected[0][order], rtol=1e-10)
    for a, b in zip(m.item_probs_, expected[1:]):
        np.testing.assert_allclose(a, b[order], rtol=1e-10)
    # history[0] is the log-likelihood of the start, history[-1] that of the result
    ll0, _, _, _ = data_by_enumeration(w, items, X)
    prior = emfast.em.dirichlet_log_prior([w] + items, pseudocount)
    np.testing.assert_allclose(m.history_[0], ll0 + prior, rtol=1e-10)
    np.testing.assert_allclose(m.log_likelihood_, m.score_samples(X).sum(), rtol=1e-12)


# --------------------------------------------------------------------------------------
# EM behaviour
# --------------------------------------------------------------------------------------
def test_monotone_and_recovery(rng):
    cards = [2, 3, 4, 3, 2, 3, 3, 2]
    w = np.array([0.55, 0.3, 0.15])
    items = [rng.dirichlet(np.full(m, 0.6), size=3) for m in cards]
    X, z = simulate(rng, w, items, 20000, p_missing=0.15)
    m = LatentClassModel(3, n_init=4, random_state=1).fit(X)
    assert m.converged_
    assert_monotone(m.history_)
    np.testing.assert_allclose(m.weights_, w, atol=0.03)
    for a, b in zip(m.item_probs_, items):
        np.testing.assert_allclose(a, b, atol=0.06)
    assert m.n_best_ >= 1 and len(m.init_objectives_) == 4
    # canonical order: decreasing weights
    assert np.all(np.diff(m.weights_) <= 0)
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(z, m.predict(X)) > 0.5


def test_pseudocount_monotone_objective(rng):
    w, items = random_params(rng, 3, [3, 3, 2, 2, 4])
    X, _ = simulate(rng, w, items, 500, p_missing=0.2)
    m = LatentClassModel(3, pseudocount=1.0, random_state=0).fit(X)
    assert_monotone(m.history_)
    # the objective includes the log prior, so it differs from the log-likelihood
    prior = sum(np.sum(np.log(t)) for t in [m.weights_] + m.item_probs_)
    np.testing.assert_allclose(m.history_[-1], m.log_likelihood_ + prior, rtol=1e-10)
    assert all(np.all(t > 0) for t in m.item_probs_)


def test_n_init_never_worse(rng, seed):
    w, items = random_params(rng, 4, [2] * 7)
    X, _ = simulate(rng, w, items, 400, p_missing=0.1)
    one = LatentClassModel(4, n_init=1, random_state=seed).fit(X)
    five = LatentClassModel(4, n_init=5, random_state=seed).fit(X)
    assert five.history_[-1] >= one.history_[-1] - 1e-9 * abs(one.history_[-1])
    assert 1 <= five.n_best_ <= 5


def test_reproducible_and_random_state_untouched(rng):
    w, items = random_params(rng, 2, [3, 3, 3, 3])
    X, _ = simulate(rng, w, items, 300, p_missing=0.1)
    gen = np.random.default_rng(5)
    m = LatentClassModel(2, random_state=7, n_init=2)
    a = m.fit(X).weights_.copy()
    assert m.random_state == 7
    b = m.fit(X).weights_.copy()
    np.testing.assert_array_equal(a, b)
    m2 = LatentClassModel(2, random_state=gen)
    m2.fit(X)
    assert m2.random_state is gen


def test_warm_start_equals_one_long_run(rng):
    """sklearn's test_monotonic_likelihood pattern: max_iter=1 steps with warm_start."""
    w, items = random_params(rng, 2, [2, 3, 2, 3])
    X, _ = simulate(rng, w, items, 200, p_missing=0.2)
    init = {"weights": np.array([0.6, 0.4]),
            "item_probs": [rng.dirichlet(np.ones(m), size=2) for m in [2, 3, 2, 3]]}
    long = LatentClassModel(2, init=init, max_iter=5, tol=0.0)
    with pytest.warns(emfast.ConvergenceWarning):
        long.fit(X)
    step = LatentClassModel(2, init=init, max_iter=1, tol=0.0, warm_start=True)
    lls = []
    for _ in range(5):
        with pytest.warns(emfast.ConvergenceWarning):
            step.fit(X)
        lls.append(step.log_likelihood_)
    assert_monotone(lls)
    np.testing.assert_allclose(step.weights_, long.weights_, rtol=1e-10)
    for a, b in zip(step.item_probs_, long.item_probs_):
        np.testing.assert_allclose(a, b, rtol=1e-9)
    np.testing.assert_allclose(long.history_, [long.history_[0]] + lls, rtol=1e-10)


def test_estimator_api(rng):
    from sklearn.base import clone
    m = LatentClassModel(3, n_init=2, random_state=0, pseudocount=0.5)
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(m))
    c = clone(m)
    assert c.get_params() == m.get_params()
    c.set_params(n_classes=2)
    assert c.n_classes == 2
    with pytest.raises(emfast.NotFittedError, match="not fitted yet"):
        m.predict([[0, 1]])
    w, items = random_params(rng, 2, [2, 2, 3])
    X, _ = simulate(rng, w, items, 100)
    m.fit(X)
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m2.predict_proba(X), m.predict_proba(X))
    assert "n_classes=3" in repr(m)


def test_all_missing_rows_add_nothing(rng):
    w, items = random_params(rng, 2, [3, 3, 3, 3])
    X, _ = simulate(rng, w, items, 300, p_missing=0.1)
    Xm = np.vstack([X, np.full((50, 4), -1)])
    init = {"weights": w, "item_probs": items}
    a = LatentClassModel(2, init=init).fit(X)
    b = LatentClassModel(2, init=init).fit(Xm)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-12)
    np.testing.assert_allclose(a.log_likelihood_, b.log_likelihood_, rtol=1e-12)
    assert a.bic(X) == pytest.approx(b.bic(Xm), rel=1e-12)
    np.testing.assert_array_equal(b.score_samples(Xm)[-50:], 0.0)


def test_dataframe_and_nan_input(rng):
    pd = pytest.importorskip("pandas")
    w, items = random_params(rng, 2, [2, 3, 2])
    X, _ = simulate(rng, w, items, 200, p_missing=0.1)
    df = pd.DataFrame(np.where(X < 0, np.nan, X), columns=["a", "b", "c"])
    m1 = LatentClassModel(2, random_state=3).fit(X)
    m2 = LatentClassModel(2, random_state=3).fit(df)
    np.testing.assert_allclose(m1.weights_, m2.weights_, rtol=1e-12)
    assert list(m2.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_allclose(m2.score_samples(df[["c", "a", "b"]]), m1.score_samples(X))
    with pytest.raises(ValueError, match=r"column\(s\) \['d'\] that are not model variables"):
        m2.predict(df.rename(columns={"c": "d"}))


def test_n_categories_and_bad_codes(rng):
    X = np.array([[0, 1], [1, 2], [1, -1], [0, 0]])
    m = LatentClassModel(2, random_state=0).fit(X)
    assert m.n_categories_ == [2, 3]
    with pytest.raises(ValueError, match=r"X\[:, 1\] contains category 3 at row 1, but variable "
                                         r"'item 1' has 3 categories"):
        m.predict([[0, 1], [0, 3]])
    with pytest.raises(ValueError, match="X has 3 features, but LatentClassModel is expecting 2"):
        m.predict([[0, 1, 1]])
    m = LatentClassModel(2, n_categories=4, random_state=0).fit(X)
    assert m.n_categories_ == [4, 4]
    assert m.item_probs_[0].shape == (2, 4)
    with pytest.raises(ValueError, match="contains category -2 at row 0"):
        LatentClassModel(2).fit([[-2, 0], [0, 0]])
    with pytest.raises(ValueError, match="n_categories has 3 entries but X has 2 items"):
        LatentClassModel(2, n_categories=[2, 2, 2]).fit(X)


@pytest.mark.parametrize("kwargs, msg", [
    ({"n_classes": 0}, "n_classes must be an int >= 1; got 0"),
    ({"max_iter": 0}, "max_iter must be an int >= 1; got 0"),
    ({"tol": -1.0}, "tol must be a number >= 0"),
    ({"n_init": 0}, "n_init must be an int >= 1"),
    ({"pseudocount": -1.0}, "pseudocount must be a finite number >= 0"),
    ({"init": "kmeans"}, "init must be 'random' or a dict"),
    ({"init": {"weights": [0.5, 0.5]}}, "init dict must have exactly the keys"),
    ({"init": {"weights": [0.5, 0.4], "item_probs": [[[.5, .5], [.5, .5]]] * 2}},
     r"init\['weights'\]: its \(only\) row sums to 0.9"),
    ({"init": {"weights": [0.5, 0.5], "item_probs": [[[.5, .5], [.5, .5]]]}},
     r"init\['item_probs'\] has 1 tables but X has 2 items"),
    ({"init": {"weights": [0.5, 0.5], "item_probs": [[[1.0], [1.0]]] * 2}},
     r"init\['item_probs'\]\[0\] must have shape \(2, 2\)"),
])
def test_bad_parameters(kwargs, msg):
    X = np.array([[0, 1], [1, 0], [1, 1]])
    with pytest.raises(ValueError, match=msg):
        LatentClassModel(**{"n_classes": 2, **kwargs}).fit(X)


def test_zero_probability_rows():
    init = {"weights": [0.5, 0.5], "item_probs": [np.array([[1.0, 0.0], [1.0, 0.0]]),
                                                  np.array([[0.5, 0.5], [0.5, 0.5]])]}
    X = np.array([[0, 1], [0, 0], [1, 0]])
    with pytest.raises(ValueError, match=r"Row 2 of X \(\[1, 0\]\) has probability 0 under "
                                         "every class"):
        LatentClassModel(2, init=init, n_categories=2).fit(X)
    m = LatentClassModel(2, init=init, n_categories=2).fit(X[:2])
    m.item_probs_ = [np.array([[1.0, 0.0], [1.0, 0.0]]), m.item_probs_[1]]
    s = m.score_samples(X)
    assert s[2] == -np.inf and np.all(np.isfinite(s[:2]))
    with pytest.raises(ValueError, match="Row 2 of X"):
        m.predict_proba(X)


# --------------------------------------------------------------------------------------
# fit statistics
# --------------------------------------------------------------------------------------
def test_fit_statistics(rng):
    cards = [2, 3, 4]
    w, items = random_params(rng, 3, cards)
    X, _ = simulate(rng, w, items, 300, p_missing=0.1)
    X[:4] = -1
    m = LatentClassModel(3, random_state=0).fit(X)
    p = 2 + 3 * (1 + 2 + 3)
    assert m.n_parameters == p
    L = m.score_samples(X).sum()
    n = int(np.sum((X >= 0).any(axis=1)))
    assert n <= 296
    assert m.aic(X) == pytest.approx(-2 * L + 2 * p)
    assert m.bic(X) == pytest.approx(-2 * L + p * np.log(n))
    assert m.caic(X) == pytest.approx(-2 * L + p * (np.log(n) + 1))
    assert m.sabic(X) == pytest.approx(-2 * L + p * np.log((n + 2) / 24))
    post = m.predict_proba(X[(X >= 0).any(axis=1)])
    e = 1 - np.sum(-post * np.log(post)) / (n * np.log(3))
    assert m.entropy(X) == pytest.approx(e, rel=1e-12)
    assert 0 <= m.entropy(X) <= 1
    np.testing.assert_allclose(m.log_likelihood_, L, rtol=1e-12)


# --------------------------------------------------------------------------------------
# standard errors
# --------------------------------------------------------------------------------------
def numerical_hessian(f, x, h=1e-4):
    P = len(x)
    H = np.zeros((P, P))
    for a in range(P):
        for b in range(a, P):
            def g(da, db):
                y = x.copy()
                y[a] += da
                y[b] += db
                return f(y)
            H[a, b] = H[b, a] = (g(h, h) - g(h, -h) - g(-h, h) + g(-h, -h)) / (4 * h * h)
    return H


def test_observed_information_matches_numerical_hessian(rng):
    # well-separated classes, parameters away from 0/1: the MLE is interior and the
    # information positive definite (small random models often put the MLE on the
    # boundary, where standard errors are not defined)
    cards = [2, 3, 2, 3, 2, 3]
    w = np.array([0.6, 0.4])
    a = [np.array([[0.8, 0.2], [0.25, 0.75]]),
         np.array([[0.6, 0.3, 0.1], [0.15, 0.25, 0.6]])]
    items = [a[m - 2] if j % 4 < 2 else a[m - 2][::-1] for j, m in enumerate(cards)]
    X, _ = simulate(rng, w, items, 1500, p_missing=0.15)
    m = LatentClassModel(2, n_init=2, random_state=0, tol=1e-10).fit(X)
    assert np.linalg.eigvalsh(m.observed_information(X)).min() > 0
    x0 = m.free_parameters()
    assert len(x0) == m.n_parameters
    H = numerical_hessian(lambda v: m.log_likelihood_free(X, v), x0)
    info = m.observed_information(X)
    np.testing.assert_allclose(info, -H, rtol=2e-5, atol=1e-3 * np.abs(H).max() * 1e-2)
    # also away from the MLE (Louis' identity holds at any θ)
    x1 = x0 + rng.normal(scale=0.01, size=len(x0))
    m1 = copy.deepcopy(m)
    th = m._unpack_free(x1)
    m1.weights_, m1.item_probs_ = th[0], th[1:]
    H1 = numerical_hessian(lambda v: m1.log_likelihood_free(X, v), x1)
    np.testing.assert_allclose(m1.observed_information(X), -H1, rtol=2e-5,
                               atol=1e-5 * np.abs(H1).max())
    # standard errors = sqrt(diag(inv(-H))), dependent parameters by the delta method
    ws, its = m.standard_errors(X)
    cov = np.linalg.inv(-H)
    np.testing.assert_allclose(ws, np.sqrt([cov[0, 0], cov[0, 0]]), rtol=1e-4)
    # free layout: [w0, class 0: item0 (1), item1 (2), ..., class 1: ...]
    np.testing.assert_allclose(its[1][0, :2], np.sqrt(np.diag(cov)[2:4]), rtol=1e-4)
    g = np.zeros(len(x0))
    g[2:4] = -1
    np.testing.assert_allclose(its[1][0, 2], np.sqrt(g @ cov @ g), rtol=1e-4)
    assert its[0].shape == (2, 2) and ws.shape == (2,)
    assert all(e.shape == t.shape for e, t in zip(its, m.item_probs_))


# --------------------------------------------------------------------------------------
# imputation and sampling
# --------------------------------------------------------------------------------------
def test_impute_map_matches_brute_force(rng):
    cards = [2, 3, 2, 3, 2]
    w, items = random_params(rng, 3, cards)
    X, _ = simulate(rng, w, items, 60, p_missing=0.4)
    X[0] = -1
    m = fitted_at(w, items, X)
    out = m.impute(X, method="map")
    for row, got in zip(X, out):
        ref, pmax = map_by_enumeration(w, items, row)
        assert list(got) == ref
        assert max(joint(w, items, z, got) for z in range(3)) == pytest.approx(pmax, rel=1e-12)
    obs = X >= 0
    np.testing.assert_array_equal(out[obs], X[obs])
    assert out.dtype == np.int32 and (out >= 0).all()


def test_impute_sample_is_posterior_predictive(rng):
    cards = [2, 3, 2]
    w, items = random_params(rng, 2, cards)
    X, _ = simulate(rng, w, items, 30)
    m = fitted_at(w, items, X)
    row = np.array([[1, -1, -1]])
    draws = m.impute(np.repeat(row, 20000, axis=0), method="sample", random_state=3)
    assert (draws[:, 0] == 1).all()
    # exact predictive p(x1, x2 | x0 = 1) by enumeration
    post = m.predict_proba(row)[0]
    freq = np.zeros((3, 2))
    np.add.at(freq, (draws[:, 1], draws[:, 2]), 1)
    pred = np.einsum("k,ka,kb->ab", post, items[1], items[2])
    np.testing.assert_allclose(freq / 20000, pred, atol=0.015)
    a = m.impute(X, method="sample", random_state=1)
    b = m.impute(X, method="sample", random_state=1)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="method must be 'map' or 'sample'; got 'mean'"):
        m.impute(X, method="mean")


def test_sample_then_refit(rng):
    w = np.array([0.7, 0.3])
    items = [np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]),
             np.array([[0.85, 0.15], [0.1, 0.9]])]
    m = fitted_at(w, items, np.array([[0, 0, 0], [1, 2, 1]]))
    X, z = m.sample(20000, random_state=0)
    assert X.shape == (20000, 3) and z.shape == (20000,)
    np.testing.assert_allclose(np.bincount(z) / 20000, w, atol=0.015)
    f = LatentClassModel(2, n_init=3, random_state=0).fit(X)
    np.testing.assert_allclose(f.weights_, w, atol=0.03)
    for a, b in zip(f.item_probs_, items):
        np.testing.assert_allclose(a, b, atol=0.04)


# --------------------------------------------------------------------------------------
# real data: house votes 1984
# --------------------------------------------------------------------------------------
def test_house_votes_two_classes_match_party():
    pd = pytest.importorskip("pandas")
    from pathlib import Path
    from sklearn.metrics import adjusted_rand_score
    hv = pd.read_csv(Path(__file__).parent / "data" / "house_votes_84.csv")
    X = np.column_stack([hv[f"V{i}"].map({"n": 0, "y": 1}).to_numpy() for i in range(1, 17)])
    X = np.where(np.isnan(X), -1, X).astype(int)
    party = (hv.Class == "republican").to_numpy(int)
    a = LatentClassModel(2, n_init=5, random_state=0).fit(X)
    b = LatentClassModel(2, n_init=5, random_state=0).fit(X)
    assert_monotone(a.history_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.n_best_ == 5                       # the 2-class optimum is stable
    ari = adjusted_rand_score(party, a.predict(X))
    assert ari > 0.5, ari
    acc = max(np.mean(a.predict(X) == party), np.mean(a.predict(X) != party))
    assert acc > 0.85, acc


def test_kernel_rejects_inconsistent_shapes():
    X = np.zeros((3, 2), dtype=np.int32)
    args = dict(row_weights=np.ones(3), log_w=np.log([0.5, 0.5]),
                log_items=np.zeros((4, 2)), offsets=np.array([0, 2], dtype=np.int64),
                post=np.empty((3, 2)), loglik=np.empty(3), status=np.zeros(3, np.int32),
                wcounts=np.zeros(2), icounts=np.zeros((4, 2)))
    _kernels.lca_estep(X, *args.values(), True, 1, 1)
    for name, value in [("post", np.empty((2, 2))), ("wcounts", np.zeros(3)),
                        ("icounts", np.zeros((3, 2))), ("icounts", np.zeros((4, 3))),
                        ("log_items", np.zeros((4, 3))), ("row_weights", np.ones(4))]:
        bad = dict(args, **{name: value})
        with pytest.raises(ValueError, match="lca_estep: inconsistent array shapes"):
            _kernels.lca_estep(X, *bad.values(), True, 1, 1)
    # no rows: nothing to do; no items / no classes: refused
    empty = dict(args, row_weights=np.ones(0), post=np.empty((0, 2)), loglik=np.empty(0),
                 status=np.zeros(0, np.int32))
    assert _kernels.lca_estep(np.zeros((0, 2), np.int32), *empty.values(), True, 1, 2) == (0.0, 0)
    with pytest.raises(ValueError, match="needs at least one item and one class"):
        _kernels.lca_estep(np.zeros((3, 0), np.int32), *dict(args, offsets=np.zeros(0, np.int64))
                           .values(), True, 1, 1)
    bad = dict(args, offsets=np.array([0, 4], dtype=np.int64))
    with pytest.raises(ValueError, match=r"offsets\[1\] = 4 is outside 0..3"):
        _kernels.lca_estep(X, *bad.values(), True, 1, 1)


def test_log_tables_kernel_is_the_c_log_of_every_layout(rng):
    import math

    from emfast.mixture import _log_tables
    for _ in range(30):
        K, S = int(rng.integers(1, 7)), int(rng.integers(1, 40))
        w = rng.dirichlet(np.ones(K))
        big = rng.random((K + 3, 2 * S + 5))
        big[rng.random(big.shape) < 0.1] = 0.0                # zeros: -inf, no warning
        layouts = [big[:K, :S].copy(), np.asfortranarray(big[:K, :S]),
                   big[1:K + 1, 3:3 + 2 * S:2]]               # C, F, strided view
        want_w = np.array([math.log(x) for x in w])
        for items in layouts:
            want = np.array([[math.log(x) if x > 0 else -np.inf for x in row]
                             for row in items]).T
            lw, li = _log_tables([w, items])
            assert li.flags.c_contiguous and li.shape == (S, K)
            np.testing.assert_array_equal(li, want)           # libm's log, bit for bit
            np.testing.assert_array_equal(lw, want_w)
            with np.errstate(divide="ignore"):                # numpy's log: within 1 ulp
                ref = np.log(items).T
            fin = np.isfinite(ref)
            np.testing.assert_array_equal(np.isfinite(li), fin)
            assert np.all(np.abs(li[fin] - ref[fin]) <= np.spacing(np.abs(ref[fin])))
        cut = int(rng.integers(1, S + 1))                     # several item tables
        _, li2 = _log_tables([w, layouts[0][:, :cut], layouts[0][:, cut:]])
        np.testing.assert_array_equal(li2, _log_tables([w, layouts[0]])[1])
    for args in [(np.ones(2), np.ones((3, 4)), np.empty(2), np.empty((4, 2))),
                 (np.ones(2), np.ones((2, 4)), np.empty(3), np.empty((4, 2))),
                 (np.ones(2), np.ones((2, 4)), np.empty(2), np.empty((3, 2))),
                 (np.ones(2), np.ones((2, 4)), np.empty(2), np.empty((4, 3)))]:
        with pytest.raises(ValueError, match="lca_log_tables: inconsistent array shapes"):
            _kernels.lca_log_tables(*args)


def test_misc_argument_errors(rng):
    X = np.array([[0, 1], [1, 0], [1, 1]])
    m = LatentClassModel(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="n_samples must be an int >= 1; got 0"):
        m.sample(0)
    with pytest.raises(ValueError, match="n_jobs must be a positive int, -1 or None; got 0"):
        LatentClassModel(2, n_jobs=0).fit(X)
    with pytest.raises(ValueError, match=r"X must be 2-dimensional \(n_rows, n_items\)"):
        LatentClassModel(2).fit(np.zeros((2, 2, 2), dtype=int))
    with pytest.raises(ValueError, match="warm_start: the fitted model has 2 classes but "
                                         "n_classes=3"):
        m.set_params(warm_start=True, n_classes=3).fit(X)


def test_many_classes_generic_kernel_path(rng):
    """K > 16 takes the kernel's generic path (no local arrays); same answers."""
    K, cards = 18, [2, 3, 2]
    w, items = random_params(rng, K, cards)
    X, _ = simulate(rng, w, items, 30, p_missing=0.2)
    m = fitted_at(w, items, X)
    ll, post, wc, ic = data_by_enumeration(w, items, X)
    np.testing.assert_allclose(m.score_samples(X).sum(), ll, rtol=1e-10)
    np.testing.assert_allclose(m.predict_proba(X), post, rtol=1e-10, atol=1e-14)
    fit = LatentClassModel(K, init={"weights": w, "item_probs": items}, max_iter=3, tol=0.0,
                           n_categories=cards)
    with pytest.warns(emfast.ConvergenceWarning):
        fit.fit(X)
    assert_monotone(fit.history_)
    np.testing.assert_allclose(fit.history_[0], ll, rtol=1e-10)
