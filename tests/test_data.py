import numpy as np
import pytest

import emfast as em
from emfast.data import check_data, check_lengths, check_codes_1d, compress_rows

pd = pytest.importorskip("pandas")


def test_missing_constant():
    assert em.MISSING == -1


def test_encode_decode_roundtrip_every_missing_marker():
    df = pd.DataFrame({
        "cat": pd.Categorical(["a", None, "b", "a", "c"], categories=["c", "b", "a", "z"]),
        "obj": ["x", np.nan, None, "y", "x"],
        "intcol": [3, 1, 3, 7, 1],
        "nullable": pd.array([1, pd.NA, 2, 2, None], dtype="Int64"),
        "boolean": pd.array([True, pd.NA, False, True, True], dtype="boolean"),
        "bool": [True, False, False, True, True],
        "flt": [1.0, np.nan, 2.0, 2.0, 1.0],
        "string": pd.array(["u", pd.NA, "v", "u", "v"], dtype="string"),
    })
    codes, schema = em.encode(df)
    assert codes.dtype == np.int32 and codes.flags.c_contiguous
    assert codes.shape == (5, 8)
    # categorical keeps its own category order (unused 'z' included)
    assert schema.categories[0] == ["c", "b", "a", "z"]
    np.testing.assert_array_equal(codes[:, 0], [2, -1, 1, 2, 0])
    np.testing.assert_array_equal(codes[:, 1], [0, -1, -1, 1, 0])
    np.testing.assert_array_equal(codes[:, 2], [1, 0, 1, 2, 0])
    assert schema.categories[2] == [1, 3, 7]
    np.testing.assert_array_equal(codes[:, 3], [0, -1, 1, 1, -1])
    np.testing.assert_array_equal(codes[:, 4], [1, -1, 0, 1, 1])
    np.testing.assert_array_equal(codes[:, 6], [0, -1, 1, 1, 0])
    back = schema.decode(codes)
    pd.testing.assert_frame_equal(back, df)
    assert schema.cardinalities["cat"] == 4


def test_encode_fixed_categories_and_errors():
    df = pd.DataFrame({"a": ["lo", "hi", None]})
    codes, schema = em.encode(df, categories={"a": ["lo", "mid", "hi"]})
    np.testing.assert_array_equal(codes[:, 0], [0, 2, -1])
    with pytest.raises(ValueError, match=r"column 'a' holds 'hi' at row 1"):
        em.encode(df, categories={"a": ["lo"]})
    with pytest.raises(ValueError, match=r"not in the DataFrame"):
        em.encode(df, categories={"b": ["x"]})
    with pytest.raises(TypeError, match="pandas DataFrame"):
        em.encode(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"codes\[:, 0\] \(column 'a'\) holds 3 at row 0"):
        schema.decode(np.array([[3]]))


VARS = ["A", "B", "C"]
CARDS = [2, 3, 4]


def test_check_data_int_and_float():
    X = np.array([[0, 2, 3], [1, -1, 0], [-1, 0, -1]])
    out = check_data(X, VARS, CARDS)
    assert out.dtype == np.int32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, X)
    Xf = np.array([[0, 2, 3], [1, np.nan, 0], [np.nan, 0, np.nan]])
    np.testing.assert_array_equal(check_data(Xf, VARS, CARDS), X)
    # input untouched
    assert np.isnan(Xf[1, 1])


@pytest.mark.parametrize("X, match", [
    (np.array([[0, 0, 0], [0, 3, 0]]), r"X\[:, 1\] contains category 3 at row 1, but variable 'B' has 3 categories \(0\.\.2\)"),
    (np.array([[0, 0, 0], [0, 0, -2]]), r"X\[:, 2\] contains category -2 at row 1, but variable 'C' has 4 categories \(0\.\.3\)"),
    (np.array([[0, 0.5, 0]]), r"X\[:, 1\] contains the non-integer value 0.5 at row 0"),
    (np.array([[0, np.inf, 0]]), r"X\[:, 1\] contains inf at row 0"),
    (np.zeros((2, 2), int), r"X has 2 columns but the model has 3 variables"),
    (np.zeros((2, 2, 2), int), r"X must be 2-dimensional"),
])
def test_check_data_errors(X, match):
    with pytest.raises(ValueError, match=match):
        check_data(X, VARS, CARDS)


def test_check_data_columns_subset():
    X = np.array([[2, 1], [0, -1]])
    out = check_data(X, VARS, CARDS, columns=["C", "A"])
    np.testing.assert_array_equal(out, [[1, -1, 2], [-1, -1, 0]])
    with pytest.raises(ValueError, match=r"columns names \['Q'\], which are not model variables"):
        check_data(X, VARS, CARDS, columns=["Q", "A"])
    with pytest.raises(ValueError, match=r"X\[:, 0\] contains category 4 at row 0, but variable 'B'"):
        check_data(np.array([[4]]), VARS, CARDS, columns=["B"])


def test_check_data_dataframe():
    states = [["no", "yes"], ["lo", "mid", "hi"], None]
    df = pd.DataFrame({"B": pd.Categorical(["hi", None, "lo"]), "A": ["yes", "no", None],
                       "C": pd.array([3, pd.NA, 0], dtype="Int64")})
    out = check_data(df, VARS, CARDS, states=states)
    np.testing.assert_array_equal(out, [[1, 2, 3], [0, -1, -1], [-1, 0, 0]])
    with pytest.raises(ValueError, match=r"column\(s\) \['D'\] that are not model variables"):
        check_data(df.assign(D=1), VARS, CARDS, states=states)
    bad = pd.DataFrame({"A": ["yes", "maybe"]})
    with pytest.raises(ValueError, match=r"column 'A' contains 'maybe' at row 1, which is not a state of variable 'A'; allowed states are \['no', 'yes'\]"):
        check_data(bad, VARS, CARDS, states=states)
    with pytest.raises(ValueError, match=r"column 'C' contains category 9 at row 0"):
        check_data(pd.DataFrame({"C": [9]}), VARS, CARDS, states=states)
    with pytest.raises(ValueError, match=r"column 'C' holds labels, but variable 'C' has no state names"):
        check_data(pd.DataFrame({"C": ["x"]}), VARS, CARDS, states=states)
    # hidden variable: no column -> all missing
    out = check_data(pd.DataFrame({"A": [0, 1]}), VARS, CARDS)
    np.testing.assert_array_equal(out, [[0, -1, -1], [1, -1, -1]])


def test_check_data_type_error():
    with pytest.raises(TypeError, match=r"X\[:, 0\] has dtype complex128"):
        check_data(np.array([[1j, 0, 0]]), VARS, CARDS)


def test_check_codes_1d_and_lengths():
    np.testing.assert_array_equal(check_codes_1d([0, -1, 2], 3), [0, -1, 2])
    with pytest.raises(ValueError, match=r"X contains category 3 at row 2"):
        check_codes_1d([0, 1, 3], 3)
    np.testing.assert_array_equal(check_lengths([2, 3], 5), [0, 2, 5])
    np.testing.assert_array_equal(check_lengths(None, 4), [0, 4])
    with pytest.raises(ValueError, match=r"lengths must sum to len\(X\)=5, got sum\(lengths\)=4"):
        check_lengths([2, 2], 5)
    with pytest.raises(ValueError, match=r"lengths\[1\] = 0: every sequence must have at least one"):
        check_lengths([5, 0], 5)
    with pytest.raises(ValueError, match=r"lengths must be integers"):
        check_lengths([2.5, 2.5], 5)


def _check_compression(X):
    c = compress_rows(X)
    np.testing.assert_array_equal(c.rows[c.inverse], X)
    assert c.counts.sum() == len(X)
    u_np, cnt_np = np.unique(X, axis=0, return_counts=True)
    assert len(c.rows) == len(u_np)
    order = np.lexsort(c.rows.T[::-1])
    np.testing.assert_array_equal(c.rows[order], u_np)
    np.testing.assert_array_equal(c.counts[order], cnt_np)
    # first occurrence order
    first_seen = [int(np.flatnonzero(c.inverse == k)[0]) for k in range(min(len(c.rows), 50))]
    assert first_seen == sorted(first_seen)


@pytest.mark.parametrize("shape,card", [((1000, 3), 3), ((5000, 12), 2), ((300, 1), 7),
                                        ((2000, 40), 4)])
def test_compress_rows_matches_unique(rng, shape, card):
    X = rng.integers(-1, card, size=shape).astype(np.int32)
    _check_compression(X)


def test_compress_rows_million(rng):
    X = rng.integers(-1, 3, size=(1_000_000, 8)).astype(np.int32)
    _check_compression(X)


def test_compress_rows_edge_cases():
    c = compress_rows(np.zeros((0, 3), np.int32))
    assert c.rows.shape == (0, 3) and c.counts.size == 0
    c = compress_rows(np.full((10, 0), 0, np.int32))
    assert c.rows.shape == (1, 0) and c.counts.tolist() == [10]
    big = np.array([[2**31 - 1, -2**31], [2**31 - 1, -2**31], [0, 0]], dtype=np.int32)
    c = compress_rows(big)
    assert c.counts.tolist() == [2, 1]


def test_code_summary_matches_numpy(rng):
    """The compiled per-column range and observed-row count against numpy's reductions,
    on random code matrices with all-missing rows and columns, the int32 extremes, no
    rows and no columns; non-int32 input is converted exactly or refused."""
    from emfast.data import code_summary
    for _ in range(300):
        n, d = int(rng.integers(0, 60)), int(rng.integers(0, 9))
        X = rng.integers(-1, 4, size=(n, d)).astype(np.int32)
        if n and d:
            X[rng.integers(n)] = -1
            X[:, rng.integers(d)] = -1
            if rng.random() < 0.3:
                X[rng.integers(n), rng.integers(d)] = rng.choice([2**31 - 1, -2**31])
        lo, hi, n_obs = code_summary(X)
        assert lo.shape == hi.shape == (d,)
        if n:
            np.testing.assert_array_equal(lo, X.min(axis=0))
            np.testing.assert_array_equal(hi, X.max(axis=0))
        else:
            assert (lo == 2**31 - 1).all() and (hi == -2**31).all()
        assert n_obs == int((X != -1).any(axis=1).sum())
    lo, hi, n_obs = code_summary(np.array([[0, 5], [-1, -1]], dtype=np.int64)[:, ::-1])
    assert lo.tolist() == [-1, -1] and hi.tolist() == [5, 0] and n_obs == 1
    with pytest.raises(ValueError, match="2-dimensional"):
        code_summary(np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="outside the int32 range"):
        code_summary(np.array([[2**40]]))


def test_check_data_int32_names_the_first_bad_cell():
    X = np.array([[0, 1], [1, 3], [2, 0]], dtype=np.int32)
    with pytest.raises(ValueError, match=r"X\[:, 1\] contains category 3 at row 1"):
        check_data(X, ["a", "b"], [3, 3])
    with pytest.raises(ValueError, match=r"X\[:, 0\] contains category -2 at row 2"):
        check_data(np.array([[0, 9], [1, 9], [-2, 9]], dtype=np.int32), ["a", "b"], [3, 3])
    np.testing.assert_array_equal(check_data(X, ["a", "b"], [3, 4]), X)


# ---------------------------------------------------------------------------
# issue 14: lengths, compress_rows, _as_array
# ---------------------------------------------------------------------------

WRAP = [2**63 - 1, 2**63 - 1, 8]       # sums to 6 modulo 2**64


@pytest.mark.parametrize("lengths, exc, match", [
    (WRAP, ValueError, r"lengths\[0\] = 9223372036854775807 is longer than X \(len\(X\)=6\)"),
    ([2**64, 1], ValueError, r"lengths\[0\] = 18446744073709551616 is longer than X"),
    (np.array([2**63, 1], np.uint64), ValueError, r"lengths\[0\] = 9223372036854775808 is longer"),
    ([3, -3, 6], ValueError, r"lengths\[1\] = -3: every sequence must have at least one"),
    ([7], ValueError, r"lengths\[0\] = 7 is longer than X"),
    ([1e300, 1], ValueError, r"lengths\[0\] = 1e\+300 is longer than X"),
    ([3, np.nan], ValueError, r"lengths must be integers; lengths\[1\] = nan"),
    ([3, np.inf], ValueError, r"lengths must be integers; lengths\[1\] = inf"),
    (["3", "3"], TypeError, r"lengths must be integers; got dtype <U1"),
    (np.array([True, True]), TypeError, r"lengths must be integers; got dtype bool"),
    ([3, "x"], TypeError, r"lengths must be integers"),
    ([[3, 3]], ValueError, r"lengths must be 1-dimensional; got shape \(1, 2\)"),
    (6, ValueError, r"lengths must be 1-dimensional; got shape \(\)"),
    ([], ValueError, r"lengths is empty"),
    ([[3], [3, 3]], ValueError, r"lengths could not be read as a rectangular array"),
    ([2, 2, 2, 2**62], ValueError, r"lengths\[3\] = 4611686018427387904 is longer than X"),
])
def test_check_lengths_refuses_every_bad_length(lengths, exc, match):
    with pytest.raises(exc, match=match):
        check_lengths(lengths, 6)


def test_check_lengths_accepts_whole_floats_and_big_ints():
    np.testing.assert_array_equal(check_lengths([2.0, 4.0], 6), [0, 2, 6])
    np.testing.assert_array_equal(check_lengths(np.array([1, 5], np.uint64), 6), [0, 1, 6])
    assert check_lengths(np.array([6], np.int8), 6).dtype == np.int64


def test_wrapping_lengths_never_reach_a_kernel():
    """Issue 14.1: these lengths used to segfault predict and corrupt the heap in viterbi."""
    X = np.array([0, 1, 0, 1, 1, 0])
    h = em.CategoricalHMM(2, random_state=0).fit(X)
    match = r"lengths\[0\] = 9223372036854775807 is longer than X \(len\(X\)=6\)"
    start, trans = [.5, .5], [[.9, .1], [.2, .8]]
    calls = [lambda: h.predict(X, WRAP), lambda: h.score(X, WRAP), lambda: h.fit(X, WRAP),
             lambda: h.predict_proba(X, WRAP), lambda: h.decode(X, WRAP),
             lambda: em.kernels.viterbi(np.zeros((6, 2)), start, trans, WRAP),
             lambda: em.kernels.forward_backward(np.ones((6, 2)), start, trans, WRAP)]
    for call in calls:
        with pytest.raises(ValueError, match=match):
            call()
    # later, unrelated calls still work (no heap corruption)
    assert np.isfinite(h.score(X))


@pytest.mark.parametrize("codes, exc, match", [
    ([[2**32, 0], [0, 0]], ValueError,
     r"codes holds 4294967296 at index \(0, 0\), outside the int32 range"),
    ([[0.7, 0], [0, 0]], ValueError, r"codes holds 0.7 at index \(0, 0\); expected whole"),
    ([[0, 0], [np.nan, 0]], ValueError, r"codes holds nan at index \(1, 0\)"),
    (np.array([[2**63, 0]], np.uint64), ValueError, r"codes holds 9223372036854775808"),
    ([["a", "b"]], TypeError, r"codes has dtype <U1; expected integer codes"),
    ([[1j, 0]], TypeError, r"codes has dtype complex128"),
    ([0, 1], ValueError, r"codes must be 2-dimensional"),
])
def test_compress_rows_refuses_what_a_cast_would_change(codes, exc, match):
    """Issue 14.7: 2**32 wrapped to 0 and 0.7 truncated to 0, merging distinct rows."""
    with pytest.raises(exc, match=match):
        compress_rows(codes)


def test_compress_rows_converts_exactly():
    c = compress_rows(np.array([[1.0, 2.0], [1.0, 2.0], [-1.0, 0.0]]))
    assert c.rows.tolist() == [[1, 2], [-1, 0]] and c.counts.tolist() == [2, 1]
    c = compress_rows(np.array([[2**31 - 1], [-2**31]], dtype=np.int64))
    assert c.rows.ravel().tolist() == [2**31 - 1, -2**31] and c.counts.tolist() == [1, 1]
    c = compress_rows(np.array([[True], [False], [True]]))
    assert c.counts.tolist() == [2, 1]


def test_as_array_names_the_argument():
    from emfast.data import _as_array
    deep = 0
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match=r"^X could not be read as a rectangular array"):
        _as_array(deep, "X")
    with pytest.raises(ValueError, match=r"^X could not be read as a rectangular array"):
        _as_array([[0, 1], [0]], "X")
    with pytest.raises(ValueError, match=r"^t could not be read as an array of float64: could "
                                         r"not convert string to float: 'ab'"):
        _as_array("ab", "t", dtype=np.float64)
    with pytest.raises(TypeError, match=r"^X could not be converted to an array of float64"):
        _as_array({"a": 1}, "X", dtype=float)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int16, np.uint8, ">i8"])
@pytest.mark.parametrize("stride", [1, 3])
def test_codes_from_numeric_one_pass_matches_numpy(dtype, stride):
    # int64 columns go through the one-pass kernel (any stride), other integer dtypes
    # through numpy: the same codes, and the same first bad row, in every block
    from emfast.data import _codes_from_numeric
    rng = np.random.default_rng(5)
    n = 200_003                                   # 4 blocks of 65536 and a ragged one
    low = -1 if np.dtype(dtype).kind == "i" else 0
    base = rng.integers(low, 7, size=n * stride).astype(dtype)
    col = base[::stride]
    out = _codes_from_numeric(col, "X", "v", 7)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, col.astype(np.int64))
    for r in (0, 65535, 65536, 131073, n - 1):    # first / last of a block, the end
        bad = col.copy()
        bad[r] = 7
        if r + 5 < n:
            bad[r + 5] = 9                        # a later bad code does not win
        with pytest.raises(ValueError, match=rf"X contains category 7 at row {r}, but"):
            _codes_from_numeric(bad, "X", "v", 7)
        if np.dtype(dtype).kind == "i":
            bad[r] = -2
            with pytest.raises(ValueError, match=rf"X contains category -2 at row {r}, but"):
                _codes_from_numeric(bad, "X", "v", 7)
    assert _codes_from_numeric(col[:0], "X", "v", 7).shape == (0,)
