# Kernels for the lca models (included by _kernels.pyx). See that file for conventions.
