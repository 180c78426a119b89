"""Tests of emfast.EMImputer and emfast.pool (Rubin's rules)."""
import numpy as np
import pytest

import emfast
from emfast import EMImputer, LatentClassModel, pool


def two_class_data(rng, n=400, p_missing=0.15):
    z = rng.integers(0, 2, n)
    probs = np.where(z[:, None] == 0, 0.1, 0.9)
    X = (rng.random((n, 6)) < probs).astype(np.int64)
    Xm = X.copy()
    Xm[rng.random(X.shape) < p_missing] = -1
    return X, Xm


def test_map_imputer_equals_model_impute(rng):
    X, Xm = two_class_data(rng)
    imp = EMImputer(LatentClassModel(2, random_state=0))
    out = imp.fit_transform(Xm)
    ref = LatentClassModel(2, random_state=0).fit(Xm).impute(Xm, method="map")
    np.testing.assert_array_equal(out, ref)
    obs = Xm >= 0
    np.testing.assert_array_equal(out[obs], Xm[obs])
    assert (out >= 0).all()
    # the imputed cells recover most true values on well-separated classes
    assert np.mean(out[~obs] == X[~obs]) > 0.8
    assert imp.model.__dict__.get("weights_") is None      # the given model is untouched


def test_default_model_and_sample_strategy(rng):
    _, Xm = two_class_data(rng)
    imp = EMImputer(strategy="sample", n_imputations=3, random_state=4).fit(Xm)
    assert isinstance(imp.model_, LatentClassModel) and imp.model_.n_classes == 2
    outs = imp.transform(Xm)
    assert isinstance(outs, list) and len(outs) == 3
    obs = Xm >= 0
    for o in outs:
        np.testing.assert_array_equal(o[obs], Xm[obs])
        assert (o >= 0).all()
    assert any((a != b).any() for a, b in zip(outs, outs[1:]))
    again = EMImputer(strategy="sample", n_imputations=3, random_state=4).fit(Xm).transform(Xm)
    for a, b in zip(outs, again):
        np.testing.assert_array_equal(a, b)
    one = EMImputer(strategy="sample", random_state=4).fit_transform(Xm)
    assert isinstance(one, np.ndarray)


def test_sklearn_pipeline_and_clone(rng):
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    X, Xm = two_class_data(rng, n=300)
    y = X[:, 0]
    Xf = np.where(Xm[:, 1:] < 0, np.nan, Xm[:, 1:])          # NaN = missing also works
    pipe = make_pipeline(EMImputer(LatentClassModel(2, random_state=0)),
                         OneHotEncoder(handle_unknown="ignore"), LogisticRegression())
    pipe.fit(Xf, y)
    assert pipe.score(Xf, y) > 0.7
    imp = EMImputer(LatentClassModel(3, n_init=2), strategy="sample", random_state=1)
    c = clone(imp)
    assert c.get_params()["model__n_classes"] == 3
    c.set_params(model__n_classes=2, strategy="map")
    assert c.model.n_classes == 2 and imp.model.n_classes == 3
    assert "strategy='sample'" in repr(imp)


def test_imputer_errors(rng):
    _, Xm = two_class_data(rng, n=50)
    with pytest.raises(ValueError, match="strategy must be 'map' or 'sample'; got 'mode'"):
        EMImputer(strategy="mode").fit(Xm)
    with pytest.raises(ValueError, match="n_imputations=3 needs strategy='sample'"):
        EMImputer(n_imputations=3).fit(Xm)
    with pytest.raises(ValueError, match="n_imputations must be an int >= 1; got 0"):
        EMImputer(strategy="sample", n_imputations=0).fit(Xm)
    with pytest.raises(ValueError, match=r"model must have fit\(\) and impute"):
        EMImputer(model=object()).fit(Xm)
    with pytest.raises(emfast.NotFittedError, match="EMImputer instance is not fitted yet"):
        EMImputer().transform(Xm)


def test_pool_by_hand():
    q = np.array([1.0, 1.4, 0.9, 1.3])
    u = np.array([0.04, 0.05, 0.045, 0.05])
    m = 4
    res = pool(q, u)
    qbar = q.mean()
    ubar = u.mean()
    b = np.sum((q - qbar) ** 2) / (m - 1)
    t = ubar + (1 + 1 / m) * b
    r = (1 + 1 / m) * b / ubar
    df = (m - 1) * (1 + 1 / r) ** 2
    assert res.estimate == pytest.approx(1.15)
    assert res.within == pytest.approx(0.04625)
    assert res.between == pytest.approx(b) and b == pytest.approx(0.0566666666666)
    assert res.total == pytest.approx(t)
    assert res.std_error == pytest.approx(np.sqrt(t))
    assert res.riv == pytest.approx(r)
    assert res.df == pytest.approx(df)
    assert res.fmi == pytest.approx((r + 2 / (df + 3)) / (r + 1))
    assert res.lambda_ == pytest.approx((1 + 1 / m) * b / t)
    # Barnard-Rubin small-sample degrees of freedom
    nu = 20.0
    lam = (1 + 1 / m) * b / t
    dfo = (nu + 1) / (nu + 3) * nu * (1 - lam)
    br = pool(q, u, df_complete=nu)
    assert br.df == pytest.approx(df * dfo / (df + dfo))
    assert br.df < min(df, nu)


def test_pool_vector_and_errors():
    q = np.array([[1.0, 2.0], [1.2, 2.0], [0.8, 2.0]])
    u = np.full((3, 2), 0.1)
    res = pool(q, u)
    assert res.estimate.shape == (2,)
    assert res.between[1] == 0 and res.fmi[1] == 0.0 and np.isinf(res.df[1])
    assert res.total[1] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="at least 2 imputations; got 1"):
        pool([1.0], [0.1])
    with pytest.raises(ValueError, match=r"variances must have the shape of estimates \(3,\)"):
        pool([1.0, 2.0, 3.0], [0.1, 0.1])
    with pytest.raises(ValueError, match="variances finite and >= 0"):
        pool([1.0, 2.0], [0.1, -0.1])


def test_multiple_imputation_end_to_end(rng):
    """m completed data sets -> per-set proportion of item 0 -> pooled estimate."""
    X, Xm = two_class_data(rng, n=600, p_missing=0.2)
    outs = EMImputer(strategy="sample", n_imputations=5, random_state=0).fit_transform(Xm)
    n = len(X)
    est = np.array([o[:, 0].mean() for o in outs])
    var = est * (1 - est) / n
    res = pool(est, var, df_complete=n - 1)
    assert abs(res.estimate - X[:, 0].mean()) < 3 * res.std_error + 0.02
    assert res.between > 0 and 0 < res.fmi < 1
