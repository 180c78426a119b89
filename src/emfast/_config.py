"""Runtime settings (``emfast.get_config`` / ``set_config`` / ``config_context``) and the
build/runtime report (``emfast.show_config`` / ``emfast info``).

Settings
--------
max_memory : int
    Memory budget in bytes for any single work array emfast allocates on the
    caller's behalf (kernel scratch, posteriors, count slabs, tables built from a
    file). A request above it is refused *before* allocating, with a ``ValueError``
    that gives the size and names this setting. Default: the ``EMFAST_MAX_MEMORY``
    environment variable if set (bytes, or a number with a ``K``/``M``/``G``/``T``
    suffix), else a quarter of the physical memory (at least 1 GiB when it cannot
    be read). Algorithms with a memory/time trade-off (e.g. the checkpointed
    forward-backward pass for one very long HMM sequence) pick their mode from it.
"""
from __future__ import annotations

import contextlib
import numbers
import os
import platform
import sys
import threading

__all__ = ["get_config", "set_config", "config_context", "check_memory", "show_config",
           "format_bytes"]

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _parse_bytes(text: str, what: str) -> int:
    s = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    unit = s[-1:] if s[-1:] in _UNITS else ""
    num = s[:-1] if unit else s
    try:
        value = float(num) * _UNITS[unit]
    except ValueError:
        raise ValueError(f"{what} must be a number of bytes (optionally with a K/M/G/T "
                         f"suffix); got {text!r}.") from None
    if not value >= 1 or value == float("inf"):
        raise ValueError(f"{what} must be a number of bytes >= 1; got {text!r}.")
    return int(value)


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _default_max_memory() -> int:
    env = os.environ.get("EMFAST_MAX_MEMORY")
    if env:
        return _parse_bytes(env, "EMFAST_MAX_MEMORY")
    phys = _physical_memory()
    return max(phys // 4, 1 << 30) if phys else 1 << 30


_global = {"max_memory": None}      # None: resolved lazily from the environment
_local = threading.local()


def _settings() -> dict:
    if not hasattr(_local, "stack"):
        _local.stack = [dict(_global)]
    return _local.stack[-1]


def get_config() -> dict:
    """Return the current settings as a dict (``max_memory`` in bytes)."""
    s = dict(_settings())
    if s["max_memory"] is None:
        s["max_memory"] = _default_max_memory()
    return s


def _check_max_memory(value):
    if value is None:
        return None
    if isinstance(value, str):
        return _parse_bytes(value, "max_memory")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"max_memory must be a number of bytes, a string such as '2G', or "
                        f"None; got {type(value).__name__}.")
    # at least one byte: int() would truncate 0.5 (or a subnormal) to a budget of 0
    if not value >= 1 or value == float("inf"):
        raise ValueError(f"max_memory must be a number of bytes >= 1; got {value!r}.")
    return int(value)


def set_config(*, max_memory=None) -> None:
    """Change the settings for this thread and every thread started later.

    Parameters
    ----------
    max_memory : int, str or None
        Memory budget in bytes (``"512M"``, ``"4G"`` accepted); ``None`` restores
        the default.
    """
    value = _check_max_memory(max_memory)
    _global["max_memory"] = value
    _settings()["max_memory"] = value


@contextlib.contextmanager
def config_context(*, max_memory=None):
    """Temporarily change the settings inside a ``with`` block (this thread only).

    Examples
    --------
    >>> import emfast
    >>> with emfast.config_context(max_memory="64M"):
    ...     emfast.get_config()["max_memory"]
    67108864
    """
    new = dict(_settings())          # also creates this thread's stack
    new["max_memory"] = _check_max_memory(max_memory)
    stack = _local.stack
    stack.append(new)
    try:
        yield
    finally:
        stack.pop()


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def check_memory(nbytes, what: str, budget: int | None = None) -> int:
    """Refuse an allocation of ``nbytes`` above the ``max_memory`` budget.

    The one place where emfast checks a size before allocating. ``what`` names
    the array and why it is needed (it goes into the message). ``budget`` (bytes)
    is the budget to check against when the caller has already resolved it (a
    ``max_memory=`` argument of its own); by default the current ``max_memory``.

    Raises
    ------
    ValueError
        ``"<what> needs 7.45 GiB, more than the memory budget max_memory=6 GiB; ..."``.
    """
    nbytes = int(nbytes)
    if budget is None:
        budget = get_config()["max_memory"]
    if nbytes > budget:
        raise ValueError(
            f"{what} needs {format_bytes(nbytes)}, more than the memory budget "
            f"max_memory={format_bytes(budget)}. Reduce the input, or raise the budget with "
            "emfast.set_config(max_memory=...) or the EMFAST_MAX_MEMORY environment variable.")
    return nbytes


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
        "max_memory": format_bytes(get_config()["max_memory"]),
    }


def show_config(file=None) -> None:
    """Print the emfast version, whether OpenMP is on, the default thread count and the
    memory budget."""
    cfg = config()
    out = file if file is not None else sys.stdout
    width = max(len(k) for k in cfg)
    for k, v in cfg.items():
        if v is None:
            v = "not installed"
        print(f"{k:<{width}} : {v}", file=out)
