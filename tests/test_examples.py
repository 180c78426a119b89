"""The missing-data walkthrough runs and tells the story it claims (docs/missing-data.md)."""
import importlib.util
import re
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "missing_data.py"


@pytest.mark.skipif(not EXAMPLE.exists(), reason="examples/ not present")
def test_missing_data_example(capsys):
    spec = importlib.util.spec_from_file_location("missing_data_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main()
    out = capsys.readouterr().out
    truth = float(re.search(r"truth = ([0-9.]+)", out).group(1))
    rows = {m: [float(v) for v in re.search(rf"^{m}\s+(.*)$", out, re.M).group(1).split()]
            for m in ("MCAR", "MAR", "MNAR")}
    # columns: % missing, complete, mode-fill, EM ignorable, EM MNAR, MCAR-test p
    assert abs(rows["MCAR"][3] - truth) < 0.01 and abs(rows["MAR"][3] - truth) < 0.01
    assert abs(rows["MNAR"][4] - truth) < 0.01
    assert abs(rows["MNAR"][3] - truth) > 0.05 and abs(rows["MAR"][1] - truth) > 0.03
    assert rows["MAR"][5] < 1e-6 and rows["MNAR"][5] < 1e-6
    lls = [float(v) for v in re.findall(r"^\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+(-[0-9.]+)$",
                                         out, re.M)]
    assert len(lls) == 4 and max(lls) - min(lls) < 1e-3
