"""Packaging: optional dependencies stay optional, extras exist, the sdist is complete."""
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PEERS = ["pgmpy", "pyagrum", "pyAgrum", "hmmlearn", "stepmix", "pomegranate", "torch",
         "dynamax", "jax"]
OPTIONAL = ["pandas", "tqdm", "matplotlib", "dask", "distributed", "pyarrow", "sklearn",
            "scipy"]


def _run(code, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=str(ROOT), timeout=120)


def test_importing_emfast_and_compat_imports_no_peer():
    code = ("import sys, emfast, emfast.compat, emfast.compat.pgmpy, emfast.compat.pyagrum, "
            "emfast.compat.hmmlearn\n"
            f"bad = [m for m in {PEERS + OPTIONAL!r} if m in sys.modules]\n"
            "print(','.join(bad))\n")
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"imported at import time: {r.stdout.strip()}"


@pytest.mark.parametrize("module, call, extra", [
    ("emfast.compat.pgmpy", "from_pgmpy(None)", "pgmpy"),
    ("emfast.compat.pgmpy", "to_pgmpy(None)", "pgmpy"),
    ("emfast.compat.pgmpy", "DiscreteEM", "pgmpy"),
    ("emfast.compat.pyagrum", "from_pyagrum(None)", "pyagrum"),
    ("emfast.compat.pyagrum", "to_pyagrum(None)", "pyagrum"),
    ("emfast.compat.hmmlearn", "enable()", "hmmlearn"),
    ("emfast.compat.hmmlearn", "backend().__enter__()", "hmmlearn"),
])
def test_missing_peer_raises_importerror_naming_the_extra(module, call, extra):
    # a None entry in sys.modules makes `import <peer>` fail as if it were not installed
    code = (f"import sys; sys.modules[{extra!r}] = None\n"
            f"import {module} as m\n"
            "try:\n"
            f"    m.{call}\n"
            "except ImportError as e:\n"
            "    print('IMPORTERROR', e)\n")
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert "IMPORTERROR" in r.stdout
    assert f"pip install 'emfast[{extra}]'" in r.stdout


def _pyproject():
    try:
        import tomllib
    except ImportError:          # Python 3.10
        tomllib = pytest.importorskip("tomli")
    path = ROOT / "pyproject.toml"
    if not path.is_file():
        pytest.skip("pyproject.toml not present (installed tests)")
    return tomllib.loads(path.read_text())


def test_extras_named_in_messages_and_docs_exist():
    extras = _pyproject()["project"]["optional-dependencies"]
    for name in ["pandas", "progress", "plot", "dask", "hmmlearn", "pgmpy", "pyagrum", "test"]:
        assert name in extras, name
    test = " ".join(extras["test"])
    for need in ["pytest", "hypothesis", "pandas", "dask[distributed]", "pyarrow"]:
        assert need in test, need
    for heavy in ["torch", "pgmpy", "pyagrum", "hmmlearn", "stepmix", "pomegranate"]:
        assert heavy not in test, heavy
    assert _pyproject()["project"]["dependencies"] == ["numpy>=1.25"]


def _tracked_files():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (e.g. the unpacked sdist itself)")
    try:
        out = subprocess.run(["git", "ls-files"], cwd=str(ROOT), capture_output=True,
                             text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    return {f for f in out.splitlines() if (ROOT / f).is_file()}


@pytest.mark.slow
def test_sdist_holds_every_tracked_file(tmp_path):
    """Every file tracked by git, except CI and git metadata, is in the sdist.

    Uses the sdist named by EMFAST_SDIST (.ci/run sets it), or builds one with
    ``python -m build --sdist --no-isolation`` when build, setuptools and Cython are
    installed here.
    """
    tracked = _tracked_files()
    sdist = os.environ.get("EMFAST_SDIST")
    if not sdist:
        for mod in ("build", "setuptools", "Cython", "numpy"):
            pytest.importorskip(mod)
        # build from a copy of the tracked files only: a stale egg-info or build folder in
        # the checkout would otherwise add files that MANIFEST.in does not name
        src = tmp_path / "src"
        for f in tracked:
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
        gen = ROOT / "src" / "emfast" / "_kernels.c"   # saves cythonize's time when current
        if gen.is_file():
            shutil.copy2(gen, src / "src" / "emfast" / "_kernels.c")
        r = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
                            "--outdir", str(tmp_path), str(src)],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        sdist = str(next(tmp_path.glob("emfast-*.tar.gz")))
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
    top = names[0].split("/")[0]
    inside = {n[len(top) + 1:] for n in names if n.startswith(top + "/")}
    wanted = {f for f in tracked if not f.startswith(".ci/") and f != ".gitignore"}
    missing = sorted(wanted - inside)
    assert not missing, f"tracked files missing from the sdist (add them to MANIFEST.in): {missing}"
    # kernel sources ship, their generated C does not
    assert "src/emfast/_kernels.pyx" in inside
    assert not any(n.endswith((".so", ".pyc", "_kernels.c")) for n in inside)
