"""Extremal learning (Patel & Rummel), Sec. 3: the "goodness of health" toy example.

Reproduces
  * Eq. 3.5  — mean μ and standard deviation σ of the generated inputs;
  * Eq. 3.6/3.7 — the maximizing input x̂ found by extremal learning with L = L1 + L2
    (Eqs. 3.2–3.4: c = 2, κ1 = 1/2, κ2 = 10, κ̂ = 1), the network output f(x̂), g_true(x̂) (the
    paper's ŷ ≈ 1.702 is g_true at x̂), beside the analytic x̂_true = [0, 0, −2σ2, −2σ3] and
    ŷ_true = 1 + 2σ2 − exp(−2σ3);
  * Fig. 1 (losses of Eqs. 2.7 and 2.6), Fig. 2 (data), Fig. 3 (fitted network over the data),
    plus the optimization trajectory (fig4).
Beyond the paper: the certified global maximum of the trained ReLU network over the window
μ ± 2σ (a MILP, refimpl.milp) and how far single- and multi-start extremal learning and
scipy's L-BFGS-B from the same starts land from it.

Settings. Network Dense 64 ReLU -> Dense 32 ReLU -> Dense 1, Keras "uniform" kernel init
(U(−0.05, 0.05)), zero biases, Adam lr 1e-3, MSE. The authors train with batch 1 for 80
epochs (--scale paper, 80k steps); --scale quick uses batch 32 for 200 epochs (6,250 Adam
steps, ~5 s; its MSE to g_true on fresh points is within 3% of batch 16 x 200 epochs). Seed 0
measured: MSE to g_true 0.00095 (quick) vs 0.0029 (paper scale: batch-1 Adam is noisier); both
runs meet the issue's tolerances (max |x̂ − x̂_true| 0.166 vs 0.171). Paper scale: ~3 min.
Extremal learning: Adam lr 5e-4 for 50,000 steps (authors' notebook; paper scale); quick:
lr 2e-2 for 2,500 steps. (On the quick-fit network all 32 starts end within 0.002 of the point
that the authors' schedule reaches from the first 4 of them; lr 1e-2 for 2,500 steps left 9 of 32
starts short of it, by up to 0.46, along the shallow x3 direction.) Starts: the text draws x_init
"from a normal distribution such that x_init,i ∈ [−1, 1]" (here: standard normal truncated to
[−1, 1] by redrawing). The authors' notebook instead uses a plain standard normal draw, and its
extrapolation loss returns ``sum(square(loss_1)) + sum(square(loss_1))``: the upper branch is
dropped and the lower one counted twice, i.e. Eq. 2.6 with κ1 = 2 on the lower branch only
(the text's Eq. 3.3 has κ1 = 1/2 on both) — run and printed as "notebook variant".

--scale paper on this 2-core machine: 2.5–3.7 min of CPU (measured: 4.7 min wall clock at load 3,
10 min at load 6; data: the generated health data); reference in figures/extremal/paper/.

    python chapters/extremal_learning.py [--scale quick|paper] [--seed N] [--out DIR]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import DataSets, Stopwatch, chapter_parser, output_dir, print_table, run  # noqa: E402

from refimpl import extremal  # noqa: E402
from refimpl.extremal import milp  # noqa: E402
from refimpl.data import g_true, health_data  # noqa: E402
from refimpl.model import mlp  # noqa: E402
from refimpl.nn import truncated_normal  # noqa: E402
from refimpl.optim import Adam  # noqa: E402
from refimpl import plotting as plot  # noqa: E402
from refimpl.results import (DETERMINISTIC, EXACT, make_results, over_seeds, table,  # noqa: E402
                             tolerance, trained, write_results)
from refimpl.train import fit, predict  # noqa: E402

PAPER = {
    "mu": [0.007, -0.028, 0.005, 0.006],                 # Eq. 3.5
    "sigma": [0.555, 0.577, 0.577, 0.567],
    "x_hat": [-0.167, -0.0861, -1.193, -1.153],          # Eq. 3.6
    "y_hat_g_true": 1.702,                               # g_true(x̂), Sec. 3.2
    "x_hat_true": [0.0, 0.0, -1.154, -1.134],            # Eq. 3.7
    "y_hat_true": 1.832,
}

SCALES = {
    #          fit: batch, epochs;  extremal: lr, steps;  multi-start count
    "quick": dict(batch_size=32, epochs=200, el_lr=2e-2, el_steps=2_500, starts=32),
    "paper": dict(batch_size=1, epochs=80, el_lr=5e-4, el_steps=50_000, starts=32),
}


def fit_health_network(rng, cfg, progress=False):
    """Secs. 3.1-3.2 from one seeded stream: data (Eq. 3.1), μ and σ (Eq. 3.5), the fitted network.

    Returns ``(x, y, mu, sigma, model, fitted)``; μ, σ are float64 (σ: population, ddof 0, as
    the notebook's ``tf.math.reduce_std``).
    """
    x, y = health_data(rng)
    mu, sigma = x.mean(0).astype(np.float64), x.std(0).astype(np.float64)
    model = mlp(4, [64, 32], 1, kernel_init="random_uniform", bias_init="zeros")
    fitted = fit(model, model.init(rng), x, y, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                 optimizer=Adam(lr=1e-3), loss="mse", seed=rng, progress=progress, desc="fit")
    return x, y, mu, sigma, model, fitted


def sec3_losses(mu, sigma):
    """Eqs. 3.3-3.4: L1 (c = 2, κ1 = 1/2) and L2 (κ2 = 10, κ̂ = 1), as extremize's arguments."""
    L1 = lambda x, y: extremal.extrapolation_loss(x, mu, sigma, c=2.0, kappa1=0.5)     # noqa: E731
    L2 = lambda y: extremal.positive_output_loss(y, kappa2=10.0, kappa_hat=1.0)        # noqa: E731
    return L1, L2


def main(argv=None):
    args = chapter_parser(__doc__, chapter="extremal", datasets=("health",),
                          gpu_note=" (the network is tiny; it runs on the CPU)").parse_args(argv)
    out = output_dir(args)
    dsets = DataSets()
    dsets.use("health")
    cfg = SCALES[args.scale]
    clock = Stopwatch()
    rng = np.random.default_rng(args.seed)
    notes = []

    # ---- Sec. 3.1: data and Eq. 3.5 -----------------------------------------------------
    x, y, mu, sigma, model, fitted = fit_health_network(rng, cfg, args.progress)
    print_table("Eq. 3.5: mean and standard deviation of the inputs", ["", "x0", "x1", "x2", "x3"],
                [["μ (ours)", *map(float, mu)], ["μ (paper)", *PAPER["mu"]],
                 ["σ (ours)", *map(float, sigma)], ["σ (paper)", *PAPER["sigma"]]])

    # ---- Sec. 3.2: the fitted regression network --------------------------------------------
    params = fitted.params
    train_mse = fitted.history["loss"][-1]
    paper_cfg = SCALES["paper"]
    print(f"\nfit ({args.scale} scale): Adam lr 1e-3, batch {cfg['batch_size']}, {cfg['epochs']} epochs "
          f"(authors: batch {paper_cfg['batch_size']}, {paper_cfg['epochs']} epochs)")
    print(f"extremal learning ({args.scale} scale): Adam lr {cfg['el_lr']:g}, {cfg['el_steps']:,} steps, "
          f"{cfg['starts']} starts (authors: lr {paper_cfg['el_lr']:g}, {paper_cfg['el_steps']:,} steps, one start)")

    # ---- extremal learning, L = L1 + L2 (Eqs. 3.2-3.4) ----------------------------------
    L1, L2 = sec3_losses(mu, sigma)
    # the notebook's penalty: lower branch only, counted twice (κ1 = 2); see the module docstring
    L1_notebook = lambda x, y: extremal.extrapolation_loss(x, mu, sigma, c=2.0, kappa1=2.0, upper=False)  # noqa: E731
    starts = truncated_normal(rng, (cfg["starts"], 4), bound=1.0)   # start 0 is "the" single start
    starts_notebook = rng.standard_normal((cfg["starts"], 4))
    grid_test = rng.uniform(-1, 1, (20_000, 4))
    test_mse = float(np.mean((predict(model, params, grid_test.astype(np.float32))[:, 0] - g_true(grid_test)) ** 2))
    print(f"fit: train MSE {train_mse:.5f} (noise variance 0.0025); MSE to g_true on fresh uniform points "
          f"{test_mse:.5f}")
    opt = Adam(lr=cfg["el_lr"])
    el_kw = dict(objective=L2, optimizer=opt, steps=cfg["el_steps"])
    t = Stopwatch()
    el = extremal.extremize(model, params, starts, constraints=[L1], **el_kw)
    t_el = float(t)
    el_nb = extremal.extremize(model, params, starts_notebook, constraints=[L1_notebook], **el_kw)

    x_true = np.array([0.0, 0.0, -2 * sigma[2], -2 * sigma[3]])
    y_true = float(1 + 2 * sigma[2] - np.exp(-2 * sigma[3]))
    single, best = el.x[0], el.x[el.best]
    n_converged = int(np.sum(np.abs(el.x - best).max(axis=1) <= 0.01))
    rows = [["paper Eq. 3.6", *PAPER["x_hat"], None, PAPER["y_hat_g_true"]],
            ["paper x̂_true, ŷ_true (Eq. 3.7)", *PAPER["x_hat_true"], None, PAPER["y_hat_true"]],
            ["ours x̂_true, ŷ_true", *map(float, x_true), None, y_true]]
    for name, xx, yy in [("ours, single start", single, el.y[0]),
                         (f"ours, best of {cfg['starts']} starts", best, el.y[el.best]),
                         ("notebook variant, single start", el_nb.x[0], el_nb.y[0])]:
        rows.append([name, *map(float, xx), float(yy), float(g_true(xx))])
    cols = ["", "x0", "x1", "x2", "x3", "f(x̂)", "g_true(x̂)"]
    print_table("Eqs. 3.6-3.7: maximizing input (f = network output)", cols, rows)
    dx = np.abs(single - x_true)
    dy = abs(float(g_true(single)) - y_true)
    ok_x, ok_y = bool(np.all(dx <= 0.25)), dy <= 0.2
    print(f"single start: max |x̂ − x̂_true| = {dx.max():.3f} (≤ 0.25: {ok_x}); "
          f"|g_true(x̂) − ŷ_true| = {dy:.3f} (≤ 0.2: {ok_y}); {n_converged} of {cfg['starts']} starts end "
          f"within 0.01 of the best start's x̂")
    window = (mu - 2 * sigma, mu + 2 * sigma)
    print(f"window μ ± 2σ: lower {np.round(window[0], 3)}, upper {np.round(window[1], 3)}; "
          f"x̂ overshoots its lower edge by {np.round(np.maximum(window[0] - single, 0), 3)} "
          f"(soft penalty: L1 and L2 gradients balance outside the window); the notebook variant "
          f"(κ1 = 2) by {np.round(np.maximum(window[0] - el_nb.x[0], 0), 3)}; the paper's x̂ by "
          f"{np.round(np.maximum(np.array(PAPER['mu']) - 2 * np.array(PAPER['sigma']) - PAPER['x_hat'], 0), 3)}")
    print(f"g_true(x̂) = {float(g_true(single)):.3f} (ours, single start) vs the paper's {PAPER['y_hat_g_true']}: "
          f"the paper's value is lower mainly through its x̂0 = {PAPER['x_hat'][0]} (cost |x0|); ours exceeds "
          f"ŷ_true = {y_true:.3f} because x̂ leaves the window")
    if not (ok_x and ok_y):
        notes.append(f"the single-start result misses the issue's tolerance: max |x̂ − x̂_true| = {dx.max():.3f}, "
                     f"|g_true(x̂) − ŷ_true| = {dy:.3f}")

    # ---- beyond the paper: certified maximum over the window -------------------------------
    cert = milp.maximize_relu_network(model, params, *window)
    print(f"\nMILP (big-M from interval bounds, {cert.n_binary} binaries, {cert.n_inactive} ReLUs fixed "
          f"inactive, {cert.n_active} active): max f over μ ± 2σ = {cert.value:.6f} at "
          f"{np.round(cert.x, 4)}; dual bound {cert.bound:.6f}; {cert.nodes} nodes, {cert.seconds:.2f} s; "
          f"{cert.message}")
    t = Stopwatch()
    el_box = extremal.extremize(model, params, starts, bounds=window, **el_kw)
    t_box = float(t)
    t = Stopwatch()
    lb_box = extremal.extremize_lbfgs(model, params, starts, objective=lambda y: -y, bounds=window)
    t_lb_box = float(t)
    t = Stopwatch()
    lb_soft = extremal.extremize_lbfgs(model, params, starts, objective=L2, constraints=[L1])
    t_lb_soft = float(t)

    def row(name, res, i, seconds):
        xi = res.x[i]
        inside = np.clip(xi, *window)
        f_in = float(model.apply(params, inside[None])[0, 0])          # float64, as the MILP
        violation = float(np.max(np.maximum(window[0] - xi, 0) + np.maximum(xi - window[1], 0)))
        return [name, float(res.y[i]), violation, f_in, cert.value - f_in,
                float(np.max(np.abs(inside - cert.x))), seconds]

    k = cfg["starts"]
    cert_rows = [
        ["MILP (certified)", cert.value, 0.0, cert.value, 0.0, 0.0, cert.seconds],
        row("extremal learning, L1+L2, single", el, 0, t_el / k),
        row(f"extremal learning, L1+L2, best of {k}", el, el.best, t_el),
        row("extremal learning, box-projected L2, single", el_box, 0, t_box / k),
        row(f"extremal learning, box-projected L2, best of {k}", el_box, el_box.best, t_box),
        row("L-BFGS-B on −f in the box, single", lb_box, 0, t_lb_box / k),
        row(f"L-BFGS-B on −f in the box, best of {k}", lb_box, lb_box.best, t_lb_box),
        row("L-BFGS-B on L1+L2, single", lb_soft, 0, t_lb_soft / k),
        row(f"L-BFGS-B on L1+L2, best of {k}", lb_soft, lb_soft.best, t_lb_soft),
    ]
    cert_cols = ["method (same starts)", "f(x̂)", "window violation", "f(clip x̂)", "gap to MILP",
                 "‖clip x̂ − x*‖∞", "seconds"]
    print_table("Certified maximum of the network over μ ± 2σ vs local methods "
                "(seconds: per start for 'single', all starts for 'best of')", cert_cols, cert_rows)
    box_results = np.concatenate([el_box.trajectory["y"].ravel(), lb_box.y])
    exceed = float(box_results.max() - cert.bound)
    print(f"largest in-window local result minus the MILP bound: {exceed:.2e} (must be ≤ 0 up to rounding)")
    if exceed > 1e-6:
        notes.append(f"an in-window local result exceeded the MILP bound by {exceed:.2e}")

    notes += [
        "f(x̂) is the network output; the paper's ŷ ≈ 1.702 is g_true(x̂) (docs/extremal.md).",
        "x̂_true follows Eq. 3.7 ([0, 0, −2σ2, −2σ3], ignoring μ ≈ 0); the window edge is μ − 2σ.",
        f"g_true(x̂) does not reproduce the paper's 1.702: ours {float(g_true(single)):.3f}; ours exceeds "
        f"ŷ_true = {y_true:.3f} because x̂ overshoots the window (L1 has κ1 = 1/2, Eq. 3.3), and the paper's "
        "is lower through its x̂0 = −0.167.",
        "The notebook variant follows the authors' code: L1 without its upper branch and its lower branch "
        "counted twice (κ1 = 2), which shrinks the overshoot to about the paper's.",
        "The L1 + L2 optimum lies outside the window (soft penalty), so f(x̂) can exceed the certified "
        "in-window maximum; the certification table compares f at x̂ clipped into the window.",
        f"quick scale trains with batch {cfg['batch_size']} for {cfg['epochs']} epochs "
        f"(the authors: batch 1, 80 epochs) and runs extremal learning with Adam lr {cfg['el_lr']:g} for "
        f"{cfg['el_steps']:,} steps (authors: lr 5e-4, 50,000 steps)." if args.scale == "quick"
        else "paper-scale settings of the authors' notebook.",
        f"{n_converged} of {cfg['starts']} L1+L2 starts end within 0.01 (max norm) of the best start's x̂.",
    ]
    # refimpl verify: x̂, f and g_true follow the float32-trained network
    fitted_tol = trained(0.05, what="inputs and outputs of the fitted network")
    results = make_results(
        document="extremal", experiment="Sec. 3 health toy: extremal learning + MILP certification",
        scale=args.scale, seeds=[args.seed],
        config={**cfg, "network": model.to_dict(), "fit_optimizer": "Adam(lr=1e-3)", "loss": "mse",
                "n_data": 1000, "noise_sigma": 0.05, "c": 2.0, "kappa1": 0.5, "kappa1_notebook_lower_only": 2.0, "kappa2": 10.0, "kappa_hat": 1.0,
                "x_init": "standard normal truncated to [-1, 1] (text); notebook variant: standard normal"},
        metrics={"mu": mu, "sigma": sigma, "train_mse": train_mse, "mse_to_g_true": test_mse,
                 "x_hat_single": single, "f_x_hat_single": float(el.y[0]), "g_true_x_hat_single": float(g_true(single)),
                 "x_hat_best": best, "f_x_hat_best": float(el.y[el.best]), "g_true_x_hat_best": float(g_true(best)),
                 "x_hat_notebook": el_nb.x[0], "g_true_x_hat_notebook": float(g_true(el_nb.x[0])),
                 "x_hat_true": x_true, "y_hat_true": y_true,
                 "max_abs_dx_single": float(dx.max()), "abs_dy_single": dy, "starts_within_0.01_of_best": n_converged,
                 "within_tolerance": {"x_0.25": ok_x, "y_0.2": ok_y},
                 "milp": {"value": cert.value, "bound": cert.bound, "x": cert.x, "n_binary": cert.n_binary,
                          "nodes": cert.nodes, "status": cert.status},
                 "max_in_window_local_minus_bound": exceed},
        tables={"eq_3_6": table(cols, rows, tolerance=fitted_tol),
                "certification": table(cert_cols, cert_rows, tolerance=fitted_tol)},
        paper=PAPER, notes=notes, elapsed_seconds=float(clock), datasets=dsets.report(),
        tolerances={"config": EXACT, "metrics": fitted_tol, "metrics/mu": DETERMINISTIC, "metrics/sigma": DETERMINISTIC,
                    "metrics/train_mse": trained(1e-3, rtol=0.3, what="MSE"),
                    "metrics/mse_to_g_true": trained(1e-3, rtol=0.3, what="MSE"),
                    "metrics/starts_within_0.01_of_best": over_seeds(3.0, what=f"count of {cfg['starts']} starts"),
                    "metrics/milp/n_binary": tolerance(0.2, 2.0, "undecided ReLUs of the trained network"),
                    "metrics/milp/nodes": tolerance(1.0, 50.0, "branch-and-bound nodes: vary with the network"),
                    "metrics/max_in_window_local_minus_bound": tolerance(0.0, 1e-5, "<= 0 up to rounding")})
    write_results(out / "results.json", results)          # before the figures: a figure cannot lose the results
    figures(out, x, y, predict(model, params, x)[:, 0], el, window, cert, x_true, args.scale)
    print(f"\nwrote {out / 'results.json'} and figures; {float(clock):.1f} s")
    return 0


def figures(out, x, y, pred, el, window, cert, x_true, scale):
    """Write Figs. 1–4 to ``out`` (PNG)."""
    plot.save(fig_losses(scale), out / "fig1_losses.png")
    plot.save(fig_data(x, y, None, scale), out / "fig2_data.png")
    plot.save(fig_data(x, y, pred, scale), out / "fig3_fit.png")
    tr = el.trajectory
    plot.save(fig_trajectory({"step": tr["step"], "x": tr["x"], "y": tr["y"], "window": window,
                              "milp_x": cert.x, "x_true": x_true}, scale), out / "fig4_trajectory.png")


def fig_losses(scale):
    """Fig. 1: (a) Eq. 2.7 with κ2 = 10, κ̂ = 1; (b) Eq. 2.6 with κ1 = 1 (c = 2, μ = 0, σ = 1/√3)."""
    fig, axes = plot.subplots(1, 2, figsize=(9, 3.4))
    yy = np.linspace(-0.5, 4, 500)
    axes[0].plot(yy, extremal.positive_output_loss(yy, 10, 1))
    axes[0].set(xlabel="network output y (arbitrary units)", ylabel="loss $\\mathcal{L}_2$",
                title="(a) maximization loss, Eq. 2.7")
    s = 1 / np.sqrt(3)
    xx = np.linspace(-3, 3, 500)
    axes[1].plot(xx, extremal.extrapolation_loss(xx[:, None], [0.0], [s], c=2, kappa1=1.0))
    axes[1].axvspan(-2 * s, 2 * s, color="0.9", label="window μ ± 2σ")
    axes[1].set(xlabel="input $x_i$ (arbitrary units)", ylabel="loss $\\mathcal{L}_1$",
                title="(b) extrapolation loss, Eq. 2.6")
    plot.legend_outside(axes[1], where="below")
    plot.data_label(fig, "none (the curves of Eqs. 2.6–2.7)", scale)
    fig.tight_layout()
    return fig


def fig_data(x, y, pred, scale):
    """Fig. 2 (``pred`` None: the generated data) or Fig. 3 (the trained network at the data points).

    ``x`` (N, 4), ``y`` (N, 1) and ``pred`` (N,) are float arrays. In Fig. 3 each data point is a hollow grey
    circle with the network's output as an orange dot, and two more panels judge the fit: network against data
    (on the diagonal for a perfect fit) and the residuals beside the generating noise N(0, 0.05²) of Eq. 3.1.
    """
    ncols = 2 if pred is None else 3
    fig, axes = plot.subplots(2, ncols, figsize=(4 * ncols, 6.4), squeeze=False)
    for i, ax in enumerate(axes[:, :2].ravel()):
        if pred is None:
            ax.scatter(x[:, i], y[:, 0], s=3, color="C0", label="data")
        else:
            ax.scatter(x[:, i], y[:, 0], s=12, facecolors="none", edgecolors="0.55", lw=0.5, label="data y")
            ax.scatter(x[:, i], pred, s=2, color="C1", lw=0, label="network f(θ̂; x)")
        ax.set(xlabel=f"input $x_{i}$ (arbitrary units)", ylabel="health y (arbitrary units)")
    if pred is not None:
        ax = axes[0, 2]
        ax.scatter(y[:, 0], pred, s=2, color="C1", lw=0)
        lims = [min(y.min(), pred.min()), max(y.max(), pred.max())]
        ax.plot(lims, lims, color="0.3", lw=0.8, label="perfect fit")
        ax.set(xlabel="data y", ylabel="network f(θ̂; x)", title="network against data")
        ax = axes[1, 2]
        residual = y[:, 0] - pred
        ax.hist(residual, bins=40, density=True, color="C1", alpha=0.7, label=f"y − f (std {residual.std():.3f})")
        r = np.linspace(residual.min(), residual.max(), 200)
        plot.paper_curve(ax, r, np.exp(-0.5 * (r / 0.05) ** 2) / (0.05 * np.sqrt(2 * np.pi)), marker=None,
                         label="paper's noise N(0, 0.05²), Eq. 3.1")
        ax.set(xlabel="residual y − f(θ̂; x)", ylabel="density", title="residuals")
        plot.legend_outside(fig, markerscale=4)
    fig.suptitle("Fig. 3: trained network over the data" if pred is not None else "Fig. 2: generated data")
    plot.data_label(fig, "health", scale, f"{len(x):,} points")
    fig.tight_layout()
    return fig


def fig_trajectory(tr, scale):
    """Fig. 4: extremal learning from the first start over the steps, and all starts in the (x2, x3) plane.

    ``tr`` holds ``step`` (T,), ``x`` (T, starts, 4), ``y`` (T, starts), ``window`` (lo, hi) each (4,),
    ``milp_x`` (4,) and ``x_true`` (4,); the paper's x̂ (Eq. 3.6) is marked in both panels.
    """
    fig, axes = plot.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    for i in range(4):
        ax.plot(tr["step"], tr["x"][:, 0, i], color=f"C{i}", label=f"$x_{i}$")
    ax.plot(tr["step"], tr["y"][:, 0], "k", lw=1.6, label="f(x)")
    for i in range(4):   # hollow markers in each coordinate's colour
        plot.paper_points(ax, tr["step"][-1], PAPER["x_hat"][i], color=f"C{i}",
                          label="paper x̂ (Eq. 3.6), hollow" if i == 0 else None)
    ax.set(xlabel="extremal-learning step", ylabel="input $x_i$ and output f(x) (arbitrary units)",
           title="single start")
    plot.legend_outside(ax)
    lo, hi = tr["window"]
    ax = axes[1]
    ax.add_patch(plot.pyplot().Rectangle((lo[2], lo[3]), hi[2] - lo[2], hi[3] - lo[3], fill=False, ls=":",
                                         color="0.4", label="window μ ± 2σ"))
    for b in range(tr["x"].shape[1]):
        ax.plot(tr["x"][:, b, 2], tr["x"][:, b, 3], color="C0", lw=0.7, alpha=0.5)
    ax.plot(tr["x"][-1, :, 2], tr["x"][-1, :, 3], "o", ms=3, color="C0", label="x̂, all starts (ours)")
    ax.plot(*tr["x_true"][2:], "r*", ms=12, label="$\\hat x_{true}$ (Eq. 3.7)")
    ax.plot(*tr["milp_x"][2:], "kx", ms=10, label="MILP argmax")
    plot.paper_points(ax, PAPER["x_hat"][2], PAPER["x_hat"][3], label="paper x̂ (Eq. 3.6)")
    ax.set(xlabel="$x_2$ (cake)", ylabel="$x_3$ (candy)", title="paths of all starts")
    plot.legend_outside(ax)
    plot.data_label(fig, "health", scale, f"{tr['x'].shape[1]} starts")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run(main)
