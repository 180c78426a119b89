"""Missingness mechanisms as models: MCAR, MAR, MNAR.

The data model is ``p(x_obs, m | θ, δ) = Σ_{x_mis} p(m | x, δ) p(x | θ)``, where
``m_i = 1`` when ``x_i`` is missing. A mechanism names, for each variable that
can be missing, the variables its indicator ``m_i`` depends on:

* :class:`MCAR` — no parents: ``p(m_i | δ)``;
* :class:`MAR` — parents that are always observed: ``p(m_i | x_obs, δ)``;
* :class:`MNAR` — any parents, the variable itself and hidden variables included.

Fitting a mechanism adds one always-observed binary indicator node per
modelled variable to the network (named ``m_<name>``, states
``("observed", "missing")``, parents as the mechanism names) and runs the same
EM on the augmented network; θ (the data CPTs) and δ (the indicator CPTs) are
fitted jointly.

This module holds the mechanisms and the pure-data augmentation (indicator
columns, the augmented structure as plain edges/cardinalities/states); each
model's ``fit`` handles ``missingness=`` itself (``BayesianNetwork.fit``,
``LatentClassModel.fit``, ``CategoricalHMM.fit``). The diagnostics
(:func:`~emfast.diagnostics.mcar_test`, :func:`~emfast.diagnostics.sensitivity_analysis`)
live in :mod:`emfast.diagnostics`. Under MCAR and MAR the log-likelihood separates into a θ part
and a δ part, so the θ of the joint fit equals the θ of the ignorable fit
(tests/test_missingness.py checks this along the whole EM path). Under MNAR it
does not, and the joint fit is the only correct one — provided the mechanism
is identifiable (see docs/missing-data.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .data import MISSING

__all__ = ["MCAR", "MAR", "MNAR", "Mechanism", "LogLikelihoodParts", "INDICATOR_STATES",
           "check_mechanism", "indicator_names", "augment_codes", "augment_structure",
           "check_fixed_missingness"]

INDICATOR_STATES = ("observed", "missing")


class Mechanism:
    """Base class: ``parents`` maps a variable name to the names its indicator depends on."""

    kind = "mechanism"

    def __init__(self, parents: Mapping[str, Sequence[str]] | None = None):
        self.parents = parents

    def _parents(self) -> dict:
        out = {}
        for var, pa in dict(self.parents or {}).items():
            if isinstance(pa, str):
                pa = [pa]
            pa = tuple(pa)
            if len(set(pa)) != len(pa):
                raise ValueError(f"{self.kind}: the indicator of {var!r} names a parent twice: "
                                 f"{list(pa)!r}.")
            out[var] = pa
        return out

    def __repr__(self):
        if self.parents is None:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}({dict(self.parents)!r})"

    def __eq__(self, other):
        return type(self) is type(other) and self._parents() == other._parents()

    def resolve(self, variables: Sequence[str], codes: np.ndarray) -> dict:
        """Return ``{variable: parents}`` for every indicator to add, validated against the data.

        Indicators are added for every variable the mechanism names and for
        every other variable that is missing in some rows (those get an MCAR
        indicator). Hidden variables (missing in every row) get none: their
        missingness is by design, not a mechanism.
        """
        variables = list(variables)
        index = {v: i for i, v in enumerate(variables)}
        miss = codes == MISSING
        n_miss = miss.sum(axis=0)
        n = codes.shape[0]
        hidden = {v for v in variables if n_miss[index[v]] == n}
        named = self._parents()
        for var, pa in named.items():
            if var not in index:
                raise ValueError(f"{self.kind} names {var!r}, which is not a model variable; "
                                 f"model variables are {variables!r}.")
            if var in hidden:
                raise ValueError(f"{self.kind} names {var!r}, but {var!r} is hidden (missing in "
                                 "every row): its missingness is by design and is not modelled.")
            for p in pa:
                if p not in index:
                    raise ValueError(f"{self.kind}: the indicator of {var!r} depends on {p!r}, "
                                     f"which is not a model variable; model variables are "
                                     f"{variables!r}.")
        self._check(variables, codes, named, hidden)
        out = {}
        for v in variables:
            if v in named:
                out[v] = named[v]
            elif v not in hidden and n_miss[index[v]] > 0:
                out[v] = ()
        return out

    def _check(self, variables, codes, named, hidden):
        pass


class MCAR(Mechanism):
    """Missing completely at random: each indicator ``m_i`` has no parents.

    Every variable with missing values gets an indicator with one parameter,
    ``P(m_i = 1)``.
    """

    kind = "MCAR"

    def __init__(self):
        super().__init__(None)


class MAR(Mechanism):
    """Missing at random: ``m_i`` depends on variables that are always observed.

    Parameters
    ----------
    parents : dict
        ``{variable: [always-observed variables its indicator depends on]}``.
        Variables not named get an MCAR indicator. Checked against the data at
        fit time: a parent that is ever missing, or hidden, makes the mechanism
        MNAR, and the fit raises a ``ValueError`` saying so.
    """

    kind = "MAR"

    def __init__(self, parents: Mapping[str, Sequence[str]]):
        super().__init__(parents)

    def _check(self, variables, codes, named, hidden):
        index = {v: i for i, v in enumerate(variables)}
        for var, pa in named.items():
            for p in pa:
                col = codes[:, index[p]]
                n_bad = int(np.sum(col == MISSING))
                if n_bad:
                    first = int(np.flatnonzero(col == MISSING)[0])
                    what = ("is hidden (never observed)" if p in hidden else
                            f"is missing in {n_bad} row(s) (first: row {first})")
                    raise ValueError(
                        f"MAR: the indicator of {var!r} depends on {p!r}, which {what}. "
                        "Under MAR an indicator may depend only on values that are always "
                        "observed; a mechanism that depends on a value that can be missing is "
                        f"MNAR, not MAR. Use emfast.MNAR({{{var!r}: {list(pa)!r}}}) instead.")


class MNAR(Mechanism):
    """Missing not at random: ``m_i`` may depend on any variables.

    Parameters
    ----------
    parents : dict
        ``{variable: [variables its indicator depends on]}``; the variable
        itself (self-masking) and hidden variables are allowed. Variables not
        named get an MCAR indicator. Whether θ and δ are identifiable depends on
        the network; see docs/missing-data.md.
    """

    kind = "MNAR"

    def __init__(self, parents: Mapping[str, Sequence[str]]):
        super().__init__(parents)


def check_mechanism(mechanism) -> Mechanism:
    if not isinstance(mechanism, Mechanism):
        raise TypeError(f"missingness must be emfast.MCAR(), emfast.MAR({{...}}) or "
                        f"emfast.MNAR({{...}}); got {mechanism!r}.")
    return mechanism


# ---------------------------------------------------------------------------
# augmentation
# ---------------------------------------------------------------------------

def indicator_names(variables: Sequence[str], resolved: Mapping[str, tuple]) -> dict:
    """``{variable: indicator node name}``, ``m_<name>`` made unique against ``variables``."""
    taken = set(variables)
    out = {}
    for v in resolved:
        name = f"m_{v}"
        while name in taken:
            name = "_" + name
        taken.add(name)
        out[v] = name
    return out


def augment_codes(codes: np.ndarray, variables: Sequence[str], resolved: Mapping[str, tuple]
                  ) -> np.ndarray:
    """Append one always-observed 0/1 indicator column per resolved variable."""
    index = {v: i for i, v in enumerate(variables)}
    ind = np.stack([(codes[:, index[v]] == MISSING) for v in resolved], axis=1) \
        if resolved else np.zeros((codes.shape[0], 0), dtype=bool)
    return np.ascontiguousarray(np.concatenate([codes, ind.astype(np.int32)], axis=1))


def augment_structure(variables: Sequence[str], cardinalities: Mapping[str, int],
                      states: Mapping[str, Sequence[str]], edges: Sequence[tuple],
                      resolved: Mapping[str, tuple]) -> tuple:
    """The structure of a network with one indicator node per resolved variable.

    Returns ``(edges, cardinalities, states, names)`` (plain data, ready for the
    network constructor): the indicator of ``v`` is ``names[v]`` (``m_<v>``), binary
    with states :data:`INDICATOR_STATES`, its parents ``resolved[v]``; indicator
    nodes come after every variable, in the order of ``resolved``.
    """
    names = indicator_names(variables, resolved)
    cards = {v: int(cardinalities[v]) for v in variables}
    st = {v: list(states[v]) for v in variables}
    new_edges = list(edges)
    for v, m in names.items():
        cards[m] = 2
        st[m] = list(INDICATOR_STATES)
        new_edges += [(p, m) for p in resolved[v]]
    return new_edges, cards, st, names


def check_fixed_missingness(fixed_missingness, resolved: Mapping[str, tuple],
                            cardinalities: Mapping[str, int]) -> dict:
    """Validate ``fixed_missingness={var: table}`` against the resolved indicators.

    A table has shape ``(*parent_cards, 2)`` (observed, missing), or ``parent_cards``
    (P(missing), the observed column is filled in as ``1 - p``).
    """
    from .em import check_table

    out = {}
    for v, table in dict(fixed_missingness or {}).items():
        if v not in resolved:
            raise ValueError(f"fixed_missingness names {v!r}, which has no missingness indicator "
                             f"under this mechanism and data; indicators: {sorted(resolved)!r}.")
        shape = tuple(int(cardinalities[p]) for p in resolved[v]) + (2,)
        t = np.asarray(table, dtype=np.float64)
        if t.shape != shape:
            if t.shape == shape[:-1]:
                if np.any(t < 0) or np.any(t > 1):
                    raise ValueError(f"fixed_missingness[{v!r}] holds P(missing) values outside "
                                     "[0, 1].")
                t = np.stack([1.0 - t, t], axis=-1)
            else:
                raise ValueError(f"fixed_missingness[{v!r}] must have shape {shape} (parents "
                                 f"{list(resolved[v])!r} then (observed, missing)) or "
                                 f"{shape[:-1]} (P(missing)); got {t.shape}.")
        out[v] = check_table(t, shape, f"fixed_missingness[{v!r}]")
    return out


@dataclass
class LogLikelihoodParts:
    """The log-likelihood of data and missingness pattern under a mechanism.

    Attributes
    ----------
    total : float
        ``Σ_k log p(x_obs^k, m^k | θ, δ)``.
    theta : float
        ``Σ_k log p(x_obs^k | θ)``: the ignorable log-likelihood.
    delta : float
        ``total - theta``. Under MCAR and MAR this is ``Σ_k log p(m^k | x_obs^k, δ)``,
        a function of δ alone (the separation result); under MNAR it is
        ``Σ_k log p(m^k | x_obs^k, θ, δ)`` and depends on θ too.
    mechanism : Mechanism
    """

    total: float
    theta: float
    delta: float
    mechanism: object = None

    def __float__(self):
        return float(self.total)


