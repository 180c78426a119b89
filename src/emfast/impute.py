"""Model-based imputation of categorical codes and Rubin's rules.

:class:`EMImputer` is a scikit-learn transformer that fits any emfast model
with an ``impute(X, method=, random_state=)`` method (default: a
:class:`~emfast.LatentClassModel`) and fills the missing cells; :func:`pool`
combines per-imputation estimates by Rubin's rules.
"""
from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass

import numpy as np

from ._base import BaseEstimator, check_is_fitted, check_random_state, sklearn_tags
from .data import _is_dataframe, _require_pandas

__all__ = ["EMImputer", "pool", "PooledEstimate"]


class EMImputer(BaseEstimator):
    """Fill missing categorical codes from a model fitted by EM.

    Parameters
    ----------
    model : estimator or None, default=None
        Any emfast model with ``fit(X)`` and ``impute(X, method=, random_state=)``
        (a :class:`~emfast.LatentClassModel`, a Bayesian network, ...). It is
        deep-copied at ``fit`` and never modified. ``None`` means
        ``LatentClassModel(n_classes=2, n_init=3, random_state=random_state)``.
    strategy : {"map", "sample"}, default="map"
        ``"map"``: the model's most probable completion of every row.
        ``"sample"``: draws from the posterior predictive (multiple imputation).
    n_imputations : int, default=1
        With ``strategy="sample"`` and ``n_imputations = m > 1``, ``transform``
        returns a list of ``m`` completed arrays. Must be 1 with ``"map"``.
    random_state : int, Generator or None, default=None
        Seeds the draws (and the default model's initialisation).

    Attributes
    ----------
    model_ : estimator
        The fitted copy of ``model``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame.

    Notes
    -----
    Output types follow scikit-learn's ``set_output``: ``"default"`` gives what the
    model's ``impute`` gives (an array for array input; a labelled DataFrame with the
    input's index for DataFrame input, as every emfast model does), ``"pandas"``
    always a DataFrame with the columns of :meth:`get_feature_names_out`.

    Examples
    --------
    >>> import numpy as np, emfast
    >>> X = np.array([[0, 0, 0], [1, 1, 1], [0, 0, -1], [1, -1, 1]] * 25)
    >>> emfast.EMImputer(random_state=0).fit_transform(X)[2:4].tolist()
    [[0, 0, 0], [1, 1, 1]]
    """

    def __init__(self, model=None, *, strategy="map", n_imputations=1, random_state=None):
        self.model = model
        self.strategy = strategy
        self.n_imputations = n_imputations
        self.random_state = random_state

    def __sklearn_tags__(self):
        return sklearn_tags(self, transformer=True)

    def set_output(self, *, transform=None):
        """Choose the output container of ``transform`` / ``fit_transform`` (scikit-learn's
        API): ``"default"``, ``"pandas"``, or ``None`` (unchanged). Returns self."""
        if transform is None:
            return self
        if transform not in ("default", "pandas"):
            raise ValueError(f"set_output(transform={transform!r}) is not supported; use "
                             "'default' or 'pandas'.")
        self._sklearn_output_config = {"transform": transform}
        return self

    def get_feature_names_out(self, input_features=None):
        """Output feature names: the fitted DataFrame's columns, else ``input_features``,
        else ``x0, x1, ...`` (scikit-learn's convention)."""
        check_is_fitted(self, "model_")
        n = self.n_features_in_
        if hasattr(self, "feature_names_in_"):
            names = list(self.feature_names_in_)
            if input_features is not None and list(map(str, input_features)) != names:
                raise ValueError(f"input_features {list(input_features)!r} is not equal to "
                                 f"feature_names_in_ {names!r}.")
        elif input_features is not None:
            names = [str(f) for f in input_features]
            if len(names) != n:
                raise ValueError(f"input_features should have length equal to number of "
                                 f"features ({n}), got {len(names)}.")
        else:
            names = [f"x{i}" for i in range(n)]
        return np.asarray(names, dtype=object)

    def _wrap(self, out, X):
        config = getattr(self, "_sklearn_output_config", {}).get("transform", "default")
        if config != "pandas":
            return out
        pd = _require_pandas()
        names = list(self.get_feature_names_out())
        index = X.index if _is_dataframe(X) else None
        if _is_dataframe(out):
            out = out.copy()
            out.columns = names
            return out
        return pd.DataFrame(out, columns=names, index=index)

    def _check_params(self):
        if self.strategy not in ("map", "sample"):
            raise ValueError(f"strategy must be 'map' or 'sample'; got {self.strategy!r}.")
        m = self.n_imputations
        if not isinstance(m, (numbers.Integral, np.integer)) or m < 1:
            raise ValueError(f"n_imputations must be an int >= 1; got {m!r}.")
        if self.strategy == "map" and m != 1:
            raise ValueError(f"n_imputations={m} needs strategy='sample'; 'map' gives one "
                             "completion.")

    def fit(self, X, y=None):
        """Fit a copy of the model on ``X`` (codes, ``-1``/NaN = missing)."""
        self._check_params()
        if self.model is None:
            from .mixture import LatentClassModel
            rs = self.random_state
            if isinstance(rs, np.random.Generator):
                rs = int(rs.integers(2**31 - 1))
            model = LatentClassModel(n_classes=2, n_init=3, random_state=rs)
        else:
            if not hasattr(self.model, "impute") or not hasattr(self.model, "fit"):
                raise ValueError(f"model must have fit() and impute(X, method=, random_state=); "
                                 f"got {type(self.model).__name__}.")
            model = copy.deepcopy(self.model)
        model.fit(X)
        self.model_ = model
        n = getattr(model, "n_features_in_", None)
        if n is None:
            n = len(X.columns) if _is_dataframe(X) else int(np.asarray(X).shape[-1])
        self.n_features_in_ = int(n)
        if _is_dataframe(X):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        else:
            self.__dict__.pop("feature_names_in_", None)
        return self

    def transform(self, X):
        """Return ``X`` with its missing cells filled (a list of arrays when
        ``strategy="sample"`` and ``n_imputations > 1``)."""
        check_is_fitted(self, "model_")
        self._check_params()
        if self.strategy == "map":
            return self._wrap(self.model_.impute(X, method="map"), X)
        rng = check_random_state(self.random_state)
        outs = [self._wrap(self.model_.impute(X, method="sample", random_state=rng), X)
                for _ in range(int(self.n_imputations))]
        return outs[0] if len(outs) == 1 else outs

    def fit_transform(self, X, y=None):
        """``fit(X).transform(X)``."""
        return self.fit(X, y).transform(X)


@dataclass
class PooledEstimate:
    """Result of :func:`pool` (arrays have the shape of one estimate).

    Attributes
    ----------
    estimate : pooled point estimate ``Q̄ = mean_m Q_m``
    within : within-imputation variance ``Ū = mean_m U_m``
    between : between-imputation variance ``B = var_m(Q_m)`` (ddof=1)
    total : total variance ``T = Ū + (1 + 1/m) B``
    std_error : ``sqrt(T)``
    df : degrees of freedom (Barnard–Rubin when ``df_complete`` is given,
        else Rubin's ``(m - 1) (1 + 1/r)^2``)
    riv : relative increase in variance ``r = (1 + 1/m) B / Ū``
    fmi : fraction of missing information ``(r + 2 / (df + 3)) / (r + 1)``
    lambda_ : proportion of variance due to missingness ``(1 + 1/m) B / T``
    n_imputations : ``m``
    """

    estimate: np.ndarray
    within: np.ndarray
    between: np.ndarray
    total: np.ndarray
    std_error: np.ndarray
    df: np.ndarray
    riv: np.ndarray
    fmi: np.ndarray
    lambda_: np.ndarray
    n_imputations: int


def pool(estimates, variances, df_complete=None):
    """Combine estimates from ``m`` imputed data sets by Rubin's rules.

    Parameters
    ----------
    estimates : array-like of shape (m,) or (m, n_params)
        Point estimate from each completed data set.
    variances : array-like, same shape as ``estimates``
        Squared standard error of each estimate.
    df_complete : float, optional
        Degrees of freedom of the complete-data analysis (e.g. ``n - k``). When
        given, ``df`` is the Barnard–Rubin (1999) small-sample value
        ``(ν_old ν_obs) / (ν_old + ν_obs)`` with ``ν_old = (m - 1) / λ²`` and
        ``ν_obs = (ν_com + 1) / (ν_com + 3) ν_com (1 - λ)``; otherwise Rubin's
        (1987) ``ν_old``.

    Returns
    -------
    PooledEstimate
    """
    Q = np.asarray(estimates, dtype=np.float64)
    U = np.asarray(variances, dtype=np.float64)
    if Q.ndim not in (1, 2):
        raise ValueError(f"estimates must have shape (m,) or (m, n_params); got {Q.shape}.")
    if U.shape != Q.shape:
        raise ValueError(f"variances must have the shape of estimates {Q.shape}; got {U.shape}.")
    m = Q.shape[0]
    if m < 2:
        raise ValueError(f"Rubin's rules need at least 2 imputations; got {m}.")
    if not (np.all(np.isfinite(Q)) and np.all(np.isfinite(U))) or np.any(U < 0):
        raise ValueError("estimates must be finite and variances finite and >= 0.")
    qbar = Q.mean(axis=0)
    ubar = U.mean(axis=0)
    b = Q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / t
        df_old = (m - 1) / lam ** 2
        if df_complete is not None:
            nu = float(df_complete)
            if not nu > 0:
                raise ValueError(f"df_complete must be > 0; got {df_complete!r}.")
            df_obs = (nu + 1) / (nu + 3) * nu * (1 - lam)
            df = np.where(np.isinf(df_old), df_obs, df_old * df_obs / (df_old + df_obs))
        else:
            df = df_old
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
    return PooledEstimate(qbar, ubar, b, t, np.sqrt(t), df, riv, fmi, lam, m)
