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
recuperation batches. At the end, the best-scoring branch is returned. Every decision attempt is
logged (schema: :data:`DECISION_LOG_KEYS`, :data:`CANDIDATE_LOG_KEYS`).

The code reads like Algorithm 1: :func:`surgeon` pre-trains (``_pretrain``) and loops over
decision points; one draw at a decision point is ``_decision_attempt``: for each branch
``_propose`` (recommendation module) and ``_perform`` each chosen proposal (modification module,
``_recuperate``, ``_score`` with Eq. 16) into a :class:`Candidate`; ``_winners`` (the best
scores) are trained into new branches (``_grow_branch``) and filtered by ``_one_cycle_memory``;
``_best_of_cycle`` is the fallback after the last re-draw. One random generator serves the whole
run in a fixed order, so equal seeds give bit-identical runs.

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
from .modifications import OPERATIONS, Surgery, check_mlp, hidden_layers
from .recommendation import Proposal, eq16_score, recommend, refused_modifications, select

__all__ = ["SurgeonConfig", "Branch", "Candidate", "SurgeonResult", "surgeon", "train_baseline", "topology",
           "summarize_log", "RECOVERY_TEXT", "RECOVERY_CODE", "DECISION_LOG_KEYS", "CANDIDATE_LOG_KEYS"]

#: Recuperative training per modification type, in units of ``recovery_unit`` batches (Appendix).
RECOVERY_TEXT = {"identity": 1, "add_neurons": 1, "add_layer": 10, "remove_neurons": 10,
                 "remove_layer": 10, "truncate": 1}
#: What the authors' code did (in single batches; its "25 batches" setting is unused).
RECOVERY_CODE = {"identity": 1, "add_neurons": 1, "add_layer": 1, "remove_neurons": 10,
                 "remove_layer": 10, "truncate": 1}


#: The log schema: :attr:`SurgeonResult.log` holds one dict per decision *attempt* (the first draw
#: and each re-draw at a decision point) with exactly these keys.
DECISION_LOG_KEYS: dict[str, str] = {
    "epoch": "epochs trained along the lineage at this decision point",
    "attempt": "0 for the first draw, k for the k-th re-draw",
    "parent_branches": "ids of the branches the candidates were made from",
    "parent_topologies": "their hidden layers, as topology() writes them",
    "previous_best_val_accuracy": "the one-cycle memory's bar: the best validation accuracy of the parents",
    "candidates": "one dict per candidate (CANDIDATE_LOG_KEYS), in the order they were made",
    "not_proposed": "modifications left out because the modification module refuses them: "
                    "{'parent_branch', 'operation', 'layer', 'hidden', 'reason'} (refused_modifications)",
    "new_branches": "ids of the branches grown from the winners (best Eq. 16 scores), trained to the next decision",
    "kept_branches": "the new branches the one-cycle memory kept (all of them without memory)",
    "accepted": "whether any new branch was kept; if not, candidates are re-drawn",
    "fallback_branches": "None, or on the last attempt when nothing was kept: the ids of this decision point's "
                         "best trained branches, which continue instead",
}
#: The keys of one candidate of a decision attempt: a row of the paper's Table 1 (its columns A,
#: AG, PF, S are ``val_accuracy``, ``accuracy_gain``, ``param_fraction``, ``score``). Values that
#: do not apply are ``None`` (a candidate whose recuperation diverged has no accuracy or score; a
#: candidate that did not win has no new branch).
CANDIDATE_LOG_KEYS: dict[str, str] = {
    "parent_branch": "id of the branch it was made from",
    "operation": "one of OPERATIONS",
    "label": "the operation as the paper's Table 1 writes it, e.g. 'Add 2 neurons'",
    "position": "where, as Table 1 writes it, e.g. 'Layer 2', 'After layer 1'",
    "layer": "index in the parent's model.layers (None for identity)",
    "hidden_layer": "the paper's 1-based hidden-layer number (None for identity)",
    "amount": "neurons added or removed, or the rank kept by truncate (else None)",
    "inserted_activation": "the inserted layer's activation (add layer only)",
    "recommendation_score": "the recommendation module's score in [0, 1] (Sec. 3.2)",
    "n_removable": "n_r of the analysed layer (Eq. 13)",
    "layer_width": "n_l, the analysed layer's width",
    "recovery_batches": "batches of recuperative training (Appendix)",
    "diverged": "whether the recuperation diverged (then the candidate is not scored)",
    "n_params": "parameter count of the modified network",
    "topology": "its hidden layers, as topology() writes them",
    "val_accuracy": "A: validation accuracy after recuperation",
    "accuracy_gain": "AG: val_accuracy minus the parent's validation accuracy",
    "param_fraction": "PF: n_params / the parent's parameter count",
    "score": "S: Eq. 16, val_accuracy + exp(accuracy_gain) / exp(param_fraction)",
    "winner": "whether it was among the best scores and became a new branch",
    "new_branch": "id of the branch it became (winners only)",
    "val_accuracy_after_training": "that branch's validation accuracy at the next decision point (winners only)",
}


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
    branches; ``log``: one dict per decision attempt, keys :data:`DECISION_LOG_KEYS`, with one
    dict per candidate (keys :data:`CANDIDATE_LOG_KEYS`: Table 1's A, AG, PF, S, the winners,
    the memory's acceptance); ``epochs_trained``: the total training spent, in epochs (re-draws and
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


@dataclass
class Candidate:
    """One candidate at a decision point: a modification of a parent branch, recuperated and
    scored (a row of the paper's Table 1).

    ``parent``: the :class:`Branch` modified; ``proposal``: the recommended modification
    (:class:`refimpl.surgery.Proposal`); ``surgery``: its result before recuperation;
    ``params``: the parameters after recuperation (``None`` if the recuperation diverged);
    ``recovery_batches``; ``val_accuracy`` (A), ``accuracy_gain`` (AG) and ``score`` (S, Eq. 16),
    ``None`` until scored; ``new_branch``: the :class:`Branch` it became if it won.
    """
    parent: Branch
    proposal: Proposal
    surgery: Surgery
    params: list | None
    recovery_batches: int
    val_accuracy: float | None = None
    accuracy_gain: float | None = None
    score: float | None = None
    new_branch: Branch | None = None

    @property
    def diverged(self) -> bool:
        return self.params is None

    @property
    def param_fraction(self) -> float:
        """PF: parameter count / the parent's (Sec. 3.3)."""
        return self.surgery.param_fraction

    def log_entry(self) -> dict:
        """This candidate as a log dict with the keys of :data:`CANDIDATE_LOG_KEYS`."""
        p = self.proposal
        label, position = p.describe()
        won = self.new_branch is not None
        return {"parent_branch": self.parent.id, "operation": p.operation, "label": label, "position": position,
                "layer": p.layer, "hidden_layer": p.hidden, "amount": p.amount, "inserted_activation": p.activation,
                "recommendation_score": p.score, "n_removable": p.n_removable, "layer_width": p.width,
                "recovery_batches": self.recovery_batches, "diverged": self.diverged,
                "n_params": self.surgery.model.count_params(), "topology": topology(self.surgery.model),
                "val_accuracy": self.val_accuracy, "accuracy_gain": self.accuracy_gain,
                "param_fraction": self.param_fraction, "score": self.score,
                "winner": won, "new_branch": self.new_branch.id if won else None,
                "val_accuracy_after_training": self.new_branch.val_accuracy if won else None}


@dataclass
class _Run:
    """What the steps of one Surgeon run share: the data, the settings, the one random stream
    (every draw of the run, in a fixed order), the optimizer, the training spent so far (in
    epochs, all branches, re-draws and recuperation) and the next branch id."""
    x: Any
    y: Any
    x_val: Any
    y_val: Any
    config: SurgeonConfig
    rng: np.random.Generator
    optimizer: SGD
    epochs_spent: float = 0.0
    next_branch_id: int = 0

    def train(self, model: Sequential, params: list, epochs: int):
        """Plain training for ``epochs`` epochs (pre-training, or a branch to the next decision point)."""
        result = fit(model, params, self.x, self.y, epochs=epochs, batch_size=self.config.batch_size,
                     optimizer=self.optimizer, seed=self.rng, validation=(self.x_val, self.y_val), progress=False)
        self.epochs_spent += epochs
        return result

    def val_accuracy(self, model: Sequential, params: list) -> float:
        return float(evaluate(model, params, self.x_val, self.y_val)["accuracy"])

    def new_branch_id(self) -> int:
        self.next_branch_id += 1
        return self.next_branch_id - 1


def _draw_batches(rng, n, n_batches, batch_size):
    """Indices of ``n_batches`` minibatches drawn by passing over shuffled data (epochs as needed)."""
    need = n_batches * batch_size
    idx = np.concatenate([rng.permutation(n) for _ in range(-(-need // n))])[:need]
    return idx


def _pretrain(run: _Run, model: Sequential, params: list) -> Branch:
    """Algorithm 1, lines 4–5: train the starting network; it becomes the first branch (id 0)."""
    pretrain = run.config.pretrain_epochs
    result = run.train(model, params, pretrain)
    start_accuracy = run.val_accuracy(model, params)
    accuracy = result.history["val_accuracy"][-1] if pretrain else start_accuracy
    history = [(0, start_accuracy)] + [(e + 1, a) for e, a in enumerate(result.history["val_accuracy"])]
    start = {"epoch": 0, "operation": "start", "label": "Start", "position": "–", "topology": topology(model),
             "n_params": model.count_params()}
    return Branch(run.new_branch_id(), model, result.params, accuracy, history=history, events=[start])


def _propose(run: _Run, branch: Branch) -> tuple[list[Proposal], list[dict]]:
    """Recommendation module (Sec. 3.2): the proposals chosen for ``branch`` (ranked by
    :func:`recommend`, chosen by :func:`select`, with the random extra draw), and the
    modifications left out because the modification module refuses them."""
    c = run.config
    ranked = recommend(branch.model, branch.params, eps1=c.eps1, eps2=c.eps2, svd_of=c.svd_of,
                       min_hidden_layers=c.min_hidden_layers, add_layer_activation=c.add_layer_activation,
                       neuron_split=c.neuron_split)
    not_proposed = [{"parent_branch": branch.id, **r} for r in refused_modifications(
        branch.model, add_layer_activation=c.add_layer_activation, neuron_split=c.neuron_split)]
    chosen = select(ranked, mode=c.selection, n=c.top_n, extra_random=c.extra_random, rng=run.rng)
    return chosen, not_proposed


def _recuperate(run: _Run, model: Sequential, params: list, n_batches: int) -> list | None:
    """Recuperative training (Sec. 3.3, Appendix): ``n_batches`` SGD batches drawn from the
    training data. Returns the new parameters, or ``None`` if the training diverged."""
    if not n_batches:
        return params
    bs = run.config.batch_size
    idx = _draw_batches(run.rng, len(run.x), n_batches, bs)
    try:
        params = fit(model, params, run.x[idx], run.y[idx], epochs=1, batch_size=bs, optimizer=run.optimizer,
                     seed=run.rng, progress=False).params
    except TrainingDivergedError:
        return None
    run.epochs_spent += n_batches / -(-len(run.x) // bs)
    return params


def _score(run: _Run, candidate: Candidate) -> None:
    """Sec. 3.3: the candidate's validation accuracy a, its gain Δa over the parent and Eq. 16's
    s = a + exp(Δa)/exp(f), f the parameter fraction."""
    a = run.val_accuracy(candidate.surgery.model, candidate.params)
    candidate.val_accuracy = a
    candidate.accuracy_gain = a - candidate.parent.val_accuracy
    candidate.score = eq16_score(a, candidate.accuracy_gain, candidate.param_fraction)


def _perform(run: _Run, branch: Branch, proposal: Proposal) -> Candidate:
    """Modification module (Sec. 3.1), then recuperation and scoring: one candidate."""
    c = run.config
    surgery = proposal.apply(branch.model, branch.params, rng=run.rng, neuron_noise=c.neuron_noise)
    n_batches = c.recovery[proposal.operation] * c.recovery_unit
    candidate = Candidate(branch, proposal, surgery, _recuperate(run, surgery.model, surgery.params, n_batches),
                          n_batches)
    if not candidate.diverged:
        _score(run, candidate)
    return candidate


def _winners(candidates: list[Candidate], n: int) -> list[Candidate]:
    """"Keep n top scoring": the ``n`` best Eq. 16 scores among the candidates that did not
    diverge (ties: the first made)."""
    return sorted((c for c in candidates if not c.diverged), key=lambda c: -c.score)[:n]


def _grow_branch(run: _Run, winner: Candidate, epoch: int, epochs: int) -> Branch:
    """Train a winning candidate to the next decision point: a new branch, its lineage extended."""
    model = winner.surgery.model
    result = run.train(model, winner.params, epochs)
    history = [(epoch + e + 1, a) for e, a in enumerate(result.history["val_accuracy"])]
    label, position = winner.proposal.describe()
    event = {"epoch": epoch, "operation": winner.proposal.operation, "label": label, "position": position,
             "topology": topology(model), "n_params": model.count_params()}
    parent = winner.parent
    branch = Branch(run.new_branch_id(), model, result.params, history[-1][1], winner.score,
                    history=parent.history + history,
                    events=parent.events + ([] if winner.proposal.operation == "identity" else [event]))
    winner.new_branch = branch
    return branch


def _one_cycle_memory(new_branches: list[Branch], previous_best: float, memory: bool) -> list[Branch]:
    """The one-cycle memory (Sec. 3.3): keep the new branches whose validation accuracy reaches the
    previous cycle's best; without memory, keep all."""
    return [b for b in new_branches if b.val_accuracy >= previous_best] if memory else new_branches


def _best_of_cycle(trained: list[Branch], n: int) -> list[Branch]:
    """After the last re-draw kept nothing: the ``n`` best trained branches of this decision point."""
    return sorted(trained, key=lambda b: -b.val_accuracy)[:n]


def _decision_attempt(run: _Run, branches: list[Branch], epoch: int, attempt: int, epochs: int,
                      previous_best: float) -> tuple[list[Branch], list[Branch], dict]:
    """One draw at a decision point (Algorithm 1's inner loop): propose and perform candidates for
    every branch, grow the best-scoring ones into new branches trained for ``epochs`` epochs, and
    apply the memory. Returns ``(new branches, kept branches, log entry)``; the entry's
    ``fallback_branches`` is filled in by the caller."""
    candidates, not_proposed = [], []
    for branch in branches:
        chosen, refused = _propose(run, branch)
        not_proposed += refused
        candidates += [_perform(run, branch, proposal) for proposal in chosen]
    winners = _winners(candidates, run.config.branches)
    if not winners:
        raise TrainingDivergedError(f"every candidate diverged at epoch {epoch}", params=branches[0].params,
                                    state=None, history={}, epoch=epoch, batch=0)
    new_branches = [_grow_branch(run, w, epoch, epochs) for w in winners]
    kept = _one_cycle_memory(new_branches, previous_best, run.config.memory)
    entry = {"epoch": epoch, "attempt": attempt, "parent_branches": [b.id for b in branches],
             "parent_topologies": [topology(b.model) for b in branches],
             "previous_best_val_accuracy": previous_best, "candidates": [c.log_entry() for c in candidates],
             "not_proposed": not_proposed, "new_branches": [b.id for b in new_branches],
             "kept_branches": [b.id for b in kept], "accepted": bool(kept), "fallback_branches": None}
    return new_branches, kept, entry


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
    neuron copies); equal seeds give equal runs. Returns a :class:`SurgeonResult` whose ``log``
    follows :data:`DECISION_LOG_KEYS`. Raises ``TypeError`` for a config that is not a
    :class:`SurgeonConfig`, ``ValueError`` on bad input, and
    :class:`refimpl.train.TrainingDivergedError` if every candidate of a decision diverges.
    """
    check_mlp(model, params)
    if not isinstance(config, SurgeonConfig):
        raise TypeError(f"config must be a SurgeonConfig, got {type(config).__name__}")
    if not np.issubdtype(np.asarray(y).dtype, np.integer) or not np.issubdtype(np.asarray(y_val).dtype, np.integer):
        raise ValueError("the Surgeon classifies: y and y_val must be integer labels")
    run = _Run(x, y, x_val, y_val, config, as_generator(seed), SGD(config.lr))

    # Algorithm 1 (its phrases quoted). "Train m0 for initial number of epochs"; B <- [m0].
    branches = [_pretrain(run, model, params)]
    log, redraws = [], 0
    epoch = config.pretrain_epochs
    bar = tqdm(total=-(-(config.epochs - epoch) // config.decision_every), desc="surgeon", disable=not progress,
               leave=False)
    while epoch < config.epochs:                       # "while termination criteria not met": max. epochs
        epochs = min(config.decision_every, config.epochs - epoch)
        previous_best = max(b.val_accuracy for b in branches)
        trained_this_cycle = []
        for attempt in range(config.max_redraws + 1):  # "repeat ... until improvement achieved or max re-tries"
            new_branches, kept, entry = _decision_attempt(run, branches, epoch, attempt, epochs, previous_best)
            log.append(entry)
            trained_this_cycle += new_branches
            if kept:
                break
        redraws += attempt                             # the attempts after the first
        if not kept:                                   # no improvement after the re-draws
            kept = _best_of_cycle(trained_this_cycle, config.branches)
            log[-1]["fallback_branches"] = [b.id for b in kept]
        branches = kept                                # "update current branches B"
        epoch += epochs
        bar.update(1)
    bar.close()

    # "Select final best scoring branch m_opt from B"
    if config.final == "score":
        key = lambda b: (b.score if b.score is not None else -np.inf, b.val_accuracy)  # noqa: E731
    else:
        key = lambda b: (b.val_accuracy, b.score if b.score is not None else -np.inf)  # noqa: E731
    best = max(branches, key=key)
    return SurgeonResult(best.model, best.params, best, branches, log, run.epochs_spent, redraws,
                         best.model.count_params() / model.count_params())


def summarize_log(log: list) -> dict[str, Any]:
    """Counts of winning candidates per operation type (keys :data:`OPERATIONS`) over a run's
    ``log`` (:data:`DECISION_LOG_KEYS`; for tables)."""
    counts: dict[str, int] = {op: 0 for op in OPERATIONS}
    for d in log:
        for c in d["candidates"]:
            if c.get("winner"):
                counts[c["operation"]] += 1
    return counts
