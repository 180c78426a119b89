"""Plain EM vs SQUAREM on the DJIA regimes HMM: the figure in docs/acceleration.md.

The same three random starts are fitted by plain Baum-Welch and by SQUAREM-accelerated
EM to the same tolerance (1e-8 per time step, hmmlearn's absolute rule: tol = 1e-8 x
the number of days); the figure shows how far each restart is from the best
log-likelihood found, against E-steps and against seconds.

Run from the repository root (needs matplotlib: pip install 'emfast[plot]')::

    PYTHONPATH=src python examples/convergence_plot.py [output.png]
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


import emfast  # noqa: E402
import emfast.plot  # noqa: E402
from djia import load_djia_symbols  # noqa: E402  (examples/djia.py, beside this file)

here = Path(__file__).resolve().parent
out = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent / "docs" / "convergence.png"

x, lengths, _ = load_djia_symbols()

fits = {}
for label, acc in (("plain EM", None), ("SQUAREM", "squarem")):
    m = emfast.CategoricalHMM(3, n_iter=20_000, tol=1e-8 * len(x), n_init=3, random_state=0,
                              accelerate=acc)
    fits[label] = m.fit(x, lengths)
    print(f"{label:9s}: best restart {m.log_likelihood_:.4f}; E-steps per restart "
          f"{[int(t.n_estep[-1]) for t in m.init_histories_]}; seconds per restart "
          f"{[round(float(t.seconds[-1]), 2) for t in m.init_histories_]}; final objective per "
          f"restart {[round(float(t.objective[-1]), 4) for t in m.init_histories_]}")

fig = emfast.plot.convergence(fits, y="gap")
fig.suptitle("DJIA regimes HMM (K=3, 3 restarts, tol 1e-8 per day): distance to the best "
             "log-likelihood", fontsize="medium")
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"wrote {out}")
