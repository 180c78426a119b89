"""An hmmlearn user's script, run unchanged against hmmlearn and emfast (issue 11).

The script sets parameters by hand on fresh models (nested lists included), scores,
decodes with both algorithms, predicts, samples, and fits with ``init_params=""``, with
``params`` subsets and with the defaults. Every output is compared: numbers to
rtol 1e-9, discrete outputs exactly, sampled sequences exactly (an int seed or a
RandomState gives hmmlearn's stream in emfast too).
"""
import warnings

import numpy as np
import pytest

import emfast

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")
pytestmark = pytest.mark.peer

START = [0.6, 0.4]
TRANS = [[0.7, 0.3], [0.4, 0.6]]
EMIS = [[0.1, 0.4, 0.5], [0.6, 0.3, 0.1]]


def user_script(CategoricalHMM):
    """What an hmmlearn user writes; returns every output, by name."""
    out = {}
    X = np.array([[0], [1], [2], [2], [0], [1], [1], [0], [2], [0], [1]])
    lengths = [4, 7]

    # -- parameters set by hand on a fresh model (nested lists), no fit
    m = CategoricalHMM(n_components=2)
    m.startprob_ = START
    m.transmat_ = TRANS
    m.emissionprob_ = EMIS
    out["score"] = m.score(X)
    out["score_lengths"] = m.score(X, lengths)
    out["decode_viterbi"] = m.decode(X, lengths)
    out["decode_viterbi_one"] = m.decode(X)
    out["decode_map"] = m.decode(X, lengths, algorithm="map")
    out["predict"] = m.predict(X, lengths)
    out["predict_proba"] = m.predict_proba(X, lengths)
    out["score_samples"] = m.score_samples(X, lengths)
    out["n_features_hand"] = m.n_features
    out["aic"] = m.aic(X, lengths)
    out["bic"] = m.bic(X, lengths)
    out["stationary"] = m.get_stationary_distribution()
    out["sample_int_seed"] = m.sample(50, random_state=3)
    out["sample_randomstate_currstate"] = m.sample(
        20, random_state=np.random.RandomState(1), currstate=1)
    m_seeded = CategoricalHMM(n_components=2, random_state=11)
    m_seeded.startprob_, m_seeded.transmat_, m_seeded.emissionprob_ = START, TRANS, EMIS
    out["sample_model_seed"] = m_seeded.sample(30)
    out["sample_model_seed_again"] = m_seeded.sample(30)
    Xs, Zs = m.sample(200)                      # global / fresh entropy: shape and support
    out["sample_unseeded"] = (Xs.shape, Zs.shape, set(np.unique(Xs)) <= {0, 1, 2},
                              set(np.unique(Zs)) <= {0, 1})

    # -- fit from the hand-set values, fixed number of iterations
    f = CategoricalHMM(n_components=2, n_iter=5, tol=-np.inf, init_params="")
    f.startprob_, f.transmat_, f.emissionprob_ = START, TRANS, EMIS
    assert f.fit(X, lengths) is f
    out["f_params"] = (f.startprob_, f.transmat_, f.emissionprob_)
    out["f_monitor"] = (f.monitor_.iter, list(f.monitor_.history), f.monitor_.converged)
    out["f_n_features"] = f.n_features
    out["f_score"] = f.score(X, lengths)
    out["f_predict"] = f.predict(X, lengths)

    # -- a params subset from numpy arrays, stopping on the tolerance or n_iter
    g = CategoricalHMM(n_components=2, n_iter=20, tol=1e-4, init_params="", params="te")
    g.startprob_ = np.array(START)
    g.transmat_ = np.array(TRANS)
    g.emissionprob_ = np.array(EMIS)
    g.fit(X, lengths)
    out["g_params"] = (g.startprob_, g.transmat_, g.emissionprob_)
    out["g_monitor"] = (g.monitor_.iter, list(g.monitor_.history), g.monitor_.converged)

    # -- a longer fit that converges on the tolerance before n_iter
    rng = np.random.RandomState(0)
    Y = rng.randint(0, 4, size=(300, 1))
    c = CategoricalHMM(n_components=2, n_iter=1000, tol=1e-3, init_params="")
    c.startprob_ = [0.5, 0.5]
    c.transmat_ = [[0.9, 0.1], [0.2, 0.8]]
    c.emissionprob_ = [[0.2, 0.3, 0.1, 0.4], [0.5, 0.1, 0.3, 0.1]]
    c.fit(Y, [100, 200])
    out["c_monitor"] = (c.monitor_.iter, list(c.monitor_.history), c.monitor_.converged)
    out["c_params"] = (c.startprob_, c.transmat_, c.emissionprob_)
    out["c_decode"] = c.decode(Y, [100, 200])
    out["c_decode_map"] = c.decode(Y, [100, 200], algorithm="map")

    # -- defaults: random initialisation (different streams: compare what is defined)
    d = CategoricalHMM(n_components=3, n_iter=7, tol=1e-3, random_state=1).fit(Y, [100, 200])
    out["d_shapes"] = (d.startprob_.shape, d.transmat_.shape, d.emissionprob_.shape)
    out["d_monitor_counts"] = (d.monitor_.iter, len(d.monitor_.history), d.monitor_.converged,
                               d.monitor_.n_iter, d.monitor_.tol)
    out["d_n_features"] = d.n_features
    out["d_stochastic"] = (np.allclose(d.startprob_.sum(), 1),
                           np.allclose(d.transmat_.sum(axis=1), 1),
                           np.allclose(d.emissionprob_.sum(axis=1), 1))
    out["d_score_is_history"] = bool(d.score(Y, [100, 200]) >= d.monitor_.history[0])
    return out


def _same(a, b, where):
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, (set, bool, np.bool_)):
        assert a == b, where
    elif isinstance(a, np.ndarray) and a.dtype.kind in "iu":
        assert isinstance(b, np.ndarray) and b.dtype.kind in "iu", where
        np.testing.assert_array_equal(b, a, err_msg=where)
    elif isinstance(a, (int, np.integer)):
        assert isinstance(b, (int, np.integer)) and int(a) == int(b), where
    else:                                       # floats and float arrays
        b_arr = np.asarray(b)
        assert b_arr.dtype.kind == "f" and b_arr.shape == np.shape(a), where
        np.testing.assert_allclose(b_arr, a, rtol=1e-9, atol=1e-13, err_msg=where)


def test_hmmlearn_script_runs_unchanged_on_emfast():
    ref = user_script(hmmlearn_hmm.CategoricalHMM)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # hmmlearn warns nowhere in this script
        ours = user_script(emfast.CategoricalHMM)
    assert ours.keys() == ref.keys()
    for key in ref:
        _same(ref[key], ours[key], key)
    # the comparison is not empty: the script exercised what it claims
    assert ref["f_monitor"][0] == 5 and len(ref["f_monitor"][1]) == 5
    assert ref["c_monitor"][2] and ref["c_monitor"][0] < 1000
    assert ref["g_monitor"][0] == 20 or ref["g_monitor"][2]


def test_sample_stream_differs_from_generator_stream():
    """A Generator keeps emfast's own stream (the hmmlearn stream is for int / RandomState)."""
    m = emfast.CategoricalHMM(n_components=2)
    m.startprob_, m.transmat_, m.emissionprob_ = START, TRANS, EMIS
    ref = hmmlearn_hmm.CategoricalHMM(n_components=2)
    ref.startprob_, ref.transmat_, ref.emissionprob_ = START, TRANS, EMIS
    Xr, Zr = ref.sample(400, random_state=5)
    Xi, Zi = m.sample(400, random_state=5)
    np.testing.assert_array_equal(Xi, Xr)
    np.testing.assert_array_equal(Zi, Zr)
    Xg, Zg = m.sample(400, random_state=np.random.default_rng(5))
    assert Xg.shape == Xr.shape and not np.array_equal(Zg, Zr)
