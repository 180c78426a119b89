"""Latent class models of two General Social Survey item sets, 1-6 classes, chosen by BIC.

* ``gss_spending_2018.csv``: 2348 respondents, 18 national-spending items coded
  too much / about right / too little (1-12 % missing per item);
* ``gss_abortion.csv.gz``: 64814 respondents 1972-2018, the 7 classic abortion
  items (legal yes/no), 32-43 % missing, largely by design (split ballots);
  19215 rows have every item missing and contribute nothing.

Run from the repository root::

    PYTHONPATH=src python examples/gss_lca.py [--data-dir tests/data] [--n-init 10]
"""
import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import emfast


def table(name, X, n_init, max_classes, seed):
    obs = (X >= 0).any(axis=1)
    print(f"\n== {name}: {X.shape[0]} rows ({int(obs.sum())} with an answer), {X.shape[1]} items, "
          f"{np.mean(X[obs] < 0):.1%} of the cells of answering rows missing")
    print(" K     log-lik  n_par        BIC        AIC      SABIC       CAIC  entropy  n_best"
          "  iters   seconds")
    fits = {}
    for k in range(1, max_classes + 1):
        t = time.perf_counter()
        m = emfast.LatentClassModel(k, n_init=n_init, random_state=seed, max_iter=5000).fit(X)
        dt = time.perf_counter() - t
        fits[k] = m
        print(f"{k:2d} {m.log_likelihood_:11.2f} {m.n_parameters:6d} {m.bic(X):10.1f} "
              f"{m.aic(X):10.1f} {m.sabic(X):10.1f} {m.caic(X):10.1f} {m.entropy(X):8.3f} "
              f"{m.n_best_:4d}/{n_init} {m.n_iter_:6d} {dt:9.3f}")
    best = min(fits, key=lambda k: fits[k].bic(X))
    print(f"BIC chooses K = {best}; class weights {np.round(fits[best].weights_, 3)}")
    return fits[best]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1] / "tests" / "data"))
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--max-classes", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    d = Path(a.data_dir)

    gs = pd.read_csv(d / "gss_spending_2018.csv")
    items = [c for c in gs.columns if c.startswith("nat")]
    X = (gs[items] + 1).fillna(-1).astype(int).to_numpy()   # too much=0, about right=1, too little=2
    m = table("GSS 2018 national spending", X, a.n_init, a.max_classes, a.seed)
    print("p(too little | class):")
    for j, name in enumerate(items):
        print(f"  {name:>9}: " + " ".join(f"{p:.2f}" for p in m.item_probs_[j][:, 2]))

    ga = pd.read_csv(d / "gss_abortion.csv.gz")
    ab = ["abany", "abdefect", "abnomore", "abhlth", "abpoor", "abrape", "absingle"]
    X = ga[ab].fillna(-1).astype(int).to_numpy()
    m = table("GSS 1972-2018 abortion items", X, a.n_init, a.max_classes, a.seed)
    print("p(legal | class):")
    for j, name in enumerate(ab):
        print(f"  {name:>9}: " + " ".join(f"{p:.2f}" for p in m.item_probs_[j][:, 1]))


if __name__ == "__main__":
    main()
