"""Every code block of README.md runs as written (issue 10), each in a fresh namespace and
a scratch directory. The two blocks CI runs itself (install + demo, install + tests) are
skipped here; shell lines call this interpreter's ``emfast`` (``python -m emfast``)."""
import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks():
    text = README.read_text(encoding="utf-8")
    out = []
    for m in re.finditer(r"(?P<before>[^\n]*)\n```(?P<lang>\w+)\n(?P<code>.*?)\n```", text,
                         re.DOTALL):
        if "ci:" in m.group("before"):
            continue                              # run by .ci/run, verbatim
        line = text.count("\n", 0, m.start("code")) + 1
        code = m.group("code")
        peers = sorted(set(re.findall(r"^\s*(?:from|import)\s+(?:emfast\.compat\.)?(hmmlearn|pgmpy|pyagrum)\b",
                                      code, re.MULTILINE)))
        # a block that uses a peer runs where the peers are installed (pytest -m peer)
        marks = [pytest.mark.peer] if peers else []
        out.append(pytest.param(m.group("lang"), code, peers, id=f"line{line}", marks=marks))
    return out


BLOCKS = _blocks()


def test_readme_has_blocks():
    langs = [p.values[0] for p in BLOCKS]
    assert langs.count("python") >= 4 and "bash" in langs


@pytest.mark.parametrize("lang,code,peers", BLOCKS)
def test_readme_block_runs(lang, code, peers, tmp_path, monkeypatch):
    for name in peers:
        pytest.importorskip(name)
    monkeypatch.chdir(tmp_path)
    if lang == "python":
        with warnings.catch_warnings():
            # README fits use the defaults a user would; a slow-to-converge fit may warn
            import emfast
            warnings.simplefilter("ignore", emfast.ConvergenceWarning)
            exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
        return
    assert lang == "bash", lang
    for raw in code.splitlines():
        cmd = raw.split("   #")[0].strip()
        if not cmd or cmd.startswith("#"):
            continue
        argv = shlex.split(cmd)
        if argv[0] == "emfast":
            argv = [sys.executable, "-m", "emfast"] + argv[1:]
        elif argv[0] == "python":
            argv[0] = sys.executable
        else:
            pytest.fail(f"README shell line runs {argv[0]!r}; only emfast / python are expected")
        import emfast
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(emfast.__file__).resolve().parents[1])] +
            [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-2000:])
