"""emfast: fast EM for discrete latent-variable models with missing data."""
from ._version import __version__
from .data import MISSING, Schema, encode, compress_rows
from .em import normalize, run_em, EMResult, EMTrace, ConvergenceMonitor
from .exceptions import ConvergenceWarning, NonMonotoneEMWarning, NotFittedError
from ._config import show_config, get_config, set_config, config_context
from .hmm import CategoricalHMM
from . import kernels
from . import distributed      # dask / Parquet partitions (dask imported only when used)
from .mixture import LatentClassModel
from .impute import EMImputer, pool
from .bayesnet import BayesianNetwork, read_bif, load
from .io import write_bif, save
from . import datasets
from .missingness import MCAR, MAR, MNAR
from .diagnostics import mcar_test, sensitivity_analysis
from . import plot                 # matplotlib is imported only when a plot is drawn

__all__ = [
    "__version__", "MISSING", "Schema", "encode", "compress_rows",
    "normalize", "run_em", "EMResult", "EMTrace", "ConvergenceMonitor", "plot",
    "ConvergenceWarning", "NonMonotoneEMWarning", "NotFittedError", "show_config",
    "get_config", "set_config", "config_context",
    "CategoricalHMM", "kernels",
    "LatentClassModel", "EMImputer", "pool",
    "BayesianNetwork", "read_bif", "write_bif", "save", "load", "datasets",
    "MCAR", "MAR", "MNAR", "mcar_test", "sensitivity_analysis",
]
