import os

import numpy as np
import pytest

_SEED = int(os.environ.get("EMFAST_TEST_SEED", "20261125"))


def pytest_report_header(config):
    from emfast import _kernels
    return (f"emfast test seed: EMFAST_TEST_SEED={_SEED}; openmp={_kernels.openmp_enabled()} "
            f"threads={_kernels.max_threads()} debug_build={_kernels.debug_build()}")


@pytest.fixture
def seed():
    """The test seed (set EMFAST_TEST_SEED to try another)."""
    return _SEED


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)


def assert_monotone(history, rtol=1e-10):
    """Every EM step must not decrease the objective (beyond round-off)."""
    h = np.asarray(history, dtype=float)
    assert h.size >= 1
    assert np.all(np.isfinite(h)), h
    if h.size > 1:
        d = np.diff(h)
        tol = rtol * np.maximum(np.abs(h[1:]), 1.0)
        assert np.all(d >= -tol), f"EM objective decreased: {d[d < -tol]}"
