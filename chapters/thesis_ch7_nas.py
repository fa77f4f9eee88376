"""Lamarckian evolution of convolutional networks (document `thesis`: Prellberg, PhD thesis,
Oldenburg 2020, chapter 7; Prellberg & Kramer, PPSN 2018). No public code exists.

Runs Algorithm 4, the (1+1)-EA with niching (ω = 0.1, k = 5) over stacks of conv blocks, in the
three arms of Sec. 7.4.1 — weight inheritance with e = 4 epochs per evaluation, baseline I without
inheritance (all weights re-initialised after each mutation) with e = 4, baseline II without
inheritance with e = 16 — on a budget of n training epochs (niching included), keeps the best
solution at n/4 and n, trains each of those 30 more epochs and measures its test accuracy.

Reproduces
  * Tables 7.1 / 7.2 — test accuracy min / mean ± std / max at both checkpoints per arm, beside
    the thesis's numbers;
  * Figs. 7.3–7.6 — best validation accuracy so far per repetition (dots) and its mean per epoch
    (lines), and the test accuracies at the checkpoints (fig7_progression_<data>.png);
  * Fig. 7.7 — mean number of blocks of the best genome over the run (fig7_7_blocks_<data>.png);
  * a drawing of the best architecture found (fig7_best_architecture_<data>.png);
  * the claims of Secs. 7.4.2–7.4.3 with one-sided Mann–Whitney U tests, each said to hold or not.

--scale quick (about 1.5–2 min on 2 quiet cores, two worker processes; 150 s of CPU time in all):
scikit-learn digits (8×8) — the 1,347 training images split 1,000 / 347 into D_train / D_val,
the 450 test images as D_test —; channels C/8 = {2, 4, 8, 12, 16, 24, 32} (K and S unchanged);
stride-2 limit 1 (at most log2(H/4) halvings: the thesis's 3 at 32×32); e = 1 / 1 / 4
(inheritance / baseline I / baseline II) and a budget of n = 32 epochs with checkpoints at 8 and
32 (the 128/512 ratio); Adam batch 128 (8 steps per epoch) at lr 1e-2 instead of 1e-3 (a thesis
epoch is 88 steps; the larger step leaves a network partly trained after one evaluation, as e = 4
does on CIFAR); final training 10 epochs (4 at lr 1e-2, 3 at 1e-3, 3 at 1e-4) instead of 30 (10
each at 1e-3, 1e-4, 1e-5); 5 repetitions (the smallest one-sided exact Mann–Whitney p with 5
against 5 is 0.004, so p < 0.01 can be reached). ``--dataset fashion-mnist`` runs the same on a
Fashion-MNIST subset at 14×14 (2×2 means; 1,000 / 300 / 1,000 images; stride-2 limit 2), the
thesis's own Fig. 7.6 data (slower).
--scale paper: CIFAR-10 and CIFAR-100 split 45,000 / 5,000 / 10,000, the full channel set, stride
limit 3, e = 4 / 4 / 16, n = 512, checkpoints 128 / 512, Adam lr 1e-3 batch 512, 30 final epochs,
20 repetitions; ``--dataset mnist|fashion-mnist``: Figs. 7.5/7.6, 10 repetitions, split 55,000 /
5,000 / 10,000 (the text gives none). Absent data sets are skipped with the reason. Every run
saves its state after each evaluation in OUT/runs/<data>-<hash of the settings>/ and resumes from it;
finished runs are cached there.
(CPU only: months to years.)
--scale paper on this 2-core machine: not runnable (CIFAR-10/100 absent: exit status 3); with
--dataset fashion-mnist ~10 s per batch-512 step at load 5 (≈ 5 s of CPU) for the first networks,
≥ 62,000 steps per run, 30 runs: ≥ 3 months (measured: progress bar of a 4-min run).
"""
from __future__ import annotations


import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy.stats import mannwhitneyu

from _cli import DataSets, Stopwatch, chapter_parser, output_dir, positive_int, print_table, run
from refimpl import data
from refimpl import plotting as plot
from refimpl.results import make_results, over_seeds, table, trained, write_atomic, write_results
from refimpl.thesis import nas
from refimpl.thesis.nas_space import SearchSpace, scaled_channels
from refimpl.train import evaluate

CHAPTER = "thesis_ch7"
ARMS = tuple(nas.ARMS)           # "inheritance", "baseline I", "baseline II"
ARM_COLORS = {"inheritance": "tab:red", "baseline I": "tab:blue", "baseline II": "tab:green"}

_T = ["inheritance", "e", "min n/4", "mean n/4", "std n/4", "max n/4", "min n", "mean n", "std n", "max n"]
PAPER = {
    "table_7_1_cifar10": table(_T, [["yes", 4, 79.1, 85.0, 2.4, 89.0, 83.3, 87.2, 1.5, 89.3],
                                    ["no", 4, 68.3, 77.6, 3.2, 81.8, 78.9, 82.3, 1.4, 84.2],
                                    ["no", 16, 32.5, 70.4, 12.6, 85.5, 76.6, 84.8, 3.1, 88.9]]),
    "table_7_2_cifar100": table(_T, [["yes", 4, 47.7, 55.3, 3.8, 61.1, 56.1, 60.7, 2.9, 66.1],
                                     ["no", 4, 31.7, 40.2, 3.8, 46.0, 39.8, 46.1, 3.0, 52.2],
                                     ["no", 16, 25.9, 41.4, 10.3, 57.7, 46.6, 56.7, 4.5, 63.0]]),
    "checkpoints": [128, 512], "repetitions": {"cifar": 20, "mnist/fashion-mnist": 10},
    "claims": {
        "inheritance at n/4 > baseline I at n": "p < 0.01 on CIFAR-10 and CIFAR-100",
        "inheritance at n/4 vs baseline II at n": "no significant difference",
        "inheritance at n > baseline II at n": "p < 0.01 on CIFAR-10 and CIFAR-100",
        "baseline I ahead of baseline II early, then the curves cross": "both CIFARs; earlier on CIFAR-100",
        "genome length (Fig. 7.7, CIFAR-100)": "inheritance and baseline II about 7 blocks, baseline I about 6",
        "MNIST / Fashion-MNIST (Figs. 7.5-7.6)": "marginal gains, never worse",
    },
    "best_cifar100_test_accuracy": 66.1,
}
PAPER_TABLE = {"cifar-10": "table_7_1_cifar10", "cifar-100": "table_7_2_cifar100"}
FIGURE = {"cifar-10": "Fig. 7.3", "cifar-100": "Fig. 7.4", "mnist": "Fig. 7.5", "fashion-mnist": "Fig. 7.6",
          "digits": "as Figs. 7.5/7.6"}

SCALES = {
    "quick": dict(datasets=("digits",), reps=5, channel_divisor=8, budget=32, checkpoints=(8, 32),
                  e={"inheritance": 1, "baseline I": 1, "baseline II": 4}, batch_size=128, lr=1e-2,
                  final=((4, 1e-2), (3, 1e-3), (3, 1e-4)), final_batch=128, jobs=2,
                  sizes={"digits": (1000, 347, 450), "fashion-mnist": (1000, 300, 1000), "mnist": (1000, 300, 1000)}),
    "paper": dict(datasets=("cifar-10", "cifar-100"), reps=20, channel_divisor=1, budget=512, checkpoints=(128, 512),
                  e={"inheritance": 4, "baseline I": 4, "baseline II": 16}, batch_size=512, lr=1e-3,
                  final=nas.FINAL_SCHEDULE, final_batch=512, jobs=1,
                  sizes={"cifar-10": (45000, 5000, 10000), "cifar-100": (45000, 5000, 10000),
                         "mnist": (55000, 5000, 10000), "fashion-mnist": (55000, 5000, 10000)}),
}

_DATA: dict = {}   # data set name -> arrays; set before the worker processes are forked


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------

def load_data(name: str, scale: str, seed: int) -> tuple[dict, str]:
    """Arrays x/y for train, val and test, plus a one-line description."""
    n_tr, n_val, n_te = SCALES[scale]["sizes"][name]
    if name == "digits":
        ds = data.load_digits(seed=seed)
    else:
        ds = data.load_dataset(name)          # DatasetNotFoundError when absent
        if scale == "quick":
            ds = data.subsample(ds, n_tr + n_val, n_te, seed=seed)
            pool = lambda a: a.reshape(a.shape[0], a.shape[1], a.shape[2] // 2, 2, a.shape[3] // 2, 2).mean(axis=(3, 5))  # noqa: E731
            ds = type(ds)(pool(ds.x_train), ds.y_train, pool(ds.x_test), ds.y_test, ds.name, ds.classes, ds.source)
    x_tr, y_tr, x_val, y_val = data.train_val_split(ds.x_train, ds.y_train, n_val / len(ds.y_train), seed=seed,
                                                    stratify=True)
    d = {"x_tr": x_tr.astype(np.float32), "y_tr": y_tr, "x_val": x_val.astype(np.float32), "y_val": y_val,
         "x_te": ds.x_test.astype(np.float32), "y_te": ds.y_test, "n_classes": ds.n_classes}
    desc = (f"{name}: {x_tr.shape[2]}×{x_tr.shape[3]}×{x_tr.shape[1]}, D_train {len(y_tr)}, D_val {len(y_val)}, "
            f"D_test {len(ds.y_test)}, {ds.n_classes} classes, pixels in [0, 1]")
    return d, desc


# ------------------------------------------------------------------------------------------
# One run: Algorithm 4 in one arm, then the final training of its checkpoints
# ------------------------------------------------------------------------------------------

def make_space(d: dict, sc: dict) -> SearchSpace:
    return SearchSpace(d["x_tr"].shape[1:], d["n_classes"], channels=scaled_channels(sc["channel_divisor"]))


def run_one(task: tuple) -> dict:
    name, arm, rep, scale, seed, run_dir, progress = task
    try:  # one BLAS thread per process: the matrices are small and the worker processes share the cores
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass
    sc = SCALES[scale]
    done_file = os.path.join(run_dir, f"{name}_{arm.replace(' ', '_')}_rep{rep}.json") if run_dir else None
    if done_file and os.path.exists(done_file):
        with open(done_file) as f:
            return json.load(f)
    t0 = time.perf_counter()
    d = _DATA[name]
    space = make_space(d, sc)
    cfg = nas.NASConfig.arm(arm, epochs_per_eval=sc["e"][arm], budget=sc["budget"], checkpoints=sc["checkpoints"],
                            batch_size=sc["batch_size"], lr=sc["lr"])
    evaluator = nas.FitEvaluator(d["x_tr"], d["y_tr"], d["x_val"], d["y_val"], batch_size=sc["batch_size"],
                                 lr=sc["lr"], progress=progress)
    ckpt = os.path.join(run_dir, f"{name}_{arm.replace(' ', '_')}_rep{rep}.npz") if run_dir else None
    st = nas.run(space, cfg, evaluator, [seed, rep], checkpoint=ckpt)
    t_search = time.perf_counter() - t0
    checkpoints = {}
    for c, sol in sorted(st.checkpoints.items()):
        params, state = nas.final_training(space, sol, d["x_tr"], d["y_tr"], schedule=sc["final"],
                                           batch_size=sc["final_batch"], seed=[seed, rep, c], progress=progress)
        test = evaluate(space.phenotype(sol.genotype), params, d["x_te"], d["y_te"], state=state)["accuracy"]
        checkpoints[str(c)] = {"val_accuracy": sol.fitness, "test_accuracy": float(test), "blocks": len(sol.genotype),
                               "genotype": [list(b) for b in sol.genotype], "found_at_epoch": sol.epoch}
    curve = nas.best_curve(st, sc["budget"])
    blocks = np.full(sc["budget"] + 1, np.nan)
    blocks[0] = 1
    for r in st.log:
        blocks[r["epoch"]] = r["best_blocks"]
    for t in range(1, len(blocks)):
        blocks[t] = blocks[t - 1] if np.isnan(blocks[t]) else blocks[t]
    out = {"dataset": name, "arm": arm, "rep": rep, "curve": curve.tolist(), "best_blocks": blocks.tolist(),
           "evaluations": st.n_evaluations, "niching_evaluations": sum(r["niching"] for r in st.log),
           "evaluated_blocks_mean": float(np.mean([r["blocks"] for r in st.log])),
           "checkpoints": checkpoints, "epochs_used": st.epochs, "search_seconds": t_search,
           "total_seconds": time.perf_counter() - t0}
    if done_file:
        write_atomic(done_file, json.dumps(out))
        if os.path.exists(ckpt):
            os.remove(ckpt)
    return out


def run_all_arms(name: str, scale: str, seed: int, reps: int, jobs: int, run_dir, progress) -> list[dict]:
    # the inheritance runs grow the deepest networks: start them first so the workers finish together
    tasks = [(name, arm, rep, scale, seed, run_dir, progress) for arm in ARMS for rep in range(reps)]
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [run_one(t) for t in tasks]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(run_one, tasks))


# ------------------------------------------------------------------------------------------
# Statistics and claims
# ------------------------------------------------------------------------------------------

def mwu(a, b, alternative="greater") -> float | None:
    """One-sided (default) Mann–Whitney U p-value for 'a is stochastically greater than b'."""
    if len(a) < 1 or len(b) < 1:
        return None
    if len(set(a) | set(b)) == 1:
        return 1.0          # all values equal: no evidence either way
    return float(mannwhitneyu(a, b, alternative=alternative).pvalue)


def test_acc(runs, arm, c) -> list[float]:
    return [100 * r["checkpoints"][str(c)]["test_accuracy"] for r in runs if r["arm"] == arm]


def table_rows(runs, sc) -> list[list]:
    c1, c2 = sc["checkpoints"]
    rows = []
    for arm in ARMS:
        row = ["yes" if nas.ARMS[arm][0] else "no", sc["e"][arm]]
        for c in (c1, c2):
            v = np.array(test_acc(runs, arm, c))
            row += [float(v.min()), float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, float(v.max())]
        rows.append(row)
    return rows


def mean_curves(runs, key="curve") -> dict[str, np.ndarray]:
    return {arm: np.mean([r[key] for r in runs if r["arm"] == arm], axis=0) for arm in ARMS}


def claims(runs, sc, name) -> tuple[list[str], dict]:
    """One line per claim of Secs. 7.4.2–7.4.3, measured here, and the numbers behind it."""
    c1, c2 = sc["checkpoints"]
    inh1, inh2 = test_acc(runs, "inheritance", c1), test_acc(runs, "inheritance", c2)
    b1, b2 = test_acc(runs, "baseline I", c2), test_acc(runs, "baseline II", c2)
    b1_early, b2_early = test_acc(runs, "baseline I", c1), test_acc(runs, "baseline II", c1)
    m = {k: float(np.mean(v)) for k, v in (("inh_n4", inh1), ("inh_n", inh2), ("bI_n", b1), ("bII_n", b2),
                                            ("bI_n4", b1_early), ("bII_n4", b2_early))}
    p = {"inh_n4>bI_n": mwu(inh1, b1), "inh_n>bII_n": mwu(inh2, b2), "inh_n4!=bII_n": mwu(inh1, b2, "two-sided"),
         "inh_n4>bI_n4": mwu(inh1, b1_early), "inh_n>bI_n": mwu(inh2, b1)}
    curves = mean_curves(runs)
    blocks = mean_curves(runs, "best_blocks")
    diff = curves["baseline I"] - curves["baseline II"]
    e2 = sc["e"]["baseline II"]
    early = diff[e2:c1 + 1]           # from baseline II's first evaluation up to the first checkpoint
    ahead_early = bool(np.mean(early) > 0)
    cross = next((t for t in range(e2, len(diff)) if diff[t - 1] > 0 >= diff[t] and np.all(diff[t:] <= 0)), None) \
        if ahead_early else None
    fb = {arm: float(blocks[arm][-1]) for arm in ARMS}

    def sig(pv):
        return "p < 0.01" if pv is not None and pv < 0.01 else f"p = {pv:.3g}" if pv is not None else "p n/a"
    lines = [
        f"inheritance at n/4 ≥ baseline I at n (thesis: significantly higher, p < 0.01): {m['inh_n4']:.1f} vs "
        f"{m['bI_n']:.1f} %, one-sided MWU {sig(p['inh_n4>bI_n'])} — "
        + ("holds" if m["inh_n4"] >= m["bI_n"] and p["inh_n4>bI_n"] < 0.01 else
           "holds in the mean, not significant" if m["inh_n4"] >= m["bI_n"] else "does NOT hold"),
        f"inheritance at n ≥ baseline II at n (thesis: significantly higher, p < 0.01): {m['inh_n']:.1f} vs "
        f"{m['bII_n']:.1f} %, one-sided MWU {sig(p['inh_n>bII_n'])} — "
        + ("holds" if m["inh_n"] >= m["bII_n"] and p["inh_n>bII_n"] < 0.01 else
           "holds in the mean, not significant" if m["inh_n"] >= m["bII_n"] else "does NOT hold"),
        f"inheritance at n/4 about equal to baseline II at n (thesis: no significant difference): {m['inh_n4']:.1f} "
        f"vs {m['bII_n']:.1f} %, two-sided MWU p = {p['inh_n4!=bII_n']:.3g} — "
        + (("holds" if abs(m["inh_n4"] - m["bII_n"]) < 2 else
            f"no significant difference, but the means differ by {abs(m['inh_n4'] - m['bII_n']):.1f} points "
            f"(wide spread)") if p["inh_n4!=bII_n"] >= 0.05 else "does NOT hold (significant difference)"),
        f"inheritance never worse than baseline I (mean test accuracy at n/4 and n): {m['inh_n4']:.1f} / "
        f"{m['inh_n']:.1f} vs {m['bI_n4']:.1f} / {m['bI_n']:.1f} % — "
        + ("holds" if m["inh_n4"] >= m["bI_n4"] and m["inh_n"] >= m["bI_n"] else "does NOT hold"),
        f"baseline I ahead of baseline II early, then the curves cross (thesis, Sec. 7.4.3): mean best validation "
        f"accuracy difference I − II over epochs {e2}..{c1} = {100 * float(np.mean(early)):+.1f} points; "
        + (f"crossing at epoch {cross} — holds" if cross is not None else
           "ahead early, but no crossing within the budget — holds in part" if ahead_early else
           "baseline I not ahead early — does NOT hold"),
        f"deeper genomes with inheritance and baseline II than with baseline I (thesis, Fig. 7.7: about 7, 7, 6 "
        f"blocks): mean blocks of the best genome at n {fb['inheritance']:.1f} / {fb['baseline II']:.1f} / "
        f"{fb['baseline I']:.1f} — "
        + ("holds" if fb["inheritance"] > fb["baseline I"] and fb["baseline II"] > fb["baseline I"] else
           "holds in part" if fb["inheritance"] > fb["baseline I"] or fb["baseline II"] > fb["baseline I"]
           else "does NOT hold"),
    ]
    numbers = {"means_percent": m, "p_values": p, "crossing_epoch": cross, "baseline_I_ahead_early": ahead_early,
               "final_best_blocks": fb}
    return lines, numbers


# ------------------------------------------------------------------------------------------
# Figures: each takes plain data (lists and dicts as in results.json) and returns the Figure
# ------------------------------------------------------------------------------------------

def _paper_means(name):
    """The thesis' mean test accuracies (%) per arm at its two checkpoints, and the label that says whence."""
    key = PAPER_TABLE.get(name, "table_7_1_cifar10")
    rows = PAPER[key]["rows"]
    where = "Table 7.2, CIFAR-100" if key.endswith("100") else "Table 7.1, CIFAR-10"
    label = f"paper mean ({where}, at 128 / 512 epochs)"
    if name not in PAPER_TABLE:
        label += ": other data, for reference"
    return {arm: (row[3], row[7]) for arm, row in zip(ARMS, rows)}, label


def progression_data(runs, sc) -> dict:
    """The plain data of :func:`fig_progression` from the runs of one data set."""
    return {"budget": sc["budget"], "checkpoints": list(sc["checkpoints"]), "e": dict(sc["e"]),
            "curves": {arm: [list(r["curve"]) for r in runs if r["arm"] == arm] for arm in ARMS},
            "test": {arm: {str(c): test_acc(runs, arm, c) for c in sc["checkpoints"]} for arm in ARMS}}


def fig_progression(prog, name, scale, why_absent=None):
    """Figs. 7.3–7.6: best validation accuracy so far per repetition (dots) and its mean (lines) over the
    training epochs, and the test accuracy after final training at both checkpoints beside the thesis' means.

    ``prog`` (see :func:`progression_data`): ``budget`` (epochs), ``checkpoints`` [n/4, n], ``e`` {arm: epochs per
    evaluation}, ``curves`` {arm: [[accuracy in [0, 1] per epoch 0..budget] per repetition]}, ``test`` {arm:
    {checkpoint: [test accuracy % per repetition]}}. ``prog`` None: the data set was absent (``why_absent``); the
    left panel says so and the right one shows the thesis' values alone.
    """
    fig, (ax, bx) = plot.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2.0, 1.2]})
    paper, paper_label = _paper_means(name)
    if prog is None:
        plot.absent_panel(ax, why_absent or f"{name} absent")
        checkpoints = PAPER["checkpoints"]
    else:
        checkpoints = prog["checkpoints"]
        epochs = np.arange(prog["budget"] + 1)
        for arm in ARMS:
            curves = 100 * np.array(prog["curves"][arm])
            for c in curves:
                ax.scatter(epochs, c, s=4, alpha=0.3, color=ARM_COLORS[arm], linewidths=0)
            ax.plot(epochs, curves.mean(0), color=ARM_COLORS[arm], label=f"{arm} (e = {prog['e'][arm]}), ours")
        for c in checkpoints:
            ax.axvline(c, color="gray", lw=0.6, ls=":")
        ax.set(xlabel="total training epochs (checkpoints dotted)", ylabel="best validation accuracy so far (%)",
               xlim=(0, prog["budget"]), title="mean (lines) and repetitions (dots)")
    pos, labels, short = [], [], {"inheritance": "inherit.", "baseline I": "base I", "baseline II": "base II"}
    for i, c in enumerate(checkpoints):
        for j, arm in enumerate(ARMS):
            x = i * 4 + j
            if prog is not None:
                v = np.array(prog["test"][arm][str(c)])
                bx.boxplot([v], positions=[x], widths=0.7, whis=(0, 100), patch_artist=True,
                           boxprops={"facecolor": ARM_COLORS[arm], "alpha": 0.4}, medianprops={"color": "k"})
                bx.errorbar([x], [v.mean()], yerr=[v.std(ddof=1) if len(v) > 1 else 0], fmt="o", color="k", ms=3,
                            capsize=3, label="ours: mean ± 1 std (box: range, quartiles)")
            plot.paper_points(bx, x, paper[arm][i], marker="D", label=paper_label)
            pos.append(x)
            labels.append(short[arm])
    bx.set_xticks(pos, labels, fontsize=7)
    bx.set(xlabel=f"arm at n/4 = {checkpoints[0]} (left) and n = {checkpoints[1]} (right) total training epochs",
           ylabel="test accuracy after final training (%)", title="test accuracy at the checkpoints")
    plot.legend_outside(fig, ncol=3)
    fig.suptitle(f"{FIGURE.get(name, '')} ({plot.dataset_title(name)}): EA with weight inheritance vs. baselines")
    reps = len(prog["curves"][ARMS[0]]) if prog is not None else 0
    plot.data_label(fig, name, scale, f"{reps} repetitions per arm" if prog is not None else "not run")
    fig.tight_layout()
    return fig


def fig_blocks(blocks, e, name, scale):
    """Fig. 7.7: mean number of blocks of the best genome over the run; ``blocks`` is {arm: [mean blocks per epoch
    0..budget]}, ``e`` {arm: epochs per evaluation}. The thesis' end values on CIFAR-100 (≈7, ≈7, ≈6) are drawn."""
    fig, ax = plot.subplots(figsize=(8, 3.6))
    for arm in ARMS:
        ax.plot(np.arange(len(blocks[arm])), blocks[arm], color=ARM_COLORS[arm], label=f"{arm} (e = {e[arm]}), ours")
    plot.paper_hline(ax, 7, label="paper Fig. 7.7 (CIFAR-100): ≈ 7 blocks, inheritance and baseline II")
    plot.paper_hline(ax, 6, linestyle=":", label="paper Fig. 7.7 (CIFAR-100): ≈ 6 blocks, baseline I")
    ax.set(xlabel="total training epochs", ylabel="blocks in the best genome (mean)",
           ylim=(0, max(8, max(max(b) for b in blocks.values()) + 1)),
           title="Fig. 7.7: genome length over the run, mean over repetitions")
    plot.legend_outside(ax)
    plot.data_label(fig, name, scale, "thesis values: CIFAR-100, 512 epochs" if name != "cifar-100" else None)
    fig.tight_layout()
    return fig


def fig_architecture(best, name, n_classes, scale):
    """A drawing of the best architecture found: ``best`` holds ``genotype`` ([(channels, kernel, stride) per
    block]), ``arm``, ``rep``, ``checkpoint`` (epochs) and ``test_accuracy`` in [0, 1]. The thesis' best CIFAR-100
    network (66.1 % test accuracy, Sec. 7.4.2) and its typical depth (Fig. 7.7) are quoted beside it."""
    plt = plot.pyplot()
    g = best["genotype"]
    labels = ["input"] + [f"conv {ch}, {k}×{k}, stride {s}\nbatch norm, ReLU" for ch, k, s in g] + \
             ["global average pooling", f"dense {n_classes}"]
    fig, ax = plot.subplots(figsize=(4.6, 0.62 * len(labels) + 1.4))
    for i, text in enumerate(labels):
        y = len(labels) - 1 - i
        block = 0 < i <= len(g)
        ax.add_patch(plt.Rectangle((0.05, y * 1.0 + 0.1), 0.9, 0.75, facecolor="lightgray" if block else "white",
                                   edgecolor="k"))
        ax.text(0.5, y + 0.475, text, ha="center", va="center", fontsize=7)
        if i < len(labels) - 1:
            ax.annotate("", xy=(0.5, y + 0.1 - 0.25 + 0.1), xytext=(0.5, y + 0.1), arrowprops={"arrowstyle": "->"})
    ax.set(xlim=(0, 1), ylim=(0, len(labels)))
    ax.axis("off")
    ax.set_title(f"best architecture ({plot.dataset_title(name)}, {best['arm']}, rep {best['rep']}):\n"
                 f"{len(g)} blocks, test accuracy {100 * best['test_accuracy']:.1f} % after {best['checkpoint']} "
                 f"epochs", fontsize=8)
    fig.text(0.5, 0.045, f"paper: best CIFAR-100 network {PAPER['best_cifar100_test_accuracy']} % test accuracy "
                         "after 512 epochs (Sec. 7.4.2);\nbest genomes ≈ 7 blocks (Fig. 7.7)", ha="center",
             va="bottom", fontsize=7, gid=plot.PAPER)
    plot.data_label(fig, name, scale)
    fig.subplots_adjust(bottom=0.14)
    return fig


def figures(figs, out, runs, sc, name, n_classes, scale):
    """Add the progression, Fig. 7.7 and the best architecture of data set ``name`` (files in
    ``out``) to ``figs`` (a :class:`refimpl.plotting.Deferred`)."""
    c2 = sc["checkpoints"][1]
    best = max(runs, key=lambda r: r["checkpoints"][str(c2)]["test_accuracy"])
    figs.add(out / f"fig7_progression_{name}.png", fig_progression, progression_data(runs, sc), name, scale)
    blocks = mean_curves(runs, "best_blocks")
    figs.add(out / f"fig7_7_blocks_{name}.png", fig_blocks, {a: blocks[a].tolist() for a in ARMS}, sc["e"], name,
             scale)
    figs.add(out / f"fig7_best_architecture_{name}.png", fig_architecture,
             {**best["checkpoints"][str(c2)], "arm": best["arm"], "rep": best["rep"], "checkpoint": c2}, name,
             n_classes, scale)


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------

def fmt_row(row) -> list:
    inh, e, mn1, mu1, sd1, mx1, mn2, mu2, sd2, mx2 = row
    return [inh, e, f"{mn1:.1f}", f"{mu1:.1f} ± {sd1:.1f}", f"{mx1:.1f}", f"{mn2:.1f}", f"{mu2:.1f} ± {sd2:.1f}",
            f"{mx2:.1f}"]


def main(argv=None):
    parser = chapter_parser(__doc__, chapter=CHAPTER,
                            datasets=("digits", "fashion-mnist", "mnist", "cifar-10", "cifar-100"),
                            gpu_note=" (training uses autograd, which runs on the CPU only)")
    parser.add_argument("--reps", type=positive_int, default=None, help="repetitions per arm (default: the scale's)")
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help="worker processes (default: 2 at quick scale, 1 at paper scale)")
    args = parser.parse_args(argv)
    sw = Stopwatch()
    sc = SCALES[args.scale]
    jobs = args.jobs or sc["jobs"]
    names = (args.dataset,) if args.dataset else sc["datasets"]
    # Figs. 7.5/7.6 (MNIST, Fashion-MNIST) used 10 repetitions
    reps = args.reps or (10 if args.scale == "paper" and not names[0].startswith("cifar") else sc["reps"])
    if args.scale == "quick" and any(n.startswith("cifar") for n in names):
        parser.error("argument --dataset: CIFAR runs only at --scale paper")
    if args.scale == "paper" and "digits" in names:
        parser.error("argument --dataset: digits is the quick-scale stand-in; use --scale quick")
    notes, metrics, tables, descs, dsets = [], {}, {}, {}, DataSets()
    loaded, absent = {}, {}
    for name in names:
        try:
            loaded[name] = load_data(name, args.scale, args.seed)
            dsets.use(name)
        except data.DatasetNotFoundError as e:
            absent[name] = dsets.skip(name, e)
            notes.append(f"{name} skipped: {absent[name]}")
    if not loaded:
        return dsets.nothing_ran()
    out = output_dir(args)
    figs = plot.Deferred()      # drawn after results.json is written
    for name in absent:     # the figure says the data set was absent, beside the thesis' values
        figs.add(out / f"fig7_progression_{name}.png", fig_progression, None, name, args.scale,
                 f"{plot.dataset_title(name)} absent: files not found\n(get them with `refimpl data get {name}`)")
    for name, (d, desc) in loaded.items():
        _DATA[name] = d
        descs[name] = desc
        space = make_space(d, sc)
        print(f"{desc}\nsearch space: C = {space.channels}, K = {space.kernels}, S = {space.strides}, at most "
              f"{space.max_stride2} strided block(s); {reps} repetitions × {len(ARMS)} arms, {jobs} process(es)",
              flush=True)
        run_dir = None
        if args.scale == "paper":    # one folder per settings: a changed setting never reuses old runs
            key = json.dumps([desc, args.seed, {k: v for k, v in sc.items() if k not in ("jobs", "reps", "datasets")}],
                             sort_keys=True, default=str)
            run_dir = str(out / "runs" / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}")
            os.makedirs(run_dir, exist_ok=True)
        runs = run_all_arms(name, args.scale, args.seed, reps, jobs, run_dir, args.progress)
        print(f"[{float(sw):.0f}s] {name}: {len(runs)} runs done", flush=True)
        rows = table_rows(runs, sc)
        c1, c2 = sc["checkpoints"]
        key = PAPER_TABLE.get(name, "table_7_1_cifar10")
        paper_rows = PAPER[key]["rows"]
        tname = f"table_7_{'2' if name == 'cifar-100' else '1'}_{name}"
        tables[tname] = table(_T, rows, key=["inheritance", "e"], dataset=name,
                              tolerance=over_seeds(10.0, what="test accuracy % over a few repetitions"))
        dsets.label(f"metrics/{name}", name)
        cols = ["inheritance", "e", f"min {c1}", f"mean {c1}", f"max {c1}", f"min {c2}", f"mean {c2}", f"max {c2}"]
        print_table(f"Table 7.{'2' if name == 'cifar-100' else '1'} format — test accuracy (%) on {name} after "
                    f"final training, checkpoints at {c1} / {c2} epochs, {reps} repetitions",
                    cols, [fmt_row(r) for r in rows])
        print_table(f"thesis, {'Table 7.2 (CIFAR-100)' if key.endswith('100') else 'Table 7.1 (CIFAR-10)'}, "
                    f"checkpoints at 128 / 512 epochs, 20 repetitions"
                    + ("" if name in PAPER_TABLE else " — other data, for reference only"),
                    ["inheritance", "e", "min 128", "mean 128", "max 128", "min 512", "mean 512", "max 512"],
                    [fmt_row(r) for r in paper_rows])
        lines, numbers = claims(runs, sc, name)
        print(f"\nClaims of Secs. 7.4.2–7.4.3 on {name} (measured here):\n  " + "\n  ".join(lines))
        best = max(runs, key=lambda r: r["checkpoints"][str(c2)]["test_accuracy"])
        figures(figs, out, runs, sc, name, d["n_classes"], args.scale)
        curves, blocks = mean_curves(runs), mean_curves(runs, "best_blocks")
        metrics[name] = {
            "claims": lines, **numbers,
            "mean_best_val_curve": {a: curves[a].tolist() for a in ARMS},
            "mean_best_blocks_curve": {a: blocks[a].tolist() for a in ARMS},
            "best_architecture": {"arm": best["arm"], "rep": best["rep"], **best["checkpoints"][str(c2)]},
            "runs": [{k: v for k, v in r.items() if k not in ("curve", "best_blocks")} for r in runs],
            "evaluations_mean": {a: float(np.mean([r["evaluations"] for r in runs if r["arm"] == a])) for a in ARMS},
            "seconds_per_run_mean": {a: float(np.mean([r["total_seconds"] for r in runs if r["arm"] == a]))
                                     for a in ARMS},
        }
    if args.scale == "quick":
        notes.append("quick-scale reductions (each named in the script's docstring): digits 8×8 instead of CIFAR; "
                     "D_train/D_val/D_test 1,000/347/450; channels C/8 = {2, 4, 8, 12, 16, 24, 32}; stride-2 limit "
                     "1 for 8×8 inputs (the thesis: 3 for 32×32; the rule: halvings that keep the map ≥ 4×4); "
                     "e = 1/1/4 instead of 4/4/16; budget n = 32 epochs, checkpoints 8 and 32 instead of 128 "
                     "and 512; Adam batch 128 at lr 1e-2 instead of batch 512 at 1e-3; final training 10 "
                     "epochs (4 at 1e-2, 3 at 1e-3, 3 at 1e-4) instead of 30 (10 each at 1e-3, 1e-4, 1e-5); "
                     f"{reps} repetitions instead of 20. The thesis's CIFAR numbers are shown for reference only.")
    notes.append("readings (docs/thesis.md): forced novelty redraws every mutation from the parent; k_(i+1) is "
                 "re-initialised as Eqs. 7.4–7.6 say (not only on a change of shape); the output layer is copied "
                 "unless c_n changes; the untrained initial network's V is the first comparison value; each "
                 "evaluation starts a fresh Adam; the best solution so far is the checkpoint; final training "
                 "continues from the checkpoint's weights on D_train; arms of one repetition share the initial "
                 "solution (same seed)")
    config = {"scale": args.scale, "seed": args.seed, "datasets": list(names), "reps": reps, "jobs": jobs,
              "data": descs, **{k: v for k, v in sc.items() if k not in ("datasets", "reps", "jobs", "sizes")},
              "niching_rate": nas.NASConfig().niching_rate, "niching_depth": nas.NASConfig().niching_depth,
              "reinit": "equations", "novelty": "redraw"}
    res = make_results(document="thesis", experiment="ch7 Lamarckian NAS with weight inheritance "
                       "(Algorithm 4, Tables 7.1-7.2, Figs. 7.3-7.7)", scale=args.scale, config=config,
                       seeds=[args.seed], metrics=metrics, tables=tables, paper=PAPER, notes=notes,
                       elapsed_seconds=float(sw), datasets=dsets.report(),
                       free_text=["metrics/*/claims"],
                       tolerances={"metrics": trained(0.05, what="accuracies after float32 training"),
                                   "metrics/*/mean_*": over_seeds(0.1, what="means over repetitions"),
                                   "metrics/*/means_percent": over_seeds(10.0, what="mean accuracies in percent "
                                                                                    "over 5 repetitions"),
                                   "metrics/*/p_values": over_seeds(0.5, what="Mann-Whitney p over 5 repetitions")})
    write_results(out / "results.json", res)
    figs.save_all()                                  # after the results: a figure cannot lose them
    print("\nNotes:\n  " + "\n  ".join(notes))
    print(f"\nwrote {out / 'results.json'} and the figures ({float(sw):.0f} s)")


if __name__ == "__main__":
    run(main)
