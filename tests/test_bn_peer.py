"""Optional: emfast's BN EM against pyAgrum's EM from the same start (skipped without pyagrum)."""
import warnings

import numpy as np
import pytest

from emfast.exceptions import ConvergenceWarning

import _oracle_bn as O

pytestmark = pytest.mark.peer


def _agrum_cpt(gbn, v, bn):
    pot = gbn.cpt(v)
    a = np.asarray(pot.toarray())
    axes = list(pot.names)[::-1]   # toarray(): the tensor's first variable varies fastest
    return a.transpose([axes.index(x) for x in list(bn.parents(v)) + [v]])


@pytest.mark.parametrize("iters", [1, 3])
def test_same_em_trajectory_as_pyagrum(tmp_path, rng, iters):
    gum = pytest.importorskip("pyagrum")
    bn = O.random_network(rng, n_vars=6, max_card=3)
    X = bn.sample(500, random_state=rng)
    X[rng.random(X.shape) < 0.2] = -1
    start = bn.copy()
    for v in bn.variables:
        sh = bn.cpts[v].shape
        start.cpts[v] = rng.dirichlet(np.ones(sh[-1]), size=sh[:-1])
    path = tmp_path / "init.bif"
    start.write_bif(path)
    gbn = gum.loadBN(str(path))
    # start from exactly the tables pyAgrum parsed (its BIF reader keeps ~7 digits, and its
    # rows then sum to 1 only within ~1e-7: hence rtol 1e-6 below, not 1e-10)
    for v in bn.variables:
        start.cpts[v] = _agrum_cpt(gbn, v, start)
    csv = tmp_path / "data.csv"
    with open(csv, "w") as fh:
        fh.write(",".join(bn.variables) + "\n")
        for row in X:
            fh.write(",".join("?" if c < 0 else start.states[v][c]
                              for v, c in zip(bn.variables, row)) + "\n")
    learner = gum.BNLearner(str(csv), gbn, ["?"])
    learner.useEMWithDiffCriterion(1e-300, noise=0.0)
    learner.EMsetMaxIter(iters)
    res = learner.learnParameters(gbn)
    n_agrum = learner.EMnbrIterations()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = start.copy().fit(X, init="current", max_iter=n_agrum, tol=0)
    assert ours.n_iter_ == n_agrum
    for v in bn.variables:
        np.testing.assert_allclose(ours.cpts[v], _agrum_cpt(res, v, start), rtol=1e-6, atol=1e-9)
