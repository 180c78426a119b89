"""BIF and JSON formats: parsing, layout, round trips, errors (emfast.io)."""
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

import emfast
from emfast import BayesianNetwork, datasets
from emfast import load, read_bif
from emfast.io import format_bif, parse_bif, save, write_bif

NETWORKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "networks"
if not NETWORKS.is_dir():  # the shared data sit next to the worktrees, not in the repo
    NETWORKS = Path("/work/shared/data/networks")
ALL_BIF = sorted(NETWORKS.glob("*.bif.gz")) if NETWORKS.is_dir() else []


def _same(a, b, edge_order=False):
    assert a.variables == b.variables
    assert sorted(a.edges) == sorted(b.edges)
    if edge_order:
        assert a.edges == b.edges
    assert a.states == b.states
    for v in a.variables:
        assert a.parents(v) == b.parents(v)
        assert a.cpts[v].dtype == b.cpts[v].dtype == np.float64
        assert np.array_equal(a.cpts[v], b.cpts[v]), v  # bit-exact


def _random_network(rng, n=7, max_parents=3):
    names = [f"V{i}" for i in range(n)]
    cards = {v: int(rng.integers(2, 5)) for v in names}
    edges = []
    for j in range(1, n):
        k = int(rng.integers(0, min(j, max_parents) + 1))
        for i in rng.permutation(j)[:k]:
            edges.append((names[i], names[j]))
    rng.shuffle(edges)  # parent order = order of appearance
    states = {v: [f"s{v}_{k}" for k in range(cards[v])] for v in names[::2]}
    bn = BayesianNetwork([tuple(e) for e in edges], cards, states=states)
    for v in names:
        shape = tuple(cards[p] for p in bn.parents(v))
        bn.cpts[v] = rng.dirichlet(np.full(cards[v], 0.7), size=shape)
    return bn


# ---------------------------------------------------------------------------
# every shipped network loads
# ---------------------------------------------------------------------------

@pytest.mark.skipif(not ALL_BIF, reason="shared network files not available")
def test_every_shared_network_loads():
    t0 = time.perf_counter()
    sizes = {}
    for path in ALL_BIF:
        bn = read_bif(path)
        assert len(bn.variables) >= 5
        for v in bn.variables:
            t = bn.cpts[v]
            assert t.shape == tuple(bn.cardinalities[p] for p in bn.parents(v)) + (
                bn.cardinalities[v],)
            np.testing.assert_allclose(t.sum(-1), 1.0, atol=1e-6)
        sizes[path.name] = len(bn.variables)
    elapsed = time.perf_counter() - t0
    print(f"loaded {len(ALL_BIF)} BIF files in {elapsed:.2f} s: {sizes}")
    assert sizes["alarm.bif.gz"] == 37 and sizes["munin.bif.gz"] == 1041


def test_asia_tables_in_bif_parent_order():
    bn = datasets.load_network("asia")
    assert bn.variables == ["asia", "tub", "smoke", "lung", "bronc", "either", "xray", "dysp"]
    assert bn.states["asia"] == ["yes", "no"]
    np.testing.assert_array_equal(bn.cpts["asia"], [0.01, 0.99])
    np.testing.assert_array_equal(bn.cpts["tub"], [[0.05, 0.95], [0.01, 0.99]])
    # probability ( dysp | bronc, either ): (yes, yes) .9 .1; (no, yes) .7 .3;
    # (yes, no) .8 .2; (no, no) .1 .9  -> cpts[bronc, either, dysp]
    assert bn.parents("dysp") == ("bronc", "either")
    np.testing.assert_array_equal(bn.cpts["dysp"][0, 0], [0.9, 0.1])
    np.testing.assert_array_equal(bn.cpts["dysp"][1, 0], [0.7, 0.3])
    np.testing.assert_array_equal(bn.cpts["dysp"][0, 1], [0.8, 0.2])
    np.testing.assert_array_equal(bn.cpts["dysp"][1, 1], [0.1, 0.9])
    assert bn.parents("either") == ("lung", "tub")


def test_bundled_networks():
    assert datasets.available_networks() == ["alarm", "asia"]
    alarm = datasets.load_network("alarm")
    assert len(alarm.variables) == 37 and len(alarm.edges) == 46
    assert alarm.parents("CVP") == ("LVEDVOLUME",)
    with pytest.raises(ValueError, match=r"Unknown bundled network 'nope'.*'alarm'"):
        datasets.load_network("nope")
    assert emfast.datasets is datasets
    assert emfast.read_bif is read_bif and emfast.load is load


# ---------------------------------------------------------------------------
# syntax features
# ---------------------------------------------------------------------------

GENERAL = """
// a comment line
network "test net" {
  property author "someone; with a semicolon";
}
/* block comment
   spanning lines { with braces } */
variable A { type discrete [ 3 ] { a0, a1, a2 }; property position = (1, 2); }
variable B {
  type discrete[2]{b0,b1};
}
variable C {
  type discrete [ 2 ] { c0, c1 };
}
variable "D" { type discrete [ 2 ] { "d0", d1 }; }
probability ( A ) { table 0.2, 0.3, 0.5; }
probability(B){table .25 .75;}
probability ( C | A, B ) {
  (a2, b1) 0.9, 0.1;   // listed out of order
  (a0, b0) 0.1, 0.9;
  (a1, b0) 0.3, 0.7;
  default 0.5, 0.5;
}
probability ( D C B ) {
  table 0.1, 0.2, 0.3, 0.4,
        0.9, 0.8, 0.7, 0.6;
}
"""


def test_general_syntax():
    net = parse_bif(GENERAL)
    assert net.name == "test net"
    assert net.network_properties == ['author "someone; with a semicolon"']
    assert net.variables == ["A", "B", "C", "D"]
    assert net.states["D"] == ["d0", "d1"]
    assert net.properties["A"] == ["position = (1, 2)"]
    np.testing.assert_array_equal(net.tables["B"], [0.25, 0.75])
    c = net.tables["C"]
    assert c.shape == (3, 2, 2)
    np.testing.assert_array_equal(c[2, 1], [0.9, 0.1])
    np.testing.assert_array_equal(c[0, 0], [0.1, 0.9])
    np.testing.assert_array_equal(c[1, 0], [0.3, 0.7])
    for a, b in [(0, 1), (1, 1), (2, 0)]:  # filled by default
        np.testing.assert_array_equal(c[a, b], [0.5, 0.5])
    # old header "( D C B )": parents C, B; "table" with the child slowest, last parent fastest
    assert net.parents["D"] == ["C", "B"]
    d = net.tables["D"]
    np.testing.assert_array_equal(d[:, :, 0], [[0.1, 0.2], [0.3, 0.4]])
    np.testing.assert_array_equal(d[:, :, 1], [[0.9, 0.8], [0.7, 0.6]])

    bn = emfast.read_bif(__import__("io").StringIO(GENERAL))
    assert bn.parents("C") == ("A", "B") and bn.parents("D") == ("C", "B")
    np.testing.assert_array_equal(bn.cpts["D"], d)


def test_rounded_rows_are_renormalised_and_exact_rows_kept():
    text = """variable X { type discrete [ 3 ] { x, y, z }; }
    variable Y { type discrete [ 2 ] { p, q }; }
    probability ( X ) { table 0.3333, 0.3333, 0.3333; }
    probability ( Y | X ) { (x) 0.1, 0.9; (y) 0.30000001, 0.7; (z) 0.6, 0.4; }"""
    net = parse_bif(text)
    np.testing.assert_allclose(net.tables["X"], [1 / 3] * 3, rtol=1e-15)
    assert net.tables["Y"][1, 0] == 0.30000001  # within 1e-6 of 1: verbatim
    np.testing.assert_array_equal(net.tables["Y"][0], [0.1, 0.9])


@pytest.mark.parametrize("text, match", [
    ("variable A { type discrete [ 2 ] { a, b }; }\nprobability ( A | Z ) { (x) 0.5, 0.5; }",
     r"probability block for 'A' \(line 2\) names the parent 'Z', which is not a declared"),
    ("variable A { type discrete [ 2 ] { a, b }; }\nvariable B { type discrete [ 2 ] { a, b }; }\n"
     "probability ( A ) { table 0.5, 0.5; }\n"
     "probability ( B | A ) { (a) 0.5, 0.5; }",
     r"no distribution for the parent configuration \(b\) and has no 'default'"),
    ("variable A { type discrete [ 2 ] { a, b }; }\nprobability ( A ) { table 0.5, 0.25, 0.25; }",
     r"table of 'A' \(line 2\) has 3 values; expected 2"),
    ("variable A { type discrete [ 3 ] { a, b }; }\nprobability ( A ) { table 0.5, 0.5; }",
     r"variable 'A' \(line 1\) declares 3 states but lists 2"),
    ("variable A { type discrete [ 2 ] { a, b }; }\nvariable B { type discrete [ 2 ] { a, b }; }\n"
     "probability ( A ) { table 0.5, 0.5; }\nprobability ( B | A ) { (c) 0.5, 0.5; (a) 1, 0;}",
     r"'c' is not a state of parent 'A'"),
    ("variable A { type discrete [ 2 ] { a, b }; }\nvariable A { type discrete [ 2 ] { a, b }; }",
     r"variable 'A' is declared twice \(line 1 and line 2\)"),
    ("variable A { type discrete [ 2 ] { a, b }; }\nvariable B { type discrete [ 2 ] { a, b }; }\n"
     "probability ( A ) { table 0.5, 0.5; }",
     r"variable\(s\) \['B'\] have no probability block"),
    ("variable A { type discrete [ 2 ] { a, b }; }\nprobability ( A ) { table 0.6, 0.5; }",
     r"a row of the table of 'A' \(line 2\) sums to 1.1"),
    ("variable A { type discrete [ 2 ] { a, b }; }\nprobability ( A ) { table -0.5, 1.5; }",
     r"table of 'A' \(line 2\) contains the negative value -0.5"),
    ("variable A { type discrete [ 2 ] { a, b }; }\nprobability ( A ) { table 0.5, half; }",
     r"the table of 'A' \(line 2\) has 'half' where a probability was expected"),
    ("variable A { type continuous; }", r"unsupported type declaration"),
    ("variable A { type discrete [ 2 ] { a, b };\n", r"block opened at line 1 is never closed"),
    ("variable A { type discrete [ 2 ] { a, b }; }\nfoo bar",
     r"unexpected text at line 2: 'foo bar'"),
    ("", r"declares no variable"),
])
def test_bif_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_bif(text)


def test_cycle_in_bif_is_a_value_error():
    text = """variable A { type discrete [ 2 ] { a, b }; }
    variable B { type discrete [ 2 ] { a, b }; }
    probability ( A | B ) { (a) 0.5, 0.5; (b) 0.5, 0.5; }
    probability ( B | A ) { (a) 0.5, 0.5; (b) 0.5, 0.5; }"""
    parse_bif(text)  # syntactically fine
    with pytest.raises(ValueError, match=r"cycle"):
        emfast.read_bif(__import__("io").StringIO(text))


# ---------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".bif", ".bif.gz"])
def test_write_read_bif_exact_random(tmp_path, rng, suffix):
    for k in range(5):
        bn = _random_network(rng, n=3 + 2 * k)
        # awkward floats: values that need all 17 digits
        v = bn.variables[-1]
        t = np.array(bn.cpts[v])
        t[..., 0] = 1.0 / 3.0
        t[..., 1:] = (2.0 / 3.0) * t[..., 1:] / t[..., 1:].sum(-1, keepdims=True)
        bn.cpts[v] = t
        path = tmp_path / f"net{k}{suffix}"
        write_bif(bn, path)
        if suffix.endswith(".gz"):
            with open(path, "rb") as fh:
                assert fh.read(2) == b"\x1f\x8b"
        _same(bn, read_bif(path))
        _same(bn, read_bif(str(path)))


SHIPPED = Path(__file__).resolve().parent / "data" / "networks"


@pytest.mark.parametrize("name", ["alarm", "asia", "hailfinder", "win95pts", "child", "insurance"])
def test_write_read_bif_exact_real(tmp_path, name):
    if name in ("alarm", "asia"):
        from emfast.datasets import load_network
        bn = load_network(name)
    else:
        bn = read_bif(SHIPPED / f"{name}.bif.gz")
    path = tmp_path / f"{name}.bif"
    bn.write_bif(path) if hasattr(bn, "write_bif") else write_bif(bn, path)
    bn2 = read_bif(path)
    _same(bn, bn2)
    assert format_bif(bn2) == path.read_text()  # writing is deterministic


def test_write_bif_is_deterministic_gzip(tmp_path):
    bn = datasets.load_network("asia")
    write_bif(bn, tmp_path / "a.bif.gz")
    write_bif(bn, tmp_path / "b.bif.gz")
    assert (tmp_path / "a.bif.gz").read_bytes() == (tmp_path / "b.bif.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.bif.gz").read_bytes()).decode().startswith(
        "network unknown {")


def test_write_bif_rejects_unwritable_names(tmp_path):
    bn = BayesianNetwork([("A", "B")], {"A": 2, "B": 2}, states={"A": ["low", "very high"]})
    with pytest.raises(ValueError, match=r"A state of 'A': 'very high' cannot be written to BIF"):
        write_bif(bn, tmp_path / "x.bif")
    bn = BayesianNetwork([], {"my var": 2})
    with pytest.raises(ValueError, match=r"Variable name 'my var' cannot be written to BIF"):
        write_bif(bn, tmp_path / "x.bif")


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_save_load_exact(tmp_path, rng, suffix):
    for k in range(4):
        bn = _random_network(rng, n=4 + k)
        path = tmp_path / f"net{k}{suffix}"
        bn.save(path) if hasattr(bn, "save") else save(bn, path)
        _same(bn, load(path), edge_order=True)
    alarm = datasets.load_network("alarm")
    save(alarm, tmp_path / "alarm.json")
    _same(alarm, emfast.load(tmp_path / "alarm.json"))
    d = json.loads((tmp_path / "alarm.json").read_text())
    assert d["format"] == "emfast.BayesianNetwork" and d["format_version"] == 1


def test_save_load_states_with_spaces(tmp_path):
    # JSON keeps any label, also those BIF cannot hold
    bn = BayesianNetwork([("A", "B")], {"A": 2, "B": 3},
                         states={"A": ["low", "very high"], "B": ["x, y", "(z)", "é"]})
    save(bn, tmp_path / "n.json")
    _same(bn, load(tmp_path / "n.json"))


def test_load_errors(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match=r"Not an emfast network file: 'format' is 'something"):
        load(p)
    p.write_text('{"format": "emfast.BayesianNetwork", "format_version": 99}')
    with pytest.raises(ValueError, match=r"Unsupported emfast network format_version 99"):
        load(p)
    p.write_text("{not json")
    with pytest.raises(ValueError, match=r"is not valid JSON"):
        load(p)
    bn = datasets.load_network("asia")
    save(bn, p)
    d = json.loads(p.read_text())
    d["cpts"]["tub"]["values"] = [0.5, 0.5, 0.7, 0.7]
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"CPT for 'tub'.*sums to 1.4"):
        load(p)
    del d["cpts"]["tub"]
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"no CPT for 'tub'"):
        load(p)


def test_read_bif_file_objects(tmp_path):
    bn = datasets.load_network("asia")
    path = tmp_path / "asia.bif.gz"
    write_bif(bn, path)
    with open(path, "rb") as fh:
        _same(bn, read_bif(fh))
    with open(os.fspath(path), "rb") as fh:  # gzip recognised by content, not suffix
        raw = fh.read()
    (tmp_path / "asia.txt").write_bytes(raw)
    _same(bn, read_bif(tmp_path / "asia.txt"))


# ---------------------------------------------------------------------------
# issue 14.9 / 14.11 / 14.12: strict JSON, clean errors, memory bombs
# ---------------------------------------------------------------------------

def _asia_dict(tmp_path):
    p = tmp_path / "asia.json"
    save(datasets.load_network("asia"), p)
    return json.loads(p.read_text())


def _set(path, value):
    def mutate(d):
        *keys, last = path
        for k in keys:
            d = d[k]
        if value is _DELETE:
            del d[last]
        else:
            d[last] = value
    return mutate


_DELETE = object()

JSON_CASES = [
    # issue 14.9: lenient fields
    (_set(["variables", 0, "states"], "xy"),
     r"variables\[0\]\.states \(variable 'asia'\) must be a list of strings; got a string 'xy'"),
    (_set(["variables", 0, "cardinality"], 2.7),
     r"variables\[0\]\.cardinality \(variable 'asia'\) must be an integer >= 1; got 2.7"),
    (_set(["format_version"], True),
     r"Unsupported emfast network format_version True; this emfast reads the integer versions"),
    (_set(["format_version"], 1.0), r"Unsupported emfast network format_version 1.0"),
    (_set(["variables", 0, "cardinality"], True), r"cardinality .* must be an integer >= 1; got True"),
    (_set(["variables", 0, "cardinality"], 0), r"cardinality .* must be an integer >= 1; got 0"),
    (_set(["variables", 0, "states"], ["a", 1]), r"states \(variable 'asia'\) must be a list of str"),
    (_set(["variables", 0, "states"], ["a", "b", "c"]), r"lists 3 states but its cardinality is 2"),
    (_set(["variables", 0, "states"], ["a", "a"]), r"states \(variable 'asia'\) repeats \['a'\]"),
    (_set(["variables", 0, "name"], 5), r"variables\[0\]\.name must be a non-empty string; got 5"),
    (_set(["variables", 0, "stats"], ["a", "b"]), r"variables\[0\] has the unknown field\(s\) \['stats'\]"),
    (_set(["extra"], 1), r"the file has the unknown field\(s\) \['extra'\]"),
    (_set(["name"], 3), r"'name' must be a string or null; got a number"),
    (_set(["emfast_version"], [0]), r"'emfast_version' must be a string; got a list"),
    # issue 14.11: KeyError / TypeError / OverflowError
    (_set(["cpts", "asia", "values"], _DELETE), r"cpts\['asia'\] has no 'values' field"),
    (_set(["cpts", "asia", "shape"], _DELETE), r"cpts\['asia'\] has no 'shape' field"),
    (_set(["variables"], 5), r"'variables' must be a list of .* objects; got a number"),
    (lambda d: d.update(variables=[], edges=[], cpts={}), r"'variables' is empty"),
    (_set(["variables", 0], "asia"), r"variables\[0\] must be an object .*; got a string"),
    (_set(["cpts", "asia", "shape"], [1e20]), r"cpts\['asia'\]\.shape must be a list of integers; "
                                              r"got \[1e\+20\]"),
    (_set(["cpts", "asia", "shape"], [10**20]), r"cpts\['asia'\]\.shape is \[100000000000000000000"
                                                r"\], but variable 'asia' with parents \[\] needs \[2\]"),
    (_set(["cpts", "asia", "values"], [[0.5, 0.5]]), r"cpts\['asia'\]\.values has 1 numbers; shape"),
    (_set(["cpts", "asia", "values"], ["0.5", 0.5]), r"cpts\['asia'\]\.values\[0\] must be a number"),
    (_set(["cpts", "asia", "values"], [True, 0]), r"cpts\['asia'\]\.values\[0\] must be a number"),
    (_set(["cpts", "asia", "values"], [10**400, 0]), r"values\[0\] = 1000.* is not a finite"),
    (_set(["cpts", "asia", "values"], {"a": 1}), r"cpts\['asia'\]\.values must be a flat list"),
    (_set(["cpts", "asia"], [0.5, 0.5]), r"cpts\['asia'\] must be an object"),
    (_set(["cpts", "nope"], {"shape": [2], "values": [1, 0]}), r"'cpts' has a table for 'nope'"),
    (_set(["cpts"], []), r"'cpts' must be an object"),
    (_set(["edges"], "ab"), r"'edges' must be a list of \[parent, child\] pairs; got a string"),
    (_set(["edges", 0], ["asia", "tub", "x"]), r"edges\[0\] must be a \[parent, child\] pair"),
    (_set(["edges", 0], ["asia", 1]), r"edges\[0\] must be a \[parent, child\] pair"),
    (_set(["edges", 0], ["asia", "nope"]), r"edges\[0\] = \['asia', 'nope'\] names 'nope'"),
]


@pytest.mark.parametrize("mutate, match", JSON_CASES)
def test_load_is_strict_and_names_the_field(tmp_path, mutate, match):
    d = _asia_dict(tmp_path)
    mutate(d)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=match) as info:
        load(p)
    assert str(info.value).startswith(f"{p}: "), str(info.value)
    with pytest.raises(ValueError, match=match):
        emfast.io.network_from_dict(d)


def test_load_deep_nesting_duplicates_and_top_level(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"format": "emfast.BayesianNetwork", "format_version": 1, "variables": '
                 + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ValueError, match=r"x.json is not an emfast network file: its JSON is "
                                         r"nested too deeply"):
        load(p)
    p.write_text('{"format": "emfast.BayesianNetwork", "format": 1}')
    with pytest.raises(ValueError, match=r"the JSON object key 'format' appears twice"):
        load(p)
    p.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"the top level is a list, expected an object"):
        load(p)


@pytest.mark.parametrize("reader, suffix", [(read_bif, ".bif.gz"), (load, ".json.gz")])
def test_truncated_and_fake_gzip_are_value_errors(tmp_path, reader, suffix):
    """Issue 14.11: EOFError / BadGzipFile escaped read_bif and load."""
    bn = datasets.load_network("asia")
    good = tmp_path / f"good{suffix}"
    (bn.write_bif if suffix == ".bif.gz" else bn.save)(good)
    raw = good.read_bytes()
    for name, data, match in (
            ("trunc", raw[: len(raw) // 2], r"is not a valid gzip file \(truncated or corrupt\): "
                                            r"Compressed file ended"),
            ("fake", b"\x1f\x8b" + b"garbage" * 5, r"is not a valid gzip file"),
            ("crc", raw[:-8] + bytes(8), r"is not a valid gzip file")):
        p = tmp_path / f"{name}{suffix}"
        p.write_bytes(data)
        with pytest.raises(ValueError, match=match) as info:
            reader(p)
        assert str(info.value).startswith(str(p))
    with open(tmp_path / f"trunc{suffix}", "rb") as fh:
        with pytest.raises(ValueError, match=r"trunc.*is not a valid gzip file"):
            reader(fh)
    (tmp_path / "latin.bif").write_bytes(b"network \xe9 {}")
    with pytest.raises(ValueError, match=r"latin.bif is not UTF-8 text"):
        reader(tmp_path / "latin.bif")
    with pytest.raises(TypeError, match=r"path must be a file name or a file object; got int"):
        reader(5)


def test_gzip_bomb_is_refused_within_the_budget(tmp_path):
    p = tmp_path / "bomb.bif.gz"
    p.write_bytes(gzip.compress(b"//" + b" " * (64 << 20)))    # 64 MiB of comment, 64 KiB file
    assert p.stat().st_size < 200_000
    with emfast.config_context(max_memory="16M"):
        with pytest.raises(ValueError, match=r"decompressing .*bomb.bif.gz needs \d+ MiB, more "
                                             r"than the memory budget max_memory=16 MiB"):
            read_bif(p)


def _default_bomb(n_parents=8, card=10):
    """A ~1.5 KB BIF whose 'default' entry asks for card**(n_parents + 1) probabilities."""
    st = ", ".join(f"s{k}" for k in range(card))
    text = "".join(f"variable V{i} {{ type discrete [ {card} ] {{ {st} }}; }}\n"
                   for i in range(n_parents + 1))
    row = ", ".join([repr(1 / card)] * card)
    text += "".join(f"probability ( V{i} ) {{ table {row}; }}\n" for i in range(n_parents))
    text += (f"probability ( V{n_parents} | " + ", ".join(f"V{i}" for i in range(n_parents))
             + f" ) {{ default {row}; }}\n")
    return text


def test_bif_default_row_bomb_is_refused_before_allocating(tmp_path):
    """Issue 14.12: a small BIF with a 'default' row tried 7.45 GiB."""
    text = _default_bomb()
    assert len(text) < 2000
    (tmp_path / "bomb.bif").write_text(text)
    with emfast.config_context(max_memory="1G"):
        with pytest.raises(ValueError, match=r"bomb.bif: BIF: the table of 'V8' \(line 18; "
                                             r"1,000,000,000 probabilities\) needs 7.54 GiB, more "
                                             r"than the memory budget max_memory=1 GiB"):
            read_bif(tmp_path / "bomb.bif")
    # 70 binary parents: the size no longer wraps around int64 (2**71 entries)
    with pytest.raises(ValueError, match=r"the table of 'V70' .* needs 1.78e\+07 PiB"):
        parse_bif(_default_bomb(70, 2))
    # the same file with a table that fits is read
    bn = read_bif_text = parse_bif(_default_bomb(2, 3))
    assert bn.tables["V2"].shape == (3, 3, 3)
    del read_bif_text


def test_network_constructor_refuses_huge_tables_before_allocating():
    """Issue 14.12: BayesianNetwork([], {"A": 10**9}) raised MemoryError with an empty
    message; a child with 28 binary parents allocated 4 GiB before the clique refusal."""
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"the CPT of 'A' \(0 parent\(s\)\) has 1,000,000,000 "
                                             r"entries, more than the 67,108,864 configurations"):
            BayesianNetwork([], {"A": 10**9})
        cards = {f"P{i}": 2 for i in range(28)} | {"C": 2}
        with pytest.raises(ValueError, match=r"the CPT of 'C' \(28 parent\(s\)\) has 536,870,912 "
                                             r"entries"):
            BayesianNetwork([(f"P{i}", "C") for i in range(28)], cards)
        # 2**70 entries: no int64 wrap-around lets it through
        cards = {f"P{i}": 2 for i in range(70)} | {"C": 2}
        with pytest.raises(ValueError, match=r"has 2,361,183,241,434,822,606,848 entries"):
            BayesianNetwork([(f"P{i}", "C") for i in range(70)], cards)
        assert tracemalloc.get_traced_memory()[1] < 50 << 20    # peak: nothing big allocated
    finally:
        tracemalloc.stop()
    # within the clique limit but beyond the memory budget
    with emfast.config_context(max_memory="64M"):
        with pytest.raises(ValueError, match=r"the CPTs of the network \(16,777,224 probabilities\) "
                                             r"and its 1,048,584 default state labels needs 208 MiB, "
                                             r"more than the memory budget max_memory=64 MiB"):
            BayesianNetwork([("A", "B"), ("C", "B")], {"A": 4, "B": 2**20, "C": 4})
    with emfast.config_context(max_memory="64M"):
        with pytest.raises(ValueError, match=r"1,000,000 default state labels needs"):
            BayesianNetwork([], {"A": 10**6})
        bn = BayesianNetwork([], {"A": 10**5})                      # 8.4 MB: fine
        assert bn.cpts["A"].shape == (10**5,)
