"""Issue 14, the items in the model layer: exact reproducers, pinned messages."""
import numpy as np
import pytest

import emfast as em
from emfast import CategoricalHMM, LatentClassModel


# item 4: statistics on empty / all-missing data, entropy for K = 1
def test_lca_statistics_without_data():
    X = np.array([[0, 1], [1, 0], [1, 1], [0, 0]] * 5)
    lca = LatentClassModel(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has no rows: the mean log-likelihood of no rows"):
        lca.score(np.zeros((0, 2), dtype=int))
    with pytest.raises(ValueError, match=r"need at least one row with an observed item; X has "
                                         r"3 row\(s\) and every cell is missing"):
        lca.bic(np.full((3, 2), -1))
    with pytest.raises(ValueError, match="entropy needs at least one row with an observed"):
        lca.entropy(np.full((3, 2), -1))
    one = LatentClassModel(1).fit(X)
    assert one.entropy(X) == 1.0                       # documented: trivially separated


# item 5: root CPTs are checked to sum to 1 (the 0-d argwhere case)
def test_root_cpt_must_sum_to_one(tmp_path):
    bn = em.BayesianNetwork([("A", "B")], {"A": 2, "B": 2})
    with pytest.raises(ValueError, match=r"CPT for 'A': its \(only\) row sums to 5.0, not 1"):
        bn.cpts["A"] = [2.0, 3.0]
    import json
    from emfast.io import network_to_dict
    d = network_to_dict(bn)
    d["cpts"]["A"]["values"] = [0.5, 0.7]
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"CPT for 'A': its \(only\) row sums to 1.2"):
        em.load(tmp_path / "bad.json")


# item 6: hand-set latent class attributes are validated on use
def test_lca_hand_set_attributes_validated():
    X = np.array([[0, 1, 2], [1, 0, 1], [1, 1, 0], [0, 0, 2]] * 5)
    lca = LatentClassModel(2, random_state=0).fit(X)
    good_w, good_items = lca.weights_.copy(), [t.copy() for t in lca.item_probs_]
    lca.weights_ = np.array([np.nan, 1.0])
    with pytest.raises(ValueError, match=r"weights_ has the invalid entry nan at index \(0,\)"):
        lca.predict_proba(X)
    lca.weights_ = good_w
    lca.item_probs_ = [2 * t for t in good_items]
    with pytest.raises(ValueError, match=r"item_probs_\[0\]: row \(0,\) sums to 2"):
        lca.score(X)
    lca.item_probs_ = good_items[:2]
    with pytest.raises(ValueError, match=r"item_probs_ has 2 tables but the model has 3 items"):
        lca.sample(5)
    lca.item_probs_ = good_items
    lca.weights_ = np.array([0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match=r"item_probs_\[0\] must have shape \(3, 2\)"):
        lca.predict(X)
    lca.weights_ = list(good_w)                       # a list with warm_start: fine
    lca.set_params(warm_start=True).fit(X)
    assert isinstance(lca.weights_, np.ndarray)
    fresh = LatentClassModel(2)                       # set by hand, never fitted
    fresh.weights_, fresh.item_probs_ = [0.5, 0.5], [np.array([[0.9, 0.1], [0.2, 0.8]])]
    assert fresh.predict_proba([[0], [1]]).shape == (2, 2)


# item 8: HMM.sample arguments are integers
def test_hmm_sample_integer_arguments():
    h = CategoricalHMM(2)
    h.startprob_, h.transmat_ = [0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]]
    h.emissionprob_ = [[0.5, 0.5], [0.1, 0.9]]
    with pytest.raises(TypeError, match=r"n_samples must be an int; got 2.5"):
        h.sample(2.5)
    with pytest.raises(TypeError, match=r"currstate must be an int; got 1.7"):
        h.sample(3, currstate=1.7)
    with pytest.raises(ValueError, match=r"currstate must be in 0..1; got 2"):
        h.sample(3, currstate=2)
    X, z = h.sample(4, currstate=1)
    assert z[0] == 1 and X.shape == (4, 1)


# item 11: exception types and messages
def test_normalize_and_hmm_argument_types():
    with pytest.raises(ValueError, match=r"counts\[0\] has shape \(3, 0\): the child axis is empty"):
        em.normalize(np.zeros((3, 0)))
    with pytest.raises(ValueError, match=r"counts\[0\] is a scalar"):
        em.normalize(np.float64(3.0))
    h = CategoricalHMM(2, n_iter=3, random_state=0).fit([0, 1, 0, 1, 1, 0])
    with pytest.raises(TypeError, match="X must be an array-like of observations"):
        h.bic(None)


def test_sensitivity_analysis_grid_types():
    bn = em.datasets.load_network("asia")
    X = bn.sample(200, random_state=0)
    X[::4, 0] = -1
    mnar = em.MNAR({bn.variables[0]: [bn.variables[0]]})
    with pytest.raises(TypeError, match=r"grid\[0\] must be a dict"):
        em.sensitivity_analysis(bn, X, mnar, [[0.1, 0.2]], lambda m: 0.0)
    with pytest.raises(TypeError, match="grid must be a list of dicts"):
        em.sensitivity_analysis(bn, X, mnar, {"asia": 0.1}, lambda m: 0.0)


# item 12: a tiny input asking for huge tables is refused before allocating
def test_huge_codes_refused_with_the_size():
    with pytest.raises(ValueError, match=r"LatentClassModel: tables for 2147483647 categories .* "
                                         r"needs .* GiB, more than the memory budget"):
        LatentClassModel(2).fit(np.array([[2**31 - 2, 0], [0, 1]]))
    with pytest.raises(ValueError, match=r"CategoricalHMM: emission tables for 2147483647 "
                                         r"symbols .* more than the memory budget"):
        CategoricalHMM(2).fit(np.array([2**31 - 2, 0, 1]))
    with em.config_context(max_memory="1K"):
        with pytest.raises(ValueError, match="max_memory=1 KiB"):
            LatentClassModel(2).fit(np.array([[200, 0], [0, 1]]))
