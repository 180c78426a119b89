"""Data layer: encoding labels to integer codes, validation, row compression.

Conventions (DESIGN.md, "Data conventions"):

* observations are integer codes ``0..card-1``; ``-1`` (:data:`MISSING`) marks
  a missing value;
* float arrays are accepted when their non-NaN values are whole numbers (NaN is
  missing);
* pandas DataFrames are matched to model variables by column name; integer
  columns hold codes, categorical / object / bool / string columns hold state
  labels matched to the model's state names;
* anything out of range is a :class:`ValueError` naming the column, the row and
  the allowed range. Nothing is clipped, no row is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np

from . import _kernels

MISSING = -1
"""The code that marks a missing value in every integer array emfast accepts."""

NO_CARD_LIMIT = int(np.iinfo(np.int32).max)
"""A cardinality for :func:`check_data` when the number of categories is not known yet
(codes are then only checked to be whole numbers >= -1)."""

__all__ = ["MISSING", "Schema", "encode", "check_data", "check_codes_1d",
           "compress_rows", "CompressedRows", "check_lengths", "as_int32",
           "ColumnCodec"]


def _is_dataframe(obj) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "columns") and hasattr(obj, "iloc")


def _as_array(X, name: str = "X", dtype=None) -> np.ndarray:
    """``np.asarray(X, dtype)`` for user input, with errors that name ``name``: a ragged
    or too deeply nested list (numpy stops at 64 dimensions; Python may hit its recursion
    limit first), or values that do not convert to ``dtype``, are a ``ValueError``
    (``TypeError`` when numpy says the Python type is wrong). The one place emfast turns
    user input into an array."""
    if isinstance(X, np.ndarray) and (dtype is None or X.dtype == dtype):
        return X
    try:
        return np.asarray(X, dtype=dtype)
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply to be an array.") from None
    except TypeError as exc:
        raise TypeError(f"{name} could not be converted to an array"
                        f"{'' if dtype is None else f' of {np.dtype(dtype)}'}: {exc}") from None
    except (ValueError, OverflowError) as exc:
        what = "a rectangular array" if dtype is None else f"an array of {np.dtype(dtype)}"
        raise ValueError(f"{name} could not be read as {what}: {exc}") from None


def _require_pandas():
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - exercised without pandas only
        raise ImportError("This needs pandas: pip install 'emfast[pandas]'.") from exc
    return pd


# ---------------------------------------------------------------------------
# encode / decode
# ---------------------------------------------------------------------------

def _sort_labels(values):
    try:
        return sorted(values)
    except TypeError:  # mixed types: sort by type name, then text
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))


@dataclass
class Schema:
    """Column names and category labels of an encoded table.

    Attributes
    ----------
    names : list of str
        Column names, in code-matrix column order.
    categories : list of list
        ``categories[j][c]`` is the label of code ``c`` in column ``j``.
    dtypes : list
        The original pandas dtype of every column (used by :meth:`decode` to
        give back exactly what :func:`encode` received).
    """

    names: list
    categories: list
    dtypes: list = field(default_factory=list)

    @property
    def cardinalities(self) -> dict:
        """``{name: number of categories}``."""
        return {n: len(c) for n, c in zip(self.names, self.categories)}

    def decode(self, codes):
        """Turn a code matrix back into a DataFrame of labels (``-1`` becomes missing)."""
        pd = _require_pandas()
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != len(self.names):
            raise ValueError(
                f"codes must have shape (n_rows, {len(self.names)}) to match the schema; "
                f"got {codes.shape}.")
        cols = {}
        for j, (name, cats) in enumerate(zip(self.names, self.categories)):
            c = codes[:, j].astype(np.int64)
            bad = np.flatnonzero((c < MISSING) | (c >= len(cats)))
            if bad.size:
                r = int(bad[0])
                raise ValueError(
                    f"codes[:, {j}] (column {name!r}) holds {int(c[r])} at row {r}, allowed "
                    f"-1..{len(cats) - 1}.")
            dtype = self.dtypes[j] if j < len(self.dtypes) else None
            if isinstance(dtype, pd.CategoricalDtype):
                cols[name] = pd.Categorical.from_codes(c, dtype=dtype)
                continue
            labels = np.empty(len(c), dtype=object)
            miss = c == MISSING
            lab = np.asarray(cats + [None], dtype=object)
            labels[:] = lab[np.where(miss, len(cats), c)]
            s = pd.Series(labels, name=name)
            if dtype is not None:
                if miss.any() and dtype.kind in "biu" and not pd.api.types.is_extension_array_dtype(dtype):
                    s = s.astype("float64") if dtype.kind in "iu" else s
                else:
                    s = s.astype(dtype)
            cols[name] = s.to_numpy() if not hasattr(s, "array") else s.array
        return pd.DataFrame(cols, columns=list(self.names))


def encode(df, categories: dict | None = None):
    """Encode a DataFrame into an int32 code matrix and a :class:`Schema`.

    Parameters
    ----------
    df : pandas.DataFrame
        Categorical, object, string, bool, integer or float columns; NaN /
        None / ``pd.NA`` mark missing values.
    categories : dict, optional
        ``{column: [labels]}`` fixing the label order (and so the codes) of
        some columns. A value not in the list is a ``ValueError``. Columns not
        named get: the categorical's own categories, or the sorted distinct
        non-missing values.

    Returns
    -------
    codes : ndarray of shape (n_rows, n_columns), dtype int32, C-contiguous
        ``-1`` where a value is missing.
    schema : Schema
        Names, labels and dtypes; ``schema.decode(codes)`` gives back ``df``.
    """
    pd = _require_pandas()
    if not _is_dataframe(df):
        raise TypeError(f"encode expects a pandas DataFrame, got {type(df).__name__}.")
    categories = dict(categories or {})
    unknown = set(categories) - set(df.columns)
    if unknown:
        raise ValueError(f"categories names columns not in the DataFrame: {sorted(map(str, unknown))}.")
    n = len(df)
    codes = np.full((n, df.shape[1]), MISSING, dtype=np.int32)
    names, cats_all, dtypes = [], [], []
    for j, name in enumerate(df.columns):
        col = df.iloc[:, j]
        miss = col.isna().to_numpy()
        if name in categories:
            cats = list(categories[name])
        elif isinstance(col.dtype, pd.CategoricalDtype):
            cats = list(col.cat.categories)
        else:
            cats = _sort_labels(pd.unique(col[~miss]).tolist())
        if isinstance(col.dtype, pd.CategoricalDtype) and name not in categories:
            c = col.cat.codes.to_numpy().astype(np.int32)
        else:
            lookup = {v: i for i, v in enumerate(cats)}
            vals = col.to_numpy(dtype=object)
            c = np.full(n, MISSING, dtype=np.int32)
            for r in np.flatnonzero(~miss):
                v = vals[r]
                try:
                    c[r] = lookup[v]
                except (KeyError, TypeError):
                    raise ValueError(
                        f"column {name!r} holds {v!r} at row {r}, which is not one of its "
                        f"categories {cats!r}.") from None
        codes[:, j] = c
        names.append(name)
        cats_all.append(cats)
        dtypes.append(col.dtype)
    return np.ascontiguousarray(codes), Schema(names, cats_all, dtypes)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

def _code_range(card: int) -> str:
    return ">= 0" if card >= NO_CARD_LIMIT else f"0..{card - 1}"


def _allowed(var: str, card: int) -> str:
    """'variable X has 3 categories (0..2)', or the open-ended form for NO_CARD_LIMIT."""
    if card >= NO_CARD_LIMIT:
        return f"variable {var!r} takes codes >= 0"
    return f"variable {var!r} has {card} categories (0..{card - 1})"


def _codes_from_numeric(col: np.ndarray, where: str, var: str, card: int) -> np.ndarray:
    """Validate one numeric column of codes and return it as int32 (``-1`` = missing)."""
    if col.dtype == bool:
        col = col.astype(np.int64)
    if col.dtype.kind == "f":
        nan = np.isnan(col)
        finite = np.isfinite(col) | nan
        if not finite.all():
            r = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"{where} contains {float(col[r])!r} at row {r}; codes must be finite "
                             f"(use NaN or -1 for missing values).")
        frac = ~nan & (col != np.floor(np.where(nan, 0.0, col)))
        if frac.any():
            r = int(np.flatnonzero(frac)[0])
            raise ValueError(f"{where} contains the non-integer value {float(col[r])!r} at row {r}; "
                             f"variable {var!r} takes integer codes {_code_range(card)} "
                             "(NaN or -1 = missing).")
        col = np.where(nan, MISSING, col)
        lo_ok = col >= MISSING
        hi_ok = col < card
        bad = ~(lo_ok & hi_ok)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{where} contains category {int(col[r])} at row {r}, but "
                             f"{_allowed(var, card)}; use -1 or NaN for missing values.")
        return col.astype(np.int32)
    if col.dtype.kind not in "iu":
        raise TypeError(f"{where} has dtype {col.dtype}; expected integer codes, or floats with "
                        "NaN for missing values.")
    if col.ndim == 1 and col.dtype == np.int64 and col.dtype.isnative:
        # one pass that checks and converts (numpy needs three: two compares and astype);
        # int32 codes keep the numpy check, which returns them without a copy
        out = np.empty(col.shape[0], dtype=np.int32)
        r = _kernels.codes_to_int32(col, out, min(int(card), 2 ** 62),
                                    np.empty(max(1, -(-col.shape[0] // 65536)), np.int64), 1)
        if r < 0:
            return out
    else:
        bad = (col < MISSING) | (col >= card)
        r = int(np.flatnonzero(bad)[0]) if bad.any() else -1
    if r >= 0:
        raise ValueError(f"{where} contains category {int(col[r])} at row {r}, but "
                         f"{_allowed(var, card)}; use -1 for missing values.")
    return col.astype(np.int32, copy=False)


def _is_missing_scalar(x) -> bool:
    """Whether one value of an object column is a missing marker: ``None``, a float NaN,
    or pandas' ``NA`` / ``NaT`` (recognised by type, so pandas need not be imported)."""
    if x is None:
        return True
    if isinstance(x, (float, np.floating)):
        return x != x
    if isinstance(x, np.datetime64):
        return bool(np.isnat(x))
    return type(x).__name__ in ("NAType", "NaTType")


def _object_missing(col) -> np.ndarray:
    """Boolean mask (always dtype bool, also for an empty column) of the missing values
    of an object / string column."""
    return np.fromiter((_is_missing_scalar(x) for x in col), dtype=bool, count=len(col))


def _codes_from_labels(col, where: str, var: str, states: Sequence | None, card: int,
                       miss: np.ndarray) -> np.ndarray:
    if states is None:
        raise ValueError(f"{where} holds labels, but variable {var!r} has no state names; "
                         f"pass integer codes 0..{card - 1} instead.")
    lookup = {str(s): i for i, s in enumerate(states)}
    # a boolean value matches a state named true / false in any case ('TRUE', 'True', ...):
    # pandas.read_csv turns such columns into bools
    for s_, i in list(lookup.items()):
        if s_.lower() in ("true", "false"):
            lookup.setdefault("\0bool:" + s_.lower(), i)
    vals = np.asarray(col, dtype=object)
    miss = np.asarray(miss, dtype=bool)
    out = np.full(len(vals), MISSING, dtype=np.int32)
    cache: dict = {}
    for r in np.flatnonzero(~miss):
        v = vals[r]
        key = ("\0bool:" + str(bool(v)).lower()) if isinstance(v, (bool, np.bool_)) else str(v)
        code = cache.get(key)
        if code is None:
            code = lookup.get(key)
            if code is None and key.startswith("\0bool:"):
                code = lookup.get(str(v))
            if code is None:
                raise ValueError(f"{where} contains {v!r} at row {r}, which is not a state of "
                                 f"variable {var!r}; allowed states are {list(states)!r}.")
            cache[key] = code
        out[r] = code
    return out


def check_data(data, variables: Sequence[str], cardinalities: Sequence[int], *,
               states: Sequence[Sequence] | None = None,
               columns: Sequence[str] | None = None, name: str = "X",
               require_all: bool = False) -> np.ndarray:
    """Validate data for a model and return an int32 code matrix.

    The one validation path used by every model.

    Parameters
    ----------
    data : array-like of shape (n_rows, n_columns) or pandas.DataFrame
        Integer codes with ``-1`` for missing values, float codes with NaN for
        missing values, or a DataFrame matched by column name.
    variables : sequence of str
        Model variable names, in the order of the returned columns.
    cardinalities : sequence of int
        Number of states of each variable.
    states : sequence of sequences, optional
        State names of each variable (used for label columns).
    columns : sequence of str, optional
        For array input: the variable each column holds (a subset of
        ``variables``, in any order). Without it, an array must have one
        column per variable in ``variables`` order.
    require_all : bool, default=False
        A DataFrame must then have a column for every variable (estimators whose
        columns are all observable: latent class items, HMM channels); the
        missing ones are named in the error. By default a variable without a
        column is hidden (Bayesian networks).

    Returns
    -------
    codes : ndarray of shape (n_rows, len(variables)), dtype int32
        C-contiguous. Variables without a column (hidden) are all ``-1``.
    """
    variables = list(variables)
    cards = [int(c) for c in cardinalities]
    index = {v: i for i, v in enumerate(variables)}
    if states is None:
        states = [None] * len(variables)
    if _is_dataframe(data):
        pd = _require_pandas()
        unknown = [c for c in data.columns if c not in index]
        absent = [v for v in variables if v not in set(data.columns)] if require_all else []
        if unknown:
            raise ValueError(f"{name} has column(s) {unknown!r} that are not model variables; "
                             f"model variables are {variables!r}.")
        if absent:
            raise ValueError(f"{name} has no column for {absent!r}: the model was fitted with "
                             f"the columns {variables!r} (matched by name, in any order).")
        if columns is not None:
            raise ValueError("columns= is for array input; a DataFrame is matched by its "
                             "column names.")
        n = len(data)
        out = np.full((n, len(variables)), MISSING, dtype=np.int32)
        for cname in data.columns:
            if list(data.columns).count(cname) > 1:
                raise ValueError(f"{name} has the column {cname!r} more than once.")
            i = index[cname]
            col = data[cname]
            where = f"column {cname!r}"
            miss = col.isna().to_numpy()
            dt = col.dtype
            if isinstance(dt, pd.CategoricalDtype) or dt == object or pd.api.types.is_string_dtype(dt) \
                    or pd.api.types.is_bool_dtype(dt):
                if (pd.api.types.is_bool_dtype(dt) and states[i] is None):
                    arr = col.astype("float64").to_numpy(na_value=np.nan) if miss.any() \
                        else col.to_numpy().astype(np.int64)
                    out[:, i] = _codes_from_numeric(arr, where, cname, cards[i])
                else:
                    out[:, i] = _codes_from_labels(col.to_numpy(dtype=object), where, cname,
                                                   states[i], cards[i], miss)
            else:
                if pd.api.types.is_extension_array_dtype(dt):
                    arr = col.astype("float64").to_numpy(na_value=np.nan)
                else:
                    arr = col.to_numpy()
                out[:, i] = _codes_from_numeric(arr, where, cname, cards[i])
        return out
    arr = _as_array(data, name)
    if arr.ndim == 1 and len(variables) == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (n_rows, n_columns); got shape {arr.shape}.")
    if columns is None:
        if arr.shape[1] != len(variables):
            raise ValueError(f"{name} has {arr.shape[1]} columns but the model has "
                             f"{len(variables)} variables {variables!r}; pass one column per "
                             "variable (hidden ones all -1) or give columns=[names].")
        cols = variables
    else:
        cols = list(columns)
        if len(cols) != arr.shape[1]:
            raise ValueError(f"columns names {len(cols)} variables but {name} has "
                             f"{arr.shape[1]} columns.")
        unknown = [c for c in cols if c not in index]
        if unknown:
            raise ValueError(f"columns names {unknown!r}, which are not model variables; "
                             f"model variables are {variables!r}.")
        if len(set(cols)) != len(cols):
            raise ValueError(f"columns names a variable more than once: {cols!r}.")
    n = arr.shape[0]
    if arr.dtype.kind in "iu" and columns is None and arr.dtype == np.int32:
        out = np.array(arr, dtype=np.int32, order="C", copy=True)
        lo, hi, _ = code_summary(out)
        for j, v in enumerate(cols):
            if not (lo[j] >= MISSING and hi[j] < cards[j]):
                # the column's own check names the first bad row
                _codes_from_numeric(out[:, j], f"{name}[:, {j}]", v, cards[j])
        return out
    out = np.full((n, len(variables)), MISSING, dtype=np.int32)
    for j, v in enumerate(cols):
        i = index[v]
        col = arr[:, j]
        where = f"{name}[:, {j}]"
        if col.dtype.kind in "OUS":
            miss = _object_missing(col)
            out[:, i] = _codes_from_labels(col, where, v, states[i], cards[i], miss)
        else:
            out[:, i] = _codes_from_numeric(col, where, v, cards[i])
    return out


def _is_series(obj) -> bool:
    return type(obj).__name__ == "Series" and hasattr(obj, "index") and hasattr(obj, "dtype")


def _is_label_dtype(pd, dt) -> bool:
    return (isinstance(dt, pd.CategoricalDtype) or dt == object
            or pd.api.types.is_string_dtype(dt) or pd.api.types.is_bool_dtype(dt))


def refuse_label_columns(columns) -> None:
    """A partitioned fit takes integer codes: refuse a pandas column (Series) that holds
    labels, since labels learned per partition could disagree."""
    pd = _require_pandas()
    for col in columns:
        if _is_label_dtype(pd, col.dtype):
            raise TypeError(f"column {col.name!r} holds labels ({col.dtype}); a partitioned "
                            "fit takes integer codes: encode the labels first "
                            "(emfast.encode, or .cat.codes of a known categorical).")


@dataclass
class ColumnCodec:
    """What an estimator learns about its input columns at ``fit`` (pandas in, pandas out).

    A DataFrame's label columns (categorical, object, string, bool) get their labels
    here: a categorical's own categories, else the sorted distinct values (as
    :func:`encode`). Integer / float columns hold codes (``labels[j]`` is ``None``).
    Later data is matched by column name (any order; unknown or missing columns are
    a ``ValueError`` naming them), and outputs are decoded back into frames with the
    same index, columns and labels.

    Attributes
    ----------
    names : list
        Column names (generated names for array input).
    labels : list
        Per column: the list of labels (code ``c`` is ``labels[j][c]``), or ``None``
        for a column of integer codes.
    from_frame : bool
        Whether ``fit`` saw a DataFrame (or a Series).
    series : bool
        Whether ``fit`` saw a Series (one column, named ``names[0]``).
    dtypes : list
        The pandas dtype of each fitted column (``None`` for arrays).
    """

    names: list
    labels: list
    from_frame: bool = False
    series: bool = False
    dtypes: list = field(default_factory=list)

    @classmethod
    def learn(cls, X, default_names, *, name: str = "X"):
        """Learn the columns of ``X`` (DataFrame, Series or array) and return
        ``(codes, codec)``: int32 codes (``-1`` missing) with code columns validated
        as whole numbers >= -1 (their cardinality is the caller's business)."""
        if _is_series(X):
            X = X.to_frame(name=X.name if X.name is not None else default_names[0])
            series = True
        else:
            series = False
        if not _is_dataframe(X):
            return None, cls(list(default_names), [None] * len(default_names))
        pd = _require_pandas()
        cols = list(X.columns)
        if len(set(map(str, cols))) != len(cols):
            raise ValueError(f"{name} has repeated column names: {cols!r}.")
        labels = []
        for c in cols:
            col = X[c]
            dt = col.dtype
            if not _is_label_dtype(pd, dt):
                labels.append(None)
                continue
            miss = col.isna().to_numpy()
            if isinstance(dt, pd.CategoricalDtype):
                cats = list(dt.categories)
            elif pd.api.types.is_bool_dtype(dt):
                cats = [False, True]
            else:
                cats = _sort_labels(pd.unique(col[~miss]).tolist())
            if len({str(v) for v in cats}) != len(cats):
                raise ValueError(f"column {c!r} of {name} has labels that read the same as text: "
                                 f"{cats!r}; give it a categorical dtype with distinct labels.")
            if not cats:
                raise ValueError(f"column {c!r} of {name} holds labels but every value is "
                                 "missing: there is no label to learn; give it a categorical "
                                 "dtype listing its categories.")
            labels.append(cats)
        codec = cls(cols, labels, from_frame=True, series=series, dtypes=[X[c].dtype for c in cols])
        cards = [len(lab) if lab is not None else NO_CARD_LIMIT for lab in labels]
        codes = check_data(X, cols, cards, states=codec.state_names(), name=name,
                           require_all=True)
        return codes, codec

    def state_names(self) -> list:
        """Labels as the strings that :func:`check_data` matches (``None`` for codes)."""
        return [None if lab is None else [str(v) for v in lab] for lab in self.labels]

    def encode(self, X, cardinalities, *, name: str = "X") -> np.ndarray:
        """Codes of later data: a DataFrame / Series matched by column name, an array
        taken as columns in fit order (codes, or labels for label columns)."""
        if _is_series(X):
            if len(self.names) != 1:
                raise ValueError(f"{name} is a Series but the model has {len(self.names)} "
                                 f"columns {self.names!r}; pass a DataFrame.")
            X = X.to_frame(name=self.names[0] if X.name is None or not self.from_frame
                           else X.name)
        return check_data(X, self.names, cardinalities, states=self.state_names(), name=name,
                          require_all=True)

    def frame(self, codes, *, index=None, columns=None):
        """A DataFrame of ``codes`` (n, J) with labels restored (``-1`` becomes missing).

        ``columns`` orders (and may subset) the output by name, e.g. the column
        order of the caller's frame. Code columns come back as integers
        (``Int64`` when some value is missing), label columns as their labels
        (categorical columns keep their dtype)."""
        pd = _require_pandas()
        codes = np.asarray(codes)
        order = list(self.names) if columns is None else list(columns)
        pos = {n: j for j, n in enumerate(self.names)}
        out = {}
        for c in order:
            j = pos[c]
            col = codes[:, j].astype(np.int64)
            miss = col == MISSING
            lab = self.labels[j]
            dt = self.dtypes[j] if j < len(self.dtypes) else None
            if lab is None:
                out[c] = pd.array(np.where(miss, 0, col), dtype="Int64") if miss.any() else col
                if miss.any():
                    out[c][miss] = pd.NA
                continue
            if dt is not None and isinstance(dt, pd.CategoricalDtype):
                out[c] = pd.Categorical.from_codes(col, dtype=dt)
                continue
            vals = np.empty(len(col), dtype=object)
            table = np.asarray(list(lab) + [None], dtype=object)
            vals[:] = table[np.where(miss, len(lab), col)]
            if dt is not None and pd.api.types.is_bool_dtype(dt) and not miss.any():
                vals = vals.astype(bool)
            out[c] = vals
        return pd.DataFrame(out, index=index, columns=order)

    def series_or_frame(self, codes, *, index=None):
        """Like :meth:`frame`, but a Series when ``fit`` saw a Series."""
        df = self.frame(codes, index=index)
        return df.iloc[:, 0] if self.series else df


def check_codes_1d(x, card: int, *, name: str = "X", var: str = "X") -> np.ndarray:
    """Validate a 1-D array of codes (``-1`` missing) and return it as int32."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional; got shape {arr.shape}.")
    return np.ascontiguousarray(_codes_from_numeric(arr, name, var, int(card)))


def check_lengths(lengths, n_samples: int) -> np.ndarray:
    """Validate sequence lengths and return offsets (int64, ``len(lengths) + 1``).

    ``lengths=None`` means one sequence of ``n_samples`` steps. Every length is
    checked against ``1..n_samples`` on its own before anything is summed, so
    lengths whose int64 sum would wrap around (``[2**63 - 1, 2**63 - 1, 8]``)
    are refused instead of reaching a kernel; the only place emfast turns
    ``lengths`` into offsets.

    Raises
    ------
    TypeError
        ``lengths`` is not an array of integers (strings, booleans, objects).
    ValueError
        Not 1-dimensional, empty, a non-whole or non-finite float, a length
        outside ``1..n_samples`` (naming its index), or a sum other than
        ``n_samples``.
    """
    n_samples = int(n_samples)
    if lengths is None:
        if n_samples == 0:
            raise ValueError("X is empty: there is no sequence to fit or score.")
        return np.array([0, n_samples], dtype=np.int64)
    arr = _as_array(lengths, "lengths")
    if arr.ndim != 1:
        raise ValueError(f"lengths must be 1-dimensional; got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"lengths is empty; it must list at least one sequence length "
                         f"(summing to len(X)={n_samples}).")
    kind = arr.dtype.kind
    if kind == "O":
        # Python ints too large for int64 land here: compare them as Python ints.
        vals = []
        for s, v in enumerate(arr):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"lengths must be integers; lengths[{s}] is {v!r} "
                                f"({type(v).__name__}).")
            vals.append(int(v))
        bad = [s for s, v in enumerate(vals) if not 1 <= v <= n_samples]
        if bad:
            _bad_length(bad[0], vals[bad[0]], n_samples)
        arr = np.array(vals, dtype=np.int64)
    elif kind == "f":
        finite = np.isfinite(arr)
        whole = finite & (arr == np.floor(np.where(finite, arr, 0.0)))
        if not whole.all():
            s = int(np.flatnonzero(~whole)[0])
            raise ValueError(f"lengths must be integers; lengths[{s}] = {float(arr[s])!r}.")
        bad = np.flatnonzero((arr < 1) | (arr > n_samples))
        if bad.size:
            _bad_length(int(bad[0]), float(arr[bad[0]]), n_samples)
        arr = arr.astype(np.int64)
    elif kind in "iu":
        bad = np.flatnonzero((arr < 1) | (arr > n_samples))
        if bad.size:
            _bad_length(int(bad[0]), int(arr[bad[0]]), n_samples)
        arr = arr.astype(np.int64)
    else:
        raise TypeError(f"lengths must be integers; got dtype {arr.dtype}.")
    offsets = np.zeros(len(arr) + 1, dtype=np.int64)
    # Each length is in 1..n_samples, so the running sum exceeds n_samples (and is
    # caught) before it could wrap around int64.
    np.cumsum(arr, out=offsets[1:])
    if offsets[-1] != n_samples or (len(arr) > 1 and offsets[1:].max() > n_samples):
        total = int(arr.astype(object).sum())
        raise ValueError(f"lengths must sum to len(X)={n_samples}, got sum(lengths)={total}.")
    return offsets


def _bad_length(s: int, value, n_samples: int):
    if value < 1:
        raise ValueError(f"lengths[{s}] = {value}: every sequence must have at least one time "
                         "step (empty sequences are not allowed).")
    raise ValueError(f"lengths[{s}] = {value} is longer than X (len(X)={n_samples}); lengths "
                     f"must sum to len(X)={n_samples}.")


# ---------------------------------------------------------------------------
# row compression
# ---------------------------------------------------------------------------

class CompressedRows(NamedTuple):
    """Distinct rows of a code matrix with their multiplicities.

    ``rows[inverse]`` equals the original matrix; ``counts[k]`` is how many
    original rows equal ``rows[k]``. Distinct rows appear in order of first
    occurrence.
    """

    rows: np.ndarray     # (n_unique, d) int32
    counts: np.ndarray   # (n_unique,) int64
    inverse: np.ndarray  # (n_rows,) int64


_I32 = np.iinfo(np.int32)


def as_int32(values, name: str) -> np.ndarray:
    """``values`` as a C-contiguous int32 array, refusing anything a cast would change.

    Integers outside the int32 range (``2**32`` would wrap to 0) and floats that
    are not whole numbers (``0.7`` would truncate to 0) or not finite raise a
    ``ValueError`` naming ``name``, the value and its position; booleans count as
    0/1; any other dtype is a ``TypeError``. int32 input is not copied.
    """
    arr = _as_array(values, name)
    if arr.dtype == np.int32:
        return np.ascontiguousarray(arr)
    kind = arr.dtype.kind
    if kind == "b":
        return np.ascontiguousarray(arr, dtype=np.int32)
    if kind == "f":
        finite = np.isfinite(arr)
        bad = ~finite | (arr != np.floor(np.where(finite, arr, 0.0)))
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} holds {float(arr[idx])!r} at index {idx}; expected whole "
                             "numbers (integer codes).")
    elif kind not in "iu":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected integer codes.")
    if arr.size:
        out = (arr < _I32.min) | (arr > _I32.max)
        if out.any():
            idx = tuple(int(i) for i in np.argwhere(out)[0])
            v = arr[idx]
            raise ValueError(f"{name} holds {int(v) if kind != 'f' else float(v)!r} at index "
                             f"{idx}, outside the int32 range {_I32.min}..{_I32.max} of codes.")
    return np.ascontiguousarray(arr, dtype=np.int32)


def code_summary(codes) -> tuple:
    """``(lo, hi, n_observed)`` of an int32 code matrix: the smallest and largest code
    of each column (int32 arrays; ``INT32_MAX`` / ``INT32_MIN`` when there are no rows)
    and the number of rows with an observed code (not ``-1``).

    The same as ``codes.min(axis=0)``, ``codes.max(axis=0)`` and
    ``(codes != -1).any(axis=1).sum()`` in one compiled pass: numpy's reductions across
    a C-ordered matrix of a few columns go one short row at a time (~15 ns a row each).
    """
    X = as_int32(codes, "codes")
    if X.ndim != 2:
        raise ValueError(f"codes must be 2-dimensional; got shape {X.shape}.")
    lo = np.empty(X.shape[1], dtype=np.int32)
    hi = np.empty(X.shape[1], dtype=np.int32)
    n_obs = _kernels.code_summary(X, lo, hi)
    return lo, hi, int(n_obs)


def compress_rows(codes) -> CompressedRows:
    """Merge identical rows of an int32 code matrix.

    ``codes`` may be any integer (or whole-valued float) array: values that do not
    fit int32 are a ``ValueError`` (never wrapped or truncated, which would merge
    distinct rows); see :func:`as_int32`.

    One pass of an open-addressing hash table over the rows (a Cython kernel),
    O(n d) expected time and no sort, so it stays fast for 10^7 rows, where
    ``np.unique(codes, axis=0)`` has to sort. See ``bench/compress.py``.
    """
    X = as_int32(codes, "codes")
    if X.ndim != 2:
        raise ValueError(f"codes must be 2-dimensional; got shape {X.shape}.")
    n = X.shape[0]
    if n == 0:
        return CompressedRows(X.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64))
    first = np.empty(n, dtype=np.int64)
    inverse = np.empty(n, dtype=np.int64)
    u = _kernels.unique_rows(X, first, inverse)
    if u < 0:  # pragma: no cover - allocation failure
        raise MemoryError("compress_rows: could not allocate the hash table.")
    counts = np.bincount(inverse, minlength=u).astype(np.int64)
    return CompressedRows(np.ascontiguousarray(X[first[:u]]), counts, inverse)
