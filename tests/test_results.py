"""results.json schema: atomic writes, NaN rejection, and compare()."""
import json
import os

import numpy as np
import pytest

from refimpl.results import (SCHEMA, compare, make_results, read_results, table, write_atomic,
                             write_results)


def _results(**over):
    kw = dict(document="extremal", experiment="demo", scale="quick", config={"lr": 1e-3},
              seeds=[0], metrics={"acc": np.float32(0.5), "curve": np.arange(3)},
              tables={"t": table(["a", "b"], [[1, 2.0]])}, paper={"acc": 0.51}, elapsed_seconds=1.5)
    kw.update(over)
    return make_results(**kw)


def test_round_trip_and_schema(tmp_path):
    res = _results()
    path = write_results(tmp_path / "sub" / "results.json", res)
    back = read_results(path)
    assert back["schema"] == SCHEMA and back["metrics"]["curve"] == [0, 1, 2]
    assert back["versions"]["numpy"] == np.__version__
    assert compare(res, back) == []
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp files left


def test_nan_is_rejected_and_nothing_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"non-finite value nan at \$\.metrics\.acc"):
        _results(metrics={"acc": float("nan")})
    res = _results()
    res["metrics"]["bad"] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        write_results(tmp_path / "r.json", res)
    assert not any(tmp_path.iterdir())


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "r.json"
    write_atomic(target, "old")


    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # not bytes/str: fails mid-write
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_compare_reports_every_difference():
    ref = _results()
    cand = json.loads(json.dumps(ref))
    cand["metrics"]["acc"] = 0.5 + 1e-9                    # within tolerance
    cand["metrics"]["curve"] = [0, 1, 2.5]                 # differs
    cand["config"]["extra"] = True                         # not in reference
    del cand["paper"]["acc"]                               # missing
    cand["elapsed_seconds"] = 99.0                         # volatile: ignored
    paths = [d.path for d in compare(ref, cand, rtol=1e-6)]
    assert paths == ["$.config.extra", "$.metrics.curve[2]", "$.paper.acc"]
    assert [d.path for d in compare(ref, cand, rtol=1e-6, ignore=())][0] == "$.config.extra"
    assert "$.elapsed_seconds" in [d.path for d in compare(ref, cand, ignore=(), timings=True)]


def test_validation_errors(tmp_path):
    with pytest.raises(ValueError, match="document must be one of"):
        _results(document="other")
    with pytest.raises(ValueError, match="scale"):
        _results(scale="huge")
    with pytest.raises(ValueError, match="3 cells, expected 2"):
        table(["a", "b"], [[1, 2, 3]])
    with pytest.raises(ValueError, match="required keys"):
        write_results(tmp_path / "r.json", {"schema": SCHEMA})
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="x.json is not valid JSON"):
        read_results(tmp_path / "x.json")


def test_written_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_compare_skips_timings_unless_asked():
    ref = _results(metrics={"acc": 0.9, "fit_seconds": 1.0},
                   tables={"t": table(["model", "seconds per trial", "acc"], [["a", 1.0, 0.5]])})
    cand = json.loads(json.dumps(ref))
    cand["metrics"]["fit_seconds"] = 2.0
    cand["tables"]["t"]["rows"][0][1] = 3.0
    assert compare(ref, cand) == []
    assert [d.path for d in compare(ref, cand, timings=True)] == ["$.metrics.fit_seconds", "$.tables.t.rows[0][1]"]
    cand["tables"]["t"]["rows"][0][2] = 0.6                 # a real difference is still found
    assert [d.path for d in compare(ref, cand)] == ["$.tables.t.rows[0][2]"]
