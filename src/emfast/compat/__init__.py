"""Bridges to other libraries: emfast as a fast EM backend under their own APIs.

Each submodule imports its peer library lazily, on first use, and raises an
:class:`ImportError` naming the pip extra that installs it when it is absent:

* :mod:`emfast.compat.pgmpy`: ``from_pgmpy`` / ``to_pgmpy`` and ``DiscreteEM``,
  an estimator for pgmpy's own ``model.fit(data, estimator=...)`` (``emfast[pgmpy]``);
* :mod:`emfast.compat.pyagrum`: ``from_pyagrum`` / ``to_pyagrum`` (``emfast[pyagrum]``);
* :mod:`emfast.compat.hmmlearn`: ``backend(n_jobs=...)``, under which every hmmlearn HMM
  runs its E-step, scoring and Viterbi on emfast's threaded kernels (``emfast[hmmlearn]``).

Importing :mod:`emfast` or :mod:`emfast.compat` imports none of the peers. See
docs/bridges.md.
"""
import importlib


def require(module: str, extra: str):
    """Import and return the peer module ``module``, or explain how to install it.

    Parameters
    ----------
    module : str
        Import name of the peer (``"pgmpy"``, ``"pyagrum"``, ``"hmmlearn"``).
    extra : str
        The emfast extra that installs it (``pip install 'emfast[<extra>]'``).

    Raises
    ------
    ImportError
        When ``module`` cannot be imported; the message names the extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"emfast.compat.{extra} needs {module}, which could not be imported ({exc}). "
            f"Install it with: pip install 'emfast[{extra}]'") from exc
