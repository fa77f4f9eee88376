"""Thesis ch. 3, Sec. 3.4: the fine-tuning recipe for C-NMC leukemia cell classification.

* the weighted binary cross-entropy of Eq. 3.6 is :func:`refimpl.nn.weighted_binary_cross_entropy`
  with ``w = negatives/positives`` (:func:`class_weight`). With the ALL class (positive) the
  majority, w ≈ 3389/7272 ≈ 0.47 < 1 — the text's "coefficient larger than one" has the direction
  wrong (docs/thesis.md);
* stage-wise learning rates (Sec. 3.4.2): :func:`stage_lr_scales` for
  :class:`refimpl.optim.ParamGroups` — thesis stages 1–2 (our ``stem`` and ``stage1``) 1e-6·η,
  stages 3–5 1e-4·η, the dense layer 1e-2·η — and the step schedule η = 1, ÷10 every 2 epochs
  (:func:`refimpl.optim.step_schedule`);
* augmentation (Sec. 3.4.1, :func:`augment`): centre crop, horizontal/vertical flips (p = 0.5),
  rotation uniform in [0°, 360°), translation up to 20 % of each side (``scipy.ndimage``);
* test-time augmentation (:func:`tta_logits`): the logit averaged over 8 rotations by 360°·j/8;
* evaluation before training and after every epoch, best checkpoint by weighted F1 (Sec. 3.4.3,
  :func:`finetune`); metrics (:func:`metrics`): accuracy, sensitivity, specificity and weighted
  F1/precision/recall from ``sklearn.metrics``; subject-level accuracy (:func:`subject_accuracy`);
* the C-NMC 2019 training folders (:func:`find_cnmc`, :func:`load_cnmc_images`) and ImageNet
  weights in the common PyTorch ``se_resnext50_32x4d`` state-dict layout
  (:func:`convert_state_dict`, :func:`load_pretrained`);
* :func:`golden_cases`: small deterministic input/expected pairs for other implementations.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import ndimage

from .. import nn
from ..autodiff import value_and_grad
from ..backend import as_generator, tree_map
from ..optim import Adam, ParamGroups, step_schedule
from . import se_resnext as sx

__all__ = ["class_weight", "stage_lr_scales", "uniform_lr_scales", "center_crop", "augment", "rotate_batch",
           "tta_logits", "metrics", "subject_accuracy", "FinetuneConfig", "finetune", "CNMCNotFoundError",
           "find_cnmc", "load_cnmc_images", "convert_state_dict", "load_pretrained", "golden_cases"]

#: thesis Sec. 3.4.2: learning-rate factors of thesis stages 1–2, 3–5 and the dense layer
LR_LOW, LR_MID, LR_HEAD = 1e-6, 1e-4, 1e-2


def class_weight(y) -> float:
    """w = negatives/positives of the training labels (Eq. 3.6). ``ValueError`` without positives."""
    y = np.asarray(y)
    pos = int(np.sum(y == 1))
    if pos == 0:
        raise ValueError("class_weight: no positive examples")
    return float(np.sum(y == 0)) / pos


def stage_lr_scales(cfg: sx.Config, *, low=LR_LOW, mid=LR_MID, head=LR_HEAD) -> dict[str, float]:
    """Learning-rate factors per top-level parameter key (Sec. 3.4.2): ``stem`` and ``stage1`` (the
    thesis' stages 1–2) ``low``, the remaining stages ``mid``, ``head`` ``head``."""
    names = sx.stage_names(cfg)
    return {k: (head if k == "head" else low if k in ("stem", "stage1") else mid) for k in names}


def uniform_lr_scales(cfg: sx.Config, lr: float = 1e-4) -> dict[str, float]:
    """NOSPECLR (Sec. 3.4.5): one factor for every layer."""
    return {k: lr for k in sx.stage_names(cfg)}


# ------------------------------------------------------------------------------------------
# augmentation and test-time rotations (Secs. 3.4.1, 3.4.2)
# ------------------------------------------------------------------------------------------

def center_crop(x, size: int):
    """The central ``size``×``size`` window of NCHW images (Sec. 3.4.1: 300×300 of 450×450)."""
    h, w = x.shape[-2:]
    if size > h or size > w:
        raise ValueError(f"center_crop: crop {size} exceeds the image size {h}×{w}")
    t, l = (h - size) // 2, (w - size) // 2
    return x[..., t:t + size, l:l + size]


def augment(x, rng, *, flips=True, rotate=True, translate=0.2, crop: int | None = None):
    """Sec. 3.4.1 on a batch ``(N, C, H, W)``: centre crop (optional), horizontal and vertical flips
    with p = 0.5 each, a rotation by an angle uniform in [0°, 360°) and a translation by up to
    ``translate`` of each side (uniform, in pixels), in this order (the author's code: crop, flips,
    affine). Rotation and shift are ``scipy.ndimage`` (bilinear, zero fill — the black background).
    No scaling, no colour changes. Returns a new array of the input dtype."""
    rng = as_generator(rng)
    if crop is not None:
        x = center_crop(x, crop)
    out = np.empty_like(x)
    h, w = x.shape[-2:]
    for i in range(x.shape[0]):
        img = x[i]
        if flips and rng.random() < 0.5:
            img = img[:, :, ::-1]
        if flips and rng.random() < 0.5:
            img = img[:, ::-1, :]
        if rotate:
            img = ndimage.rotate(img, rng.uniform(0.0, 360.0), axes=(1, 2), reshape=False, order=1,
                                 mode="constant", cval=0.0)
        if translate:
            dy, dx = rng.uniform(-translate, translate, 2) * (h, w)
            img = ndimage.shift(img, (0, dy, dx), order=1, mode="constant", cval=0.0)
        out[i] = img
    return out


def rotate_batch(x, angle: float):
    """Every image of ``(N, C, H, W)`` rotated by ``angle`` degrees about its centre (bilinear,
    zero fill; exact for multiples of 90°)."""
    a = angle % 360.0
    if a % 90.0 == 0.0:
        return np.ascontiguousarray(np.rot90(x, int(a // 90), axes=(2, 3)))
    return ndimage.rotate(x, angle, axes=(2, 3), reshape=False, order=1, mode="constant", cval=0.0)


def tta_logits(predict: Callable, x, n: int = 8):
    """Test-time augmentation (Sec. 3.4.2): ``predict`` (a function of an image batch returning one
    logit per image) on the images rotated by 360°·j/n, j = 0 … n − 1. Returns ``(mean logit (N,),
    per-rotation logits (n, N))``; row 0 is the plain (NOROT) prediction."""
    per = np.stack([np.asarray(predict(rotate_batch(x, 360.0 * j / n) if j else x)) for j in range(n)])
    return per.mean(axis=0), per


# ------------------------------------------------------------------------------------------
# metrics (Sec. 3.4)
# ------------------------------------------------------------------------------------------

def metrics(y_true, logits) -> dict[str, float]:
    """Accuracy, sensitivity TP/(TP+FN), specificity TN/(TN+FP) (ALL = 1 is positive) and weighted
    F1/precision/recall (``sklearn.metrics``, ``average="weighted"``) of the predictions
    ``logit > 0``. Weighted recall equals accuracy identically (Σ_c n_c/N · TP_c/n_c = Σ_c TP_c/N)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
    y = np.asarray(y_true).astype(int)
    pred = (np.asarray(logits) > 0).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="weighted", labels=[0, 1], zero_division=0)
    return {"accuracy": float(accuracy_score(y, pred)),
            "sensitivity": float(tp / (tp + fn)) if tp + fn else 0.0,
            "specificity": float(tn / (tn + fp)) if tn + fp else 0.0,
            "f1": float(f), "precision": float(p), "recall": float(r)}


def subject_accuracy(y_true, logits, subjects) -> dict[str, float]:
    """Accuracy per subject id (Fig. 3.3): ``{subject: fraction of its cells classified correctly}``."""
    correct = (np.asarray(logits) > 0).astype(int) == np.asarray(y_true).astype(int)
    subjects = np.asarray(subjects)
    return {str(s): float(correct[subjects == s].mean()) for s in sorted(set(subjects.tolist()))}


# ------------------------------------------------------------------------------------------
# fine-tuning (Sec. 3.4.2–3.4.3)
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FinetuneConfig:
    """Sec. 3.4.2: 6 epochs, batch 16, Adam with η_base = 1 ÷ 10 every 2 epochs; ``lr_scales`` per
    top-level parameter key (:func:`stage_lr_scales`, or :func:`uniform_lr_scales` for NOSPECLR);
    ``tta`` rotations at test time; augmentation settings of :func:`augment`."""
    epochs: int = 6
    batch_size: int = 16
    lr_every: int = 2
    lr_factor: float = 0.1
    tta: int = 8
    translate: float = 0.2
    crop: int | None = None
    eval_batch: int = 256
    input_scale: float = 1.0   # images stored as uint8: 1/255 (converted one batch at a time)


def _as_input(x, scale):
    return x if (x.dtype == np.float32 and scale == 1.0) else np.asarray(x, np.float32) * np.float32(scale)


def finetune(net: sx.Config, params, state, x, y, x_val, y_val, *, lr_scales: dict, seed=0,
             config: FinetuneConfig = FinetuneConfig(), callback: Callable | None = None) -> dict:
    """Fine-tune from ``params``/``state`` (not modified) on ``(x, y)`` with the weighted loss of
    Eq. 3.6 (w from ``y``), evaluating on ``(x_val, y_val)`` before training and after every epoch
    with and without test-time rotations. Returns ``{"history": [per epoch: {"epoch", "loss",
    "tta": metrics, "norot": metrics}], "best": {"tta": (epoch, metrics, logits),
    "norot": (...)}, "best_params", "best_state", "w"}``: the best checkpoint by weighted F1
    (first of equals), separately for the two test procedures (NOROT tests the same checkpoints
    without rotations, Sec. 3.4.5)."""
    rng = as_generator(seed)
    w = class_weight(y)
    opt = ParamGroups(Adam(lr=1.0), lr_scales)
    params = tree_map(lambda a: a.copy(), params)
    opt_state = opt.init(params)

    def objective(p, xb, yb, s):
        out, new_s = sx.apply(net, p, s, xb, training=True)
        return nn.weighted_binary_cross_entropy(out, yb, w), new_s

    step = value_and_grad(objective, has_aux=True)
    history, best = [], {}

    def predict(xb):
        return sx.apply(net, params, state, xb)[0]

    def evaluate(epoch, loss):
        chunks = [tta_logits(predict, _as_input(x_val[i:i + config.eval_batch], config.input_scale), config.tta)
                  for i in range(0, len(x_val), config.eval_batch)]
        mean, per = np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks], axis=1)
        row = {"epoch": epoch, "loss": loss, "tta": metrics(y_val, mean), "norot": metrics(y_val, per[0])}
        history.append(row)
        for kind, logits in (("tta", mean), ("norot", per[0])):
            if kind not in best or row[kind]["f1"] > best[kind][1]["f1"]:
                best[kind] = (epoch, row[kind], logits)
                if kind == "tta":
                    best["params"], best["state"] = copy.deepcopy(params), copy.deepcopy(state)
        if callback is not None:
            callback(row)

    evaluate(0, None)
    n = len(y)
    for epoch in range(config.epochs):
        factor = step_schedule(epoch, every=config.lr_every, factor=config.lr_factor)
        order = rng.permutation(n)
        total = 0.0
        for b in range(0, n, config.batch_size):
            idx = order[b:b + config.batch_size]
            xb = augment(_as_input(x[idx], config.input_scale), rng, translate=config.translate, crop=config.crop)
            (value, state), grads = step(params, xb, y[idx], state)
            if not np.isfinite(value):
                raise FloatingPointError(f"fine-tuning loss became {value} in epoch {epoch}")
            params, opt_state = opt.update(params, grads, opt_state, inplace=True, lr_factor=factor)
            total += float(value) * len(idx)
        evaluate(epoch + 1, total / n)
    return {"history": history, "best": {k: best[k] for k in ("tta", "norot")}, "best_params": best["params"],
            "best_state": best["state"], "w": w}


# ------------------------------------------------------------------------------------------
# C-NMC 2019 data and ImageNet weights (paper scale)
# ------------------------------------------------------------------------------------------

class CNMCNotFoundError(FileNotFoundError):
    """The C-NMC training folders are missing or have an unexpected layout."""


_SUBJECT = re.compile(r"^UID_(H?\d+)_")


def find_cnmc(root) -> dict:
    """The C-NMC 2019 training set under ``root``: ``fold_*/all/*.bmp`` (ALL, label 1) and
    ``fold_*/hem/*.bmp`` (normal, label 0). Subject ids come from the file names
    (``UID_<subject>_<image>_<cell>_<all|hem>.bmp``; healthy subjects carry the prefix H). Returns
    ``{"paths", "labels" (int64), "subjects", "folds"}``. Raises :class:`CNMCNotFoundError`
    naming what is missing."""
    root = Path(root)
    if not root.is_dir():
        raise CNMCNotFoundError(f"C-NMC folder {root} does not exist; expected {root}/fold_0/all/*.bmp, "
                                f"{root}/fold_0/hem/*.bmp, … (the C-NMC 2019 training data, from The Cancer "
                                f"Imaging Archive)")
    folds = sorted(p for p in root.glob("fold_*") if p.is_dir())
    if not folds:
        raise CNMCNotFoundError(f"no fold_* folders in {root}; expected fold_0/all/*.bmp and fold_0/hem/*.bmp")
    paths, labels, subjects, fold_of = [], [], [], []
    for fold in folds:
        for cls, label in (("all", 1), ("hem", 0)):
            d = fold / cls
            if not d.is_dir():
                raise CNMCNotFoundError(f"{d} is missing: every fold_* folder needs all/ and hem/")
            for f in sorted(d.glob("*.bmp")):
                m = _SUBJECT.match(f.name)
                if m is None:
                    raise CNMCNotFoundError(f"cannot read a subject id from {f} (expected UID_<subject>_…)")
                paths.append(f)
                labels.append(label)
                subjects.append(m.group(1))
                fold_of.append(fold.name)
    if not paths:
        raise CNMCNotFoundError(f"no .bmp images under {root}/fold_*/{{all,hem}}/")
    return {"paths": paths, "labels": np.array(labels, np.int64), "subjects": np.array(subjects),
            "folds": np.array(fold_of)}


def load_cnmc_images(paths, *, crop: int = 300, dtype=np.float32):
    """Images ``(N, 3, crop, crop)``: in [0, 1] for a float ``dtype``, the raw 0–255 values for
    ``np.uint8`` (a quarter of the memory; :class:`FinetuneConfig` ``input_scale=1/255`` converts
    each batch). Centre-cropped (Sec. 3.4.1); no mean/std normalisation, as the author's code."""
    from PIL import Image
    out = np.empty((len(paths), 3, crop, crop), dtype)
    scale = 1.0 if np.dtype(dtype) == np.uint8 else 1.0 / 255.0
    for i, p in enumerate(paths):
        a = np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1)
        out[i] = center_crop(a[None], crop)[0] * scale
    return out


def _torch_names(cfg: sx.Config):
    """(our path, the PyTorch ``se_resnext50_32x4d`` state-dict prefix) of every conv+BN unit and SE."""
    yield ("stem",), "layer0.conv1", "layer0.bn1"
    for i, (blocks, *_rest) in enumerate(cfg.stages):
        for j in range(blocks):
            base = f"layer{i + 1}.{j}"
            for k in (1, 2, 3):
                yield (f"stage{i + 1}", j, f"conv{k}"), f"{base}.conv{k}", f"{base}.bn{k}"
            yield (f"stage{i + 1}", j, "proj"), f"{base}.downsample.0", f"{base}.downsample.1"
            yield (f"stage{i + 1}", j, "se"), f"{base}.se_module", None


def convert_state_dict(sd: dict, cfg: sx.Config, params, state):
    """Copy ImageNet weights from a PyTorch state dict of the common ``se_resnext50_32x4d`` layout
    (``layer0.conv1.weight``, ``layer1.0.conv2.weight``, ``….se_module.fc1.weight``,
    ``….downsample.0.weight``, …) into copies of ``params``/``state`` (from :func:`se_resnext.init`).
    The classifier (``last_linear``) is not copied: the head is the fresh one-logit layer.
    Raises ``KeyError`` naming a missing tensor and ``ValueError`` naming a tensor whose shape does
    not match."""
    params, state = copy.deepcopy(params), copy.deepcopy(state)
    sd = {k: np.asarray(v) for k, v in sd.items()}

    def take(name, shape):
        if name not in sd:
            raise KeyError(f"weights file has no tensor {name!r}")
        a = sd[name]
        if tuple(a.shape) != tuple(shape):
            raise ValueError(f"tensor {name!r} has shape {tuple(a.shape)}, the network needs {tuple(shape)}")
        return a

    def node(tree, path):
        for k in path:
            tree = tree[k]
        return tree

    for path, conv, bn in _torch_names(cfg):
        try:
            p = node(params, path)
        except KeyError:
            continue                                    # no projection in this block
        dt = next(iter(p.values())).dtype
        if bn is None:                                  # SE: fc1/fc2 are 1×1 convolutions with bias
            p["W1"][...] = take(f"{conv}.fc1.weight", p["W1"].shape[::-1] + (1, 1))[:, :, 0, 0].T.astype(dt)
            p["b1"][...] = take(f"{conv}.fc1.bias", p["b1"].shape).astype(dt)
            p["W2"][...] = take(f"{conv}.fc2.weight", p["W2"].shape[::-1] + (1, 1))[:, :, 0, 0].T.astype(dt)
            p["b2"][...] = take(f"{conv}.fc2.bias", p["b2"].shape).astype(dt)
            continue
        s = node(state, path)
        p["W"][...] = take(f"{conv}.weight", p["W"].shape).astype(dt)
        p["gamma"][...] = take(f"{bn}.weight", p["gamma"].shape).astype(dt)
        p["beta"][...] = take(f"{bn}.bias", p["beta"].shape).astype(dt)
        s["mean"][...] = take(f"{bn}.running_mean", s["mean"].shape).astype(dt)
        s["var"][...] = take(f"{bn}.running_var", s["var"].shape).astype(dt)
    return params, state


def load_pretrained(path, cfg: sx.Config, params, state):
    """:func:`convert_state_dict` from a file: ``.npz`` (arrays named as in the state dict) or a
    PyTorch ``.pth``/``.pt`` (needs ``torch``, used for reading only). ``FileNotFoundError`` if absent."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found; supply ImageNet weights of se_resnext50_32x4d "
                                f"(PyTorch state dict, e.g. from the 'pretrainedmodels' package) as .pth or .npz")
    if path.suffix == ".npz":
        with np.load(path) as z:
            sd = {k: z[k] for k in z.files}
    else:
        try:
            import torch
        except ImportError:
            raise ImportError(f"reading {path} needs torch; or convert it to .npz elsewhere") from None
        sd = {k: v.detach().cpu().numpy() for k, v in torch.load(path, map_location="cpu").items()}
    return convert_state_dict(sd, cfg, params, state)


# ------------------------------------------------------------------------------------------
# golden cases
# ------------------------------------------------------------------------------------------

def golden_cases() -> list[dict]:
    """Deterministic small cases ``{name, equation, inputs, expected}`` (float64, nested lists):
    a grouped convolution, the SE module, one bottleneck block (evaluation mode), the TTA average
    of a given set of per-rotation logits, and the metrics of a given confusion. ``refimpl.cases``
    exports them with typed arrays to ``cases/thesis/`` (kinds ``grouped_conv2d``, ``se_module``,
    ``se_bottleneck``, ``tta_average``, ``cnmc_metrics``)."""
    rng = np.random.default_rng(2020)
    cases = []
    x = rng.standard_normal((1, 4, 4, 4))
    K = rng.standard_normal((4, 2, 3, 3))
    cases.append({"name": "grouped_conv", "equation": "Eq. 2.11 with groups=2 (Eq. 3.1's K paths), padding 1",
                  "inputs": {"x": x.tolist(), "K": K.tolist(), "groups": 2, "padding": 1, "stride": 1},
                  "expected": nn.conv2d(x, K, padding=1, groups=2).tolist()})
    u = rng.standard_normal((2, 4, 3, 3))
    p = {k: v.astype(np.float64) for k, v in sx.se_init(rng, 4, 2).items()}
    p["b1"], p["b2"] = rng.standard_normal(2), rng.standard_normal(4)
    cases.append({"name": "se_module", "equation": "Eqs. 3.3-3.5, dense weights (in, out)",
                  "inputs": {"u": u.tolist(), **{k: v.tolist() for k, v in p.items()}},
                  "expected": sx.se_module(p, u).tolist()})
    groups, stride = 2, 2
    bp, bs = sx.bottleneck_init(rng, 4, 4, 8, groups=groups, stride=stride, se_reduction=4, dtype=np.float64)
    for unit in ("conv1", "conv2", "conv3", "proj"):
        bp[unit]["beta"][:] = rng.standard_normal(bp[unit]["beta"].shape)
        bs[unit]["mean"][:] = 0.1 * rng.standard_normal(bs[unit]["mean"].shape)
    u = rng.standard_normal((1, 4, 4, 4))
    v, _ = sx.bottleneck(bp, bs, u, groups=groups, stride=stride, training=False)
    cases.append({"name": "bottleneck", "equation": "Eq. 3.2 + ReLU after the add, 1x1 projection shortcut, "
                  "evaluation-mode BN (eps 1e-5), groups 2, stride 2",
                  "inputs": {"u": u.tolist(), "params": tree_map(lambda a: a.tolist(), bp),
                             "state": tree_map(lambda a: a.tolist(), bs), "groups": groups, "stride": stride},
                  "expected": v.tolist()})
    per = rng.standard_normal((8, 3))
    cases.append({"name": "tta_average", "equation": "Sec. 3.4.2: mean of the logits of 8 rotations",
                  "inputs": {"per_rotation_logits": per.tolist()}, "expected": per.mean(axis=0).tolist()})
    y = np.array([1] * 8 + [0] * 4)
    logits = np.array([1, 1, 1, 1, 1, 1, -1, -1, 1, -1, -1, -1], float)   # TP 6, FN 2, FP 1, TN 3
    cases.append({"name": "metrics", "equation": "Sec. 3.4: TP=6 FN=2 FP=1 TN=3",
                  "inputs": {"y": y.tolist(), "logits": logits.tolist()}, "expected": metrics(y, logits)})
    return cases
