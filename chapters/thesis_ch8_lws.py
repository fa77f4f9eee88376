"""Learned weight sharing for multi-task learning by NES and Monte Carlo SGD (document `thesis`:
Prellberg, PhD thesis, Oldenburg 2020, chapter 8; the IJCNN 2020 paper and its code
learned-weight-sharing).

Reproduces
  * Table 8.1 — test error of full sharing, no sharing and learned sharing (LWS), mean ± std over
    repetitions, one-sided Mann–Whitney U tests, the parameter count of every argmax configuration;
  * Table 8.2 (CIFAR-100, routing-network ConvNet) and Table 8.3 (Omniglot, soft-layer-ordering
    ConvNet) at paper scale;
  * Fig. 8.3 — test accuracy against iterations (fig8_3_test_accuracy.png);
  * Fig. 8.4 — for each shareable layer, the share of tasks whose weights are shared by exactly t
    tasks, over repetitions (fig8_4_sharing.png; Fig. 8.5 for Omniglot ResNet-18 at paper scale);
  * the mean entropy of the search distribution over iterations (fig8_entropy.png);
  * the cost of the Monte Carlo gradient: λ_θ samples batched in one pass vs a loop over samples,
    relative to a baseline step.

--scale quick (≈ 2 min on a quiet 2-core machine; 5 min on a loaded one) — every reduction is
also listed in results.json "notes": three tasks at 8×8 — scikit-learn digits (10 classes) and two
5-class Fashion-MNIST groups, "tops" {T-shirt, pullover, dress, coat, shirt} and "others" {trouser,
sandal, sneaker, bag, ankle boot}, cropped by 2 px and 3×3-averaged to 8×8 — when the Fashion-MNIST
files are present; otherwise digits split into 0–4, 5–9 and parity (stated in the output). 500
training images per task (stratified, fixed seed as the code), the full test sets. The DKL ConvNet
at 8×8 and half width: 3× [conv 3×3, 16 channels, no bias, BN, ReLU, max-pool 2] (8 → 4 → 2 → 1),
dense 64 ReLU, heads; LWS on all four layers, K = 3, λ_θ = λ_π = 8, Adam 1e-3, 16 images per task
per batch; 800 iterations instead of 5,000, so η_π = 5e-2 instead of 1e-2; 3 repetitions instead
of 10 (the smallest one-sided Mann–Whitney p with 3 against 3 is 0.05).
--scale paper: the thesis's experiments, each skipped (with the reason) when its data are absent
(--dataset picks one): DKL-MNIST (EMNIST digits and letters, KMNIST; 500 training images per task;
5,000 iterations, η_π 1e-2, K 3); CIFAR-100 as 20 five-class tasks with the routing-network ConvNet
(LWS on the 3 dense layers, 4,000 iterations, η_π 1e-1, K 20) and with ResNet-18 (20,000
iterations); Omniglot (50 alphabets, standard images_background/images_evaluation folders; 20 %
test split per character) with the soft-layer-ordering ConvNet and ResNet-18 (20,000 iterations,
η_π 1e-2, K 20). 10 repetitions. Every finished run is stored in OUT/runs/ and skipped when the
script is started again; a run in progress checkpoints every 500 iterations in OUT/checkpoints/.
Training is autograd on the CPU: DKL-MNIST takes hours, the ResNet-18 runs are out of reach of a CPU.
--scale paper on this 2-core machine: not runnable (EMNIST, KMNIST, CIFAR-100 and Omniglot are all
absent: exit status 3); not measured.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

from _cli import DataSets, Stopwatch, chapter_parser, output_dir, print_table, run
from refimpl.data import (DatasetNotFoundError, class_subset, data_search_path, load_cifar,
                          load_digits, load_emnist, load_fashion_mnist, load_kmnist)
from refimpl import plotting as plot
from refimpl.results import make_results, over_seeds, table, trained, write_atomic, write_results
from refimpl.thesis import lws, nes

CHAPTER = "thesis_ch8"
METHODS = ("full", "none", "learned")
LABEL = {"full": "Full sharing", "none": "No sharing", "learned": "Learned sharing"}

PAPER = {
    "table_8_1": {"columns": ["method", "DKL-MNIST ConvNet", "CIFAR-100 ResNet18", "Omniglot ResNet18"],
                  "rows": [["Full sharing", "14.16 ± 0.37", "31.80 ± 0.44", None],
                           ["No sharing", "12.80 ± 0.16", "32.53 ± 0.32", None],
                           ["Learned sharing", "11.83 ± 0.51", "30.84 ± 0.49", None]],
                  "note": "test error in %, mean ± std over 10 runs. The Omniglot column is lost in the text we "
                          "have: only '15.82 ± 1.02' survives and its row cannot be told; the text says LWS is "
                          "significantly better than no sharing and on par with full sharing"},
    "table_8_2": {"Cross-stitch networks": 47.0, "Routing networks": 40.0, "full": [39.08, 0.36],
                  "none": [36.50, 0.43], "learned": [37.43, 0.53]},
    "table_8_3": {"Soft layer ordering": 24.1, "full": [20.85, 1.07], "none": [23.52, 1.25], "learned": [19.31, 2.54]},
    "dkl_mnist": {"full": [14.16, 0.37], "none": [12.80, 0.16], "learned": [11.83, 0.51],
                  "claims": "full > no sharing (negative transfer); LWS significantly better than no sharing (p < 0.01)"},
    "cifar100_resnet18": {"full": [31.80, 0.44], "none": [32.53, 0.32], "learned": [30.84, 0.49],
                          "weights": {"none": "223M", "full": "11M", "learned": "136M"}},
    "fig_8_4": "DKL-MNIST: e.g. in 40 % of the runs the first layer had three tasks with independent weights",
}

QUICK = dict(iterations=800, eval_every=100, lr_pi=5e-2, n_modules=3, channels=16, units=64, n_train=500,
             reps=3, batching_steps=15)
#: paper experiments: data, network, settings (Sec. 8.5)
PAPER_RUNS = {
    "dkl": dict(title="DKL-MNIST ConvNet", table="8.1", iterations=5000, lr_pi=1e-2, n_modules=3),
    "cifar100-convnet": dict(title="CIFAR-100 routing-network ConvNet", table="8.2", iterations=4000, lr_pi=1e-1,
                             n_modules=20),
    "cifar100-resnet18": dict(title="CIFAR-100 ResNet18", table="8.1", iterations=20000, lr_pi=1e-1, n_modules=20),
    "omniglot-convnet": dict(title="Omniglot soft-layer-ordering ConvNet", table="8.3", iterations=20000,
                             lr_pi=1e-2, n_modules=20),
    "omniglot-resnet18": dict(title="Omniglot ResNet18", table="8.1", iterations=20000, lr_pi=1e-2, n_modules=20),
}
for _spec in PAPER_RUNS.values():
    _spec.update(reps=10, eval_every=200)
QUICK_DATA = ("digits-fashion", "digits")


# ------------------------------------------------------------------------------------------
# Data: every task is (x (n, C, H, W) float32 in [0, 1], y (n,) int64)
# ------------------------------------------------------------------------------------------

def to_8x8(x):
    """28×28 -> 8×8: crop 2 px per side, then the mean of every 3×3 block."""
    x = x[:, :, 2:26, 2:26]
    return x.reshape(x.shape[0], x.shape[1], 8, 3, 8, 3).mean(axis=(3, 5)).astype(np.float32)


def stratified(x, y, n, seed=666):
    """``n`` examples, class proportions kept (the code: sklearn's stratified split, random_state 666)."""
    from sklearn.model_selection import train_test_split
    idx = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)[0]
    idx = np.sort(idx)
    return x[idx], y[idx]


def quick_tasks(name, n_train, notes, dsets):
    """(task names, n_classes, tasks, tests, data description) of the quick scale."""
    d = load_digits(seed=0)
    dsets.use("digits")
    if name == "digits-fashion":
        try:
            f = load_fashion_mnist()
            dsets.use("fashion-mnist")
        except DatasetNotFoundError as e:
            notes.append(f"Fashion-MNIST absent ({dsets.skip('fashion-mnist', e)}): digits split into three tasks "
                         "instead")
            name = "digits"
    if name == "digits-fashion":
        tasks = [stratified(d.x_train, d.y_train, n_train)]
        tests = [(d.x_test, d.y_test)]
        for grp in ((0, 2, 3, 4, 6), (1, 5, 7, 8, 9)):
            x, y = class_subset(f.x_train, f.y_train, grp)
            tasks.append(stratified(to_8x8(x), y, n_train))
            xt, yt = class_subset(f.x_test, f.y_test, grp)
            tests.append((to_8x8(xt), yt))
        return (["digits", "fashion tops", "fashion others"], (10, 5, 5), tasks, tests,
                "digits (10 classes) + Fashion-MNIST tops {0,2,3,4,6} + others {1,5,7,8,9}, 8×8")
    rules = [("digits 0-4", lambda y: y < 5, lambda y: y), ("digits 5-9", lambda y: y >= 5, lambda y: y - 5),
             ("digit parity", lambda y: y >= 0, lambda y: y % 2)]
    tasks, tests = [], []
    for _, keep, label in rules:
        m, mt = keep(d.y_train), keep(d.y_test)
        n = min(n_train, int(m.sum()))
        tasks.append(stratified(d.x_train[m], label(d.y_train[m]), n) if n < m.sum() else (d.x_train[m], label(d.y_train[m])))
        tests.append((d.x_test[mt], label(d.y_test[mt])))
    return [r[0] for r in rules], (5, 5, 2), tasks, tests, "digits split into 0-4, 5-9 and parity, 8×8"


def dkl_tasks():
    """DKL-MNIST (Sec. 8.5.1): EMNIST digits, EMNIST letters, KMNIST; 500 training images each, full test sets."""
    sets = [load_emnist("digits"), load_emnist("letters"), load_kmnist()]
    tasks = [stratified(s.x_train, s.y_train, 500) for s in sets]
    return ["EMNIST digits", "EMNIST letters", "KMNIST"], (10, 26, 10), tasks, [(s.x_test, s.y_test) for s in sets]


def cifar_tasks():
    """CIFAR-100 as 20 tasks (Sec. 8.5.2): one per coarse label, its 5 fine classes relabelled 0..4 in order."""
    fine, coarse = load_cifar("cifar-100", "fine"), load_cifar("cifar-100", "coarse")
    tasks, tests = [], []
    for c in range(20):
        out = []
        for x, yf, yc in ((fine.x_train, fine.y_train, coarse.y_train), (fine.x_test, fine.y_test, coarse.y_test)):
            m = yc == c
            classes = sorted(np.unique(yf[m]).tolist())
            out.append(class_subset(x[m], yf[m], classes))
        tasks.append(out[0])
        tests.append(out[1])
    names = list(coarse.classes) if coarse.classes else [f"coarse {c}" for c in range(20)]
    return names, (5,) * 20, tasks, tests


def load_omniglot_tasks(root=None, *, test_fraction=0.2):
    """Omniglot as one task per alphabet (Sec. 8.5.3) from the standard folders
    ``images_background/<alphabet>/<character>/*.png`` and ``images_evaluation/...`` under ``root``
    (default: the first ``omniglot`` folder of the data search path that has them).

    Alphabets are ordered by a fixed permutation (seed 666, as the code); each character's
    images are split 80/20 with a seed derived from the alphabet's name (md5, as the code). Images
    ``(n, 1, H, W)`` float32 in [0, 1] (105×105 for the real data; white background = 1).
    Raises ``DatasetNotFoundError`` naming the folders searched.
    """
    from PIL import Image
    roots = [Path(root)] if root is not None else data_search_path("omniglot")
    base = next((r for r in roots if any((r / s).is_dir() for s in ("images_background", "images_evaluation"))), None)
    if base is None:
        raise DatasetNotFoundError("Data set 'omniglot' not found. Looked for images_background/ and images_evaluation/ "
                                   "in:\n" + "\n".join(f"  {r}" for r in roots) + "\nTo obtain it: unzip images_background.zip "
                                   "and images_evaluation.zip of github.com/brendenlake/omniglot into $REFIMPL_DATA/omniglot.",
                                   roots)
    alphabets = sorted(a for s in ("images_background", "images_evaluation") if (base / s).is_dir()
                       for a in (base / s).iterdir() if a.is_dir())
    order = np.random.RandomState(666).permutation(len(alphabets))
    names, n_classes, tasks, tests = [], [], [], []
    for a in (alphabets[i] for i in order):
        rnd = np.random.RandomState(int(hashlib.md5(a.name.encode()).hexdigest(), 16) % 2 ** 32)
        parts = {"train": ([], []), "test": ([], [])}
        chars = sorted(c for c in a.iterdir() if c.is_dir())
        for label, char in enumerate(chars):
            files = sorted(char.glob("*.png"))
            perm = rnd.permutation(len(files))
            split = int(round((1 - test_fraction) * len(files)))
            for part, sel in (("train", perm[:split]), ("test", perm[split:])):
                for i in sel:
                    parts[part][0].append(np.asarray(Image.open(files[i]).convert("L"), np.float32) / 255.0)
                    parts[part][1].append(label)
        names.append(a.name)
        n_classes.append(len(chars))
        for part, dest in (("train", tasks), ("test", tests)):
            xs, ys = parts[part]
            dest.append((np.stack(xs)[:, None], np.asarray(ys, np.int64)))
    return names, tuple(n_classes), tasks, tests


def paper_data(name):
    if name == "dkl":
        return dkl_tasks()
    if name.startswith("cifar100"):
        return cifar_tasks()
    return load_omniglot_tasks()


def make_net(exp, n_classes, sharing, spec, input_shape):
    k = spec["n_modules"]
    if exp == "quick":
        return lws.dkl_convnet(n_classes, sharing, n_modules=k, input_shape=input_shape,
                                  channels=spec["channels"], units=spec["units"])
    if exp == "dkl":
        return lws.dkl_convnet(n_classes, sharing, n_modules=k, input_shape=input_shape)
    if exp == "cifar100-convnet":
        return lws.routing_convnet(n_classes, sharing, n_modules=k, input_shape=input_shape)
    if exp == "omniglot-convnet":
        return lws.slo_convnet(n_classes, sharing, n_modules=k, input_shape=input_shape)
    # Omniglot (105×105): the text's ResNet-18 "with the 3×3 max-pooling removed" keeps the stem's
    # stride 2 and drops the pool's (total stride 16); the author's code also strides the first
    # stage (32). CIFAR (32×32): strides 1, 1.
    stem = 2 if exp.startswith("omniglot") else 1
    return lws.resnet18(n_classes, sharing, n_modules=k, input_shape=input_shape, stem_stride=stem,
                        first_stride=1)


# ------------------------------------------------------------------------------------------
# Runs (cached at paper scale)
# ------------------------------------------------------------------------------------------

def run_method(exp, method, rep, spec, data, args, out):
    """One training run of ``method`` (full / none / learned): its final test errors and history."""
    n_classes, tasks, tests = data
    key = f"{exp}-{method}-seed{args.seed}-rep{rep}"
    cache = out / "runs" / f"{key}.json" if args.scale == "paper" else None
    if cache is not None and cache.exists():
        return json.loads(cache.read_text())
    net = make_net(exp, n_classes, method, spec, tasks[0][0].shape[1:])
    cfg = lws.LWSConfig(iterations=spec["iterations"], lr_pi=spec["lr_pi"], eval_every=spec.get("eval_every", 200),
                        lam_theta=8 if method == "learned" else 1)
    ckpt = out / "checkpoints" / f"{key}.npz" if args.scale == "paper" else None
    t0 = time.perf_counter()
    res = lws.train(net, tasks, cfg, np.random.default_rng([args.seed, rep, METHODS.index(method)]), tests=tests,
                    checkpoint=ckpt, progress=args.progress, desc=f"{exp} {method} rep {rep}")
    h = res.history
    run = {"pooled_error": h["pooled_error"][-1], "task_mean_error": h["task_mean_error"][-1],
           "task_error": h["task_error"][-1], "n_params": res.n_params, "assignment": res.assignment.tolist(),
           "pi": res.pi.tolist(), "history": h, "seconds": time.perf_counter() - t0,
           "sgd_seconds_per_iteration": h["seconds_sgd"] / max(1, cfg.iterations),
           "nes_seconds_per_iteration": h["seconds_nes"] / max(1, cfg.iterations)}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache, json.dumps(run))
        ckpt.unlink(missing_ok=True)
    return run


def measure_batching(exp, spec, data, seed, steps):
    """CPU seconds per Monte Carlo gradient (Eq. 8.20) on one batch, the median of ``steps`` calls: the
    baselines (λ_θ = 1) and LWS with λ_θ = 8 assignments from the uniform π (where batching helps
    least), batched with and without merging identical sub-batches, and as a loop over samples."""
    n_classes, tasks, _ = data
    rng = np.random.default_rng(seed)
    shape = tasks[0][0].shape[1:]
    idx = lws.TaskSampler([len(y) for _, y in tasks], 16).next(rng)
    xs, ys = [x[i] for (x, _), i in zip(tasks, idx)], [y[i] for (_, y), i in zip(tasks, idx)]
    out = {}
    cases = [("full sharing (λθ = 1)", "full", 1, {}), ("no sharing (λθ = 1)", "none", 1, {}),
             ("LWS batched, merged sub-batches", "learned", 8, {"dedup": True}),
             ("LWS batched, every (sample, task) apart", "learned", 8, {"dedup": False}),
             ("LWS loop over samples", "learned", 8, {"method": "loop"})]
    for label, sharing, lam, kw in cases:
        net = make_net(exp, n_classes, sharing, spec, shape)
        params, state = net.init(rng), net.init_state()
        a = nes.sample(nes.uniform(net.pi_shape[:2], net.n_modules), lam, rng)
        lws.mc_gradient(net, params, state, xs, ys, a, **kw)                      # warm-up
        times = []
        for _ in range(steps):
            t0 = time.process_time()
            lws.mc_gradient(net, params, state, xs, ys, a, **kw)
            times.append(time.process_time() - t0)
        out[label] = float(np.median(times))                                      # robust to load spikes
    return out


def mwu_less(a, b):
    """One-sided Mann–Whitney U p-value for 'a is stochastically smaller than b'."""
    return float(mannwhitneyu(a, b, alternative="less").pvalue)


def summarise(runs):
    """{method: {pooled: [...], mean, std, task errors mean, n_params mean}} in percent."""
    out = {}
    for m, rs in runs.items():
        pooled = [100 * r["pooled_error"] for r in rs]
        out[m] = {"pooled_error_pct": pooled, "mean": float(np.mean(pooled)), "std": float(np.std(pooled, ddof=1))
                  if len(pooled) > 1 else 0.0,
                  "task_mean_error_pct": float(np.mean([100 * r["task_mean_error"] for r in rs])),
                  "task_error_pct": np.mean([[100 * e for e in r["task_error"]] for r in rs], axis=0).tolist(),
                  "n_params": [r["n_params"] for r in rs]}
    return out


# ------------------------------------------------------------------------------------------
# Figures: each takes plain data as stored in results.json and returns the Figure
# ------------------------------------------------------------------------------------------

METHOD_COLORS = {"full": "C0", "none": "C1", "learned": "C2"}
METHOD_MARKERS = {"full": "s", "none": "^", "learned": "o"}
#: the PAPER entry with the thesis' test errors (% mean, std per method) of each experiment ("quick" stands in
#: for DKL-MNIST)
PAPER_ERRORS = {"quick": ("dkl_mnist", "Table 8.1, DKL-MNIST"), "dkl": ("dkl_mnist", "Table 8.1, DKL-MNIST"),
                "cifar100-resnet18": ("cifar100_resnet18", "Table 8.1, CIFAR-100 ResNet18"),
                "cifar100-convnet": ("table_8_2", "Table 8.2, CIFAR-100"),
                "omniglot-convnet": ("table_8_3", "Table 8.3, Omniglot")}
DATA_NAMES = {"dkl": "DKL-MNIST (EMNIST digits + letters, KMNIST)", "cifar100": "CIFAR-100 (20 five-class tasks)",
              "omniglot": "Omniglot (50 alphabets)"}


def data_names(exp, used):
    """The data sets of experiment ``exp`` for the figures' data label (``used``: the quick scale's data sets)."""
    return list(used) if exp == "quick" else [DATA_NAMES.get(source(exp), source(exp))]


def _paper_errors(exp):
    key, where = PAPER_ERRORS.get(exp, (None, None))
    return (PAPER[key], where) if key else (None, None)


def fig_accuracy(curves, exp, title, datasets, scale, extra=None):
    """Fig. 8.3: pooled test accuracy against iterations, mean over repetitions (band: min to max), and the final
    test accuracy per method beside the thesis' (100 − Table 8.x test error, mean ± std).

    ``curves`` is {method: {"iteration": [...], "pooled_error": [[error in [0, 1] per iteration] per repetition]}}
    (results.json metrics[exp]["curves"]); None when the experiment was skipped (the panel says so; ``extra`` why).
    """
    fig, (ax, bx) = plot.subplots(1, 2, figsize=(11, 3.9), gridspec_kw={"width_ratios": [1.8, 1]})
    paper, where = _paper_errors(exp)
    x = np.arange(len(METHODS))
    if curves is None:
        plot.absent_panel(ax, extra or "experiment skipped")
        extra = "not run"
    else:
        for m in METHODS:
            its = curves[m]["iteration"]
            acc = 100 * (1 - np.array(curves[m]["pooled_error"]))
            ax.plot(its, acc.mean(0), color=METHOD_COLORS[m], label=f"{LABEL[m]} (ours; band: min–max)")
            ax.fill_between(its, acc.min(0), acc.max(0), color=METHOD_COLORS[m], alpha=0.2)
        ax.set(xlabel="iteration (SGD steps)", ylabel="pooled test accuracy, all tasks (%)",
               title="test accuracy during training (mean over repetitions)")
        final = [100 * (1 - np.array(curves[m]["pooled_error"])[:, -1]) for m in METHODS]
        bx.bar(x - 0.2, [f.mean() for f in final], 0.4, yerr=[f.std(ddof=1) if len(f) > 1 else 0 for f in final],
               capsize=3, color=[METHOD_COLORS[m] for m in METHODS])
        reps = len(curves["learned"]["pooled_error"])
        extra = f"{reps} repetitions" + (f"; {extra}" if extra else "")
    if paper:
        plot.paper_bars(bx, x + 0.2, [100 - paper[m][0] for m in METHODS], 0.4,
                        label=f"paper {where} (100 − test error)")
        bx.errorbar(x + 0.2, [100 - paper[m][0] for m in METHODS], yerr=[paper[m][1] for m in METHODS], fmt="none",
                    color="black", capsize=3, gid=plot.PAPER)
    else:
        bx.text(0.5, 0.9, "the thesis' numbers for this experiment\nare lost in the text we have",
                transform=bx.transAxes, ha="center", fontsize=7, color="0.3")
    bx.set_xticks(x, [LABEL[m].replace(" ", "\n") for m in METHODS])
    tops = [100 - paper[m][0] for m in METHODS] if paper else []
    if curves is not None:
        tops += [f.min() for f in final]
    bx.set(ylim=(max(0, min(tops) - 10) if tops else 0, 100), xlabel="method (left: ours, right: paper)",
           ylabel="final test accuracy, mean ± std (%)", title="at the last iteration")
    plot.legend_outside(fig, ncol=2)
    fig.suptitle(f"Fig. 8.3: learned weight sharing vs. its baselines ({title})")
    plot.data_label(fig, datasets, scale, extra)
    fig.tight_layout()
    return fig


def fig_sharing(hist, layer_names, exp, title, datasets, scale, extra=None):
    """Fig. 8.4 / 8.5: for each shareable layer, the share of tasks (%) whose weights are shared by exactly t tasks
    in the argmax assignments of all LWS repetitions; ``hist`` is (layers, tasks) with rows summing to 1. For
    DKL-MNIST the thesis' one quoted number (40 % of tasks independent, t = 1, in the first layer) is marked."""
    hist = np.asarray(hist, dtype=float)
    T = hist.shape[1]
    fig, ax = plot.subplots(figsize=(3.0 + 1.1 * len(layer_names), 3.6))
    bottom = np.zeros(len(layer_names))
    for g in range(T):
        if hist[:, g].any() or T <= 5:
            ax.bar(range(len(layer_names)), 100 * hist[:, g], bottom=100 * bottom, label=f"t = {g + 1} (ours)")
        bottom += hist[:, g]
    if exp in ("quick", "dkl"):
        plot.paper_points(ax, 0, 40, marker="D",
                          label="paper Fig. 8.4 (DKL-MNIST): 40 % at t = 1\nin the first layer (top of its t = 1 bar)")
    else:
        ax.text(0.02, 1.02, "the thesis quotes no number for this figure", transform=ax.transAxes, fontsize=7,
                color="0.3")
    ax.set_xticks(range(len(layer_names)), layer_names)
    ax.set(xlabel="shareable layer (input to output)", ylabel="tasks sharing with exactly t tasks (%)",
           ylim=(0, 100), title=f"Fig. 8.{5 if exp.startswith('omniglot') else 4}: learned sharing ({title})")
    plot.legend_outside(ax)
    plot.data_label(fig, datasets, scale, extra)
    fig.tight_layout()
    return fig


def fig_entropy(entropy_curves, iterations, k, title, datasets, scale, extra=None):
    """The mean entropy (nats) of the search distribution π over the iterations, one line per LWS repetition;
    ``entropy_curves`` is [[entropy per iteration] per repetition]. Uniform π has log K; the thesis (Sec. 8.4)
    says the entropy falls until one assignment is the most likely (the limit: 0 nats)."""
    fig, ax = plot.subplots(figsize=(7.5, 3.4))
    for i, e in enumerate(entropy_curves):
        ax.plot(iterations, e, color="C2", alpha=0.8, label="LWS repetitions (ours)" if i == 0 else None)
    ax.axhline(np.log(k), color="grey", ls=":", label=f"uniform π: log K = log {k}")
    plot.paper_hline(ax, 0.0, label="thesis Sec. 8.4: π concentrates on one\nassignment (entropy → 0)")
    ax.set(xlabel="iteration (SGD steps)", ylabel="mean entropy of π per layer (nats)",
           title=f"search distribution entropy ({title})")
    plot.legend_outside(ax)
    plot.data_label(fig, datasets, scale, extra)
    fig.tight_layout()
    return fig


def figures(figs, out, res, exp, spec, datasets, scale, tag, extra=None):
    """Add Figs. 8.3, 8.4 (8.5) and the entropy curve of one experiment, from its metrics ``res``, to
    ``figs`` (a :class:`refimpl.plotting.Deferred`; files in ``out``)."""
    figs.add(out / f"fig8_3_test_accuracy{tag}.png", fig_accuracy, res["curves"], exp, spec["title"], datasets,
             scale, extra)
    figs.add(out / f"fig8_4_sharing{tag}.png", fig_sharing, res["sharing_histogram"], res["layer_names"], exp,
             spec["title"], datasets, scale, extra)
    figs.add(out / f"fig8_entropy{tag}.png", fig_entropy, res["entropy_curves"], res["curves"]["learned"]["iteration"],
             spec["n_modules"], spec["title"], datasets, scale, extra)


def layer_names(net):
    names, conv, dense, res = [], 0, 0, 0
    for b, mode in zip(net.blocks, net.routing):
        kind = type(b).__name__
        conv, dense, res = conv + (kind == "ConvBlock"), dense + (kind == "DenseBlock"), res + (kind == "ResBlock")
        if mode == "routed":
            names.append({"ConvBlock": f"conv{conv}", "DenseBlock": f"dense{dense}", "ResBlock": f"block{res}"}[kind])
    return names


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------

def run_experiment(exp, spec, names, data, args, out, sw, tag):
    """All repetitions of full / no / learned sharing on one data set; returns a summary (figures: :func:`figures`)."""
    n_classes, tasks, tests = data
    runs = {m: [] for m in METHODS}
    for rep in range(spec["reps"]):
        for m in METHODS:
            runs[m].append(run_method(exp, m, rep, spec, data, args, out))
            print(f"[{float(sw):.0f}s] {exp}: {m} rep {rep}: pooled test error "
                  f"{100 * runs[m][-1]['pooled_error']:.2f} %", flush=True)
    summ = summarise(runs)
    net = make_net(exp, n_classes, "learned", spec, tasks[0][0].shape[1:])
    hist = lws.sharing_histogram([r["assignment"] for r in runs["learned"]], len(n_classes))
    lnames = layer_names(net)
    learned, full, none = (summ[m]["pooled_error_pct"] for m in ("learned", "full", "none"))
    entropy_final = [r["history"]["entropy"][-1] for r in runs["learned"]]
    return {"summary": summ, "sharing_histogram": hist.tolist(), "layer_names": lnames, "task_names": names,
            "n_test": [len(y) for _, y in tests], "entropy_final": entropy_final, "log_K": float(np.log(spec["n_modules"])),
            "mwu_p_learned_below_none": mwu_less(learned, none), "mwu_p_learned_below_full": mwu_less(learned, full),
            "assignments": [r["assignment"] for r in runs["learned"]],
            "curves": {m: {"iteration": runs[m][0]["history"]["iteration"],
                           "pooled_error": [r["history"]["pooled_error"] for r in runs[m]]} for m in METHODS},
            "entropy_curves": [r["history"]["entropy"] for r in runs["learned"]],
            "seconds_per_iteration": {m: {"sgd": float(np.mean([r["sgd_seconds_per_iteration"] for r in runs[m]])),
                                          "nes": float(np.mean([r["nes_seconds_per_iteration"] for r in runs[m]]))}
                                      for m in METHODS}}


def error_table(res, paper=None):
    """Rows: method, pooled error mean ± std (%), task-mean error, per-task errors, mean parameters, paper."""
    s = res["summary"]
    rows = []
    for m in METHODS:
        paper_cell = None if paper is None else f"{paper[m][0]:.2f} ± {paper[m][1]:.2f}"
        rows.append([LABEL[m], f"{s[m]['mean']:.2f} ± {s[m]['std']:.2f}", round(s[m]["task_mean_error_pct"], 2),
                     *[round(e, 2) for e in s[m]["task_error_pct"]], int(np.mean(s[m]["n_params"])), paper_cell])
    cols = (["method", "pooled test error % (ours)", "task-mean error %"]
            + [f"{n} error %" for n in res["task_names"]] + ["parameters (argmax config)", "thesis test error %"])
    return cols, rows


def verdicts(res):
    """One line per claim that the quick scale can test, with the measured values."""
    s = res["summary"]
    lw, fu, no = (s[m]["mean"] for m in ("learned", "full", "none"))
    n_l, n_f, n_n = (np.array(s[m]["n_params"]) for m in ("learned", "full", "none"))
    word = lambda ok: "holds" if ok else "does NOT hold"  # noqa: E731
    return [
        f"LWS ≤ min(full, no sharing), pooled error (thesis DKL 11.83 vs 12.80 / 14.16): {word(lw <= min(fu, no))} "
        f"(LWS {lw:.2f} %, full {fu:.2f} %, no {no:.2f} %; one-sided MWU LWS < no p = "
        f"{res['mwu_p_learned_below_none']:.3g}, LWS < full p = {res['mwu_p_learned_below_full']:.3g}; "
        f"with 3 against 3 runs p cannot go below 0.05)",
        f"negative transfer, full > no sharing (thesis DKL 14.16 > 12.80): {word(fu > no)} (full {fu:.2f} %, "
        f"no {no:.2f} %)",
        f"the search distribution's entropy falls (from log K = {res['log_K']:.3f}): "
        f"{word(max(res['entropy_final']) < res['log_K'])} (final mean entropy "
        f"{', '.join(f'{e:.3f}' for e in res['entropy_final'])})",
        f"the learned configuration's parameter count lies between full and no sharing (thesis CIFAR-100 "
        f"ResNet18: 11M < 136M < 223M): {word(bool(np.all((n_f <= n_l) & (n_l <= n_n))))} "
        f"(full {int(n_f.mean()):,}, LWS {', '.join(f'{v:,}' for v in n_l)}, no {int(n_n.mean()):,})",
    ]


def source(exp: str) -> str:
    """The data set a paper-scale experiment reads."""
    return "omniglot" if exp.startswith("omniglot") else exp.split("-")[0]


def main(argv=None):
    args = chapter_parser(__doc__, chapter=CHAPTER, datasets=QUICK_DATA + tuple(PAPER_RUNS),
                          gpu_note=" (ch. 8 trains with autograd, which runs on the CPU only)").parse_args(argv)
    out = output_dir(args)
    sw = Stopwatch()
    notes, tables, metrics, dsets = [], {}, {}, DataSets()
    figs = plot.Deferred()      # drawn after results.json is written
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    notes.append("BLAS runs single-threaded (threadpoolctl): the products are tiny and threads cost more than they give")
    if args.scale == "quick":
        if args.dataset not in (None,) + QUICK_DATA:
            sys.exit(f"error: --dataset {args.dataset} is a paper-scale experiment; quick takes {QUICK_DATA}")
        spec = dict(QUICK, title="quick, 8×8", reps=QUICK["reps"])
        names, n_classes, tasks, tests, described = quick_tasks(args.dataset or "digits-fashion", spec["n_train"], notes, dsets)
        quick_data = "fashion-mnist" if "fashion-mnist" in dsets.used else "digits"   # the results depend on it
        data = (n_classes, tasks, tests)
        notes.append(f"quick data: {described}; 500 training images per task (stratified, random_state 666 as the "
                     f"code); test sets {[len(y) for _, y in tests]}")
        notes.append("quick reductions: DKL ConvNet at 8×8 with 16 channels and dense 64 (thesis: 28×28, 32, 128); "
                     "800 iterations (5,000) so eta_pi = 5e-2 (1e-2); 3 repetitions (10); test every 100 iterations")
        batching = measure_batching("quick", spec, data, args.seed, spec["batching_steps"])
        res = run_experiment("quick", spec, names, data, args, out, sw, "")
        figures(figs, out, res, "quick", spec, list(dsets.used), args.scale, "",
                "3 tasks at 8×8, stand-in for DKL-MNIST" + ("" if quick_data == "fashion-mnist"
                                                            else "; Fashion-MNIST absent: digits split in 3"))
        cols, rows = error_table(res, PAPER["dkl_mnist"])
        tables["table_8_1_quick"] = table(cols, rows, dataset=quick_data)
        dsets.label("metrics/quick", quick_data)
        dsets.label("metrics/comparison_with_thesis", quick_data)
        print_table(f"Table 8.1 stand-in ({described}; {spec['reps']} runs; thesis column: DKL-MNIST, 28×28)",
                    cols, rows)
        metrics["quick"] = res
        experiments = {"quick": res}
    else:
        chosen = [args.dataset] if args.dataset else list(PAPER_RUNS)
        if any(c in QUICK_DATA for c in chosen):
            sys.exit(f"error: --dataset {args.dataset} is a quick-scale data set; paper takes {tuple(PAPER_RUNS)}")
        experiments, batching, cache, skipped = {}, None, {}, {}
        for exp in chosen:
            spec = dict(PAPER_RUNS[exp])
            src = source(exp)
            try:
                if src not in cache:
                    cache[src] = paper_data(exp)
            except DatasetNotFoundError as e:
                cache[src] = dsets.skip(src, e)          # said once per data set, not once per experiment
            if isinstance(cache[src], str):
                notes.append(f"{spec['title']}: skipped, data absent ({cache[src]})")
                skipped[exp] = f"{DATA_NAMES.get(src, src)} absent: files not found"
                continue
            dsets.use(src)
            names, n_classes, tasks, tests = cache[src]
            data = (n_classes, tasks, tests)
            if batching is None:
                batching = measure_batching(exp, spec, data, args.seed, 3)
            res = run_experiment(exp, spec, names, data, args, out, sw, f"_{exp}")
            figures(figs, out, res, exp, spec, data_names(exp, ()), args.scale, f"_{exp}")
            experiments[exp] = res
            paper_key = {"dkl": "dkl_mnist", "cifar100-resnet18": "cifar100_resnet18",
                         "cifar100-convnet": "table_8_2", "omniglot-convnet": "table_8_3"}.get(exp)
            cols, rows = error_table(res, PAPER.get(paper_key))
            literature = {"cifar100-convnet": ("Cross-stitch networks", "Routing networks"),
                          "omniglot-convnet": ("Soft layer ordering",)}.get(exp, ())
            rows += [[name] + [None] * (len(cols) - 2) + [f"{PAPER[paper_key][name]:.1f}"] for name in literature]
            tables[f"table_{spec['table'].replace('.', '_')}_{exp}"] = table(cols, rows, dataset=src)
            print_table(f"Table {spec['table']}: {spec['title']} ({spec['reps']} runs)", cols, rows)
        if not experiments:
            return dsets.nothing_ran()
        for exp, why in skipped.items():    # Fig. 8.3 says the experiment was skipped, beside the thesis' values
            figs.add(out / f"fig8_3_test_accuracy_{exp}.png", fig_accuracy, None, exp, PAPER_RUNS[exp]["title"],
                     data_names(exp, ()), args.scale, why)
        metrics.update(experiments)
        t81 = [[LABEL[m]] + [f"{experiments[e]['summary'][m]['mean']:.2f} ± {experiments[e]['summary'][m]['std']:.2f}"
                             if e in experiments else "skipped" for e in ("dkl", "cifar100-resnet18", "omniglot-resnet18")]
               + PAPER["table_8_1"]["rows"][i][1:] for i, m in enumerate(METHODS)]
        cols81 = ["method", "DKL-MNIST (ours)", "CIFAR-100 ResNet18 (ours)", "Omniglot ResNet18 (ours)",
                  "DKL-MNIST (thesis)", "CIFAR-100 ResNet18 (thesis)", "Omniglot ResNet18 (thesis: lost)"]
        tables["table_8_1"] = table(cols81, t81)
        print_table("Table 8.1: test error % (the thesis's Omniglot column is lost in the text we have)", cols81, t81)
        notes.append(PAPER["table_8_1"]["note"])
    if batching:
        base = batching["full sharing (λθ = 1)"]
        rows = [[k, 1000 * v, v / base] for k, v in batching.items()]
        tables["mc_sgd_batching"] = table(["Monte Carlo gradient (one batch, uniform π)", "CPU ms", "ratio to full sharing"],
                                          rows, tolerance=over_seeds(1e9, what="CPU timings: they vary between "
                                                                                "machines and loads"))
        print_table("Monte Carlo SGD cost (λθ = 8 samples from the uniform π; CPU time per gradient)",
                    tables["mc_sgd_batching"]["columns"], rows)
        metrics["mc_sgd_batching_cpu_seconds"] = batching
    for exp, res in experiments.items():
        spi = res["seconds_per_iteration"]
        metrics.setdefault("run_cost", {})[exp] = {
            "lws_sgd_over_full_sgd": spi["learned"]["sgd"] / spi["full"]["sgd"],
            "lws_iteration_over_full_iteration": (spi["learned"]["sgd"] + spi["learned"]["nes"]) / spi["full"]["sgd"]}
        print(f"{exp}: over the whole run an LWS iteration (NES + SGD) took (wall clock) "
              f"{metrics['run_cost'][exp]['lws_iteration_over_full_iteration']:.2f}× a full-sharing iteration "
              f"(SGD step alone {metrics['run_cost'][exp]['lws_sgd_over_full_sgd']:.2f}×)")
        hist = np.array(res["sharing_histogram"])
        rows = [[name] + [round(100 * v, 1) for v in hist[i]] for i, name in enumerate(res["layer_names"])]
        cols = ["layer"] + [f"% shared by t = {g + 1}" for g in range(hist.shape[1])]
        if hist.shape[1] <= 6:
            print_table(f"Fig. 8.4 ({exp}): share of tasks whose weights are shared by exactly t tasks", cols, rows)
            tables[f"fig_8_4_{exp}"] = table(cols, rows, dataset=quick_data if exp == "quick" else source(exp),
                                             tolerance=over_seeds(100.0, what="shares over repetitions, percent"))
    if args.scale == "quick":
        lines = verdicts(experiments["quick"])
        metrics["comparison_with_thesis"] = lines
        print("\nComparison with the thesis's claims (measured here; 'holds' = same direction):\n  " + "\n  ".join(lines))
    notes.append("readings (docs/thesis.md): rank ties share the mean rank; NES losses with batch norm in evaluation mode "
                 "(the code); running statistics move once per SGD step towards the mean of the (sample, task) "
                 "sub-batch statistics; the gradient is Eq. 8.20 (the code's per-module normalisation is the option "
                 "grad_normalisation='code'); He-uniform weights, zero biases (the code: PyTorch's default init); "
                 "test error pooled over all test images of all tasks (the code's metric) and per task")
    config = {"scale": args.scale, "seed": args.seed, "quick": QUICK if args.scale == "quick" else None,
              "paper_runs": PAPER_RUNS if args.scale == "paper" else None,
              "lws": {k: v for k, v in lws.LWSConfig().__dict__.items()}}
    res = make_results(document="thesis", experiment="ch8 learned weight sharing: NES over assignments + Monte Carlo "
                       "SGD (Tables 8.1-8.3, Figs. 8.3-8.4)", scale=args.scale, config=config,
                       seeds=[args.seed], metrics=metrics, tables=tables, paper=PAPER, notes=notes,
                       elapsed_seconds=float(sw), datasets=dsets.report(),
                       tolerances={"metrics": trained(3.0, what="test errors in percent"),
                                   "metrics/*/summary": over_seeds(3.0, what="means/stds over repetitions, percent"),
                                   "metrics/mc_sgd_batching_cpu_seconds": over_seeds(1e9, what="CPU timings"),
                                   "metrics/run_cost": over_seeds(1e9, what="timing ratios")})
    write_results(out / "results.json", res)
    figs.save_all()                                  # after the results: a figure cannot lose them
    print("\nNotes:\n  " + "\n  ".join(notes))
    print(f"\nwrote {out / 'results.json'} and the figures ({float(sw):.0f} s)")


if __name__ == "__main__":
    run(main)
