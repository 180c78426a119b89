import threading

import pytest

import emfast
from emfast._config import check_memory


def test_default_budget_is_positive_and_reported():
    cfg = emfast.get_config()
    assert cfg["max_memory"] >= 1 << 30 or cfg["max_memory"] > 0
    assert "max_memory" in emfast._config.config()


def test_context_and_set_config():
    before = emfast.get_config()["max_memory"]
    with emfast.config_context(max_memory="64M"):
        assert emfast.get_config()["max_memory"] == 64 << 20
        with pytest.raises(ValueError, match=r"needs 1 GiB, more than the memory budget "
                                             r"max_memory=64 MiB"):
            check_memory(1 << 30, "the test array")
        assert check_memory(1 << 20, "small") == 1 << 20
    assert emfast.get_config()["max_memory"] == before
    emfast.set_config(max_memory=12345)
    try:
        assert emfast.get_config()["max_memory"] == 12345
        seen = []
        t = threading.Thread(target=lambda: seen.append(emfast.get_config()["max_memory"]))
        t.start()
        t.join()
        assert seen == [12345]
    finally:
        emfast.set_config(max_memory=None)
    assert emfast.get_config()["max_memory"] == before


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-5, ValueError), ("lots", ValueError),
                                     (float("nan"), ValueError), (True, TypeError),
                                     ([1], TypeError)])
def test_bad_budget(bad, exc):
    with pytest.raises(exc, match="max_memory"):
        emfast.set_config(max_memory=bad)


def test_env_variable(monkeypatch):
    monkeypatch.setenv("EMFAST_MAX_MEMORY", "2G")
    assert emfast._config._default_max_memory() == 2 << 30
    monkeypatch.setenv("EMFAST_MAX_MEMORY", "nonsense")
    with pytest.raises(ValueError, match="EMFAST_MAX_MEMORY"):
        emfast._config._default_max_memory()
