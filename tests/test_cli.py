"""The ``emfast`` command: demo, fit, impute, info (called through emfast.cli.main)."""
import gzip
import subprocess
import sys

import numpy as np
import pytest

import emfast
from emfast import datasets
from emfast.cli import main
from emfast import read_bif
from emfast.io import read_csv_states, write_bif, write_csv_states
from conftest import assert_monotone


@pytest.fixture
def asia_files(tmp_path, rng):
    """asia.bif + a CSV sampled from it: 20% cells blank, 'either' without a column."""
    bn = datasets.load_network("asia")
    codes = bn.sample(3000, random_state=int(rng.integers(1 << 31)))
    codes[rng.random(codes.shape) < 0.2] = -1
    cols = [v for v in bn.variables if v != "either"]
    idx = [bn.variables.index(c) for c in cols]
    net = tmp_path / "asia.bif"
    write_bif(bn, net)
    csv = tmp_path / "data.csv"
    write_csv_states(csv, codes[:, idx], cols, bn)
    return bn, net, csv, codes, cols


def test_csv_round_trip_and_format(tmp_path, rng):
    bn = datasets.load_network("asia")
    codes = bn.sample(50, random_state=1)
    codes[rng.random(codes.shape) < 0.3] = -1
    for name in ("d.csv", "d.csv.gz"):
        write_csv_states(tmp_path / name, codes, bn.variables, bn)
        back, cols = read_csv_states(tmp_path / name, bn)
        assert cols == bn.variables
        np.testing.assert_array_equal(back, codes)
        assert back.dtype == np.int32
    text = (tmp_path / "d.csv").read_text().splitlines()
    assert text[0] == ",".join(bn.variables)
    first = [bn.states[v][c] if c >= 0 else "" for v, c in zip(bn.variables, codes[0])]
    assert text[1] == ",".join(first)
    assert gzip.decompress((tmp_path / "d.csv.gz").read_bytes()).decode().splitlines() == text


def test_csv_reader_tolerates_spaces_and_blank_lines(tmp_path):
    bn = datasets.load_network("asia")
    p = tmp_path / "x.csv"
    p.write_text(" smoke , dysp\nyes, no\n\n ,yes\nno,\n")
    codes, cols = read_csv_states(p, bn)
    assert cols == ["smoke", "dysp"]
    np.testing.assert_array_equal(codes, [[0, 1], [-1, 0], [1, -1]])


@pytest.mark.parametrize("content, match", [
    ("smoke,nope\nyes,no\n", r"column\(s\) \['nope'\] are not variables of the network"),
    ("smoke,smoke\nyes,no\n", r"column\(s\) \['smoke'\] appear more than once"),
    ("smoke,dysp\nyes,no\nyes\n", r"line 3: 1 cells, but the header has 2 columns"),
    ("smoke,dysp\nyes,no\nmaybe,no\n",
     r"line 3, column 'smoke': 'maybe' is not a state of 'smoke'; its states are \['yes', 'no'\]"),
    ("", r"is empty"),
])
def test_csv_reader_errors(tmp_path, content, match):
    bn = datasets.load_network("asia")
    p = tmp_path / "x.csv"
    p.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_csv_states(p, bn)


def test_cli_fit_bif_and_json(asia_files, tmp_path, capsys):
    bn, net, csv, codes, cols = asia_files
    out = tmp_path / "fitted.bif"
    rc = main(["fit", str(net), str(csv), "-o", str(out), "--max-iter", "500",
               "--seed", "3", "-q"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "3,000 rows, 7 of 8 variables observed" in text
    assert "hidden (no column): either" in text and f"wrote {out}" in text
    fitted = read_bif(out)
    assert fitted.variables == bn.variables and fitted.states == bn.states
    # the fit written is the fit the API gives from the same seed
    full = np.full_like(codes, -1)
    for c in cols:
        full[:, bn.variables.index(c)] = codes[:, bn.variables.index(c)]
    ref = bn.copy().fit(full, max_iter=500, random_state=3)
    assert_monotone(ref.history_)
    for v in bn.variables:  # threads may sum in another order: not bit-identical
        np.testing.assert_allclose(fitted.cpts[v], ref.cpts[v], rtol=1e-7, atol=1e-9)
    # a variable observed in most rows and not next to the hidden one is learned well
    np.testing.assert_allclose(fitted.cpts["smoke"], bn.cpts["smoke"], atol=0.05)

    out_json = tmp_path / "fitted.json"
    with pytest.warns(emfast.ConvergenceWarning, match="did not converge within max_iter=2"):
        assert main(["fit", str(out), str(csv), "-o", str(out_json), "--init", "current",
                     "--max-iter", "2", "--tol", "0", "-q"]) == 0
    again = emfast.load(out_json)
    assert again.variables == bn.variables
    # JSON networks are accepted as input too
    with pytest.warns(emfast.ConvergenceWarning):
        assert main(["fit", str(out_json), str(csv), "-o", str(tmp_path / "f2.bif"),
                     "--max-iter", "1", "--pseudocount", "1", "-q"]) == 0


def test_cli_impute_map_and_sample(asia_files, tmp_path, capsys):
    bn, net, csv, codes, cols = asia_files
    out = tmp_path / "imputed.csv"
    assert main(["impute", str(net), str(csv), "-o", str(out)]) == 0
    msg = capsys.readouterr().out
    given, _ = read_csv_states(csv, bn)
    assert f"imputed {int((given < 0).sum()):,} missing cells in 3,000 rows (map)" in msg
    filled, fcols = read_csv_states(out, bn)
    assert fcols == cols
    assert (filled >= 0).all()
    obs = given >= 0
    np.testing.assert_array_equal(filled[obs], given[obs])
    ref = bn.impute(given, columns=cols)
    np.testing.assert_array_equal(filled, ref)

    # sample: reproducible with --seed, all cells filled, observed ones kept
    outs = []
    for k in range(2):
        o = tmp_path / f"s{k}.csv"
        assert main(["impute", str(net), str(csv), "-o", str(o), "--method", "sample",
                     "--seed", "7"]) == 0
        outs.append(read_csv_states(o, bn)[0])
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0][obs], given[obs])

    o = tmp_path / "all.csv"
    assert main(["impute", str(net), str(csv), "-o", str(o), "--all-variables"]) == 0
    allc, acols = read_csv_states(o, bn)
    assert acols == cols + ["either"]
    # either = lung OR tub in asia: its MAP value follows from the completed row
    lung, tub = allc[:, acols.index("lung")], allc[:, acols.index("tub")]
    np.testing.assert_array_equal(allc[:, -1], np.where((lung == 0) | (tub == 0), 0, 1))


def test_cli_errors(asia_files, tmp_path, capsys):
    bn, net, csv, codes, cols = asia_files
    bad = tmp_path / "bad.csv"
    bad.write_text("smoke,dysp\nyes,perhaps\n")
    assert main(["fit", str(net), str(bad), "-o", str(tmp_path / "o.bif"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "emfast fit: error:" in err and "'perhaps' is not a state of 'dysp'" in err
    assert main(["impute", str(tmp_path / "missing.bif"), str(csv), "-o", "x.csv"]) == 1
    assert "network file" in capsys.readouterr().err
    assert main(["fit", str(net), str(tmp_path / "nodata.csv"), "-o", "x.bif"]) == 1
    assert "data file" in capsys.readouterr().err
    (tmp_path / "head.csv").write_text("smoke,dysp\n")
    assert main(["fit", str(net), str(tmp_path / "head.csv"), "-o", "x.bif"]) == 1
    assert "has a header but no data rows" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit", str(net), str(csv)])  # -o is required
    with pytest.raises(SystemExit):
        main(["demo", "--missing", "1.5"])
    assert main([]) == 2


def test_cli_demo_small(capsys):
    assert main(["demo", "--rows", "3000", "--max-iter", "200", "--tol", "1e-4", "--seed", "1",
                 "-q"]) == 0
    out = capsys.readouterr().out
    assert "ALARM network (37 variables, 46 edges), 3,000 rows" in out
    assert "'HR' (3 states) hidden in every row" in out
    assert "learned states matched to the true ones by the permutation" in out
    line = next(ln for ln in out.splitlines() if "all 37 CPTs" in ln)
    mad0, mad1, kl0, kl1 = map(float, line.split()[-4:])
    assert mad1 < mad0 / 5 and kl1 < kl0 / 5
    with pytest.warns(emfast.ConvergenceWarning):
        assert main(["demo", "--rows", "500", "--max-iter", "2", "--hide", "none", "-q"]) == 0
    assert "hidden" not in capsys.readouterr().out.split("EM from")[0]
    assert main(["demo", "--hide", "NOPE", "-q"]) == 1
    assert "'NOPE' is not an ALARM variable" in capsys.readouterr().err


def test_demo_state_matching_undoes_a_relabelling():
    from emfast._demo import _permute_state, cpt_distances, match_hidden_states

    truth = datasets.load_network("alarm")
    complete = truth.sample(2000, random_state=0)
    learned = truth.copy()
    _permute_state(learned, "VENTLUNG", (2, 0, 3, 1))
    assert cpt_distances(truth, learned, complete)["VENTLUNG"][0] > 0.05
    perm = match_hidden_states(truth, learned, "VENTLUNG", complete)
    assert sorted(perm) == [0, 1, 2, 3]
    for v in truth.variables:
        np.testing.assert_array_equal(learned.cpts[v], truth.cpts[v])


def test_info_and_module_entry_point(capsys):
    assert main(["info"]) == 0
    r = subprocess.run([sys.executable, "-m", "emfast", "--version"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.startswith("emfast ")
