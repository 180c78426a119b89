"""Latent class analysis of the 1984 US House votes (16 yes/no votes, 5.6 % missing).

A 2-class model is fitted without the party labels; its classes are then
compared with party affiliation. Run from the repository root::

    PYTHONPATH=src python examples/house_votes.py [path/to/house_votes_84.csv]
"""
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import emfast

path = Path(sys.argv[1]) if len(sys.argv) > 1 else \
    Path(__file__).resolve().parents[1] / "tests" / "data" / "house_votes_84.csv"
hv = pd.read_csv(path)
votes = [f"V{i}" for i in range(1, 17)]
X = hv[votes].apply(lambda c: c.map({"n": 0, "y": 1}))      # NaN = missing, matched by name
party = (hv["Class"] == "republican").to_numpy(int)
print(f"{len(X)} representatives, {X.isna().to_numpy().mean():.1%} of the votes missing")

print("\n K   log-lik   n_par      BIC      AIC    SABIC  entropy  n_best")
for k in range(1, 5):
    m = emfast.LatentClassModel(k, n_init=10, random_state=0).fit(X)
    print(f"{k:2d} {m.log_likelihood_:9.2f} {m.n_parameters:6d} {m.bic(X):8.1f} {m.aic(X):8.1f} "
          f"{m.sabic(X):8.1f} {m.entropy(X):8.3f} {m.n_best_:4d}/10")

t = time.perf_counter()
lca = emfast.LatentClassModel(2, n_init=10, random_state=0).fit(X)
print(f"\n2-class fit: {time.perf_counter() - t:.3f} s for 10 starts, {lca.n_iter_} iterations "
      f"(best start), {lca.n_best_} of 10 starts reached the best log-likelihood")
pred = lca.predict(X)
tab = pd.crosstab(pd.Series(pred, name="class"), hv["Class"])
print(tab)
try:
    from sklearn.metrics import adjusted_rand_score
    print(f"adjusted Rand index vs party: {adjusted_rand_score(party, pred):.3f}")
except ImportError:
    pass
acc = max(np.mean(pred == party), np.mean(pred != party))
print(f"agreement with party (best label match): {acc:.1%}")

w_se, item_se = lca.standard_errors(X)
print("\nclass weights:", np.round(lca.weights_, 3), "+/-", np.round(w_se, 3))
print("p(yes | class) with standard errors (observed information):")
for j, name in enumerate(votes):
    p, s = lca.item_probs_[j][:, 1], item_se[j][:, 1]
    print(f"  {name:>4}: " + "   ".join(f"{a:.3f} ({b:.3f})" for a, b in zip(p, s)))

filled = emfast.EMImputer(emfast.LatentClassModel(2, n_init=5, random_state=0)).fit_transform(X)
print(f"\nEMImputer filled {int(X.isna().to_numpy().sum())} missing votes; "
      f"share 'yes' among them: {filled[X.isna().to_numpy()].mean():.2f}")
