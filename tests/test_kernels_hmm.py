"""Tests of the public low-level HMM kernels (emfast.kernels)."""
import numpy as np
import pytest

from emfast import kernels

from _oracle_hmm import hmm_by_enumeration


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
    with pytest.raises(ValueError, match=r"startprob must sum to 1"):
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


def test_sequence_blocks():
    from emfast.kernels import _seq_blocks
    offsets = np.concatenate([[0], np.cumsum([10] * 200)])
    ptr = _seq_blocks(offsets)
    assert ptr[0] == 0 and ptr[-1] == 200 and len(ptr) == 65 and np.all(np.diff(ptr) > 0)
    assert set(np.diff(ptr)) <= {3, 4}                       # about equal steps per block
    # one long sequence among short ones: its block holds it alone, none is empty
    offsets = np.concatenate([[0], np.cumsum([1] * 10 + [10_000] + [1] * 10)])
    ptr = _seq_blocks(offsets)
    assert ptr[0] == 0 and ptr[-1] == 21 and np.all(np.diff(ptr) > 0)
    assert _seq_blocks(np.array([0, 7])).tolist() == [0, 1]


def test_kernel_rejects_bad_blocks(rng):
    from emfast import _kernels
    from emfast.kernels import _slab
    K, S, N = 2, 3, 9
    offsets = np.array([0, 3, 6, 9], dtype=np.int64)
    start, trans = np.full(K, 0.5), np.full((K, K), 0.5)
    frame = np.ones((N, K))

    def run(blocks, B=2, threads=1):
        return _kernels.hmm_fb_frames(frame, offsets, np.asarray(blocks, dtype=np.int64), start,
                                      trans, trans.T.copy(), np.empty(S), np.zeros(S, np.int32),
                                      np.zeros(S, np.int64), _slab(threads, 3 * K, False),
                                      _slab(threads, 3, False), _slab(threads, 7 * K, False),
                                      _slab(B, K * K), np.empty((N, K)), True, True, threads)
    run([0, 1, 3])
    with pytest.raises(ValueError, match="block_ptr must start at 0 and end at the number"):
        run([0, 1, 2])
    with pytest.raises(ValueError, match="block_ptr must start at 0"):
        run([1, 3])
    with pytest.raises(ValueError, match="block_ptr must be non-decreasing"):
        run([0, 2, 1, 3], B=3)
    with pytest.raises(ValueError, match="count slabs need one row per block"):
        run([0, 1, 2, 3], B=2)
    with pytest.raises(ValueError, match="scratch buffers need one row per thread"):
        _kernels.hmm_fb_frames(frame, offsets, np.array([0, 3], np.int64), start, trans,
                               trans.T.copy(), np.empty(S), np.zeros(S, np.int32),
                               np.zeros(S, np.int64), _slab(1, 3 * K, False),
                               _slab(1, 3, False), _slab(1, 7 * K, False), _slab(1, K * K),
                               np.empty((N, K)), True, True, 2)
