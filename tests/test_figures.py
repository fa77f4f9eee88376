"""Figures a reader can trust (issue 18): every chapter's figure shows the paper's value and its data set.

Each test renders one figure of one chapter from a small synthetic input (no training run) and checks, on
the matplotlib objects rather than on pixels, that the paper-value artist (``gid`` ``plotting.PAPER``) and
the data-set label (``plotting.DATA_LABEL``) exist, and that no legend overlaps an axes' data area.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from refimpl import plotting as plot

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"


def chapter(name):
    """Import ``chapters/<name>.py`` as a module (the chapters are scripts, not a package)."""
    sys.path.insert(0, str(CHAPTERS))
    spec = importlib.util.spec_from_file_location(f"figtest_{name}", CHAPTERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def legend_overlaps_data(fig) -> list[str]:
    """Legends whose box intersects an axes' data area (the axes patch), as '<legend> on <axes title>'."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    legends = [a.get_legend() for a in fig.axes if a.get_legend() is not None] + list(fig.legends)
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.get_visible() and ax.get_window_extent(renderer).overlaps(box) and ax.has_data():
                found.append(f"legend {[t.get_text() for t in legend.get_texts()][:2]} on axes {ax.get_title()!r}")
    return found


def check_figure(fig, *, dataset_words=(), absent=False):
    paper = plot.artists(fig, plot.PAPER)
    labels = plot.artists(fig, plot.DATA_LABEL)
    assert paper, "no paper-value artist in the figure"
    assert len(labels) == 1, "the figure must carry exactly one data-set label"
    text = labels[0].get_text()
    assert "scale" in text
    for word in dataset_words:
        assert word in text, f"{word!r} not in the data label {text!r}"
    assert not legend_overlaps_data(fig), legend_overlaps_data(fig)
    for ax in fig.axes:
        if ax.has_data() and not plot.artists(ax, plot.ABSENT):
            assert ax.get_xlabel() and ax.get_ylabel(), f"axes {ax.get_title()!r} lacks an axis label"
    if absent:
        assert plot.artists(fig, plot.ABSENT), "an absent panel must say so"
    plot.pyplot().close(fig)


# ---- the module itself -------------------------------------------------------------------------

def test_plotting_helpers_tag_their_artists(tmp_path):
    fig, axes = plot.subplots(1, 3, figsize=(9, 3))
    axes[0].plot([0, 1], [0, 1], label="ours")
    plot.paper_hline(axes[0], 0.5)
    plot.paper_points(axes[0], [0.2, 0.4], [0.3, 0.6], label="paper points")
    plot.paper_bars(axes[1], [0, 1, 2], [1.0, np.nan, 2.0])
    plot.absent_panel(axes[2], "Fashion-MNIST absent")
    plot.legend_outside(axes[0])
    plot.data_label(fig, ["digits", "fashion-mnist"], "quick")
    fig.tight_layout()   # makes room for the legend right of axes[0]; without it the legend covers axes[1]
    assert len(plot.artists(fig, plot.PAPER)) == 1 + 1 + 2   # a line, a marker line, two bars (nan skipped)
    assert "digits (scikit-learn, 8×8), Fashion-MNIST · quick scale" in plot.artists(fig, plot.DATA_LABEL)[0].get_text()
    assert plot.artists(axes[2], plot.ABSENT)[0].get_text().startswith("not made:")
    assert not legend_overlaps_data(fig)
    path = plot.save(fig, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_legend_check_catches_a_legend_on_data():
    fig, ax = plot.subplots()
    ax.plot(np.linspace(0, 1, 50), np.ones(50), label="a line through the middle of the axes")
    ax.legend(loc="center")
    assert legend_overlaps_data(fig)
    plot.pyplot().close(fig)


def test_bad_arguments_are_refused():
    fig, ax = plot.subplots()
    with pytest.raises(ValueError, match="where"):
        plot.legend_outside(ax, where="inside")
    with pytest.raises(ValueError, match="at least one"):
        plot.data_label(fig, [], "quick")
    plot.pyplot().close(fig)


# ---- one figure per chapter ----------------------------------------------------------------------

def test_extremal_fig4_marks_the_papers_x_hat():
    ch = chapter("extremal_learning")
    rng = np.random.default_rng(0)
    steps, starts = 20, 5
    x = np.cumsum(rng.normal(size=(steps, starts, 4)) * 0.05, axis=0)
    tr = {"step": np.arange(steps), "x": x, "y": x.sum(axis=2), "window": (-np.ones(4), np.ones(4)),
          "milp_x": np.array([0, 0, -1.0, -1.0]), "x_true": np.array([0, 0, -1.15, -1.13])}
    fig = ch.fig_trajectory(tr, "quick")
    check_figure(fig, dataset_words=("health",))


# ---- interval_significance, nn_surgery -----------------------------------------------------------

def _interval_result(rng, n_nodes=1000):
    fr = np.linspace(0, 1, 11)
    curve = {m: {"train": list(fr * 0.8 + 0.1), "test": list(fr * 0.8 + 0.12)} for m in ("interval", "random", "magnitude")}
    curves = {exp: {**curve, "nodes_removed": list((fr * n_nodes).astype(int)), "n_nodes": n_nodes}
              for exp in ("input", "hidden 1", "hidden 2", "all hidden")}
    t2 = {k: list(rng.uniform(0.1, 0.9, 6 if k in ("train", "test") else 5))
          for k in ("train", "test", "train_retrained", "test_retrained")}
    return {"architecture": "784-500-500-10", "curves": curves, "table2": t2}


def test_interval_fig7_shows_table2_and_marks_absent_data_sets():
    ch = chapter("interval_significance")
    results = {"fashion-mnist": _interval_result(np.random.default_rng(0))}
    panels = ["mnist", "fashion-mnist", "mnist-rot", "cifar-10"]
    absent = {"mnist": "not found", "mnist-rot": "no loader", "cifar-10": "not found"}
    fig = ch.fig_curves(results, "all hidden", "paper", panels, absent)
    assert len(plot.artists(fig, plot.ABSENT)) == 3
    paper = plot.artists(fig.axes[1], plot.PAPER)
    assert [len(a.get_xdata()) for a in paper] == [6, 5]   # Table 2 before / after retraining
    check_figure(fig, dataset_words=("Fashion-MNIST", "paper scale"), absent=True)


def _surgery_run(rng, topo, seed):
    curve = list(np.linspace(0.1, 0.8, 31))
    acc = lambda: float(rng.uniform(0.6, 0.9))   # noqa: E731
    events = [{"epoch": 0, "label": "Start", "topology": "10"},
              {"epoch": 10, "label": "Truncated SVD (rank 10)", "topology": "10L-10"},
              {"epoch": 20, "label": "Remove layer", "topology": "10"}]
    return {"topology": topo, "seed": seed,
            "baseline": {"test_accuracy": acc(), "val_curve": curve[1:]},
            "baseline_equal_compute": {"test_accuracy": acc(), "val_curve": curve[1:] + curve[1:20]},
            "surgeon": {"test_accuracy": acc(), "val_curve": curve, "events": events}}


def test_surgery_fig2_has_paper_bars_legend_and_absent_panel():
    ch = chapter("nn_surgery")
    rng = np.random.default_rng(0)
    runs = [_surgery_run(rng, t, s) for t in ("small", "medium") for s in (6, 63)] + [_surgery_run(rng, "large", 6)]
    fig = ch.fig_overview({"fashion-mnist": runs}, "paper", ["fashion-mnist", "cifar-10"], {"cifar-10": "not found"})
    assert len(plot.artists(fig, plot.PAPER)) >= 6      # paper B and S for three topologies
    assert fig.legends, "Fig. 2 needs a legend for its colours"
    assert "n = 1 seed" in " ".join(t.get_text() for t in fig.axes[0].get_xticklabels())
    check_figure(fig, dataset_words=("Fashion-MNIST",), absent=True)


def test_surgery_run_figure_keeps_operation_labels_off_the_curves():
    ch = chapter("nn_surgery")
    fig = ch.fig_run(_surgery_run(np.random.default_rng(1), "small", 6), "fashion-mnist", "quick", "Fig. 3")
    ax = fig.axes[0]
    strip = [t for t in ax.texts if t.get_text() in ("1", "2")]
    assert len(strip) == 2 and all(t.get_position()[1] > 1 for t in strip)   # above the axes, not on the data
    assert not [t for t in ax.texts if "Remove layer" in t.get_text()]
    check_figure(fig, dataset_words=("Fashion-MNIST",))

# ---- accountable_accuracy, thesis_ch5_evolution -------------------------------------------------------

def _accountability_summaries(families=("MNIST", "FMNIST")):
    rng = np.random.default_rng(1)
    deltas = (0.002, 0.0025, 0.003)
    summ = {}
    for fam in families:
        for h in (1, 2, 4):
            accs = list(0.8 + 0.02 * rng.random(6))
            summ[f"{fam}-{h}"] = {
                "restart_accuracies": accs, "seconds_per_iteration": 0.1 * h,
                "asa": {d: {"gain": 0.01 * rng.random(), "restart_expected_gain": 0.01 * rng.random(),
                            "curve": list(np.maximum.accumulate(0.01 * rng.random(4)) * [0, 1, 1, 1]),
                            "seconds": 0.4 * h} for d in deltas}}
    return summ, deltas


def test_accountability_fig4_shows_the_papers_gains_and_no_legend_on_the_restart_lines():
    ch = chapter("accountable_accuracy")
    summ, deltas = _accountability_summaries()
    fig = ch.fig_gain_vs_delta(summ, deltas, {"MNIST": "digits", "FMNIST": "fashion-mnist"}, "quick", n_trials=4)
    assert len(plot.artists(fig, plot.PAPER)) == 6          # one paper gain line per model (Sec. 6.2)
    check_figure(fig, dataset_words=("digits", "Fashion-MNIST"))


def test_accountability_fig5_marks_an_absent_fashion_mnist_panel():
    ch = chapter("accountable_accuracy")
    summ, _ = _accountability_summaries(("MNIST",))
    fig = ch.fig_gain_over_trials(summ, 0.0025, 4, {"MNIST": "digits"}, "quick", fig_no=5,
                                  absent={"FMNIST": "Fashion-MNIST files not found"})
    check_figure(fig, dataset_words=("digits",), absent=True)


def _ch5_inputs():
    rng = np.random.default_rng(2)
    sc = {"lambdas": (20, 80), "alphas": (0.5, 1.0), "batches": (8, 128), "rhos": (0.1, 0.2, 0.5),
          "table52_batches": (8, 128), "pcs": (0.0, 0.75), "reps": 3, "sigma": 0.03, "tau": 0.05}
    reps = lambda: list(0.7 + 0.1 * rng.random(3))  # noqa: E731
    return rng, sc, reps


def test_thesis_ch5_fig5_5_labels_every_curve_and_shows_the_thesis_medians():
    ch = chapter("thesis_ch5_evolution")
    rng, sc, reps = _ch5_inputs()
    g = np.arange(10, 110, 10)
    ea = [{"test_accuracy": 0.9 + 0.01 * k, "history": {"generation": list(g), "val_accuracy": list(np.linspace(
        0.2, 0.9, g.size))}} for k in range(3)]
    adam = [{"test_accuracy": 0.95, "history": {"step": [4, 8, 12], "val_accuracy": [0.5, 0.8, 0.9]}} for _ in range(3)]
    fig = ch.fig_final(ea, adam, "digits", "quick")
    right = fig.axes[1]   # the training curves
    labels = [line.get_label() for line in right.get_lines()]
    assert sum(lab.startswith("EA, repetition") for lab in labels) == 3
    assert sum(lab.startswith("Adam, repetition") for lab in labels) == 3
    assert len(plot.artists(right, plot.PAPER)) == 2          # the thesis' 97.6 % and 98.0 % as lines
    check_figure(fig, dataset_words=("digits",))


def test_thesis_ch5_fig5_2_shares_one_y_scale_and_fig5_3_keeps_the_legend_off_the_boxes():
    ch = chapter("thesis_ch5_evolution")
    rng, sc, reps = _ch5_inputs()
    r52 = {(lam, b, rho): reps() for lam in sc["lambdas"] for b in sc["table52_batches"] for rho in sc["rhos"]}
    fig = ch.fig_5_2(r52, sc, "digits", "quick")
    assert len({ax.get_ylim() for ax in fig.axes}) == 1
    check_figure(fig, dataset_words=("digits",))
    r53 = {(cx, pc, ctl): reps() for cx in ("uniform", "arithmetic") for pc in sc["pcs"] for ctl in ch.CONTROLS}
    check_figure(ch.fig_5_3(r53, sc, "digits", "quick"), dataset_words=("digits",))

# ---- thesis chapters 3, 6, 7, 8 ------------------------------------------------------------------

def _epochs(rng, n=7):
    return [{m: float(v) for m, v in zip(("accuracy", "sensitivity", "specificity", "f1", "precision", "recall"),
                                         rng.uniform(0.5, 0.9, 6))} for _ in range(n)]


def test_thesis_ch3_ablation_figure_shows_the_thesis_f1():
    ch = chapter("thesis_ch3_cnmc")
    rng = np.random.default_rng(0)
    curves = {k: [_epochs(rng) for _ in range(3)] for k in ("proposed", "NOROT", "NOSPECLR")}
    best_f1 = {k: list(rng.uniform(0.6, 0.8, 3)) for k in curves}
    fig = ch.fig_ablations(curves, best_f1, "fashion-mnist", "quick")
    assert len(plot.artists(fig, plot.PAPER)) >= 4 + 3       # a Table 3.2 line per metric panel, three bars
    check_figure(fig, dataset_words=("Fashion-MNIST", "C-NMC"))
    fig = ch.fig_best_run(_epochs(rng), list(rng.uniform(0.3, 0.5, 6)), "digits", "quick")
    check_figure(fig, dataset_words=("digits", "C-NMC"))


def test_thesis_ch6_fig_6_1_shows_table_6_2_and_an_absent_atari_run():
    ch = chapter("thesis_ch6_atari")
    log = [{"generation": 0, "used": 100.0}] + [
        {"generation": g, "used": 100.0 * (g + 1), "elite_eval_mean": 40.0 + g, "elite_eval_std": 3.0}
        for g in range(1, 4)]
    run = {"log": log, "final_mean": 60.0, "ensemble_mean": 40.0, "final_returns": [60.0] * 4}
    atari = {"game": "frostbite", "net": "small",
             "runs": {"baseline": run, "proposal": run, "random": {"final_mean": 30.0, "final_returns": [30.0] * 4}}}
    cfg = {"kappa": 1, "mu": 3, "lam": 10, "max_evals": 1}
    testbed = {"per_config": {k: {"recorded": [2.0, 3.0], "true": [-0.5, -0.4], "config": cfg}
                              for k in ("baseline", "proposal")}, "gap_mwu_p": 0.1}
    fig = ch.fig_6_1(atari, testbed, "frostbite", "quick")
    heights = sorted(round(p.get_height()) for p in plot.artists(fig, plot.PAPER) if hasattr(p, "get_height"))
    assert heights == [2455, 5140, 5547, 6440]                 # Table 6.2, Frostbite
    check_figure(fig, dataset_words=("Frostbite", "test bed"))
    fig = ch.fig_6_1(None, testbed, "frostbite", "quick", why_absent="Atari run skipped (--skip-atari)")
    check_figure(fig, dataset_words=("test bed",), absent=True)


def _ch7_progression(ch, reps=3, budget=8):
    rng = np.random.default_rng(1)
    return {"budget": budget, "checkpoints": [2, budget], "e": {"inheritance": 1, "baseline I": 1, "baseline II": 4},
            "curves": {a: [list(np.maximum.accumulate(rng.uniform(0, 1, budget + 1))) for _ in range(reps)]
                       for a in ch.ARMS},
            "test": {a: {"2": list(rng.uniform(50, 90, reps)), str(budget): list(rng.uniform(60, 95, reps))}
                     for a in ch.ARMS}}


def test_thesis_ch7_progression_shows_the_thesis_means_and_an_absent_data_set():
    ch = chapter("thesis_ch7_nas")
    fig = ch.fig_progression(_ch7_progression(ch), "digits", "quick")
    assert len(plot.artists(fig, plot.PAPER)) == 6               # three arms at two checkpoints (Table 7.1)
    check_figure(fig, dataset_words=("digits",))
    check_figure(ch.fig_blocks({a: [1, 2, 3] for a in ch.ARMS}, {a: 1 for a in ch.ARMS}, "digits", "quick"),
                 dataset_words=("digits",))
    fig = ch.fig_progression(None, "cifar-100", "paper", "CIFAR-100 absent")
    check_figure(fig, dataset_words=("CIFAR-100",), absent=True)


def test_thesis_ch8_accuracy_figure_shows_table_8_1_and_an_absent_experiment():
    ch = chapter("thesis_ch8_lws")
    rng = np.random.default_rng(2)
    curves = {m: {"iteration": [0, 100, 200], "pooled_error": rng.uniform(0.1, 0.9, (3, 3)).tolist()}
              for m in ch.METHODS}
    fig = ch.fig_accuracy(curves, "quick", "quick, 8×8", ["digits", "fashion-mnist"], "quick")
    heights = sorted(round(p.get_height(), 2) for p in plot.artists(fig, plot.PAPER) if hasattr(p, "get_height"))
    assert heights == [85.84, 87.2, 88.17]                       # 100 − Table 8.1 (DKL-MNIST)
    check_figure(fig, dataset_words=("digits", "Fashion-MNIST"))
    check_figure(ch.fig_sharing([[0.4, 0.2, 0.4], [1, 0, 0]], ["conv1", "conv2"], "quick", "quick, 8×8",
                                ["digits"], "quick"), dataset_words=("digits",))
    fig = ch.fig_accuracy(None, "cifar100-resnet18", "CIFAR-100 ResNet18", ch.data_names("cifar100-resnet18", ()),
                          "paper", "CIFAR-100 absent")
    check_figure(fig, dataset_words=("CIFAR-100",), absent=True)


def test_interval_fig8_when_cifar10_is_absent_says_so():
    ch = chapter("interval_significance")
    fig = ch.fig_cifar10_input({}, "paper", absent={"cifar-10": "not found (searched /x)"})
    assert plot.artists(fig, plot.ABSENT)
    assert "none (CIFAR-10 absent) · paper scale" in plot.artists(fig, plot.DATA_LABEL)[0].get_text()
    plot.pyplot().close(fig)


def test_deferred_figures_are_drawn_only_when_saved(tmp_path):
    """plotting.Deferred: nothing is drawn or written until save_all (a chapter calls it after
    results.json), then every figure and writer runs once, in order, with the arguments given."""
    calls = []

    def make(value, label=""):
        calls.append(("make", value, label))
        fig, ax = plot.subplots()
        ax.plot([0, 1], [value, value])
        return fig

    def write(path):
        calls.append(("write", path.name))
        path.write_text("x")

    figs = plot.Deferred()
    assert figs.add(tmp_path / "a.png", make, 1.0, label="first") == tmp_path / "a.png"
    figs.add_writer(write, tmp_path / "b.txt")
    figs.add(tmp_path / "c.png", make, 2.0)
    assert len(figs) == 3 and calls == [] and list(tmp_path.iterdir()) == []
    figs.save_all()
    assert calls == [("make", 1.0, "first"), ("write", "b.txt"), ("make", 2.0, "")]
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "c.png").exists()
    assert len(figs) == 0 and figs.save_all() == []
