"""Thesis ch. 6 chapter script: bad input gives clear errors before any work."""
import sys
from pathlib import Path

import pytest

pytest.importorskip("ale_py")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chapters"))
import thesis_ch6_atari as ch6  # noqa: E402


def test_unknown_game_lists_the_available_ones(tmp_path, capsys):
    assert ch6.main(["--game", "Frostbyte", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Frostbyte" in err and "frostbite" in err and "venture" in err


def test_budget_smaller_than_one_generation(tmp_path, capsys):
    assert ch6.main(["--scale", "paper", "--budget-steps", "1e6", "--out", str(tmp_path)]) == 2
    assert "smaller than one generation" in capsys.readouterr().err


def test_missing_ale_names_the_requirement(monkeypatch):
    from refimpl.thesis import atari_env as ae
    monkeypatch.setitem(sys.modules, "ale_py", None)
    with pytest.raises(ImportError, match="ale-py"):
        ae.require_ale()
