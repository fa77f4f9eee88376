"""Fine-tuning an SE-ResNeXt with a weighted loss, stage-wise learning rates and test-time rotations
(document `thesis`: Prellberg, PhD thesis, Oldenburg 2020, chapter 3: C-NMC 2019 leukemia cells).

Reproduces (in form; the C-NMC images and ImageNet weights are not available here)
  * Table 3.2 — min / mean ± std / max over runs of accuracy, sensitivity, specificity and weighted
    F1/precision/recall of each run's best checkpoint by F1, beside the thesis' numbers;
  * Fig. 3.2 — training loss and validation metrics per epoch of the best run (fig3_2_best_run.png);
  * Fig. 3.3 — per-subject accuracy of the best model (fig3_3_subjects.png);
  * Fig. 3.4 and Sec. 3.4.5 — per-epoch mean ± std of the metrics for the proposed setting and the
    ablations NOROT (the same checkpoints tested without rotations) and NOSPECLR (one learning rate
    1e-4·η for every layer), with one-sided Mann–Whitney U tests (fig3_4_ablations.png);
  * the identity "weighted recall = accuracy" (Table 3.2's last row equals its first), checked.

--scale quick (≈ 2–3 min on 2 cores): a stand-in with the chapter's structure. Fashion-MNIST
"shirt" (positive, the ALL role) vs "T-shirt/top" (negative), two similar classes, downsampled to
14×14, with Table 3.1's class ratio (2.15 : 1); scikit-learn digits 8 vs 3 (8×8) when Fashion-MNIST
is absent; each image is shown once at a random angle, so that, like the cells (Sec. 3.4.1), the
task does not depend on orientation. Pseudo-subjects: the "preliminary test" (validation) images are split into 13 positive
and 15 negative subjects as in Table 3.1, the training images into 47 and 26; each subject's images
are scaled by one intensity factor drawn from U(0.8, 1.2) (subject/stain variation). "Pre-training"
(the ImageNet role): the mini SE-ResNeXt is trained on the other 8 classes once (cached under
~/.cache/refimpl/thesis_ch3). Fine-tuning follows Sec. 3.4 exactly (6 epochs, batch 16, Adam,
η_base = 1 ÷ 10 every 2 epochs, stage factors 1e-6 / 1e-4 / 1e-2, the augmentation of Sec. 3.4.1,
8 test-time rotations, best checkpoint by weighted F1, evaluation before training and after each
epoch) over 5 seeds; the network is a 3-stage mini SE-ResNeXt (cardinality 4, SE r = 4) and the
data sets are a few hundred images, so each run takes a few hundred steps instead of ~4,000.
--scale paper: the C-NMC 2019 training folders (--cnmc DIR or $REFIMPL_DATA/cnmc:
fold_*/all/*.bmp, fold_*/hem/*.bmp; folds 0–1 train and fold 2 validation unless told otherwise),
SE-ResNeXt-50 32×4d with ImageNet weights from --weights FILE (PyTorch state dict of
`se_resnext50_32x4d`, .pth or .npz), 24 runs. Absent data or weights: reported as skipped, with what is
needed; the measured CPU time of one 300×300 batch is printed. refimpl differentiates with autograd on
the CPU only, so a paper-scale run on a CPU takes days (see the printed estimate); the realistic path
for the full experiment is a GPU framework.
--scale paper on this 2-core machine: not runnable (C-NMC and the weights are absent: exit status 3);
one batch of 2 took 57 s at load 8.5 (≤ 24 s of CPU): ~150–200 h per run, about a year for all
(measured with the printed timing; data: none).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.stats import mannwhitneyu
from threadpoolctl import threadpool_limits

from _cli import DataSets, Stopwatch, chapter_parser, non_negative_int, output_dir, positive_float, print_table, run
from refimpl import nn
from refimpl import plotting as plot
from refimpl.autodiff import value_and_grad
from refimpl.backend import tree_leaves, tree_map
from refimpl.data import DatasetNotFoundError, load_dataset, load_digits
from refimpl.optim import Adam
from refimpl.results import make_results, over_seeds, table, trained, write_results
from refimpl.thesis import cnmc, se_resnext as sx

CHAPTER = "thesis_ch3"
METRICS = ("accuracy", "sensitivity", "specificity", "f1", "precision", "recall")
NAMES = {"accuracy": "Accuracy", "sensitivity": "Sensitivity", "specificity": "Specificity", "f1": "F1-score",
         "precision": "Precision", "recall": "Recall"}

PAPER = {
    "table_3_1": {"columns": ["part", "ALL subjects", "normal subjects", "ALL cells", "normal cells"],
                  "rows": [["train", 47, 26, 7272, 3389], ["prelim. test", 13, 15, 1219, 648],
                           ["final test", 9, 8, None, None]]},
    "table_3_2": {"accuracy": [86.40, 87.96, 0.90, 89.88], "sensitivity": [88.43, 92.01, 1.44, 94.50],
                  "specificity": [75.31, 80.36, 2.39, 84.72], "f1": [86.28, 87.89, 0.90, 89.81],
                  "precision": [86.27, 87.91, 0.90, 89.81], "recall": [86.40, 87.96, 0.90, 89.88]},
    "best_f1": 89.81, "best_epoch": 5, "final_test_f1": 88.91, "runs": 24,
    "ablations_mean_f1": {"proposed": [87.89, 0.90], "NOROT": [86.92, 0.81], "NOSPECLR": [87.20, 0.70]},
    "ablation_p_values_below": {"NOROT": 0.001, "NOSPECLR": 0.002},
}

SCALES = {
    "quick": dict(seeds=5, train=(300, 140), val=(130, 75), subjects_train=(47, 26), subjects_val=(13, 15),
                  pretrain_per_class=300, pretrain_epochs=3, pretrain_batch=32, pretrain_lr=3e-3,
                  net=dict(stem=(8, 3, 1), pool=0, stages=((1, 8, 16, 1), (1, 16, 32, 2), (1, 32, 64, 2)),
                           groups=4, se_reduction=4)),
    "paper": dict(seeds=24),
}


# ------------------------------------------------------------------------------------------
# quick-scale data: a hard binary pair with Table 3.1's ratio and pseudo-subjects
# ------------------------------------------------------------------------------------------

def _downsample(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def _pick(rng, idx, n):
    if len(idx) < n:
        raise ValueError(f"need {n} images of a class, have {len(idx)}")
    return rng.choice(idx, n, replace=False)


def _subjects(rng, n, k, prefix):
    """Subject ids for ``n`` images in ``k`` groups of near-equal size (ALL: numbers, normal: H…)."""
    ids = np.array([f"{prefix}{i + 1}" for i in np.arange(n) * k // n])
    return ids[rng.permutation(n)]


def quick_data(dataset, seed, sc, notes, dsets):
    """The binary stand-in: train/val arrays, labels (1 = positive), pseudo-subject ids, and the
    pre-training set (the other classes)."""
    if dataset in (None, "fashion-mnist"):
        try:
            ds = load_dataset("fashion-mnist")
            x_all, y_all = _downsample(ds.x_train.astype(np.float32)), ds.y_train
            pos, neg, name = 6, 0, "fashion-mnist"
            notes.append("stand-in: Fashion-MNIST 'shirt' (positive) vs 'T-shirt/top' (negative), 2×2-mean "
                         "downsampled to 14×14; pre-training on the other 8 classes")
        except DatasetNotFoundError as e:
            if dataset == "fashion-mnist":
                raise
            notes.append(f"Fashion-MNIST absent ({dsets.skip('fashion-mnist', e)}); digits 8 vs 3 used instead")
            dataset = "digits"
    if dataset == "digits":
        ds = load_digits(seed=seed)
        x_all = np.concatenate([ds.x_train, ds.x_test]).astype(np.float32)
        y_all = np.concatenate([ds.y_train, ds.y_test])
        x_all = x_all / max(float(x_all.max()), 1e-6)
        pos, neg, name = 8, 3, "digits"
        notes.append("stand-in: digits 8 (positive) vs 3 (negative), 8×8; pre-training on the other 8 digits")
    rng = np.random.default_rng(10_000 + seed)
    i_pos, i_neg = np.flatnonzero(y_all == pos), np.flatnonzero(y_all == neg)
    n_tr, n_va = sc["train"], sc["val"]
    if name == "digits":   # ~180 images per digit: shrink the split, keeping the ratio
        n_tr, n_va = (90, 42), (60, 28)
    p = _pick(rng, i_pos, n_tr[0] + n_va[0])
    q = _pick(rng, i_neg, n_tr[1] + n_va[1])
    tr = np.r_[p[:n_tr[0]], q[:n_tr[1]]]
    va = np.r_[p[n_tr[0]:], q[n_tr[1]:]]
    out = {"name": name}
    for part, idx, (ka, kn) in (("train", tr, sc["subjects_train"]), ("val", va, sc["subjects_val"])):
        y = (y_all[idx] == pos).astype(np.int64)
        subj = np.empty(len(idx), dtype=object)
        subj[y == 1] = _subjects(rng, int(y.sum()), min(ka, int(y.sum())), "")
        subj[y == 0] = _subjects(rng, int((y == 0).sum()), min(kn, int((y == 0).sum())), "H")
        subj = subj.astype(str)
        factor = {s: rng.uniform(0.8, 1.2) for s in sorted(set(subj))}
        x = x_all[idx] * np.array([factor[s] for s in subj], np.float32)[:, None, None, None]
        # cells lie in arbitrary orientations (Sec. 3.4.1: the images are invariant to rotations); the
        # stand-in's garments do not, so each image is shown once at a random angle
        x = np.stack([ndimage.rotate(img, rng.uniform(0.0, 360.0), axes=(1, 2), reshape=False, order=1)
                      for img in x])
        out[part] = (x.astype(np.float32), y, subj)
    other = np.flatnonzero((y_all != pos) & (y_all != neg))
    per = min(sc["pretrain_per_class"], min(int(np.sum(y_all[other] == c)) for c in np.unique(y_all[other])))
    pick = np.concatenate([rng.choice(other[y_all[other] == c], per, replace=False) for c in np.unique(y_all[other])])
    labels = {c: i for i, c in enumerate(np.unique(y_all[other]))}
    out["pretrain"] = (x_all[pick].astype(np.float32), np.array([labels[c] for c in y_all[pick]], np.int64))
    return out


# ------------------------------------------------------------------------------------------
# "pre-training" (the ImageNet role), cached
# ------------------------------------------------------------------------------------------

def pretrain(net, data, sc, seed, notes, progress):
    x, y = data["pretrain"]
    n_classes = int(y.max()) + 1
    cfg8 = sx.Config(**{**net.__dict__, "outputs": n_classes})
    key = hashlib.sha256(json.dumps([repr(cfg8), data["name"], seed, sc["pretrain_per_class"],
                                     sc["pretrain_epochs"], sc["pretrain_batch"], sc["pretrain_lr"], x.shape,
                                     float(x.sum())]).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("REFIMPL_CACHE", Path.home() / ".cache" / "refimpl")) / "thesis_ch3"
    path = cache / f"pretrained_{key}.npz"
    params, state = sx.init(cfg8, seed)
    if path.exists():
        with np.load(path) as z:
            it = iter([z[f"a{i}"] for i in range(len(z.files) - 1)])
            acc = float(z["train_accuracy"])
        params, state = tree_map(lambda _: next(it), (params, state))
        notes.append(f"pre-trained weights (training accuracy {acc:.3f}) read from the cache {path}")
        return cfg8, params, state, acc
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    opt = Adam(lr=sc["pretrain_lr"])
    ost = opt.init(params)

    def objective(p, xb, yb, s):
        out, ns = sx.apply(cfg8, p, s, xb, training=True)
        return nn.cross_entropy(out, yb), ns

    step = value_and_grad(objective, has_aux=True)
    for epoch in range(sc["pretrain_epochs"]):
        order = rng.permutation(len(y))
        for b in range(0, len(y), sc["pretrain_batch"]):
            idx = order[b:b + sc["pretrain_batch"]]
            xb = cnmc.augment(x[idx], rng, rotate=False, translate=0.1)   # upright, as ImageNet
            (_, state), g = step(params, xb, y[idx], state)
            params, ost = opt.update(params, g, ost, inplace=True)
    logits, _ = sx.apply(cfg8, params, state, x)
    acc = float(np.mean(np.argmax(logits, -1) == y))
    cache.mkdir(parents=True, exist_ok=True)
    leaves = tree_leaves((params, state))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, train_accuracy=acc, **{f"a{i}": a for i, a in enumerate(leaves)})
    tmp.replace(path)
    notes.append(f"pre-training: {len(y)} images of {n_classes} other classes, {sc['pretrain_epochs']} epochs, Adam "
                 f"{sc['pretrain_lr']:g}, batch {sc['pretrain_batch']}, upright images (flips and 10 % shifts, no "
                 f"rotations, as ImageNet pre-training); training accuracy {acc:.3f}; "
                 f"{time.perf_counter() - t0:.0f} s; cached in {path}")
    return cfg8, params, state, acc


def transfer(net, params8, state8, seed):
    """The pre-trained body with a fresh one-logit head (the ImageNet classifier is replaced)."""
    params, state = sx.init(net, seed)
    params = {**{k: tree_map(np.copy, v) for k, v in params8.items() if k != "head"}, "head": params["head"]}
    state = {**{k: tree_map(np.copy, v) for k, v in state8.items() if k != "head"}, "head": {}}
    return params, state


# ------------------------------------------------------------------------------------------
# figures: each takes plain data as stored in results.json "metrics", returns the Figure
# ------------------------------------------------------------------------------------------

CURVES = ("f1", "accuracy", "sensitivity", "specificity")
SETTING_COLORS = {"proposed": "C0", "NOROT": "C1", "NOSPECLR": "C2"}


def _data_label(fig, dataset, scale, extra):
    """The data label: C-NMC itself at paper scale, else the named stand-in for it."""
    if dataset == "cnmc":
        return plot.data_label(fig, "C-NMC 2019 (preliminary test set as validation)", scale, extra)
    return plot.data_label(fig, dataset, scale, f"stand-in for C-NMC 2019 (Sec. 3.2); {extra}")


def fig_best_run(per_epoch, loss, dataset, scale):
    """Fig. 3.2: training loss (epochs 1…E) and validation metrics (epochs 0…E, 8-rotation TTA) of the best run.

    ``per_epoch`` is a list over epochs 0…E of {metric: value in [0, 1]}; ``loss`` the mean training loss of
    epochs 1…E (Eq. 3.6). The thesis' best run (F1 89.81 % after epoch 5) is marked.
    """
    ep = np.arange(len(per_epoch))
    fig, ax = plot.subplots(1, 2, figsize=(10, 3.5))
    ax[0].plot(ep[1:], loss, "o-", label="ours")
    ax[0].set(xlabel="epoch", ylabel="mean training loss, Eq. 3.6 (nats)", title="training loss")
    for m in CURVES:
        ax[1].plot(ep, [100 * r[m] for r in per_epoch], "o-", label=NAMES[m])
    plot.paper_points(ax[1], PAPER["best_epoch"], PAPER["best_f1"],
                      label=f"paper: best F1 {PAPER['best_f1']} % after epoch {PAPER['best_epoch']} (Fig. 3.2)")
    ax[1].set(xlabel="epoch (0 = before fine-tuning)", ylabel="validation metric (%)",
              title="validation metrics (8 test-time rotations)")
    plot.legend_outside(ax[1])
    fig.suptitle("Fig. 3.2: training and validation curves of the best run (by weighted F1)")
    _data_label(fig, dataset, scale, "best of the proposed runs")
    fig.tight_layout()
    return fig


def _subject_key(s):
    return (s.startswith("H"), int(s.lstrip("H")) if s.lstrip("H").isdigit() else 0, s)


def fig_subjects(acc, dataset, scale):
    """Fig. 3.3: cell accuracy per (pseudo-)subject of the best model; ``acc`` is {subject id: accuracy in [0, 1]}.

    Subjects without the prefix H are positive (ALL), H subjects negative (healthy). Over the positive subjects
    the thesis' mean sensitivity is drawn, over the H subjects its mean specificity (Table 3.2).
    """
    keys = sorted(acc, key=_subject_key)
    n_pos = sum(not k.startswith("H") for k in keys)
    fig, ax = plot.subplots(figsize=(12, 3.6))
    ax.bar(range(n_pos), [100 * acc[k] for k in keys[:n_pos]], color="C3", label="positive subjects (ALL role)")
    ax.bar(range(n_pos, len(keys)), [100 * acc[k] for k in keys[n_pos:]], color="C0",
           label="negative subjects (H, healthy role)")
    frac = n_pos / max(len(keys), 1)
    sens, spec = PAPER["table_3_2"]["sensitivity"][1], PAPER["table_3_2"]["specificity"][1]
    plot.paper_hline(ax, sens, xmax=frac, label=f"paper Table 3.2: mean sensitivity {sens} % (over ALL subjects)")
    plot.paper_hline(ax, spec, xmin=frac, linestyle=":",
                     label=f"paper Table 3.2: mean specificity {spec} % (over H subjects)")
    ax.set_xlim(-0.5, len(keys) - 0.5)
    ax.set_xticks(range(len(keys)), keys, rotation=90, fontsize=7)
    ax.set(xlabel="pseudo-subject (H: negative class)" if dataset != "cnmc" else "subject (H: healthy)",
           ylabel="cell accuracy of the subject (%)", ylim=(0, 105),
           title="Fig. 3.3: per-subject accuracy of the best model on the validation set")
    plot.legend_outside(ax)
    _data_label(fig, dataset, scale, f"{n_pos} + {len(keys) - n_pos} subjects")
    fig.tight_layout()
    return fig


def fig_ablations(curves, best_f1, dataset, scale):
    """Fig. 3.4 and Sec. 3.4.5: per-epoch mean ± 1 std of four metrics for the proposed setting and the ablations,
    and the mean ± std best-checkpoint F1 beside the thesis' (87.89 / 86.92 / 87.20 %).

    ``curves`` is {setting: [run: [epoch: {metric: value in [0, 1]}]]}; ``best_f1`` {setting: [F1 in [0, 1] per
    run]}. The thesis' Table 3.2 mean (proposed setting, best checkpoint) is drawn in each metric panel.
    """
    fig, axes = plot.subplots(1, 5, figsize=(16, 3.6))
    for ax, m in zip(axes, CURVES):
        for name, c in curves.items():
            a = 100 * np.array([[r[m] for r in run] for run in c])
            mu, sd = a.mean(0), a.std(0)
            ep = np.arange(a.shape[1])
            ax.plot(ep, mu, color=SETTING_COLORS.get(name), label=f"{name} (ours, mean ± 1 std)")
            ax.fill_between(ep, mu - sd, mu + sd, color=SETTING_COLORS.get(name), alpha=0.2)
        plot.paper_hline(ax, PAPER["table_3_2"][m][1],
                         label="paper Table 3.2: mean of the best checkpoints (proposed)")
        ax.set(title=NAMES[m], xlabel="epoch (0 = before fine-tuning)", ylabel=f"{NAMES[m]} (%)")
    ax = axes[4]
    names = list(best_f1)
    x = np.arange(len(names))
    ours = [100 * np.mean(best_f1[k]) for k in names]
    err = [100 * np.std(best_f1[k], ddof=1) if len(best_f1[k]) > 1 else 0.0 for k in names]
    ax.bar(x - 0.2, ours, 0.4, yerr=err, capsize=3, color=[SETTING_COLORS.get(k) for k in names])
    paper = [PAPER["ablations_mean_f1"].get(k, [np.nan])[0] for k in names]
    plot.paper_bars(ax, x + 0.2, paper, 0.4, label="paper Sec. 3.4.5: mean best F1 (24 runs)")
    ax.set_xticks(x, names)
    lo = min(min(ours) - max(err), np.nanmin(paper)) - 5
    ax.set(ylim=(max(lo, 0), 100), xlabel="setting (left: ours, right: paper)",
           ylabel="best-checkpoint F1, mean ± std (%)", title="Sec. 3.4.5: best F1 per run")
    plot.legend_outside(fig)
    fig.suptitle("Fig. 3.4: validation metrics per epoch, proposed setting and ablations")
    runs = len(next(iter(best_f1.values())))
    _data_label(fig, dataset, scale, f"{runs} runs per setting (thesis 24)")
    fig.tight_layout()
    return fig


def figures(out, metrics, dataset, scale):
    """Write Figs. 3.2-3.4 to ``out`` from the chapter's ``metrics`` (as in results.json)."""
    f1 = metrics["best_f1"]
    best = int(np.argmax(f1["proposed"]))
    plot.save(fig_best_run(metrics["per_epoch"]["proposed"][best], metrics["train_loss"]["proposed"][best],
                           dataset, scale), out / "fig3_2_best_run.png")
    plot.save(fig_subjects(metrics["subject_accuracy_best_model"], dataset, scale), out / "fig3_3_subjects.png")
    plot.save(fig_ablations(metrics["per_epoch"], f1, dataset, scale), out / "fig3_4_ablations.png")


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------

def table_3_2(runs, key):
    rows = []
    for m in METRICS:
        v = 100 * np.array([r["best"][key][1][m] for r in runs])
        pp = PAPER["table_3_2"][m]
        rows.append([NAMES[m], round(float(v.min()), 2), f"{v.mean():.2f} ± {v.std(ddof=1):.2f}",
                     round(float(v.max()), 2), pp[0], f"{pp[1]:.2f} ± {pp[2]:.2f}", pp[3]])
    return rows


def train_runs(net, start, x, y, xv, yv, seeds, nospeclr, fcfg, progress, run_dir=None):
    """Proposed and NOSPECLR fine-tuning for every seed; ``start(seed) -> (params, state)`` gives the
    pre-trained network with a fresh head. With ``run_dir`` every finished run is stored there and
    read back instead of rerun (resumable)."""
    runs = {"proposed": [], "NOSPECLR": []}
    for s in seeds:
        for setting in runs:
            tag = setting if setting == "proposed" else f"{setting}_lr{nospeclr:g}"
            path = run_dir / f"{tag}_seed{s}.json" if run_dir is not None else None
            if path is not None and path.exists():
                r = json.loads(path.read_text())
                r["best"] = {k: (v[0], v[1], np.array(v[2])) for k, v in r["best"].items()}
                runs[setting].append(r)
                continue
            params, state = start(s)
            scales = cnmc.stage_lr_scales(net) if setting == "proposed" else cnmc.uniform_lr_scales(net, nospeclr)
            t0 = time.perf_counter()
            r = cnmc.finetune(net, params, state, x, y, xv, yv, lr_scales=scales, seed=s, config=fcfg)
            r["seconds"] = time.perf_counter() - t0
            r.pop("best_state")
            r.pop("best_params")
            runs[setting].append(r)
            if path is not None:
                path.write_text(json.dumps({**r, "best": {k: (v[0], v[1], v[2].tolist()) for k, v in r["best"].items()}}))
            if progress:
                print(f"  seed {s} {setting}: best F1 (TTA) {r['best']['tta'][1]['f1']:.4f} at epoch "
                      f"{r['best']['tta'][0]}, {r['seconds']:.1f} s", flush=True)
    return runs


def analyse(runs, seeds, yv, sv):
    """Table 3.2, the ablation table with MWU tests, the recall identity, findings (figures: :func:`figures`)."""
    prop, nosp = runs["proposed"], runs["NOSPECLR"]
    f1 = {"proposed": [r["best"]["tta"][1]["f1"] for r in prop],
          "NOROT": [r["best"]["norot"][1]["f1"] for r in prop],
          "NOSPECLR": [r["best"]["tta"][1]["f1"] for r in nosp]}
    p_norot = float(mannwhitneyu(f1["proposed"], f1["NOROT"], alternative="greater").pvalue)
    p_nosp = float(mannwhitneyu(f1["proposed"], f1["NOSPECLR"], alternative="greater").pvalue)
    rows = table_3_2(prop, "tta")
    cols = ["metric (%)", "min", "mean ± std", "max", "thesis min", "thesis mean ± std", "thesis max"]
    print_table(f"Table 3.2 (proposed, {len(seeds)} runs, best checkpoint by weighted F1) beside the thesis (24 runs)",
                cols, rows)
    abl_rows = [[k, 100 * float(np.mean(v)), 100 * float(np.std(v, ddof=1)), PAPER["ablations_mean_f1"][k][0],
                 PAPER["ablations_mean_f1"][k][1]] for k, v in f1.items()]
    print_table(f"Sec. 3.4.5: best-checkpoint weighted F1 (%); one-sided MWU: NOROT p = {p_norot:.3g} (thesis < 0.001), "
                f"NOSPECLR p = {p_nosp:.3g} (thesis < 0.002)", ["setting", "mean", "std", "thesis mean", "thesis std"],
                abl_rows)
    ident = max(abs(r["history"][e][k]["recall"] - r["history"][e][k]["accuracy"])
                for rs in runs.values() for r in rs for e in range(len(r["history"])) for k in ("tta", "norot"))
    print(f"\nweighted recall = accuracy: max |difference| over all evaluations = {ident:.2e}")
    best = max(range(len(prop)), key=lambda i: prop[i]["best"]["tta"][1]["f1"])
    subj = cnmc.subject_accuracy(yv, prop[best]["best"]["tta"][2], sv)
    pos_s = [v for k, v in subj.items() if not k.startswith("H")]
    neg_s = [v for k, v in subj.items() if k.startswith("H")]
    curves = {"proposed": [[h["tta"] for h in r["history"]] for r in prop],
              "NOROT": [[h["norot"] for h in r["history"]] for r in prop],
              "NOSPECLR": [[h["tta"] for h in r["history"]] for r in nosp]}
    mean = {k: float(np.mean(v)) for k, v in f1.items()}
    sens = float(np.mean([r["best"]["tta"][1]["sensitivity"] for r in prop]))
    spec = float(np.mean([r["best"]["tta"][1]["specificity"] for r in prop]))

    def verdict(ok, p):
        return "holds" if ok and p < 0.01 else "direction holds, not significant (p ≥ 0.01)" if ok else "does NOT hold"
    findings = [
        f"TTA (8 rotations) beats NOROT in mean best F1 (thesis 87.89 vs 86.92 %, p < 0.001): "
        f"{100 * mean['proposed']:.2f} vs {100 * mean['NOROT']:.2f} %, p = {p_norot:.3g} — "
        + verdict(mean["proposed"] > mean["NOROT"], p_norot),
        f"stage-wise learning rates beat one rate for all layers (thesis 87.89 vs 87.20 %, p < 0.002): "
        f"{100 * mean['proposed']:.2f} vs {100 * mean['NOSPECLR']:.2f} %, p = {p_nosp:.3g} — "
        + verdict(mean["proposed"] > mean["NOSPECLR"], p_nosp),
        f"sensitivity > specificity with the positive class the majority (thesis 92.01 vs 80.36 %): "
        f"{100 * sens:.2f} vs {100 * spec:.2f} % — " + ("holds" if sens > spec else "does NOT hold"),
        f"negative (H) subjects score worse than positive ones (Fig. 3.3): mean subject accuracy "
        f"{100 * np.mean(neg_s):.1f} vs {100 * np.mean(pos_s):.1f} % — "
        + ("holds" if np.mean(neg_s) < np.mean(pos_s) else "does NOT hold"),
        f"weighted recall = accuracy in every evaluation: max |difference| {ident:.1e} — "
        + ("holds" if ident < 1e-12 else "does NOT hold"),
    ]
    print("\nFindings:\n  " + "\n  ".join(findings))
    tables = {"table_3_2": table(cols, rows),
              "ablations_f1": table(["setting", "mean", "std", "thesis mean", "thesis std"], abl_rows)}
    metrics_out = {
        "findings": findings, "best_f1": f1, "mean_best_f1": mean, "p_value_norot": p_norot,
        "p_value_nospeclr": p_nosp, "weighted_recall_minus_accuracy_max": ident,
        "subject_accuracy_best_model": subj,
        "best_run": {"seed": seeds[best], "epoch": prop[best]["best"]["tta"][0], "f1": prop[best]["best"]["tta"][1]["f1"]},
        "best_epochs": [r["best"]["tta"][0] for r in prop],
        "per_epoch": {k: [[{m: h[m] for m in METRICS} for h in run] for run in c] for k, c in curves.items()},
        "train_loss": {k: [[h["loss"] for h in r["history"][1:]] for r in rs] for k, rs in runs.items()},
        "seconds_per_run": {k: [r["seconds"] for r in rs] for k, rs in runs.items()},
    }
    return metrics_out, tables


def _weight_note(w):
    return (f"w = negatives/positives = {w:.3f} < 1 (Eq. 3.6): with the positive class the majority the weight "
            f"shrinks, not enlarges, the positive examples' gradient (the text says 'larger than one'; C-NMC: "
            f"3389/7272 = 0.466)")


def run_quick(args, notes, dsets):
    sc = SCALES["quick"]
    data = quick_data(args.dataset, args.seed, sc, notes, dsets)
    dsets.use(data["name"])
    net = sx.Config(in_channels=data["train"][0].shape[1], **sc["net"])
    _, p8, s8, pre_acc = pretrain(net, data, sc, args.seed, notes, args.progress)
    x, y, subj_tr = data["train"]
    xv, yv, sv = data["val"]
    w = cnmc.class_weight(y)
    notes.append(_weight_note(w))
    seeds = [args.seed + i for i in range(sc["seeds"])]
    t0 = time.perf_counter()
    runs = train_runs(net, lambda s: transfer(net, p8, s8, s), x, y, xv, yv, seeds, args.nospeclr_lr,
                      cnmc.FinetuneConfig(), args.progress)
    t_runs = time.perf_counter() - t0
    metrics_out, tables = analyse(runs, seeds, yv, sv)
    tables["table_3_1_stand_in"] = table(
        ["part", "positive subjects", "negative subjects", "positive images", "negative images"],
        [["train", len(set(subj_tr[y == 1])), len(set(subj_tr[y == 0])), int(y.sum()), int((y == 0).sum())],
         ["val (prelim. test)", len(set(sv[yv == 1])), len(set(sv[yv == 0])), int(yv.sum()), int((yv == 0).sum())]])
    metrics_out.update(w=w, pretrain_train_accuracy=pre_acc, seconds_finetune_all_runs=t_runs)
    config = {"dataset": data["name"], "network": repr(net), "n_parameters": int(sum(a.size for a in tree_leaves(
        sx.init(net, 0)[0]))), "finetune": repr(cnmc.FinetuneConfig()), "stage_lr_scales": cnmc.stage_lr_scales(net),
        "nospeclr_lr": args.nospeclr_lr, **{k: v for k, v in sc.items() if k not in ("net", "nospeclr")}}
    notes.append("NOROT evaluates the proposed runs' checkpoints without rotations (rotation 0 of the TTA), "
                 "and picks its own best checkpoint by F1; the thesis trained separate runs")
    notes.append(f"quick scale: {len(y)} training and {len(yv)} validation images, batch 16, 6 epochs = "
                 f"{6 * -(-len(y) // 16)} steps per run (C-NMC: ~4,000); the stage factors 1e-6/1e-4/1e-2 are absolute "
                 f"Adam step sizes, so in so few steps the stem and first stage barely move, and with one rate of "
                 f"{args.nospeclr_lr:g} (NOSPECLR; the thesis' best of 1e-3/1e-4/1e-5 at ~4,000 steps was 1e-4; "
                 f"--nospeclr-lr) a fresh head learns far less")
    notes.append(f"{len(seeds)} runs instead of 24; exact one-sided MWU with 5 vs 5 cannot go below p = 0.004")
    return dict(config=config, seeds=seeds, metrics=metrics_out, tables=tables, figure_dataset=data["name"])


def time_paper_step(net, batch):
    """Seconds of one forward + backward pass of ``net`` on a 300×300 batch on this CPU."""
    params, state = sx.init(net, 0)
    xb = np.random.default_rng(0).random((batch, 3, 300, 300), dtype=np.float32)
    f = value_and_grad(lambda p: nn.weighted_binary_cross_entropy(sx.apply(net, p, state, xb, training=True)[0],
                                                                  np.ones(batch), 0.47))
    t0 = time.perf_counter()
    f(params)
    return time.perf_counter() - t0


def run_paper(args, notes, dsets, error):
    """C-NMC + ImageNet weights; skipped (with what is needed) when either is absent. ``error``
    (the parser's) reports a --val-fold that the C-NMC folder does not have, before any work."""
    root = args.cnmc or Path(os.environ.get("REFIMPL_DATA", Path.home() / ".cache" / "refimpl")) / "cnmc"
    net = sx.se_resnext50_32x4d()
    status = {}
    try:
        found = cnmc.find_cnmc(root)
        status["data"] = f"{len(found['paths'])} images in {root}"
        folds = sorted(set(found["folds"].tolist()))
        if args.val_fold is not None and args.val_fold not in folds:
            error(f"argument --val-fold: no fold {args.val_fold!r} in {root}; choose from {', '.join(folds)}")
    except cnmc.CNMCNotFoundError as e:
        found, status["data"] = None, f"skipped: {e}"
    if args.weights is None or not Path(args.weights).is_file():
        status["weights"] = ("skipped: no ImageNet weights; pass --weights FILE (PyTorch state dict of "
                             "se_resnext50_32x4d, .pth or .npz)")
    else:
        status["weights"] = str(args.weights)
    if args.paper_batch > 0:
        t = time_paper_step(net, args.paper_batch)
        steps = -(-(7272 + 3389) // 16) * 6
        per16 = t * 16 / args.paper_batch
        status.update(wall_seconds_timed_batch_on_cpu=t, timed_batch=args.paper_batch,
                      wall_seconds_per_batch16_on_cpu=per16, hours_per_run_estimate_on_cpu=per16 * steps / 3600)
        print(f"\none 300×300 batch of {args.paper_batch} (forward + backward, SE-ResNeXt-50 32×4d): {t:.1f} s on this "
              f"CPU → ≈ {per16:.0f} s per batch of 16 (linear), ≈ {per16 * steps / 3600:.0f} h per 6-epoch run of "
              f"{steps} steps (× 24 runs × 2 settings, without the TTA evaluations)")
    for k, v in status.items():
        print(f"  {k}: {v}")
    skipped = [f"{k}: {v}" for k, v in status.items() if isinstance(v, str) and v.startswith("skipped")]
    if skipped:
        dsets.skip("cnmc", "; ".join(skipped))
        return None
    dsets.use("cnmc")
    out = output_dir(args)
    folds = sorted(set(found["folds"].tolist()))
    val_fold = args.val_fold or folds[-1]
    tr, va = found["folds"] != val_fold, found["folds"] == val_fold
    notes.append(f"validation: {val_fold} (the thesis used the preliminary test set, released later); training: "
                 f"the other folds")
    x = cnmc.load_cnmc_images([p for p, k in zip(found["paths"], tr) if k], dtype=np.uint8)
    xv = cnmc.load_cnmc_images([p for p, k in zip(found["paths"], va) if k], dtype=np.uint8)
    y, yv, sv = found["labels"][tr], found["labels"][va], found["subjects"][va]
    notes.append(_weight_note(cnmc.class_weight(y)))
    p0, s0 = cnmc.load_pretrained(args.weights, net, *sx.init(net, 0))

    def start(seed):
        params, state = sx.init(net, seed)       # fresh head, seeded
        return {**tree_map(np.copy, p0), "head": params["head"]}, tree_map(np.copy, s0)

    seeds = [args.seed + i for i in range(SCALES["paper"]["seeds"])]
    run_dir = out / "runs"
    run_dir.mkdir(parents=True, exist_ok=True)
    runs = train_runs(net, start, x, y, xv, yv, seeds, args.nospeclr_lr,
                      cnmc.FinetuneConfig(input_scale=1 / 255, eval_batch=32), args.progress, run_dir)
    metrics_out, tables = analyse(runs, seeds, yv, sv)
    metrics_out["status"] = status
    return dict(config={"network": repr(net), "cnmc": str(root), "weights": str(args.weights), "val_fold": val_fold},
                seeds=seeds, metrics=metrics_out, tables=tables, figure_dataset="cnmc")


def main(argv=None):
    p = chapter_parser(__doc__, chapter=CHAPTER, datasets=("fashion-mnist", "digits"),
                       gpu_note=" (training uses autograd, which runs on the CPU only)")
    p.add_argument("--cnmc", type=Path, default=None, help="C-NMC 2019 training folder (paper scale)")
    p.add_argument("--weights", type=Path, default=None, help="ImageNet weights of se_resnext50_32x4d (paper scale)")
    p.add_argument("--paper-batch", type=non_negative_int, default=2, metavar="N",
                   help="batch size of the timed 300×300 step, >= 0 (paper scale; 0: do not time; default 2)")
    p.add_argument("--nospeclr-lr", type=positive_float, default=1e-4, metavar="LR",
                   help="NOSPECLR's one learning-rate factor for all layers, > 0 (thesis: best of 1e-3, 1e-4, 1e-5 "
                        "was 1e-4; default 1e-4)")
    p.add_argument("--val-fold", default=None, metavar="FOLD",
                   help="paper scale: the C-NMC fold (a fold_* folder name) used for validation; one the folder "
                        "lacks is an error before any work (default: the last fold_*)")
    args = p.parse_args(argv)
    sw = Stopwatch()
    notes: list[str] = []
    dsets = DataSets()
    # quick scale: small GEMMs, where BLAS threads cost more than they give (measured 5× on 2 cores)
    with threadpool_limits(1 if args.scale == "quick" else None):
        if args.scale == "quick":
            try:
                res = run_quick(args, notes, dsets)
            except DatasetNotFoundError as e:          # --dataset fashion-mnist asked for and absent
                dsets.skip("fashion-mnist", e)
                return dsets.nothing_ran()
        else:
            res = run_paper(args, notes, dsets, p.error)
            if res is None:
                return dsets.nothing_ran()
    out = output_dir(args)
    used = dsets.used[0] if dsets.used else "cnmc"
    dsets.label("metrics", used)
    tables = {name: {**t, "dataset": used} for name, t in res["tables"].items()}
    r = make_results(document="thesis", experiment="ch3 SE-ResNeXt fine-tuning: weighted loss, stage-wise learning "
                     "rates, test-time rotations (Table 3.2, Figs. 3.2-3.4, Sec. 3.4.5)", scale=args.scale,
                     config=res["config"], seeds=res["seeds"], metrics=res["metrics"], tables=tables,
                     paper=PAPER, notes=notes, elapsed_seconds=float(sw), datasets=dsets.report(),
                     tolerances={"metrics": trained(0.05, what="metrics after float32 fine-tuning"),
                                 "metrics/*p*": over_seeds(0.5, what="p-values over 5 runs")})
    write_results(out / "results.json", r)
    figures(out, res["metrics"], res["figure_dataset"], args.scale)   # after the results: a figure cannot lose them
    print("\nNotes:\n  " + "\n  ".join(notes))
    print(f"\nwrote {out / 'results.json'} and the figures ({float(sw):.0f} s)")
    return 0


if __name__ == "__main__":
    run(main)
