"""emfast.compat.pgmpy against pgmpy 1.x (skipped when pgmpy is not installed).

Round trips of networks (exact numbers, state names, pgmpy's CPD layout checked through
pgmpy's own get_value and inference), and the DiscreteEM estimator: the same CPDs as
pgmpy's DiscreteEM from the same start on data pgmpy can fit (complete rows, latent
columns), the same iteration count under pgmpy's stopping rule, and brute-force EM on
data with NaN cells (which pgmpy cannot fit).
"""
import logging
import warnings

import numpy as np
import pytest

import _oracle_bn as O

pgmpy = pytest.importorskip("pgmpy")
pd = pytest.importorskip("pandas")

from pgmpy.factors.discrete import TabularCPD  # noqa: E402
with warnings.catch_warnings():   # pgmpy.inference imports pgmpy's deprecated estimators
    warnings.simplefilter("ignore", FutureWarning)
    from pgmpy.inference import VariableElimination  # noqa: E402
from pgmpy.models import DiscreteBayesianNetwork  # noqa: E402
from pgmpy.parameter_estimator import DiscreteBayesianEstimator, DiscreteMLE  # noqa: E402
from pgmpy.parameter_estimator import DiscreteEM as PgmpyEM  # noqa: E402

import emfast  # noqa: E402
from emfast.compat.pgmpy import DiscreteEM, from_pgmpy, to_pgmpy  # noqa: E402

pytestmark = pytest.mark.peer
logging.getLogger("pgmpy").setLevel(logging.ERROR)   # "rows dropped", "replacing CPD" notes


def example(name):
    from pgmpy.utils import get_example_model   # the networks pgmpy ships (no download)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # get_example_model is deprecated in 1.1
        return get_example_model(name)


def frame(bn, codes, hidden=()):
    """Codes as a DataFrame of state labels (None = missing), hidden columns dropped."""
    cols = {}
    for j, v in enumerate(bn.variables):
        if v in hidden:
            continue
        lab = np.asarray(list(bn.states[v]) + [None], dtype=object)
        cols[v] = lab[np.where(codes[:, j] < 0, len(lab) - 1, codes[:, j])]
    return pd.DataFrame(cols)


def random_start(bn, rng):
    start = bn.copy()
    for v in bn.variables:
        sh = bn.cpts[v].shape
        start.cpts[v] = rng.dirichlet(np.ones(sh[-1]), size=sh[:-1])
    return start


def count_iterations(est):
    """Count pgmpy DiscreteEM's E-steps (one call per iteration when batch_size > rows)."""
    calls = []
    orig = est._parallel_compute_weights

    def wrapped(*args, **kwargs):
        calls.append(1)
        return orig(*args, **kwargs)

    est._parallel_compute_weights = wrapped
    return calls


def assert_same_cpds(ours, theirs, atol):
    assert [c.variable for c in ours] == [c.variable for c in theirs]
    for a, b in zip(ours, theirs):
        assert a.variables == b.variables, a.variable
        for x in a.variables:
            assert list(a.state_names[x]) == list(b.state_names[x]), (a.variable, x)
        np.testing.assert_allclose(a.get_values(), b.get_values(), rtol=0, atol=atol,
                                   err_msg=a.variable)


# ----------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("name", ["asia", "cancer", "sachs", "survey", "alarm", "child",
                                  "insurance"])
def test_round_trip_pgmpy_example_models(name):
    model = example(name)
    bn = from_pgmpy(model)
    assert bn.variables == list(model.nodes())
    back = to_pgmpy(bn)
    for cpd in model.get_cpds():
        v = cpd.variable
        assert bn.parents(v) == tuple(cpd.variables[1:])
        assert bn.states[v] == [str(s) for s in cpd.state_names[v]]
        np.testing.assert_array_equal(bn.cpts[v], np.moveaxis(cpd.values, 0, -1))  # exact
        other = back.get_cpds(v)
        assert other.variables == cpd.variables
        assert other.state_names == cpd.state_names
        np.testing.assert_array_equal(other.get_values(), cpd.get_values())


def test_layout_against_pgmpy_get_value(rng):
    bn = O.random_network(rng, n_vars=6, max_card=4)
    model = to_pgmpy(bn)
    for v in bn.variables:
        cpd = model.get_cpds(v)
        pa = bn.parents(v)
        for idx in np.ndindex(bn.cpts[v].shape):
            ev = {x: bn.states[x][k] for x, k in zip(pa + (v,), idx)}
            assert cpd.get_value(**ev) == bn.cpts[v][idx]


def test_inference_agrees_with_pgmpy(rng):
    bn = O.random_network(rng, n_vars=6, max_card=3)
    ve = VariableElimination(to_pgmpy(bn))
    row = bn.sample(1, random_state=rng)[0]
    obs = {v: bn.states[v][int(row[j])] for j, v in enumerate(bn.variables) if j % 2 == 0}
    data = np.full((1, len(bn.variables)), -1, dtype=np.int32)
    for j, v in enumerate(bn.variables):
        if v in obs:
            data[0, j] = row[j]
    targets = [v for v in bn.variables if v not in obs]
    ours = bn.predict_proba(data, targets)
    for v in targets:
        q = ve.query([v], evidence=obs, show_progress=False)
        theirs = np.array([q.get_value(**{v: s}) for s in bn.states[v]])
        np.testing.assert_allclose(np.asarray(ours[v])[0], theirs, rtol=1e-12, atol=1e-15)


def test_round_trip_emfast_exact_with_latents_and_state_objects(rng):
    bn = O.random_network(rng, n_vars=7, max_card=4)
    hidden = bn.variables[0]
    ints = {hidden: list(range(bn.cardinalities[hidden]))}
    model = to_pgmpy(bn, latents=[hidden], state_names=ints)
    assert model.latents == {hidden}
    assert model.get_cpds(hidden).state_names[hidden] == ints[hidden]
    back = from_pgmpy(model)
    assert back.variables == bn.variables
    assert back.states == bn.states          # str(0) == "0": the default labels come back
    for v in bn.variables:
        assert back.parents(v) == bn.parents(v)
        np.testing.assert_array_equal(back.cpts[v], bn.cpts[v])


def test_from_pgmpy_reorders_evidence_states_by_name():
    # a CPD whose evidence states are listed in another order than the parent's own CPD
    model = DiscreteBayesianNetwork([("A", "B")])
    a = TabularCPD("A", 2, [[0.3], [0.7]], state_names={"A": ["x", "y"]})
    b = TabularCPD("B", 2, [[0.9, 0.2], [0.1, 0.8]], evidence=["A"], evidence_card=[2],
                   state_names={"B": ["u", "v"], "A": ["y", "x"]})
    model.add_cpds(a, b)
    bn = from_pgmpy(model)
    assert bn.states["A"] == ["x", "y"]
    # B's table is indexed by A's own state order: A=x is the second column of b
    np.testing.assert_array_equal(bn.cpts["B"], [[0.2, 0.8], [0.9, 0.1]])


def test_bridge_errors():
    with pytest.raises(TypeError, match="DiscreteBayesianNetwork"):
        from_pgmpy("not a model")
    model = DiscreteBayesianNetwork([("A", "B")])
    model.add_cpds(TabularCPD("A", 2, [[0.5], [0.5]]))
    with pytest.raises(ValueError, match="no CPD for 'B'"):
        from_pgmpy(model)
    bn = emfast.BayesianNetwork([("A", "B")], {"A": 2, "B": 3})
    with pytest.raises(ValueError, match=r"state_names\['B'\] has 2 states .* cardinality 3"):
        to_pgmpy(bn, state_names={"B": [0, 1]})
    with pytest.raises(ValueError, match="latents names the unknown variable 'Z'"):
        to_pgmpy(bn, latents=["Z"])
    with pytest.raises(TypeError, match="emfast BayesianNetwork"):
        to_pgmpy(model)


# ----------------------------------------------------------------------------- estimator

def _same_start_problem(rng, n=300, n_vars=6, n_latent=1, max_card=3):
    truth = O.random_network(rng, n_vars=n_vars, max_card=max_card)
    hidden = truth.variables[:n_latent]
    codes = truth.sample(n, random_state=rng)
    df = frame(truth, codes, hidden)
    start = random_start(truth, rng)
    names = {h: list(range(truth.cardinalities[h])) for h in hidden}
    init = {c.variable: c for c in to_pgmpy(start, state_names=names).get_cpds()}
    model = DiscreteBayesianNetwork(truth.edges, latents=set(hidden))
    model.add_nodes_from(truth.variables)
    card = {h: truth.cardinalities[h] for h in hidden}
    # every state, also one that the sample happens to miss
    states = {v: truth.states[v] for v in truth.variables if v not in hidden}
    return model, df, init, card, states


@pytest.mark.parametrize("n_latent", [1, 2])
def test_same_cpds_as_pgmpy_em_fixed_iterations(rng, n_latent):
    model, df, init, card, states = _same_start_problem(rng, n_latent=n_latent)
    kw = dict(latent_card=card, init_cpds=init, max_iter=4, atol=0.0, show_progress=False,
              state_names=states)
    theirs = PgmpyEM(batch_size=10**6, **kw)
    calls = count_iterations(theirs)
    theirs.fit(model, df)
    ours = DiscreteEM(**kw).fit(model, df)
    assert len(calls) == ours.n_iter_ == 4
    assert_same_cpds(ours.parameters_, theirs.parameters_, atol=1e-8)
    O_h = ours.history_
    assert len(O_h) == 5 and np.all(np.diff(O_h) >= -1e-10 * np.abs(O_h[1:]))


def test_same_cpds_and_iterations_as_pgmpy_to_convergence(rng):
    # a binary latent class structure plus an observed root (32 distinct rows, so that
    # pgmpy's row-by-row E-step stays quick); EM needs tens of iterations
    edges = [("L", "A"), ("L", "B"), ("L", "C"), ("L", "D"), ("R", "A")]
    truth = emfast.BayesianNetwork(edges, {v: 2 for v in "LABCDR"})
    for v in "BCD":
        truth.cpts[v] = [[0.9, 0.1], [0.2, 0.8]]
    truth.cpts["A"] = [[[0.85, 0.15], [0.1, 0.9]], [[0.7, 0.3], [0.3, 0.7]]]
    truth.cpts["L"] = [0.4, 0.6]
    df = frame(truth, truth.sample(500, random_state=rng), ["L"])
    cpds = to_pgmpy(random_start(truth, rng), state_names={"L": [0, 1]}).get_cpds()
    # only the latent-involving CPDs are given: pgmpy estimates R's by MLE, once
    init = {c.variable: c for c in cpds if c.variable != "R"}
    model = DiscreteBayesianNetwork(edges, latents={"L"})
    kw = dict(latent_card={"L": 2}, init_cpds=init, max_iter=300, atol=1e-6,
              show_progress=False)
    theirs = PgmpyEM(batch_size=10**6, **kw)
    calls = count_iterations(theirs)
    theirs.fit(model, df)
    ours = DiscreteEM(**kw).fit(model, df)
    assert ours.converged_ and 10 < ours.n_iter_ < 300
    assert len(calls) == ours.n_iter_
    assert_same_cpds(ours.parameters_, theirs.parameters_, atol=1e-8)


def test_same_as_pgmpy_on_cancer_with_smoker_latent_through_model_fit():
    # pgmpy's own test case (tests/test_parameter_estimator/test_EM.py): Smoker latent,
    # default random start from the seed, default stopping rule
    truth = example("cancer")
    data = truth.simulate(int(2e3), seed=42).drop(columns="Smoker")
    m1 = DiscreteBayesianNetwork(truth.edges(), latents={"Smoker"})
    m2 = DiscreteBayesianNetwork(truth.edges(), latents={"Smoker"})
    theirs = PgmpyEM(seed=42, show_progress=False, batch_size=10**6)
    calls = count_iterations(theirs)
    m1.fit(data, estimator=theirs)
    ours = DiscreteEM(seed=42, show_progress=False)
    fitted = m2.fit(data, estimator=ours)
    assert fitted is m2 and m2.check_model()
    assert len(calls) == ours.n_iter_
    assert_same_cpds([m2.get_cpds(v) for v in m2.nodes()],
                     [m1.get_cpds(v) for v in m1.nodes()], atol=1e-8)
    assert m2.latents == {"Smoker"}


def test_k2_prior_same_as_pgmpy(rng):
    model, df, init, card, states = _same_start_problem(rng, n=150, n_vars=5)
    kw = dict(latent_card=card, init_cpds=init, max_iter=3, atol=0.0, show_progress=False,
              state_names=states)
    theirs = PgmpyEM(m_step_estimator=DiscreteBayesianEstimator(prior_type="K2"),
                     batch_size=10**6, **kw).fit(model, df)
    ours = DiscreteEM(m_step_estimator=DiscreteBayesianEstimator(prior_type="K2"),
                      **kw).fit(model, df)
    assert_same_cpds(ours.parameters_, theirs.parameters_, atol=1e-8)


def test_nan_cells_and_latent_exact_em_against_brute_force(rng):
    truth = O.random_network(rng, n_vars=5, max_card=3)
    hidden = truth.variables[0]
    codes = truth.sample(120, random_state=rng)
    codes[rng.random(codes.shape) < 0.25] = -1
    codes[:, 0] = -1
    df = frame(truth, codes, [hidden])
    start = random_start(truth, rng)
    names = {hidden: list(range(truth.cardinalities[hidden]))}
    init = {c.variable: c for c in to_pgmpy(start, state_names=names).get_cpds()}
    model = DiscreteBayesianNetwork(truth.edges, latents={hidden})
    model.add_nodes_from(truth.variables)
    states = {v: truth.states[v] for v in truth.variables if v != hidden}
    est = DiscreteEM(latent_card={hidden: truth.cardinalities[hidden]}, init_cpds=init,
                     max_iter=3, tol=-1.0, show_progress=False, state_names=states).fit(model, df)
    assert est.n_iter_ == 3
    # brute force: three EM steps by enumerating the full joint
    theta = start.copy()
    for _ in range(3):
        counts = O.expected_counts(theta, O.joint(theta), codes)
        for v, c in zip(theta.variables, counts):
            theta.cpts[v] = c / c.sum(axis=-1, keepdims=True)
    for cpd in est.parameters_:
        v = cpd.variable
        ev = list(cpd.variables[1:])
        table = np.moveaxis(cpd.values, 0, -1).transpose(
            [ev.index(p) for p in truth.parents(v)] + [len(ev)])
        # observed states are the sorted labels "0", "1", ... = codes; latent: range(card)
        np.testing.assert_allclose(table, theta.cpts[v], rtol=1e-10, atol=1e-12, err_msg=v)
    P = O.joint(theta)
    ll = sum(O.row_loglik(theta, P, r) for r in codes)
    np.testing.assert_allclose(est.log_likelihood_, ll, rtol=1e-10)


def test_nan_rows_are_kept_fit_is_an_em_fixed_point_of_all_rows(rng):
    truth = O.random_network(rng, n_vars=5, max_card=3)
    codes = truth.sample(400, random_state=rng)
    codes[rng.random(codes.shape) < 0.3] = -1
    df = frame(truth, codes)
    assert len(df.dropna()) < 0.3 * len(df)   # what pgmpy's DiscreteEM would keep
    model = DiscreteBayesianNetwork(truth.edges)
    model.add_nodes_from(truth.variables)
    est = DiscreteEM(max_iter=5000, tol=1e-13, show_progress=False,
                     state_names=truth.states).fit(model, df)
    assert est.converged_
    bn = est.network_
    X = codes[:, [truth.variables.index(v) for v in bn.variables]]
    # one brute-force EM step on *all* rows leaves the fitted CPDs where they are
    counts = O.expected_counts(bn, O.joint(bn), X)
    for v, c in zip(bn.variables, counts):
        np.testing.assert_allclose(c / c.sum(axis=-1, keepdims=True), bn.cpts[v], atol=1e-5,
                                   err_msg=v)
    P = O.joint(bn)
    np.testing.assert_allclose(est.log_likelihood_, sum(O.row_loglik(bn, P, r) for r in X),
                               rtol=1e-10)


def test_estimator_int_and_float_columns_with_nan(rng):
    # NaN turns integer columns into floats (as pgmpy documents); states stay the numbers
    df = pd.DataFrame({"A": [0, 1, 1, 0, 1, 0, 1, 1], "B": [1.0, np.nan, 0, 1, 0, 1, 1, 0]})
    model = DiscreteBayesianNetwork([("A", "B")])
    est = DiscreteEM(show_progress=False).fit(model, df)
    assert est.state_names_ == {"A": [0, 1], "B": [0.0, 1.0]}
    b = model.fit(df, estimator=DiscreteEM(show_progress=False)).get_cpds("B")
    assert b.variables == ["B", "A"]
    np.testing.assert_allclose(b.get_values().sum(axis=0), 1.0)


def test_estimator_errors(rng):
    model = DiscreteBayesianNetwork([("A", "B")])
    df = pd.DataFrame({"A": [0, 1], "B": [1, 0]})
    with pytest.raises(ValueError, match="does not support `sample_weight`"):
        DiscreteEM(show_progress=False).fit(model, df, sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="Unexpected states|unexpected states"):
        DiscreteEM(state_names={"A": [0]}, show_progress=False).fit(model, df)
    with pytest.raises(ValueError, match="supports m_step_estimator=DiscreteMLE"):
        DiscreteEM(m_step_estimator=DiscreteBayesianEstimator(prior_type="BDeu"),
                   show_progress=False).fit(model, df)
    with pytest.raises(ValueError, match="not present in the dataset"):
        DiscreteEM(show_progress=False).fit(model, df[["A"]])
    with pytest.raises(TypeError, match="pandas DataFrame"):
        DiscreteEM(show_progress=False).fit(model, df.to_numpy())
    with pytest.raises(ValueError, match="'random' or 'uniform'"):
        DiscreteEM(init_cpds="zeros", show_progress=False).fit(model, df)
    assert DiscreteEM(m_step_estimator=DiscreteMLE(), show_progress=False).fit(
        model, df).n_iter_ >= 1


def test_estimator_is_a_pgmpy_estimator_with_params():
    from pgmpy.parameter_estimator.base import DiscreteParameterEstimator

    est = DiscreteEM(latent_card={"L": 3}, max_iter=7)
    assert isinstance(est, DiscreteParameterEstimator)
    params = est.get_params()
    assert params["latent_card"] == {"L": 3} and params["max_iter"] == 7
    assert type(est).__module__ == "emfast.compat.pgmpy"
    import pickle
    assert pickle.loads(pickle.dumps(est)).get_params()["max_iter"] == 7


def test_all_nan_column_becomes_latent(rng):
    truth = O.random_network(rng, n_vars=4, max_card=3)
    codes = truth.sample(200, random_state=rng)
    df = frame(truth, codes)
    h = truth.variables[1]
    df[h] = np.nan
    model = DiscreteBayesianNetwork(truth.edges)
    model.add_nodes_from(truth.variables)
    est = DiscreteEM(seed=0, show_progress=False, latent_card={h: 3}).fit(model, df)
    assert est.state_names_[h] == [0, 1, 2]
    assert est._model.latents == {h} and model.latents == set()   # the user's model untouched
    cpd = [c for c in est.parameters_ if c.variable == h][0]
    assert cpd.cardinality[0] == 3
