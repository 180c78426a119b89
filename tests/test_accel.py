"""SQUAREM acceleration (emfast.accel through run_em(accelerate=...)) and the stopping rules.

Every accelerated fit here is checked for: monotone accepted objectives (the suite turns
NonMonotoneEMWarning into an error as well), every evaluated proposal a valid list of
tables, the returned log-likelihood equal to an independent score of the returned
parameters (brute-force oracles on tiny models), and the E-step count.
"""
import warnings

import numpy as np
import pytest

import emfast as em
from emfast import accel
from emfast.accel import Squarem
from emfast.em import run_em
from emfast.exceptions import ConvergenceWarning

from conftest import assert_monotone
from _oracle_bn import joint, random_data, random_network, row_loglik
from _oracle_hmm import hmm_by_enumeration
from _oracle_lca import data_by_enumeration


@pytest.fixture
def proposals(monkeypatch):
    """Record every proposal Squarem hands to an E-step (and the three points it came from)."""
    seen = []
    orig = Squarem.propose

    def propose(self, theta):
        pts = [self.tables(f) for f in self._flat] + [theta]
        cand = orig(self, theta)
        if cand is not None:
            seen.append((cand, pts[-3:]))
        return cand
    monkeypatch.setattr(Squarem, "propose", propose)
    return seen


def _check_proposals(seen, segments=None):
    """Every proposal: finite, in [0, 1], rows (segments) sum to 1 (to round-off, which
    grows like α² eps: accel.SUM_RTOL bounds it), zeros of the three
    points stay exactly 0, tables identical in the three points unchanged."""
    for cand, (t0, t1, t2) in seen:
        for k, (x, a, b, c) in enumerate(zip(cand, t0, t1, t2)):
            assert np.all(np.isfinite(x)) and np.all((x >= 0) & (x <= 1))
            seg = None if segments is None else segments[k]
            if seg is None:
                np.testing.assert_allclose(x.sum(axis=-1), 1.0, rtol=0, atol=1e-9)
            else:
                np.testing.assert_allclose(np.add.reduceat(x, seg, axis=-1), 1.0, rtol=0,
                                           atol=1e-9)
            zero = (a == 0) & (b == 0) & (c == 0)
            assert np.all(x[zero] == 0)
            if np.array_equal(a, b) and np.array_equal(b, c):
                assert np.array_equal(x, a)


def _check_counts(model):
    tr = model.init_histories_[np.argmax([t.objective[-1] for t in model.init_histories_])]
    assert tr.accelerate == "squarem"
    assert model.n_estep_ == len(model.history_) + tr.stats["rejected"]
    # the last E-step may be a rejected proposal (the run then stops at the EM point)
    assert np.all(np.diff(tr.n_estep) >= 1) and 0 <= model.n_estep_ - tr.n_estep[-1] <= 1
    assert np.all(np.diff(tr.seconds) >= 0)
    assert tr.iterates[0] == 0 and np.all(np.diff(tr.iterates) >= 1)


# ---------------------------------------------------------------- the accelerator alone

def test_pinned_extrapolation_leaves_the_simplex():
    """Row A moves linearly towards 0, row B hardly bends: SqS3 wants α ≈ 20.6, which
    puts row A at -7.7. The step is cut to the boundary (α ≈ 1.25), not to θ2."""
    t0 = [np.array([[0.5, 0.5], [0.5, 0.5]])]
    t1 = [np.array([[0.3, 0.7], [0.45, 0.55]])]
    t2 = [np.array([[0.1, 0.9], [0.41, 0.59]])]
    sq = Squarem(step_max0=64.0)
    sq.start(t0)
    assert sq.propose(t1) is None
    cand = sq.propose(t2)
    r2 = 2 * (0.2 ** 2 + 0.05 ** 2)
    v2 = 2 * 0.01 ** 2
    raw = 0.5 - 0.4 * np.sqrt(r2 / v2)
    assert raw < -7                                   # the SqS3 point is far outside
    assert cand is not None and sq.stats["shrunk"] == 1
    x = cand[0]
    assert np.all(x >= 0) and x[0, 0] < 1e-6          # cut at row A's boundary, α = 1.25
    np.testing.assert_allclose(x.sum(axis=1), 1.0, atol=1e-15)
    alpha = 1.25 * (1 - 1e-9)
    np.testing.assert_allclose(x[1, 0], 0.5 - 0.1 * alpha + 0.01 * alpha ** 2, rtol=1e-12)
    # the same with halving: 20.6 -> 10.8 -> 5.9 -> 3.5 -> 2.2 -> 1.6 -> 1.3 -> 1.15
    sq = Squarem(step_max0=64.0, shrink="halve")
    sq.start(t0)
    sq.propose(t1)
    x = sq.propose(t2)[0]
    assert np.all(x >= 0) and 0 < x[0, 0] < 0.5


def test_zero_cells_of_the_em_map_force_the_em_point():
    # a cell the M-step set to 0 (θ1 = θ2 = 0, θ0 > 0) would come back as (1-α)² θ0
    t0 = [np.array([0.2, 0.3, 0.5])]
    t1 = [np.array([0.0, 0.45, 0.55])]
    t2 = [np.array([0.0, 0.5, 0.5])]
    sq = Squarem(step_max0=16.0)
    sq.start(t0)
    sq.propose(t1)
    assert sq.propose(t2) is None
    assert sq.stats["infeasible"] == 1 and sq.new_base


def test_step_cap_grows_and_shrinks_like_squarem():
    sq = Squarem()
    assert sq.step_max == 1.0
    geo = [np.array([0.5 * 0.9 ** k, 1 - 0.5 * 0.9 ** k]) for k in range(12)]
    sq.start([geo[0]])
    sq.propose([geo[1]])
    assert sq.propose([geo[2]]) is None and sq.stats["plain"] == 1    # cap 1: EM double step
    assert sq.step_max == 4.0
    sq.propose([geo[3]])
    cand = sq.propose([geo[4]])          # geometric: SqS3 α = 10, capped at 4
    assert cand is not None
    sq.accept()
    assert sq.step_max == 16.0
    assert sq.propose([geo[5]]) is None and sq.new_base     # F(θ') is the next base
    sq.propose([geo[6]])
    sq.propose([geo[7]])
    sq.reject()                          # α = 10 < cap 16: cap unchanged by the rejection
    assert sq.step_max == 16.0 and sq.new_base


def _point_numpy(t0, t1, t2, bounds, alpha):
    """The oracle for _kernels.squarem_point: the numpy version the kernel replaced
    (proposal and feasibility, table by table)."""
    r = t1 - t0
    v = t2 - 2.0 * t1 + t0
    cand = t0 + (2.0 * alpha) * r + (alpha * alpha) * v
    ok = bool(np.all((cand >= 0.0) & (cand <= 1.0)))                 # False for NaN
    ok &= not np.any((t2 > 0.0) & (cand <= 0.0))
    ok &= not np.any((t1 == 0.0) & (t2 == 0.0) & (cand != 0.0))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi > lo:
            tot, tot2 = cand[lo:hi].sum(), t2[lo:hi].sum()
            ok &= abs(tot - tot2) <= accel.SUM_RTOL * max(tot2, 1.0)
    return cand, (r @ r, v @ v), ok


def test_squarem_kernels_match_the_numpy_oracle(rng):
    from emfast import _kernels
    cases = 0
    verdicts = set()
    for trial in range(400):
        sizes = rng.integers(0, 4, size=rng.integers(1, 5)) * rng.integers(1, 4)
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n = int(bounds[-1])
        rows = [rng.dirichlet(np.ones(3), size=(n + 2) // 3).ravel()[:n] for _ in range(3)]
        t0, t1, t2 = rows
        if n and trial % 4 == 1:                  # a cell the EM map sets to 0
            i = rng.integers(n)
            t1[i] = t2[i] = 0.0
        if n and trial % 4 == 2:                  # a cell 0 in all three points
            i = rng.integers(n)
            t0[i] = t1[i] = t2[i] = 0.0
        if n and trial % 8 == 3:                  # a NaN (never from an M-step; still refused)
            t2[rng.integers(n)] = np.nan
        alpha = float(rng.choice([1.0, 1.0 + rng.random(), 10 * rng.random() + 1, 1e8]))
        out = np.full(n, -7.0)
        code = _kernels.squarem_point(t0, t1, t2, bounds, alpha, accel.SUM_RTOL, out)
        cand, (sr, sv), ok = _point_numpy(t0, t1, t2, bounds, alpha)
        assert (code == 0) == ok, (trial, code)
        if ok:
            # the same arithmetic in the same order (bit-equal unless the compiler fuses
            # multiply-adds, as GCC may on CPUs with FMA)
            np.testing.assert_allclose(out, cand, rtol=0, atol=1e-15 * alpha * alpha)
        got = _kernels.squarem_norms(t0, t1, t2)
        np.testing.assert_allclose(got, (sr, sv), rtol=1e-12, atol=0)
        verdicts.add(code)
        cases += ok
    assert verdicts >= {0, 1, 4} and 0 < cases < 400
    # the total check alone: a table whose cells stay in [0, 1] but whose sum drifts
    t0 = np.array([0.5, 0.5]); t1 = np.array([0.4, 0.6]); t2 = np.array([0.3, 0.7 + 1e-9])
    out = np.empty(2)
    assert _kernels.squarem_point(t0, t1, t2, np.array([0, 2]), 2.0, accel.SUM_RTOL, out) == 2
    assert not _point_numpy(t0, t1, t2, [0, 2], 2.0)[2]
    # a cell positive in θ2 that the step puts exactly at 0: θ' = 0.5 - 0.25 α at α = 2
    t0 = np.array([0.5, 0.5]); t1 = np.array([0.375, 0.625]); t2 = np.array([0.25, 0.75])
    assert _kernels.squarem_point(t0, t1, t2, np.array([0, 2]), 2.0, accel.SUM_RTOL, out) == 3


def _largest_feasible_numpy(t0, t1, t2, alpha_max):
    """The oracle for _kernels.squarem_boundary: the numpy version it replaced
    (the largest α in [1, alpha_max] at which no entry positive in θ2 is <= 0)."""
    m = t2 > 0
    r = t1[m] - t0[m]
    a, b, c = t0[m], 2.0 * r, t2[m] - 2.0 * t1[m] + t0[m]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        disc = b * b - 4.0 * a * c
        sq = np.sqrt(np.maximum(disc, 0.0))
        q = -0.5 * (b + np.copysign(sq, b))
        ra, rb = q / c, a / q
        r_lo, r_hi = np.fmin(ra, rb), np.fmax(ra, rb)
        up = (c > 0) & (disc > 0) & (r_hi > 1.0)           # negative between the roots
        down = c < 0                                        # negative beyond r_hi
        lin = (c == 0) & (b < 0)                            # negative beyond -a/b
        lo = np.concatenate([r_lo[up], r_hi[down], (-a / b)[lin]])
    hi = np.concatenate([r_hi[up], np.full(int(down.sum()), np.inf),
                         np.full(int(lin.sum()), np.inf)])
    keep = np.isfinite(lo) & (lo < alpha_max)
    lo, hi = np.maximum(lo[keep], 1.0), hi[keep]
    a = alpha_max
    for _ in range(lo.size + 1):
        inside = (lo < a) & (a < hi) | ((lo < a) & ~np.isfinite(hi)) | (lo == a)
        if not inside.any():
            return a
        a = float(lo[inside].min()) * (1.0 - 1e-9)
        if a <= 1.0:
            return 1.0
    return 1.0


def test_squarem_boundary_matches_the_numpy_oracle(rng):
    from emfast import _kernels
    shrunk = 0
    for trial in range(400):
        n = int(rng.integers(1, 40))
        t0 = rng.dirichlet(np.ones(n))
        t1 = rng.dirichlet(np.ones(n))
        if trial % 3 == 0:                 # geometric convergence towards a vertex: cells
            rho = rng.uniform(0.3, 0.95, n)    # heading to 0 at their own rates
            t1, t2 = t0 * rho, t0 * rho * rho
        else:
            t2 = rng.dirichlet(np.ones(n))
        if trial % 5 == 1:                 # cells the EM map sets to 0, a NaN (no constraint)
            t2[rng.integers(n)] = 0.0
            t2[rng.integers(n)] = np.nan
        if trial % 7 == 2:                 # linear in α (v = 0) for some cells
            i = rng.integers(n)
            t2[i] = 2.0 * t1[i] - t0[i]
        alpha_max = float(rng.choice([1.5, 4.0, 16.0, 1e3, 1e8]))
        want = _largest_feasible_numpy(t0, t1, t2, alpha_max)
        got = _kernels.squarem_boundary(t0, t1, t2, alpha_max, np.empty(n), np.empty(n))
        # the same operations in the same order (bit-equal unless the compiler fuses
        # multiply-adds, as GCC may on CPUs with FMA)
        assert got == pytest.approx(want, rel=1e-12, abs=0), (trial, got, want)
        assert 1.0 <= got <= alpha_max
        shrunk += 1.0 < got < alpha_max
        if got > 1.0:                      # the answer is feasible where θ2 is positive
            cand = t0 + 2.0 * got * (t1 - t0) + got * got * (t2 - 2.0 * t1 + t0)
            assert not np.any((t2 > 0) & (cand <= 0))
    assert shrunk > 50
    # pinned: one cell 0.5 - 0.25 α (zero at α = 2) and one 0.5 + 0.25 α
    t0 = np.array([0.5, 0.5]); t1 = np.array([0.375, 0.625]); t2 = np.array([0.25, 0.75])
    got = _kernels.squarem_boundary(t0, t1, t2, 10.0, np.empty(2), np.empty(2))
    assert got == pytest.approx(2.0 * (1 - 1e-9), rel=1e-15)
    assert accel._largest_feasible(t0, t1, t2, 10.0) == got
    assert accel._largest_feasible(t0, t1, t2, 1.5) == 1.5       # already feasible


def test_flat_layout_round_trips_any_table_list():
    # propose() flattens every M-step output through the fast path (ndarray .ravel(),
    # no cast when all float64); other inputs take the fallbacks. Either way the flat
    # vector is float64 in the kernels' layout, and tables() gives the tables back.
    theta = [np.arange(6.0).reshape(2, 3)[:, ::2],        # a strided view
             np.array(0.25), np.ones((2, 2), np.float32), [0.1, 0.9],
             np.array([1, 0]), np.empty((0, 3))]
    flat = accel._flat(theta)
    assert flat.dtype == np.float64 and flat.flags.c_contiguous
    np.testing.assert_array_equal(
        flat, [0.0, 2.0, 3.0, 5.0, 0.25, 1.0, 1.0, 1.0, 1.0, 0.1, 0.9, 1.0, 0.0])
    sq = Squarem()
    sq.start(theta)
    back = sq.tables(flat)
    assert [t.shape for t in back] == [(2, 2), (), (2, 2), (2,), (2,), (0, 3)]
    for t, b in zip(theta, back):
        np.testing.assert_array_equal(np.asarray(t, dtype=np.float64), b)
    assert accel._flat([]).shape == (0,)


def test_make_accelerator_validation():
    assert accel.make_accelerator(None) is None
    assert isinstance(accel.make_accelerator("squarem"), Squarem)
    mine = Squarem(step_max0=4.0, shrink="halve")
    mine.step_max = 256.0
    fresh = accel.make_accelerator(mine)
    assert fresh is not mine and fresh.step_max == 4.0 and fresh.shrink == "halve"
    with pytest.raises(ValueError, match=r"accelerate must be None \(plain EM\) or 'squarem'"):
        accel.make_accelerator("fast")
    with pytest.raises(ValueError, match="shrink must be"):
        Squarem(shrink="clip")


# ---------------------------------------------------------------- run_em

def _coin_problem(rng, n=300):
    z = rng.random(n) < 0.35
    p = np.where(z, 0.7, 0.35)
    X = (rng.random((n, 4)) < p[:, None]).astype(int)
    X[rng.random(X.shape) < 0.25] = -1

    def estep(theta):
        w, h = theta
        logp = np.tile(np.log(w), (n, 1))
        for j in range(X.shape[1]):
            obs = X[:, j] >= 0
            logp[obs] += np.log(h[:, X[obs, j]].T)
        mx = logp.max(axis=1, keepdims=True)
        ll = mx[:, 0] + np.log(np.exp(logp - mx).sum(axis=1))
        r = np.exp(logp - ll[:, None])
        ch = np.zeros((2, 2))
        for j in range(X.shape[1]):
            for v in (0, 1):
                ch[:, v] += r[X[:, j] == v].sum(0)
        return [r.sum(0), ch], float(ll.sum())
    theta0 = [np.array([0.5, 0.5]), np.array([[0.45, 0.55], [0.6, 0.4]])]
    return estep, em.normalize, theta0, n


def test_run_em_stopping_rules(rng):
    estep, mstep, theta0, n = _coin_problem(rng)
    res = run_em(estep, mstep, theta0, max_iter=1000, tol=1e-6, scale=n, max_time=1e-9)
    assert res.stop_reason == "max_time" and not res.converged and res.n_iter == 0
    assert res.n_estep == 1 and len(res.history) == 1
    for acc in (None, "squarem"):
        res = run_em(estep, mstep, theta0, max_iter=10_000, tol=-1, param_tol=1e-6,
                     accelerate=acc)
        assert res.stop_reason == "param_tol" and res.converged
        assert len(res.history_seconds) == len(res.history) == len(res.history_n_estep)
        ll_check = estep(res.theta)[1]
        assert res.log_likelihood == ll_check            # belongs to the returned θ
    with pytest.raises(ValueError, match=r"max_time must be None or a number > 0; got 0"):
        run_em(estep, mstep, theta0, max_time=0)
    with pytest.raises(ValueError, match=r"param_tol must be None or a number >= 0"):
        run_em(estep, mstep, theta0, param_tol=-1.0)
    with pytest.raises(TypeError, match=r"max_time must be None or a number; got '1'"):
        run_em(estep, mstep, theta0, max_time="1")
    with pytest.raises(ValueError, match="accelerate must be"):
        run_em(estep, mstep, theta0, accelerate="anderson")


def test_squarem_tol_tests_each_em_step_against_its_source(rng, proposals):
    # with acceleration the tol test compares an EM point with the point it was computed
    # from (as plain EM does), never a kept extrapolation with its base: check it from the
    # parameters every E-step saw
    estep0, mstep, theta0, n = _coin_problem(rng)
    seen = []

    def estep(theta):
        seen.append([t.copy() for t in theta])
        return estep0(theta)
    tol = 1e-9
    res = run_em(estep, mstep, theta0, max_iter=10_000, tol=tol, scale=n,
                 accelerate="squarem")
    assert res.stop_reason == "tol" and res.accel_stats["accepted"] > 0
    at = [seen[k - 1] for k in res.history_n_estep]     # the θ of each history entry
    marks = list(res.history_iterates)
    assert marks[0] == 0
    for i in range(1, len(at)):
        em_point = [np.asarray(t) for t in mstep(estep0(at[i - 1])[0])]
        is_em = all(np.array_equal(a, b) for a, b in zip(at[i], em_point))
        assert is_em == (i in marks), i
    assert len(at) - len(marks) == res.accel_stats["accepted"]
    gains = [(res.history[m] - res.history[m - 1]) / n for m in marks[1:]]
    assert gains[-1] < tol and min(gains[:-1]) >= tol
    assert res.log_likelihood == estep0(res.theta)[1]
    _check_proposals(proposals)


def test_run_em_squarem_budget_and_callback(rng, proposals):
    estep, mstep, theta0, n = _coin_problem(rng)
    res = run_em(estep, mstep, theta0, max_iter=1, tol=1e-12, scale=n, accelerate="squarem")
    assert res.n_iter == 1 and len(res.history) == 2 and res.stop_reason == "max_iter"
    res = run_em(estep, mstep, theta0, max_iter=7, tol=-1, accelerate="squarem")
    assert res.n_iter == 7 and res.stop_reason == "max_iter"
    assert res.log_likelihood == estep(res.theta)[1]
    calls = []
    res = run_em(estep, mstep, theta0, max_iter=100, tol=1e-12, accelerate="squarem",
                 callback=lambda i, th, ll: calls.append(ll) or len(calls) == 6)
    assert res.stop_reason == "callback" and len(res.history) == 6 == len(calls)
    assert res.n_estep == 6 + res.accel_stats["rejected"]
    _check_proposals(proposals)


def test_run_em_squarem_same_fixed_point_fewer_esteps(rng, proposals):
    estep, mstep, theta0, n = _coin_problem(rng)
    plain = run_em(estep, mstep, theta0, max_iter=50_000, tol=-1, param_tol=1e-13)
    fast = run_em(estep, mstep, theta0, max_iter=50_000, tol=-1, param_tol=1e-13,
                  accelerate="squarem")
    assert plain.stop_reason == fast.stop_reason == "param_tol"
    for a, b in zip(plain.theta, fast.theta):
        np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fast.log_likelihood, plain.log_likelihood, rtol=1e-12)
    assert fast.n_estep < plain.n_estep / 2
    assert_monotone(fast.history)
    assert fast.accel_stats["accepted"] > 0
    _check_proposals(proposals)


# ---------------------------------------------------------------- the three families

@pytest.mark.parametrize("k", range(3))
def test_bn_random_models_feasible_monotone_exact(rng, k, proposals):
    bn = random_network(rng, n_vars=int(rng.integers(3, 6)), max_card=3)
    X, _ = random_data(bn, rng, 150, p_missing=0.3, n_hidden=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = bn.copy().fit(X, max_iter=150, tol=1e-8, random_state=k, accelerate="squarem",
                            n_init=2)
    assert_monotone(fit.history_, rtol=1e-10)
    _check_proposals(proposals)
    _check_counts(fit)
    P = joint(fit)
    oracle = sum(row_loglik(fit, P, r) for r in X)
    np.testing.assert_allclose(fit.log_likelihood_, oracle, rtol=1e-10)
    assert len(fit.init_histories_) == 2
    assert proposals                                  # the accelerator did extrapolate


def test_bn_same_fixed_point_as_plain_em(rng):
    truth = random_network(rng, n_vars=4, max_card=3)
    X, _ = random_data(truth, rng, 400, p_missing=0.25, n_hidden=0)
    kw = dict(init="current", max_iter=20_000, tol=-1, param_tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)      # tol < 0: "not converged"
        plain = truth.copy().fit(X, **kw)
        fast = truth.copy().fit(X, accelerate="squarem", **kw)
    for v in truth.variables:
        np.testing.assert_allclose(fast.cpts[v], plain.cpts[v], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fast.log_likelihood_, plain.log_likelihood_, rtol=1e-12)
    assert fast.n_estep_ <= plain.n_estep_


def test_bn_mechanism_fixed_delta_and_zeros_stay(rng, proposals):
    """MNAR θ and δ extrapolated together; a δ held fixed stays bit-identical; CPT cells
    that are 0 at the start stay exactly 0; MAP (pseudocount) objective stays monotone."""
    bn = em.BayesianNetwork([("Z", "A"), ("Z", "B"), ("A", "C")], {"Z": 2, "A": 3, "B": 2, "C": 3})
    bn.cpts["A"] = np.array([[0.6, 0.4, 0.0], [0.1, 0.3, 0.6]])
    bn.cpts["C"] = np.array([[0.5, 0.5, 0.0], [0.2, 0.2, 0.6], [0.0, 0.3, 0.7]])
    X = bn.sample(600, random_state=rng)
    X[:, 0] = -1
    X[rng.random(X.shape) < 0.15] = -1
    held = np.array([[0.9, 0.1], [0.8, 0.2]])
    mech = em.MNAR({"B": ["B"], "C": ["A"]})
    start = bn.copy()
    for pc in (0.0, 0.5):
        # (MAP: from a random start, as the zeros above have log prior -inf)
        fit = start.copy().fit(X, init="current" if pc == 0 else "random", random_state=0,
                               missingness=mech, max_iter=500, tol=1e-10,
                               fixed_missingness={"B": held}, pseudocount=pc,
                               accelerate="squarem")
        assert np.array_equal(fit.missingness_["B"], held)
        if pc == 0:
            assert fit.cpts["A"][0, 2] == 0.0 and fit.cpts["C"][0, 2] == 0.0
            assert fit.cpts["C"][2, 0] == 0.0
        assert_monotone(fit.history_)
        _check_counts(fit)
    _check_proposals(proposals)
    assert any(c[1][0] is not None for c in proposals)


@pytest.mark.parametrize("k", range(3))
def test_lca_random_models_feasible_monotone_exact(rng, k, proposals):
    K, cards = 2 + k % 2, [2, 3, 2, 3][: 3 + k % 2]
    w = rng.dirichlet(np.ones(K))
    items = [rng.dirichlet(np.ones(m) * 0.5, size=K) for m in cards]
    z = rng.choice(K, size=120, p=w)
    X = np.column_stack([[rng.choice(m, p=items[j][zz]) for zz in z] for j, m in enumerate(cards)])
    X[rng.random(X.shape) < 0.2] = -1
    m = em.LatentClassModel(K, n_init=3, random_state=k, tol=1e-10, accelerate="squarem",
                            n_categories=cards).fit(X)
    assert_monotone(m.history_)
    offsets = np.concatenate([[0], np.cumsum(cards[:-1])])
    _check_proposals(proposals, segments=[None, offsets])
    _check_counts(m)
    ll, *_ = data_by_enumeration(m.weights_, m.item_probs_, X)
    np.testing.assert_allclose(m.log_likelihood_, ll, rtol=1e-10)
    np.testing.assert_allclose(m.score(X) * len(X), ll, rtol=1e-10)
    assert len(m.init_histories_) == 3 and proposals
    assert m.init_objectives_ == [float(t.objective[-1]) for t in m.init_histories_]


def test_lca_restarts_warm_start_and_same_fixed_point(rng):
    w = np.array([0.6, 0.4])
    items = [np.array([[0.97, 0.03], [0.05, 0.95]]),
             np.array([[0.9, 0.07, 0.03], [0.02, 0.08, 0.9]]),
             np.array([[0.95, 0.05], [0.1, 0.9]]), np.array([[0.96, 0.04], [0.04, 0.96]])]
    z = rng.choice(2, size=500, p=w)
    X = np.column_stack([(rng.random(500)[:, None] > np.cumsum(t[z], axis=1)).sum(1)
                         for t in items])
    X[rng.random(X.shape) < 0.02] = -1
    init = {"weights": w, "item_probs": items}
    # the estimator's own EM (packed (K, S) item table) run by run_em with the tol test off
    # and the parameter-change rule on: both stop within 1e-13 of their fixed points
    cards = [t.shape[1] for t in items]
    problem = em.LatentClassModel(2)._problem(X.astype(np.int32), cards, 2, 1)
    theta0 = problem.init(None, 0, [w] + items)
    runs = [run_em(problem.estep, problem.mstep, theta0, max_iter=50_000, tol=-1,
                   param_tol=1e-13, accelerate=a) for a in (None, "squarem")]
    assert [r.stop_reason for r in runs] == ["param_tol", "param_tol"]
    for a, b in zip(*(r.theta for r in runs)):
        np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-12)
    # (EM converges in ~15 E-steps here: too fast for extrapolation to pay)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = em.LatentClassModel(2, init=init, tol=1e-12).fit(X)
        fast = em.LatentClassModel(2, init=init, tol=1e-12, accelerate="squarem").fit(X)
    np.testing.assert_allclose(fast.log_likelihood_, plain.log_likelihood_, rtol=1e-12)
    # restarts: n_init=4 never ends below n_init=1, every restart has a trace
    one = em.LatentClassModel(2, n_init=1, random_state=3, accelerate="squarem").fit(X)
    four = em.LatentClassModel(2, n_init=4, random_state=3, accelerate="squarem").fit(X)
    assert four.history_[-1] >= one.history_[-1] - 1e-9 * abs(one.history_[-1])
    assert len(four.init_histories_) == 4 and four.n_best_ >= 1
    # warm start continues from the fit; the objective does not drop
    ws = em.LatentClassModel(2, random_state=3, accelerate="squarem", warm_start=True,
                             max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ws.fit(X)
        first = ws.history_[-1]
        ws.fit(X)
    assert ws.history_[0] == pytest.approx(first, rel=1e-12)
    assert_monotone(ws.history_)


def test_lca_estimator_options(rng):
    X = rng.integers(0, 2, size=(50, 4))
    m = em.LatentClassModel(2, accelerate="squarem", max_time=30.0, param_tol=1e-9)
    assert m.get_params()["accelerate"] == "squarem"      # stored unchanged
    with pytest.warns(ConvergenceWarning):
        fit = em.LatentClassModel(2, max_time=1e-9, random_state=0).fit(X)
    assert fit.stop_reason_ == "max_time" and not fit.converged_
    with pytest.raises(ValueError, match="accelerate must be"):
        em.LatentClassModel(2, accelerate="yes").fit(X)
    m.fit(X)
    assert m.stop_reason_ in ("tol", "param_tol")


def _hmm_data(rng, K=2, M=3, n_seq=6, T=5):
    start = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K), size=K)
    B = rng.dirichlet(np.ones(M), size=K)
    seqs = []
    for _ in range(n_seq):
        z = rng.choice(K, p=start)
        s = []
        for _ in range(T):
            s.append(rng.choice(M, p=B[z]))
            z = rng.choice(K, p=trans[z])
        seqs.append(s)
    X = np.array(seqs).ravel()
    X[rng.random(X.shape) < 0.15] = -1
    return X, np.full(n_seq, T)


@pytest.mark.parametrize("params", ["ste", "e", "st"])
def test_hmm_random_models_feasible_monotone_exact_fixed(rng, params, proposals):
    X, lengths = _hmm_data(rng)
    K = 2
    start = np.array([0.7, 0.3])
    trans = np.array([[0.8, 0.2], [0.0, 1.0]])       # a structural zero
    B = np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]])
    m = em.CategoricalHMM(K, n_iter=400, tol=1e-9, init_params="", params=params,
                          accelerate="squarem", n_features=3)
    m.startprob_, m.transmat_, m.emissionprob_ = start.copy(), trans.copy(), B.copy()
    m.fit(X, lengths)
    assert_monotone(m.history_, rtol=1e-10)
    _check_proposals(proposals)
    assert m.transmat_[1, 0] == 0.0 and proposals
    if "s" not in params:
        assert np.array_equal(m.startprob_, start)
    if "t" not in params:
        assert np.array_equal(m.transmat_, trans)
    if "e" not in params:
        assert np.array_equal(m.emissionprob_, B)
    offs = np.concatenate([[0], np.cumsum(lengths)])
    oracle = sum(hmm_by_enumeration(m.startprob_, m.transmat_, [m.emissionprob_],
                                    X[a:b, None])["loglik"] for a, b in zip(offs, offs[1:]))
    np.testing.assert_allclose(m.score(X, lengths), oracle, rtol=1e-10)
    assert m.n_estep_ == len(m.history_) + m.init_histories_[0].stats["rejected"]


def test_hmm_default_is_plain_em_and_state_missingness(rng, proposals):
    X, lengths = _hmm_data(rng, n_seq=8, T=6)
    assert em.CategoricalHMM().accelerate is None
    m = em.CategoricalHMM(2, n_iter=300, tol=1e-8, random_state=1, missingness="state",
                          accelerate="squarem").fit(X, lengths)
    assert_monotone(m.history_)
    assert np.all((m.missingprob_ >= 0) & (m.missingprob_ <= 1))
    _check_proposals(proposals)
