"""The ``emfast`` command: demo, fit, impute, info (called through emfast.cli.main)."""
import gzip
import subprocess
import sys
import warnings

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
    with warnings.catch_warnings():
        warnings.simplefilter("always", emfast.ConvergenceWarning)
        assert main(["fit", str(out), str(csv), "-o", str(out_json), "--init", "current",
                     "--max-iter", "2", "--tol", "0", "-q"]) == 0
        # the warning is one line on stderr, without the source location
        assert capsys.readouterr().err == (
            "emfast fit: warning: BayesianNetwork: the best of 1 initialisation(s) did not "
            "converge within max_iter=2. Increase max_iter, loosen tol, or check the data.\n")
        again = emfast.load(out_json)
        assert again.variables == bn.variables
        # JSON networks are accepted as input too
        assert main(["fit", str(out_json), str(csv), "-o", str(tmp_path / "f2.bif"),
                     "--max-iter", "1", "--pseudocount", "1", "-q"]) == 0
        assert "did not converge" in capsys.readouterr().err


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
    with warnings.catch_warnings():
        warnings.simplefilter("always", emfast.ConvergenceWarning)
        assert main(["demo", "--rows", "500", "--max-iter", "2", "--hide", "none", "-q"]) == 0
    cap = capsys.readouterr()
    assert "hidden" not in cap.out.split("EM from")[0]
    assert cap.err.startswith("emfast demo: warning: BayesianNetwork: the best of 1")
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


# ---------------------------------------------------------------------------
# issue 14.13: clean one-line errors, output checked first, .csv.gz, --sep, progress
# ---------------------------------------------------------------------------

def _one_line_error(capsys, prefix="emfast fit: error: "):
    cap = capsys.readouterr()
    err = cap.err
    assert err.startswith(prefix) and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err, cap.out


def test_cli_file_errors_are_one_line(asia_files, tmp_path, capsys):
    bn, net, csv, codes, cols = asia_files
    out = str(tmp_path / "o.bif")
    raw = gzip.compress(csv.read_bytes())
    cases = []
    (tmp_path / "trunc.csv.gz").write_bytes(raw[: len(raw) // 2])            # EOFError
    cases.append(("trunc.csv.gz", r"trunc.csv.gz is not a valid gzip file \(truncated or corrupt\)"))
    (tmp_path / "fake.csv.gz").write_bytes(b"\x1f\x8b" + b"not gzip at all")  # BadGzipFile
    cases.append(("fake.csv.gz", r"fake.csv.gz is not a valid gzip file"))
    (tmp_path / "big.csv").write_text("smoke,dysp\n" + "x" * 200_000 + ",no\n")  # csv.Error
    cases.append(("big.csv", r"big.csv, line \d: not a valid CSV line: field larger than"))
    (tmp_path / "latin.csv").write_bytes("smoke,dysp\nyes,n\xf6\n".encode("latin-1"))
    cases.append(("latin.csv", r"latin.csv, after line \d: not UTF-8 text"))
    (tmp_path / "adir").mkdir()
    cases.append(("adir", r"data file '.*adir' is a directory"))
    cases.append(("nope.csv", r"data file '.*nope.csv' does not exist"))
    import re
    for name, match in cases:
        assert main(["fit", str(net), str(tmp_path / name), "-o", out, "-q"]) == 1, name
        err, _ = _one_line_error(capsys)
        assert re.search(match, err), (name, err)
    # the network file: a directory, a truncated gzip BIF, a fake gzip JSON
    assert main(["fit", str(tmp_path / "adir"), str(csv), "-o", out, "-q"]) == 1
    assert "network file" in _one_line_error(capsys)[0]
    bif = gzip.compress(net.read_bytes())
    (tmp_path / "t.bif.gz").write_bytes(bif[:100])
    assert main(["fit", str(tmp_path / "t.bif.gz"), str(csv), "-o", out, "-q"]) == 1
    assert "t.bif.gz is not a valid gzip file" in _one_line_error(capsys)[0]
    (tmp_path / "t.json.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert main(["fit", str(tmp_path / "t.json.gz"), str(csv), "-o", out, "-q"]) == 1
    assert "t.json.gz is not a valid gzip file" in _one_line_error(capsys)[0]


def test_cli_os_errors_are_one_line(asia_files, tmp_path, capsys, monkeypatch):
    """An OSError the checks cannot foresee (here: open() fails) is still one line."""
    bn, net, csv, codes, cols = asia_files
    import builtins
    real_open = builtins.open

    def failing_open(path, *a, **k):
        if str(path).endswith("data.csv"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", failing_open)
    assert main(["fit", str(net), str(csv), "-o", str(tmp_path / "o.bif"), "-q"]) == 1
    err, _ = _one_line_error(capsys)
    assert err == f"emfast fit: error: Permission denied: {str(csv)!r}\n"


def test_cli_checks_the_output_before_the_fit(asia_files, tmp_path, capsys):
    bn, net, csv, codes, cols = asia_files
    for out, match in ((tmp_path / "no" / "such" / "dir" / "o.bif", "does not exist; create it"),
                       (tmp_path, "is a directory; give a file name")):
        for cmd in ("fit", "impute"):
            assert main([cmd, str(net), str(csv), "-o", str(out), "-q" if cmd == "fit"
                         else "--method=map"]) == 1
            err, stdout = _one_line_error(capsys, f"emfast {cmd}: error: ")
            assert match in err
            assert stdout == ""           # nothing read, nothing fitted
    # a JSON network whose state labels BIF cannot hold: refused before the fit too
    j = emfast.BayesianNetwork([("A", "B")], {"A": 2, "B": 2}, states={"A": ["x y", "z"]})
    j.save(tmp_path / "j.json")
    (tmp_path / "j.csv").write_text("A,B\nz,0\n")
    assert main(["fit", str(tmp_path / "j.json"), str(tmp_path / "j.csv"), "-o",
                 str(tmp_path / "j.bif"), "-q"]) == 1
    err, stdout = _one_line_error(capsys)
    assert "A state of 'A': 'x y' cannot be written to BIF" in err and stdout == ""


def test_cli_reads_gzip_csv_directly_and_names_it(asia_files, tmp_path, capsys):
    bn, net, csv, codes, cols = asia_files
    gz = tmp_path / "data.csv.gz"
    gz.write_bytes(gzip.compress(csv.read_bytes()))
    assert main(["impute", str(net), str(gz), "-o", str(tmp_path / "a.csv")]) == 0
    assert main(["impute", str(net), str(csv), "-o", str(tmp_path / "b.csv")]) == 0
    capsys.readouterr()
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    # gzip is recognised by content, whatever the name
    (tmp_path / "plain-name.csv").write_bytes(gz.read_bytes())
    np.testing.assert_array_equal(read_csv_states(tmp_path / "plain-name.csv", bn)[0],
                                  read_csv_states(csv, bn)[0])
    gz.write_bytes(gzip.compress(b"smoke,dysp\nyes,no\nyes,perhaps\n"))
    assert main(["fit", str(net), str(gz), "-o", str(tmp_path / "o.bif"), "-q"]) == 1
    err, _ = _one_line_error(capsys)
    assert f"{gz}, line 3, column 'dysp': 'perhaps' is not a state of 'dysp'" in err


@pytest.mark.parametrize("sep, arg", [(";", ";"), ("\t", "\\t"), ("|", "|")])
def test_cli_sep(asia_files, tmp_path, capsys, sep, arg):
    bn, net, csv, codes, cols = asia_files
    text = csv.read_text().replace(",", sep)
    p = tmp_path / "d.txt"
    p.write_text(text)
    out = tmp_path / "imp.txt"
    assert main(["impute", str(net), str(p), "-o", str(out), "--sep", arg]) == 0
    filled, fcols = read_csv_states(out, bn, sep=sep)
    ref = bn.impute(read_csv_states(csv, bn)[0], columns=cols)
    np.testing.assert_array_equal(filled, ref)
    assert out.read_text().splitlines()[0] == sep.join(cols)
    assert main(["fit", str(net), str(p), "-o", str(tmp_path / "f.bif"), "--sep", arg,
                 "--max-iter", "500", "-q"]) == 0
    capsys.readouterr()


def test_cli_sep_errors(asia_files, tmp_path, capsys):
    bn, net, csv, codes, cols = asia_files
    with pytest.raises(SystemExit):
        main(["fit", str(net), str(csv), "-o", "x.bif", "--sep", ",,"])
    assert "sep must be one character" in capsys.readouterr().err
    # a file with another separator: the message suggests --sep
    p = tmp_path / "semi.csv"
    p.write_text(csv.read_text().replace(",", ";"))
    assert main(["fit", str(net), str(p), "-o", str(tmp_path / "o.bif"), "-q"]) == 1
    assert "(is the separator ';'? pass --sep / sep=)" in _one_line_error(capsys)[0]
    with pytest.raises(ValueError, match=r"sep must be one character"):
        read_csv_states(csv, bn, sep='"')
    with pytest.raises(TypeError, match=r"sep must be a one-character string"):
        read_csv_states(csv, bn, sep=1)


def _fit_output(args, capsys, monkeypatch, tqdm):
    if not tqdm:
        monkeypatch.setitem(sys.modules, "tqdm", None)
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emfast.ConvergenceWarning)
        assert main(args) == 0
    return capsys.readouterr()


def test_cli_progress_lines_match_the_iteration_count(asia_files, tmp_path, capsys,
                                                      monkeypatch):
    """Issue 14.13: the first line printed 'change nan'; the demo printed 31 lines for
    '30 iterations'. Line k now scores the parameters after k M-steps."""
    bn, net, csv, codes, cols = asia_files
    import re
    for max_iter, tol in (("500", "1e-4"), ("3", "0")):
        cap = _fit_output(["fit", str(net), str(csv), "-o", str(tmp_path / "o.bif"),
                           "--max-iter", max_iter, "--tol", tol], capsys, monkeypatch, False)
        lines = [ln for ln in cap.err.splitlines() if " iter " in ln]
        n_iter = int(re.search(r"^(\d+) iterations in", cap.out, re.M).group(1))
        assert len(lines) == n_iter + 1
        assert [int(ln.split(" iter ")[1].split()[0]) for ln in lines] == list(range(n_iter + 1))
        assert "(start; E-step" in lines[0] and "change" not in lines[0]
        assert "nan" not in cap.err
        if max_iter == "3":
            assert n_iter == 3


def test_cli_progress_bar_ends_full(asia_files, tmp_path, capsys, monkeypatch):
    """Issue 14.13: the tqdm bar stopped at 55/101 when EM converged."""
    pytest.importorskip("tqdm")
    bn, net, csv, codes, cols = asia_files
    import re
    cap = _fit_output(["fit", str(net), str(csv), "-o", str(tmp_path / "o.bif"),
                       "--max-iter", "500", "--tol", "1e-4"], capsys, monkeypatch, True)
    n_iter = int(re.search(r"^(\d+) iterations in", cap.out, re.M).group(1))
    assert n_iter < 500
    last = cap.err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"{n_iter}/{n_iter}" in last and "100%" in last, last
    assert "nan" not in cap.err
    cap = _fit_output(["fit", str(net), str(csv), "-o", str(tmp_path / "o.bif"),
                       "--max-iter", "4", "--tol", "0"], capsys, monkeypatch, True)
    last = cap.err.replace("\r", "\n").strip().splitlines()[-1]
    assert "4/4" in last, last
