"""Build the Cython kernels.

Environment variables
---------------------
EMFAST_CYTHON_DEBUG=1
    Compile with ``boundscheck`` and ``initializedcheck`` on (and ``-O0 -g``),
    so an out-of-bounds access in a kernel raises ``IndexError`` instead of
    corrupting memory. The test suite must pass in this mode too.
EMFAST_NO_OPENMP=1
    Build without OpenMP even if the compiler supports it (kernels run serially).
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("EMFAST_CYTHON_DEBUG", "0") not in ("", "0")
NO_OPENMP = os.environ.get("EMFAST_NO_OPENMP", "0") not in ("", "0")


def _openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or ([], []) if unsupported."""
    if NO_OPENMP:
        return [], []
    if sys.platform == "win32":
        return ["/openmp"], []
    if sys.platform == "darwin":
        # Apple clang has no -fopenmp; libomp users can set CFLAGS themselves.
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc.split()[0]) is None:
        return [], []
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    for cflags, lflags in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            c = os.path.join(tmp, "t.c")
            with open(c, "w") as f:
                f.write(src)
            cmd = cc.split() + cflags + [c, "-o", os.path.join(tmp, "t")] + lflags
            try:
                ok = subprocess.run(cmd, capture_output=True).returncode == 0
            except OSError:
                ok = False
            if ok:
                return cflags, lflags
    print("emfast: compiler has no OpenMP; building serial kernels", file=sys.stderr)
    return [], []


omp_c, omp_l = _openmp_flags()
if sys.platform == "win32":
    extra_c = ["/O2"] + omp_c
else:
    extra_c = (["-O0", "-g"] if DEBUG else ["-O3"]) + omp_c
    extra_c += ["-Wno-unreachable-code", "-Wno-unused-function"]

directives = {
    "language_level": 3,
    "wraparound": False,
    "cdivision": True,
    "boundscheck": DEBUG,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "embedsignature": True,
}

ext = Extension(
    "emfast._kernels",
    sources=["src/emfast/_kernels.pyx"],
    include_dirs=[np.get_include()],
    define_macros=[
        ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
        ("EMFAST_HAVE_OPENMP", "1" if omp_c else "0"),
        ("EMFAST_DEBUG_BUILD", "1" if DEBUG else "0"),
    ],
    extra_compile_args=extra_c,
    extra_link_args=omp_l,
)

setup(
    ext_modules=cythonize(
        [ext],
        compiler_directives=directives,
    ),
    cmdclass={"build_ext": build_ext},
)
