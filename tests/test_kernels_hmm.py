"""Tests of the HMM forward-backward kernels (emfast.kernels and the compiled hmm_fb).

Every code path of the kernel family is pinned here: the lanes kernel at every lane
multiple U, with the literal-K copies and the generic one, ragged lengths (padded
lanes, empty lanes), all-missing sequences; the single path (states across the SIMD
lanes, K not a multiple of the vector width), full and checkpointed; the exact
rescaling of tiny / huge probabilities; both compiled builds (portable, AVX2); and
bit-identical results for 1, 2 and 3 threads.
"""
import numpy as np
import pytest

import emfast
from emfast import _kernels, kernels
from emfast.hmm import _stack_emissions

from _oracle_hmm import fb_reference, hmm_by_enumeration

SIMDS = list(kernels.available_simd())      # every compiled copy this CPU runs
US, LITERAL_KS = _kernels.lane_variants()


@pytest.fixture(params=SIMDS)
def simd(request):
    old = kernels._set_simd(request.param)
    yield request.param
    kernels._set_simd(old)


def _run_codes(codes, lengths, start, trans, tables, *, n_jobs=1, posteriors=True, **kw):
    """The categorical E-step through kernels._run with the path overrides."""
    codes = np.ascontiguousarray(np.asarray(codes).reshape(len(codes), -1), dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    emitT, choff = _stack_emissions(tables)
    K = len(start)
    W = kernels._hmm.simd_width()
    Kp = -(-K // W) * W
    emitTp = np.zeros((emitT.shape[0], Kp))
    emitTp[:, :K] = emitT
    return kernels._run(codes, None, offsets, np.asarray(start, float), np.asarray(trans, float),
                        emitTp, choff, n_jobs, counts=True, posteriors=posteriors,
                        post_dtype=np.float64, what="x", max_memory=kw.pop("max_memory", None),
                        **kw)


def _run_frames(frame, lengths, start, trans, *, n_jobs=1, **kw):
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    K = len(start)
    W = kernels._hmm.simd_width()
    return kernels._run(np.zeros((0, 1), np.int32), np.ascontiguousarray(frame), offsets,
                        np.asarray(start, float), np.asarray(trans, float),
                        np.zeros((1, -(-K // W) * W)), np.zeros(2, np.int64), n_jobs,
                        counts=True, posteriors=True, post_dtype=frame.dtype, what="x",
                        max_memory=kw.pop("max_memory", None), **kw)


def _frames_of(x, tables):
    """Emission likelihoods (N, K) of codes (N, C) (missing -> 1)."""
    K = tables[0].shape[0]
    F = np.ones((len(x), K))
    for c, B in enumerate(tables):
        obs = x[:, c] >= 0
        F[obs] *= B[:, x[obs, c]].T
    return F


def _reference(start, trans, tables, x, lengths):
    """NumPy scaled forward-backward per sequence: ll, gamma, start, xi, emission counts."""
    F = _frames_of(x, tables)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    K = len(start)
    ll, gamma = [], np.empty((len(x), K))
    cs, xi = np.zeros(K), np.zeros((K, K))
    for a, b in zip(offsets[:-1], offsets[1:]):
        l, g, q = fb_reference(start, trans, F[a:b])
        ll.append(l)
        gamma[a:b] = g
        cs += g[0]
        xi += q
    emit = []
    for c, B in enumerate(tables):
        E = np.zeros_like(B)
        for k in range(B.shape[1]):
            E[:, k] = gamma[x[:, c] == k].sum(0)
        emit.append(E)
    return np.array(ll), gamma, cs, xi, emit


def _check(out, ref, tables, rtol=1e-10):
    ll, cs, xi, E, gamma = out
    rll, rgamma, rcs, rxi, remit = ref
    np.testing.assert_allclose(ll, rll, rtol=rtol, atol=1e-13)
    np.testing.assert_allclose(gamma, rgamma, rtol=rtol, atol=1e-13)
    np.testing.assert_allclose(cs, rcs, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(xi, rxi, rtol=rtol, atol=1e-12)
    o = 0
    for B, RE in zip(tables, remit):
        np.testing.assert_allclose(E[o:o + B.shape[1]].T, RE, rtol=rtol, atol=1e-11)
        o += B.shape[1]


def _model_multi(rng, K, sizes):
    return (rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
            [rng.dirichlet(np.ones(m), size=K) for m in sizes])


def _model(rng, K, M):
    return (rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
            rng.dirichlet(np.ones(M), size=K))


@pytest.mark.parametrize("K", [1, 2, 3])
def test_forward_backward_matches_enumeration(rng, K):
    start, trans, B = _model(rng, K, 4)
    lengths = [3, 1, 6]
    x = rng.integers(-1, 4, size=sum(lengths))
    frame = np.where(x[:, None] >= 0, B[:, np.maximum(x, 0)].T, 1.0)
    ll, post, xi = kernels.forward_backward(frame, start, trans, lengths, n_jobs=2)
    assert ll.shape == (3,) and post.shape == (10, K) and xi.shape == (K, K)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    xi_ref = np.zeros((K, K))
    for s, (a, b) in enumerate(zip(offsets[:-1], offsets[1:])):
        ref = hmm_by_enumeration(start, trans, [B], x[a:b, None])
        np.testing.assert_allclose(ll[s], ref["loglik"], rtol=1e-10)
        np.testing.assert_allclose(post[a:b], ref["gamma"], rtol=1e-10, atol=1e-14)
        xi_ref += ref["xi"]
        lp, path = kernels.viterbi(np.log(frame[a:b]), start, trans)
        np.testing.assert_allclose(lp[0], ref["viterbi_logp"], rtol=1e-10)
        np.testing.assert_array_equal(path, ref["viterbi_path"])
    np.testing.assert_allclose(xi, xi_ref, rtol=1e-10, atol=1e-14)
    # log input: rows shifted internally, same answer
    ll2, post2, xi2 = kernels.forward_backward(np.log(frame) - 700.0, start, trans, lengths,
                                               log=True)
    np.testing.assert_allclose(ll2, ll - 700.0 * np.array(lengths), rtol=1e-12)
    np.testing.assert_allclose(post2, post, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(xi2, xi, rtol=1e-10, atol=1e-14)
    # viterbi on likelihoods (log=False) and over several sequences at once
    lp_all, path_all = kernels.viterbi(frame, start, trans, lengths, log=False)
    assert lp_all.shape == (3,) and path_all.shape == (10,)


def test_float32_frames(rng):
    start, trans, B = _model(rng, 3, 5)
    x = rng.integers(0, 5, size=200)
    frame = B[:, x].T
    ll64, post64, xi64 = kernels.forward_backward(frame, start, trans, [50, 150])
    ll32, post32, xi32 = kernels.forward_backward(frame.astype(np.float32), start, trans,
                                                  [50, 150])
    assert post32.dtype == np.float32 and post64.dtype == np.float64
    np.testing.assert_allclose(ll32, ll64, rtol=1e-4)
    np.testing.assert_allclose(post32, post64, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(xi32, xi64, rtol=1e-4)
    lp32, p32 = kernels.viterbi(np.log(frame).astype(np.float32), start, trans, [50, 150])
    lp64, p64 = kernels.viterbi(np.log(frame), start, trans, [50, 150])
    np.testing.assert_allclose(lp32, lp64, rtol=1e-4)


def test_gaussian_emissions_long_sequence_no_underflow(rng):
    # a library computing its own Gaussian log-likelihoods: 20-dimensional
    # observations give log-likelihoods around -30 per step, far below exp range over T
    K, T, D = 2, 5000, 20
    means = rng.normal(size=(K, D)) * 2
    z = (rng.random(T) < 0.5).astype(int)
    obs = means[z] + rng.normal(size=(T, D))
    logf = -0.5 * ((obs[:, None, :] - means[None]) ** 2).sum(-1) - 0.5 * D * np.log(2 * np.pi)
    start = np.array([0.5, 0.5])
    trans = np.array([[0.5, 0.5], [0.5, 0.5]])
    ll, post, _ = kernels.forward_backward(logf, start, trans, log=True)
    ref = np.logaddexp(logf[:, 0], logf[:, 1]) + np.log(0.5)
    np.testing.assert_allclose(ll[0], ref.sum(), rtol=1e-12)
    assert np.mean(post.argmax(1) == z) > 0.99


def test_kernel_bad_input(rng):
    start, trans, B = _model(rng, 2, 3)
    frame = np.ones((4, 2))
    with pytest.raises(ValueError, match=r"transmat must have shape \(2, 2\)"):
        kernels.forward_backward(frame, start, np.ones((3, 3)) / 3)
    with pytest.raises(ValueError, match=r"startprob: its \(only\) row sums to"):
        kernels.forward_backward(frame, [0.5, 0.6], trans)
    with pytest.raises(ValueError, match=r"frame_likelihood must be finite and non-negative"):
        kernels.forward_backward(-frame, start, trans)
    with pytest.raises(ValueError, match=r"lengths must sum to len\(X\)=4"):
        kernels.forward_backward(frame, start, trans, [1, 2])
    with pytest.raises(ValueError, match=r"must have shape \(n_samples, n_components\)"):
        kernels.viterbi(np.ones(4), start, trans)
    with pytest.raises(TypeError, match=r"float32 or float64"):
        kernels.viterbi(np.ones((4, 2), dtype=complex), start, trans)
    zero = frame.copy()
    zero[2] = 0.0
    with pytest.raises(ValueError, match=r"Sequence 1 has probability 0 at t=0 \(row 2 of X\)"):
        kernels.forward_backward(zero, start, trans, [2, 2])
    with pytest.raises(ValueError, match=r"Sequence 0 has probability 0 at t=2"):
        kernels.viterbi(np.log(np.where(zero > 0, zero, 0.0) + 0.0, where=zero > 0,
                               out=np.full_like(zero, -np.inf)), start, trans)


@pytest.mark.parametrize("S, T", [(1250, 1000), (1000, 50), (100, 20), (17, 3), (5, 7)])
def test_hmm_blocks_hold_whole_groups_of_lanes(S, T):
    # blocks start at multiples of L sequences, so equal-length sequences fill every lane
    # group but the last one: ceil(S / L) groups (19-20 sequences per block had made a
    # part-filled group, or a single, at the end of every block)
    from emfast._blocks import plan_blocks
    from emfast.kernels import _make_plan, _hmm
    offsets = np.arange(0, S * T + 1, T, dtype=np.int64)
    for L in (4, 8, 16, 32):
        ptr = plan_blocks(offsets=offsets, min_size=1024, multiple=L)
        assert ptr[0] == 0 and ptr[-1] == S and np.all(np.diff(ptr) > 0)
        assert np.all(ptr[:-1] % L == 0)
        assert len(ptr) - 1 <= min(64, -(-S // L))
    L = _hmm.simd_width() * 2
    order, grp, blk_grp, B, lmax, smax = _make_plan(offsets, L, 10 ** 9)
    sizes = np.diff(grp)
    assert len(sizes) == -(-S // L) and np.all(sizes[:-1] == L) if S > L else len(sizes) == 1
    # ragged lengths: every sequence in exactly one block, blocks still on multiples of L
    lengths = np.random.default_rng(S).integers(1, 2 * T, size=S)
    offs = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ptr = plan_blocks(offsets=offs, min_size=64, multiple=16)
    assert ptr[-1] == S and np.all(ptr[:-1] % 16 == 0) and np.all(np.diff(ptr) > 0)
    # multiple=1 is the plain planner
    assert np.array_equal(plan_blocks(offsets=offs, min_size=64, multiple=1),
                          plan_blocks(offsets=offs, min_size=64))


def test_kept_plan_and_scratch_follow_the_data(rng):
    # kernels keeps its last plan (keyed by a copy of offsets) and a scratch arena per
    # Python thread: a call with other lengths of the same count, offsets changed in
    # place, or a larger problem after a smaller one must give what a fresh call gives
    import threading
    K = 3
    start, trans, B = _model(rng, K, 5)
    total = 600
    cases = [[300, 300], [100, 500], [600], [7] * 60 + [180], [300, 300]]
    x = rng.integers(-1, 5, size=total)
    fresh = []
    for lengths in cases:
        kernels._local.__dict__.clear()
        fresh.append(_run_codes(x, lengths, start, trans, [B]))
    for lengths, ref in zip(cases, fresh):           # one after the other, caches warm
        out = _run_codes(x, lengths, start, trans, [B])
        for a, b in zip(ref, out):
            np.testing.assert_array_equal(a, b)
    # offsets mutated in place between calls (the plan's key is a copy, not the object)
    codes = np.ascontiguousarray(x.reshape(-1, 1), dtype=np.int32)
    emitT, choff = _stack_emissions([B])
    offsets = np.array([0, 300, 600], dtype=np.int64)
    kernels.estep_codes(codes, offsets, start, trans, emitT, choff, 1)
    offsets[1] = 100
    got = kernels.estep_codes(codes, offsets, start, trans, emitT, choff, 1)
    kernels._local.__dict__.clear()
    want = kernels.estep_codes(codes, offsets.copy(), start, trans, emitT, choff, 1)
    for a, b in zip(want, got):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    # two Python threads at once each use their own arena
    results = [None, None]
    def work(i, lengths):
        results[i] = [_run_codes(x, lengths, start, trans, [B]) for _ in range(5)]
    ts = [threading.Thread(target=work, args=(i, cases[i])) for i in (0, 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for i in (0, 1):
        for out in results[i]:
            for a, b in zip(fresh[i], out):
                np.testing.assert_array_equal(a, b)


def test_forward_backward_same_bits_for_any_thread_count(rng):
    start, trans, B = _model(rng, 5, 6)
    lengths = list(rng.integers(1, 300, size=150)) + [5000]
    x = rng.integers(-1, 6, size=sum(lengths))
    frame = np.where(x[:, None] >= 0, B[:, np.maximum(x, 0)].T, 1.0)
    ref = kernels.forward_backward(frame, start, trans, lengths, n_jobs=1)
    for j in (2, 3):
        out = kernels.forward_backward(frame, start, trans, lengths, n_jobs=j)
        for a, b in zip(ref, out):
            np.testing.assert_array_equal(a, b)


def test_cpu_dispatch_reports_a_backend(monkeypatch):
    assert kernels.simd_backend() in ("portable", "avx2", "avx512")
    assert SIMDS[0] == "portable"
    widths = {"portable": 2, "avx2": 4, "avx512": 8}
    for name in SIMDS:
        assert kernels._choose_simd(name).simd_width() == widths[name]
    # auto takes the widest copy the CPU runs
    assert kernels._choose_simd("auto").simd_width() == widths[SIMDS[-1]]
    with pytest.raises(ValueError, match="EMFAST_SIMD must be"):
        kernels._choose_simd("sse9")
    # a CPU without AVX-512 (or AVX2) gets the next narrower copy, and asking for the
    # missing one by name says what is available
    monkeypatch.setattr(_kernels, "cpu_has_avx512", lambda: False)
    assert "avx512" not in kernels.available_simd()
    assert kernels._choose_simd("auto").simd_width() <= 4
    with pytest.raises(ValueError, match="EMFAST_SIMD=avx512.*available: portable"):
        kernels._choose_simd("avx512")
    monkeypatch.setattr(_kernels, "cpu_has_avx2_fma", lambda: False)
    assert kernels.available_simd() == ("portable",)
    assert kernels._choose_simd("auto") is _kernels


@pytest.mark.parametrize("U", US)
@pytest.mark.parametrize("K", [1, 2, 3, 4, 5, 8, 11])
def test_lanes_match_enumeration_and_reference(rng, simd, U, K):
    # every lane multiple, literal-K copies (2, 3, 4, 8) and the generic one (1, 5, 11);
    # ragged lengths inside a group (padded lanes), a group with an empty lane, an
    # all-missing sequence, length-1 sequences; two channels with missing codes
    start, trans, tables = _model_multi(rng, K, [4, 3])
    lengths = [6, 5, 4, 3, 6, 5, 4, 3, 3, 1, 1, 2, 5, 6, 4, 6, 3]
    x = rng.integers(-1, 4, size=(sum(lengths), 2))
    x[:, 1] = np.minimum(x[:, 1], 2)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    x[offsets[3]:offsets[4]] = -1                      # an all-missing sequence
    out = _run_codes(x, lengths, start, trans, tables, lanes_U=U)
    ref = _reference(start, trans, tables, x, lengths)
    _check(out, ref, tables)
    if K <= 2:        # the brute-force oracle on the short sequences too
        for s in (0, 3, 9):
            a, b = offsets[s], offsets[s + 1]
            e = hmm_by_enumeration(start, trans, tables, x[a:b])
            np.testing.assert_allclose(out[0][s], e["loglik"], rtol=1e-10)
            np.testing.assert_allclose(out[4][a:b], e["gamma"], rtol=1e-10, atol=1e-13)
    assert out[0][3] == 0.0 or abs(out[0][3]) < 1e-12   # all missing: log p = 0


@pytest.mark.parametrize("K", [1, 2, 3, 4, 5, 7, 9, 16])
def test_single_path_matches_reference(rng, simd, K):
    # lane_cap=0: every sequence through the single path (K not a multiple of W)
    start, trans, tables = _model_multi(rng, K, [5])
    lengths = [30, 1, 17, 2, 41]
    x = rng.integers(-1, 5, size=(sum(lengths), 1))
    out = _run_codes(x, lengths, start, trans, tables, lane_cap=0)
    _check(out, _reference(start, trans, tables, x, lengths), tables)


@pytest.mark.parametrize("K", [3, 4, 6])
@pytest.mark.parametrize("block", [1, 2, 3, 7, 16, 33])
def test_checkpointed_equals_full_pass(rng, simd, K, block):
    # lengths that are not multiples of the block, missing codes: the same bits
    start, trans, tables = _model_multi(rng, K, [4, 2])
    lengths = [101, 1, 64, 37]
    x = rng.integers(-1, 4, size=(sum(lengths), 2))
    x[:, 1] = np.minimum(x[:, 1], 1)
    full = _run_codes(x, lengths, start, trans, tables, lane_cap=0, ckpt=0)
    ck = _run_codes(x, lengths, start, trans, tables, lane_cap=0, ckpt=block)
    for a, b in zip(full, ck):
        np.testing.assert_array_equal(a, b)
    _check(full, _reference(start, trans, tables, x, lengths), tables)


def test_checkpoint_chosen_from_memory_budget(rng, simd):
    # one long sequence whose full pass (T x Kp doubles) exceeds max_memory runs
    # checkpointed automatically, with the same answer; frames and codes
    K, T = 5, 60_000
    start, trans, tables = _model_multi(rng, K, [6])
    x = rng.integers(-1, 6, size=(T, 1))
    full = _run_codes(x, [T], start, trans, tables, ckpt=0)
    # the full pass needs >= 3.4 MB of scratch, the posteriors 2.4 MB
    with emfast.config_context(max_memory=3_000_000):
        auto = _run_codes(x, [T], start, trans, tables)
        ll, cs, xi, E, _ = kernels.estep_codes(
            x.astype(np.int32), np.array([0, T]), start, trans, *_stack_emissions(tables), 2)
    for a, b in zip(full, auto):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ll, full[0])
    np.testing.assert_array_equal(xi, full[2])
    F = _frames_of(x, tables)
    r_full = kernels.forward_backward(F, start, trans)
    r_ck = kernels.forward_backward(F, start, trans, max_memory=3_000_000)
    for a, b in zip(r_full, r_ck):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="max_memory"):
        kernels.forward_backward(F, start, trans, max_memory=1000)


@pytest.mark.parametrize("path", ["lanes", "single", "checkpointed"])
def test_same_bits_for_any_thread_count(rng, simd, path):
    K = 4
    start, trans, tables = _model_multi(rng, K, [6])
    lengths = list(rng.integers(1, 120, size=300)) + [3000]
    x = rng.integers(-1, 6, size=(sum(lengths), 1))
    kw = {"lanes": {}, "single": {"lane_cap": 0}, "checkpointed": {"lane_cap": 0, "ckpt": 10}}[path]
    ref = _run_codes(x, lengths, start, trans, tables, n_jobs=1, **kw)
    for j in (2, 3):
        out = _run_codes(x, lengths, start, trans, tables, n_jobs=j, **kw)
        for a, b in zip(ref, out):
            np.testing.assert_array_equal(a, b)


def test_lanes_and_single_and_builds_agree(rng):
    # different association orders, lane counts and (AVX2, AVX-512) fused
    # multiply-adds: rtol 1e-12
    K = 6
    start, trans, tables = _model_multi(rng, K, [7, 3])
    lengths = list(rng.integers(20, 200, size=40))
    x = rng.integers(-1, 3, size=(sum(lengths), 2))
    outs = []
    for simd in SIMDS:
        old = kernels._set_simd(simd)
        try:
            outs.append(_run_codes(x, lengths, start, trans, tables))
            outs.append(_run_codes(x, lengths, start, trans, tables, lane_cap=0))
        finally:
            kernels._set_simd(old)
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lane_cap", [None, 0])
def test_frames_lanes_and_single(rng, simd, dtype, lane_cap):
    K = 5
    start, trans, tables = _model_multi(rng, K, [6])
    lengths = [40, 33, 35, 21, 40, 38, 30, 25, 40, 7]
    x = rng.integers(-1, 6, size=(sum(lengths), 1))
    F = _frames_of(x, tables)
    ll, cs, xi, _, gamma = _run_frames(F.astype(dtype), lengths, start, trans,
                                       lane_cap=lane_cap)
    rll, rgamma, rcs, rxi, _ = _reference(start, trans, tables, x, lengths)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    assert gamma.dtype == dtype
    np.testing.assert_allclose(ll, rll, rtol=tol)
    np.testing.assert_allclose(gamma, rgamma, rtol=tol, atol=tol * 1e-3)
    np.testing.assert_allclose(xi, rxi, rtol=tol, atol=tol * 1e-2)


def test_subnormal_normaliser_reproducer(simd):
    # issue 14 item 3: a normaliser below 2^-1022 overflowed 1/s (inf / NaN)
    F = np.ones((3, 2))
    F[1] = 1e-310
    start, trans = [.5, .5], [[.9, .1], [.2, .8]]
    ll, post, xi = kernels.forward_backward(F, start, trans)
    G = F.copy()
    G[1] = 1.0
    ll2, post2, xi2 = kernels.forward_backward(G, start, trans)
    assert np.isfinite(ll).all() and np.isfinite(post).all() and np.isfinite(xi).all()
    np.testing.assert_allclose(ll, ll2 + np.log(1e-310), rtol=1e-14)
    np.testing.assert_allclose(post, post2, rtol=1e-13)
    np.testing.assert_allclose(xi, xi2, rtol=1e-13)


@pytest.mark.parametrize("lane_cap", [None, 0])
@pytest.mark.parametrize("tiny", [5e-324, 1e-310, 2.5e-300, 1e-200])
def test_tiny_and_huge_probabilities_are_exact(rng, simd, lane_cap, tiny):
    # rows scaled by a tiny or huge factor (down to the smallest subnormal): the
    # posteriors and counts are those of the unscaled rows, log p shifts exactly;
    # in many sequences (the lanes hand the group to the single path)
    K = 3
    start, trans, _ = _model_multi(rng, K, [2])
    lengths = [12] * 9
    G = rng.random((sum(lengths), K)) + 0.5
    rows = np.array([3, 4, 5, 30, 50, 51, 100])
    # rows of small integers (3 bits), scaled by 2^e: exact even as subnormals
    G[rows] = rng.integers(1, 8, size=(len(rows), K))
    e = np.where(np.arange(len(rows)) % 2, int(np.floor(np.log2(tiny))), 990)
    F = G.copy()
    F[rows] = np.ldexp(G[rows], e[:, None])
    assert np.all(F[rows] > 0) and np.all(np.isfinite(F))
    shift = np.zeros(len(G))
    shift[rows] = e * np.log(2)
    ll, cs, xi, _, post = _run_frames(F, lengths, start, trans, lane_cap=lane_cap)
    rl, rcs, rxi, _, rpost = _run_frames(G, lengths, start, trans, lane_cap=lane_cap)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    np.testing.assert_allclose(ll, rl + np.add.reduceat(shift, offsets[:-1]), rtol=1e-13)
    np.testing.assert_allclose(post, rpost, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(xi, rxi, rtol=1e-13)
    np.testing.assert_allclose(cs, rcs, rtol=1e-13)


def test_emission_row_with_subnormal_scores_finite():
    # issue 14 item 3, categorical form: emission row [1.0, 1e-310]
    h = emfast.CategoricalHMM(2, init_params="", n_features=2)
    h.startprob_ = np.array([.5, .5])
    h.transmat_ = np.array([[.9, .1], [.2, .8]])
    h.emissionprob_ = np.array([[1.0, 1e-310], [1e-310, 1.0]])
    h.n_features_ = 2
    X = np.array([[0], [1], [1], [0], [1]])
    sc = h.score(X)
    p = h.predict_proba(X)
    assert np.isfinite(sc) and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-12)
    ref = hmm_by_enumeration(h.startprob_, h.transmat_, [h.emissionprob_], X)
    np.testing.assert_allclose(sc, ref["loglik"], rtol=1e-12)
    np.testing.assert_allclose(p, ref["gamma"], rtol=1e-10, atol=1e-300)


def test_zero_probability_in_a_lanes_group_names_sequence(rng, simd):
    K = 2
    start, trans = np.full(K, 0.5), np.full((K, K), 0.5)
    F = np.ones((80, K))
    F[47] = 0.0                       # sequence 4 (rows 40..49), t = 7
    with pytest.raises(ValueError, match=r"Sequence 4 has probability 0 at t=7 \(row 47"):
        kernels.forward_backward(F, start, trans, [10] * 8)


def test_hmm_fb_rejects_inconsistent_plans():
    from emfast.kernels import _slab
    K, S, N = 2, 3, 9
    W = _kernels.simd_width()
    Kp = -(-K // W) * W
    offsets = np.array([0, 3, 6, 9], dtype=np.int64)
    start, trans = np.full(K, 0.5), np.full((K, K), 0.5)
    sp, tp = np.zeros(Kp), np.zeros((Kp, Kp))
    sp[:K], tp[:K, :K] = start, trans
    frame = np.ones((N, K))

    def run(order=(0, 1, 2), grp=(0, 2, 3), blk=(0, 2), arena=10_000, threads=1, U=1,
            off=offsets, rows=None):
        B = len(blk) - 1
        _kernels.hmm_fb(np.zeros((0, 1), np.int32), frame, np.empty((0, K), np.float32),
                        np.asarray(off, np.int64), np.asarray(order, np.int64),
                        np.asarray(grp, np.int64), np.asarray(blk, np.int64), start, trans,
                        trans.T.copy(), sp, tp, tp.T.copy(), np.zeros((1, Kp)),
                        np.zeros(2, np.int64), np.full(1, -1, np.int32), np.ones(K),
                        np.ones(K, np.float32), np.empty(S), np.zeros(S, np.int32),
                        np.zeros(S, np.int64), _slab(rows or threads, arena, False), _slab(B, Kp),
                        _slab(B, K * Kp), np.zeros((1, 1)), np.empty((N, K)),
                        np.empty((0, K), np.float32), U, 0, True, threads)
    run()
    with pytest.raises(ValueError, match="plan must cover every sequence"):
        run(grp=(0, 2))
    with pytest.raises(ValueError, match="order must index the sequences"):
        run(order=(0, 1, 5))
    with pytest.raises(ValueError, match=r"groups must hold 1\.\."):
        run(grp=(0, 0, 3), blk=(0, 2))
    with pytest.raises(ValueError, match="arena needs"):
        run(arena=10)
    with pytest.raises(ValueError, match="arena needs 2 rows"):
        run(threads=2, rows=1)
    with pytest.raises(ValueError, match="U must be one of"):
        run(U=3)
    with pytest.raises(ValueError, match="offsets must run from 0"):
        run(off=(0, 3, 6, 8))
    with pytest.raises(ValueError, match="sorted by length"):
        run(off=(0, 2, 6, 9))
