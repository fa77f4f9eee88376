"""refimpl verify: tolerances from the reference, row-label matching, absent data sets, exit codes."""
import copy
import json

import pytest

from refimpl import cli
from refimpl.results import (EXACT, SchemaError, make_results, table, tolerance, trained, validate,
                             write_results)
from refimpl.verify import DIFFERS, EQUAL, MISSING, NOT_COMPARABLE, compare_results, verify


def _results(fmnist=True, **over):
    """A small results dict as a chapter writes it: digits always, Fashion-MNIST when present."""
    names = ["digits"] + (["fashion-mnist"] if fmnist else [])
    rows = [["MNIST-1", "text", 89.5, 1.2], ["MNIST-2", "text", 92.6, 0.8]]
    if fmnist:
        rows += [["FMNIST-1", "text", 78.1, 2.0], ["FMNIST-2", "text", 80.3, 1.5]]
    kw = dict(
        document="accountability", experiment="demo", scale="quick", config={"epochs": 3, "lr": 1e-3},
        seeds=[0],
        metrics={"per_dataset": {n: {"accuracy": 0.9 if n == "digits" else 0.8, "curve": [0.1, 0.2]} for n in names},
                 "eq16_max_abs_diff": 1e-12, "train_seconds": 3.5,
                 "verdict": "the search does NOT beat restarts (−1.1 points)"},
        tables={"seed_variance": table(["model", "reading", "mean acc %", "std"], rows, key=["model", "reading"],
                                       dataset=["digits" if r[0].startswith("MNIST") else "fashion-mnist"
                                                for r in rows], tolerance=trained(1.0)),
                "timing": table(["model", "seconds per iteration"], [["MNIST-1", 0.03]], dataset="digits")},
        paper={"gain": 4.0}, notes=["a note"], elapsed_seconds=12.0,
        tolerances={"config": EXACT, "metrics": trained(0.02), "metrics/eq16_max_abs_diff": EXACT},
        free_text=["metrics/verdict"],
        datasets={"used": names, "absent": {} if fmnist else {
            "fashion-mnist": "not found (searched /x/fashion-mnist); get it with `refimpl data get fashion-mnist`"},
                  "entries": {f"metrics/per_dataset/{n}": n for n in ["digits", "fashion-mnist"]}})
    kw.update(over)
    return make_results(**kw)


def _write(tmp_path, name, res, chapter="accountability"):
    return write_results(tmp_path / name / chapter / "results.json", res)


def _verify_cli(capsys, *argv):
    status = cli.main(["verify", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_same_results_pass(tmp_path, capsys):
    ref = _write(tmp_path, "ref", _results())
    cand = _write(tmp_path, "cand", _results())   # a rerun: new timestamp, same values
    status, out, _ = _verify_cli(capsys, cand, ref)
    assert status == 0
    assert "0 differ, 0 missing in the candidate" in out and "REPRODUCED" in out


def test_perturbed_metric_fails_and_is_named_with_both_values_and_tolerance(tmp_path, capsys):
    ref = _results()
    cand = copy.deepcopy(ref)
    cand["metrics"]["per_dataset"]["digits"]["accuracy"] = 0.95      # beyond atol 0.02
    status, out, _ = _verify_cli(capsys, _write(tmp_path, "c", cand), _write(tmp_path, "r", ref))
    assert status == 1
    line = next(x for x in out.splitlines() if "metrics/per_dataset/digits/accuracy" in x)
    assert "DIFFERS" in line and "reference 0.9" in line and "candidate 0.95" in line and "atol 0.02" in line
    assert "NOT REPRODUCED" in out


def test_within_tolerance_passes_and_command_line_tolerance_overrides(tmp_path, capsys):
    ref = _results()
    cand = copy.deepcopy(ref)
    cand["metrics"]["per_dataset"]["digits"]["accuracy"] = 0.91      # within atol 0.02
    r, c = _write(tmp_path, "r", ref), _write(tmp_path, "c", cand)
    assert _verify_cli(capsys, c, r)[0] == 0
    assert _verify_cli(capsys, c, r, "--atol", "0.001")[0] == 1
    cand["metrics"]["eq16_max_abs_diff"] = 3e-12                    # EXACT (atol 1e-12): 2e-12 apart fails
    assert _verify_cli(capsys, _write(tmp_path, "c2", cand), r)[0] == 1


def test_table_rows_are_matched_by_label_not_position(tmp_path, capsys):
    ref = _results()
    cand = copy.deepcopy(ref)
    cand["tables"]["seed_variance"]["rows"].reverse()
    cand["tables"]["seed_variance"]["dataset"].reverse()
    assert _verify_cli(capsys, _write(tmp_path, "c", cand), _write(tmp_path, "r", ref))[0] == 0
    cand["tables"]["seed_variance"]["rows"][0][2] += 5.0             # row FMNIST-2 (now first) differs
    status, out, _ = _verify_cli(capsys, _write(tmp_path, "c2", cand), _write(tmp_path, "r", ref))
    assert status == 1
    assert "tables/seed_variance [FMNIST-2, text]: mean acc %: reference 80.3, candidate 85.3" in out


def test_repeated_labels_and_columns_are_told_apart():
    t = table(["model", "± std", "± std"], [["a", 1.0, 2.0], ["a", 3.0, 4.0]], tolerance=EXACT)
    ref = _results(tables={"t": t})
    cand = copy.deepcopy(ref)
    cand["tables"]["t"]["rows"][1][2] = 4.5
    rep = compare_results(ref, cand)
    bad = [e for e in rep.entries if e.status == DIFFERS]
    assert len(bad) == 1 and bad[0].path == "tables/t [a #2]" and bad[0].detail.startswith("± std #2:")


def test_missing_data_set_is_not_comparable_warns_and_strict_fails(tmp_path, capsys):
    ref = _write(tmp_path, "r", _results())
    cand = _write(tmp_path, "c", _results(fmnist=False))
    status, out, err = _verify_cli(capsys, cand, ref)
    assert status == 0
    assert "NOT COMPARABLE" in out and "data set fashion-mnist absent in the candidate" in out
    assert "refimpl data get fashion-mnist" in out
    assert "FMNIST" not in "".join(x for x in out.splitlines() if x.lstrip().startswith("DIFFERS"))
    assert "warning:" in err and "not comparable" in err
    assert _verify_cli(capsys, cand, ref, "--strict")[0] == 1
    rep = verify(cand, ref)
    assert rep.count(DIFFERS) == rep.count(MISSING) == 0
    assert rep.count(NOT_COMPARABLE) == 4          # two metrics (accuracy, curve) and the two FMNIST rows
    assert rep.not_comparable() == {("fashion-mnist", "candidate"): {"accountability": 4}}


def test_missing_entry_without_an_absent_data_set_is_a_difference(tmp_path, capsys):
    ref = _results()
    cand = copy.deepcopy(ref)
    del cand["tables"]["seed_variance"]["rows"][0], cand["tables"]["seed_variance"]["dataset"][0]
    del cand["metrics"]["per_dataset"]["digits"]["curve"]
    status, out, _ = _verify_cli(capsys, _write(tmp_path, "c", cand), _write(tmp_path, "r", ref))
    assert status == 1
    assert "MISSING           tables/seed_variance [MNIST-1, text]" in out
    assert "MISSING           metrics/per_dataset/digits/curve" in out


def test_notes_free_text_versions_and_timings_are_compared_only_on_request(tmp_path, capsys):
    ref = _results()
    cand = copy.deepcopy(ref)
    cand["notes"] = ["another note"]
    cand["metrics"]["verdict"] = "the search does NOT beat restarts (−1.3 points)"
    cand["metrics"]["train_seconds"] = 99.0
    cand["tables"]["timing"]["rows"][0][1] = 9.9
    cand["versions"]["numpy"] = "0.0"
    r, c = _write(tmp_path, "r", ref), _write(tmp_path, "c", cand)
    assert _verify_cli(capsys, c, r)[0] == 0
    status, out, _ = _verify_cli(capsys, c, r, "--notes")
    assert status == 1 and "notes[0]" in out and "metrics/verdict" in out
    status, out, _ = _verify_cli(capsys, c, r, "--timings")
    assert status == 1 and "metrics/train_seconds" in out and "seconds per iteration" in out
    status, out, _ = _verify_cli(capsys, c, r, "--versions")
    assert status == 1 and "versions/numpy" in out


def test_folders_chapter_by_chapter(tmp_path, capsys):
    for side in ("r", "c"):
        _write(tmp_path, side, _results())
        _write(tmp_path, side, _results(document="extremal"), chapter="extremal")
    status, out, _ = _verify_cli(capsys, tmp_path / "c", tmp_path / "r")
    assert status == 0 and "2 chapters: accountability, extremal" in out
    (tmp_path / "c" / "extremal" / "results.json").unlink()
    status, out, _ = _verify_cli(capsys, tmp_path / "c", tmp_path / "r")
    assert status == 1 and "no results.json for this chapter in the candidate" in out
    # a run_all summary saying the chapter had no data set: not comparable, not a difference
    (tmp_path / "c" / "run_all_quick.json").write_text(json.dumps(
        {"chapters": {"extremal_learning": {"status": "no data", "returncode": 3, "output": "extremal"}}}))
    assert _verify_cli(capsys, tmp_path / "c", tmp_path / "r")[0] == 0
    # one file against a folder: paired by chapter folder
    assert _verify_cli(capsys, tmp_path / "c" / "accountability" / "results.json", tmp_path / "r")[0] == 0


def test_unreadable_or_invalid_files_and_bad_paths_exit_2(tmp_path, capsys):
    ref = _write(tmp_path, "r", _results())
    bad = tmp_path / "bad" / "accountability" / "results.json"
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps({**_results(), "seeds": [-1]}))
    status, out, _ = _verify_cli(capsys, bad, ref)
    assert status == 2 and "does not follow the results schema" in out and "seeds" in out
    bad.write_text("{not json")
    assert _verify_cli(capsys, bad, ref)[0] == 2
    status, _, err = _verify_cli(capsys, tmp_path / "nothing", ref)
    assert status == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1


def test_schema_rejects_bad_tables_and_tolerances():
    res = _results()
    validate(res)
    bad = copy.deepcopy(res)
    bad["tables"]["seed_variance"]["dataset"] = ["digits"]
    bad["tolerances"]["metrics"] = {"rtol": -1, "atol": 0}
    bad["tables"]["timing"]["key"] = ["nope"]
    with pytest.raises(SchemaError) as err:
        validate(bad)
    text = " ".join(err.value.errors)
    assert "1 entries for 4 rows" in text and "'nope' is not a column" in text and "rtol" in text
    with pytest.raises(ValueError, match="not among the columns"):
        table(["a"], [[1]], key="b")
    with pytest.raises(ValueError, match="non-negative"):
        tolerance(-1, 0)


def test_a_metric_of_a_data_set_present_in_both_runs_is_compared():
    ref, cand = _results(), _results()
    cand["metrics"]["per_dataset"]["fashion-mnist"]["accuracy"] = 0.5
    rep = compare_results(ref, cand)
    assert [e.path for e in rep.entries if e.status == DIFFERS] == ["metrics/per_dataset/fashion-mnist/accuracy"]
    assert sum(e.status == EQUAL for e in rep.entries) > 5


def test_a_candidate_is_compared_with_the_reference_of_its_own_scale(tmp_path, capsys):
    """figures/<chapter>/results.json is the quick reference, figures/<chapter>/paper/results.json the paper one."""
    quick, paper = _results(), _results(scale="paper", config={"epochs": 30, "lr": 1e-3})
    figures = tmp_path / "figures"
    write_results(figures / "accountability" / "results.json", quick)
    write_results(figures / "accountability" / "paper" / "results.json", paper)
    write_results(figures / "surgery" / "results.json", _results(document="surgery"))   # no paper reference

    # a paper-scale run folder: compared with the paper reference only; surgery's quick one is not "missing"
    write_results(tmp_path / "runs" / "paper" / "accountability" / "results.json", copy.deepcopy(paper))
    report = verify(tmp_path / "runs" / "paper", figures)
    assert report.exit_status() == 0 and report.count(MISSING) == 0 and report.count(EQUAL) > 0
    assert [f.reference for f in report.files] == [figures / "accountability" / "paper" / "results.json"]

    # a single paper-scale results file, against figures/ or against the chapter's folder
    cand_file = tmp_path / "runs" / "paper" / "accountability" / "results.json"
    for ref in (figures, figures / "accountability"):
        assert verify(cand_file, ref).files[0].reference == figures / "accountability" / "paper" / "results.json"
    # the paper reference itself, named by its folder, verifies against figures/
    report = verify(figures / "accountability" / "paper", figures)
    assert report.exit_status() == 0 and [f.chapter for f in report.files] == ["accountability"]

    # a quick run never meets the paper reference (its 30 epochs would differ from the quick 3)
    write_results(tmp_path / "runs" / "quick" / "accountability" / "results.json", copy.deepcopy(quick))
    report = verify(tmp_path / "runs" / "quick", figures, chapters=["accountability"])
    assert report.exit_status() == 0
    assert [f.reference for f in report.files] == [figures / "accountability" / "results.json"]

    # the paper run with a changed value fails against the paper reference
    changed = copy.deepcopy(paper)
    changed["config"]["epochs"] = 31
    write_results(cand_file, changed)
    status, out, _ = _verify_cli(capsys, tmp_path / "runs" / "paper", figures)
    assert status == 1 and "config/epochs" in out


@pytest.mark.parametrize("content", [b"{bad", b"", b"{}", b"[]", b"null", b"\xff"],
                         ids=["not-json", "empty", "empty-object", "array", "null", "not-utf8"])
def test_an_unpaired_candidate_that_is_not_a_results_file_exits_2_naming_it(tmp_path, capsys, content):
    _write(tmp_path, "r", _results())
    _write(tmp_path, "r", _results(document="extremal"), chapter="extremal")
    bad = tmp_path / "x" / "bad.json"
    bad.parent.mkdir()
    bad.write_bytes(content)
    status, out, _ = _verify_cli(capsys, bad, tmp_path / "r")
    assert status == 2 and str(bad) in out and "REPRODUCED" not in out.replace("NOT ", "")


def test_a_candidate_without_a_reference_is_not_checked(tmp_path, capsys):
    ref = _write(tmp_path, "r", _results())
    cand = _write(tmp_path, "c", _results(scale="paper"), chapter="other")   # no paper-scale reference
    status, out, _ = _verify_cli(capsys, cand, ref)
    assert status == 2 and f"{cand}: no reference for document 'accountability'" in out and "scale 'paper'" in out
    # a folder whose every chapter is only in the candidate compared nothing: not checked, not reproduced
    status, out, _ = _verify_cli(capsys, tmp_path / "c", ref)
    assert status == 2 and "nothing was compared" in out and "NOT CHECKED (nothing compared)" in out
    # an invalid chapter only in the candidate of a folder run is reported, not passed over
    (tmp_path / "c" / "other" / "results.json").write_text("[]")
    _write(tmp_path, "c", _results())
    status, out, _ = _verify_cli(capsys, tmp_path / "c", tmp_path / "r")
    assert status == 2 and "other/results.json is not a refimpl-results/1 file" in out
