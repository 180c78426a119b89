"""One estimator contract for the three families (issue 10; docs/api.md).

Every family: fit from a labelled DataFrame with NaN; impute / predict_proba / sample in
pandas form with the input's index, columns and labels; columns matched by name; the
same fitted attributes (history_, n_iter_, converged_, log_likelihood_, n_best_,
init_objectives_, n_estep_, stop_reason_); n_parameters / aic / bic; restart attributes
with a missingness mechanism; no stale attributes; scikit-learn conformance.
"""
import io
import warnings
from pathlib import Path

import numpy as np
import pytest

import emfast as em
from emfast._base import COMMON_FIT_ATTRIBUTES, sklearn_expected_failed_checks

from conftest import assert_monotone

pd = pytest.importorskip("pandas")
DATA = Path(__file__).parent / "data"


def _votes():
    return pd.read_csv(DATA / "house_votes_84.csv").drop(columns="Class")


def _common(model, n_init=1):
    for attr in COMMON_FIT_ATTRIBUTES:
        assert hasattr(model, attr), attr
    assert len(model.init_objectives_) == n_init
    assert 1 <= model.n_best_ <= n_init
    assert model.n_estep_ >= len(model.history_) >= 1
    assert model.stop_reason_ in ("tol", "max_iter")
    assert_monotone(model.history_)


# --------------------------------------------------------------------- LCA
def test_lca_labelled_frame_in_and_out():
    X = _votes()
    lca = em.LatentClassModel(2, n_init=3, random_state=0).fit(X)
    _common(lca, 3)
    assert list(lca.feature_names_in_) == list(X.columns)
    assert lca.categories_[0] == ["n", "y"]
    # reordered columns are matched by name: same scores, impute in the caller's order
    rev = X[X.columns[::-1]]
    np.testing.assert_array_equal(lca.score_samples(rev), lca.score_samples(X))
    imp = lca.impute(rev)
    assert isinstance(imp, pd.DataFrame) and list(imp.columns) == list(rev.columns)
    assert imp.index.equals(rev.index) and not imp.isna().any().any()
    obs = rev.notna()
    assert (imp[obs] == rev[obs]).sum().sum() == obs.sum().sum()   # observed cells kept
    assert set(np.unique(imp.to_numpy())) <= {"n", "y"}
    proba = lca.predict_proba(X)
    assert isinstance(proba, pd.DataFrame) and proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    S, z = lca.sample(20, random_state=1)
    assert isinstance(S, pd.DataFrame) and list(S.columns) == list(X.columns)
    assert z.shape == (20,)
    S2, _ = lca.sample(20, random_state=1, as_frame=False)
    assert S2.dtype == np.int32
    assert lca.n_parameters == 1 + 2 * 16
    assert np.isfinite(lca.bic(X)) and np.isfinite(lca.aic(X))
    # unknown or missing columns: a ValueError naming them
    with pytest.raises(ValueError, match=r"column\(s\) \['V99'\] that are not model variables"):
        lca.predict(X.rename(columns={"V1": "V99"}))
    with pytest.raises(ValueError, match=r"no column for \['V16'\]"):
        lca.predict(X.drop(columns="V16"))
    with pytest.raises(ValueError, match=r"'maybe' at row 0, which is not a state of "
                                         r"variable 'V1'"):
        lca.predict(X.head(1).assign(V1="maybe"))


def test_emimputer_frame_set_output_and_names():
    X = _votes()
    imp = em.EMImputer(random_state=0).fit(X)
    out = imp.transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(X.columns)
    assert list(imp.get_feature_names_out()) == list(X.columns)
    arr = X.apply(lambda c: c.map({"n": 0, "y": 1})).to_numpy(dtype=float)
    imp2 = em.EMImputer(random_state=0).set_output(transform="pandas").fit(arr)
    out2 = imp2.transform(arr)
    assert isinstance(out2, pd.DataFrame) and list(out2.columns) == [f"x{i}" for i in range(16)]
    assert not hasattr(imp2, "feature_names_in_")
    with pytest.raises(ValueError, match="set_output.*not supported"):
        em.EMImputer().set_output(transform="polars")


@pytest.mark.filterwarnings("ignore:Estimator .* does not inherit:UserWarning")
@pytest.mark.parametrize("make", [lambda: em.LatentClassModel(2, random_state=0),
                                  lambda: em.EMImputer(random_state=0)])
def test_check_estimator(make):
    sk = pytest.importorskip("sklearn.utils.estimator_checks")
    est = make()
    results = sk.check_estimator(est, on_fail=None, on_skip=None,
                                 expected_failed_checks=sklearn_expected_failed_checks(est))
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert not failed, failed
    assert any(r["status"] == "passed" for r in results)


def test_hmm_declares_tags():
    pytest.importorskip("sklearn")
    tags = em.CategoricalHMM().__sklearn_tags__()
    assert tags.input_tags.categorical and tags.input_tags.one_d_array


def test_restart_attributes_with_a_mechanism(rng):
    """n_init with missingness= reports every restart (was: length 1)."""
    X = _votes()
    lca = em.LatentClassModel(2, n_init=4, missingness=em.MCAR(), random_state=0).fit(X)
    _common(lca, 4)
    assert set(lca.missingness_) == {c for c in X.columns if X[c].isna().any()}


def test_no_stale_attributes_across_fits(rng):
    truth = em.datasets.load_network("asia")
    data = truth.sample(600, random_state=0)
    data[rng.random(data.shape) < 0.2] = -1
    bn = truth.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.ConvergenceWarning)
        bn.fit(data, n_init=2, max_iter=30, random_state=0)
        assert len(bn.init_objectives_) == 2
        bn.fit(data, n_init=5, missingness=em.MCAR(), max_iter=30, random_state=0)
        _common(bn, 5)
        assert hasattr(bn, "missingness_")
        bn.fit(data, n_init=1, max_iter=30, random_state=0)
    _common(bn, 1)
    assert not hasattr(bn, "missingness_") and not hasattr(bn, "mechanism_")
    lca = em.LatentClassModel(2, random_state=0, missingness=em.MCAR()).fit(_votes())
    assert hasattr(lca, "missingness_")
    lca.set_params(missingness=None).fit(_votes())
    assert not hasattr(lca, "missingness_") and not hasattr(lca, "missingness_parents_")


# ---------------------------------------------------------------------- BN
def test_bn_frame_in_and_out_with_booleans():
    """pd.read_csv turns TRUE/FALSE states into bools; they match the states in any case."""
    bn = em.BayesianNetwork([("rain", "wet")], {"rain": 2, "wet": 2},
                            states={"rain": ["FALSE", "TRUE"], "wet": ["dry", "wet"]})
    bn.cpts["rain"] = [0.7, 0.3]
    bn.cpts["wet"] = [[0.9, 0.1], [0.2, 0.8]]
    text = "wet,rain\n" + "wet,TRUE\ndry,\n,FALSE\nwet,\n" * 30
    df = pd.read_csv(io.StringIO(text))
    assert {type(v) for v in df["rain"].dropna()} == {bool}       # what read_csv gives
    fit = bn.copy().fit(df, max_iter=500, random_state=0)
    _common(fit)
    p = fit.predict_proba(df, ["rain"])["rain"]
    assert isinstance(p, pd.DataFrame) and list(p.columns) == ["FALSE", "TRUE"]
    assert p.index.equals(df.index)
    imp = fit.impute(df)
    assert list(imp.columns) == ["wet", "rain"] and not imp.isna().any().any()
    S = fit.sample(10, random_state=0)
    assert isinstance(S, pd.DataFrame) and list(S.columns) == fit.variables  # fitted on a frame
    assert fit.sample(10, random_state=0, as_frame=False).dtype == np.int32
    booleans = pd.DataFrame({"rain": [True, False, None], "wet": ["wet", "dry", "wet"]})
    codes = fit._codes(booleans)
    np.testing.assert_array_equal(codes[:, 0], [1, 0, -1])
    assert fit.n_parameters == 1 + 2
    assert fit.score(df) == pytest.approx(np.mean(fit.score_samples(df)))
    assert fit.bic(df) == pytest.approx(-2 * fit.log_likelihood(df) + 3 * np.log(len(df)))
    with pytest.raises(ValueError, match=r"column\(s\) \['snow'\] that are not model"):
        fit.score(df.rename(columns={"rain": "snow"}))


def test_random_state_none_means_the_estimators_own(rng):
    lca = em.LatentClassModel(2, random_state=3).fit(_votes())
    a, _ = lca.sample(50, as_frame=False)
    b, _ = lca.sample(50, as_frame=False)
    np.testing.assert_array_equal(a, b)
    h = em.CategoricalHMM(2, random_state=3, n_iter=5).fit(rng.integers(0, 3, 200))
    np.testing.assert_array_equal(h.sample(30)[0], h.sample(30)[0])
    bn = em.datasets.load_network("asia")            # a network has no seed: fresh entropy
    assert not np.array_equal(bn.sample(2000), bn.sample(2000))


# --------------------------------------------------------------------- HMM
def test_hmm_series_and_frame_of_labels(rng):
    states = rng.integers(0, 2, 400)
    labels = np.where(states == 0, rng.choice(["a", "b"], 400, p=[0.9, 0.1]),
                      rng.choice(["a", "b", "c"], 400, p=[0.1, 0.2, 0.7]))
    s = pd.Series(pd.Categorical(labels, categories=["a", "b", "c"]), name="sym")
    s[rng.random(400) < 0.1] = None
    h = em.CategoricalHMM(2, n_iter=30, random_state=0).fit(s, [200, 200])
    _common(h)
    assert h.categories_ == [["a", "b", "c"]] and h.n_features_ == 3
    p = h.predict_proba(s, [200, 200])
    assert isinstance(p, pd.DataFrame) and p.index.equals(s.index)
    imp = h.impute(s, [200, 200])
    assert isinstance(imp, pd.Series) and not imp.isna().any()
    assert (imp[s.notna()] == s[s.notna()]).all()
    X, z = h.sample(15, random_state=0)
    assert isinstance(X, pd.Series) and set(X.dropna()) <= {"a", "b", "c"}
    # a DataFrame of two channels: matched by name, reordered columns agree
    d = pd.DataFrame({"a": rng.choice(["x", "y"], 300), "b": rng.integers(0, 4, 300)})
    h2 = em.CategoricalHMM(2, n_iter=10, random_state=0).fit(d)
    assert list(h2.feature_names_in_) == ["a", "b"] and h2.n_features_ == [2, 4]
    assert h2.score(d[["b", "a"]]) == pytest.approx(h2.score(d), rel=1e-12)
    with pytest.raises(ValueError, match=r"column\(s\) \['c'\] that are not model"):
        h2.score(d.rename(columns={"a": "c"}))
    assert h2.n_parameters == 1 + 2 + 2 * 1 + 2 * 3
    assert np.isfinite(h2.bic(d)) and np.isfinite(h2.aic(d))


def test_hmm_mechanism_objects(rng):
    X = rng.integers(0, 3, size=(400, 2))
    X[rng.random(400) < 0.2, 0] = -1
    X[rng.random(400) < 0.1, 1] = -1
    state = em.CategoricalHMM(2, n_iter=20, random_state=0,
                              missingness=em.MNAR({0: ["state"], 1: ["state"]})).fit(X)
    alias = em.CategoricalHMM(2, n_iter=20, random_state=0, missingness="state").fit(X)
    np.testing.assert_array_equal(state.transmat_, alias.transmat_)
    np.testing.assert_allclose(state.missingness_[0][:, 1], alias.missingprob_[:, 0])
    mcar = em.CategoricalHMM(2, n_iter=20, random_state=0, missingness=em.MCAR()).fit(X)
    ign = em.CategoricalHMM(2, n_iter=20, random_state=0).fit(X)
    np.testing.assert_array_equal(mcar.transmat_, ign.transmat_)      # MCAR separates
    n_mis = (X < 0).sum(0)
    extra = np.sum(n_mis * np.log(n_mis / 400) + (400 - n_mis) * np.log(1 - n_mis / 400))
    assert mcar.score(X) == pytest.approx(ign.score(X) + extra, rel=1e-12)
    np.testing.assert_allclose(mcar.missingness_[0], [1 - n_mis[0] / 400, n_mis[0] / 400])
    Y = X.copy()
    Y[:, 1] = np.abs(Y[:, 1])                   # channel 1 always observed
    mar = em.CategoricalHMM(2, n_iter=20, random_state=0,
                            missingness=em.MAR({0: [1]})).fit(Y)
    assert mar.missingness_[0].shape == (3, 2) and mar.missingness_parents_[0] == (1,)
    with pytest.raises(ValueError, match=r"MAR: the indicator of channel 0 depends on the hidden"):
        em.CategoricalHMM(2, missingness=em.MAR({0: ["state"]})).fit(X)
    with pytest.raises(ValueError, match=r"names the channel 5"):
        em.CategoricalHMM(2, missingness=em.MNAR({5: ["state"]})).fit(X)
