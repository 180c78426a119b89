"""Weather regimes at JFK from three categorical channels with gaps.

Channels per hour: wind sector (8 directions + calm), wet/dry, visibility class.
Hours absent from the record become rows of -1 (pure transition steps), single
missing readings are -1 in their channel only. We fit a 4-state HMM on the
hourly grid, once with ignorable missingness and once with state-dependent
missingness (missingprob_), and print what the regimes look like.

Run: PYTHONPATH=src python examples/hmm_weather.py
"""
from pathlib import Path

import numpy as np
import pandas as pd

import emfast

w = pd.read_csv(Path(__file__).parent / "data" / "nycflights13_weather.csv.gz")
w["t"] = pd.to_datetime(w.time_hour)
grid = pd.date_range("2013-01-01 06:00", "2013-12-30 23:00", freq="h", tz="UTC")
g = w[w.origin == "JFK"].set_index("t").reindex(grid)
sector = np.floor(((g.wind_dir + 22.5) % 360) / 45)
wind = np.where(g.wind_speed == 0, 8, sector)
wind = np.where(g.wind_dir.isna(), -1, wind).astype(int)
wet = np.where(g.precip.isna(), -1, (g.precip > 0).astype(int))
vis = pd.cut(g.visib, [-0.1, 1, 5, 9.99, 10], labels=False).fillna(-1).astype(int).to_numpy()
X = np.column_stack([wind, wet, vis])
print(f"{len(X)} hours; missing share per channel (wind, wet, visibility): "
      f"{np.round((X < 0).mean(0), 4)}")

for missingness in ("ignorable", "state"):
    m = emfast.CategoricalHMM(n_components=4, n_iter=300, tol=1e-3, n_init=3, random_state=0,
                              missingness=missingness)
    m.fit(X)
    print(f"\nmissingness={missingness!r}: log-likelihood {m.log_likelihood_:.1f}, "
          f"{m.n_iter_} iterations, converged={m.converged_}")
    names = ["N", "NE", "E", "SE", "S", "SW", "W", "NW", "calm"]
    for k in np.argsort(-m.emissionprob_[1][:, 1]):
        top = np.argsort(-m.emissionprob_[0][k])[:2]
        line = (f"  state {k}: stays {1 / (1 - m.transmat_[k, k]):5.1f} h; wind "
                f"{names[top[0]]}/{names[top[1]]}; P(wet) {m.emissionprob_[1][k, 1]:.2f}; "
                f"P(visib < 1 mi) {m.emissionprob_[2][k, 0]:.2f}")
        if missingness == "state":
            line += f"; P(wind missing) {m.missingprob_[k, 0]:.3f}"
        print(line)
