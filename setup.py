"""Build the Cython kernels.

Environment variables
---------------------
EMFAST_CYTHON_DEBUG=1
    Compile with ``boundscheck`` and ``initializedcheck`` on (and ``-O0 -g``),
    so an out-of-bounds access in a kernel raises ``IndexError`` instead of
    corrupting memory. The test suite must pass in this mode too.
EMFAST_NO_OPENMP=1
    Build without OpenMP even if the compiler supports it (kernels run serially).
EMFAST_NO_AVX2=1
    Do not build ``emfast._kernels_avx2`` (the HMM kernels compiled with
    ``-mavx2 -mfma``, used at run time only on CPUs that have both), nor
    ``emfast._kernels_avx512``.
EMFAST_NO_AVX512=1
    Do not build ``emfast._kernels_avx512`` (the HMM kernels compiled with
    ``-mavx512f -mavx512dq -mavx512vl`` besides AVX2 and FMA, used at run time only
    on CPUs and OSes that support them).

Templates: every ``src/emfast/*.pxi.in`` is rendered with Cython's Tempita into
the ``.pxi`` of the same name before cythonize runs (the rendered files are
build outputs, not kept in git; an sdist must contain the ``.pxi.in`` files).
"""
import glob
import os
import platform
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
NO_AVX2 = os.environ.get("EMFAST_NO_AVX2", "0") not in ("", "0")
NO_AVX512 = NO_AVX2 or os.environ.get("EMFAST_NO_AVX512", "0") not in ("", "0")


def _render_templates():
    """Render src/emfast/*.pxi.in with Tempita (only rewrite a .pxi whose text changed)."""
    from Cython import Tempita

    here = os.path.dirname(os.path.abspath(__file__))
    for src in glob.glob(os.path.join(here, "src", "emfast", "*.pxi.in")):
        dst = src[:-3]
        with open(src, encoding="utf-8") as f:
            text = Tempita.sub(f.read())
        text = f"# Generated from {os.path.basename(src)} by setup.py; do not edit.\n" + text
        old = None
        if os.path.exists(dst):
            with open(dst, encoding="utf-8") as f:
                old = f.read()
        if text != old:
            with open(dst, "w", encoding="utf-8") as f:
                f.write(text)


def _avx2_flags():
    """Compile flags for the AVX2 + FMA copy of the HMM kernels, or None to skip it."""
    if NO_AVX2 or sys.platform == "win32":
        return None
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    if "arm64" in os.environ.get("ARCHFLAGS", ""):
        return None
    return ["-mavx2", "-mfma"]


def _avx512_flags():
    """Compile flags for the AVX-512 copy of the HMM kernels, or None to skip it.
    ``-mprefer-vector-width=512``: GCC would otherwise keep its own loops at 256 bits;
    the kernels' vector type is 8 doubles either way (EMF_W)."""
    if NO_AVX512 or _avx2_flags() is None:
        return None
    return ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma",
            "-mprefer-vector-width=512"]


_render_templates()


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

macros = [
    ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
    ("EMFAST_HAVE_OPENMP", "1" if omp_c else "0"),
    ("EMFAST_DEBUG_BUILD", "1" if DEBUG else "0"),
]
exts = [Extension(
    "emfast._kernels",
    sources=["src/emfast/_kernels.pyx"],
    include_dirs=[np.get_include()],
    define_macros=macros,
    extra_compile_args=extra_c,
    extra_link_args=omp_l,
)]
for _name, _flags in (("avx2", _avx2_flags()), ("avx512", _avx512_flags())):
    if _flags is not None:
        exts.append(Extension(
            f"emfast._kernels_{_name}",
            sources=[f"src/emfast/_kernels_{_name}.pyx"],
            include_dirs=[np.get_include()],
            define_macros=macros,
            extra_compile_args=extra_c + _flags,
            extra_link_args=omp_l,
        ))

setup(
    ext_modules=cythonize(
        exts,
        compiler_directives=directives,
    ),
    cmdclass={"build_ext": build_ext},
)
