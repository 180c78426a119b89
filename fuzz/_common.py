"""Shared setup of the atheris harnesses (see fuzz/README.md)."""
import os
import sys

import atheris

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))       # the in-place build

with atheris.instrument_imports(include=["emfast"]):
    import emfast                     # noqa: E402
    import emfast.io                  # noqa: E402
    from emfast.bayesnet import BayesianNetwork  # noqa: E402

# A small memory budget: a file asking for more is a ValueError, not a slow allocation
# that libFuzzer's -rss_limit_mb would report as a crash.
emfast.set_config(max_memory="256M")

#: The only exceptions a harness accepts; anything else (TypeError, KeyError, ...)
#: escapes and libFuzzer saves the input as a crash.
ACCEPTED = (ValueError,)


def check_network(bn):
    """A network that was built must hold valid probability tables."""
    import numpy as np
    for v in bn.variables:
        t = bn.cpts[v]
        assert t.shape == bn._cpt_shape(v), (v, t.shape)
        assert np.all(np.isfinite(t)) and np.all(t >= 0), v
        assert np.allclose(t.sum(axis=-1), 1.0, atol=1e-6), v


def run(test_one_input):
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
