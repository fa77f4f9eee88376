"""The Surgeon: the genetic algorithm of Schiessler et al. (2021), Algorithm 1, Sec. 3.3.

Training and topology optimization alternate. After ``pretrain_epochs`` of plain training, at
every decision point each current *branch* is analysed by the recommendation module
(:func:`refimpl.surgery.recommendation.recommend`), candidates are chosen (:func:`refimpl.surgery.recommendation.select`) and
performed by the modification module, each gets a few batches of recuperative training
(per modification type), and all candidates are scored on validation accuracy with
Eq. 16, s = a + exp(Δa)/exp(Δf). The ``branches`` best become the new branches and are trained
to the next decision point. With the one-cycle memory, a new branch is kept only if its
validation accuracy is at least the best of the previous cycle; if none is, the step is undone
and candidates are re-drawn (at most ``max_redraws`` times; then the best of this cycle is
kept). A re-draw asks the recommendation module again; its ranking is deterministic, so the
re-drawn candidates differ in the random extra draw, the randomly copied units and the
recuperation batches. At the end, the best-scoring branch is returned. Every decision is logged.

Defaults are the paper's (Appendix): SGD lr 0.005, batch 16, 100 epochs with a decision every
10 after 10 pre-training epochs, 2 concurrent branches, ≤ 2 re-draws, recuperation 1/1/10/10/10/1
× 25 batches for identity/add neurons/add layer/remove neurons/remove layer/truncated SVD,
ε1 = 0.005, ε2 = 0.3, best per type plus one random extra draw. :meth:`SurgeonConfig.authors_code`
gives the choices of the authors' code instead (see ``docs/surgery.md``).

Usage::

    model = mlp((1, 8, 8), [10], 10)
    params = model.init(seed)
    result = surgeon(model, params, x_train, y_train, x_val, y_val, SurgeonConfig(), seed=seed)
    result.model, result.params, result.log          # the optimized network and every decision
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..backend import as_generator
from ..model import Dense, Sequential
from ..optim import SGD
from ..train import TrainingDivergedError, evaluate, fit
from .modifications import OPERATIONS, check_mlp, hidden_layers
from .recommendation import eq16_score, recommend, refused_modifications, select

__all__ = ["SurgeonConfig", "Branch", "SurgeonResult", "surgeon", "train_baseline", "topology",
           "summarize_log", "RECOVERY_TEXT", "RECOVERY_CODE"]

#: Recuperative training per modification type, in units of ``recovery_unit`` batches (Appendix).
RECOVERY_TEXT = {"identity": 1, "add_neurons": 1, "add_layer": 10, "remove_neurons": 10,
                 "remove_layer": 10, "truncate": 1}
#: What the authors' code did (in single batches; its "25 batches" setting is unused).
RECOVERY_CODE = {"identity": 1, "add_neurons": 1, "add_layer": 1, "remove_neurons": 10,
                 "remove_layer": 10, "truncate": 1}


@dataclass(frozen=True)
class SurgeonConfig:
    """Every setting of the Surgeon (defaults: the paper's Appendix and text).

    Schedule: ``epochs`` (epochs the returned network has been trained along its lineage),
    ``pretrain_epochs``, ``decision_every``; ``branches`` (concurrent branches kept),
    ``max_redraws``; training: ``batch_size``, ``lr`` (plain SGD), recuperation ``recovery``
    (batches per type = ``recovery[type] * recovery_unit``). Recommendation: ``eps1``, ``eps2``,
    ``svd_of`` ("incoming" text / "outgoing" code), ``selection`` ("per_type" / "top_n" with
    ``top_n``), ``extra_random``, ``min_hidden_layers`` (remove-layer is not offered below it).
    Modification: ``add_layer_activation`` (None = the preceding layer's where that is exact,
    Eq. 3, else ReLU after non-negative outputs, else linear: :func:`refimpl.surgery.default_inserted_activation`;
    "linear" = code; an explicit activation is used only after layers where it is exact),
    ``neuron_split`` ("outgoing" text / "incoming" code), ``neuron_noise``. Modifications the
    modification module would refuse are not proposed; each decision's log names them. Memory:
    ``memory`` (one-cycle memory on/off). ``final``: "score" (best Eq. 16 score, the text) or
    "accuracy" (best final validation accuracy).
    """
    epochs: int = 100
    pretrain_epochs: int = 10
    decision_every: int = 10
    branches: int = 2
    max_redraws: int = 2
    batch_size: int = 16
    lr: float = 0.005
    recovery: dict = field(default_factory=lambda: dict(RECOVERY_TEXT))
    recovery_unit: int = 25
    eps1: float = 0.005
    eps2: float = 0.3
    svd_of: str = "incoming"
    selection: str = "per_type"
    top_n: int | None = None
    extra_random: bool = True
    min_hidden_layers: int = 1
    add_layer_activation: str | None = None
    neuron_split: str = "outgoing"
    neuron_noise: float = 0.0
    memory: bool = True
    final: str = "score"

    def __post_init__(self):
        for name in ("epochs", "decision_every", "branches", "batch_size", "recovery_unit"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"SurgeonConfig.{name} must be a positive int, got {v!r}")
        for name in ("pretrain_epochs", "max_redraws", "min_hidden_layers"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"SurgeonConfig.{name} must be a non-negative int, got {v!r}")
        if self.pretrain_epochs > self.epochs:
            raise ValueError(f"pretrain_epochs ({self.pretrain_epochs}) exceeds epochs ({self.epochs})")
        missing = set(OPERATIONS) - set(self.recovery)
        if missing or any(not isinstance(v, (int, np.integer)) or v < 0 for v in self.recovery.values()):
            raise ValueError(f"recovery must give a non-negative int per operation {OPERATIONS}, "
                             f"got {self.recovery} (missing {sorted(missing)})")
        if self.final not in ("score", "accuracy"):
            raise ValueError(f"final must be 'score' or 'accuracy', got {self.final!r}")
        if self.selection not in ("per_type", "top_n"):
            raise ValueError(f"selection must be 'per_type' or 'top_n', got {self.selection!r}")
        if self.selection == "top_n" and not (isinstance(self.top_n, int) and self.top_n >= 1):
            raise ValueError("selection='top_n' needs a positive int top_n")
        SGD(self.lr)  # validates lr

    @classmethod
    def authors_code(cls, **overrides) -> "SurgeonConfig":
        """The authors' code's choices: 1/1/1/10/10/1 single recuperation batches, n_r of the
        outgoing matrix, linear identity layers, incoming-weight neuron split, 3 re-draws."""
        kw = dict(recovery=dict(RECOVERY_CODE), recovery_unit=1, svd_of="outgoing",
                  add_layer_activation="linear", neuron_split="incoming", max_redraws=3)
        kw.update(overrides)
        return cls(**kw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def topology(model: Sequential) -> str:
    """The hidden layers as a string like ``"10-20-10"``; inserted linear layers get an ``L``
    suffix (``"10-4L-10"``); ``"-"`` for a network without hidden layers."""
    parts = []
    for i in hidden_layers(model):
        layer: Dense = model.layers[i]
        parts.append(f"{layer.units}{'L' if layer.activation == 'linear' else ''}")
    return "-".join(parts) or "-"


@dataclass
class Branch:
    """A current branch: network, parameters and its lineage.

    ``val_accuracy``: latest validation accuracy; ``score``: Eq. 16 score at its selection
    (``None`` for the pre-trained start); ``history``: ``[(epoch, val_accuracy), ...]`` of
    its whole lineage (epoch = epochs of training so far); ``events``: the modifications
    along the lineage (``{"epoch", "operation", "position", "topology", "n_params"}``).
    """
    id: int
    model: Sequential
    params: list
    val_accuracy: float
    score: float | None = None
    history: list = field(default_factory=list)
    events: list = field(default_factory=list)


@dataclass
class SurgeonResult:
    """What :func:`surgeon` returns.

    ``model``, ``params``: the final best branch's network; ``branch``: that :class:`Branch`
    (its ``history`` and ``events`` give Fig. 3–5 style plots); ``branches``: all final
    branches; ``log``: one dict per decision attempt (candidates with A, AG, PF, S, winners,
    acceptance); ``epochs_trained``: the total training spent, in epochs (re-draws and
    recuperation included); ``redraws``: the number of re-draws; ``param_fraction``: final
    parameter count / starting parameter count.
    """
    model: Sequential
    params: list
    branch: Branch
    branches: list
    log: list
    epochs_trained: float
    redraws: int
    param_fraction: float


def _draw_batches(rng, n, n_batches, batch_size):
    """Indices of ``n_batches`` minibatches drawn by passing over shuffled data (epochs as needed)."""
    need = n_batches * batch_size
    idx = np.concatenate([rng.permutation(n) for _ in range(-(-need // n))])[:need]
    return idx


def _val_acc(model, params, x_val, y_val) -> float:
    return float(evaluate(model, params, x_val, y_val)["accuracy"])


def train_baseline(model: Sequential, params: list, x, y, x_val, y_val, config: SurgeonConfig = SurgeonConfig(),
                   *, epochs: int | None = None, seed: int | np.random.Generator = 0, progress: bool = False):
    """Train the starting topology with the Surgeon's optimizer and batch size.

    ``epochs=None`` trains ``config.epochs`` epochs: the paper's baseline (Sec. 4), as many epochs
    as lie along the Surgeon's *returned* network's lineage. The Surgeon's total training
    (:attr:`SurgeonResult.epochs_trained`: all branches, re-draws, recuperation) is about
    ``branches`` times more; pass ``epochs`` (e.g. that total, rounded up) for a baseline of
    equal training compute. Returns :class:`refimpl.train.FitResult`."""
    epochs = config.epochs if epochs is None else epochs
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"train_baseline: epochs must be a positive int, got {epochs!r}")
    return fit(model, params, x, y, epochs=int(epochs), batch_size=config.batch_size,
               optimizer=SGD(config.lr), seed=as_generator(seed), validation=(x_val, y_val),
               progress=progress, desc="baseline")


def surgeon(model: Sequential, params: list, x, y, x_val, y_val, config: SurgeonConfig = SurgeonConfig(),
            *, seed: int | np.random.Generator = 0, progress: bool = False) -> SurgeonResult:
    """Run the Surgeon (Algorithm 1) from ``(model, params)``.

    ``model``: an MLP (:func:`refimpl.surgery.check_mlp`); ``params``: its parameters (float32
    typically; not modified). ``x, y``: training data ``(N, *input_shape)``, int labels ``(N,)``;
    ``x_val, y_val``: the validation data on which candidates are scored (Sec. 3.3).
    ``seed``: int or Generator for every random choice (shuffling, random extra candidates,
    neuron copies); equal seeds give equal runs. Raises ``ValueError`` on bad input.
    """
    check_mlp(model, params)
    if not isinstance(config, SurgeonConfig):
        raise TypeError(f"config must be a SurgeonConfig, got {type(config).__name__}")
    if not np.issubdtype(np.asarray(y).dtype, np.integer) or not np.issubdtype(np.asarray(y_val).dtype, np.integer):
        raise ValueError("the Surgeon classifies: y and y_val must be integer labels")
    rng = as_generator(seed)
    opt = SGD(config.lr)
    bs = config.batch_size
    n = x.shape[0]
    batches_per_epoch = -(-n // bs)
    spent = 0.0  # epochs of training, all branches and candidates

    def train(m, p, epochs):
        return fit(m, p, x, y, epochs=epochs, batch_size=bs, optimizer=opt, seed=rng,
                   validation=(x_val, y_val), progress=False)

    # pre-training (Algorithm 1, lines 4–5)
    start_params = model.count_params()
    res = train(model, params, config.pretrain_epochs)
    spent += config.pretrain_epochs
    acc0 = res.history["val_accuracy"][-1] if config.pretrain_epochs else _val_acc(model, params, x_val, y_val)
    root = Branch(0, model, res.params, acc0,
                  history=[(0, _val_acc(model, params, x_val, y_val))]
                  + [(e + 1, a) for e, a in enumerate(res.history["val_accuracy"])],
                  events=[{"epoch": 0, "operation": "start", "label": "Start", "position": "–", "topology": topology(model),
                           "n_params": start_params}])
    branches, next_id = [root], 1
    epoch, log, redraws = config.pretrain_epochs, [], 0
    n_decisions = -(-(config.epochs - epoch) // config.decision_every)
    bar = tqdm(total=n_decisions, desc="surgeon", disable=not progress, leave=False)

    while epoch < config.epochs:
        cycle = min(config.decision_every, config.epochs - epoch)
        prev_best = max(b.val_accuracy for b in branches)
        trained_this_cycle: list[Branch] = []
        accepted = None
        for attempt in range(config.max_redraws + 1):
            candidates, not_proposed = [], []
            for b in branches:
                props = recommend(b.model, b.params, eps1=config.eps1, eps2=config.eps2,
                                    svd_of=config.svd_of, min_hidden_layers=config.min_hidden_layers,
                                    add_layer_activation=config.add_layer_activation,
                                    neuron_split=config.neuron_split)
                not_proposed += [{"branch": b.id, **r} for r in refused_modifications(
                    b.model, add_layer_activation=config.add_layer_activation, neuron_split=config.neuron_split)]
                chosen = select(props, mode=config.selection, n=config.top_n,
                                  extra_random=config.extra_random, rng=rng)
                for prop in chosen:
                    op, pos = prop.describe()
                    entry = {"branch": b.id, "operation": prop.operation, "label": op, "position": pos,
                             "layer": prop.layer, "hidden": prop.hidden, "amount": prop.amount,
                             "recommendation": prop.score, "n_removable": prop.n_removable,
                             "width": prop.width, "inserted_activation": prop.activation}
                    surg = prop.apply(b.model, b.params, rng=rng, neuron_noise=config.neuron_noise)
                    n_rec = config.recovery[prop.operation] * config.recovery_unit
                    p_new = surg.params
                    if n_rec:
                        idx = _draw_batches(rng, n, n_rec, bs)
                        try:
                            p_new = fit(surg.model, p_new, x[idx], y[idx], epochs=1, batch_size=bs,
                                        optimizer=opt, seed=rng, progress=False).params
                        except TrainingDivergedError:
                            entry.update(diverged=True)
                            candidates.append((None, entry, b))
                            continue
                        spent += n_rec / batches_per_epoch
                    a = _val_acc(surg.model, p_new, x_val, y_val)
                    da = a - b.val_accuracy
                    s = eq16_score(a, da, surg.param_fraction)
                    entry.update(A=a, AG=da, PF=surg.param_fraction, S=s, n_params=surg.model.count_params(),
                                 topology=topology(surg.model), recovery_batches=n_rec)
                    candidates.append(((surg.model, p_new, a, s), entry, b))
            valid = [c for c in candidates if c[0] is not None]
            if not valid:
                raise TrainingDivergedError(f"every candidate diverged at epoch {epoch}", params=branches[0].params,
                                            state=None, history={}, epoch=epoch, batch=0)
            ranked = sorted(valid, key=lambda c: -c[0][3])[:config.branches]
            winners = []
            for (m, p, a, s), entry, parent in ranked:
                entry["winner"] = True
                r = train(m, p, cycle)
                spent += cycle
                hist = [(epoch + e + 1, v) for e, v in enumerate(r.history["val_accuracy"])]
                event = {"epoch": epoch, "operation": entry["operation"], "label": entry["label"],
                         "position": entry["position"], "topology": entry["topology"], "n_params": entry["n_params"]}
                winners.append(Branch(next_id, m, r.params, hist[-1][1], s,
                                      history=parent.history + hist,
                                      events=parent.events + ([] if entry["operation"] == "identity" else [event])))
                entry["branch_id"] = next_id
                entry["val_accuracy_after_training"] = hist[-1][1]
                next_id += 1
            for _, entry, _ in candidates:
                entry.setdefault("winner", False)
            trained_this_cycle += winners
            kept = [w for w in winners if w.val_accuracy >= prev_best] if config.memory else winners
            log.append({"epoch": epoch, "attempt": attempt, "parents": [b.id for b in branches],
                        "parent_topologies": [topology(b.model) for b in branches],
                        "previous_best_val_accuracy": prev_best,
                        "candidates": [c[1] for c in candidates], "not_proposed": not_proposed,
                        "winners": [w.id for w in winners], "kept": [w.id for w in kept],
                        "accepted": bool(kept)})
            if kept:
                accepted = kept
                break
            if attempt < config.max_redraws:
                redraws += 1
        if accepted is None:  # no improvement after the re-draws: the best of this cycle
            accepted = sorted(trained_this_cycle, key=lambda w: -w.val_accuracy)[:config.branches]
            log[-1]["fallback_best_of_cycle"] = [w.id for w in accepted]
        branches = accepted
        epoch += cycle
        bar.update(1)
    bar.close()

    if config.final == "score":
        key = lambda b: (b.score if b.score is not None else -np.inf, b.val_accuracy)  # noqa: E731
    else:
        key = lambda b: (b.val_accuracy, b.score if b.score is not None else -np.inf)  # noqa: E731
    best = max(branches, key=key)
    return SurgeonResult(best.model, best.params, best, branches, log, spent, redraws,
                         best.model.count_params() / start_params)


def summarize_log(log: list) -> dict[str, Any]:
    """Counts of selected winners per operation type over a run's ``log`` (for tables)."""
    counts: dict[str, int] = {op: 0 for op in OPERATIONS}
    for d in log:
        for c in d["candidates"]:
            if c.get("winner"):
                counts[c["operation"]] += 1
    return counts
