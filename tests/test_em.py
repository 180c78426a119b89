import numpy as np
import pytest
from scipy.special import logsumexp

import emfast as em
from emfast.em import ConvergenceMonitor, fit_with_restarts, dirichlet_log_prior
from emfast.exceptions import ConvergenceWarning, NonMonotoneEMWarning

from conftest import assert_monotone


# ---------------------------------------------------------------- normalize

def test_normalize_basic_and_uniform_rows():
    c = np.array([[1.0, 3.0], [0.0, 0.0]])
    out = em.normalize(c)
    np.testing.assert_allclose(out, [[0.25, 0.75], [0.5, 0.5]])
    assert not np.isnan(out).any()


def test_normalize_pseudocount_and_lists():
    tables = [np.array([2.0, 0.0, 0.0]), np.zeros((2, 2, 3))]
    out = em.normalize(tables, 1.0)
    np.testing.assert_allclose(out[0], [3 / 5, 1 / 5, 1 / 5])
    np.testing.assert_allclose(out[1], np.full((2, 2, 3), 1 / 3))
    out = em.normalize(tables, [0.0, np.array([1.0, 0.0, 0.0])])
    np.testing.assert_allclose(out[1][0, 0], [1.0, 0.0, 0.0])
    for t in out:
        np.testing.assert_allclose(t.sum(-1), 1.0)


@pytest.mark.parametrize("counts, pc, match", [
    (np.array([1.0, -1.0]), 0.0, r"counts\[0\] has an invalid value -1.0 at index \(1,\)"),
    (np.array([1.0, np.nan]), 0.0, r"counts\[0\] has an invalid value nan"),
    (np.array([1.0, 1.0]), -0.5, r"pseudocount for table 0 must be finite and >= 0"),
    ([np.ones(2)], [0.0, 1.0], r"pseudocount has 2 entries for 1 count tables"),
])
def test_normalize_errors(counts, pc, match):
    with pytest.raises(ValueError, match=match):
        em.normalize(counts, pc)


def test_normalize_huge_and_tiny():
    c = np.array([[1e300, 1e300], [1e-320, 0.0]])
    out = em.normalize(c)
    np.testing.assert_allclose(out, [[0.5, 0.5], [1.0, 0.0]])


def _normalize_general(c, a, clip):
    """What normalize computes, written out: its unguarded common path must equal it."""
    t = np.asarray(c, float) + np.asarray(a, float)
    if clip:
        t = np.maximum(t, 0.0)
    tot = t.sum(axis=-1, keepdims=True)
    zero = tot <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(zero, 1.0 / t.shape[-1], t / np.where(zero, 1.0, tot))


@pytest.mark.parametrize("clip", [False, True])
def test_normalize_fast_path_is_bit_identical_and_falls_back(clip):
    rng = np.random.default_rng(7)
    for shape in [(5,), (3, 4), (2, 3, 6), (1, 1)]:
        c = rng.gamma(0.3, 2.0, size=shape)
        c[rng.random(shape) < 0.3] = 0.0
        if len(shape) > 1:
            c[0] = 0.0                                        # a zero row -> uniform
        for a in [0.0, 0.7, rng.random(shape[-1]), -0.4 if clip else 1e-3]:
            got = em.normalize(c, a, clip=clip)
            want = _normalize_general(c, a, clip)
            assert got.shape == want.shape and np.array_equal(got, want)
            assert np.isfinite(got).all()
    # a pseudocount that widens the child axis by broadcasting
    c = np.array([[2.0], [0.0]])
    a = np.array([0.5, 1.0, 0.0])
    assert np.array_equal(em.normalize(c, a, clip=clip), _normalize_general(c, a, clip))
    # near the float64 maximum the guarded steps take over: same answer as before
    out = em.normalize(np.array([[1.7e308, 1.7e308, 1.0]]))
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.0]], atol=1e-300)
    # bad values still reach the general path's messages
    with pytest.raises(ValueError, match=r"invalid value inf at index \(1,\)"):
        em.normalize(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="pseudocount for table 0 must be finite"):
        em.normalize(np.array([1.0, 2.0]), np.nan, clip=clip)


def _numpy_path(monkeypatch):
    """em.normalize with the compiled kernel switched off: the numpy path alone."""
    import emfast.em as em_mod
    real = em_mod.normalize
    def numpy_normalize(*args, **kw):
        with monkeypatch.context() as m:
            m.setattr(em_mod, "_normalize_compiled", lambda *a: None)
            return real(*args, **kw)
    return numpy_normalize


def _bits(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    return x.shape, x.view(np.int64).tobytes()


def _random_table(rng, shape):
    c = rng.gamma(0.3, 10.0 ** rng.uniform(-3, 6), size=shape)
    c[rng.random(shape) < 0.3] = 0.0
    if c.ndim > 1 and rng.random() < 0.5:
        c[(0,) * (c.ndim - 1)] = 0.0                      # a zero row -> uniform
    return c


def test_normalize_kernel_matches_the_numpy_path_bit_for_bit(monkeypatch):
    """The compiled normalisation (``_kernels.normalize_rows``) against em.normalize's
    numpy path on random tables: rows of 1 to 300 cells (numpy's pairwise sum changes
    shape at 8 and 128), zero rows, segments, scalar / row / full pseudocounts, clip
    with negative pseudocounts, C-, F-ordered and strided tables (the kernel declines
    the layouts numpy sums in another order). Equal bits, zeros' signs included."""
    import emfast.em as em_mod
    numpy_normalize = _numpy_path(monkeypatch)
    rng = np.random.default_rng(20261203)
    used = 0
    for trial in range(600):
        ndim = int(rng.integers(1, 4))
        n = int(rng.choice([1, 2, 3, 7, 8, 9, 15, 16, 17, 127, 128, 129, 130, 257, 300]))
        shape = tuple(int(d) for d in rng.integers(1, 5, size=ndim - 1)) + (n,)
        c = _random_table(rng, shape)
        layout = rng.integers(3)
        if layout == 1:
            c = np.asfortranarray(c)
        elif layout == 2:
            c = np.repeat(c, 2, axis=-1)[..., ::2]                  # strided
        clip = bool(rng.random() < 0.3)
        kind = rng.integers(4)
        if kind == 0:
            a = float(rng.choice([0.0, 0.5, 1e-3]))
        elif kind == 1:
            a = rng.random(n) * rng.choice([0.0, 1.0])
        elif kind == 2:
            a = rng.random(shape)
        else:
            a = np.float64(rng.random())
        if clip:
            a = a - 0.6 if not isinstance(a, float) else a - 0.6
        seg = None
        if ndim == 2 and n > 1 and rng.random() < 0.5:
            cuts = rng.choice(np.arange(1, n), size=min(n - 1, int(rng.integers(0, 6))),
                              replace=False)
            seg = np.concatenate([[0], np.sort(cuts)]).astype(np.int64)
        got = em.normalize(c, a, segments=seg, clip=clip)
        want = numpy_normalize(c, a, segments=seg, clip=clip)
        assert _bits(got) == _bits(want), (trial, shape, layout, kind, clip, seg)
        used += em_mod._normalize_compiled(c, a, seg, clip) is not None
    assert used > 300                       # most cases went through the kernel
    # segments of one cell, and segments passed as a list or as int32
    c = _random_table(rng, (3, 6))
    for seg in ([0, 1, 2, 5], np.array([0, 3], np.int32), np.arange(6)):
        assert _bits(em.normalize(c, 0.1, segments=seg)) == \
            _bits(numpy_normalize(c, 0.1, segments=seg))
        assert em_mod._normalize_compiled(c, 0.1, seg, False) is not None
    # clip: a cell that clips to -0.0 comes out +0.0, as np.maximum gives
    c = np.array([[0.0, 2.0, 1.0]])
    assert _bits(em.normalize(c, np.array([-0.0, -1.0, 0.0]), clip=True)) == \
        _bits(numpy_normalize(c, np.array([-0.0, -1.0, 0.0]), clip=True))


def test_normalize_rows_refuses_shapes_that_do_not_fit():
    """The kernel's own guard (status 3): an empty child axis, a pseudocount or an
    output that does not match the counts; none is written past its end."""
    from emfast._kernels import normalize_rows
    whole = np.zeros(0, np.int64)
    assert normalize_rows(np.zeros((2, 0)), np.zeros((1, 1)), whole, False, np.zeros((2, 0))) == 3
    assert normalize_rows(np.ones((2, 3)), np.zeros((3, 1)), whole, False, np.zeros((2, 3))) == 3
    assert normalize_rows(np.ones((2, 3)), np.zeros((1, 2)), whole, False, np.zeros((2, 3))) == 3
    assert normalize_rows(np.ones((2, 3)), np.zeros((1, 1)), whole, False, np.zeros((2, 4))) == 3
    out = np.zeros((2, 3))
    assert normalize_rows(np.ones((2, 3)), np.zeros((2, 3)), whole, False, out) == 0
    assert np.array_equal(out, np.full((2, 3), 1 / 3))
    assert normalize_rows(np.zeros((0, 3)), np.zeros((1, 1)), whole, False, np.zeros((0, 3))) == 0


@pytest.mark.parametrize("counts, pc, seg, clip", [
    (np.array([1.0, np.nan]), 0.0, None, False),
    (np.array([[1.0, -2.0]]), 0.0, None, True),
    (np.array([1.0, np.inf]), 0.0, None, False),
    (np.array([1.0, 2.0]), np.nan, None, True),
    (np.array([1.0, 2.0]), -1.0, None, False),
    (np.array([1.0, 2.0]), np.array([0.0, np.inf]), None, False),
    (np.ones((2, 4)), 0.0, np.array([0, 2, 2]), False),      # segment starts not increasing
    (np.ones((2, 4)), 0.0, np.array([1, 2]), False),         # not starting at 0
    (np.ones((2, 4)), 0.0, np.array([0, 4]), False),         # a start past the row
    (np.array([[1.7e308, 1.7e308, 1.0]]), 0.0, None, False),  # a total overflows
    (np.array([[1.7e308, 1.0]]), 1.7e308, None, False),      # a cell overflows
])
def test_normalize_kernel_declines_to_the_numpy_path(monkeypatch, counts, pc, seg, clip):
    """Whatever the kernel declines (invalid values, overflow, bad segments) gets the
    numpy path's answer or its error, message included."""
    import emfast.em as em_mod
    assert em_mod._normalize_compiled(counts, pc, seg, clip) is None
    numpy_normalize = _numpy_path(monkeypatch)
    try:
        want = numpy_normalize(counts, pc, segments=seg, clip=clip)
    except Exception as exc:                               # noqa: BLE001 - compared below
        with pytest.raises(type(exc)) as info:
            em.normalize(counts, pc, segments=seg, clip=clip)
        assert str(info.value) == str(exc)
    else:
        assert _bits(em.normalize(counts, pc, segments=seg, clip=clip)) == _bits(want)


# ---------------------------------------------------------------- a closed-form model
# Two-component mixture of biased coins; each row flips the same coin 3 times,
# flips may be missing (-1). theta = [weights (2,), heads (2, 2)].

def _coin_data(rng, n=400):
    z = rng.random(n) < 0.3
    p = np.where(z, 0.8, 0.25)
    X = (rng.random((n, 3)) < p[:, None]).astype(int)
    X[rng.random(X.shape) < 0.2] = -1
    return X


def _coin_estep(X):
    def estep(theta):
        w, h = theta
        logp = np.log(w)[None, :].repeat(len(X), 0)
        for j in range(X.shape[1]):
            obs = X[:, j] >= 0
            logp[obs] += np.log(h[:, X[obs, j]].T)
        ll_rows = logsumexp(logp, axis=1)
        r = np.exp(logp - ll_rows[:, None])
        cw = r.sum(0)
        ch = np.zeros((2, 2))
        for j in range(X.shape[1]):
            for v in (0, 1):
                ch[:, v] += r[X[:, j] == v].sum(0)
        return [cw, ch], ll_rows.sum()
    return estep


def _coin_loglik(X, w, h):
    return _coin_estep(X)([w, h])[1]


def test_run_em_coin_mixture(rng):
    X = _coin_data(rng)
    theta0 = [np.array([0.5, 0.5]), np.array([[0.6, 0.4], [0.3, 0.7]])]
    res = em.run_em(_coin_estep(X), em.normalize, theta0, max_iter=20000, tol=1e-10,
                    scale=len(X))
    assert res.converged
    assert_monotone(res.history)
    assert res.history[-1] == pytest.approx(res.log_likelihood)
    # returned loglik belongs to returned theta
    assert _coin_loglik(X, *res.theta) == pytest.approx(res.log_likelihood, rel=1e-12)
    # stationary point: gradient of the observed-data loglik ~ 0 along feasible directions
    w, h = res.theta
    eps = 1e-6
    # (only for parameters in the interior: at a boundary MLE the gradient need not vanish)
    checked = 0
    if w.min() > 1e-3:
        dw = np.array([1, -1])
        f1 = _coin_loglik(X, w + eps * dw, h)
        f0 = _coin_loglik(X, w - eps * dw, h)
        assert abs(f1 - f0) / (2 * eps) < 2e-2
        checked += 1
    for k in range(2):
        if h[k].min() <= 1e-3:
            continue
        d = np.zeros((2, 2)); d[k] = [1, -1]
        g = (_coin_loglik(X, w, h + eps * d) - _coin_loglik(X, w, h - eps * d)) / (2 * eps)
        assert abs(g) < 2e-2
        checked += 1
    assert checked >= 1


def test_complete_data_one_iteration_is_mle(rng):
    # with every value observed and one component, one M-step gives the closed form
    X = (rng.random((200, 3)) < 0.3).astype(int)
    theta0 = [np.array([1.0]), np.array([[0.5, 0.5]])]

    def estep(theta):
        w, h = theta
        ch = np.array([[np.sum(X == 0), np.sum(X == 1)]], float)
        ll = np.sum(np.log(h[0, X]))
        return [np.array([len(X)], float), ch], ll

    res = em.run_em(estep, em.normalize, theta0, max_iter=1, tol=0.0)
    assert res.n_iter == 1
    np.testing.assert_allclose(res.theta[1][0, 1], X.mean())
    assert len(res.history) == 2  # E-step at theta0, scoring E-step at theta1


def test_run_em_max_iter_one_updates(rng):
    X = _coin_data(rng)
    theta0 = [np.array([0.5, 0.5]), np.array([[0.6, 0.4], [0.3, 0.7]])]
    res = em.run_em(_coin_estep(X), em.normalize, theta0, max_iter=1, tol=1e-12)
    assert res.n_iter == 1 and not res.converged
    assert not np.allclose(res.theta[1], theta0[1])
    assert _coin_loglik(X, *res.theta) == pytest.approx(res.log_likelihood)


def test_run_em_stops_before_mstep_when_converged():
    calls = {"e": 0, "m": 0}

    def estep(theta):
        calls["e"] += 1
        return [theta[0]], -1.0  # constant ll -> converged on the 2nd E-step

    def mstep(c):
        calls["m"] += 1
        return [c[0]]

    res = em.run_em(estep, mstep, [np.array([0.5, 0.5])], max_iter=10, tol=1e-3)
    assert res.converged and res.n_iter == 1 and calls == {"e": 2, "m": 1}


def test_run_em_validation():
    with pytest.raises(ValueError, match=r"max_iter must be >= 1; got 0"):
        em.run_em(None, None, [], max_iter=0)
    with pytest.raises(ValueError, match=r"tol must be a number; got nan"):
        em.run_em(None, None, [], tol=float("nan"))


def test_negative_tol_runs_every_iteration():
    def estep(theta):
        return [theta[0]], -1.0  # constant: would converge at once with tol >= 0

    res = em.run_em(estep, lambda c: [c[0]], [np.array([0.5, 0.5])], max_iter=7, tol=-1.0)
    assert res.n_iter == 7 and not res.converged and len(res.history) == 8


def test_callback_can_stop():
    seen = []

    def estep(theta):
        return [theta[0]], -float(10 - len(seen))

    def cb(it, theta, ll):
        seen.append(ll)
        return it >= 3

    res = em.run_em(estep, lambda c: c, [np.ones(2) / 2], max_iter=50, tol=0, callback=cb)
    assert len(seen) == 3 and not res.converged


def test_monitor_warns_on_decrease():
    mon = ConvergenceMonitor(tol=1e-3, n_iter=10)
    mon.report(-10.0)
    with pytest.warns(NonMonotoneEMWarning, match=r"decreased at iteration 1: from -10.0 to -11.0"):
        mon.report(-11.0)
    mon2 = ConvergenceMonitor(tol=1e-3, n_iter=10)
    mon2.report(-1e6)
    mon2.report(-1e6 - 1e-4)  # round-off sized: no warning (filterwarnings=error would fail)


def test_monitor_converged_scale():
    mon = ConvergenceMonitor(tol=1e-3, n_iter=10, scale=100)
    mon.report(-50.0)
    mon.report(-49.95)
    assert mon.converged  # 0.05 / 100 < 2e-2
    mon = ConvergenceMonitor(tol=1e-3, n_iter=10, scale=1)
    mon.report(-50.0)
    mon.report(-49.95)
    assert not mon.converged


def test_verbose_plain_lines(capsys, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_tqdm(name, *a, **k):
        if name.startswith("tqdm"):
            raise ImportError
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    X = np.array([[0, 1, -1], [1, 1, 1]])
    theta0 = [np.array([0.5, 0.5]), np.array([[0.6, 0.4], [0.3, 0.7]])]
    em.run_em(_coin_estep(X), em.normalize, theta0, max_iter=2, tol=0)
    err = capsys.readouterr().err
    assert err == ""
    em.run_em(_coin_estep(X), em.normalize, theta0, max_iter=2, tol=0, verbose=True)
    err = capsys.readouterr().err
    assert "EM iter    1  loglik" in err and "s/iter" in err


def test_map_em_with_log_prior_is_monotone(rng):
    X = _coin_data(rng, 50)
    theta0 = [np.array([0.5, 0.5]), np.array([[0.6, 0.4], [0.3, 0.7]])]
    a = 2.0
    res = em.run_em(_coin_estep(X), lambda c: em.normalize(c, a), theta0, max_iter=200, tol=1e-12,
                    log_prior=lambda th: dirichlet_log_prior(th, a))
    assert_monotone(res.history)
    assert res.history[-1] == pytest.approx(
        res.log_likelihood + dirichlet_log_prior(res.theta, a))


# ---------------------------------------------------------------- restarts

def test_restarts_pick_best(rng):
    X = _coin_data(rng)

    def fit_one(r):
        w = r.dirichlet([1, 1])
        h = r.dirichlet([1, 1], size=2)
        return em.run_em(_coin_estep(X), em.normalize, [w, h], max_iter=20000, tol=1e-8,
                         scale=len(X))

    best = fit_with_restarts(fit_one, 6, np.random.default_rng(1))
    objs = best.extra["objectives"]
    assert len(objs) == 6 and best.objective == max(objs)
    assert 1 <= best.extra["n_best"] <= 6
    assert_monotone(best.history)
    # more restarts with the same seed never end lower (restart k uses the same child seed)
    one = fit_with_restarts(fit_one, 1, np.random.default_rng(1))
    assert best.objective >= one.objective - 1e-9


def test_restarts_convergence_warning(rng):
    X = _coin_data(rng)

    def fit_one(r):
        return em.run_em(_coin_estep(X), em.normalize,
                         [r.dirichlet([1, 1]), r.dirichlet([1, 1], size=2)], max_iter=2, tol=1e-12)

    with pytest.warns(ConvergenceWarning, match=r"coins: the best of 3 initialisation\(s\) did not converge within max_iter=2"):
        fit_with_restarts(fit_one, 3, rng, estimator_name="coins", max_iter=2)
    with pytest.raises(ValueError, match="n_init must be >= 1"):
        fit_with_restarts(fit_one, 0, rng)
