# Kernels for the bn models (included by _kernels.pyx). See that file for conventions.
