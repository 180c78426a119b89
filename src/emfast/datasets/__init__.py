"""Example Bayesian networks bundled with emfast (see ``README.md`` here for attribution).

>>> from emfast.datasets import load_network, available_networks
>>> available_networks()
['alarm', 'asia']
>>> load_network("asia").parents("dysp")
('bronc', 'either')
"""
from __future__ import annotations

from importlib import resources

__all__ = ["available_networks", "load_network", "network_path"]


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
