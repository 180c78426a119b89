"""Distributed and out-of-core E-steps: the same per-partition E-step on every
partition of the data, the expected counts summed in a fixed-order tree.

Expected counts are additive over rows (DESIGN.md), so an E-step over data held in
partitions is the sum of the E-steps of the partitions. This module is the driver
side of that idea and knows nothing of models: it takes

* a list of partitions (dask delayed objects, or :class:`Loader` callables that
  read one partition, e.g. one Parquet file),
* ``prepare(part, lengths) -> (state, summary)``, run once per partition (on the
  workers): validation, row compression, and a small summary (row count, largest
  code per column, ...) that comes back to the client,
* ``part_estep(static, state, theta) -> (counts, loglik)``, run per partition and
  per iteration,

and returns an ``estep(theta)`` for :func:`emfast.run_em`. The driver, restarts and
SQUAREM run unchanged on the client; each iteration sends θ (small) and receives
one summed list of counts.

Where it runs
-------------
* a ``dask.distributed.Client`` (the one given, else the current default client):
  prepared partitions stay in the workers' memory as futures (``persist=True``,
  the default). The partitions are grouped into aligned blocks, one per worker
  thread, each prepared on its worker. Each iteration runs every block where its
  data lives (summing the block's partitions along the fixed tree) and the client
  finishes the tree over the block sums: by default one method call per worker on
  a dask actor that holds the worker's prepared partitions (:class:`_WorkerBlocks`:
  a direct message to the worker, no task graph through the scheduler), or with
  ``actors=False`` one task per block. A worker lost mid-fit loses its partitions
  (and its actor); the scheduler recomputes the partitions from their graph (they
  were never scattered from the client), and an iteration that fails for a reason
  other than bad data is run again with the same θ (``retries``), on actors
  started afresh. The E-step is a pure function of θ, so the fit is the same.
* no client: a pool of threads in this process, one partition per thread (a dask
  partition is computed in its thread by dask's synchronous scheduler;
  ``scheduler="sync"``: all in the calling thread).
* ``persist=False`` (either place): nothing is kept, every iteration reads,
  validates and compresses each partition again, so the peak memory is that of
  the partitions in flight (the out-of-core path for data larger than memory).

The counts are summed in groups of ``fan_in`` consecutive partitions, level by
level, in partition order, whatever the order in which tasks finish (aligned blocks
are subtrees of that tree): a fit is reproducible run to run, and the same on a
cluster as in the local thread pool.

Public entry points: :func:`partitions` (wrap a dask collection with options),
:func:`from_parquet` (a list of Parquet files), and the estimators' ``fit``, which
accept dask arrays, dask DataFrames and :class:`Partitions` directly.
"""
from __future__ import annotations

import asyncio
import numbers
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["Partitions", "Loader", "partitions", "from_parquet", "is_partitioned",
           "PartitionedEStep", "tree_sum"]


# ---------------------------------------------------------------------------
# data held in partitions
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Loader:
    """A callable that reads one partition: ``func(*args)``.

    Picklable when ``func`` is a module-level function, so a worker can read the
    partition itself (nothing travels from the client but the arguments).
    """

    func: Callable
    args: tuple = ()

    def __call__(self):
        return self.func(*self.args)


@dataclass
class Partitions:
    """Data held in partitions, with the options of the fit that reads it.

    Build with :func:`partitions` or :func:`from_parquet`; an estimator's ``fit``
    takes it where it takes an array.

    Attributes
    ----------
    parts : list
        One entry per partition: a dask delayed object or a :class:`Loader`.
    lengths : list of ndarray or None
        HMM only: the sequence lengths of each partition (a sequence never spans
        two partitions).
    n_rows : list of int or None
        Rows per partition when known (dask arrays), for error messages.
    columns : list or None
        Column names when the partitions are DataFrames.
    client : dask.distributed.Client or None
        Where to run (None: the current default client, else a local thread pool).
    persist : bool
        Keep the prepared partitions in (worker) memory between iterations.
    scheduler : {"threads", "sync"}
        Without a client: a thread pool, or everything in the calling thread.
    n_workers : int or None
        Threads of the local scheduler (None: one per CPU).
    retries : int
        Times an iteration is run again after a failure that is not bad data.
    fan_in : int
        Children per node of the reduction tree.
    actors : bool
        On a client with ``persist``: one dask actor per worker runs that worker's
        blocks (see :class:`PartitionedEStep`); ``False``: one task per block and
        iteration.
    """

    parts: list
    lengths: list | None = None
    n_rows: list | None = None
    columns: list | None = None
    client: object = None
    persist: bool = True
    scheduler: str = "threads"
    n_workers: int | None = None
    retries: int = 3
    fan_in: int = 2
    actors: bool = True
    dtypes: list | None = field(default=None, repr=False)

    def __len__(self):
        return len(self.parts)

    @property
    def frame(self) -> bool:
        """Whether the partitions are DataFrames (matched by column name)."""
        return self.columns is not None


def _is_dask_collection(X) -> bool:
    mod = type(X).__module__ or ""
    return (mod == "dask" or mod.startswith("dask.")) and hasattr(X, "to_delayed")


def is_partitioned(X) -> bool:
    """Whether ``X`` is data in partitions (a dask array / DataFrame / Series or a
    :class:`Partitions`), which the estimators fit through this module."""
    return isinstance(X, Partitions) or _is_dask_collection(X)


def partitions(X, lengths=None, *, client=None, persist=True, scheduler="threads",
               n_workers=None, retries=3, fan_in=2, actors=True) -> Partitions:
    """Wrap a dask array, DataFrame or Series (or :class:`Partitions`) for ``fit``.

    Parameters
    ----------
    X : dask.array.Array, dask.dataframe.DataFrame or Series, or Partitions
        The data, partitioned along the rows (a dask array chunked along its
        columns is rechunked to one column block). Integer codes, ``-1`` (or NaN)
        = missing, as for a local fit; DataFrames are matched by column name.
    lengths : array-like of int, or list of array-like, optional
        HMM sequence lengths: one array per partition, or one flat array for a dask
        array (split at its chunk boundaries, which must fall between sequences).
    client : dask.distributed.Client, optional
        Default: the current default client if there is one, else the local
        thread pool.
    persist : bool, default=True
        Keep the validated, row-compressed partitions in memory between
        iterations. ``False`` reads every partition again in every iteration
        (bounded memory for data larger than memory; slower).
    scheduler : {"threads", "sync"}, default="threads"
        Without a client: a pool of ``n_workers`` threads (one partition per thread),
        or everything in the calling thread.
    n_workers : int, optional
        Threads of the local scheduler (default: one per CPU).
    retries : int, default=3
        An iteration that fails for a reason other than bad data (a worker lost, a
        connection closed) is run again with the same θ up to this many times.
    fan_in : int, default=2
        Children per node of the reduction tree (its shape is fixed by the number
        of partitions alone).
    actors : bool, default=True
        On a client with ``persist=True``: each worker's prepared partitions are
        held by one dask actor on that worker, and an iteration is one direct call
        per worker (no task graph through the scheduler: 4-12 % less time per
        iteration on short E-steps, docs/distributed.md). ``False``: one task per
        block of partitions and iteration. Either way the same bits.

    Returns
    -------
    Partitions
    """
    if scheduler not in ("threads", "sync"):
        raise ValueError(f"scheduler must be 'threads' or 'sync'; got {scheduler!r}.")
    for name, v, low in (("retries", retries, 0), ("fan_in", fan_in, 2)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
            raise ValueError(f"{name} must be an int >= {low}; got {v!r}.")
    if n_workers is not None and (isinstance(n_workers, bool)
                                  or not isinstance(n_workers, numbers.Integral) or n_workers < 1):
        raise ValueError(f"n_workers must be None or an int >= 1; got {n_workers!r}.")
    if not isinstance(actors, (bool, np.bool_)):
        raise TypeError(f"actors must be True or False; got {actors!r}.")
    opts = dict(client=client, persist=bool(persist), scheduler=scheduler, n_workers=n_workers,
                retries=int(retries), fan_in=int(fan_in), actors=bool(actors))
    if isinstance(X, Partitions):
        out = Partitions(**{**X.__dict__, **opts})
        if lengths is not None:
            out.lengths = _split_lengths(lengths, out.n_rows, len(out.parts))
        return out
    if not _is_dask_collection(X):
        raise TypeError(f"partitions() takes a dask array, DataFrame or Series, or Partitions; "
                        f"got {type(X).__name__}.")
    columns = dtypes = n_rows = None
    if "dataframe" in type(X).__module__:
        # a dask DataFrame / Series: one pandas object per partition
        if X.ndim == 2:
            columns = list(X.columns)
            dtypes = list(X.dtypes)
        else:
            columns = [X.name if X.name is not None else 0]
            dtypes = [X.dtype]
            X = X.to_frame(name=columns[0])
        parts = list(X.to_delayed())
    else:
        if X.ndim not in (1, 2):
            raise ValueError(f"X must be 1- or 2-dimensional; got a dask array of shape "
                             f"{X.shape}.")
        if X.ndim == 2 and X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        parts = list(np.ravel(X.to_delayed()))
        n_rows = [int(c) for c in X.chunks[0]]
    out = Partitions(parts, n_rows=n_rows, columns=columns, dtypes=dtypes, **opts)
    if lengths is not None:
        out.lengths = _split_lengths(lengths, n_rows, len(parts))
    return out


def _split_lengths(lengths, n_rows, n_parts) -> list:
    """Per-partition sequence lengths from one array per partition, or from one flat
    array split at the (known) partition boundaries."""
    if isinstance(lengths, (list, tuple)) and len(lengths) == n_parts and n_parts > 0 and all(
            np.ndim(v) == 1 for v in lengths):
        return [np.asarray(v) for v in lengths]
    flat = np.asarray(lengths)
    if flat.ndim != 1:
        raise ValueError(f"lengths must be one array per partition ({n_parts} partitions) or "
                         f"one flat array; got shape {flat.shape}.")
    if n_rows is None:
        raise ValueError("lengths for partitions of unknown size (a dask DataFrame) must be "
                         f"given as a list of {n_parts} arrays, one per partition.")
    if flat.size and (flat.dtype.kind not in "iu" or np.any(flat < 1)):
        raise ValueError("lengths must be positive integers.")
    ends = np.cumsum(flat.astype(np.int64))
    bounds = np.cumsum(n_rows)
    out, start = [], 0
    for i, b in enumerate(bounds):
        stop = int(np.searchsorted(ends, b, side="right"))
        if b > 0 and (stop == 0 or ends[stop - 1] != b) and b != bounds[-1]:
            raise ValueError(f"partition {i} ends at row {int(b)}, inside a sequence: a sequence "
                             "may not span two partitions; rechunk X at sequence boundaries "
                             "(or pass lengths as one array per partition).")
        out.append(flat[start:stop])
        start = stop
    if start != flat.size or (ends[-1] if ends.size else 0) != bounds[-1]:
        raise ValueError(f"lengths must sum to len(X)={int(bounds[-1])}, got "
                         f"sum(lengths)={int(ends[-1]) if ends.size else 0}.")
    return out


def _read_parquet(path, columns):
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=columns).to_pandas()


def from_parquet(paths, columns=None, *, lengths=None, **options) -> Partitions:
    """Data in Parquet files, one partition per file, read by the workers.

    Parameters
    ----------
    paths : str or list of str
        Parquet files (or one directory name, whose ``*.parquet`` files are taken
        in sorted order).
    columns : list of str, optional
        Columns to read (default: all); the partitions are DataFrames matched to
        the model by column name.
    lengths : list of array-like, optional
        HMM: one array of sequence lengths per file.
    **options
        As for :func:`partitions` (``client``, ``persist``, ``scheduler``, ...).

    Returns
    -------
    Partitions
    """
    if isinstance(paths, (str, os.PathLike)):
        p = os.fspath(paths)
        paths = sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".parquet")) \
            if os.path.isdir(p) else [p]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("from_parquet: no Parquet files given.")
    import pyarrow.parquet as pq

    schema = pq.read_schema(paths[0])
    names = list(schema.names) if columns is None else list(columns)
    missing = [c for c in names if c not in schema.names]
    if missing:
        raise ValueError(f"from_parquet: {paths[0]} has no column(s) {missing!r}; it has "
                         f"{list(schema.names)!r}.")
    parts = [Loader(_read_parquet, (p, names)) for p in paths]
    out = Partitions(parts, columns=names)
    return partitions(out, lengths, **options)


# ---------------------------------------------------------------------------
# the tree reduction
# ---------------------------------------------------------------------------

def _sum_group(*items):
    """Sum (counts, loglik) pairs in the given order; ``None`` (an empty partition) adds
    nothing."""
    out = None
    for it in items:
        if it is None:
            continue
        if out is None:
            out = ([np.array(c, dtype=np.float64, copy=True) for c in it[0]], float(it[1]))
        else:
            for a, b in zip(out[0], it[0]):
                a += b
            out = (out[0], out[1] + float(it[1]))
    return out


def tree_sum(items, fan_in=2):
    """Sum a list of (counts, loglik) pairs in groups of ``fan_in`` consecutive items,
    level by level (the same tree as the cluster's reduction tasks)."""
    items = list(items)
    while len(items) > 1:
        items = [_sum_group(*items[i:i + fan_in]) for i in range(0, len(items), fan_in)]
    return _sum_group(*items) if items else None


# ---------------------------------------------------------------------------
# tasks (module level: pickled by reference)
# ---------------------------------------------------------------------------

def _where(i, n_rows):
    start = None if n_rows is None else int(np.sum(n_rows[:i]))
    return (f" (row numbers count from the start of partition {i}"
            + (f", which is row {start} of the data)" if start is not None else ")"))


def _reraise(exc, i, n_rows):
    """The same exception type and text, with the partition named."""
    msg = f"partition {i}: {exc}{_where(i, n_rows) if 'row' in str(exc) else ''}"
    try:
        new = type(exc)(msg)
    except Exception:       # pragma: no cover - an exception type with another signature
        new = ValueError(msg)
    raise new from None


def _load(part):
    if isinstance(part, Loader):
        return part()
    if _is_dask_collection(part) or (type(part).__module__ or "").startswith("dask.delayed"):
        return part.compute(scheduler="sync")     # local scheduler: one partition per thread
    return part


def _prepare_task(prepare, i, n_rows, part, lengths):
    try:
        return prepare(_load(part), lengths)
    except (ValueError, TypeError) as exc:
        _reraise(exc, i, n_rows)


def _estep_task(part_estep, i, n_rows, static, prepared, theta):
    state = prepared[0]
    if state is None:
        return None
    try:
        return part_estep(static, state, theta)
    except (ValueError, TypeError) as exc:
        _reraise(exc, i, n_rows)


def _stream_task(prepare, part_estep, i, n_rows, static, part, lengths, theta):
    prepared = _prepare_task(prepare, i, n_rows, part, lengths)
    return _estep_task(part_estep, i, n_rows, static, prepared, theta)


def _block_task(part_estep, first, n_rows, fan_in, static, theta, *prepared):
    """The subtree sum of one aligned block of partitions (``first`` = index of its
    first partition), run where the block's data lives; with its wall and CPU time."""
    t, c = time.perf_counter(), time.thread_time()
    out = tree_sum([_estep_task(part_estep, first + k, n_rows, static, p, theta)
                    for k, p in enumerate(prepared)], fan_in)
    return out, time.perf_counter() - t, time.thread_time() - c


def _stream_block(prepare, part_estep, first, n_rows, fan_in, static, theta, parts, lengths):
    """As :func:`_block_task`, reading and preparing each partition in turn."""
    t, c = time.perf_counter(), time.thread_time()
    out = tree_sum([_stream_task(prepare, part_estep, first + k, n_rows, static, p, ln, theta)
                    for k, (p, ln) in enumerate(zip(parts, lengths))], fan_in)
    return out, time.perf_counter() - t, time.thread_time() - c


class _WorkerBlocks:
    """A dask actor: the prepared partitions of one worker's blocks, and their E-step.

    Created once per fit on the worker that holds the blocks (its constructor's
    arguments include the futures of the prepared partitions, which dask resolves to
    the objects in that worker's memory: nothing is copied). ``estep(theta)`` returns
    the blocks' :func:`_block_task` results in the order the blocks were given; two
    or more blocks (a worker with several threads) run in a pool of that many
    threads, since an actor's calls run in one thread of the worker."""

    def __init__(self, part_estep, n_rows, fan_in, static, sizes, *prepared):
        self._fixed = (part_estep, n_rows, fan_in, static)
        it = iter(prepared)
        self._blocks = [(first, [next(it) for _ in range(n)]) for first, n in sizes]
        self._pool = ThreadPoolExecutor(len(sizes)) if len(sizes) > 1 else None

    def _one(self, theta, block):
        part_estep, n_rows, fan_in, static = self._fixed
        return _block_task(part_estep, block[0], n_rows, fan_in, static, theta, *block[1])

    def estep(self, theta):
        if self._pool is None:
            return [self._one(theta, b) for b in self._blocks]
        return list(self._pool.map(lambda b: self._one(theta, b), self._blocks))


def _actor_result(call, futures, poll=1.0):
    """The result of an actor method call (re-raising its exception). While waiting,
    checks every ``poll`` seconds that the actors still exist: a call in flight when
    its worker dies may otherwise never be answered."""
    while True:
        try:
            return call.result(timeout=poll)
        except (TimeoutError, asyncio.TimeoutError):    # the same class from Python 3.11
            lost = [f for f in futures if f.status in ("error", "lost", "cancelled")]
            if lost:
                raise OSError(f"the worker holding actor {lost[0].key} was lost") from None


def block_size(n_parts, n_slots, fan_in=2):
    """Partitions per block: the largest power of ``fan_in`` that still gives every
    worker thread (``n_slots``) a block. Blocks aligned on multiples of a power of
    ``fan_in`` are subtrees of the fixed reduction tree, so summing each block where
    it lives and then the block sums gives the same bits as :func:`tree_sum` over all
    partitions."""
    b = 1
    while b < n_parts and -(-n_parts // (b * fan_in)) >= max(1, n_slots):
        b *= fan_in
    return b


def _summary_task(prepare, i, n_rows, part, lengths):
    return _prepare_task(prepare, i, n_rows, part, lengths)[1]


def _second(pair):
    return pair[1]


def _identity(x):
    return x


def _default_client():
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _bad_data(exc) -> bool:
    return isinstance(exc, (ValueError, TypeError, MemoryError, KeyboardInterrupt))


# ---------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------

class PartitionedEStep:
    """Prepare partitions once and sum per-partition E-steps (see the module docstring).

    Parameters
    ----------
    data : Partitions
    prepare : callable
        ``prepare(part, lengths) -> (state, summary)``; ``state`` is ``None`` for a
        partition with nothing to fit. Raises ``ValueError`` / ``TypeError`` for bad
        data (re-raised with the partition named). Must be picklable for a
        process-based cluster (a module-level function or a ``functools.partial``
        of one).

    Attributes
    ----------
    summaries : list
        The summaries of the partitions, in partition order.
    n_calls : int
        E-steps run (retried ones counted once).
    n_retries : int
        Iterations run again after a failure.
    block_times : list of (float, float)
        On a cluster: wall and CPU seconds of each block task of the last E-step (the
        kernels' threads not counted in the CPU time).
    """

    def __init__(self, data: Partitions, prepare: Callable):
        self.data = data
        self.prepare = prepare
        self.client = data.client if data.client is not None else _default_client()
        self.n_calls = 0
        self.n_retries = 0
        self.block_times = []
        self._prepared = None
        self._static = None
        self._actors = None
        d = data
        lengths = d.lengths if d.lengths is not None else [None] * len(d.parts)
        self._lengths = lengths
        if len(d.parts) == 0:
            raise ValueError("X has no partitions: there is nothing to fit.")
        if len(lengths) != len(d.parts):
            raise ValueError(f"lengths has {len(lengths)} entries for {len(d.parts)} partitions; "
                             "give one array of sequence lengths per partition.")
        if self.client is not None:
            from dask import delayed

            # aligned blocks of partitions, one per worker thread (round robin); a
            # block is prepared on its worker and later summed there in one task
            nthreads = self.client.nthreads()
            slots = [w for w in sorted(nthreads) for _ in range(max(1, nthreads[w]))]
            B = block_size(len(d.parts), len(slots), d.fan_in)
            self._blocks = [(b, list(range(s, min(s + B, len(d.parts)))),
                             slots[b % len(slots)] if slots else None)
                            for b, s in enumerate(range(0, len(d.parts), B))]
            if d.persist:
                self._prepared = [None] * len(d.parts)
                for _, idx, worker in self._blocks:
                    tasks = [delayed(_prepare_task, pure=False)(prepare, i, d.n_rows, d.parts[i],
                                                                lengths[i]) for i in idx]
                    futs = self.client.compute(tasks, workers=worker, allow_other_workers=True)
                    for i, f in zip(idx, futs):
                        self._prepared[i] = f
                sums = self.client.map(_second, self._prepared, pure=False)
                self.summaries = self.client.gather(sums)
            else:
                tasks = [delayed(_summary_task, pure=False)(prepare, i, d.n_rows, p, ln)
                         for i, (p, ln) in enumerate(zip(d.parts, lengths))]
                self.summaries = list(self.client.gather(self.client.compute(tasks)))
        else:
            if d.persist:
                self._prepared = self._local_map(
                    lambda i: _prepare_task(prepare, i, d.n_rows, d.parts[i], lengths[i]))
                self.summaries = [p[1] for p in self._prepared]
            else:
                self.summaries = self._local_map(
                    lambda i: _summary_task(prepare, i, d.n_rows, d.parts[i], lengths[i]))

    # local scheduler -------------------------------------------------------
    def _local_map(self, fn):
        """``[fn(i) for each partition]`` in a local thread pool, in partition order: a
        dask partition is computed in its thread by dask's synchronous scheduler, a
        Loader called there."""
        n = len(self.data.parts)
        if self.data.scheduler == "sync" or n == 1:
            return [fn(i) for i in range(n)]
        workers = self.data.n_workers
        if workers is None:
            try:
                workers = len(os.sched_getaffinity(0))
            except (AttributeError, OSError):    # pragma: no cover - macOS, Windows
                workers = os.cpu_count() or 1
        # (each dask partition is computed with the synchronous scheduler, see _load:
        # nested thread pools would oversubscribe the CPUs)
        with ThreadPoolExecutor(min(workers, n)) as pool:
            return list(pool.map(fn, range(n)))

    # the E-step --------------------------------------------------------------
    def estep(self, part_estep: Callable, static=None) -> Callable:
        """``estep(theta) -> (counts, loglik)``: the sum over partitions of
        ``part_estep(static, state, theta)``. ``static`` (model structure, threads)
        is sent to the workers once."""
        self._drop_actors()             # they hold the previous part_estep and static
        if self.client is not None:
            # a task holding ``static``: recomputable from the scheduler's copy of the
            # task if the worker that holds it is lost (unlike scattered data)
            self._static = self.client.submit(_identity, static, pure=False)
        else:
            self._static = static

        def estep(theta):
            theta = [np.asarray(t) for t in theta]
            attempt = 0
            while True:
                try:
                    out = self._run(part_estep, theta)
                    break
                except Exception as exc:      # noqa: BLE001 - sorted just below
                    if _bad_data(exc) or self.client is None or attempt >= self.data.retries:
                        raise
                    # (actors on a lost worker are gone: start them again, on the
                    # partitions that the scheduler recomputes)
                    self._drop_actors()
                    attempt += 1
                    self.n_retries += 1
            self.n_calls += 1
            if out is None:
                raise ValueError("X has no rows: every partition is empty; there is nothing "
                                 "to fit.")
            return out

        return estep

    def _run(self, part_estep, theta):
        d = self.data
        if self.client is not None:
            c = self.client
            f = d.fan_in
            if d.persist and d.actors:
                got = self._run_actors(part_estep, theta)
            elif d.persist:
                futs = [c.submit(_block_task, part_estep, idx[0], d.n_rows, f, self._static,
                                 theta, *[self._prepared[i] for i in idx], workers=worker,
                                 allow_other_workers=True, pure=False)
                        for _, idx, worker in self._blocks]
                got = c.gather(futs)
            else:
                from dask import delayed

                futs = []
                for _, idx, worker in self._blocks:
                    task = delayed(_stream_block, pure=False)(
                        self.prepare, part_estep, idx[0], d.n_rows, f, self._static, theta,
                        [d.parts[i] for i in idx], [self._lengths[i] for i in idx])
                    futs.append(c.compute(task, workers=worker, allow_other_workers=True))
                got = c.gather(futs)
            # the block sums are the subtrees of the fixed tree: finish it here
            self.block_times = [(w, cpu) for _, w, cpu in got]
            return tree_sum([g[0] for g in got], f)   # aligned blocks: the same tree
        if d.persist:
            res = self._local_map(lambda i: _estep_task(part_estep, i, d.n_rows, self._static,
                                                        self._prepared[i], theta))
        else:
            res = self._local_map(lambda i: _stream_task(
                self.prepare, part_estep, i, d.n_rows, self._static, d.parts[i],
                self._lengths[i], theta))
        return tree_sum(res, d.fan_in)

    def _start_actors(self, part_estep):
        """One :class:`_WorkerBlocks` actor per worker, on the worker that holds its
        blocks; returns (actor futures, actor handles, the block numbers of each)."""
        c, d = self.client, self.data
        owned = {}
        for b, _, worker in self._blocks:
            owned.setdefault(worker, []).append(b)
        futs = []
        for worker, blocks in owned.items():
            idxs = [self._blocks[b][1] for b in blocks]
            futs.append(c.submit(_WorkerBlocks, part_estep, d.n_rows, d.fan_in, self._static,
                                 [(ix[0], len(ix)) for ix in idxs],
                                 *[self._prepared[i] for ix in idxs for i in ix],
                                 workers=worker, allow_other_workers=True, actor=True,
                                 pure=False))
        with c.as_current():            # an actor handle binds to the current client
            handles = [f.result() for f in futs]
        return futs, handles, list(owned.values())

    def _run_actors(self, part_estep, theta):
        """Each worker's actor runs its blocks: one direct call per worker (no task
        graph, no scheduler transitions); the block results in block order."""
        if self._actors is None:
            self._actors = self._start_actors(part_estep)
        futs, handles, owned = self._actors
        calls = [h.estep(theta) for h in handles]
        got = [None] * len(self._blocks)
        for call, blocks in zip(calls, owned):
            for b, r in zip(blocks, _actor_result(call, futs)):
                got[b] = r
        return got

    def _drop_actors(self):
        if self._actors is not None:
            for f in self._actors[0]:
                f.release()
            self._actors = None

    def close(self):
        """Release the prepared partitions (worker memory)."""
        self._drop_actors()
        if self.client is not None:
            for f in (self._prepared or []):
                f.release()
            if self._static is not None and hasattr(self._static, "release"):
                self._static.release()
        self._prepared = None
        self._static = None


def compressed_state(codes):
    """Row-compressed partition state: (distinct rows, weights float64, first original
    row of each distinct row); ``None`` for zero rows."""
    from .data import compress_rows

    if codes.shape[0] == 0:
        return None
    cr = compress_rows(codes)
    first = np.empty(cr.rows.shape[0], dtype=np.int64)
    first[cr.inverse[::-1]] = np.arange(codes.shape[0] - 1, -1, -1)
    return cr.rows, cr.counts.astype(np.float64), first
