import numpy as np
import pytest

from emfast.diagnostics import mcar_test
from emfast.missingness import MCAR, MAR, MNAR

scipy_stats = pytest.importorskip("scipy.stats")


def _data(rng, n, mar):
    C = rng.integers(0, 3, n)
    D = rng.integers(0, 2, n)
    A = rng.integers(0, 2, n)
    p = np.where(C == 2, 0.4, 0.1) if mar else np.full(n, 0.2)
    A = np.where(rng.random(n) < p, -1, A)
    return np.column_stack([A, C, D])


def test_mcar_test_matches_g_test(rng):
    X = _data(rng, 3000, mar=True)
    res = mcar_test(X, variables=["A", "C", "D"])
    assert res.covariates == ["C", "D"]
    # reference: G-test of independence between m_A and the (C, D) configuration
    cfg = X[:, 1] * 2 + X[:, 2]
    tab = np.zeros((6, 2))
    np.add.at(tab, (cfg, (X[:, 0] == -1).astype(int)), 1)
    g, p, dof, _ = scipy_stats.chi2_contingency(tab, lambda_="log-likelihood", correction=False)
    assert res.statistic == pytest.approx(g, rel=1e-10)
    assert res.df == dof == 5
    assert res.pvalue == pytest.approx(p, rel=1e-8)
    assert res.pvalue < 1e-6
    assert res.per_variable["A"]["n_missing"] == int((X[:, 0] == -1).sum())


def test_mcar_test_does_not_reject_mcar(rng):
    X = _data(rng, 3000, mar=False)
    res = mcar_test(X, variables=["A", "C", "D"], covariates=["C"])
    assert res.df == 2
    assert res.pvalue > 1e-3


def test_mcar_test_dataframe_and_errors(rng):
    pd = pytest.importorskip("pandas")
    X = _data(rng, 500, mar=True)
    df = pd.DataFrame({"A": pd.array(np.where(X[:, 0] < 0, pd.NA, X[:, 0]), dtype="Int64"),
                       "C": ["lo", "mid", "hi"] * 166 + ["lo", "mid"], "D": X[:, 2]})
    res = mcar_test(df)
    assert res.covariates == ["C", "D"] and res.df == 5
    with pytest.raises(ValueError, match=r"covariate 'A' is missing in \d+ row\(s\)"):
        mcar_test(df, covariates=["A"])
    with pytest.raises(ValueError, match=r"covariate 'Q' is not a column"):
        mcar_test(df, covariates=["Q"])
    with pytest.raises(ValueError, match="needs at least one always-observed covariate"):
        mcar_test(np.array([[0, -1], [-1, 1]]))


def test_mechanism_objects_and_resolve():
    codes = np.array([[0, -1, 1, -1], [1, 0, -1, -1], [1, 1, 1, -1]], dtype=np.int32)
    v = ["A", "B", "C", "Z"]
    assert MCAR().resolve(v, codes) == {"B": (), "C": ()}
    assert MAR({"B": ["A"]}).resolve(v, codes) == {"B": ("A",), "C": ()}
    assert MNAR({"B": ["B", "Z"]}).resolve(v, codes) == {"B": ("B", "Z"), "C": ()}
    assert MNAR({"A": "A"}).resolve(v, codes) == {"A": ("A",), "B": (), "C": ()}
    with pytest.raises(ValueError, match=r"MAR: the indicator of 'B' depends on 'C', which is missing in 1 row\(s\) \(first: row 1\).*MNAR, not MAR"):
        MAR({"B": ["C"]}).resolve(v, codes)
    with pytest.raises(ValueError, match=r"MAR: the indicator of 'B' depends on 'Z', which is hidden"):
        MAR({"B": ["Z"]}).resolve(v, codes)
    with pytest.raises(ValueError, match=r"MAR: the indicator of 'B' depends on 'B'"):
        MAR({"B": ["B"]}).resolve(v, codes)
    with pytest.raises(ValueError, match=r"MNAR names 'Q', which is not a model variable"):
        MNAR({"Q": ["A"]}).resolve(v, codes)
    with pytest.raises(ValueError, match=r"the indicator of 'B' depends on 'Q', which is not a model variable"):
        MNAR({"B": ["Q"]}).resolve(v, codes)
    with pytest.raises(ValueError, match=r"'Z' is hidden"):
        MNAR({"Z": ["A"]}).resolve(v, codes)
    assert repr(MAR({"B": ["A"]})) == "MAR({'B': ['A']})"
    assert MAR({"B": "A"}) == MAR({"B": ["A"]})


def test_mcar_test_validates_codes_through_check_data():
    with pytest.raises(ValueError, match=r"data\[:, 0\] contains the non-integer value 0.5 at row 0; "
                                         r"variable 'x0' takes integer codes >= 0"):
        mcar_test(np.array([[0.5, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"data\[:, 1\] contains category -3 at row 1, but "
                                         r"variable 'C' takes codes >= 0"):
        mcar_test(np.array([[0, 1], [-1, -3]]), variables=["A", "C"])
