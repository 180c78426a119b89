"""pytest plugin: run a whole pytest session with the emfast backend for hmmlearn on.

Run hmmlearn's own test suite on emfast's kernels::

    python -m pytest -p emfast.compat.hmmlearn_pytest --pyargs hmmlearn

The backend (:func:`emfast.compat.hmmlearn.enable`) is switched on when pytest starts
and off when it ends; ``EMFAST_HMMLEARN_N_JOBS`` sets its threads (default: all). The
terminal summary says how many E-steps, scorings and decodings ran on the kernels and
how many fell back to hmmlearn's own code (docs/hmmlearn-backend.md).
"""
import os

from . import hmmlearn as _backend


def _n_jobs():
    value = os.environ.get("EMFAST_HMMLEARN_N_JOBS", "").strip()
    return int(value) if value else None


def pytest_configure(config):
    _backend.enable(_n_jobs())
    _backend.backend_stats(reset=True)


def pytest_unconfigure(config):
    if _backend.is_enabled():
        _backend.disable()


def pytest_terminal_summary(terminalreporter):
    s = _backend.backend_stats()
    terminalreporter.write_line(
        f"emfast hmmlearn backend: {s['estep']} E-steps, {s['score']} scorings, "
        f"{s['decode']} decodings on emfast's kernels; {s['fallback']} calls ran "
        f"hmmlearn's own code")
    for reason, n in sorted(s["fallback_reasons"].items()):
        terminalreporter.write_line(f"  fallback: {n} x {reason}")
