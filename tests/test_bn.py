"""Bayesian network: junction-tree kernels against brute-force enumeration, EM, API, errors."""
import os
import warnings

import numpy as np
import pytest

import emfast as em
from emfast.exceptions import ConvergenceWarning

import _oracle_bn as O
from conftest import assert_monotone



def _cases(rng, n_cases, n_rows=25):
    for _ in range(n_cases):
        bn = O.random_network(rng)
        X, hidden = O.random_data(bn, rng, n_rows)
        yield bn, O.joint(bn), X


def _fit(bn, X, **kw):
    """fit, tolerating a ConvergenceWarning (hidden variables can converge slowly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return bn.fit(X, **kw)


# ---------------------------------------------------------------- structure
def test_structure_and_cpts():
    bn = em.BayesianNetwork([("Z", "B"), ("A", "B"), ("Z", "A")], {"Z": 2, "A": 3, "B": 2, "I": 4},
                            states={"Z": ["no", "yes"]})
    assert bn.variables == ["Z", "A", "B", "I"]
    assert bn.parents("B") == ("Z", "A")
    assert bn.children("Z") == ("B", "A")
    assert bn.states["Z"] == ["no", "yes"] and bn.states["I"] == ["0", "1", "2", "3"]
    assert bn.cpts["B"].shape == (2, 3, 2)
    np.testing.assert_allclose(bn.cpts["I"], 0.25)
    t = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    bn.cpts["A"] = t
    np.testing.assert_array_equal(bn.cpts["A"], t)
    assert bn.cpts["A"].dtype == np.float64
    with pytest.raises(ValueError):
        bn.cpts["A"][0, 0] = 1.0          # stored tables are read-only
    c = bn.copy()
    c.cpts["A"] = np.full((2, 3), 1 / 3)
    np.testing.assert_array_equal(bn.cpts["A"], t)
    assert set(bn.topological_order[:2]) >= {"Z"}


def test_structure_errors():
    with pytest.raises(ValueError, match=r"cycle: .*A -> B.*"):
        em.BayesianNetwork([("A", "B"), ("B", "C"), ("C", "A")], {"A": 2, "B": 2, "C": 2})
    with pytest.raises(ValueError, match=r"unknown variable 'X'"):
        em.BayesianNetwork([("A", "X")], {"A": 2})
    bn = em.BayesianNetwork([("Z", "A")], {"Z": 2, "A": 3}, states={"Z": ["no", "yes"]})
    with pytest.raises(ValueError, match=r"CPT for 'A': the row for parent configuration "
                                         r"\(Z=yes\) sums to 0.6"):
        bn.cpts["A"] = np.array([[0.2, 0.3, 0.5], [0.2, 0.2, 0.2]])
    with pytest.raises(ValueError, match=r"CPT for 'A' must have shape \(2, 3\)"):
        bn.cpts["A"] = np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match=r"invalid entry -0.5"):
        bn.cpts["Z"] = np.array([1.5, -0.5])


def test_bad_data_errors():
    bn = em.BayesianNetwork([("Z", "A")], {"Z": 2, "A": 3})
    with pytest.raises(ValueError, match=r"category 3 at row 1, but variable 'A' has 3"):
        bn.fit(np.array([[0, 1], [1, 3]]))
    with pytest.raises(ValueError, match=r"not model variables"):
        bn.fit(np.array([[0, 1]]), columns=["Q", "A"])
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match=r"column\(s\) \['Q'\] that are not model variables"):
        bn.log_likelihood(pd.DataFrame({"A": [0, 1], "Q": [1, 1]}))
    with pytest.raises(ValueError, match=r"init must be"):
        bn.fit(np.array([[0, 1]]), init="kmeans")


def test_zero_probability_rows():
    bn = em.BayesianNetwork([("Z", "A")], {"Z": 2, "A": 2})
    bn.cpts["A"] = np.array([[1.0, 0.0], [1.0, 0.0]])
    X = np.array([[0, 0], [-1, 1], [1, -1]])
    ll = bn.score_samples(X)
    assert np.isfinite(ll[0]) and ll[1] == -np.inf and np.isfinite(ll[2])
    assert bn.log_likelihood(X) == -np.inf
    with pytest.raises(ValueError, match=r"row 1 of X has probability 0"):
        bn.predict_proba(X, "Z")
    with pytest.raises(ValueError, match=r"row 1 of X has probability 0"):
        bn.impute(X)
    with pytest.raises(ValueError, match=r"row 1 of X has probability 0"):
        bn.fit(X, init="current")


# ---------------------------------------------------------------- exact inference
def test_loglik_marginals_counts_vs_enumeration(rng):
    for bn, P, X in _cases(rng, 25):
        ll = bn.score_samples(X)
        ref = np.array([O.row_loglik(bn, P, r) for r in X])
        np.testing.assert_allclose(ll, ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(bn.log_likelihood(X), ref.sum(), rtol=1e-10)
        pp = bn.predict_proba(X)
        for i, row in enumerate(X):
            m = O.marginals(bn, P, row)
            for v in bn.variables:
                np.testing.assert_allclose(pp[v][i], m[v], rtol=1e-10, atol=1e-13)
        comp = bn._tree()
        w = rng.integers(1, 4, len(X)).astype(float)
        for threads in (1, 2):
            c, _, _ = comp.infer(X, w, bn._theta(), comp.targets(), threads, do_counts=True)
            ref_c = O.expected_counts(bn, P, np.repeat(X, w.astype(int), axis=0))
            np.testing.assert_allclose(c, np.concatenate([e.ravel() for e in ref_c]),
                                       rtol=1e-10, atol=1e-11)
            # many rows: several row blocks (one count slab each), every row counted once
            k = -(-2000 // len(X))
            big = np.ascontiguousarray(np.tile(X, (k, 1)))
            c2, ll2, _ = comp.infer(big, np.tile(w, k), bn._theta(), comp.targets(), threads,
                                    do_counts=True)
            np.testing.assert_allclose(c2, k * c, rtol=1e-10, atol=1e-9)
            np.testing.assert_allclose(ll2, np.tile(ll, k), rtol=1e-10, atol=1e-12)


def test_predict_proba_subset_and_str(rng):
    bn = O.random_network(rng, n_vars=5)
    X, hidden = O.random_data(bn, rng, 10)
    v = bn.variables[int(hidden[0]) if len(hidden) else 0]
    a = bn.predict_proba(X, v)
    b = bn.predict_proba(X, [v, bn.variables[-1]])
    assert list(a) == [v] and a[v].shape == (10, bn.cardinalities[v])
    np.testing.assert_allclose(a[v], b[v], rtol=1e-12)
    obs = X[:, bn.variables.index(bn.variables[-1])]
    for i in np.flatnonzero(obs >= 0):
        assert b[bn.variables[-1]][i, obs[i]] == pytest.approx(1.0)


def test_map_completion_vs_enumeration(rng):
    for bn, P, X in _cases(rng, 25):
        Y = bn.impute(X, method="map")
        assert Y.dtype == np.int32 and Y.shape == X.shape
        comp = bn._tree()
        _, score, _ = comp.complete(X, bn._theta(), comp.targets(), None, 2)
        for i, row in enumerate(X):
            best, lp = O.map_completion(bn, P, row)
            np.testing.assert_array_equal(Y[i], best)
            np.testing.assert_allclose(score[i], lp, rtol=1e-10)


def test_posterior_sampling_chi_square(rng):
    stats = pytest.importorskip("scipy.stats")
    bn = O.random_network(rng, n_vars=5, max_card=3)
    P = O.joint(bn)
    row = bn.sample(1, random_state=rng)[0]
    row[[0, 2, 3]] = -1
    n = 20000
    X = np.repeat(row[None, :], n, axis=0)
    Y = bn.impute(X, method="sample", random_state=rng)
    assert np.all(Y[:, row >= 0] == row[row >= 0])
    q = O.posterior(bn, P, row)
    flat = np.ravel_multi_index(tuple(Y.T), P.shape)
    obs = np.bincount(flat, minlength=P.size)
    keep = q.ravel() > 0
    assert obs[~keep].sum() == 0
    exp = q.ravel()[keep] * n
    chi = stats.chisquare(obs[keep], exp)
    assert chi.pvalue > 1e-4, chi
    # same seed, same draws, any thread count
    a = bn.impute(X[:500], method="sample", random_state=7, n_jobs=1)
    b = bn.impute(X[:500], method="sample", random_state=7, n_jobs=2)
    np.testing.assert_array_equal(a, b)


def test_sample_matches_joint(rng):
    stats = pytest.importorskip("scipy.stats")
    bn = O.random_network(rng, n_vars=4, max_card=3)
    P = O.joint(bn)
    S = bn.sample(20000, random_state=rng)
    assert S.dtype == np.int32 and S.shape == (20000, 4)
    obs = np.bincount(np.ravel_multi_index(tuple(S.T), P.shape), minlength=P.size)
    assert stats.chisquare(obs, P.ravel() * len(S)).pvalue > 1e-4


# ---------------------------------------------------------------- EM
def test_em_monotone_and_recovers(rng):
    for k in range(4):
        bn = O.random_network(rng)
        X, _ = O.random_data(bn, rng, 400)
        fit = _fit(bn.copy(), X, random_state=k, max_iter=200)
        assert_monotone(fit.history_)
        assert fit.log_likelihood_ == pytest.approx(fit.log_likelihood(X), rel=1e-12)
        assert fit.history_[-1] == pytest.approx(fit.log_likelihood_, rel=1e-12)


def test_em_step_matches_oracle(rng):
    """One EM step = normalised brute-force expected counts."""
    bn = O.random_network(rng, n_vars=6)
    X, _ = O.random_data(bn, rng, 60)
    P = O.joint(bn)
    ref = em.normalize(O.expected_counts(bn, P, X))
    with pytest.warns(ConvergenceWarning):
        fit = bn.copy().fit(X, init="current", max_iter=1)
    for v, r in zip(bn.variables, ref):
        np.testing.assert_allclose(fit.cpts[v], r, rtol=1e-10, atol=1e-14)
    assert fit.history_[0] == pytest.approx(bn.log_likelihood(X), rel=1e-12)


def test_complete_data_mle_in_one_iteration(rng):
    bn = O.random_network(rng, n_vars=6)
    X = bn.sample(3000, random_state=rng)
    with pytest.warns(ConvergenceWarning):
        fit = bn.copy().fit(X, init="random", random_state=1, max_iter=1)
    assert fit.n_iter_ == 1 and not fit.converged_
    # the next iteration does not move: converged after the second M-step (a no-op)
    again = bn.copy().fit(X, init="random", random_state=1)
    assert again.converged_ and again.n_iter_ == 2
    assert again.history_[-1] == pytest.approx(again.history_[-2], rel=1e-13)
    vs = bn.variables
    for v in vs:
        cols = [vs.index(p) for p in bn.parents(v)] + [vs.index(v)]
        counts = np.zeros(bn.cpts[v].shape)
        np.add.at(counts, tuple(X[:, cols].T), 1.0)
        np.testing.assert_allclose(fit.cpts[v], em.normalize(counts), rtol=1e-12)
        np.testing.assert_allclose(again.cpts[v], em.normalize(counts), rtol=1e-12)


def test_threads_agree(rng):
    """Rows are summed in blocks fixed by the data, not by the threads: the fit is
    bit-identical for 1, 2 and 3 threads (and from run to run)."""
    bn = O.random_network(rng, n_vars=8)
    X, _ = O.random_data(bn, rng, 3000)
    a = _fit(bn.copy(), X, random_state=3, max_iter=15, tol=0, n_jobs=1)
    for j in (2, 3, 2):
        b = _fit(bn.copy(), X, random_state=3, max_iter=15, tol=0, n_jobs=j)
        np.testing.assert_array_equal(a.history_, b.history_)
        for v in bn.variables:
            np.testing.assert_array_equal(a.cpts[v], b.cpts[v])


def test_init_options_and_pseudocount(rng):
    bn = O.random_network(rng, n_vars=5)
    X, _ = O.random_data(bn, rng, 300, n_hidden=1)
    a = _fit(bn.copy(), X, init="current", max_iter=200)
    assert_monotone(a.history_)
    b = _fit(bn.copy(), X, init="uniform", n_init=3, random_state=0, max_iter=200)
    assert_monotone(b.history_)
    c = _fit(bn.copy(), X, pseudocount=1.0, random_state=0, max_iter=200)
    assert_monotone(c.history_)
    for v in bn.variables:
        assert np.all(c.cpts[v] > 0)
    # restarts never end below a single start with the same seed
    d1 = _fit(bn.copy(), X, random_state=5, max_iter=200)
    d5 = _fit(bn.copy(), X, random_state=5, n_init=4, max_iter=200)
    assert d5.history_[-1] >= d1.history_[-1] - 1e-9 * abs(d1.history_[-1])


def test_hidden_by_missing_column_and_dataframe(rng):
    pd = pytest.importorskip("pandas")
    bn = em.BayesianNetwork([("Z", "A"), ("Z", "B"), ("Z", "C")], {"Z": 2, "A": 3, "B": 2, "C": 2},
                            states={"A": ["lo", "mid", "hi"]})
    S = bn.sample(200, random_state=rng)
    X = S[:, 1:].copy()
    X[rng.random(X.shape) < 0.2] = -1
    full = np.column_stack([np.full(len(X), -1), X])
    f1 = _fit(bn.copy(), X, columns=["A", "B", "C"], random_state=0)
    f2 = _fit(bn.copy(), full, random_state=0)
    np.testing.assert_allclose(f1.history_, f2.history_, rtol=1e-12)
    df = pd.DataFrame({"B": X[:, 1], "A": pd.Series(np.array(["lo", "mid", "hi", None],
                                                              dtype=object)[X[:, 0]]),
                       "C": X[:, 2]})
    f3 = _fit(bn.copy(), df, random_state=0)
    np.testing.assert_allclose(f3.history_, f2.history_, rtol=1e-12)
    out = f3.impute(df)
    assert list(out.columns) == ["B", "A", "C"]
    assert out["A"].isin(["lo", "mid", "hi"]).all()
    assert (out["B"] >= 0).all() and out["B"].dtype.kind == "i"
    Y = f1.impute(X, columns=["A", "B", "C"])
    assert Y.shape == X.shape


def test_extra_observed_indicator_nodes(rng):
    """Always-observed extra children (missingness indicators) fit fine."""
    bn = O.random_network(rng, n_vars=5)
    X, _ = O.random_data(bn, rng, 500, n_hidden=1)
    vs = bn.variables
    # MNAR-style indicators for the first variables, MCAR-style (isolated) for the others
    edges = bn.edges + [(v, f"m_{v}") for v in vs[:3]]
    cards = dict(bn.cardinalities, **{f"m_{v}": 2 for v in vs})
    big = em.BayesianNetwork(edges, cards)
    Xb = np.column_stack([X, (X < 0).astype(np.int32)])
    fit = _fit(big, Xb, random_state=0, max_iter=60)
    assert_monotone(fit.history_)
    P = O.joint(fit)
    ref = sum(O.row_loglik(fit, P, r) for r in Xb[:50])
    assert fit.log_likelihood(Xb[:50]) == pytest.approx(ref, rel=1e-10)
    Y = fit.impute(Xb[:50])
    for i, row in enumerate(Xb[:50]):
        best, _ = O.map_completion(fit, P, row)
        np.testing.assert_array_equal(Y[i], best)


def test_alarm_fit():
    from emfast.datasets import load_network
    bn = load_network("alarm")
    rng = np.random.default_rng(0)
    X = bn.sample(3000, random_state=rng)
    X[rng.random(X.shape) < 0.2] = -1
    X[:, bn.variables.index("LVEDVOLUME")] = -1
    with pytest.warns(ConvergenceWarning):
        fit = bn.copy().fit(X, random_state=0, max_iter=8)
    assert_monotone(fit.history_)
    assert fit.log_likelihood(X) == pytest.approx(fit.log_likelihood_, rel=1e-12)
    # the 1-thread and 2-thread E-steps agree
    comp = bn._tree()
    cr = em.compress_rows(X)
    a = comp.infer(cr.rows, cr.counts.astype(float), bn._theta(), comp.targets(), 1, do_counts=True)
    b = comp.infer(cr.rows, cr.counts.astype(float), bn._theta(), comp.targets(), 2, do_counts=True)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)


def test_fixed_cpts_stay_fixed(rng):
    """Tables an EM problem holds fixed (the indicator CPTs of fixed_missingness) never move,
    in any restart or M-step; the public fit has no private keyword for it."""
    import inspect
    assert not [p for p in inspect.signature(em.BayesianNetwork.fit).parameters
                if p.startswith("_")]
    bn = O.random_network(rng, n_vars=5)
    X, _ = O.random_data(bn, rng, 300, n_hidden=1)
    net = bn.copy()
    problem = net._em_problem(net._codes(X), fixed=(0, 1), n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        best = net._fit_em(problem, n_init=3, max_iter=50, tol=1e-6, random_state=0)
    assert_monotone(best.history)
    for i, v in enumerate(bn.variables):
        if i < 2:
            np.testing.assert_array_equal(best.theta[i], bn.cpts[v])
    assert any(not np.allclose(best.theta[i], bn.cpts[v])
               for i, v in enumerate(bn.variables) if i >= 2)


def test_argument_errors(rng):
    bn = em.BayesianNetwork([("Z", "A")], {"Z": 2, "A": 3})
    X = np.array([[0, 1], [-1, 2]])
    with pytest.raises(ValueError, match=r"method must be 'map' or 'sample'"):
        bn.impute(X, method="mean")
    with pytest.raises(ValueError, match=r"n must be an int >= 0; got -1"):
        bn.sample(-1)
    with pytest.raises(ValueError, match=r"pseudocount must be a finite number >= 0"):
        bn.fit(X, pseudocount=-1)
    with pytest.raises(ValueError, match=r"n_jobs must be"):
        bn.fit(X, n_jobs=0)
    with pytest.raises(ValueError, match=r"unknown variable 'Q'"):
        bn.predict_proba(X, ["Q"])
    with pytest.raises(ValueError, match=r"X has no rows"):
        bn.fit(np.zeros((0, 2), dtype=int))
    assert bn.score_samples(np.zeros((0, 2), dtype=int)).shape == (0,)
    assert bn.sample(0).shape == (0, 2)


def test_dataframe_labels_in_and_out(rng):
    pd = pytest.importorskip("pandas")
    bn = em.BayesianNetwork([("Z", "A")], {"Z": 2, "A": 3},
                            states={"Z": ["no", "yes"], "A": ["x", "y", "z"]})
    bn.cpts["Z"] = [0.3, 0.7]
    bn.cpts["A"] = [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]
    df = pd.DataFrame({"A": ["z", None, "x"], "Z": pd.Categorical([None, "no", None],
                                                                  categories=["no", "yes"])})
    X = np.array([[-1, 2], [0, -1], [-1, 0]])
    np.testing.assert_allclose(bn.score_samples(df), bn.score_samples(X), rtol=1e-14)
    pz = bn.predict_proba(df, "Z")["Z"]           # a DataFrame: input index, state labels
    assert list(pz.columns) == ["no", "yes"] and pz.index.equals(df.index)
    np.testing.assert_allclose(pz.iloc[0], np.array([0.3 * 0.1, 0.7 * 0.8]) / (0.03 + 0.56))
    np.testing.assert_allclose(pz.to_numpy(), bn.predict_proba(X, "Z")["Z"], rtol=1e-14)
    out = bn.impute(df)
    assert out["A"].tolist() == ["z", "x", "x"] and out["Z"].tolist() == ["yes", "no", "no"]
    with pytest.raises(ValueError, match=r"'w' .* not a state of variable 'A'"):
        bn.score_samples(pd.DataFrame({"A": ["w"]}))


def test_inference_threads_agree(rng):
    bn = O.random_network(rng, n_vars=7)
    X, _ = O.random_data(bn, rng, 4000)
    np.testing.assert_allclose(bn.score_samples(X, n_jobs=2), bn.score_samples(X, n_jobs=1),
                               rtol=1e-13)
    a, b = bn.predict_proba(X, n_jobs=2), bn.predict_proba(X, n_jobs=1)
    for v in bn.variables:
        np.testing.assert_allclose(a[v], b[v], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(bn.impute(X, n_jobs=2), bn.impute(X, n_jobs=1))


def test_hidden_root_matches_latent_class_em(rng):
    """A hidden root with independent children is a latent class model: the BN fit equals a
    direct NumPy latent-class EM iteration by iteration.

    BN EM treats a missing item as latent, so its M-step adds post(z) * theta_old(x | z) for
    the rows where the item is missing. (An LCA EM that skips missing items instead has the
    same fixed points but a different trajectory.)"""
    K, cards = 3, [2, 3, 4, 2, 3]
    items = [f"I{j}" for j in range(len(cards))]
    bn = em.BayesianNetwork([("Z", v) for v in items], dict({"Z": K}, **dict(zip(items, cards))))
    truth = bn.copy()
    truth.cpts["Z"] = rng.dirichlet(np.ones(K))
    for v, m in zip(items, cards):
        truth.cpts[v] = rng.dirichlet(np.ones(m), size=K)
    X = truth.sample(800, random_state=rng)[:, 1:]
    X[rng.random(X.shape) < 0.25] = -1
    for v, m in zip(items, cards):
        bn.cpts[v] = rng.dirichlet(np.ones(m), size=K)
    bn.cpts["Z"] = rng.dirichlet(np.ones(K))
    w, probs = bn.cpts["Z"].copy(), [bn.cpts[v].copy() for v in items]
    hist = []
    for it in range(6):
        logp = np.tile(np.log(w), (len(X), 1))
        for j, b in enumerate(probs):
            o = X[:, j] >= 0
            logp[o] += np.log(b[:, X[o, j]].T)
        mx = logp.max(axis=1, keepdims=True)
        post = np.exp(logp - mx)
        s = post.sum(axis=1, keepdims=True)
        hist.append(float(np.sum(np.log(s) + mx)))
        if it == 5:
            break            # fit(max_iter=5): 5 M-steps, then one E-step to score them
        post /= s
        w = post.sum(axis=0) / len(X)
        new = []
        for j, m in enumerate(cards):
            cnt = np.zeros((K, m))
            o = X[:, j] >= 0
            np.add.at(cnt.T, X[o, j], post[o])
            cnt += post[~o].sum(axis=0)[:, None] * probs[j]
            new.append(cnt / cnt.sum(axis=1, keepdims=True))
        probs = new
    fit = _fit(bn.copy(), X, columns=items, init="current", max_iter=5, tol=0)
    np.testing.assert_allclose(fit.history_, hist, rtol=1e-11)
    np.testing.assert_allclose(fit.cpts["Z"], w, rtol=1e-10)
    for v, b in zip(items, probs):
        np.testing.assert_allclose(fit.cpts[v], b, rtol=1e-10)
