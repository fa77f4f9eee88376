"""Every chapter script follows one command-line contract (chapters/_cli.py): bad inputs give a
one-line message and exit status 2; --scale paper without data reports each absent data set
(where it was searched, `refimpl data get NAME`) and exits 3; run_all's options and summaries."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from refimpl.data import datasets as data_datasets

REPO = Path(__file__).resolve().parents[1]
CHAPTERS_DIR = REPO / "chapters"
sys.path.insert(0, str(CHAPTERS_DIR))

from _cli import CHAPTER_OUTPUT, GPU_CHAPTERS  # noqa: E402
from run_all import CHAPTERS  # noqa: E402

SCRIPTS = [n for n in CHAPTERS if (CHAPTERS_DIR / f"{n}.py").exists()]
_MODULES = {}


def chapter(name):
    """The chapter script as a module (imported once; its main(argv) is called in-process)."""
    if name not in _MODULES:
        spec = importlib.util.spec_from_file_location(f"chapter_{name}", CHAPTERS_DIR / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[name] = module
    return _MODULES[name]


def fails(capsys, main, argv, status=2):
    """main(argv) exits with ``status`` and one line on stderr; returns that line."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("name", SCRIPTS)
def test_bad_seed(name, capsys):
    main = chapter(name).main
    assert "argument --seed: must be a non-negative integer, got -1" in fails(capsys, main, ["--seed", "-1"])
    assert "must be a non-negative integer, got 'x'" in fails(capsys, main, ["--seed", "x"])


@pytest.mark.parametrize("name", SCRIPTS)
def test_unknown_dataset_names_the_valid_ones(name, capsys):
    err = fails(capsys, chapter(name).main, ["--dataset", "no-such-data"])
    if "reads no data set files" in err:   # e.g. the Atari chapter: games, not data sets
        return
    assert "argument --dataset: invalid choice: 'no-such-data' (choose from " in err
    parser_choices = err.split("choose from ")[1]
    assert "'" in parser_choices          # the valid names are listed


@pytest.mark.parametrize("name", SCRIPTS)
def test_device_gpu(name, capsys, monkeypatch):
    main = chapter(name).main
    if CHAPTER_OUTPUT[name] not in GPU_CHAPTERS:
        err = fails(capsys, main, ["--device", "gpu"])
        assert "argument --device: this chapter has no GPU path" in err and "--device cpu" in err
        return
    from refimpl import backend

    def no_gpu(*a, **k):
        raise backend.GPUUnavailableError("no usable CUDA device (test)")
    monkeypatch.setattr(backend, "to_device", no_gpu)
    assert "gpu is not usable here: no usable CUDA device (test)" in fails(capsys, main, ["--device", "gpu"])


@pytest.mark.parametrize("name", SCRIPTS)
def test_other_bad_options_and_help(name, capsys):
    main = chapter(name).main
    assert "invalid choice: 'huge'" in fails(capsys, main, ["--scale", "huge"])
    assert "unrecognized arguments: --bogus" in fails(capsys, main, ["--bogus"])
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "exit status:" in out and "3    no data set could be run" in out
    assert f"runs/<scale>/{CHAPTER_OUTPUT[name]}" in out


@pytest.mark.parametrize("name", SCRIPTS)
def test_out_that_is_a_file_is_refused_at_parse_time(name, tmp_path, capsys):
    """Not a FileExistsError after the run (thesis_ch3_cnmc created its folder only at the end)."""
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    main = chapter(name).main
    err = fails(capsys, main, ["--out", str(afile)])
    assert f"argument --out: {afile} is a file, not a folder" in err
    err = fails(capsys, main, ["--out", str(afile / "sub")])
    assert f"argument --out: {afile / 'sub'} cannot be created: {afile} is a file" in err
    assert afile.read_text() == "keep me\n"


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """Empty $REFIMPL_DATA, $HOME and system data directory."""
    monkeypatch.setenv("REFIMPL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(data_datasets, "SYSTEM_DATA_DIR", tmp_path / "system")
    import threadpoolctl   # accountable_accuracy limits BLAS threads process-wide: not in the test process
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda *a, **k: None)
    return tmp_path


@pytest.mark.parametrize("name,absent", [
    ("interval_significance", ["mnist", "fashion-mnist", "cifar-10"]),
    ("nn_surgery", ["fashion-mnist", "emnist-digits", "cifar-10", "cifar-100"]),
    ("accountable_accuracy", ["mnist", "fashion-mnist"]),
    ("thesis_ch5_evolution", ["mnist", "fashion-mnist"]),
])
def test_paper_scale_without_data_reports_each_absent_data_set_and_exits_3(name, absent, no_data, capsys):
    out = no_data / "out"
    assert chapter(name).main(["--scale", "paper", "--out", str(out), "--no-progress"]) == 3
    err = capsys.readouterr().err
    for ds in absent:
        line = next(x for x in err.splitlines() if x.startswith(f"[skip] {ds}:"))
        assert str(no_data / "data") in line and f"get it with `refimpl data get {ds}`" in line
    assert "no data set could be run" in err and "exit status 3" in err
    assert not (out / "results.json").exists()


def test_quick_scale_with_an_absent_chosen_data_set_exits_3(no_data, capsys):
    main = chapter("interval_significance").main
    assert main(["--dataset", "fashion-mnist", "--out", str(no_data / "o"), "--no-progress"]) == 3
    assert "[skip] fashion-mnist: not found" in capsys.readouterr().err


def test_default_output_is_runs_not_the_reference():
    sys.path.insert(0, str(CHAPTERS_DIR))
    from _cli import chapter_parser, output_dir
    args = chapter_parser("doc", chapter="extremal", datasets=("health",)).parse_args(["--scale", "paper"])
    assert output_dir(args) == REPO / "runs" / "paper" / "extremal"


# ---- numeric options out of range: refused by the parser, before any work ----------------------

@pytest.mark.parametrize("name,argv,message", [
    # a probability (repeat_action_probability): in [0, 1]
    ("thesis_ch6_atari", ["--sticky", "7"], "argument --sticky: must be a probability in [0, 1], got 7"),
    ("thesis_ch6_atari", ["--sticky", "-0.1"], "argument --sticky: must be a probability in [0, 1], got -0.1"),
    ("thesis_ch6_atari", ["--sticky", "nan"], "argument --sticky: must be a probability in [0, 1], got nan"),
    ("thesis_ch6_atari", ["--sticky", "often"], "argument --sticky: must be a probability in [0, 1], got 'often'"),
    # counts: >= 1 (--num-envs 0 was replaced by the default, -2 failed late)
    ("thesis_ch6_atari", ["--num-envs", "-2"], "argument --num-envs: must be a positive integer, got -2"),
    ("thesis_ch6_atari", ["--num-envs", "0"], "argument --num-envs: must be a positive integer, got 0"),
    ("thesis_ch6_atari", ["--ray-workers", "0"], "argument --ray-workers: must be a positive integer, got 0"),
    ("thesis_ch6_atari", ["--num-envs", "2.5"], "argument --num-envs: must be a positive integer, got '2.5'"),
    # rates and budgets: finite and > 0
    ("thesis_ch6_atari", ["--budget-steps", "-5"], "argument --budget-steps: must be a positive number, got -5"),
    ("thesis_ch6_atari", ["--budget-steps", "nan"], "argument --budget-steps: must be a positive number, got nan"),
    ("thesis_ch6_atari", ["--budget-steps", "inf"], "argument --budget-steps: must be a positive number, got inf"),
    ("thesis_ch3_cnmc", ["--nospeclr-lr", "-1"], "argument --nospeclr-lr: must be a positive number, got -1"),
    ("thesis_ch3_cnmc", ["--nospeclr-lr", "0"], "argument --nospeclr-lr: must be a positive number, got 0"),
    ("thesis_ch3_cnmc", ["--nospeclr-lr", "fast"], "argument --nospeclr-lr: must be a positive number, got 'fast'"),
    # a size where 0 means "off": >= 0
    ("thesis_ch3_cnmc", ["--paper-batch", "-1"], "argument --paper-batch: must be a non-negative integer, got -1"),
])
def test_numeric_options_out_of_range(name, argv, message, capsys):
    assert message in fails(capsys, chapter(name).main, argv)


def test_numeric_options_in_range_are_kept():
    args = chapter("thesis_ch6_atari").parse(["--sticky", "0.25", "--num-envs", "1", "--ray-workers", "3",
                                              "--budget-steps", "2e7"])
    assert (args.sticky, args.num_envs, args.ray_workers, args.budget_steps) == (0.25, 1, 3, 2e7)
    args = chapter("thesis_ch6_atari").parse(["--sticky", "1"])
    assert (args.sticky, args.num_envs, args.ray_workers, args.budget_steps) == (1.0, None, 2, None)


def test_numeric_options_are_explained_in_help(capsys):
    for name, options in (("thesis_ch6_atari", ("--sticky P", "in [0, 1]", "--num-envs N", ">= 1", "--budget-steps")),
                          ("thesis_ch3_cnmc", ("--nospeclr-lr LR", "> 0", "--paper-batch N", ">= 0"))):
        with pytest.raises(SystemExit):
            chapter(name).main(["--help"])
        out = " ".join(capsys.readouterr().out.split())
        for text in options:
            assert text in out, (name, text)


# ---- nn_surgery: --topologies / --seeds-per-topology (a reduced but real plan) ----------------

@pytest.mark.parametrize("argv,message", [
    (["--topologies", "huge"], "argument --topologies: unknown topology 'huge'; choose from small, medium, large"),
    (["--topologies", "small,,tiny"], "unknown topology 'tiny'"),
    (["--topologies", ","], "argument --topologies: no topology in ','"),
    (["--seeds-per-topology", "0"], "argument --seeds-per-topology: must be a positive integer, got 0"),
    (["--seeds-per-topology", "4"], "argument --seeds-per-topology: at most 3 at --scale quick (seeds 6, 63, 72), got 4"),
    (["--scale", "paper", "--seeds-per-topology", "6"], "at most 5 at --scale paper (seeds 6, 63, 72, 77, 97), got 6"),
])
def test_surgery_selection_bad_values(argv, message, capsys):
    assert message in fails(capsys, chapter("nn_surgery").main, argv)


def test_surgery_select_runs():
    m = chapter("nn_surgery")
    assert m.select_runs(m.PAPER, None, None) is None            # the scale's own plan
    assert m.topology_list("large, small,small") == ["small", "large"]   # Table 2's order, each once
    r = m.select_runs(m.PAPER, ["small"], 2)
    assert r["runs_per_topology"] == {"small": 2} and r["reduced"] and r["runs"] == 2
    assert r["plan"] == {"small": 5, "medium": 5, "large": 5}
    assert m.select_runs(m.PAPER, ["small"], None)["runs_per_topology"] == {"small": 5}
    full = m.select_runs(m.PAPER, ["small", "medium", "large"], 5)
    assert not full["reduced"] and full["runs_per_topology"] == m.PAPER["runs"]
    assert m.select_runs(m.QUICK, None, 1)["runs_per_topology"] == {"small": 1, "medium": 1, "large": 1}


def test_surgery_reduced_run_is_recorded_and_labelled(tmp_path):
    out = tmp_path / "o"
    assert chapter("nn_surgery").main(["--dataset", "digits", "--topologies", "small", "--seeds-per-topology", "1",
                                       "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    cfg = res["config"]
    assert cfg["runs_per_topology"] == {"small": 1} and cfg["runs_per_topology_by_dataset"] == {}
    assert cfg["selection"] == {"topologies": ["small"], "seeds_per_topology": 1, "reduced": True,
                                "plan": {"small": 3, "medium": 3, "large": 1}}
    assert [(r["topology"], r["seed"]) for r in res["metrics"]["runs"]["digits"]] == [("small", 6)]
    assert any(n.startswith("REDUCED quick-scale run (topologies small, small × 1 seed): 1 runs per data set "
                            "instead of the plan's 7") for n in res["notes"])


# ---- run_all --------------------------------------------------------------------------------

def _run_all():
    import run_all
    return run_all


@pytest.mark.parametrize("argv,message", [
    (["--seed", "-1"], "must be a non-negative integer"),
    (["--only", "nope"], "unknown chapters nope"),
    (["--update-reference", "--scale", "paper"], "--update-reference --scale paper needs --only"),
    (["--update-reference", "--out", "x"], "cannot be combined with --out"),
])
def test_run_all_bad_options(argv, message, capsys):
    assert message in fails(capsys, _run_all().main, argv)


def test_run_all_out_that_is_a_file_is_refused_before_any_chapter(tmp_path, capsys, monkeypatch):
    run_all = _run_all()
    monkeypatch.setattr(run_all, "_run_chapter", lambda cmd: pytest.fail("a chapter was started"))
    afile = tmp_path / "afile"
    afile.write_text("")
    assert f"argument --out: {afile} is a file, not a folder" in fails(capsys, run_all.main, ["--out", str(afile)])


def test_run_all_summaries_partial_runs_and_interrupts(tmp_path, monkeypatch, capsys):
    run_all = _run_all()
    calls = []

    def fake(cmd):
        calls.append(cmd)
        return 0, False
    monkeypatch.setattr(run_all, "_run_chapter", fake)
    out = tmp_path / "runs"
    assert run_all.main(["--out", str(out), "--no-verify"]) == 0
    full = json.loads((out / "run_all_quick.json").read_text())
    assert [n for n, c in full["chapters"].items() if c["status"] == "ok"] == SCRIPTS
    assert all(c[c.index("--out") + 1] == str(out / CHAPTER_OUTPUT[Path(c[1]).stem]) for c in calls)
    assert all("--no-progress" in c for c in calls)        # not a terminal here
    printed = capsys.readouterr().out
    assert f"] {len(SCRIPTS)}/{len(SCRIPTS)}  extremal_learning: ok in" in printed

    # a partial run leaves the full summary alone
    assert run_all.main(["--out", str(out), "--no-verify", "--only", "extremal"]) == 0
    assert json.loads((out / "run_all_quick.json").read_text()) == full
    partial = json.loads((out / "run_all_quick.partial.json").read_text())
    assert list(partial["chapters"]) == ["extremal_learning"] and partial["partial"] is True

    # Ctrl-C: one line, status 130, no summary
    (out / "run_all_quick.json").unlink()
    monkeypatch.setattr(run_all, "_run_chapter", lambda cmd: (130, True))
    assert run_all.main(["--out", str(out), "--no-verify"]) == 130
    assert "interrupted during interval_significance" in capsys.readouterr().err
    assert not (out / "run_all_quick.json").exists()

    # a failing chapter: exit 1, named
    monkeypatch.setattr(run_all, "_run_chapter", lambda cmd: (1, False))
    assert run_all.main(["--out", str(out), "--no-verify", "--only", "extremal"]) == 1
    assert "FAILED chapters: extremal_learning" in capsys.readouterr().err


def test_run_all_refuses_a_missing_reference_before_running_and_fails_when_nothing_is_verified(
        tmp_path, monkeypatch, capsys):
    run_all = _run_all()
    calls = []
    monkeypatch.setattr(run_all, "_run_chapter", lambda cmd: (calls.append(cmd), (0, False))[1])
    out = tmp_path / "runs"
    err = fails(capsys, run_all.main, ["--out", str(out), "--reference", str(tmp_path / "nope"), "--only", "extremal"])
    assert f"the reference {tmp_path / 'nope'} does not exist" in err and calls == []

    # a reference with no entry for the chapter that ran: nothing compared, exit 2, not a silent 0
    ref = tmp_path / "ref" / "accountability" / "results.json"
    ref.parent.mkdir(parents=True)
    ref.write_bytes((REPO / "figures" / "accountability" / "results.json").read_bytes())

    def fake(cmd):   # the chapter "writes" the committed extremal results
        target = Path(cmd[cmd.index("--out") + 1])
        target.mkdir(parents=True, exist_ok=True)
        (target / "results.json").write_bytes((REPO / "figures" / "extremal" / "results.json").read_bytes())
        return 0, False
    monkeypatch.setattr(run_all, "_run_chapter", fake)
    assert run_all.main(["--out", str(out), "--reference", str(tmp_path / "ref"), "--only", "extremal"]) == 2
    captured = capsys.readouterr()
    assert "NOT CHECKED (nothing compared)" in captured.out and "were not checked" in captured.err
    # against the committed reference the same run passes
    assert run_all.main(["--out", str(out), "--only", "extremal"]) == 0


def test_run_all_update_reference_paper_scale_writes_beside_the_quick_reference(tmp_path, monkeypatch):
    run_all = _run_all()
    calls = []
    monkeypatch.setattr(run_all, "_run_chapter", lambda cmd: (calls.append(cmd), (0, False))[1])
    monkeypatch.setattr(run_all, "REFERENCE", tmp_path / "figures")
    assert run_all.main(["--update-reference", "--scale", "paper", "--only", "extremal", "interval"]) == 0
    targets = [c[c.index("--out") + 1] for c in calls]
    assert targets == [str(tmp_path / "figures" / "interval" / "paper"), str(tmp_path / "figures" / "extremal" / "paper")]
    assert all(c[c.index("--scale") + 1] == "paper" for c in calls)
    calls.clear()
    assert run_all.main(["--update-reference", "--only", "extremal"]) == 0     # quick: the chapter folder itself
    assert calls[0][calls[0].index("--out") + 1] == str(tmp_path / "figures" / "extremal")
