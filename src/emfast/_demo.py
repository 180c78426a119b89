"""``emfast demo``: learn the ALARM network back from incomplete data.

The demo samples complete data from the bundled ALARM network (the truth),
blanks a fraction of all cells completely at random (MCAR), hides one
variable entirely, starts EM from random CPTs (every row ~ Dirichlet(1)) and
reports how close the learned CPTs are to the truth before and after fitting.

A fully hidden variable is identified only up to a relabelling of its states
(label switching): EM may call the truth's state 0 "state 2". Before
comparing, the demo therefore matches the hidden variable's learned states to
the true ones with the permutation that makes its own CPT and its children's
CPTs closest to the truth, and applies that permutation.

Distances are averaged over parent configurations weighted by how often each
configuration occurs in the complete sample (a configuration that never
occurs cannot be learned and would only add noise):

* ``|dp|``: mean absolute difference of the probabilities in a row;
* ``KL``: Kullback-Leibler divergence KL(true row || learned row), with the
  learned probabilities floored at 1e-9.
"""
from __future__ import annotations

import itertools
import sys
import time

import numpy as np

__all__ = ["run_demo", "cpt_distances", "match_hidden_states", "random_cpts"]

_KL_FLOOR = 1e-9


def random_cpts(bn, rng) -> None:
    """Set every CPT row of ``bn`` to a Dirichlet(1) draw (in variable order)."""
    cards = bn.cardinalities
    for v in bn.variables:
        shape = tuple(cards[p] for p in bn.parents(v))
        bn.cpts[v] = rng.dirichlet(np.ones(cards[v]), size=shape)


def _config_weights(bn, v, complete) -> np.ndarray:
    """Frequency of each parent configuration of ``v`` in complete data (codes)."""
    cards = bn.cardinalities
    parents = bn.parents(v)
    pc = tuple(cards[p] for p in parents)
    if not parents:
        return np.ones(())
    idx = [bn.variables.index(p) for p in parents]
    flat = np.ravel_multi_index(tuple(complete[:, i] for i in idx), pc)
    w = np.bincount(flat, minlength=int(np.prod(pc))).astype(float)
    return (w / w.sum()).reshape(pc)


def cpt_distances(truth, learned, complete) -> dict:
    """``{variable: (weighted mean |dp|, weighted KL)}`` between two networks' CPTs."""
    out = {}
    for v in truth.variables:
        t = np.asarray(truth.cpts[v])
        q = np.asarray(learned.cpts[v])
        w = _config_weights(truth, v, complete)
        mad = np.abs(t - q).mean(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(t > 0, t * (np.log(t) - np.log(np.maximum(q, _KL_FLOOR))), 0.0)
        kl = terms.sum(axis=-1)
        out[v] = (float((w * mad).sum()), float((w * kl).sum()))
    return out


def _permute_state(bn, hidden, perm) -> None:
    """Relabel the states of ``hidden`` in ``bn``'s CPTs: new state i = old state perm[i]."""
    perm = np.asarray(perm)
    bn.cpts[hidden] = np.asarray(bn.cpts[hidden])[..., perm]
    for c in bn.children(hidden):
        axis = bn.parents(c).index(hidden)
        bn.cpts[c] = np.take(np.asarray(bn.cpts[c]), perm, axis=axis)


def match_hidden_states(truth, learned, hidden, complete):
    """Relabel ``hidden``'s states in ``learned`` (in place) to best match ``truth``.

    Tries every permutation (cardinalities up to 6) and keeps the one with the
    smallest sum of weighted mean |dp| over the CPTs of ``hidden`` and of its
    children. Returns the permutation applied (learned state ``perm[i]`` is now
    state ``i``).
    """
    k = truth.cardinalities[hidden]
    if k > 6:
        raise ValueError(f"Matching the states of {hidden!r} tries every permutation; its "
                         f"{k} states are too many (at most 6).")
    fam = [hidden, *truth.children(hidden)]
    best, best_perm = np.inf, tuple(range(k))
    for perm in itertools.permutations(range(k)):
        trial = learned.copy()
        _permute_state(trial, hidden, perm)
        d = cpt_distances(truth, trial, complete)
        score = sum(d[v][0] for v in fam)
        if score < best:
            best, best_perm = score, perm
    _permute_state(learned, hidden, best_perm)
    return best_perm


def run_demo(*, n_rows=20_000, missing=0.2, hide="HR", seed=0, max_iter=100, tol=1e-6,
             n_jobs=None, verbose=True, out=None) -> dict:
    """Run the demo and print a report; returns the numbers it printed.

    Parameters
    ----------
    n_rows : int
        Rows sampled from ALARM.
    missing : float
        Fraction of all cells blanked completely at random.
    hide : str or None
        Variable removed from the data entirely (``None``: hide nothing).
    seed : int
        Seeds the sample, the blanking and the random start.
    max_iter, tol, n_jobs, verbose
        Passed to :meth:`BayesianNetwork.fit` (``init="current"`` from the
        random start).
    """
    from .datasets import load_network

    out = sys.stdout if out is None else out
    if not 0 <= missing < 1:
        raise ValueError(f"missing must be in [0, 1); got {missing!r}.")
    truth = load_network("alarm")
    if hide is not None and hide not in truth.variables:
        raise ValueError(f"--hide {hide!r} is not an ALARM variable; choose one of "
                         f"{truth.variables!r}.")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    complete = np.asarray(truth.sample(n_rows, random_state=seed), dtype=np.int32)
    data = complete.copy()
    data[rng.random(data.shape) < missing] = -1
    if hide is not None:
        data[:, truth.variables.index(hide)] = -1
    t_sample = time.perf_counter() - t0

    model = truth.copy()
    random_cpts(model, rng)
    start = model.copy()
    p = print
    p(f"emfast demo: ALARM network ({len(truth.variables)} variables, {len(truth.edges)} "
      f"edges), {n_rows:,} rows sampled in {t_sample:.2f} s", file=out)
    p(f"  {missing:.0%} of the cells blanked at random"
      + (f"; {hide!r} ({truth.cardinalities[hide]} states) hidden in every row" if hide else "")
      + f": {float((data < 0).mean()):.1%} of all cells missing", file=out)
    p("  EM from a random start (every CPT row ~ Dirichlet(1)):", file=out, flush=True)
    t1 = time.perf_counter()
    model.fit(data, init="current", max_iter=max_iter, tol=tol, n_jobs=n_jobs, verbose=verbose)
    t_fit = time.perf_counter() - t1
    perm = None
    if hide is not None:
        perm = match_hidden_states(truth, model, hide, complete)
        match_hidden_states(truth, start, hide, complete)
    d0 = cpt_distances(truth, start, complete)
    d1 = cpt_distances(truth, model, complete)
    ll_truth = float(truth.log_likelihood(data))
    ll_fit = float(model.log_likelihood_)

    p(f"  {model.n_iter_} iterations in {t_fit:.2f} s ({t_fit / max(model.n_iter_, 1):.3f} "
      f"s/iteration), converged={model.converged_}", file=out)
    p(f"  log-likelihood of the data: fitted {ll_fit:,.1f}   true network {ll_truth:,.1f}",
      file=out)
    if hide is not None:
        p(f"  hidden {hide!r}: learned states matched to the true ones by the permutation "
          f"{tuple(int(i) for i in perm)} (label switching)", file=out)
    p("", file=out)
    p("  distance to the true CPTs (weighted by parent-configuration frequency)", file=out)
    p(f"  {'':28s}{'mean |dp|':>22s}{'KL(true||learned)':>24s}", file=out)
    p(f"  {'':28s}{'start':>10s}{'fitted':>12s}{'start':>12s}{'fitted':>12s}", file=out)

    def line(label, names):
        a0 = np.mean([d0[v][0] for v in names])
        a1 = np.mean([d1[v][0] for v in names])
        k0 = np.mean([d0[v][1] for v in names])
        k1 = np.mean([d1[v][1] for v in names])
        p(f"  {label:28s}{a0:10.4f}{a1:12.4f}{k0:12.4f}{k1:12.4f}", file=out)
        return a0, a1, k0, k1

    summary = {"all": line(f"all {len(truth.variables)} CPTs", truth.variables)}
    if hide is not None:
        fam = [hide, *truth.children(hide)]
        others = [v for v in truth.variables if v not in fam]
        summary["hidden"] = line(f"{hide} (hidden)", [hide])
        summary["children"] = line(f"children of {hide}", list(truth.children(hide)))
        summary["others"] = line("all other CPTs", others)
    worst = sorted(truth.variables, key=lambda v: -d1[v][0])[:3]
    p("  largest fitted |dp|: " + ", ".join(f"{v} {d1[v][0]:.4f}" for v in worst), file=out)
    p(f"  total time {time.perf_counter() - t0:.2f} s", file=out)
    return {"summary": summary, "before": d0, "after": d1, "n_iter": model.n_iter_,
            "fit_seconds": t_fit, "permutation": perm, "ll_fit": ll_fit, "ll_truth": ll_truth}
