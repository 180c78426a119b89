"""The DJIA daily series as HMM symbols: shared by examples/hmm_djia.py,
examples/convergence_plot.py and bench/converge.py.

Daily log-returns since 1953 are coded down (< -0.5 %) = 0, flat = 1, up (> +0.5 %) = 2
on a weekday calendar; days the exchange was closed become missing (-1). One sequence
per calendar year.
"""
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "djia_daily.csv.gz"


def load_djia_symbols(path=DATA):
    """Return ``(x, lengths, calendar)``: int codes (n_days,), one length per year, and
    the weekday calendar (a pandas DatetimeIndex) the codes are on."""
    import pandas as pd
    d = pd.read_csv(path, parse_dates=["date"])
    r = np.log(d.value).diff()
    e = d[d.date >= "1953-01-01"].assign(r=r).set_index("date")
    cal = pd.bdate_range("1953-01-02", e.index.max())
    rr = e.r.reindex(cal)
    x = np.where(rr.isna(), -1, np.select([rr < -0.005, rr > 0.005], [0, 2], 1))
    lengths = np.unique(cal.year.to_numpy(), return_counts=True)[1]
    return x, lengths, cal
