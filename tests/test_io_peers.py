"""read_bif against the BIF readers of pgmpy and pyAgrum (skipped when they are not installed)."""
from pathlib import Path

import numpy as np
import pytest

from emfast import read_bif
from emfast.io import write_bif

NETWORKS = Path("/work/shared/data/networks")
NAMES = ["asia", "alarm", "child", "hailfinder", "win95pts"]
pytestmark = [pytest.mark.peer,
              pytest.mark.skipif(not NETWORKS.is_dir(), reason="shared networks not available")]


@pytest.mark.parametrize("name", NAMES)
def test_tables_match_pgmpy(name):
    pytest.importorskip("pgmpy")
    import gzip
    import warnings

    from pgmpy.readwrite import BIFReader

    text = gzip.decompress((NETWORKS / f"{name}.bif.gz").read_bytes()).decode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BIFReader(string=text).get_model()
    bn = read_bif(NETWORKS / f"{name}.bif.gz")
    for cpd in model.get_cpds():
        v = cpd.variable
        assert tuple(cpd.variables[1:]) == bn.parents(v)
        assert list(cpd.state_names[v]) == bn.states[v]
        ours = bn.cpts[v].reshape(-1, bn.cardinalities[v]).T  # pgmpy: (card, configs)
        np.testing.assert_allclose(cpd.get_values(), ours, atol=1e-6)  # we renormalise rows


# child's state "Asy/Patch" contains '/', which pyAgrum 3.3's BIF reader rejects even in
# the original file
@pytest.mark.parametrize("name", [n for n in NAMES if n != "child"])
def test_pyagrum_reads_what_we_write(tmp_path, name):
    gum = pytest.importorskip("pyagrum")
    bn = read_bif(NETWORKS / f"{name}.bif.gz")
    path = tmp_path / f"{name}.bif"
    write_bif(bn, path)
    g = gum.loadBN(str(path))
    for v in bn.variables:
        pot = g.cpt(v)
        axes = list(pot.names)[::-1]  # toarray(): the tensor's first variable varies fastest
        a = np.asarray(pot.toarray()).transpose(
            [axes.index(x) for x in list(bn.parents(v)) + [v]])
        # pyAgrum 3.3's BIF reader parses probabilities as float32
        np.testing.assert_allclose(a, bn.cpts[v], rtol=1e-6, atol=1e-7)
        assert [g.variable(v).label(i) for i in range(bn.cardinalities[v])] == bn.states[v]
