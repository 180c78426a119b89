# Stubs of the latent class kernels (merged into _kernels.pyi by the main engineer).
import numpy as np
from numpy.typing import NDArray

def lca_estep(
    X: NDArray[np.int32],            # IN  (n, J) codes, -1 = missing
    row_weights: NDArray[np.float64],  # IN  (n,)
    log_w: NDArray[np.float64],      # IN  (K,)
    log_items: NDArray[np.float64],  # IN  (S, K)
    offsets: NDArray[np.int64],      # IN  (J,)
    post: NDArray[np.float64],       # OUT (n, K)
    loglik: NDArray[np.float64],     # OUT (n,)
    status: NDArray[np.int32],       # OUT (n,)
    wcounts: NDArray[np.float64],    # INOUT (n_threads, >= K), extra columns = padding
    icounts: NDArray[np.float64],    # INOUT (n_threads, S, K)
    accumulate: bool,
    n_threads: int,
) -> None: ...
