"""Partitioned E-step on dask.distributed: 1 vs 2 workers, overheads, out-of-core (issue 13).

Sections (each prints a table):

1. scaling: seconds per E-step (= per EM iteration, the M-step on the client is
   microseconds) of the same data in P partitions, in this process (no dask, one
   thread) and on a LocalCluster with 1 and with 2 worker processes (one thread each,
   ``n_jobs=1`` inside a task), and the speed-up 2 vs 1 worker. Workloads: a latent
   class model (N rows x 20 items, 3 categories, K = 4, 10 % missing), ALARM (N sampled
   rows, LVEDVOLUME hidden) and a categorical HMM (S sequences x L steps, K = 8,
   8 symbols, 10 % missing). The partitions are generated on the workers from seeds
   (nothing is shipped from the client), validated and row-compressed there once.
   ``--clusters both`` (default) keeps both clusters up and alternates their E-steps
   (same background load; the idle cluster costs the measured one a little CPU),
   ``--clusters one-at-a-time`` runs one cluster at a time, ``--rounds`` times each.
2. overhead: E-step time with P tiny partitions (100 rows) on 2 workers, for several P;
   the least-squares line t = a + b P gives the fixed overhead per iteration a
   (scheduling, sending θ, the reduction, the result) and the cost per partition b.
3. out-of-core: latent class rows (``--ooc-family lca``) or ALARM rows (``bn``) written
   to Parquet (files of 10^6 rows, int8), then fitted in a subprocess from
   ``emfast.distributed.from_parquet(..., persist=False)`` on the local threaded
   scheduler (2 threads): every pass streams the files; peak RSS (``getrusage`` of the
   child, whole process) and seconds per pass.
4. engines: on the same cluster (1 and 2 workers), E-steps of the same partitions with
   the actor engine (one call per worker, the default) and the task engine (one task
   per block: ``partitions(..., actors=False)``), alternated; medians and the median of
   the paired ratios. Not in the default sections (run ``--sections engines``).
5. workers: the overhead against the number of workers: E-steps of 2 tiny partitions
   (100 LCA rows) per worker on LocalClusters of ``--workers`` worker processes (more
   processes than cores: their event loops share the cores, so the slope per worker is
   an upper bound of the cost a worker adds on a cluster with a core per worker), both
   engines. Not in the default sections (``--sections workers``).

``--engine`` picks the engine of sections 1 and 2 (default: actors). The LocalCluster
workers run with dask's statistical profiler off (``distributed.worker.profile.enabled``,
the tuning docs/distributed.md recommends for short E-steps); ``--worker-profiler on``
keeps dask's default.

Run::

    PYTHONPATH=src python bench/distributed.py                 # full (several minutes)
    PYTHONPATH=src python bench/distributed.py --quick         # seconds

Timings on a shared machine are noisy: medians of ``--repeats`` E-steps, load printed.
"""
import argparse
import contextlib
import functools
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

# this file is named like the dask.distributed package: keep its folder off the path
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import emfast as em                                              # noqa: E402
from emfast import distributed as edist                           # noqa: E402
from emfast.bayesnet import _bn_part_estep, _bn_prepare           # noqa: E402
from emfast.hmm import _hmm_part_estep, _hmm_prepare              # noqa: E402
from emfast.mixture import LatentClassModel, _lca_part_estep, _lca_prepare  # noqa: E402

J, M, K_LCA = 20, 3, 4
K_HMM, M_HMM = 8, 8


# ------------------------------------------------------------------ partition makers
def lca_part(seed, n):
    """n latent class rows (int8 codes, 10 % missing) from a fixed model."""
    truth = np.random.default_rng(12345)
    w = truth.dirichlet(np.full(K_LCA, 5.0))
    items = truth.dirichlet(np.full(M, 2.0), size=(J, K_LCA))          # (J, K, M)
    rng = np.random.default_rng(seed)
    z = rng.choice(K_LCA, size=n, p=w)
    X = np.empty((n, J), dtype=np.int8)
    for j in range(J):
        c = np.cumsum(items[j][z], axis=1)
        X[:, j] = np.minimum((rng.random(n)[:, None] >= c).sum(axis=1), M - 1)
    X[rng.random(X.shape) < 0.1] = -1
    return X


def bn_part(seed, n):
    net = em.datasets.load_network("alarm")
    X = np.asarray(net.sample(n, random_state=seed))
    X[:, net.variables.index("LVEDVOLUME")] = -1
    return X


def hmm_part(seed, n_seq, length):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, M_HMM, size=n_seq * length).astype(np.int32)
    X[rng.random(X.size) < 0.1] = -1
    return X


def lca_setup():
    cards = [M] * J
    offsets, S = LatentClassModel._layout(cards)
    rng = np.random.default_rng(0)
    theta = [rng.dirichlet(np.ones(K_LCA)),
             np.concatenate([rng.dirichlet(np.ones(M), size=K_LCA) for _ in range(J)], axis=1)]
    return functools.partial(_lca_prepare, None, None), _lca_part_estep, (offsets, S, 1), theta


def bn_setup():
    net = em.datasets.load_network("alarm")
    v = net.variables
    prep = functools.partial(_bn_prepare, list(v), [net.cardinalities[x] for x in v],
                             [net.states[x] for x in v], None)
    return prep, _bn_part_estep, (net, 1), net._theta()


def hmm_setup():
    rng = np.random.default_rng(0)
    theta = [rng.dirichlet(np.ones(K_HMM)), rng.dirichlet(np.ones(K_HMM), size=K_HMM),
             rng.dirichlet(np.ones(M_HMM), size=K_HMM)]
    return functools.partial(_hmm_prepare, M_HMM), _hmm_part_estep, 1, theta


def family_parts(family, args, P):
    """Loaders of the P partitions of a family's workload, and their lengths."""
    if family == "lca":
        sizes = np.diff(np.linspace(0, args.rows, P + 1).astype(np.int64))
        return [edist.Loader(lca_part, (1000 + i, int(n))) for i, n in enumerate(sizes)], None
    if family == "bn":
        sizes = np.diff(np.linspace(0, args.bn_rows, P + 1).astype(np.int64))
        return [edist.Loader(bn_part, (2000 + i, int(n))) for i, n in enumerate(sizes)], None
    seqs = np.diff(np.linspace(0, args.seqs, P + 1).astype(np.int64))
    parts = [edist.Loader(hmm_part, (3000 + i, int(s), args.seq_len)) for i, s in enumerate(seqs)]
    return parts, [np.full(int(s), args.seq_len) for s in seqs]


SETUP = {"lca": lca_setup, "bn": bn_setup, "hmm": hmm_setup}


def median_estep(engine, part_estep, static, theta, repeats, detail=False):
    """Median and best wall time of an E-step; with ``detail`` also the medians of the
    summed block CPU time, the largest block CPU time and the time outside the block
    tasks (wall minus the slowest block's wall: scheduling, sending, gathering)."""
    estep = engine.estep(part_estep, static)
    estep(theta)                                    # warm: static on the workers
    ts, cpu, cmax, rest = [], [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        estep(theta)
        ts.append(time.perf_counter() - t)
        if engine.block_times:
            cpu.append(sum(c for _, c in engine.block_times))
            cmax.append(max(c for _, c in engine.block_times))
            rest.append(ts[-1] - max(w for w, _ in engine.block_times))
    out = (statistics.median(ts), min(ts))
    if detail:
        out += tuple(statistics.median(v) if v else float("nan") for v in (cpu, cmax, rest))
    return out


def local_estep(family, args, repeats):
    """This process, one thread, no dask: the whole data as one partition."""
    prep, part_estep, static, theta = SETUP[family]()
    parts, lengths = family_parts(family, args, args.partitions)
    data = [p() for p in parts]
    X = np.concatenate(data)
    ln = np.concatenate(lengths) if lengths is not None else None
    state, _ = prep(X, ln)
    del X, data
    part_estep(static, state, theta)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        part_estep(static, state, theta)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts)


DIRECT = False          # --direct-client: Client(direct_to_workers=True)
PROFILER = False        # --worker-profiler on: dask's statistical profiler left on


@contextlib.contextmanager
def cluster(n_workers):
    """A LocalCluster of ``n_workers`` one-thread worker processes; yields its client."""
    import dask
    from distributed import Client, LocalCluster

    # the nannies copy the config into their worker processes when they are built
    with warnings.catch_warnings(), \
            dask.config.set({"distributed.worker.profile.enabled": PROFILER}):
        warnings.simplefilter("ignore")
        lc = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=50)
    client = Client(lc, set_as_default=False, direct_to_workers=DIRECT or None)
    try:
        yield client
    finally:
        client.close()
        lc.close()


def _scaling_runs(f, args, clients, repeats, runs):
    """Prepare family ``f``'s partitions on each client ({n_workers: client}), then run
    ``repeats`` E-steps on each, alternated; append wall / block CPU times to ``runs``."""
    prep, part_estep, static, theta = SETUP[f]()
    parts, lengths = family_parts(f, args, args.partitions)
    esteps, engines = {}, {}
    try:
        for w, client in clients.items():
            t0 = time.perf_counter()
            engines[w] = edist.PartitionedEStep(
                edist.Partitions(parts, lengths=lengths, client=client,
                                 actors=args.engine == "actors"), prep)
            esteps[w] = engines[w].estep(part_estep, static)
            esteps[w](theta)                            # warm: static on the workers
            print(f"  {f}: {w} worker(s) prepared in {time.perf_counter() - t0:.1f} s",
                  flush=True)
        for _ in range(repeats):
            for w in clients:
                t = time.perf_counter()
                esteps[w](theta)
                wall = time.perf_counter() - t
                bt = engines[w].block_times
                runs[w]["wall"].append(wall)
                runs[w]["cpu"].append(sum(c for _, c in bt))
                runs[w]["cmax"].append(max(c for _, c in bt))
                runs[w]["rest"].append(wall - max(x for x, _ in bt))
    finally:
        for e in engines.values():
            e.close()


def section_scaling(args):
    print(f"\n## 1. scaling: s per E-step (median of {args.repeats}; best in brackets), "
          f"P = {args.partitions} partitions, clusters: {args.clusters}, engine: {args.engine}")
    print(f"workloads: LCA {args.rows:,} rows x {J} items, ALARM {args.bn_rows:,} rows, "
          f"HMM {args.seqs:,} sequences x {args.seq_len} steps (K={K_HMM}, M={M_HMM})")
    results = {f: {} for f in args.families}
    for f in args.families:
        results[f]["local"] = local_estep(f, args, args.repeats)
        print(f"  {f}: local 1 thread {results[f]['local'][0]:.3f} s", flush=True)
    runs = {f: {w: {"wall": [], "cpu": [], "cmax": [], "rest": []} for w in (1, 2)}
            for f in args.families}
    if args.clusters == "both":
        # both clusters up at once, the E-steps alternated between them (1, 2, 1, 2, ...)
        # so that both see the same background load; medians of the alternated runs
        # (the idle cluster's processes then cost the measured one CPU: docs/distributed.md)
        with contextlib.ExitStack() as stack:
            clients = {w: stack.enter_context(cluster(w)) for w in (1, 2)}
            for f in args.families:
                _scaling_runs(f, args, clients, args.repeats, runs[f])
    else:
        # one cluster at a time (1 worker, then 2 workers, ``--rounds`` times): no idle
        # cluster beside the measured one, but the two are measured minutes apart
        for rnd in range(args.rounds):
            for w in (1, 2):
                with cluster(w) as client:
                    for f in args.families:
                        _scaling_runs(f, args, {w: client}, args.repeats, runs[f])
    for f in args.families:
        for w in (1, 2):
            r = runs[f][w]
            results[f][w] = (statistics.median(r["wall"]), min(r["wall"]),
                             statistics.median(r["cpu"]), statistics.median(r["cmax"]),
                             statistics.median(r["rest"]))
            print(f"  {f}: {w} worker(s) {results[f][w][0]:.3f} s", flush=True)
    print("\nwall s per E-step, median (best); CPU = summed CPU time of the block tasks "
          "(median); 'own cores' = (1-worker block CPU + its time outside the block) / "
          "(largest 2-worker block CPU + time outside the blocks): the speed-up if each "
          "worker had a core to itself (an estimate from CPU times, not a measurement)")
    print("\n| workload | local, 1 thread | 1 worker | 2 workers | speed-up 2 vs 1 worker "
          "| CPU 1 worker | CPU 2 workers (largest block) | outside blocks, 2 w | own cores |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    names = {"lca": f"LCA {args.rows:.0e} rows", "bn": f"ALARM {args.bn_rows:.0e} rows",
             "hmm": f"HMM {args.seqs:.0e} seq x {args.seq_len}"}
    for f in args.families:
        r = results[f]
        print(f"| {names[f]} | {r['local'][0]:.3f} ({r['local'][1]:.3f}) | "
              f"{r[1][0]:.3f} ({r[1][1]:.3f}) | {r[2][0]:.3f} ({r[2][1]:.3f}) | "
              f"{r[1][0] / r[2][0]:.2f}x (best {r[1][1] / r[2][1]:.2f}x) | {r[1][2]:.3f} | "
              f"{r[2][2]:.3f} ({r[2][3]:.3f}) | {1e3 * r[2][4]:.0f} ms | "
              f"{(r[1][2] + r[1][4]) / (r[2][3] + r[2][4]):.2f}x |")
    return results


def tiny_estep(client, n_parts, actors, repeats):
    """Median and best wall time of an E-step over ``n_parts`` tiny partitions (100 LCA
    rows each), and the CPU time of this process (the client and the LocalCluster's
    scheduler) per E-step, the warm-up E-step included."""
    prep, part_estep, static, theta = lca_setup()
    parts = [edist.Loader(lca_part, (5000 + i, 100)) for i in range(n_parts)]
    engine = edist.PartitionedEStep(edist.Partitions(parts, client=client, actors=actors), prep)
    c0 = time.process_time()
    med, best = median_estep(engine, part_estep, static, theta, repeats)
    cpu = (time.process_time() - c0) / (repeats + 1)
    engine.close()
    return med, best, cpu


def section_overhead(args):
    print(f"\n## 2. overhead: tiny partitions (100 LCA rows each), 2 workers, median of "
          f"{args.repeats_small} E-steps, engine: {args.engine}")
    rows = []
    with cluster(2) as client:
        for P in args.overhead_parts:
            med, best, _ = tiny_estep(client, P, args.engine == "actors", args.repeats_small)
            rows.append((P, med, best))
            print(f"  P={P}: {1e3 * med:.1f} ms", flush=True)
    P = np.array([r[0] for r in rows], float)
    t = np.array([r[1] for r in rows])
    b, a = np.polyfit(P, t, 1)
    print("\n| partitions | ms per E-step (median) | best |")
    print("| --- | --- | --- |")
    for p, med, best in rows:
        print(f"| {p} | {1e3 * med:.1f} | {1e3 * best:.1f} |")
    print(f"\nfit t = a + b P: fixed overhead a = {1e3 * a:.1f} ms per iteration, "
          f"b = {1e3 * b:.2f} ms per partition (target: a <= 50 ms, b <= 2 ms)")
    return a, b


def section_engines(args):
    print(f"\n## 4. engines: actors vs tasks on the same cluster, {args.repeats} alternated "
          f"E-steps each, P = {args.partitions} partitions")
    rows = []
    for w in (1, 2):
        with cluster(w) as client:
            for f in args.families:
                prep, part_estep, static, theta = SETUP[f]()
                parts, lengths = family_parts(f, args, args.partitions)
                engines = {a: edist.PartitionedEStep(
                    edist.Partitions(parts, lengths=lengths, client=client, actors=a), prep)
                    for a in (False, True)}
                try:
                    esteps = {a: e.estep(part_estep, static) for a, e in engines.items()}
                    first = {a: es(theta) for a, es in esteps.items()}    # warm; same bits
                    same = (first[True][1] == first[False][1]
                            and all(np.array_equal(x, y)
                                    for x, y in zip(first[True][0], first[False][0])))
                    ts = {False: [], True: []}
                    for r in range(args.repeats):
                        for a in ((False, True) if r % 2 == 0 else (True, False)):
                            t = time.perf_counter()
                            esteps[a](theta)
                            ts[a].append(time.perf_counter() - t)
                finally:
                    for e in engines.values():
                        e.close()
                ratio = statistics.median(x / y for x, y in zip(ts[False], ts[True]))
                rows.append((f, w, statistics.median(ts[False]), statistics.median(ts[True]),
                             ratio, same))
                print(f"  {f}, {w} worker(s): tasks {statistics.median(ts[False]):.4f} s, "
                      f"actors {statistics.median(ts[True]):.4f} s", flush=True)
    print("\n| workload | workers | tasks, s per E-step | actors | tasks / actors (median of "
          "paired ratios) | same bits |")
    print("| --- | --- | --- | --- | --- | --- |")
    for f, w, a, b, r, same in rows:
        print(f"| {f} | {w} | {a:.4f} | {b:.4f} | {r:.3f} | {same} |")
    return rows


def section_workers(args):
    print(f"\n## 5. overhead against workers: 2 tiny partitions (100 LCA rows) per worker, "
          f"median of {args.repeats_small} E-steps")
    rows = []
    for W in args.workers:
        with cluster(W) as client:
            client.wait_for_workers(W)
            for actors in (True, False):
                # the client CPU per E-step is the serial part that grows with the workers
                med, best, cpu = tiny_estep(client, 2 * W, actors, args.repeats_small)
                rows.append((W, actors, med, best, cpu))
                print(f"  {W} workers, {'actors' if actors else 'tasks'}: {1e3 * med:.1f} ms",
                      flush=True)
    print(f"\nclient direct_to_workers: {DIRECT}; client CPU = CPU time of this process (client "
          "and scheduler) per E-step")
    print("\n| workers | actors: ms per E-step (best) | actors: client CPU ms | tasks: ms per "
          "E-step (best) | tasks: client CPU ms |")
    print("| --- | --- | --- | --- | --- |")
    for W in args.workers:
        a = [r for r in rows if r[0] == W and r[1]][0]
        t = [r for r in rows if r[0] == W and not r[1]][0]
        print(f"| {W} | {1e3 * a[2]:.1f} ({1e3 * a[3]:.1f}) | {1e3 * a[4]:.2f} | "
              f"{1e3 * t[2]:.1f} ({1e3 * t[3]:.1f}) | {1e3 * t[4]:.2f} |")
    for actors in (True, False):
        W = np.array([r[0] for r in rows if r[1] == actors], float)
        for col, what in ((2, "wall"), (4, "client CPU")):
            t = np.array([r[col] for r in rows if r[1] == actors])
            b, a = np.polyfit(W, t, 1)
            print(f"{'actors' if actors else 'tasks'}, {what}: t = {1e3 * a:.1f} ms + "
                  f"{1e3 * b:.2f} ms per worker (least squares)")
    return rows


def write_parquet(folder, family, n_rows, per_file):
    import pandas as pd

    if family == "bn":
        net = em.datasets.load_network("alarm")
        cols, make = list(net.variables), bn_part
    else:
        cols, make = [f"q{j}" for j in range(J)], lca_part
    paths = []
    for i, start in enumerate(range(0, n_rows, per_file)):
        n = min(per_file, n_rows - start)
        X = make(7000 + i, n).astype(np.int8)
        frame = pd.DataFrame(X, columns=cols)
        if family == "bn":
            frame = frame.drop(columns=["LVEDVOLUME"])       # hidden: no column
        p = os.path.join(folder, f"part{i:05d}.parquet")
        frame.to_parquet(p, index=False)
        paths.append(p)
    return paths


def ooc_child(folder, family, iters, threads):
    """Fit the Parquet folder streaming (persist=False) and report peak RSS + s/iter."""
    data = edist.from_parquet(folder, persist=False, n_workers=threads)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")               # ConvergenceWarning: iters is small
        if family == "bn":
            model = em.datasets.load_network("alarm")
            model.fit(data, max_iter=iters, tol=0.0, random_state=0, n_jobs=1)
        else:
            model = LatentClassModel(K_LCA, max_iter=iters, tol=0.0, random_state=0, n_jobs=1)
            model.fit(data)
    total = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2   # KiB -> GiB
    # one summary pass + the E-steps (n_estep_ counts the one that scores the result)
    passes = model.n_estep_ + 1
    print(f"RESULT rss_gib={rss:.3f} total_s={total:.1f} passes={passes} "
          f"s_per_pass={total / passes:.2f}")


def section_ooc(args):
    fam = args.ooc_family
    what = f"LCA {args.ooc_rows:,} rows x {J} items" if fam == "lca" else \
        f"ALARM {args.ooc_rows:,} rows (36 columns, LVEDVOLUME hidden)"
    print(f"\n## 3. out-of-core: {what} in Parquet files of {args.ooc_file_rows:,} rows, "
          f"streamed (persist=False), {args.ooc_threads} threads, max_iter={args.ooc_iters}")
    folder = args.ooc_dir or tempfile.mkdtemp(prefix="emfast-ooc-")
    os.makedirs(folder, exist_ok=True)
    t0 = time.perf_counter()
    have = sorted(f for f in os.listdir(folder) if f.endswith(".parquet"))
    if len(have) != -(-args.ooc_rows // args.ooc_file_rows):
        for f in have:
            os.remove(os.path.join(folder, f))
        write_parquet(folder, fam, args.ooc_rows, args.ooc_file_rows)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    ncol = J if fam == "lca" else 36
    print(f"  wrote/found {size / 2 ** 30:.2f} GiB of Parquet in {time.perf_counter() - t0:.0f} s"
          f" ({folder}); the same rows in memory: {args.ooc_rows * ncol / 2 ** 30:.2f} GiB as "
          f"int8, {4 * args.ooc_rows * ncol / 2 ** 30:.2f} GiB as the int32 codes a fit uses",
          flush=True)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--ooc-child", folder,
                          "--ooc-family", fam, "--iters", str(args.ooc_iters),
                          "--ooc-threads", str(args.ooc_threads)],
                         capture_output=True, text=True, env=os.environ.copy())
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
    if out.returncode or not line:
        print(out.stdout, out.stderr)
        raise SystemExit("out-of-core child failed")
    kv = dict(x.split("=") for x in line[0].split()[1:])
    print("\n| data | rows | Parquet | peak RSS (child) | passes | s per pass (read + validate "
          "+ compress + E-step) |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {fam} | {args.ooc_rows:,} | {size / 2 ** 30:.2f} GiB | "
          f"{float(kv['rss_gib']):.2f} GiB | {kv['passes']} | {float(kv['s_per_pass']):.1f} |")
    if not args.ooc_dir:
        for f in os.listdir(folder):
            os.remove(os.path.join(folder, f))
        os.rmdir(folder)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--rows", type=float, default=1e7, help="LCA rows")
    ap.add_argument("--bn-rows", type=float, default=1e7, help="ALARM rows")
    ap.add_argument("--seqs", type=float, default=1e4)
    ap.add_argument("--seq-len", type=int, default=1000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--families", nargs="+", default=["lca", "bn", "hmm"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--repeats-small", type=int, default=21)
    ap.add_argument("--overhead-parts", type=int, nargs="+", default=[1, 2, 4, 16, 64, 256])
    ap.add_argument("--ooc-rows", type=float, default=1e7)
    ap.add_argument("--ooc-file-rows", type=int, default=1_000_000)
    ap.add_argument("--ooc-iters", type=int, default=3)
    ap.add_argument("--ooc-threads", type=int, default=2)
    ap.add_argument("--ooc-dir", help="keep the Parquet files here (reused when present)")
    ap.add_argument("--ooc-family", choices=["lca", "bn"], default="lca")
    ap.add_argument("--clusters", choices=["both", "one-at-a-time"], default="both",
                    help="scaling: keep the 1- and 2-worker clusters up together and "
                         "alternate their E-steps, or run one cluster at a time")
    ap.add_argument("--rounds", type=int, default=2,
                    help="scaling with --clusters one-at-a-time: 1-then-2-worker rounds")
    ap.add_argument("--sections", nargs="+", default=["scaling", "overhead", "ooc"],
                    choices=["scaling", "overhead", "ooc", "engines", "workers"])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8],
                    help="section workers: cluster sizes (worker processes)")
    ap.add_argument("--direct-client", action="store_true",
                    help="clients with direct_to_workers=True (actor calls and gathers "
                         "bypass the scheduler)")
    ap.add_argument("--engine", choices=["actors", "tasks"], default="actors",
                    help="sections scaling and overhead: the actor engine (default) or one "
                         "task per block and iteration")
    ap.add_argument("--worker-profiler", choices=["off", "on"], default="off",
                    help="dask's statistical profiler in the LocalCluster workers (dask's "
                         "default: on; it samples the computing thread every 10 ms from "
                         "the event loop, CPU the kernels share on a 2-core machine)")
    ap.add_argument("--ooc-child", help=argparse.SUPPRESS)
    ap.add_argument("--iters", type=int, default=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    global DIRECT, PROFILER
    DIRECT, PROFILER = args.direct_client, args.worker_profiler == "on"
    if args.ooc_child:
        ooc_child(args.ooc_child, args.ooc_family, args.iters, args.ooc_threads)
        return
    if args.quick:
        args.rows, args.bn_rows, args.seqs, args.seq_len = 2e4, 5e3, 200, 50
        args.repeats, args.repeats_small, args.overhead_parts = 3, 5, [1, 4, 16]
        args.ooc_rows, args.ooc_file_rows, args.ooc_iters = 30_000, 10_000, 2
    args.rows, args.bn_rows, args.seqs = int(args.rows), int(args.bn_rows), int(args.seqs)
    args.ooc_rows = int(args.ooc_rows)
    import dask
    import distributed

    print(f"# bench/distributed.py  {platform.platform()}  python {platform.python_version()}  "
          f"emfast {em.__version__}  dask {dask.__version__}  distributed "
          f"{distributed.__version__}  cpus {os.cpu_count()}  load {os.getloadavg()}  "
          f"worker profiler {args.worker_profiler}")
    if "scaling" in args.sections:
        section_scaling(args)
    if "overhead" in args.sections:
        section_overhead(args)
    if "ooc" in args.sections:
        section_ooc(args)
    if "engines" in args.sections:
        section_engines(args)
    if "workers" in args.sections:
        section_workers(args)
    print(f"\nload at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
