"""Learned weight sharing: NES over layer assignments plus Monte Carlo SGD (thesis ch. 8, Algorithm 6).

The search distribution p(a|π) over assignments is one categorical per (routed layer, task), in
full-K form ``pi (n_routed, T, K)`` (:mod:`refimpl.thesis.nes` has the operators). Every iteration
of :func:`train` is Algorithm 6, lines 25–28:

1. :func:`nes_step` (lines 3–13): one batch, λ_π sampled assignments, their losses on that batch
   (batch norm in evaluation mode, as the author's code), rank utilities (Eq. 8.19) and the
   natural-gradient step π ← π + η_π·(1/λ_π)·Σ u_i·(onehot(a_i) − π) (Eqs. 8.18, 8.44), clamped at
   0.001 and renormalised (Sec. 8.5);
2. :func:`sgd_step` (lines 14–22): a *new* batch, λ_θ sampled assignments, the gradient of their
   mean loss (Eq. 8.20) from one batched pass (:func:`refimpl.thesis.routed.mc_objective`), one
   Adam step (η_θ = 1e-3, Sec. 8.5).

Baselines (Sec. 8.5): full sharing and no sharing are networks without routed layers
(:func:`dkl_convnet` and the others with ``sharing="full"`` / ``"none"``), trained by the
same loop with λ_θ = 1 and no NES step. Inference uses the argmax assignment (Sec. 8.4.5).

Batches hold ``per_task`` = 16 examples of every task (Sec. 8.5); each task's examples are drawn
without replacement from a per-task permutation, redrawn when used up (as the author's code).
One ``np.random.Generator`` drives batches and samples; a run resumes from its checkpoint exactly.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_file
from ..autodiff import value_and_grad
from ..backend import as_generator, tree_leaves, tree_map
from ..optim import Adam
from . import nes, routed
from .routed import RoutedNet

__all__ = ["convnet", "dkl_convnet", "routing_convnet", "slo_convnet", "resnet18",
           "LWSConfig", "TaskSampler", "LWSResult", "mc_gradient", "normalise_gradients", "nes_step",
           "sgd_step", "train", "save_checkpoint", "load_checkpoint", "sharing_histogram", "golden_cases"]


@dataclass(frozen=True)
class LWSConfig:
    """Settings of Algorithm 6 (defaults: the DKL-MNIST run of Sec. 8.5.1).

    ``grad_normalisation``: ``"mean"`` is Eq. 8.20 (the mean over samples of the task-averaged loss's
    gradient); ``"code"`` rescales each tensor as the author's code (:func:`normalise_gradients`).
    ``nes_bn``: batch-norm mode of the NES losses, ``"eval"`` (the code) or ``"train"``.
    ``ties``: tie rule of the rank utilities (:func:`refimpl.thesis.nes.rank_utilities`).
    ``dedup``: compute identical (task, assignment-prefix) sub-batches once (same numbers).
    """
    iterations: int = 5000
    per_task: int = 16
    lam_theta: int = 8
    lam_pi: int = 8
    lr_theta: float = 1e-3
    lr_pi: float = 1e-2
    p_min: float = 1e-3
    nes_bn: str = "eval"
    grad_normalisation: str = "mean"
    ties: str = "average"
    dedup: bool = True
    eval_every: int = 200

    def __post_init__(self):
        for name in ("iterations",):
            if not (isinstance(getattr(self, name), (int, np.integer)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be an int >= 0, got {getattr(self, name)!r}")
        for name in ("per_task", "lam_theta", "eval_every"):
            if not (isinstance(getattr(self, name), (int, np.integer)) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be an int >= 1, got {getattr(self, name)!r}")
        if not (isinstance(self.lam_pi, (int, np.integer)) and self.lam_pi >= 2):
            raise ValueError(f"NES needs lam_pi >= 2 samples (utilities divide by lambda_pi - 1), got {self.lam_pi!r}")
        if not self.lr_pi > 0:
            raise ValueError(f"the NES learning rate lr_pi (eta_pi) must be > 0, got {self.lr_pi}")
        if not self.lr_theta > 0:
            raise ValueError(f"lr_theta must be > 0, got {self.lr_theta}")
        if not 0 <= self.p_min < 1:
            raise ValueError(f"p_min must lie in [0, 1), got {self.p_min}")
        if self.nes_bn not in ("eval", "train"):
            raise ValueError(f"nes_bn must be 'eval' or 'train', got {self.nes_bn!r}")
        if self.grad_normalisation not in ("mean", "code"):
            raise ValueError(f"grad_normalisation must be 'mean' or 'code', got {self.grad_normalisation!r}")
        if self.ties not in ("average", "first"):
            raise ValueError(f"ties must be 'average' or 'first', got {self.ties!r}")

    def replace(self, **changes) -> "LWSConfig":
        return dataclasses.replace(self, **changes)


class TaskSampler:
    """Batches of ``per_task`` example indices from every task: each task walks through its own random
    permutation and draws a new one when it is used up (possibly within a batch), as the author's code.

    ``sizes``: training-set size of every task (each >= 1, else ``ValueError``). :meth:`next` returns
    a list of index arrays, one per task; :attr:`state` / :meth:`from_state` checkpoint it."""

    def __init__(self, sizes: Sequence[int], per_task: int):
        if not sizes or any(int(n) < 1 for n in sizes):
            raise ValueError(f"every task needs at least one training example, got sizes {list(sizes)}")
        self.sizes, self.per_task = [int(n) for n in sizes], int(per_task)
        self.perms = [np.zeros(0, np.int64) for _ in sizes]
        self.pos = [0] * len(sizes)

    def next(self, rng: np.random.Generator) -> list[np.ndarray]:
        out = []
        for t, n in enumerate(self.sizes):
            idx = np.empty(self.per_task, np.int64)
            for j in range(self.per_task):
                if self.pos[t] >= len(self.perms[t]):
                    self.perms[t], self.pos[t] = rng.permutation(n), 0
                idx[j] = self.perms[t][self.pos[t]]
                self.pos[t] += 1
            out.append(idx)
        return out

    @property
    def state(self) -> dict:
        return {"perms": [p.tolist() for p in self.perms], "pos": list(self.pos)}

    @classmethod
    def from_state(cls, sizes, per_task, state) -> "TaskSampler":
        s = cls(sizes, per_task)
        s.perms = [np.asarray(p, np.int64) for p in state["perms"]]
        s.pos = [int(p) for p in state["pos"]]
        return s


# --------------------------------------------------------------------------------------------
# The chapter's networks (Sec. 8.5) and the two baselines
# --------------------------------------------------------------------------------------------

_SHARING = {"learned": "routed", "full": "shared", "none": "task"}


def _mode(sharing: str) -> str:
    if sharing not in _SHARING:
        raise ValueError(f"sharing must be one of {tuple(_SHARING)}, got {sharing!r}")
    return _SHARING[sharing]


def convnet(n_classes: Sequence[int], input_shape, *, channels: Sequence[int], units: Sequence[int] = (),
            sharing: str = "learned", n_modules: int = 3, shared_convs: bool = False,
            head_pool: str = "flatten") -> RoutedNet:
    """[routed.ConvBlock(c) for c in channels] + [routed.DenseBlock(u) for u in units] + task heads. ``sharing``:
    ``"learned"`` (routed, K = ``n_modules``), ``"full"`` (shared) or ``"none"`` (per task);
    ``shared_convs`` keeps the conv blocks shared whatever ``sharing`` says."""
    mode = _mode(sharing)
    blocks = tuple(routed.ConvBlock(int(c)) for c in channels) + tuple(routed.DenseBlock(int(u)) for u in units)
    routing = ("shared" if shared_convs else mode,) * len(channels) + (mode,) * len(units)
    return RoutedNet(tuple(input_shape), blocks, routing, tuple(int(c) for c in n_classes), n_modules, head_pool)


def dkl_convnet(n_classes=(10, 26, 10), sharing="learned", *, n_modules=3, input_shape=(1, 28, 28),
                channels=32, units=128) -> RoutedNet:
    """Sec. 8.5.1: 3× [conv 3×3, 32 channels, BN, ReLU, max-pool 2] → dense 128 ReLU → heads; all four
    shareable (28×28 gives 32·3·3 = 288 dense inputs, as the code)."""
    return convnet(n_classes, input_shape, channels=(channels,) * 3, units=(units,), sharing=sharing,
                   n_modules=n_modules)


def routing_convnet(n_classes=(5,) * 20, sharing="learned", *, n_modules=20, input_shape=(3, 32, 32)) -> RoutedNet:
    """Sec. 8.5.2, the net of the routing-networks paper: 4× [conv 32, BN, ReLU, max-pool 2] (always
    shared) → 3× dense 128 ReLU (shareable) → heads."""
    return convnet(n_classes, input_shape, channels=(32,) * 4, units=(128,) * 3, sharing=sharing,
                   n_modules=n_modules, shared_convs=True)


def slo_convnet(n_classes, sharing="learned", *, n_modules=20, input_shape=(1, 105, 105)) -> RoutedNet:
    """Sec. 8.5.3, the net of the soft-layer-ordering paper: 4× [conv 53, BN, ReLU, max-pool 2]
    (shareable) → global average pool → heads."""
    return convnet(n_classes, input_shape, channels=(53,) * 4, sharing=sharing, n_modules=n_modules,
                   head_pool="global_avg")


def resnet18(n_classes, sharing="learned", *, n_modules=20, input_shape=(3, 32, 32), stem_stride=1,
             first_stride=1) -> RoutedNet:
    """Secs. 8.5.2–8.5.3: ResNet-18 without the 3×3 max-pool; a conv 3×3 64 stem (always shared, as the
    code), 4 stages of 2 basic blocks (64, 128, 256, 512 channels; the first block of stages 2–4 has
    stride 2), each block one shareable unit; global average pool → heads. CIFAR: strides 1, 1.
    Omniglot: ``stem_stride=2, first_stride=1``, the text's network with the max-pool (and its
    stride) removed; the author's code uses ``stem_stride=2, first_stride=2``. "same" padding
    (TensorFlow's split: the odd pixel after), where the code pads one pixel on both sides."""
    mode = _mode(sharing)
    blocks, strides = [routed.ConvBlock(64, stride=stem_stride, pool=False)], []
    for i, f in enumerate((64, 128, 256, 512)):
        strides += [first_stride if i == 0 else 2, 1]
        blocks += [routed.ResBlock(f, strides[-2]), routed.ResBlock(f, 1)]
    return RoutedNet(tuple(input_shape), tuple(blocks), ("shared",) + (mode,) * 8,
                     tuple(int(c) for c in n_classes), n_modules, "global_avg")


# --------------------------------------------------------------------------------------------
# Algorithm 6, lines 14–22: the Monte Carlo gradient (Eq. 8.20)
# --------------------------------------------------------------------------------------------

def mc_gradient(net: RoutedNet, params, state, xs, ys, assignments, *, method: str = "batched",
                dedup: bool = True):
    """∇_θ J ≈ (1/λ_θ)·Σ_i ∇_θ L_{x,y}(θ, a_i) (Eq. 8.20) on one batch: ``(J, grads, new_state)``.

    ``assignments (λ_θ, n_routed, T)``. ``method="batched"``: one differentiated pass with the
    samples' sub-batches grouped by module (:func:`refimpl.thesis.routed.mc_objective`);
    ``"loop"``: one pass per sample, gradients averaged (what Algorithm 6 writes; λ_θ× the work of a
    single pass). Both give the same J and gradient; the loop moves the running statistics once
    per sample, the batched pass once in all. ``grads`` has the structure of ``params`` (float32).
    """
    a = net.check_assignment(assignments)
    a = a[None] if a.ndim == 2 else a
    if method == "batched":
        aux = {}

        def objective(p):
            value, aux["state"] = routed.mc_objective(net, p, state, xs, ys, a, dedup=dedup)
            return value
        value, grads = value_and_grad(objective)(params)
        return float(value), grads, aux["state"]
    if method != "loop":
        raise ValueError(f"method must be 'batched' or 'loop', got {method!r}")
    total, acc, new_state = 0.0, None, state
    for sample in a:
        aux = {}

        def objective(p, sample=sample, st=new_state):
            value, aux["state"] = routed.mc_objective(net, p, st, xs, ys, sample)
            return value
        value, g = value_and_grad(objective)(params)
        total += float(value) / len(a)
        acc = g if acc is None else tree_map(lambda u, v: u + v, acc, g)
        new_state = aux["state"]
    return total, tree_map(lambda u: u * np.float32(1.0 / len(a)), acc), new_state


def normalise_gradients(net: RoutedNet, grads, pi) -> dict:
    """The author's code's gradient scaling, expressed relative to Eq. 8.20.

    The code sums the per-task mean losses' gradients over tasks and samples and then divides
    shared modules by T·λ_θ, per-task modules and heads by λ_θ, and routed module m of a layer by
    λ_θ·Σ_t π[t, m] (its expected number of tasks). Relative to Eq. 8.20 (which divides everything
    by T·λ_θ) that multiplies per-task tensors and heads by T and routed module m by T/Σ_t π[t, m].
    Adam divides each tensor's step by the root of its own second-moment average, so a constant
    per-tensor factor cancels except against ε; Σ_t π[t, m] moves slowly, so the two choices give
    nearly the same steps. Returns new gradients; ``pi (n_routed, T, K)``.
    """
    T = net.n_tasks
    routed_row = {layer: i for i, layer in enumerate(net.routed_layers)}
    layers = []
    for layer, mods in enumerate(grads["layers"]):
        mode = net.routing[layer]
        if mode == "shared":
            factors = [1.0] * len(mods)
        elif mode == "task":
            factors = [float(T)] * len(mods)
        else:
            factors = list(T / np.asarray(pi)[routed_row[layer]].sum(0))
        layers.append([tree_map(lambda g, f=f: g * np.float32(f), m) for m, f in zip(mods, factors)])
    heads = [tree_map(lambda g: g * np.float32(T), h) for h in grads["heads"]]
    return {"layers": layers, "heads": heads}


def sgd_step(net, params, state, opt, opt_state, pi, xs, ys, rng, config: LWSConfig):
    """StepSGD (Algorithm 6, lines 14–22): sample λ_θ assignments from π (none for a network without
    routed layers), take the Monte Carlo gradient on the batch ``xs, ys`` and one optimizer step
    (in place on ``params``/``opt_state``). Returns ``(params, state, opt_state, loss)``."""
    if net.routed_layers:
        a = nes.sample(pi, config.lam_theta, rng)
    else:
        a = np.zeros((config.lam_theta, 0, net.n_tasks), np.int64)
    loss, grads, state = mc_gradient(net, params, state, xs, ys, a, dedup=config.dedup)
    if not np.isfinite(loss):
        raise FloatingPointError(f"the training loss became {loss}; try a smaller lr_theta")
    if config.grad_normalisation == "code":
        grads = normalise_gradients(net, grads, pi)
    params, opt_state = opt.update(params, grads, opt_state, inplace=True)
    return params, state, opt_state, loss


def nes_step(net, params, state, pi, xs, ys, rng, config: LWSConfig):
    """StepNES (Algorithm 6, lines 3–13) on the batch ``xs, ys``: λ_π assignments, their losses
    (:func:`refimpl.thesis.routed.sample_losses`, batch norm per ``config.nes_bn``), rank utilities
    and the clamped natural-gradient step. Returns ``(new_pi, info)`` (see :func:`nes.step`)."""
    def losses(a):
        return routed.sample_losses(net, params, state, xs, ys, a, training=config.nes_bn == "train",
                                    dedup=config.dedup)
    return nes.step(pi, losses, config.lam_pi, config.lr_pi, rng, p_min=config.p_min, ties=config.ties)


# --------------------------------------------------------------------------------------------
# Algorithm 6: the loop, with checkpoints
# --------------------------------------------------------------------------------------------

@dataclass
class LWSResult:
    """What :func:`train` returns: trained ``params`` and batch-norm ``state``, the search distribution
    ``pi (n_routed, T, K)``, its argmax ``assignment (n_routed, T)``, ``n_params`` of that
    configuration (Sec. 8.5.2), and ``history`` (lists per record: ``iteration``, ``pooled_error``,
    ``task_mean_error``, ``task_error`` (per task), ``entropy`` (mean over categoricals, nats),
    ``train_loss``, ``nes_loss``; ``seconds_sgd``/``seconds_nes`` (wall-clock totals))."""
    params: dict
    state: dict
    pi: np.ndarray
    assignment: np.ndarray
    n_params: int
    history: dict


def _empty_history():
    return {k: [] for k in ("iteration", "pooled_error", "task_mean_error", "task_error", "entropy",
                            "train_loss", "nes_loss")} | {"seconds_sgd": 0.0, "seconds_nes": 0.0}


def _check_tasks(net, tasks, name):
    if len(tasks) != net.n_tasks:
        raise ValueError(f"{name} must give (x, y) for each of the {net.n_tasks} tasks, got {len(tasks)}")
    for t, (x, y) in enumerate(tasks):
        if len(y) == 0 or len(x) != len(y):
            raise ValueError(f"{name}: task {t} has {len(x)} inputs and {len(y)} labels (needs >= 1, equal)")
        if len(y) and (int(np.min(y)) < 0 or int(np.max(y)) >= net.n_classes[t]):
            raise ValueError(f"{name}: task {t} labels must lie in [0, {net.n_classes[t]})")


def train(net: RoutedNet, tasks: Sequence, config: LWSConfig, seed, *, tests: Sequence | None = None,
          checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 500, progress: bool = False,
          desc: str = "LWS", callback: Callable | None = None) -> LWSResult:
    """Algorithm 6 for ``config.iterations`` iterations: π uniform (line 23), θ He-uniform (line 24), then
    NES step and SGD step per iteration (lines 25–28). Without routed layers (the baselines) only
    the SGD step runs.

    ``tasks[t] = (x_t (n_t, *net.input_shape) float32, y_t (n_t,) int)``; ``tests`` likewise, evaluated
    with the argmax assignment at iteration 0, every ``config.eval_every`` iterations and at the end.
    ``seed``: int or Generator. ``checkpoint``: a ``.npz`` path; if it exists the run resumes from it
    (same network and settings except ``iterations``, else ``ValueError``), and it is rewritten every
    ``checkpoint_every`` iterations and at the end. ``callback(iteration, params, pi)`` after each
    iteration. Raises ``ValueError`` on bad data and ``FloatingPointError`` on a non-finite loss.
    """
    _check_tasks(net, tasks, "tasks")
    if tests is not None:
        _check_tasks(net, tests, "tests")
    opt = Adam(lr=config.lr_theta)
    xs_all = [np.asarray(x, np.float32) for x, _ in tasks]
    ys_all = [np.asarray(y, np.int64) for _, y in tasks]
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        run = load_checkpoint(ckpt)
        if run["net"] != net.describe() or {**run["config"], "iterations": 0} != \
                {**dataclasses.asdict(config), "iterations": 0}:
            raise ValueError(f"checkpoint {ckpt} was written for another network or configuration")
        params, state, opt_state, pi = run["params"], run["state"], run["opt_state"], run["pi"]
        rng, start, history = run["rng"], run["iteration"], run["history"]
        sampler = TaskSampler.from_state([len(y) for y in ys_all], config.per_task, run["sampler"]["tasks"])
        losses = run["sampler"]["pending"]
        if history["iteration"] and history["iteration"][-1] % config.eval_every:
            history = {k: (v[:-1] if isinstance(v, list) else v) for k, v in history.items()}  # provisional end record
    else:
        rng = as_generator(seed)
        pi = nes.uniform(net.pi_shape[:2], net.n_modules)
        params, state = net.init(rng), net.init_state()
        opt_state, start, history = opt.init(params), 0, _empty_history()
        sampler = TaskSampler([len(y) for y in ys_all], config.per_task)
        losses = {"train": [], "nes": []}

    def record(i):
        a = nes.mode(pi)
        history["iteration"].append(i)
        history["entropy"].append(float(nes.entropy(pi).mean()) if pi.size else 0.0)
        history["train_loss"].append(float(np.mean(losses["train"])) if losses["train"] else None)
        history["nes_loss"].append(float(np.mean(losses["nes"])) if losses["nes"] else None)
        if i % config.eval_every == 0:        # an end record between multiples is provisional
            losses["train"].clear(), losses["nes"].clear()
        if tests is not None:
            ev = routed.evaluate(net, params, state, tests, a)
            history["pooled_error"].append(ev["pooled"])
            history["task_mean_error"].append(ev["task_mean"])
            history["task_error"].append(ev["error"])

    if start == 0 and not history["iteration"]:
        record(0)

    def batch():
        idx = sampler.next(rng)
        return [x[i] for x, i in zip(xs_all, idx)], [y[i] for y, i in zip(ys_all, idx)]

    with tqdm(total=config.iterations, initial=start, desc=desc, disable=not progress, leave=False,
              dynamic_ncols=True) as bar:
        for i in range(start, config.iterations):
            if net.routed_layers:
                t0 = time.perf_counter()
                pi, info = nes_step(net, params, state, pi, *batch(), rng, config)
                losses["nes"].append(float(np.mean(info["losses"])))
                history["seconds_nes"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            params, state, opt_state, loss = sgd_step(net, params, state, opt, opt_state, pi, *batch(), rng, config)
            history["seconds_sgd"] += time.perf_counter() - t0
            losses["train"].append(loss)
            done = i + 1
            if done % config.eval_every == 0 or done == config.iterations:
                record(done)
            if ckpt is not None and (done % checkpoint_every == 0 or done == config.iterations):
                save_checkpoint(ckpt, net, config, params=params, state=state, opt_state=opt_state, pi=pi,
                                rng=rng, iteration=done, history=history,
                                sampler={"tasks": sampler.state, "pending": losses})
            if callback is not None:
                callback(done, params, pi)
            bar.update(1)
    a = nes.mode(pi)
    return LWSResult(params=params, state=state, pi=pi, assignment=a, n_params=net.count_params(a),
                     history=history)


def _structure(tree):
    return tree_map(lambda _: None, tree)


def _rebuild(structure, leaves):
    it = iter(leaves)

    def walk(s):
        if isinstance(s, dict):
            return {k: walk(v) for k, v in s.items()}
        if isinstance(s, list):
            return [walk(v) for v in s]
        return next(it)
    return walk(structure)


def save_checkpoint(path, net: RoutedNet, config: LWSConfig, *, params, state, opt_state, pi, rng,
                    iteration, history, sampler) -> Path:
    """Write everything :func:`train` needs to continue to the ``.npz`` file ``path`` atomically
    (``sampler``: any JSON value, here the batch sampler's state and the losses not yet recorded)."""
    tree = {"params": params, "state": state, "m": opt_state["m"], "v": opt_state["v"], "pi": pi}
    leaves = tree_leaves(tree)
    meta = {"net": net.describe(), "config": dataclasses.asdict(config), "iteration": int(iteration),
            "step": int(opt_state["step"]), "rng": rng.bit_generator.state,
            "bit_generator": type(rng.bit_generator).__name__, "history": history, "sampler": sampler,
            "structure": _structure(tree)}
    with atomic_file(path, suffix=".tmp.npz") as tmp:
        np.savez(tmp, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                 **{f"leaf{i}": np.asarray(a) for i, a in enumerate(leaves)})
    return Path(path)


def load_checkpoint(path) -> dict:
    """Read a checkpoint of :func:`save_checkpoint` (``FileNotFoundError`` if absent): a dict with
    ``params, state, opt_state, pi, rng, iteration, history, sampler, net, config``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no LWS checkpoint at {path}")
    with np.load(path) as f:
        meta = json.loads(bytes(f["meta"]).decode())
        leaves = [f[f"leaf{i}"] for i in range(sum(k.startswith("leaf") for k in f.files))]
    tree = _rebuild(meta["structure"], leaves)
    bitgen = getattr(np.random, meta["bit_generator"])()
    bitgen.state = meta["rng"]
    return {"params": tree["params"], "state": tree["state"], "pi": tree["pi"],
            "opt_state": {"step": meta["step"], "m": tree["m"], "v": tree["v"]},
            "rng": np.random.Generator(bitgen), "iteration": meta["iteration"], "history": meta["history"],
            "sampler": meta["sampler"], "net": meta["net"], "config": meta["config"]}


# --------------------------------------------------------------------------------------------
# Read-outs
# --------------------------------------------------------------------------------------------

def sharing_histogram(assignments, n_tasks: int) -> np.ndarray:
    """Fig. 8.4: for each routed layer, the share of tasks whose module is used by exactly g tasks
    (g = 1..T), pooled over runs. ``assignments``: ``(runs, n_routed, T)`` argmax assignments ->
    ``(n_routed, T)`` float64, column g − 1 for group size g; every row sums to 1."""
    a = np.asarray(assignments)
    if a.ndim == 2:
        a = a[None]
    if a.shape[-1] != n_tasks:
        raise ValueError(f"assignments must end in the task axis of length {n_tasks}, got shape {a.shape}")
    hist = np.zeros((a.shape[1], n_tasks))
    for run in a:
        for layer, row in enumerate(run):
            sizes = (row[:, None] == row[None, :]).sum(1)      # tasks sharing task t's module
            hist[layer] += np.bincount(sizes - 1, minlength=n_tasks)
    return hist / (a.shape[0] * n_tasks)


def golden_cases() -> list[dict]:
    """Small fixed cases ``{name, kind, equation, produced_by, inputs, expected}`` (JSON values) for
    checking another implementation: rank utilities with ties (Eq. 8.19), one NES update in both
    parameterisations (Algorithm 6 lines 10–12, Eq. 8.44, the clamp of Sec. 8.5) and one routed
    forward pass (Sec. 8.4) in evaluation and training mode. Deterministic. ``refimpl.cases`` exports
    them with typed arrays to ``cases/thesis/`` (kinds ``rank_utilities``, ``nes_update``, ``routed_forward``)."""
    cases = []
    losses = [0.5, 0.2, 0.5, 0.9, 0.2, 0.7]
    cases.append({"name": "rank_utilities_ties", "kind": "rank_utilities", "equation": "Eq. 8.19",
                  "produced_by": "refimpl.thesis.nes.rank_utilities", "inputs": {"losses": losses},
                  "expected": {"average": nes.rank_utilities(losses).tolist(),
                               "first": nes.rank_utilities(losses, ties="first").tolist()}})
    pi = np.array([[0.5, 0.3, 0.2], [0.001, 0.004, 0.995]])
    a = np.array([[0, 2], [1, 2], [0, 1], [2, 2]])
    l4 = [1.3, 0.7, 0.9, 1.1]
    u = nes.rank_utilities(l4)
    new = nes.update(pi, a, u, 0.1)
    cases.append({"name": "nes_update", "kind": "nes_update",
                  "equation": "Algorithm 6 lines 10-12; Eqs. 8.18, 8.19, 8.44; clamp at 0.001 and renormalise (Sec. 8.5)",
                  "produced_by": "refimpl.thesis.nes.update", "inputs": {"pi": pi.tolist(), "samples": a.tolist(),
                                                                          "losses": l4, "lr": 0.1, "p_min": 0.001},
                  "expected": {"utilities": u.tolist(), "pi": new.tolist(),
                               "mu": nes.update(nes.expectation_parameters(pi), a, u, 0.1, form="expectation").tolist()}})
    net = convnet((3, 2), (1, 4, 4), channels=(2,), units=(3,), n_modules=2)
    rng = np.random.default_rng(8)
    params = tree_map(lambda w: np.round(w.astype(np.float64), 2), net.init(rng, dtype=np.float64))
    state = tree_map(lambda s: np.round(s + rng.uniform(0, 0.5, s.shape), 2), net.init_state(dtype=np.float64))
    xs = [np.round(rng.uniform(0, 1, (2, 1, 4, 4)), 2) for _ in range(2)]
    assignment = np.array([[1, 0], [0, 0]])
    out_eval, _ = routed.apply(net, params, state, xs, assignment)
    out_train, new_state = routed.apply(net, params, state, xs, assignment, training=True)
    cases.append({"name": "routed_forward", "kind": "routed_forward",
                  "equation": "Sec. 8.4 (Fig. 8.2): conv 3x3 same no bias -> BN -> ReLU -> max-pool 2 -> dense+ReLU -> "
                              "task head; module per (layer, task) from the assignment; training-mode BN per task",
                  "produced_by": "refimpl.thesis.routed.apply", "inputs": {
                      "net": net.describe(), "params": tree_map(lambda w: w.tolist(), params),
                      "state": tree_map(lambda s: s.tolist(), state), "xs": [x.tolist() for x in xs],
                      "assignment": assignment.tolist()},
                  "expected": {"logits_eval": [z.tolist() for z in out_eval],
                               "logits_train": [z.tolist() for z in out_train],
                               "state_after_train": tree_map(lambda s: np.asarray(s).tolist(), new_state)}})
    return cases
