"""Partitioned (dask / Parquet) fits: the same answer as the local fit, bad data named by
partition and row, empty partitions, a worker lost mid-fit (issue 13)."""
import functools
import os
import signal
import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("dask.distributed")
da = pytest.importorskip("dask.array")

import emfast as em                                   # noqa: E402
from emfast import distributed as edist               # noqa: E402
from emfast.mixture import _lca_part_estep, _lca_prepare   # noqa: E402

RTOL = 1e-12


@pytest.fixture(scope="module")
def clusters():
    """One threaded and one process LocalCluster (2 workers each) for the module, and a
    client on each that is never the default client (so the local tests stay local)."""
    out = {}
    with warnings.catch_warnings():
        # distributed may warn at start-up about this shared machine (ports, memory
        # limits); those are the cluster's, not emfast's, and do not affect the fits
        warnings.simplefilter("ignore")
        for name, processes in (("threads", False), ("processes", True)):
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                               processes=processes, dashboard_address=None,
                                               silence_logs=50)
            out[name] = (cluster, distributed.Client(cluster, set_as_default=False))
    yield out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cluster, client in out.values():
            client.close()
            cluster.close()


def _client(clusters, where):
    return None if where == "local" else clusters[where.split("-")[0]][1]


def _opts(clusters, where):
    """partitions() options for a place: local, a threaded or process cluster (actors),
    or "processes-tasks": the process cluster with one task per block and iteration."""
    return dict(client=_client(clusters, where), actors=not where.endswith("-tasks"))


WHERE = ["local", "threads", "processes", "processes-tasks"]


def _close(a, b, rtol=RTOL):
    return np.allclose(a, b, rtol=rtol, atol=0)


# ----------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def lca_data():
    rng = np.random.default_rng(13)
    z = rng.integers(0, 2, 3000)
    p = np.array([[0.8, 0.15, 0.05], [0.1, 0.3, 0.6]])
    X = np.stack([np.array([rng.choice(3, p=p[k]) for k in z]) for _ in range(5)], axis=1)
    X[rng.random(X.shape) < 0.15] = -1
    return X


@pytest.fixture(scope="module")
def bn_net():
    net = em.datasets.load_network("asia")
    return net


@pytest.fixture(scope="module")
def bn_data(bn_net):
    X = np.asarray(bn_net.sample(3000, random_state=5))
    rng = np.random.default_rng(6)
    X[rng.random(X.shape) < 0.2] = -1
    X[:, bn_net.variables.index("either")] = -1          # a hidden variable
    return X


@pytest.fixture(scope="module")
def hmm_data():
    rng = np.random.default_rng(7)
    lengths = rng.integers(5, 40, size=120)
    X = rng.integers(0, 4, size=int(lengths.sum()))
    X[rng.random(X.size) < 0.1] = -1
    return X, lengths


def _seq_chunks(lengths, n_parts):
    """Partition sizes cut at sequence boundaries (the last one takes the rest)."""
    ends = np.cumsum(lengths)
    idx = np.linspace(0, len(lengths), n_parts + 1).astype(int)[1:-1]
    cuts = [0] + [int(ends[i - 1]) for i in idx] + [int(ends[-1])]
    return tuple(int(c) for c in np.diff(cuts))


def _lca(**kw):
    return em.LatentClassModel(2, random_state=0, max_iter=200, **kw)


# ---------------------------------------------------------------------- same answer
@pytest.mark.parametrize("where", WHERE)
def test_lca_partitioned_equals_local(clusters, lca_data, where):
    local = _lca().fit(lca_data)
    X = edist.partitions(da.from_array(lca_data, chunks=(700, -1)),
                         **_opts(clusters, where), fan_in=3)
    dist = _lca().fit(X)
    assert dist.n_iter_ == local.n_iter_
    assert _close(dist.weights_, local.weights_)
    for a, b in zip(dist.item_probs_, local.item_probs_):
        assert _close(a, b)
    assert dist.log_likelihood_ == pytest.approx(local.log_likelihood_, rel=RTOL)
    assert dist.history_ == pytest.approx(local.history_, rel=RTOL)


@pytest.mark.parametrize("where", WHERE)
def test_bn_partitioned_equals_local(clusters, bn_net, bn_data, where):
    local = bn_net.copy().fit(bn_data, random_state=1)
    X = edist.partitions(da.from_array(bn_data, chunks=(500, -1)), **_opts(clusters, where))
    dist = bn_net.copy().fit(X, random_state=1)
    assert dist.n_iter_ == local.n_iter_
    for v in bn_net.variables:
        assert _close(dist.cpts[v], local.cpts[v]), v
    assert dist.log_likelihood_ == pytest.approx(local.log_likelihood_, rel=RTOL)


@pytest.mark.parametrize("where", WHERE)
def test_hmm_partitioned_equals_local(clusters, hmm_data, where):
    X, lengths = hmm_data
    local = em.CategoricalHMM(3, n_iter=40, random_state=0).fit(X, lengths)
    dX = da.from_array(X, chunks=(_seq_chunks(lengths, 4),))
    dist = em.CategoricalHMM(3, n_iter=40, random_state=0).fit(
        edist.partitions(dX, lengths, **_opts(clusters, where)))
    assert dist.monitor_.iter == local.monitor_.iter
    for a, b in ((dist.startprob_, local.startprob_), (dist.transmat_, local.transmat_),
                 (dist.emissionprob_, local.emissionprob_)):
        assert _close(a, b)
    assert dist.score(X, lengths) == pytest.approx(local.score(X, lengths), rel=RTOL)


def test_worker_with_two_threads_runs_two_blocks_on_one_actor(lca_data):
    """A worker with two threads holds two blocks; its one actor runs both (in its own
    pool of two threads) and the fit equals the local fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                           dashboard_address=None, silence_logs=50)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        offsets = np.array([0, 3, 6, 9, 12], dtype=np.int64)
        X = edist.partitions(da.from_array(lca_data, chunks=(500, -1)), client=client)
        engine = edist.PartitionedEStep(X, functools.partial(_lca_prepare, None, None))
        estep = engine.estep(_lca_part_estep, (offsets, 15, 1))
        theta = _lca()._problem_from(estep, len(lca_data), [3] * 5, 2).init(
            np.random.default_rng(0), 0)
        counts, ll = estep(theta)
        futs, handles, owned = engine._actors
        assert len(handles) == 1 and len(owned[0]) == 2 == len(engine.block_times)
        local = edist.PartitionedEStep(edist.partitions(
            da.from_array(lca_data, chunks=(500, -1))),
            functools.partial(_lca_prepare, None, None)).estep(
            _lca_part_estep, (offsets, 15, 1))(theta)
        assert ll == local[1]                       # the same tree: the same bits
        for a, b in zip(counts, local[0]):
            assert np.array_equal(a, b)
        engine.close()
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.close()
            cluster.close()


def test_fit_takes_dask_collections_and_the_default_client(clusters, lca_data, bn_net,
                                                            bn_data):
    """model.fit(dask array / DataFrame) uses the current default client."""
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    client = clusters["threads"][1]
    local = _lca().fit(lca_data)
    df = pd.DataFrame(bn_data, columns=bn_net.variables).drop(columns=["either"])
    bn_local = bn_net.copy().fit(df, random_state=1)
    with client.as_current():
        assert edist._default_client() is client
        dist = _lca().fit(da.from_array(lca_data, chunks=(1000, -1)))
        bn_dist = bn_net.copy().fit(dd.from_pandas(df, npartitions=3), random_state=1)
    assert _close(dist.weights_, local.weights_)
    for v in bn_net.variables:
        assert _close(bn_dist.cpts[v], bn_local.cpts[v]), v
    assert edist._default_client() is None


def test_reduction_is_fixed_order():
    """tree_sum groups consecutive items level by level: the sums are those of the
    written-out tree, not of the order in which tasks finish."""
    rng = np.random.default_rng(0)
    items = [([rng.random(3) * 10.0 ** rng.integers(-8, 8)], float(i)) for i in range(11)]
    items.insert(4, None)                     # an empty partition adds nothing
    got = edist.tree_sum(items, fan_in=3)
    g = [edist._sum_group(*items[i:i + 3]) for i in range(0, 12, 3)]
    want = edist._sum_group(edist._sum_group(*g[:3]), g[3])
    assert np.array_equal(got[0][0], want[0][0]) and got[1] == want[1] == 55.0
    assert edist.tree_sum([None, None]) is None


@pytest.mark.parametrize("fan_in", [2, 3])
def test_block_sums_are_subtrees_of_the_tree(fan_in):
    """Summing aligned blocks where they live, then the block sums, gives the bits of
    the one tree over all partitions (any number of blocks, a partial last block)."""
    rng = np.random.default_rng(1)
    for P in range(1, 40):
        items = [([rng.random(4) * 10.0 ** rng.integers(-9, 9)], float(rng.random()))
                 for _ in range(P)]
        if P > 3:
            items[2] = None
        want = edist.tree_sum(items, fan_in)
        for slots in (1, 2, 3, 8):
            B = edist.block_size(P, slots, fan_in)
            assert -(-P // B) >= min(slots, P)      # a block for every worker thread
            blocks = [edist.tree_sum(items[s:s + B], fan_in) for s in range(0, P, B)]
            got = edist.tree_sum(blocks, fan_in)   # what the engine does with them
            assert np.array_equal(got[0][0], want[0][0]) and got[1] == want[1], (P, slots)


# ---------------------------------------------------------------------------- Parquet
@pytest.mark.parametrize("persist", [True, False])
def test_parquet_input(tmp_path, lca_data, bn_net, bn_data, persist):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    cols = [f"q{j}" for j in range(lca_data.shape[1])]
    paths = []
    for i, rows in enumerate(np.array_split(np.arange(len(lca_data)), 3)):
        p = tmp_path / f"part{i}.parquet"
        pd.DataFrame(lca_data[rows].astype(np.int8), columns=cols).to_parquet(p)
        paths.append(str(p))
    local = _lca().fit(pd.DataFrame(lca_data, columns=cols))
    dist = _lca().fit(edist.from_parquet(paths, persist=persist))
    assert _close(dist.weights_, local.weights_)
    assert list(dist.feature_names_in_) == cols
    same = _lca().fit(edist.from_parquet(str(tmp_path), persist=persist))   # a directory
    assert _close(same.weights_, local.weights_)
    # a Bayesian network from Parquet, a subset of columns (the rest hidden)
    df = pd.DataFrame(bn_data, columns=bn_net.variables)
    bn_paths = []
    for i, rows in enumerate(np.array_split(np.arange(len(df)), 2)):
        p = tmp_path / f"bn{i}.pq"
        df.iloc[rows].to_parquet(p)
        bn_paths.append(str(p))
    keep = [v for v in bn_net.variables if v != "either"]
    bn_local = bn_net.copy().fit(df[keep], random_state=1)
    bn_dist = bn_net.copy().fit(edist.from_parquet(bn_paths, columns=keep, persist=persist),
                                random_state=1)
    for v in bn_net.variables:
        assert _close(bn_dist.cpts[v], bn_local.cpts[v]), v
    with pytest.raises(ValueError, match=r"has no column\(s\) \['nope'\]"):
        edist.from_parquet(paths, columns=["nope"])


# ---------------------------------------------------------------- empty and bad parts
@pytest.mark.parametrize("where", ["local", "threads"])
def test_zero_row_partition(clusters, lca_data, hmm_data, where):
    client = _client(clusters, where)
    n = len(lca_data)
    dX = da.from_array(lca_data, chunks=((1000, 0, n - 1000), (lca_data.shape[1],)))
    assert 0 in dX.chunks[0]
    local = _lca().fit(lca_data)
    dist = _lca().fit(edist.partitions(dX, client=client))
    assert _close(dist.weights_, local.weights_)
    X, lengths = hmm_data
    c = _seq_chunks(lengths, 2)
    dH = da.from_array(X, chunks=((c[0], 0, c[1]),))
    per_part = [lengths[:np.searchsorted(np.cumsum(lengths), c[0]) + 1], [],
                lengths[np.searchsorted(np.cumsum(lengths), c[0]) + 1:]]
    h_local = em.CategoricalHMM(2, n_iter=10, random_state=0).fit(X, lengths)
    h_dist = em.CategoricalHMM(2, n_iter=10, random_state=0).fit(
        edist.partitions(dH, per_part, client=client))
    assert _close(h_dist.transmat_, h_local.transmat_)
    with pytest.raises(ValueError, match="X has no rows"):
        _lca().fit(edist.partitions(da.zeros((0, 3), chunks=(1, 3), dtype=int), client=client))


@pytest.mark.parametrize("where", ["local", "processes"])
def test_bad_code_names_partition_and_row(clusters, lca_data, hmm_data, where):
    client = _client(clusters, where)
    X = lca_data.copy()
    X[2100 + 5, 1] = -7                             # partition 3 of 700-row chunks, row 5
    with pytest.raises(ValueError) as local:
        _lca().fit(X[2100:2800])
    with pytest.raises(ValueError) as dist:
        _lca().fit(edist.partitions(da.from_array(X, chunks=(700, -1)), client=client))
    msg = str(dist.value)
    assert msg.startswith("partition 3: ")
    assert "at row 5" in msg and "which is row 2100 of the data" in msg
    # the local message for the same rows, word for word
    assert str(local.value) in msg
    # n_categories: the same check and wording as a local fit
    X = lca_data.copy()
    X[1500, 2] = 3
    with pytest.raises(ValueError, match=r"^partition 2: X\[:, 2\] contains category 3 at "
                                         r"row 100, but item 'item 2' has 3 categories"):
        em.LatentClassModel(2, n_categories=3).fit(
            edist.partitions(da.from_array(X, chunks=(700, -1)), client=client))
    # an HMM sequence that spans partitions / lengths that do not fit their partition
    H, lengths = hmm_data
    with pytest.raises(ValueError, match="inside a sequence"):
        em.CategoricalHMM(2).fit(da.from_array(H, chunks=(1000,)), lengths)
    c = _seq_chunks(lengths, 2)
    k = int(np.searchsorted(np.cumsum(lengths), c[0])) + 1
    with pytest.raises(ValueError, match=r"^partition 1: lengths must sum to len\(X\)"):
        em.CategoricalHMM(2).fit(edist.partitions(da.from_array(H, chunks=(c,)),
                                                  [lengths[:k], lengths], client=client))


def test_bn_bad_state_label_in_a_partition(clusters, bn_net, bn_data):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    df = pd.DataFrame(bn_data, columns=bn_net.variables).drop(columns=["either"])
    df.iloc[1700, 0] = 5                           # partition 1 of 3 (1000 rows each)
    with pytest.raises(ValueError) as local:
        bn_net.copy().fit(df.iloc[1000:2000].reset_index(drop=True))
    with pytest.raises(ValueError) as dist:
        bn_net.copy().fit(edist.partitions(dd.from_pandas(df, npartitions=3),
                                           client=clusters["threads"][1]))
    assert str(dist.value).startswith("partition 1: ")
    assert str(local.value) in str(dist.value)


def test_hmm_from_a_dask_dataframe_and_series(hmm_data):
    """Frames and Series of codes (local threaded scheduler), lengths per partition."""
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, lengths = hmm_data
    c = _seq_chunks(lengths, 2)
    k = int(np.searchsorted(np.cumsum(lengths), c[0])) + 1
    per_part = [lengths[:k], lengths[k:]]
    frame = pd.DataFrame({"obs": X})
    local = em.CategoricalHMM(2, n_iter=10, random_state=0).fit(frame, lengths)
    ddf = dd.from_pandas(frame, npartitions=1).repartition(divisions=[0, c[0], len(X) - 1])
    assert ddf.npartitions == 2
    for data in (ddf, ddf["obs"]):
        dist = em.CategoricalHMM(2, n_iter=10, random_state=0).fit(data, per_part)
        assert _close(dist.transmat_, local.transmat_)
        assert _close(dist.emissionprob_, local.emissionprob_)
    with pytest.raises(ValueError, match="must be given as a list of 2 arrays"):
        em.CategoricalHMM(2).fit(ddf, lengths)
    with pytest.raises(ValueError, match="lengths has 1 entries for 2 partitions"):
        edist.PartitionedEStep(edist.Partitions(list(ddf.to_delayed()), lengths=[lengths]),
                               functools.partial(_lca_prepare, None, None))


def test_unsupported_options_are_refused(lca_data):
    X = da.from_array(lca_data, chunks=(1000, -1))
    with pytest.raises(ValueError, match="does not support missingness|neither missingness"):
        em.LatentClassModel(2, missingness=em.MCAR()).fit(X)
    with pytest.raises(ValueError, match="scheduler must be"):
        edist.partitions(X, scheduler="processes")
    with pytest.raises(TypeError, match="actors must be True or False"):
        edist.partitions(X, actors="yes")
    with pytest.raises(TypeError, match="takes a dask array"):
        edist.partitions(lca_data)


# --------------------------------------------------------------------- failures
def test_kept_partition_buffers_give_fresh_results(lca_data):
    # the LCA partitions' E-step keeps its posterior buffers per thread: partitions of
    # other sizes run in turn (larger, smaller, larger again) must give what fresh
    # buffers give, bit for bit
    from emfast import mixture
    rng = np.random.default_rng(5)
    K, offsets, S = 3, np.arange(0, 15, 3, dtype=np.int64), 15
    theta = [rng.dirichlet(np.ones(K)),
             np.concatenate([rng.dirichlet(np.ones(3), size=K) for _ in range(5)], axis=1)]
    states = [_lca_prepare(None, None, lca_data[a:b], None)[0]
              for a, b in ((0, 3000), (0, 700), (700, 3000), (0, 3000))]
    from emfast import kernels
    kernels._local.__dict__.clear()
    arenas = []
    for st in states:
        got, ll = _lca_part_estep((offsets, S, 1), st, theta)
        _, _, _, wc, ic, total, _ = mixture._lca_kernel(st[0], st[1], theta, offsets, S, True, 1)
        assert np.array_equal(got[0], wc) and np.array_equal(got[1], ic.T) and ll == total
        arenas.append(kernels._local.arena)
    # the first (largest) partition's arena serves all the others
    assert all(a is arenas[0] for a in arenas)
    # above the cap, no buffer is kept
    old = mixture._KEEP_PART_BUFFERS
    try:
        mixture._KEEP_PART_BUFFERS = 10
        post, _, _ = mixture._partition_buffers(100, K)
        assert not np.shares_memory(post, arenas[0]) and kernels._local.arena is arenas[0]
    finally:
        mixture._KEEP_PART_BUFFERS = old


def _slow_estep(static, state, theta):
    """The latent class partition E-step, taking a second longer while a flag file
    exists (so that a worker can be killed while an E-step call is in flight)."""
    flag, real = static
    if os.path.exists(flag):
        import time
        time.sleep(1.0)
    return _lca_part_estep(real, state, theta)


@pytest.mark.parametrize("mode", ["between-actors", "between-tasks", "during-actors"])
def test_worker_killed_mid_fit(clusters, lca_data, tmp_path, mode):
    """A worker process dies after iteration 2 (``between``) or while the third E-step
    runs on it (``during``): its partitions (and its actor) are lost, the scheduler
    recomputes the partitions from their graph, the iteration runs again, and the fit
    ends where the undisturbed fit ends."""
    import threading

    when, how = mode.split("-")
    cluster, client = clusters["processes"]
    X = edist.partitions(da.from_array(lca_data, chunks=(500, -1)), client=client,
                         actors=how == "actors")
    K, cards = 2, [3] * lca_data.shape[1]
    offsets = np.array([0, 3, 6, 9, 12], dtype=np.int64)
    flag = str(tmp_path / "slow")
    model = _lca()

    def fit(kill):
        engine = edist.PartitionedEStep(X, functools.partial(_lca_prepare, None, None))
        estep = engine.estep(_slow_estep, (flag, (offsets, 15, 1)))
        problem = model._problem_from(estep, len(lca_data), cards, K)
        killed, killers = [], []

        def murder():
            victim = sorted(client.scheduler_info()["workers"])[0]
            pid = client.run(os.getpid, workers=[victim])[victim]
            if when == "during":
                import time
                time.sleep(0.4)                     # the E-step call is in flight
            os.kill(pid, signal.SIGKILL)
            killed.append(victim)
            _wait_for_workers(client, lambda ws: victim not in ws)
            if os.path.exists(flag):
                os.remove(flag)

        def callback(it, theta, ll):
            if kill and it == 2:
                if when == "between":
                    murder()
                else:
                    open(flag, "w").close()
                    killers.append(threading.Thread(target=murder))
                    killers[-1].start()

        theta0 = problem.init(np.random.default_rng(0), 0)
        res = em.run_em(problem.estep, problem.mstep, theta0, max_iter=15, tol=0.0,
                        callback=callback)
        for t in killers:
            t.join()
        retries.append(engine.n_retries)
        if how == "actors":
            assert engine._actors is not None       # the actor path did run
        engine.close()
        return res, killed

    retries = []
    calm, _ = fit(False)
    hit, killed = fit(True)
    assert killed                                   # a worker did die mid-fit
    # the lost partitions are recomputed by the scheduler; an iteration whose tasks (or
    # actor calls) fail is run again (at most `retries` times)
    assert retries[0] == 0 and retries[1] <= X.retries
    if how == "actors":
        assert retries[1] >= 1                      # the dead actor's call did fail
    assert hit.n_iter == calm.n_iter == 15
    for a, b in zip(hit.theta, calm.theta):
        assert _close(a, b)
    _wait_for_workers(client, lambda ws: len(ws) == 2)     # the nanny restarted it


def test_actor_call_lost_with_its_worker_is_not_waited_for_forever():
    """A call in flight when its worker dies may never be answered (dask's actor proxy
    waits on the actor's future and re-raises inside a callback); the engine's wait
    polls the actors' futures and raises OSError (retried) once one has erred."""
    class Call:                     # an actor call that is never answered
        def result(self, timeout=None):
            raise TimeoutError

    class Fut:
        def __init__(self, status):
            self.status, self.key = status, "actor-1"

    with pytest.raises(OSError, match="actor-1 was lost"):
        edist._actor_result(Call(), [Fut("finished"), Fut("error")], poll=0.01)

    class Slow:                     # answered on the third poll
        n = 0

        def result(self, timeout=None):
            Slow.n += 1
            if Slow.n < 3:
                raise TimeoutError
            return "counts"

    assert edist._actor_result(Slow(), [Fut("finished")], poll=0.01) == "counts"


def _wait_for_workers(client, ok, timeout=30.0):
    import time
    t0 = time.monotonic()
    while not ok(set(client.scheduler_info()["workers"])):
        if time.monotonic() - t0 > timeout:     # pragma: no cover - a stuck cluster
            raise TimeoutError("the LocalCluster did not reach the expected workers")
        time.sleep(0.05)


def _flaky_estep(static, state, theta):
    """The latent class partition E-step, failing once (a lost connection) for the first
    partition that finds no flag file."""
    flag, real = static
    try:
        with open(flag, "x"):
            pass
    except FileExistsError:
        return _lca_part_estep(real, state, theta)
    raise OSError("connection closed (simulated)")


@pytest.mark.parametrize("where", ["threads", "processes"])
def test_iteration_retried_after_a_lost_task(clusters, lca_data, tmp_path, where):
    """A failure that is not bad data (a connection error in one task) runs the iteration
    again with the same θ, and the fit is unchanged; bad data is never retried."""
    client = clusters[where][1]
    X = edist.partitions(da.from_array(lca_data, chunks=(1000, -1)), client=client)
    offsets = np.array([0, 3, 6, 9, 12], dtype=np.int64)
    model = _lca()
    results = []
    for flaky in (False, True):
        engine = edist.PartitionedEStep(X, functools.partial(_lca_prepare, None, None))
        flag = tmp_path / f"flag{flaky}"
        if not flaky:
            flag.touch()
        estep = engine.estep(_flaky_estep, (str(flag), (offsets, 15, 1)))
        problem = model._problem_from(estep, len(lca_data), [3] * 5, 2)
        theta0 = problem.init(np.random.default_rng(0), 0)
        results.append(em.run_em(problem.estep, problem.mstep, theta0, max_iter=5, tol=0.0))
        assert engine.n_retries == int(flaky)
        engine.close()
    for a, b in zip(*(r.theta for r in results)):
        assert np.array_equal(a, b)
    # bad data is the caller's to fix: raised at once, never retried
    bad = lca_data.copy()
    bad[10, 0] = -3
    with pytest.raises(ValueError, match="^partition 0: "):
        edist.PartitionedEStep(edist.partitions(da.from_array(bad, chunks=(1000, -1)),
                                                client=client),
                               functools.partial(_lca_prepare, None, None))
