"""pyAgrum bridge: convert ``pyagrum.BayesNet`` networks to and from emfast, exactly.

* :func:`from_pyagrum` turns a ``pyagrum.BayesNet`` into an
  :class:`emfast.BayesianNetwork` (labels kept, probabilities copied bit for bit);
* :func:`to_pyagrum` goes back (one ``LabelizedVariable`` per variable).

Fit the network with emfast (``bn.fit(data)``: hidden variables and missing cells by
exact EM) and hand it back to pyAgrum for its inference, or start emfast from a network
learned or written in pyAgrum. pyagrum is imported on first use; without it these raise
an ImportError naming the extra (``pip install 'emfast[pyagrum]'``). See docs/bridges.md.

pyAgrum's layout: ``bn.cpt(v)`` is a tensor over ``names = (v, parent_1, ..., parent_k)``
(the child first); ``toarray()`` has the axes of ``names`` reversed (the first variable
varies fastest), and ``fillWith(values)`` reads values in that same order.
"""
from __future__ import annotations

import numpy as np

from ..bayesnet import BayesianNetwork
from . import require

__all__ = ["from_pyagrum", "to_pyagrum"]


def _gum():
    return require("pyagrum", "pyagrum")


def from_pyagrum(gbn) -> BayesianNetwork:
    """Convert a ``pyagrum.BayesNet`` into an :class:`emfast.BayesianNetwork`.

    Parameters
    ----------
    gbn : pyagrum.BayesNet

    Returns
    -------
    BayesianNetwork
        Variables in node-id order; the parents of each variable in the order of its
        CPT tensor; the labels of each pyAgrum variable as state labels (any
        discrete variable type: labelized, range, integer, discretized); the
        probabilities copied exactly.

    Raises
    ------
    TypeError
        ``gbn`` is not a ``pyagrum.BayesNet``.
    ValueError
        A CPT row does not sum to 1 (emfast checks every row of every table).
    """
    gum = _gum()
    if not isinstance(gbn, gum.BayesNet):
        raise TypeError(f"from_pyagrum expects a pyagrum.BayesNet; got {type(gbn).__name__}.")
    ids = sorted(gbn.nodes())
    names = [gbn.variable(i).name() for i in ids]
    labels = {v: list(gbn.variable(v).labels()) for v in names}
    tensors = {v: gbn.cpt(v) for v in names}
    parents = {v: list(tensors[v].names)[1:] for v in names}
    edges = [(p, v) for v in names for p in parents[v]]
    bn = BayesianNetwork(edges, {v: len(labels[v]) for v in names}, states=labels)
    for v in names:
        axes = list(tensors[v].names)[::-1]                 # toarray() axis order
        a = np.asarray(tensors[v].toarray(), dtype=np.float64)
        bn.cpts[v] = a.transpose([axes.index(x) for x in parents[v] + [v]])
    return bn


def to_pyagrum(bn: BayesianNetwork, name: str = "emfast"):
    """Convert an :class:`emfast.BayesianNetwork` into a ``pyagrum.BayesNet``.

    Parameters
    ----------
    bn : BayesianNetwork
    name : str, default="emfast"
        Name of the pyAgrum network.

    Returns
    -------
    pyagrum.BayesNet
        One ``LabelizedVariable`` per variable (labels ``bn.states[v]``), added in
        ``bn.variables`` order (node ids 0, 1, ...), arcs in ``bn.parents(v)`` order,
        and every CPT filled with the exact values of ``bn.cpts[v]``.
    """
    gum = _gum()
    if not isinstance(bn, BayesianNetwork):
        raise TypeError(f"to_pyagrum expects an emfast BayesianNetwork; got "
                        f"{type(bn).__name__}.")
    gbn = gum.BayesNet(str(name))
    for v in bn.variables:
        var = gum.LabelizedVariable(str(v), str(v), 0)
        for label in bn.states[v]:
            var.addLabel(str(label))
        gbn.add(var)
    for v in bn.variables:
        for p in bn.parents(v):
            gbn.addArc(str(p), str(v))
    for v in bn.variables:
        pot = gbn.cpt(str(v))
        axes = list(pot.names)[::-1]                        # fillWith() reads in this order
        order = [str(x) for x in bn.parents(v)] + [str(v)]
        a = np.asarray(bn.cpts[v]).transpose([order.index(x) for x in axes])
        pot.fillWith(a.ravel().tolist())
    return gbn
