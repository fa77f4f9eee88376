"""Interval adjoint significance analysis and pruning — document `interval`
(Afghan & Naumann, "Interval Adjoint Significance Analysis for Neural Networks", ICCS 2020).

Reproduces
  * Table 1 — data sets and architectures (784-500-500-10 / 3072-500-500-10, sigmoid hidden,
    softmax output);
  * Table 2 — train and test error when 90/80/75/50/25/0 % of all hidden nodes are removed by
    significance, before and after retraining (the paper's column header is garbled in the
    source text; its rows have six entries, read here as 90/80/75/50/25/0 %);
  * Figs. 4–7 — error vs. number of nodes removed from the input layer (Fig. 4), the first
    hidden layer (Fig. 5), the second (Fig. 6) and both (Fig. 7), with the random and
    weight-magnitude baselines on the same axes (same bias update);
  * Fig. 8 — input-layer removal on CIFAR-10 (paper scale, when its files are present).

Method (refimpl.significance): the input box is the per-feature [min, max] of the training
data (Sec. 3.2); one interval forward sweep of the trained network with point weights, then
one reverse sweep per output (seed e_k) of interval adjoints; significance S = w[V]·max|∇_V Y|
(Eq. 1) with max over outputs ("each" reading; Y = softmax outputs, as the paper's networks
end in softmax); per layer the least significant nodes are removed and the midpoints of their
intervals times their outgoing weights are added to the next layer's bias (Sec. 3.3). For
"all hidden" the same fraction is removed from each hidden layer (the paper ranks layer-wise).

Training follows Sec. 4: AdamW first, Adamax at the end; retraining after pruning uses Adamax,
starting from the pruned weights and updated biases. The paper gives no epochs or learning
rates; ours are in the config of results.json.

--scale quick (≈1–2 min on 2 cores): digits 64-500-500-10 (embedded data) and a Fashion-MNIST
subset (6,000 train / 2,000 test, 784-500-500-10) when its files are present; fewer epochs than
a full run, sweep curves on 11 removal fractions evaluated on ≤1,500 train / ≤2,000 test
examples, random baseline averaged over 3 draws.
--scale paper: MNIST, Fashion-MNIST, MNIST_ROT and CIFAR-10, each when its files are present
(MNIST_ROT has no loader in refimpl.data and is reported as skipped); 21 removal fractions;
trained networks (with their training history) are checkpointed in OUT/checkpoints and reused on a
rerun.
--scale paper on this 2-core machine: 34 min wall clock at load 3–5, 32 min of CPU (measured; data:
Fashion-MNIST, the only one of the four present); reference in figures/interval/paper/.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import DataSets, Stopwatch, chapter_parser, output_dir, print_table, run  # noqa: E402

from refimpl import data  # noqa: E402
from refimpl import plotting as plot  # noqa: E402
from refimpl.interval import significance  # noqa: E402
from refimpl.model import mlp  # noqa: E402
from refimpl.optim import AdamW, Adamax  # noqa: E402
from refimpl.atomic import write_atomic  # noqa: E402
from refimpl.results import EXACT, make_results, table, tolerance, trained, write_results  # noqa: E402
from refimpl.train import evaluate, fit  # noqa: E402

TABLE2_FRACTIONS = (0.90, 0.80, 0.75, 0.50, 0.25, 0.0)
EXPERIMENTS = {"input": "input", "hidden 1": 1, "hidden 2": 2, "all hidden": "hidden"}
FIGURE_OF = {"input": "fig4_input", "hidden 1": "fig5_hidden1", "hidden 2": "fig6_hidden2",
             "all hidden": "fig7_all_hidden"}
METHODS = ("interval", "random", "magnitude")

# Table 2 of the paper (columns 90/80/75/50/25/0 %; "after retraining" has no 0 % entry)
PAPER_TABLE2 = {
    "mnist": {"train": [0.26, 0.03, 0.01, 0.01, 0.01, 0.01], "train_retrained": [0.002, 0.001, 0.0009, 0.01, 0.01],
              "test": [0.26, 0.03, 0.02, 0.02, 0.02, 0.02], "test_retrained": [0.02, 0.02, 0.02, 0.01, 0.01]},
    "mnist-rot": {"train": [0.53, 0.12, 0.11, 0.10, 0.09, 0.09], "train_retrained": [0.02, 0.0001, 0.0005, 0.0004, 0.003],
                  "test": [0.53, 0.15, 0.14, 0.13, 0.12, 0.12], "test_retrained": [0.13, 0.10, 0.10, 0.10, 0.10]},
    "fashion-mnist": {"train": [0.65, 0.13, 0.10, 0.09, 0.09, 0.09], "train_retrained": [0.05, 0.04, 0.03, 0.03, 0.03],
                      "test": [0.65, 0.16, 0.13, 0.12, 0.12, 0.12], "test_retrained": [0.11, 0.12, 0.11, 0.12, 0.11]},
    "cifar-10": {"train": [0.60, 0.49, 0.47, 0.42, 0.42, 0.42], "train_retrained": [0.46, 0.42, 0.43, 0.42, 0.42],
                 "test": [0.64, 0.54, 0.52, 0.48, 0.48, 0.48], "test_retrained": [0.50, 0.49, 0.49, 0.48, 0.48]},
}
PAPER_TABLE1 = [["MNIST", "784-500-500-10"], ["MNIST_ROT", "784-500-500-10"],
                ["Fashion-MNIST", "784-500-500-10"], ["CIFAR-10", "3072-500-500-10"]]

CONFIG = {
    "quick": {
        "datasets": {"digits": {"n_train": None, "n_test": None},
                     "fashion-mnist": {"n_train": 6000, "n_test": 2000}},
        "hidden": [500, 500], "activation": "sigmoid", "batch_size": 64,
        "adamw": {"lr": 1e-3, "weight_decay": 0.01}, "adamax": {"lr": 2e-3},
        "epochs": {"digits": [20, 10], "fashion-mnist": [8, 4]},
        "retrain_epochs": {"digits": 5, "fashion-mnist": 2},
        "fractions": [i / 10 for i in range(11)], "n_random": 3, "eval_train": 1500, "eval_test": 2000,
        "outputs": "each", "output": "softmax",
    },
    "paper": {
        "datasets": {"mnist": {}, "fashion-mnist": {}, "mnist-rot": {}, "cifar-10": {}},
        "hidden": [500, 500], "activation": "sigmoid", "batch_size": 128,
        "adamw": {"lr": 1e-3, "weight_decay": 0.01}, "adamax": {"lr": 2e-3},
        "epochs": {"mnist": [30, 10], "fashion-mnist": [30, 10], "cifar-10": [40, 10]},
        "retrain_epochs": {"mnist": 10, "fashion-mnist": 10, "cifar-10": 10},
        "fractions": [i / 20 for i in range(21)], "n_random": 5, "eval_train": None, "eval_test": None,
        "outputs": "each", "output": "softmax",
    },
}


def load(name: str, spec: dict, seed: int):
    """The data set, flattened later by the model; ``None`` plus the reason (a string, or the
    ``DatasetNotFoundError``) when unavailable."""
    if name == "mnist-rot":
        return None, ("MNIST_ROT (Larochelle et al. 2007) has no loader in refimpl.data "
                      "(it is not among the supported data sets)")
    try:
        ds = data.load_dataset(name)
    except data.DatasetNotFoundError as e:
        return None, e
    if spec.get("n_train"):
        ds = data.subsample(ds, spec["n_train"], spec["n_test"], seed=seed)
    return ds, None


def train_network(name, ds, cfg, seed, progress, ckpt_dir):
    model = mlp(ds.x_train.shape[1:], cfg["hidden"], ds.n_classes, activation=cfg["activation"])
    ckpt = ckpt_dir / f"{name}_seed{seed}.npz" if ckpt_dir is not None else None
    if ckpt is not None and ckpt.exists():
        with np.load(ckpt) as z:
            params = [{k.split("/")[1]: z[k] for k in z.files if k.startswith(f"{i}/")}
                      for i in range(len(model.layers))]
            hist = {k.split("/")[1]: z[k].tolist() for k in z.files if k.startswith("history/")}
        return model, params, hist   # the training history saved with the network: a rerun reports it too
    params = model.init(seed)
    e1, e2 = cfg["epochs"][name]
    kw = dict(batch_size=cfg["batch_size"], progress=progress, validation=(ds.x_test, ds.y_test))
    r1 = fit(model, params, ds.x_train, ds.y_train, epochs=e1, optimizer=AdamW(**cfg["adamw"]),
             seed=seed, desc=f"{name} AdamW", **kw)
    r2 = fit(model, r1.params, ds.x_train, ds.y_train, epochs=e2, optimizer=Adamax(**cfg["adamax"]),
             seed=seed + 1, desc=f"{name} Adamax", **kw)
    hist = {k: r1.history[k] + r2.history[k] for k in ("loss", "accuracy", "val_accuracy")}
    if ckpt is not None:
        buf = io.BytesIO()
        np.savez(buf, **{f"{i}/{k}": v for i, p in enumerate(r2.params) for k, v in p.items()},
                 **{f"history/{k}": np.asarray(v) for k, v in hist.items()})
        write_atomic(ckpt, buf.getvalue())
    return model, r2.params, hist


def error(model, params, x, y):
    return 1.0 - evaluate(model, params, x, y)["accuracy"]


def run_dataset(name, ds, cfg, seed, progress, ckpt_dir):
    sw = Stopwatch()
    model, params, hist = train_network(name, ds, cfg, seed, progress, ckpt_dir)
    rng = np.random.default_rng(seed)
    n_tr = cfg["eval_train"] or len(ds.y_train)
    n_te = cfg["eval_test"] or len(ds.y_test)
    itr = np.sort(rng.choice(len(ds.y_train), min(n_tr, len(ds.y_train)), replace=False))
    ite = np.sort(rng.choice(len(ds.y_test), min(n_te, len(ds.y_test)), replace=False))
    xtr, ytr, xte, yte = ds.x_train[itr], ds.y_train[itr], ds.x_test[ite], ds.y_test[ite]

    # --- the analysis: one forward sweep, one reverse sweep per output (Secs. 3.1-3.2)
    t0 = Stopwatch()
    params64 = [{k: v.astype(np.float64) for k, v in p.items()} for p in params]
    box = significance.input_box(ds.x_train)
    res = significance.analyse(model, params64, box, outputs=cfg["outputs"], output=cfg["output"])
    t_analysis = float(t0)
    mid = res.midpoints
    scores = {"interval": [res.significance], "magnitude": [significance.magnitude_scores(model, params)],
              "random": [significance.random_scores(model, np.random.default_rng(seed + 100 + r))
                         for r in range(cfg["n_random"])]}
    sizes = [len(s) for s in res.significance]

    def errors(layers, fraction, method):
        out = []
        for sc in scores[method]:
            p = significance.prune(model, params, sc, mid, layers=layers, fraction=fraction)
            out.append((error(p.model, p.params, p.inputs(xtr), ytr), error(p.model, p.params, p.inputs(xte), yte)))
        return np.mean(out, axis=0)

    curves = {}
    for exp, layers in EXPERIMENTS.items():
        curves[exp] = {}
        for method in METHODS:
            e = np.array([errors(layers, f, method) for f in cfg["fractions"]])
            curves[exp][method] = {"train": e[:, 0].tolist(), "test": e[:, 1].tolist()}
        n_layer = sizes[0] if layers == "input" else (sum(sizes[1:]) if layers == "hidden" else sizes[layers])
        curves[exp]["nodes_removed"] = [sum(significance.n_removed(s, f) for s in (
            [sizes[0]] if layers == "input" else sizes[1:] if layers == "hidden" else [sizes[layers]]))
            for f in cfg["fractions"]]
        curves[exp]["n_nodes"] = n_layer

    # --- Table 2: all hidden layers, before and after retraining (full subset)
    t2 = {"train": [], "test": [], "train_retrained": [], "test_retrained": []}
    at50 = {}
    for f in TABLE2_FRACTIONS:
        p = significance.prune(model, params, res.significance, mid, layers="hidden", fraction=f)
        xa, xb = p.inputs(ds.x_train), p.inputs(ds.x_test)
        t2["train"].append(error(p.model, p.params, xa, ds.y_train))
        t2["test"].append(error(p.model, p.params, xb, ds.y_test))
        if f > 0:
            r = fit(p.model, p.params, xa, ds.y_train, epochs=cfg["retrain_epochs"][name],
                    optimizer=Adamax(**cfg["adamax"]), batch_size=cfg["batch_size"], seed=seed + 7,
                    progress=progress, desc=f"{name} retrain {f:.0%}")
            t2["train_retrained"].append(error(p.model, r.params, xa, ds.y_train))
            t2["test_retrained"].append(error(p.model, r.params, xb, ds.y_test))
    for method in METHODS:   # 50 % of all hidden nodes, no retraining, full test subset
        errs = []
        for sc in scores[method]:
            p = significance.prune(model, params, sc, mid, layers="hidden", fraction=0.5)
            errs.append(error(p.model, p.params, p.inputs(ds.x_test), ds.y_test))
        at50[method] = float(np.mean(errs))
    widths = {res.names[l]: {"mean_width": float(np.mean(res.values[l].width)),
                             "mean_adjoint_magnitude": float(np.mean(res.adjoint_magnitude[l])),
                             "zero_significance": int(np.sum(res.significance[l] == 0))}
              for l in range(len(sizes))}
    return {"architecture": "-".join(str(s) for s in sizes + [ds.n_classes]),
            "n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test)),
            "training_history": hist, "analysis_seconds": t_analysis,
            "error_full_network": {"train": t2["train"][-1], "test": t2["test"][-1]},
            "curves": curves, "table2": t2, "test_error_50pct_hidden": at50,
            "analysis": widths, "seconds": float(sw)}


METHOD_LABEL = {"interval": "interval significance", "random": "random", "magnitude": "weight magnitude"}
METHOD_COLOR = {"interval": "C0", "random": "C1", "magnitude": "C2"}
EXPERIMENT_TEXT = {"input": "the input layer", "hidden 1": "the first hidden layer",
                   "hidden 2": "the second hidden layer", "all hidden": "both hidden layers"}
PAPER_FIGURE = {"input": "Fig. 4", "hidden 1": "Fig. 5", "hidden 2": "Fig. 6", "all hidden": "Fig. 7"}


def fig_curves(results: dict, exp: str, scale: str, panels=None, absent=None, extra: str | None = None):
    """Error vs. nodes removed in experiment ``exp`` (one panel per data set), paper Figs. 4-7.

    ``results``: data set -> {"architecture", "curves": {exp: {"nodes_removed", "n_nodes", method: {"train",
    "test"}}}, "table2": {"test", "test_retrained", ...}} as in results.json; ``panels``: the data sets the
    scale asks for, in order (default: those of ``results``); ``absent``: data set -> why it was not run (its
    panel says so). Paper values: Table 2 (all hidden nodes, 90/80/75/50/25/0 % removed, before and after
    retraining) on the "all hidden" panels of the paper's data sets; on the other experiments Table 2's 0 %
    column (the unpruned network's error), the only number the paper gives for them.
    """
    panels = list(panels or results)
    absent = absent or {}
    fig, axes = plot.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.7), squeeze=False)
    for ax, name in zip(axes[0], panels):
        if name not in results:
            ax.set_title(plot.dataset_title(name))
            plot.absent_panel(ax, f"{plot.dataset_title(name)} was not run: {absent.get(name, 'not run')}")
            continue
        r = results[name]
        c = r["curves"][exp]
        for m in METHODS:
            ax.plot(c["nodes_removed"], c[m]["test"], "-", color=METHOD_COLOR[m], label=f"{METHOD_LABEL[m]} (test)")
            ax.plot(c["nodes_removed"], c[m]["train"], "--", color=METHOD_COLOR[m], alpha=0.7,
                    label=f"{METHOD_LABEL[m]} (train)")
        paper = PAPER_TABLE2.get(name)
        if exp == "all hidden":
            xs = [f * c["n_nodes"] for f in TABLE2_FRACTIONS]
            ax.plot(xs[:-1], r["table2"]["test_retrained"], "^", color="C0", markersize=5,
                    label="interval significance, retrained (test; our Table 2)")
            if paper:
                plot.paper_points(ax, xs, paper["test"], label="paper Table 2, test error")
                plot.paper_points(ax, xs[:-1], paper["test_retrained"], marker="^",
                                  label="paper Table 2, test error after retraining")
        elif paper:
            plot.paper_points(ax, [0], [paper["test"][-1]], label="paper Table 2, test error, 0 % removed")
            plot.paper_points(ax, [0], [paper["train"][-1]], marker="s",
                              label="paper Table 2, train error, 0 % removed")
        note = "" if paper else "\n(not among the paper's data sets: no paper values)"
        ax.set_title(f"{plot.dataset_title(name)}, {r['architecture']}{note}")
        ax.set_xlabel(f"nodes removed from {EXPERIMENT_TEXT[exp]} (of {c['n_nodes']})")
        ax.set_ylabel("error rate (fraction misclassified)")
        ax.set_ylim(0, 1)
    fig.suptitle(f"Removal of insignificant nodes from {EXPERIMENT_TEXT[exp]} (cf. paper {PAPER_FIGURE[exp]})")
    fig.tight_layout()
    plot.legend_outside(fig, ncol=3)
    ran = [n for n in panels if n in results]
    plot.data_label(fig, ran or [f"none ({', '.join(map(plot.dataset_title, panels))} absent)"], scale, extra)
    return fig


def fig_cifar10_input(results: dict, scale: str, absent=None, extra: str | None = None):
    """Input-feature removal on CIFAR-10 alone (paper Fig. 8); a "not made" panel when CIFAR-10 was absent."""
    fig = fig_curves(results, "input", scale, panels=["cifar-10"], absent=absent, extra=extra)
    fig.suptitle("Removal of insignificant nodes from the input layer, CIFAR-10 (cf. paper Fig. 8)")
    return fig


def figures(out: Path, results: dict, panels, absent: dict, scale: str, extra: str):
    """Write Figs. 4-7 (and Fig. 8 when CIFAR-10 is among the scale's data sets)."""
    for exp, fig_name in FIGURE_OF.items():
        plot.save(fig_curves(results, exp, scale, panels, absent, extra), out / f"{fig_name}.png")
    if "cifar-10" in panels:
        plot.save(fig_cifar10_input(results, scale, absent, extra), out / "fig8_cifar10_input.png")


def main(argv=None):
    args = chapter_parser(__doc__, chapter="interval",
                          datasets=("digits", "mnist", "fashion-mnist", "mnist-rot", "cifar-10")).parse_args(argv)
    out = output_dir(args)
    cfg = CONFIG[args.scale]
    sw = Stopwatch()
    wanted = [args.dataset] if args.dataset else list(cfg["datasets"])
    if args.dataset and args.dataset not in cfg["epochs"] and args.dataset != "mnist-rot":
        cfg["epochs"][args.dataset] = cfg["epochs"].get("fashion-mnist", [20, 10])
        cfg["retrain_epochs"][args.dataset] = cfg["retrain_epochs"].get("fashion-mnist", 5)
    results, notes, dsets = {}, [], DataSets()
    for name in wanted:
        ds, why = load(name, cfg["datasets"].get(name, {}), args.seed)
        if ds is None:
            dsets.skip(name, why)
            continue
        dsets.use(name)
        print(f"[{name}] {ds.x_train.shape[0]} train / {ds.x_test.shape[0]} test examples", flush=True)
        results[name] = run_dataset(name, ds, cfg, args.seed, args.progress,
                                    out / "checkpoints" if args.scale == "paper" else None)
        print(f"[{name}] done in {results[name]['seconds']:.1f} s (analysis {results[name]['analysis_seconds']:.3f} s)")
    if not results:
        return dsets.nothing_ran()

    # ---- tables
    cols = ["data set", "row"] + [f"{f:.0%}" for f in TABLE2_FRACTIONS]
    rows, paper_rows = [], []
    labels = [("train", "training error"), ("train_retrained", "after retraining"),
              ("test", "test error"), ("test_retrained", "after retraining")]
    for name, r in results.items():
        for key, label in labels:
            v = r["table2"][key]
            rows.append([name, label] + list(v) + [None] * (6 - len(v)))
    for name, t in PAPER_TABLE2.items():
        for key, label in labels:
            v = t[key]
            paper_rows.append([name, label] + list(v) + [None] * (6 - len(v)))
    print_table("Table 2 (measured): error after removing a fraction of all hidden nodes by significance", cols, rows)
    print_table("Table 2 (paper)", cols, paper_rows)
    t1 = [[n, r["architecture"], r["n_train"], r["n_test"]] for n, r in results.items()]
    print_table("Table 1 (measured runs)", ["data set", "architecture", "train", "test"], t1)
    print_table("Table 1 (paper)", ["data set", "architecture"], PAPER_TABLE1)
    cmp_rows = [[n] + [r["test_error_50pct_hidden"][m] for m in METHODS]
                + [min(METHODS, key=lambda m: r["test_error_50pct_hidden"][m])] for n, r in results.items()]
    print_table("Test error at 50% of all hidden nodes removed (no retraining)",
                ["data set"] + list(METHODS) + ["lowest"], cmp_rows)

    for name, r in results.items():
        e = r["test_error_50pct_hidden"]
        best = min(METHODS, key=lambda m: e[m])
        notes.append(f"{name}: at 50% of all hidden nodes removed (no retraining) the test error is "
                     f"{e['interval']:.4f} (interval significance), {e['random']:.4f} (random, mean of "
                     f"{cfg['n_random']} draws), {e['magnitude']:.4f} (weight magnitude); lowest: {best}.")
        w = [a["mean_width"] for k, a in r["analysis"].items() if k.startswith("hidden")]
        notes.append(f"{name}: the hidden nodes' intervals over the input box have mean width "
                     f"{', '.join(f'{v:.6f}' for v in w)} (a sigmoid node's interval is at most [0, 1]); "
                     "where this is close to 1, Eq. 1's width factor hardly distinguishes hidden nodes and "
                     "the Sec. 3.3 bias update substitutes a midpoint near 0.5 for every removed node, "
                     "whatever its typical activation.")
        if name in PAPER_TABLE2:
            p, m = PAPER_TABLE2[name]["test"], r["table2"]["test"]
            notes.append(f"{name}: test error at 90/80/75/50/25/0% removed: measured "
                         f"{', '.join(f'{v:.3f}' for v in m)}; paper {', '.join(f'{v:.2f}' for v in p)}.")
    for name, why in dsets.absent.items():
        notes.append(f"{name} skipped: {why}")
    if args.scale == "quick":
        notes.append("quick scale: digits (64-500-500-10, full 1,347/450 split) and a Fashion-MNIST subset "
                     "(6,000/2,000); fewer epochs than the paper-scale config; sweep curves evaluated on "
                     "<=1,500 train / <=2,000 test examples; random baseline averaged over 3 draws. "
                     "The paper's data sets (MNIST, MNIST_ROT, CIFAR-10) are not run at this scale.")
    notes.append("Significance reading: outputs='each' (one reverse sweep per softmax output, max over "
                 "outputs); 'all hidden' removes the same fraction from each hidden layer.")

    extra = f"random: mean of {cfg['n_random']} draws"
    if cfg["eval_train"]:
        extra += f"; curves on ≤{cfg['eval_train']:,} train / ≤{cfg['eval_test']:,} test examples"
    metrics = {n: {k: v for k, v in r.items() if k != "training_history"} for n, r in results.items()}
    for n, r in results.items():
        metrics[n]["training_history"] = r["training_history"] if isinstance(r["training_history"], dict) else {}
    errors = trained(0.03, what="error rates after training and pruning")
    tables = {"table2": table(cols, rows, key=["data set", "row"], dataset=[r[0] for r in rows], tolerance=errors),
              "table1": table(["data set", "architecture", "train", "test"], t1, dataset=[r[0] for r in t1],
                              tolerance=EXACT),
              "test_error_50pct_hidden": table(["data set"] + list(METHODS) + ["lowest"], cmp_rows,
                                               dataset=[r[0] for r in cmp_rows], tolerance=errors)}
    for name in results:
        dsets.label(f"metrics/datasets/{name}", name)
    tolerances = {
        "config": EXACT,
        "metrics/datasets": errors,
        "metrics/datasets/*/training_history/loss": trained(0.02, rtol=0.1, what="training loss"),
        "metrics/datasets/*/analysis": tolerance(0.1, 1e-6, "interval analysis of the trained float32 network: "
                                                 "inherits the training's rounding differences"),
    }
    res = make_results(document="interval", experiment="interval adjoint significance pruning (Table 2, Figs. 4-8)",
                       scale=args.scale, config={k: v for k, v in cfg.items()}, seeds=[args.seed],
                       metrics={"datasets": metrics}, tables=tables,
                       paper={"table2": PAPER_TABLE2, "table1": PAPER_TABLE1}, notes=notes,
                       elapsed_seconds=float(sw), tolerances=tolerances, datasets=dsets.report())
    write_results(out / "results.json", res)          # before the figures: a figure cannot lose the results
    figures(out, results, wanted, dsets.absent, args.scale, extra)
    print(f"\nwrote {out / 'results.json'} and figures in {out} ({float(sw):.1f} s)")
    for n in notes:
        print(" -", n)
    return 0


if __name__ == "__main__":
    run(main)
