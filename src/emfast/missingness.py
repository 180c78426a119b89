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
fitted jointly. Under MCAR and MAR the log-likelihood separates into a θ part
and a δ part, so the θ of the joint fit equals the θ of the ignorable fit
(tests/test_missingness.py checks this along the whole EM path). Under MNAR it
does not, and the joint fit is the only correct one — provided the mechanism
is identifiable (see docs/missing-data.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from .data import MISSING, compress_rows
from ._stats import chi2_sf

__all__ = ["MCAR", "MAR", "MNAR", "LogLikelihoodParts", "MCARTestResult", "mcar_test",
           "sensitivity_analysis", "INDICATOR_STATES"]

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


def augment_network(bn, resolved: Mapping[str, tuple], delta: Mapping[str, np.ndarray] | None = None):
    """Return (augmented network, names) with indicator nodes added to a copy of ``bn``.

    Indicator CPTs start at ``delta[var]`` when given, else uniform.
    """
    from .bayesnet import BayesianNetwork

    names = indicator_names(bn.variables, resolved)
    cards = dict(bn.cardinalities)
    states = {v: list(bn.states[v]) for v in bn.variables}
    edges = list(bn.edges)
    for v, m in names.items():
        cards[m] = 2
        states[m] = list(INDICATOR_STATES)
        edges += [(p, m) for p in resolved[v]]
    aug = BayesianNetwork(edges, cards, states=states)
    for v in bn.variables:
        aug.cpts[v] = bn.cpts[v]
    if delta:
        for v, table in delta.items():
            if v in names:
                aug.cpts[names[v]] = table
    return aug, names


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


# ---------------------------------------------------------------------------
# MCAR test
# ---------------------------------------------------------------------------

@dataclass
class MCARTestResult:
    """Likelihood-ratio test of MCAR against MAR given always-observed covariates.

    Attributes
    ----------
    statistic : float
        ``2 (l_MAR - l_MCAR)``, summed over the tested indicators.
    df : int
        Degrees of freedom (sum over indicators of the number of observed
        covariate configurations minus one).
    pvalue : float
        Chi-square upper tail probability (asymptotic; unreliable when many
        covariate configurations are sparse).
    covariates : list of str
    per_variable : dict
        ``{variable: {"statistic", "df", "pvalue", "n_missing"}}``.
    """

    statistic: float
    df: int
    pvalue: float
    covariates: list
    per_variable: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"MCARTestResult(statistic={self.statistic:.6g}, df={self.df}, "
                f"pvalue={self.pvalue:.4g}, covariates={self.covariates!r})")


def _as_codes(data, variables):
    """Codes and names from a DataFrame (encoded) or an int/float array (-1/NaN missing)."""
    from .data import NO_CARD_LIMIT, _is_dataframe, check_data, encode

    if _is_dataframe(data):
        codes, schema = encode(data)
        return codes, [str(n) for n in schema.names]
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValueError(f"data must be 2-dimensional; got shape {arr.shape}.")
    names = list(variables) if variables is not None else [f"x{j}" for j in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise ValueError(f"variables names {len(names)} columns but data has {arr.shape[1]}.")
    return check_data(arr, names, [NO_CARD_LIMIT] * len(names), name="data"), names


def mcar_test(data, *, covariates: Sequence[str] | None = None,
              variables: Sequence[str] | None = None, test: Sequence[str] | None = None
              ) -> MCARTestResult:
    """Likelihood-ratio test of MCAR against MAR given always-observed variables.

    For every tested variable with missing values, the MCAR model says its
    indicator ``m_i`` is independent of the covariates (one parameter); the
    MAR model lets ``P(m_i = 1)`` differ in every observed configuration of
    the covariates (a saturated table, as ``emfast.MAR({var: covariates})``
    fits). The statistic ``2 Σ_i (l_MAR,i - l_MCAR,i)`` is asymptotically
    chi-square with ``Σ_i (r_i - 1)`` degrees of freedom, where ``r`` is the
    number of covariate configurations that occur. A small p-value is evidence
    against MCAR. No test can tell MAR from MNAR: that needs assumptions.

    Parameters
    ----------
    data : DataFrame or array-like of shape (n_rows, n_columns)
        Codes with -1 / NaN for missing (arrays) or a DataFrame (any labels).
    covariates : list of str, optional
        Always-observed variables to condition on; default: every variable with
        no missing value. A named covariate with missing values is an error.
    variables : list of str, optional
        Column names for array input (default ``x0, x1, ...``).
    test : list of str, optional
        Variables whose indicators are tested; default: every variable that is
        missing in some but not all rows.
    """
    codes, names = _as_codes(data, variables)
    index = {v: i for i, v in enumerate(names)}
    miss = codes == MISSING
    n = codes.shape[0]
    n_miss = miss.sum(axis=0)
    if covariates is None:
        covariates = [v for v in names if n_miss[index[v]] == 0]
    covariates = list(covariates)
    for c in covariates:
        if c not in index:
            raise ValueError(f"covariate {c!r} is not a column; columns are {names!r}.")
        if n_miss[index[c]]:
            raise ValueError(f"covariate {c!r} is missing in {int(n_miss[index[c]])} row(s); "
                             "the MCAR-vs-MAR test conditions on always-observed variables only.")
    if not covariates:
        raise ValueError("mcar_test needs at least one always-observed covariate; none of the "
                         "columns is complete.")
    if test is None:
        test = [v for v in names if 0 < n_miss[index[v]] < n and v not in covariates]
    else:
        test = list(test)
        for v in test:
            if v not in index:
                raise ValueError(f"test names {v!r}, which is not a column; columns are {names!r}.")
    groups = compress_rows(codes[:, [index[c] for c in covariates]]).inverse
    n_groups = int(groups.max()) + 1 if n else 0
    total_g, total_df, per = 0.0, 0, {}
    for v in test:
        if v in covariates:
            raise ValueError(f"{v!r} is both tested and a covariate.")
        m = miss[:, index[v]].astype(np.int64)
        tab = np.zeros((n_groups, 2))
        np.add.at(tab, (groups, m), 1.0)
        rows = tab.sum(1)
        cols = tab.sum(0)
        exp = rows[:, None] * cols[None, :] / n
        with np.errstate(divide="ignore", invalid="ignore"):
            g = 2.0 * float(np.sum(np.where(tab > 0, tab * np.log(tab / exp), 0.0)))
        df = int(np.sum(rows > 0)) - 1
        g = max(g, 0.0)
        p = chi2_sf(g, df) if df > 0 else 1.0
        per[v] = {"statistic": g, "df": df, "pvalue": p, "n_missing": int(cols[1])}
        total_g += g
        total_df += df
    pvalue = chi2_sf(total_g, total_df) if total_df > 0 else 1.0
    return MCARTestResult(total_g, total_df, pvalue, covariates, per)


# ---------------------------------------------------------------------------
# sensitivity analysis
# ---------------------------------------------------------------------------

def sensitivity_analysis(model, data, mechanism, grid: Sequence[Mapping[str, object]],
                         estimand: Callable, **fit_params) -> list:
    """Refit θ with the MNAR δ held fixed at each point of a grid.

    When a mechanism is not identifiable from the data, a sensitivity analysis
    asks how the estimates of interest move across plausible values of δ.

    Parameters
    ----------
    model : BayesianNetwork
        Copied for every grid point (its CPTs are the starting point when
        ``init="current"`` is passed in ``fit_params``).
    data : array-like or DataFrame
    mechanism : MNAR, MAR or MCAR
    grid : list of dict
        Each point maps variables to a δ table ``(*parent_cards, 2)``, or to an
        array of ``P(missing | parents)`` of shape ``parent_cards`` (the
        ``observed`` column is filled in as ``1 - p``).
    estimand : callable
        ``estimand(fitted_model) -> float or array``.
    **fit_params
        Passed on to ``model.fit``.

    Returns
    -------
    list of dict
        One per grid point: ``{"delta": point, "estimate": ..., "log_likelihood":
        total log-likelihood of data and pattern}``. A flat log-likelihood
        across the grid says the data cannot tell the grid points apart.
    """
    out = []
    for point in grid:
        fixed = {}
        for v, t in point.items():
            t = np.asarray(t, dtype=np.float64)
            if t.ndim == 0 or t.shape[-1] != 2:
                t = np.stack([1.0 - t, t], axis=-1)
            fixed[v] = t
        m = model.copy()
        m.fit(data, missingness=mechanism, fixed_missingness=fixed, **fit_params)
        ll = m.log_likelihood(data, missingness=mechanism)
        out.append({"delta": point, "estimate": estimand(m), "log_likelihood": float(ll.total)})
    return out


# ---------------------------------------------------------------------------
# Bayesian networks (BayesianNetwork.fit(missingness=...) and log_likelihood)
# ---------------------------------------------------------------------------

def _check_fixed(fixed_missingness, resolved, bn) -> dict:
    """Validate ``fixed_missingness={var: table}`` against the resolved indicators."""
    out = {}
    for v, table in dict(fixed_missingness or {}).items():
        if v not in resolved:
            raise ValueError(f"fixed_missingness names {v!r}, which has no missingness indicator "
                             f"under this mechanism and data; indicators: {sorted(resolved)!r}.")
        shape = tuple(bn.cardinalities[p] for p in resolved[v]) + (2,)
        t = np.asarray(table, dtype=np.float64)
        if t.shape != shape:
            if t.shape == shape[:-1]:
                t = np.stack([1.0 - t, t], axis=-1)
            else:
                raise ValueError(f"fixed_missingness[{v!r}] must have shape {shape} (parents "
                                 f"{list(resolved[v])!r} then (observed, missing)) or "
                                 f"{shape[:-1]} (P(missing)); got {t.shape}.")
        if np.any(t < 0) or np.any(t > 1) or not np.allclose(t.sum(-1), 1.0, atol=1e-9):
            raise ValueError(f"fixed_missingness[{v!r}] must hold probabilities in [0, 1] whose "
                             "last axis sums to 1.")
        out[v] = t
    return out


def fit_bayesnet(bn, data, mechanism, *, fixed_missingness=None, columns=None, init="random",
                 **fit_params):
    """Joint EM fit of θ (the network's CPTs) and δ (indicator CPTs) under ``mechanism``.

    Called by ``BayesianNetwork.fit(data, missingness=..., fixed_missingness=...)``.
    Sets on ``bn``: the fitted CPTs, ``missingness_`` (``{variable: δ table of
    shape (*parent_cards, 2)}``, ``[..., 1]`` = P(missing | parents)),
    ``missingness_parents_`` (``{variable: parents}``), ``mechanism_``,
    ``history_``, ``n_iter_``, ``converged_`` and ``log_likelihood_`` (of data
    *and* missingness pattern, ``log p(x_obs, m)``).
    """
    if mechanism is None:
        mechanism = MCAR()
    mechanism = check_mechanism(mechanism)
    codes = bn._codes(data, columns)
    resolved = mechanism.resolve(bn.variables, codes)
    fixed = _check_fixed(fixed_missingness, resolved, bn)
    delta0 = {}
    if init == "current" and getattr(bn, "missingness_parents_", None) == resolved:
        delta0.update(bn.missingness_)
    delta0.update(fixed)
    aug, names = augment_network(bn, resolved, delta0)
    aug_codes = augment_codes(codes, bn.variables, resolved)
    aug.fit(aug_codes, init=init, _fixed={names[v] for v in fixed}, **fit_params)
    for v in bn.variables:
        bn.cpts._set_unchecked(v, aug.cpts[v])
    bn.missingness_ = {v: aug.cpts[names[v]].copy() for v in resolved}
    bn.missingness_parents_ = dict(resolved)
    bn.mechanism_ = mechanism
    bn.history_ = list(aug.history_)
    bn.n_iter_ = aug.n_iter_
    bn.converged_ = aug.converged_
    bn.log_likelihood_ = aug.log_likelihood_
    return bn


def bayesnet_log_likelihood(bn, data, mechanism, *, columns=None, n_jobs=None
                            ) -> LogLikelihoodParts:
    """``log p(x_obs, m)`` split into its θ and δ parts, with the fitted δ of ``bn``."""
    mechanism = check_mechanism(mechanism)
    if not hasattr(bn, "missingness_"):
        raise ValueError("This network has no fitted missingness mechanism; call "
                         "fit(data, missingness=...) first.")
    if mechanism != bn.mechanism_:
        raise ValueError(f"The network was fitted with missingness={bn.mechanism_!r}, not "
                         f"{mechanism!r}; refit to evaluate another mechanism.")
    codes = bn._codes(data, columns)
    resolved = bn.missingness_parents_
    mechanism.resolve(bn.variables, codes)   # the same checks as fit (MAR parents observed)
    aug, names = augment_network(bn, resolved, bn.missingness_)
    total = aug.log_likelihood(augment_codes(codes, bn.variables, resolved), n_jobs=n_jobs)
    theta = bn.log_likelihood(codes, n_jobs=n_jobs)
    return LogLikelihoodParts(float(total), float(theta), float(total - theta), mechanism)


# ---------------------------------------------------------------------------
# Latent class models (LatentClassModel(missingness=...))
# ---------------------------------------------------------------------------

def latent_class_network(names: Sequence[str], cards: Sequence[int], n_classes: int,
                         class_name: str = "class"):
    """The latent class model as a Bayesian network: hidden root ``class`` → every item.

    Returns ``(network, class node name)``; the class node is renamed
    (``_class``, ``__class``, ...) if an item already uses the name.
    """
    from .bayesnet import BayesianNetwork

    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        raise ValueError(f"item names must be distinct as strings; got {names!r}.")
    cls = class_name
    while cls in names:
        cls = "_" + cls
    cardinalities = {cls: int(n_classes)}
    cardinalities.update({n: int(c) for n, c in zip(names, cards)})
    return BayesianNetwork([(cls, n) for n in names], cardinalities), cls


def fit_latent_class(codes: np.ndarray, names: Sequence[str], cards: Sequence[int],
                     n_classes: int, mechanism, *, init_theta=None, **fit_params) -> dict:
    """Joint fit of a latent class model and a missingness mechanism.

    The mechanism names items by their names and may name the latent class
    as ``"class"`` (e.g. ``MNAR({"V16": ["class"]})``: how often V16 is
    missing depends on the class). Returns a dict of fitted quantities for
    ``LatentClassModel``: ``theta`` ([weights, item tables...] in the
    network's class order), ``missingness`` ({item: δ}), ``parents``
    ({item: parents with the class node called "class"}), ``history``,
    ``n_iter``, ``converged``, ``log_likelihood``, ``network`` (the fitted
    network *with* its indicator nodes, in the network's class order),
    ``indicator_parents`` and ``class_name``.
    """
    mechanism = check_mechanism(mechanism)
    str_names = [str(n) for n in names]
    bn, cls = latent_class_network(str_names, cards, n_classes)
    # translate "class" in the mechanism to the class node name
    if mechanism.parents is not None and cls != "class":
        parents = {k: [cls if p == "class" else p for p in ([v] if isinstance(v, str) else v)]
                   for k, v in dict(mechanism.parents).items()}
        mechanism = type(mechanism)(parents)
    full = np.concatenate([np.full((codes.shape[0], 1), MISSING, np.int32), codes], axis=1)
    init = "random"
    if init_theta is not None:
        bn.cpts[cls] = init_theta[0]
        for n, t in zip(str_names, init_theta[1:]):
            bn.cpts[n] = t
        init = "current"
    fit_bayesnet(bn, full, mechanism, init=init, **fit_params)
    theta = [bn.cpts[cls]] + [bn.cpts[n] for n in str_names]
    augmented, _ = augment_network(bn, bn.missingness_parents_, bn.missingness_)
    return {
        "theta": theta, "missingness": {names[str_names.index(v)]: t
                                        for v, t in bn.missingness_.items()},
        "parents": {names[str_names.index(v)]: tuple("class" if p == cls else p for p in pa)
                    for v, pa in bn.missingness_parents_.items()},
        "history": bn.history_, "n_iter": bn.n_iter_, "converged": bn.converged_,
        "log_likelihood": bn.log_likelihood_, "network": augmented, "class_name": cls,
        "indicator_parents": dict(bn.missingness_parents_),
        "n_best": getattr(bn, "n_best_", 1),
        "objectives": getattr(bn, "init_objectives_", [bn.history_[-1]]),
    }
