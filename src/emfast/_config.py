"""Build and runtime configuration report (``emfast.show_config`` / ``emfast info``)."""
from __future__ import annotations

import platform
import sys


def config() -> dict:
    """Return the build/runtime configuration as a dict."""
    import numpy as np

    from . import _kernels
    from ._version import __version__

    try:
        import pandas
        pandas_version = pandas.__version__
    except ImportError:
        pandas_version = None
    try:
        import tqdm
        tqdm_version = tqdm.__version__
    except ImportError:
        tqdm_version = None
    return {
        "emfast": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "pandas": pandas_version,
        "tqdm": tqdm_version,
        "openmp": _kernels.openmp_enabled(),
        "default_threads": _kernels.max_threads(),
        "debug_build": _kernels.debug_build(),
    }


def show_config(file=None) -> None:
    """Print the emfast version, whether OpenMP is on, and the default thread count."""
    cfg = config()
    out = file if file is not None else sys.stdout
    width = max(len(k) for k in cfg)
    for k, v in cfg.items():
        if v is None:
            v = "not installed"
        print(f"{k:<{width}} : {v}", file=out)
