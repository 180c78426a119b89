"""Diagnostics of missing data: Little-style MCAR test and MNAR sensitivity analysis.

:func:`mcar_test` tests MCAR against MAR given always-observed covariates; no test can
tell MAR from MNAR. :func:`sensitivity_analysis` refits a model with an MNAR mechanism's
δ held fixed on a grid of values the data cannot identify (docs/missing-data.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from .data import MISSING, compress_rows
from ._stats import chi2_sf

__all__ = ["MCARTestResult", "mcar_test", "sensitivity_analysis"]


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
    from .data import NO_CARD_LIMIT, _as_array, _is_dataframe, check_data, encode

    if _is_dataframe(data):
        codes, schema = encode(data)
        return codes, [str(n) for n in schema.names]
    arr = _as_array(data, "data")
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
    if isinstance(grid, Mapping) or not isinstance(grid, Sequence):
        raise TypeError(f"grid must be a list of dicts {{variable: δ table or P(missing)}}; got "
                        f"{type(grid).__name__}.")
    if not callable(estimand):
        raise TypeError(f"estimand must be a callable estimand(fitted_model); got "
                        f"{type(estimand).__name__}.")
    out = []
    for i, point in enumerate(grid):
        if not isinstance(point, Mapping):
            raise TypeError(f"grid[{i}] must be a dict {{variable: δ table or P(missing)}}; got "
                            f"{type(point).__name__} {point!r}.")
        m = model.copy()
        # each value is a δ table or P(missing); fit tells them apart by the known shape
        m.fit(data, missingness=mechanism, fixed_missingness=dict(point), **fit_params)
        ll = m.log_likelihood(data, missingness=mechanism)
        out.append({"delta": point, "estimate": estimand(m), "log_likelihood": float(ll.total)})
    return out
