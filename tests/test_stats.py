import numpy as np
import pytest

from emfast._stats import chi2_sf, gammaincc

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")


@pytest.mark.parametrize("df", [1, 2, 3, 7.5, 20, 100, 1000])
def test_chi2_sf_matches_scipy(df):
    xs = np.concatenate([np.linspace(0.01, 3 * df + 30, 60), [df, df + 1e-9]])
    for x in xs:
        ref = scipy_stats.chi2.sf(x, df)
        got = chi2_sf(x, df)
        assert got == pytest.approx(ref, rel=1e-10, abs=1e-300), (x, df)


def test_gammaincc_edges():
    assert gammaincc(2.0, 0.0) == 1.0
    assert gammaincc(2.0, np.inf) == 0.0
    assert chi2_sf(-1.0, 3) == 1.0
    with pytest.raises(ValueError, match="df must be > 0"):
        chi2_sf(1.0, 0)
    for a, x in [(0.5, 1e-8), (3.0, 2.0), (50.0, 49.0), (50.0, 80.0)]:
        assert gammaincc(a, x) == pytest.approx(scipy_special.gammaincc(a, x), rel=1e-11)
