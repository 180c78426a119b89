"""emfast.compat.pyagrum against pyAgrum (skipped when pyagrum is not installed).

Exact round trips both ways, the layout checked through pyAgrum's own indexing and
inference, and EM from the same start (handed over exactly by to_pyagrum) agreeing with
BNLearner's EM.
"""
import warnings

import numpy as np
import pytest

import _oracle_bn as O

gum = pytest.importorskip("pyagrum")

import emfast  # noqa: E402
from emfast.compat.pyagrum import from_pyagrum, to_pyagrum  # noqa: E402
from emfast.exceptions import ConvergenceWarning  # noqa: E402

pytestmark = pytest.mark.peer


def _tables_equal(a, b):
    assert a.variables == b.variables and a.states == b.states
    for v in a.variables:
        assert a.parents(v) == b.parents(v)
        np.testing.assert_array_equal(a.cpts[v], b.cpts[v])


@pytest.mark.parametrize("name", ["asia", "alarm"])
def test_round_trip_emfast_pyagrum_emfast_bundled(name):
    bn = emfast.datasets.load_network(name)
    _tables_equal(from_pyagrum(to_pyagrum(bn)), bn)


def test_round_trip_random_networks(rng):
    for _ in range(5):
        bn = O.random_network(rng, n_vars=7, max_card=4)
        gbn = to_pyagrum(bn)
        assert [gbn.variable(i).name() for i in sorted(gbn.nodes())] == bn.variables
        _tables_equal(from_pyagrum(gbn), bn)


def test_round_trip_pyagrum_emfast_pyagrum(rng):
    gbn = gum.fastBN("A{lo|mid|hi}->B{u|v}<-C{x|y|z|w};B->D{0|1};A->D", 3)
    gbn.generateCPTs()
    back = to_pyagrum(from_pyagrum(gbn))
    for i in gbn.nodes():
        v = gbn.variable(i).name()
        assert back.variable(v).labels() == gbn.variable(v).labels()
        assert set(back.cpt(v).names) == set(gbn.cpt(v).names)
        a, b = gbn.cpt(v), back.cpt(v)
        assert list(a.names) == list(b.names)
        np.testing.assert_array_equal(np.asarray(a.toarray()), np.asarray(b.toarray()))


def test_layout_against_pyagrum_indexing(rng):
    bn = O.random_network(rng, n_vars=6, max_card=4)
    gbn = to_pyagrum(bn)
    for v in bn.variables:
        pot = gbn.cpt(v)
        fam = bn.parents(v) + (v,)
        for idx in np.ndindex(bn.cpts[v].shape):
            inst = gum.Instantiation(pot)
            for x, k in zip(fam, idx):
                inst.chgVal(str(x), int(k))
            assert pot.get(inst) == bn.cpts[v][idx]


def test_posteriors_agree_with_pyagrum_inference(rng):
    bn = O.random_network(rng, n_vars=7, max_card=3)
    gbn = to_pyagrum(bn)
    row = bn.sample(1, random_state=rng)[0]
    obs = {v: int(row[j]) for j, v in enumerate(bn.variables) if j % 3 == 0}
    data = np.full((1, len(bn.variables)), -1, dtype=np.int32)
    for j, v in enumerate(bn.variables):
        if v in obs:
            data[0, j] = obs[v]
    targets = [v for v in bn.variables if v not in obs]
    ours = bn.predict_proba(data, targets)
    ie = gum.LazyPropagation(gbn)
    ie.setEvidence({str(v): k for v, k in obs.items()})
    ie.makeInference()
    for v in targets:
        np.testing.assert_allclose(np.asarray(ours[v])[0], np.asarray(ie.posterior(v).toarray()),
                                   rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("iters", [1, 4])
def test_em_same_as_bnlearner_from_the_exact_same_start(tmp_path, rng, iters):
    truth = O.random_network(rng, n_vars=6, max_card=3)
    X = truth.sample(400, random_state=rng)
    X[rng.random(X.shape) < 0.2] = -1
    X[:, 0] = -1                                   # one hidden variable as well
    start = truth.copy()
    for v in truth.variables:
        sh = truth.cpts[v].shape
        start.cpts[v] = rng.dirichlet(np.ones(sh[-1]), size=sh[:-1])
    gbn = to_pyagrum(start)                        # exact start (no BIF text, no float32)
    csv = tmp_path / "data.csv"
    with open(csv, "w") as fh:
        fh.write(",".join(truth.variables) + "\n")
        for r in X:
            fh.write(",".join("?" if c < 0 else start.states[v][c]
                              for v, c in zip(truth.variables, r)) + "\n")
    learner = gum.BNLearner(str(csv), gbn, ["?"])
    learner.useEMWithDiffCriterion(1e-300, noise=0.0)
    learner.EMsetMaxIter(iters)
    res = learner.learnParameters(gbn)
    n = learner.EMnbrIterations()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = start.copy().fit(X, init="current", max_iter=n, tol=0)
    assert ours.n_iter_ == n >= 1
    theirs = from_pyagrum(res)
    for v in truth.variables:
        # pyAgrum may hold the learned tensor's parents in another order: align by name
        pa = list(theirs.parents(v))
        t = theirs.cpts[v].transpose([pa.index(p) for p in ours.parents(v)] + [len(pa)])
        np.testing.assert_allclose(ours.cpts[v], t, rtol=1e-10, atol=1e-12, err_msg=v)


def test_errors():
    with pytest.raises(TypeError, match="pyagrum.BayesNet"):
        from_pyagrum("not a network")
    with pytest.raises(TypeError, match="emfast BayesianNetwork"):
        to_pyagrum(gum.BayesNet())
