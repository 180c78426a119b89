"""Benchmark: emfast.CategoricalHMM vs hmmlearn (scaling, log), pomegranate and dynamax.

Workload (issue 15): 1000 sequences x 1000 steps, 32 symbols, K = 4 and K = 16, drawn
from a random sticky HMM. Every library starts from ONE shared random parameter set
(the same arrays, saved once and handed to the peers that live in other virtual
environments) and runs ``--n-iter`` EM iterations; we report seconds per iteration
(median over interleaved repeats of total / n_iter) for the whole ``fit`` and, for
emfast, the E-step alone, plus ns per step and GFLOP/s (6 K^2 + 10 K flops per step:
forward and backward matrix-vector products, transition sums, the rest). Variant: 10%
of the observations missing completely at random. emfast's whole-fit time is what
``CategoricalHMM.fit`` costs as it stands (validation, M-step, and any scoring E-step
the fit loop runs).

Peers (all optional; each is timed only when its interpreter can import it):
  hmmlearn   in this interpreter (e.g. /work/peers/bin/python)
  pomegranate  --pomegranate-python PATH (a venv with torch + pomegranate 1.1.2)
  dynamax    --dynamax-python PATH (a venv with jax + dynamax 1.0.3); ``fit_em`` from
             the same start with flat Dirichlet priors (concentration 1, so the M-step
             is maximum likelihood like everyone else's), float64 (jax_enable_x64) and
             float32 (JAX's default). fit_em compiles on every call, so the
             per-iteration time is (time of 3n iterations - time of n) / 2n and the rest
             of a call is reported apart as compile time (min over repeats, 3n vs n).

Other sections:
  --long        one sequence of T = 10^7 steps, K = 4: emfast vs hmmlearn per iteration
  --checkpoint  K = 16: full-memory pass vs checkpointed pass at T = 10^7 (same counts),
                and the checkpointed pass at --ckpt-T (10^8 by default) with the peak RSS
                it adds (the full pass there would need 13.6 GB of scratch)
  --peak        this core's double-precision peak for the roofline: single-threaded
                numpy matmul (OpenBLAS) and, as a reference, the 2-wide SSE2 kernels

Run (from the repository root, after ``python setup.py build_ext --inplace``):

    PYTHONPATH=src /work/peers/bin/python bench/hmm.py \\
        --pomegranate-python /work/venvs/pomegranate/bin/python \\
        --dynamax-python /work/venvs/dynamax/bin/python
    PYTHONPATH=src /work/peers/bin/python bench/hmm.py --only --long --checkpoint --peak

Thread counts are set explicitly: OMP/BLAS/torch/XLA threads = 1 for the peers, emfast
n_jobs = 1 and 2.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time
import warnings

import numpy as np


# ------------------------------------------------------------------ workload
def sticky_hmm(rng, K, M, stay=0.9):
    start = rng.dirichlet(np.ones(K))
    trans = (1 - stay) * rng.dirichlet(np.ones(K), size=K) + stay * np.eye(K)
    B = rng.dirichlet(np.full(M, 0.3), size=K)
    return start, trans, B


def simulate(rng, start, trans, B, n_seq, T):
    K, M = B.shape
    z = np.empty((n_seq, T), dtype=np.int64)
    z[:, 0] = (rng.random(n_seq)[:, None] > np.cumsum(start)).sum(1)
    cum = np.cumsum(trans, axis=1)
    for t in range(1, T):
        z[:, t] = (rng.random(n_seq)[:, None] > cum[z[:, t - 1]]).sum(1)
    z = np.minimum(z, K - 1)
    cumB = np.cumsum(B, axis=1)
    u = rng.random((n_seq, T))
    x = np.empty_like(z)
    for k in range(K):          # inverse-CDF sampling per state, vectorised
        sel = z == k
        x[sel] = np.searchsorted(cumB[k], u[sel], side="right")
    return np.minimum(x, M - 1)


def flops_per_step(K):
    return 6 * K * K + 10 * K


# ------------------------------------------------------------------ runners
def run_emfast(X, lengths, init, n_jobs, n_iter):
    import emfast
    start, trans, B = init
    m = emfast.CategoricalHMM(n_components=len(start), n_iter=n_iter, tol=-np.inf,
                              init_params="", n_jobs=n_jobs, n_features=B.shape[1])
    m.startprob_, m.transmat_, m.emissionprob_ = start, trans, B
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X.reshape(-1, 1), lengths)
    return m


def prepare_estep(X, lengths, init):
    """The arrays a fit hands its E-step (codes as int32, offsets, stacked tables), made
    once, so that the E-step rows time the E-step alone, not the conversion of the codes
    that a fit does once."""
    from emfast.data import check_lengths
    from emfast.hmm import _stack_emissions
    codes = np.ascontiguousarray(X.reshape(-1, 1), dtype=np.int32)
    offsets = check_lengths(lengths, len(codes))
    emitT, choff = _stack_emissions([init[2]])
    return codes, offsets, init[0], init[1], emitT, choff


def estep_emfast(prepared, n_jobs):
    from emfast.kernels import estep_codes
    return estep_codes(*prepared, n_jobs)


def run_hmmlearn(X, lengths, init, impl, n_iter):
    from hmmlearn import hmm
    start, trans, B = init
    m = hmm.CategoricalHMM(n_components=len(start), n_iter=n_iter, tol=-np.inf,
                           init_params="", implementation=impl, n_features=B.shape[1])
    m.startprob_, m.transmat_, m.emissionprob_ = start, trans, B
    m.fit(X.reshape(-1, 1), lengths)
    return m


# ------------------------------------------------------------------ peer workers
def worker_pomegranate(d, n_iter, repeats):
    import torch
    from pomegranate.distributions import Categorical
    from pomegranate.hmm import DenseHMM
    torch.set_num_threads(1)
    start, trans, B = d["start"], d["trans"], d["B"]
    Xseq = d["X"].reshape(int(d["n_seq"]), -1)
    out = {}
    for label, mask in (("complete", None), ("10% missing", d["mask"])):
        times = []
        for r in range(repeats):
            dists = [Categorical(torch.tensor(B[k:k + 1], dtype=torch.float32))
                     for k in range(len(B))]
            f32 = np.float32
            model = DenseHMM(dists, edges=trans.astype(f32), starts=start.astype(f32),
                             ends=np.full(len(start), 1e-3, dtype=f32), max_iter=n_iter,
                             tol=0.0, verbose=False)
            X = torch.tensor(Xseq[:, :, None])
            if mask is not None:
                m = torch.tensor(mask.reshape(Xseq.shape)[:, :, None])
                X = torch.masked.MaskedTensor(torch.where(m, X, 0), mask=m)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X)
            times.append((time.perf_counter() - t0) / n_iter)
        out[label] = {"iter_s": statistics.median(times)}
    return out


def worker_dynamax(d, n_iter, repeats):
    import jax
    out = {}
    for x64 in (True, False):
        jax.config.update("jax_enable_x64", x64)
        import jax.numpy as jnp
        from dynamax.hidden_markov_model import CategoricalHMM
        dt = jnp.float64 if x64 else jnp.float32
        start, trans, B = d["start"], d["trans"], d["B"]
        K, M = B.shape
        hmm = CategoricalHMM(K, 1, M, initial_probs_concentration=1.0,
                             transition_matrix_concentration=1.0,
                             emission_prior_concentration=1.0)
        params, props = hmm.initialize(jax.random.PRNGKey(0),
                                       initial_probs=jnp.asarray(start, dt),
                                       transition_matrix=jnp.asarray(trans, dt),
                                       emission_probs=jnp.asarray(B[:, None, :], dt))
        emissions = jnp.asarray(d["X"].reshape(int(d["n_seq"]), -1, 1), dtype=jnp.int32)
        def timed(n):
            t0 = time.perf_counter()
            p1, lps = hmm.fit_em(params, props, emissions, num_iters=n, verbose=False)
            jax.block_until_ready(lps)
            return time.perf_counter() - t0, lps
        first, lps = timed(n_iter)
        # fit_em traces and compiles on every call: the per-iteration time is the
        # difference between 2n and n iterations; the rest of a call is compile time
        t1, t2 = [], []
        for r in range(max(repeats, 2)):
            t1.append(timed(n_iter)[0])
            t2.append(timed(3 * n_iter)[0])
        per = max(min(t2) - min(t1), 0.0) / (2 * n_iter)
        first = min(t1)
        out["float64" if x64 else "float32"] = {
            "iter_s": per, "compile_s": max(first - per * n_iter, 0.0),
            "ll": [float(v) for v in np.asarray(lps)]}
    return out


def call_worker(python, name, data, n_iter, repeats):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.npz")
        np.savez(path, **data)
        cmd = [python, os.path.abspath(__file__), "--worker", name, "--data", path,
               "--n-iter", str(n_iter), "--repeats", str(repeats)]
        res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(f"  {name}: worker failed:\n{res.stderr[-2000:]}")
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ sections
def header():
    import emfast
    from emfast import _kernels, kernels
    print(f"machine: {platform.platform()} | {platform.processor() or platform.machine()} | "
          f"cpus={os.cpu_count()} | python {platform.python_version()} | numpy {np.__version__}")
    print(f"emfast {emfast.__version__} openmp={_kernels.openmp_enabled()} "
          f"max_threads={_kernels.max_threads()} simd={kernels.simd_backend()}")
    print(f"load average: {os.getloadavg()}")


def section_fits(args):
    have = {}
    try:
        import hmmlearn
        have["hmmlearn"] = hmmlearn.__version__
    except ImportError:
        pass
    print("in-process peers:", have or "none", "| pomegranate python:",
          args.pomegranate_python, "| dynamax python:", args.dynamax_python)
    n_it = args.n_iter
    print(f"workload: {args.n_seq} sequences x {args.T} steps, {args.M} symbols, {n_it} EM "
          f"iterations; s/iter = median(total)/{n_it} over {args.repeats} interleaved repeats")
    for K in args.K:
        rng = np.random.default_rng(20261125 + K)
        truth = sticky_hmm(rng, K, args.M)
        Xseq = simulate(rng, *truth, args.n_seq, args.T)
        X = Xseq.ravel()
        lengths = np.full(args.n_seq, args.T)
        init = (rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
                rng.dirichlet(np.ones(args.M), size=K))
        mask = rng.random(Xseq.shape) >= 0.10        # True = observed
        Xmiss = np.where(mask, Xseq, -1).ravel()
        N = X.size
        configs = {}
        # 1 and 2 threads back to back in every repeat, so that their ratio can be taken
        # pair by pair (the machine's speed drifts between repeats)
        for j in (1, 2):
            configs[f"emfast fit n_jobs={j}"] = (
                lambda j=j: run_emfast(X, lengths, init, j, n_it), n_it)
        for j in (1, 2):
            configs[f"emfast fit n_jobs={j} 10% missing"] = (
                lambda j=j: run_emfast(Xmiss, lengths, init, j, n_it), n_it)
        for j in (1, 2):
            configs[f"emfast E-step n_jobs={j}"] = (
                lambda j=j, p=prepare_estep(X, lengths, init): estep_emfast(p, j), 1)
        for j in (1, 2):
            configs[f"emfast E-step n_jobs={j} 10% missing"] = (
                lambda j=j, p=prepare_estep(Xmiss, lengths, init): estep_emfast(p, j), 1)
        if "hmmlearn" in have:
            for impl in ("scaling", "log"):
                configs[f"hmmlearn {impl}"] = (
                    lambda impl=impl: run_hmmlearn(X, lengths, init, impl, n_it), n_it)
        # bit-identical across thread counts, and the hmmlearn trajectory
        h = {j: run_emfast(X, lengths, init, j, n_it) for j in (1, 2)}
        same = all(np.array_equal(getattr(h[1], a), getattr(h[2], a))
                   for a in ("startprob_", "transmat_", "emissionprob_"))
        print(f"\nK={K}: emfast n_jobs=1 and n_jobs=2 give identical parameters: {same}")
        ours = np.asarray(h[1].monitor_.history[:n_it])
        if "hmmlearn" in have:
            ref = np.asarray(run_hmmlearn(X, lengths, init, "scaling", n_it).monitor_.history)
            print(f"K={K}: max rel. diff of the log-likelihood trajectory vs hmmlearn scaling "
                  f"({len(ref)} iterations): {np.max(np.abs(ours - ref) / np.abs(ref)):.2e}")
        wall = {k: [] for k in configs}
        for r in range(args.repeats):
            for name, (fn, div) in configs.items():
                if name.startswith("hmmlearn") and r >= args.peer_repeats:
                    continue
                t0 = time.perf_counter()
                fn()
                wall[name].append((time.perf_counter() - t0) / div)
        pw = {k: statistics.median(v) for k, v in wall.items() if v}
        data = {"start": init[0], "trans": init[1], "B": init[2], "X": X, "mask": mask.ravel(),
                "n_seq": np.array(args.n_seq)}
        if args.pomegranate_python:
            res = call_worker(args.pomegranate_python, "pomegranate", data, n_it,
                              args.peer_repeats)
            if res:
                pw["pomegranate"] = res["complete"]["iter_s"]
                pw["pomegranate 10% missing"] = res["10% missing"]["iter_s"]
        dyn = None
        if args.dynamax_python:
            dyn = call_worker(args.dynamax_python, "dynamax", data, n_it, args.peer_repeats)
            if dyn:
                for prec, v in dyn.items():
                    pw[f"dynamax fit_em {prec}"] = v["iter_s"]
                ll = np.asarray(dyn["float64"]["ll"])
                # dynamax reports log p(x) + log prior: with flat Dirichlet priors the prior
                # is the constant log normaliser of the Dirichlets, removed here
                off = ours[0] - ll[0]
                print(f"K={K}: max rel. diff of the trajectory vs dynamax float64 (minus the "
                      f"constant log prior {-off:.3f}): "
                      f"{np.max(np.abs(ours - off - ll) / np.abs(ll)):.2e}")
        print(f"\nK={K}   median seconds per EM iteration (wall); E-step rows: one E-step")
        for k, v in pw.items():
            extra = ""
            if k.startswith("emfast E-step"):
                ns = v / N * 1e9
                extra = f"  {ns:6.1f} ns/step  {flops_per_step(K) / ns:5.1f} GFLOP/s"
            if k.startswith("dynamax"):
                extra = f"  (compile {dyn[k.split()[-1]]['compile_s']:.2f} s, apart)"
            print(f"  {k:38s} {v:9.4f}{extra}")
        def paired(a, b):
            return statistics.median(x / y for x, y in zip(wall[a], wall[b]))

        e1, e2 = pw["emfast fit n_jobs=1"], pw["emfast fit n_jobs=2"]
        print(f"  emfast fit 1 thread / 2 threads:                 {e1 / e2:6.2f}x "
              f"(median of paired ratios {paired('emfast fit n_jobs=1', 'emfast fit n_jobs=2'):.2f}x)")
        m1 = pw["emfast fit n_jobs=1 10% missing"]
        print(f"  emfast fit 10% missing / complete (1 thread):    {m1 / e1:6.2f}x")
        s1, s2 = pw["emfast E-step n_jobs=1"], pw["emfast E-step n_jobs=2"]
        print(f"  emfast E-step 1 thread / 2 threads:              {s1 / s2:6.2f}x "
              f"(paired {paired('emfast E-step n_jobs=1', 'emfast E-step n_jobs=2'):.2f}x)")
        for peer in [k for k in pw if not k.startswith("emfast")]:
            ours_k = "emfast fit n_jobs=1 10% missing" if "missing" in peer else \
                "emfast fit n_jobs=1"
            print(f"  {peer:30s} / {ours_k:32s} {pw[peer] / pw[ours_k]:6.1f}x")


def _long_data(K, T, M, seed):
    """One long sequence from a sticky chain (geometric dwell times, mean 10 steps),
    emissions from a random sparse table; vectorised (simulate() loops over t)."""
    rng = np.random.default_rng(seed)
    truth = sticky_hmm(rng, K, M)
    n_seg = T // 5 + 10
    dwell = rng.geometric(0.1, size=n_seg)
    while dwell.sum() < T:
        dwell = np.concatenate([dwell, rng.geometric(0.1, size=n_seg)])
    z = np.repeat(rng.integers(0, K, size=len(dwell)).astype(np.int8), dwell)[:T]
    cumB = np.cumsum(truth[2], axis=1)
    X = np.empty(T, dtype=np.int32)
    for k in range(K):
        sel = np.flatnonzero(z == k)
        X[sel] = np.minimum(np.searchsorted(cumB[k], rng.random(len(sel)), side="right"), M - 1)
    del z
    init = (rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
            rng.dirichlet(np.ones(M), size=K))
    return X, init


def section_long(args):
    K, T = 4, args.long_T
    X, init = _long_data(K, T, args.M, 7)
    print(f"\none sequence: T = {T:.0e}, K = {K}, {args.M} symbols, {args.long_iter} "
          "iterations, 1 thread (wall s/iter, median of repeats)")
    res = {}
    for r in range(args.peer_repeats):
        for name, fn in (("emfast fit", lambda: run_emfast(X, None, init, 1, args.long_iter)),
                         ("hmmlearn scaling", lambda: run_hmmlearn(X, None, init, "scaling",
                                                                  args.long_iter))):
            try:
                t0 = time.perf_counter()
                fn()
                res.setdefault(name, []).append((time.perf_counter() - t0) / args.long_iter)
            except ImportError:
                pass
        prepared = prepare_estep(X, None, init)
        t0 = time.perf_counter()
        estep_emfast(prepared, 1)
        res.setdefault("emfast E-step", []).append(time.perf_counter() - t0)
    for k, v in res.items():
        print(f"  {k:20s} {statistics.median(v):8.3f} s   "
              f"{statistics.median(v) / T * 1e9:6.1f} ns/step")
    if "hmmlearn scaling" in res:
        print(f"  hmmlearn / emfast fit: "
              f"{statistics.median(res['hmmlearn scaling']) / statistics.median(res['emfast fit']):.1f}x")


def section_checkpoint(args):
    from emfast.data import check_lengths
    from emfast.hmm import _stack_emissions
    from emfast.kernels import estep_codes
    K = 16
    print(f"\ncheckpointed forward-backward, K = {K}, one sequence, 1 thread")
    runs = [(args.ckpt_full_T, ("full", "checkpointed"))]
    if args.ckpt_T:
        runs.append((args.ckpt_T, ("checkpointed",)))
    for T, modes in runs:
        X, init = _long_data(K, T, args.M, 11)
        codes = np.ascontiguousarray(X.reshape(-1, 1), dtype=np.int32)
        del X
        offsets = check_lengths(None, len(codes))
        emitT, choff = _stack_emissions([init[2]])
        out = {}
        for mode in modes:
            import tracemalloc
            tracemalloc.start()
            t0 = time.perf_counter()
            c0 = time.process_time()
            if mode == "full":   # forced: by default a scratch this large checkpoints
                from emfast import kernels
                W = kernels._hmm.simd_width()
                Kp = -(-K // W) * W
                emitTp = np.zeros((emitT.shape[0], Kp))
                emitTp[:, :K] = emitT
                r = kernels._run(codes, None, offsets, init[0], init[1], emitTp, choff, 1,
                                 counts=True, posteriors=False, post_dtype=np.float64,
                                 what="", max_memory=1 << 40, ckpt=0)
            else:
                r = estep_codes(codes, offsets, init[0], init[1], emitT, choff, 1,
                                max_memory=64 << 20)
            w, c = time.perf_counter() - t0, time.process_time() - c0
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            out[mode] = (w, c, r)
            print(f"  T = {T:.0e} {mode:12s} wall {w:8.2f} s  cpu {c:8.2f} s  "
                  f"{c / T * 1e9:6.1f} ns/step; extra memory (tracemalloc peak) "
                  f"{peak / 2**20:8.1f} MiB (input codes {codes.nbytes / 2**20:.0f} MiB)")
        if len(out) == 2:
            f, k = out["full"][2], out["checkpointed"][2]
            same = all(np.array_equal(a, b) for a, b in zip(f[:4], k[:4]))
            rel = max(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-300))
                      for a, b in zip(f[:4], k[:4]))
            print(f"  checkpointed / full (cpu): {out['checkpointed'][1] / out['full'][1]:.2f}x; "
                  f"counts and log-likelihood bit-identical: {same} (max rel diff {rel:.1e})")
        del codes


def section_peak(args):
    n = 1500
    a = np.random.default_rng(0).random((n, n))
    a @ a
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        a @ a
        ts.append(time.perf_counter() - t0)
    print(f"\npeak reference: single-thread numpy matmul {2 * n ** 3 / min(ts) / 1e9:.1f} "
          f"GFLOP/s (OpenBLAS, best of 5)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--K", type=int, nargs="+", default=[4, 16])
    ap.add_argument("--n-seq", type=int, default=1000)
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--M", type=int, default=32)
    ap.add_argument("--n-iter", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer-repeats", type=int, default=1)
    ap.add_argument("--pomegranate-python")
    ap.add_argument("--dynamax-python")
    ap.add_argument("--only", action="store_true", help="skip the multi-sequence fits")
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--long-T", type=int, default=10 ** 7)
    ap.add_argument("--long-iter", type=int, default=2)
    ap.add_argument("--checkpoint", action="store_true")
    ap.add_argument("--ckpt-full-T", type=int, default=10 ** 7)
    ap.add_argument("--ckpt-T", type=int, default=10 ** 8)
    ap.add_argument("--peak", action="store_true")
    ap.add_argument("--worker", choices=["pomegranate", "dynamax"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        d = dict(np.load(args.data))
        fn = worker_pomegranate if args.worker == "pomegranate" else worker_dynamax
        print(json.dumps(fn(d, args.n_iter, args.repeats)))
        return
    header()
    if not args.only:
        section_fits(args)
    if args.long:
        section_long(args)
    if args.checkpoint:
        section_checkpoint(args)
    if args.peak:
        section_peak(args)


if __name__ == "__main__":
    main()
