"""emfast.compat.hmmlearn: every hmmlearn model gives hmmlearn's results on emfast's kernels."""
import sys
import warnings

import numpy as np
import pytest

hmmlearn = pytest.importorskip("hmmlearn")
from hmmlearn import hmm, vhmm  # noqa: E402

import emfast.compat.hmmlearn as ehl  # noqa: E402

pytestmark = pytest.mark.peer

RTOL = 1e-9
ATOL = 1e-12


def _data(kind, rng, lengths):
    N = sum(lengths)
    z = np.repeat(rng.integers(0, 3, size=N // 5 + 1), 5)[:N]
    if kind == "gaussian":
        return rng.normal(size=(N, 2)) + 3.0 * np.stack([z, -z], axis=1)
    if kind == "poisson":
        return rng.poisson(np.stack([1 + 4 * z, 6 - 2 * z], axis=1))
    if kind == "multinomial":
        p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]])[z]
        return np.array([rng.multinomial(5, row) for row in p])
    if kind == "categorical":
        p = np.array([[0.7, 0.2, 0.05, 0.05], [0.1, 0.1, 0.4, 0.4], [0.25] * 4])[z]
        return (rng.random(N)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)[:, None]
    raise AssertionError(kind)


MODELS = [
    ("GaussianHMM-diag", "gaussian", lambda **kw: hmm.GaussianHMM(3, covariance_type="diag", **kw)),
    ("GaussianHMM-full", "gaussian", lambda **kw: hmm.GaussianHMM(3, covariance_type="full", **kw)),
    ("GaussianHMM-tied", "gaussian", lambda **kw: hmm.GaussianHMM(3, covariance_type="tied", **kw)),
    ("GaussianHMM-spherical", "gaussian",
     lambda **kw: hmm.GaussianHMM(3, covariance_type="spherical", **kw)),
    ("GMMHMM", "gaussian", lambda **kw: hmm.GMMHMM(3, n_mix=2, covariance_type="diag", **kw)),
    ("GMMHMM-full", "gaussian", lambda **kw: hmm.GMMHMM(2, n_mix=2, covariance_type="full", **kw)),
    ("PoissonHMM", "poisson", lambda **kw: hmm.PoissonHMM(3, **kw)),
    ("MultinomialHMM", "multinomial", lambda **kw: hmm.MultinomialHMM(3, n_trials=5, **kw)),
    ("CategoricalHMM", "categorical", lambda **kw: hmm.CategoricalHMM(3, **kw)),
    ("VariationalCategoricalHMM", "categorical",
     lambda **kw: vhmm.VariationalCategoricalHMM(3, **kw)),
    ("VariationalGaussianHMM", "gaussian",
     lambda **kw: vhmm.VariationalGaussianHMM(3, covariance_type="full", **kw)),
]


def _run(make, X, lengths, implementation):
    model = make(n_iter=6, tol=-np.inf, random_state=7, implementation=implementation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # hmmlearn's own, both runs
        model.fit(X, lengths)
    out = {"history": np.array(model.monitor_.history), "iter": model.monitor_.iter,
           "startprob": model.startprob_, "transmat": model.transmat_}
    for name in ("means_", "_covars_", "lambdas_", "emissionprob_", "weights_"):
        if hasattr(model, name):
            out[name] = np.asarray(getattr(model, name))
    out["score"] = model.score(X, lengths)
    out["score_one"] = model.score(X[:40])
    ll, post = model.score_samples(X, lengths)
    out["score_samples"], out["posteriors"] = ll, post
    out["viterbi"] = model.decode(X, lengths, algorithm="viterbi")
    out["map"] = model.decode(X, lengths, algorithm="map")
    out["predict"] = model.predict(X, lengths)
    return model, out


def _compare(ref, ours):
    assert ref.keys() == ours.keys()
    assert ours["iter"] == ref["iter"]
    for key in ref:
        a, b = ref[key], ours[key]
        if key in ("viterbi", "map"):
            np.testing.assert_allclose(b[0], a[0], rtol=RTOL, err_msg=key)
            np.testing.assert_array_equal(b[1], a[1], err_msg=key)
        elif key == "predict":
            np.testing.assert_array_equal(b, a)
        elif key != "iter":
            np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("implementation", ["log", "scaling"])
@pytest.mark.parametrize("name,kind,make", MODELS, ids=[m[0] for m in MODELS])
def test_same_results_as_hmmlearn(name, kind, make, implementation):
    rng = np.random.default_rng(3)
    lengths = [60, 1, 45, 80, 2, 70]
    X = _data(kind, rng, lengths)
    _, ref = _run(make, X, lengths, implementation)
    ehl.backend_stats(reset=True)
    with ehl.backend(n_jobs=2):
        _, ours = _run(make, X, lengths, implementation)
    served = ehl.backend_stats()
    assert served["estep"] == 6 and served["decode"] >= 2 and served["score"] >= 3
    assert served["fallback"] == 0
    _compare(ref, ours)


def test_results_do_not_depend_on_n_jobs(monkeypatch):
    monkeypatch.setattr(ehl, "_FRAME_CELLS", 512)         # several row chunks
    monkeypatch.setattr(ehl, "_STAT_CELLS", 4096)
    rng = np.random.default_rng(5)
    lengths = [300] * 5
    X = _data("gaussian", rng, lengths)
    outs = []
    for n_jobs in (1, 2):
        with ehl.backend(n_jobs=n_jobs):
            outs.append(_run(MODELS[0][2], X, lengths, "log")[1])
    for key in outs[0]:
        a, b = outs[0][key], outs[1][key]
        if isinstance(a, tuple):
            assert a[0] == b[0]
            np.testing.assert_array_equal(a[1], b[1])
        else:
            np.testing.assert_array_equal(a, b)


def test_context_restores_hmmlearn():
    from hmmlearn import base
    before = (base._AbstractHMM._do_estep, base._AbstractHMM._score,
              hmm.CategoricalHMM.decode, hmm.GaussianHMM.decode)
    with ehl.backend(n_jobs=1):
        assert ehl.is_enabled()
        with ehl.backend(n_jobs=2):
            assert ehl._state["n_jobs"] == 2
        assert ehl._state["n_jobs"] == 1
        assert hmm.CategoricalHMM.decode is not before[2]
        assert hmm.CategoricalHMM.decode.__doc__ == before[2].__doc__
    assert not ehl.is_enabled()
    assert (base._AbstractHMM._do_estep, base._AbstractHMM._score,
            hmm.CategoricalHMM.decode, hmm.GaussianHMM.decode) == before
    with pytest.raises(RuntimeError, match="not enabled"):
        ehl.disable()


def test_unnormalised_chain_is_exact():
    """Rows off by 1e-7 (hmmlearn's allclose accepts them) give hmmlearn's numbers."""
    rng = np.random.default_rng(1)
    lengths = [50, 30]
    X = _data("gaussian", rng, lengths)
    model = hmm.GaussianHMM(3, init_params="", n_iter=3, tol=-np.inf)
    model.startprob_ = np.array([0.5, 0.3, 0.2 + 1e-7])
    model.transmat_ = np.array([[0.8, 0.1, 0.1 - 1e-7], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6 + 3e-7]])
    model.means_ = np.array([[0.0, 0.0], [3.0, -3.0], [6.0, -6.0]])
    model.covars_ = np.ones((3, 2))
    ref_ll, ref_post = model.score_samples(X, lengths)
    ref_v = model.decode(X, lengths)
    with ehl.backend():
        ll, post = model.score_samples(X, lengths)
        v = model.decode(X, lengths)
    np.testing.assert_allclose(ll, ref_ll, rtol=RTOL)
    np.testing.assert_allclose(post, ref_post, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(v[0], ref_v[0], rtol=RTOL)
    np.testing.assert_array_equal(v[1], ref_v[1])


def test_impossible_observation_falls_back_to_hmmlearn():
    """A symbol no state emits: hmmlearn's own answer (here -inf), not a kernel error."""
    model = hmm.CategoricalHMM(2, init_params="")
    model.startprob_ = np.array([0.5, 0.5])
    model.transmat_ = np.array([[0.9, 0.1], [0.1, 0.9]])
    model.emissionprob_ = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    X = np.array([[0], [2], [1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = model.score(X)
        ehl.backend_stats(reset=True)
        with ehl.backend():
            ours = model.score(X)
    assert ours == ref == -np.inf
    assert ehl.backend_stats()["fallback"] == 1


def test_subclass_overriding_internals_runs_hmmlearn_code():
    calls = []

    class Custom(hmm.PoissonHMM):
        def _fit_log(self, X):
            calls.append(len(X))
            return super()._fit_log(X)

    rng = np.random.default_rng(2)
    X = _data("poisson", rng, [20, 30])
    with ehl.backend():
        Custom(2, n_iter=2, random_state=0).fit(X, [20, 30])
    assert calls == [20, 30, 20, 30]


def test_import_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "hmmlearn", None)
    with pytest.raises(ImportError, match=r"pip install 'emfast\[hmmlearn\]'"):
        ehl.enable()
    assert not ehl.is_enabled()


def test_bad_n_jobs():
    with pytest.raises(TypeError, match=r"n_jobs must be a positive int, -1 or None; got 'two'"):
        with ehl.backend(n_jobs="two"):
            pass
    assert not ehl.is_enabled()


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
@pytest.mark.parametrize("F", [1, 4, 7])
def test_fast_gaussian_density_is_hmmlearns(covariance_type, F):
    """The backend's diagonal / spherical density: hmmlearn's numbers, bit for bit."""
    from hmmlearn import base
    rng = np.random.default_rng(F)
    model = hmm.GaussianHMM(3, covariance_type=covariance_type)
    model.n_features = F
    model.means_ = 5 * rng.normal(size=(3, F))
    model.covars_ = (rng.uniform(0.1, 3, size=(3, F)) if covariance_type == "diag"
                     else rng.uniform(0.1, 3, size=3))
    X = 4 * rng.normal(size=(500, F))
    fast = ehl._fast_gaussian(model, base)
    assert fast is not None
    np.testing.assert_array_equal(fast(X), model._compute_log_likelihood(X))
