"""Optional agreement test with StepMix (measurement="categorical_nan").

Skipped when StepMix is not installed (it is in /work/bench-venv):
``PYTHONPATH=src /work/bench-venv/bin/python -m pytest tests/test_lca_stepmix.py``.
"""
import warnings

import numpy as np
import pytest

from emfast import LatentClassModel

stepmix = pytest.importorskip("stepmix")
pytestmark = pytest.mark.peer


def test_same_loglik_trajectory_as_stepmix(rng):
    from stepmix.stepmix import StepMix
    K, cards, n = 3, [2, 3, 3, 2, 3, 3], 800
    w0 = rng.dirichlet(np.full(K, 5.0))
    items0 = [rng.dirichlet(np.full(m, 5.0), size=K) for m in cards]
    X = np.column_stack([rng.integers(0, m, n) for m in cards])
    X[rng.random(X.shape) < 0.15] = -1
    X = X[(X >= 0).any(axis=1)]
    n = len(X)
    n_steps = 15

    ours = LatentClassModel(K, init={"weights": w0, "item_probs": items0}, max_iter=n_steps,
                            tol=0.0, n_categories=cards)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.fit(X)

    Xf = np.where(X < 0, np.nan, X).astype(float)
    sm = StepMix(n_components=K, measurement="categorical_nan", max_iter=1, verbose=0,
                 progress_bar=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm.fit(Xf)                                   # builds the measurement model
    M = max(cards)
    pis = np.zeros((K, len(cards) * M))
    for j, t in enumerate(items0):
        pis[:, j * M:j * M + cards[j]] = t
    params = sm.get_parameters()
    params["weights"] = w0.copy()
    params["measurement"]["pis"] = pis
    sm.set_parameters(params)
    Xc, _ = sm._check_x_y(Xf, None)
    traj = []
    for _ in range(n_steps + 1):
        avg_ll, log_resp = sm._e_step(Xc)
        traj.append(avg_ll * n)
        sm._m_step(Xc, np.exp(log_resp))
    np.testing.assert_allclose(ours.history_, traj, rtol=1e-9)
