"""Regimes of the Dow Jones index with a categorical HMM and missing days.

Daily log-returns since 1953 are coded down (< -0.5 %), flat, up (> +0.5 %) on a
weekday calendar; exchange holidays become missing observations (-1), which the
HMM marginalises instead of pretending the series is contiguous. We choose the
number of regimes by BIC, print the fitted regimes and impute the holidays.

Run: PYTHONPATH=src python examples/hmm_djia.py
"""
import numpy as np
import pandas as pd

import emfast

from djia import load_djia_symbols  # examples/djia.py, beside this file

x, lengths, cal = load_djia_symbols()                 # one sequence per calendar year
years = cal.year.to_numpy()
print(f"{len(x)} weekdays, {np.mean(x == -1):.1%} missing (holidays), {len(lengths)} years")

best = None
for K in (1, 2, 3):
    m = emfast.CategoricalHMM(n_components=K, n_iter=300, tol=1e-2, n_init=2, random_state=0)
    m.fit(x, lengths)
    bic = m.bic(x, lengths)
    print(f"K={K}: log-likelihood {m.log_likelihood_:.1f}  BIC {bic:.1f}  "
          f"iterations {m.n_iter_}")
    if best is None or bic < best[0]:
        best = (bic, m)

m = best[1]
order = np.argsort(m.emissionprob_[:, 1])[::-1]          # calmest regime first
print(f"\nchosen K={m.n_components}; regimes sorted by P(flat):")
for k in order:
    p = m.emissionprob_[k]
    stay = m.transmat_[k, k]
    print(f"  regime {k}: P(down, flat, up) = ({p[0]:.2f}, {p[1]:.2f}, {p[2]:.2f}); "
          f"expected duration {1 / (1 - stay):.0f} days")
states = m.predict(x, lengths)
share = pd.Series(states, index=cal).groupby(years).agg(lambda s: np.mean(s == order[0]))
print("\nshare of days in the calmest regime, by decade:")
print(share.groupby((share.index // 10) * 10).mean().round(2).to_string())
filled = m.impute(x, lengths)
print(f"\nimputed holidays (MAP): {np.bincount(filled[x == -1], minlength=3)} (down, flat, up)")
