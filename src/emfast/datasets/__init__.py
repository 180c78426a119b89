"""Example Bayesian networks bundled with emfast (see ``README.md`` here for attribution).

>>> from emfast.datasets import load_network, available_networks
>>> available_networks()
['alarm', 'asia']
>>> load_network("asia").parents("dysp")
('bronc', 'either')
"""
from __future__ import annotations

from importlib import resources

__all__ = ["available_networks", "load_network", "network_path", "load_house_votes"]


def available_networks() -> list:
    """Names of the bundled networks, sorted."""
    files = resources.files(__name__)
    return sorted(p.name[: -len(".bif.gz")] for p in files.iterdir()
                  if p.name.endswith(".bif.gz"))


def network_path(name: str):
    """A path-like (importlib Traversable) to the bundled BIF file of ``name``."""
    names = available_networks()
    if name not in names:
        raise ValueError(f"Unknown bundled network {name!r}; available: {names!r}.")
    return resources.files(__name__).joinpath(f"{name}.bif.gz")


def load_network(name: str):
    """Load a bundled network (``"asia"`` or ``"alarm"``) as a :class:`~emfast.BayesianNetwork`.

    Parameters
    ----------
    name : str
        One of :func:`available_networks`.

    Returns
    -------
    BayesianNetwork
        With the CPTs, parent orders and state names of the BIF file.
    """
    from ..bayesnet import read_bif

    with network_path(name).open("rb") as fh:
        return read_bif(fh)


def load_house_votes(as_frame: bool = True):
    """The 1984 US House of Representatives votes (435 rows; see ``README.md`` here).

    ``Class`` is ``democrat`` / ``republican``; ``V1`` .. ``V16`` are ``"y"`` / ``"n"``
    with genuine missing values ("present" or no vote). A small real data set for latent
    class models and imputation.

    Parameters
    ----------
    as_frame : bool, default=True
        A pandas DataFrame of labels (NaN = missing). ``False``: ``(codes, names)``
        with int32 codes (``n`` = 0, ``y`` = 1, ``-1`` = missing; ``Class``:
        democrat = 0, republican = 1) without pandas.
    """
    import csv

    import numpy as np

    with resources.files(__name__).joinpath("house_votes_84.csv").open("r", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    if as_frame:
        from ..data import _require_pandas
        pd = _require_pandas()
        return pd.DataFrame([[v if v != "" else None for v in r] for r in body], columns=header)
    maps = {"": -1, "n": 0, "y": 1, "democrat": 0, "republican": 1}
    codes = np.array([[maps[v] for v in r] for r in body], dtype=np.int32)
    return codes, header
