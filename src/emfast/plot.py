"""Convergence plots (optional extra ``plot``: ``pip install 'emfast[plot]'``).

matplotlib is imported only when a plot is drawn, never by ``import emfast``.
"""
from __future__ import annotations

import numpy as np

from .em import EMResult, EMTrace

__all__ = ["convergence"]

_X = {"n_estep": "E-steps", "seconds": "seconds"}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:      # pragma: no cover - depends on the environment
        raise ImportError("emfast.plot needs matplotlib; install it with "
                          "pip install 'emfast[plot]' (or pip install matplotlib).") from exc
    return plt


def _traces(obj):
    """(label, [EMTrace per restart], best index) of a fitted model / EMResult / EMTrace."""
    if isinstance(obj, EMTrace):
        traces, best = [obj], 0
    elif isinstance(obj, EMResult):
        traces = list(obj.extra.get("traces", [obj.trace()]))
        best = int(obj.extra.get("best_init", 0))
    elif hasattr(obj, "init_histories_"):
        traces = list(obj.init_histories_)
        finals = [t.objective[-1] if len(t.objective) else -np.inf for t in traces]
        best = int(np.argmax(finals))
    else:
        raise TypeError(f"convergence() takes fitted emfast models (with init_histories_), "
                        f"EMResult or EMTrace objects; got {type(obj).__name__}. Fit the "
                        "model first.")
    if not traces:
        raise ValueError("convergence(): the model has no convergence history.")
    acc = traces[0].accelerate
    method = "SQUAREM" if acc == "squarem" else ("plain EM" if acc is None else str(acc))
    name = type(obj).__name__ if not isinstance(obj, (EMTrace, EMResult)) else ""
    return (f"{name} ({method})" if name else method), traces, best


def convergence(models, *, labels=None, x=("n_estep", "seconds"), y="loglik", axes=None,
                best_only=False):
    """Objective against E-steps and against seconds, one curve per restart.

    Parameters
    ----------
    models : fitted model, EMResult, EMTrace, or a list / dict of them
        Fitted emfast models (``BayesianNetwork``, ``LatentClassModel``,
        ``CategoricalHMM``: anything with ``init_histories_``). Each gets one
        colour; each of its restarts one curve (the best restart drawn bold).
        Fit the same data with ``accelerate=None`` and ``"squarem"`` to see
        plain and accelerated EM side by side. A dict maps labels to models.
    labels : list of str, optional
        Legend label per model (default: class name and method).
    x : str or sequence of str, default=("n_estep", "seconds")
        One panel per entry: ``"n_estep"`` (E-steps run, rejected SQUAREM
        proposals included) and/or ``"seconds"`` (wall time since the start of
        each restart).
    y : {"loglik", "gap"}, default="loglik"
        ``"loglik"``: the monitored objective (log-likelihood, plus the log
        prior for MAP fits). ``"gap"``: the best final objective over every
        curve minus the objective, on a log scale (how far from the answer).
    axes : matplotlib Axes or sequence of them, optional
        Draw into these (one per entry of ``x``) instead of a new figure.
    best_only : bool, default=False
        Draw only the best restart of each model.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, emfast, emfast.plot                  # doctest: +SKIP
    >>> fits = [emfast.LatentClassModel(3, n_init=3, random_state=0, accelerate=a).fit(X)
    ...         for a in (None, "squarem")]                      # doctest: +SKIP
    >>> emfast.plot.convergence(fits, y="gap").savefig("convergence.png")  # doctest: +SKIP
    """
    if isinstance(models, dict):
        labels = list(models) if labels is None else labels
        models = list(models.values())
    elif not isinstance(models, (list, tuple)):
        models = [models]
    if not models:
        raise ValueError("convergence(): no models given.")
    xs = (x,) if isinstance(x, str) else tuple(x)
    for key in xs:
        if key not in _X:
            raise ValueError(f"x must be 'n_estep' or 'seconds' (or a list of them); got {key!r}.")
    if y not in ("loglik", "gap"):
        raise ValueError(f"y must be 'loglik' or 'gap'; got {y!r}.")
    series = [_traces(m) for m in models]
    if labels is None:
        labels = [s[0] for s in series]
    elif len(labels) != len(series):
        raise ValueError(f"labels has {len(labels)} entries for {len(series)} models.")
    plt = _pyplot()
    if axes is None:
        fig, axs = plt.subplots(1, len(xs), figsize=(5.2 * len(xs), 3.8), squeeze=False)
        axs = list(axs[0])
    else:
        axs = list(np.atleast_1d(axes))
        if len(axs) != len(xs):
            raise ValueError(f"axes has {len(axs)} entries for {len(xs)} panels (x={xs!r}).")
        fig = axs[0].figure
    best_all = max(float(np.max(t.objective)) for _, ts, _ in series for t in ts
                   if len(t.objective))
    floor = 1e-13 * max(1.0, abs(best_all))
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2", "C3"])
    for ax, key in zip(axs, xs):
        for i, ((_, traces, best), label) in enumerate(zip(series, labels)):
            color = colors[i % len(colors)]
            for k, t in enumerate(traces):
                if best_only and k != best:
                    continue
                xv = np.asarray(t.n_estep if key == "n_estep" else t.seconds, dtype=float)
                yv = np.asarray(t.objective, dtype=float)
                if y == "gap":
                    yv = np.maximum(best_all - yv, floor)
                ax.plot(xv, yv, color=color, lw=1.8 if k == best else 0.8,
                        alpha=1.0 if k == best else 0.55,
                        label=label if k == best else None)
        ax.set_xlabel(_X[key])
        if y == "gap":
            ax.set_yscale("log")
            ax.set_ylabel("best objective - objective")
        else:
            ax.set_ylabel("objective (log-likelihood)")
        ax.grid(True, alpha=0.3)
    axs[0].legend(loc="best", fontsize="small")
    return fig
