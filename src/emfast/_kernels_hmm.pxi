# Kernels for the hmm models (included by _kernels.pyx). See that file for conventions.
