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
