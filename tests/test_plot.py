"""emfast.plot.convergence, drawn with the Agg backend: the file is written and the curves
hold exactly the traces of the fits."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import emfast as em

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture
def fits(rng):
    X = rng.integers(0, 3, size=(200, 5))
    X[rng.random(X.shape) < 0.1] = -1
    out = [em.LatentClassModel(3, n_init=3, random_state=0, accelerate=a, tol=1e-8).fit(X)
           for a in (None, "squarem")]
    yield out
    plt.close("all")


def test_convergence_plot_curves_and_file(fits, tmp_path):
    fig = em.plot.convergence(fits)
    path = tmp_path / "conv.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000
    ax_e, ax_s = fig.axes
    assert ax_e.get_xlabel() == "E-steps" and ax_s.get_xlabel() == "seconds"
    for ax, key in ((ax_e, "n_estep"), (ax_s, "seconds")):
        lines = ax.get_lines()
        assert len(lines) == 6                       # 2 models x 3 restarts
        traces = [t for m in fits for t in m.init_histories_]
        for line, t in zip(lines, traces):
            x, y = line.get_data()
            np.testing.assert_array_equal(x, getattr(t, key))
            np.testing.assert_array_equal(y, t.objective)
    labels = [t.get_text() for t in ax_e.get_legend().get_texts()]
    assert labels == ["LatentClassModel (plain EM)", "LatentClassModel (SQUAREM)"]
    # the best restart is the bold one
    best = int(np.argmax([t.objective[-1] for t in fits[1].init_histories_]))
    widths = [ln.get_linewidth() for ln in ax_e.get_lines()[3:]]
    assert widths[best] == max(widths) and sorted(widths)[:2] == [0.8, 0.8]


def test_convergence_plot_gap_axes_and_errors(fits):
    fig, axs = plt.subplots(1, 1)
    out = em.plot.convergence({"plain": fits[0], "fast": fits[1]}, x="n_estep", y="gap",
                              axes=axs, best_only=True)
    assert out is fig and axs.get_yscale() == "log" and len(axs.get_lines()) == 2
    best = max(t.objective.max() for m in fits for t in m.init_histories_)
    y = axs.get_lines()[1].get_data()[1]
    assert np.all(y > 0) and y[-1] == pytest.approx(max(best - fits[1].history_[-1],
                                                        1e-13 * abs(best)))
    with pytest.raises(ValueError, match="x must be 'n_estep' or 'seconds'"):
        em.plot.convergence(fits, x="iterations")
    with pytest.raises(ValueError, match="y must be 'loglik' or 'gap'"):
        em.plot.convergence(fits, y="ll")
    with pytest.raises(TypeError, match="fitted emfast models"):
        em.plot.convergence(em.LatentClassModel(2))
    with pytest.raises(ValueError, match="labels has 1 entries for 2 models"):
        em.plot.convergence(fits, labels=["a"])


def test_import_emfast_does_not_import_matplotlib():
    code = "import sys, emfast, emfast.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_bench_converge_quick_smoke():
    script = Path(__file__).resolve().parents[1] / "bench" / "converge.py"
    if not script.exists():
        pytest.skip("bench/ not present (installed package)")
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True,
                         text=True, check=True, timeout=300)
    assert "| HMM 50x200 K=4 | 1e-06 |" in out.stdout
    assert re.search(r"\d+ proposals evaluated, 0 invalid; \d+ fits, 0 with an invalid table",
                     out.stdout)
