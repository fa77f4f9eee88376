"""A genetic algorithm with noise-robust elites plays Atari (document `thesis`: Prellberg, PhD thesis,
Oldenburg 2020, chapter 6, after Such et al. 2017).

Reproduces
  * Algorithm 3 with Table 6.1's two configurations (baseline = Such et al.: κ 1, μ 10, λ 5,000,
    one evaluation; proposal: κ 10, μ 40, λ 2,000, up to 20 evaluations; σ 0.005), the author's
    code's variants as options (--selection code, --final-pick elite_mean, --proposal-config code_v1);
  * Fig. 6.1 — the best agent's score per generation, mean ± std over its evaluation episodes,
    baseline vs. proposal (fig6_1_<game>.png);
  * Table 6.2 — the paper's rows (DQN, Duel, ES, Baseline, Proposal and the ensembles "*") beside
    ours: the chosen agent and the top-3 ensemble on fixed episode seeds (the same seeds for both
    configurations), and a random policy on the same seeds;
  * a GIF of the final agent playing (<game>_final_agent.gif, the 84×84 frames it sees);
  * the chapter's claim in isolation: a noisy-fitness test bed (known true fitness, heavy-tailed
    "lucky episode" noise) on which the baseline's selected agent overestimates its true fitness
    more than the proposal's (one-sided Mann–Whitney U over 5 seeds).

--scale quick (≈ 2–3 min on 2 cores; every reduction is also in results.json "notes"):
  (a) the test bed: Table 6.1 with λ divided by 10 (baseline λ 500, proposal λ 200), 10,000
      evaluations per run, 5 seeds; (b) Atari (--game, default Frostbite) with --net small (conv
      16/32/32, dense 128: 224,738 parameters instead of 1,693,362), baseline κ 1, μ 3, λ 10, one
      evaluation; proposal κ 3, μ 5, λ 10, up to 5 evaluations; training episodes capped at 200
      agent steps (paper 3,000); 3 generations; Fig. 6.1 from 3 episodes per generation; the final
      protocol on 8 fixed seeds capped at 200 steps (paper: 100 seeds, uncapped). This checks the
      pipeline and compares with a random policy; it cannot test Table 6.2's orderings.
--scale paper: Table 6.1 as written, the Nature network, a budget of --budget-steps agent steps
  (default 1e9, the author's code; the text's "one million game frames" cannot hold one generation:
  the discrepancy is printed), 50-episode per-generation elite evaluations, 100 uncapped final
  episodes with seeds 666666 + i. Resumable: the GA state (seed lists) is checkpointed after every
  generation in OUT/checkpoints/; a progress bar counts agent steps. --workers ray sends episode
  jobs to Ray actors (pip install -e .[distributed]; --ray-address to join a cluster).
--scale paper on this 2-core machine: ~60 CPU-days per game (measured: the Nature network plays ~390
  agent steps per CPU s at load 5; 2 × 1e9 budget steps, plus elite/final episodes; the test bed
  alone ~8 min of CPU; data: the ALE ROMs, installed).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

from _cli import (EXIT_USAGE, Stopwatch, chapter_parser, output_dir, positive_float, positive_int, print_table,
                  probability, run)
from refimpl import plotting as plot
from refimpl.atomic import atomic_file
from refimpl.results import DETERMINISTIC, make_results, table, trained, write_results

CHAPTER = "thesis_ch6"
SIGMA = 0.005   # Table 6.1: the mutation strength of both configurations

PAPER = {
    "table_6_1": {"baseline": {"kappa": 1, "mu": 10, "lambda": 5000, "sigma": 0.005, "max_evals": 1},
                  "proposal": {"kappa": 10, "mu": 40, "lambda": 2000, "sigma": 0.005, "max_evals": 20}},
    "table_6_2": {
        "columns": ["method", "Atlantis", "Frostbite", "Gravitar", "Kangaroo", "Seaquest", "Venture"],
        "rows": [["DQN", 279987, 797, 473, 7259, 5861, 163],
                 ["Duel", 382572, 4673, 588, 14854, 50254, 497],
                 ["ES", 1267410, 370, 805, 11200, 1390, 760],
                 ["Baseline", 57294, 5547, 200, 8213, 1316, 626],
                 ["Baseline*", 45168, 5140, 124, 9850, 628, 0],
                 ["Proposal", 96057, 6440, 656, 10032, 1369, 1230],
                 ["Proposal*", 100987, 2455, 480, 10198, 921, 580]]},
    "network_parameters_18_actions": 1693362,
    "budget_text": "one million game frames (Sec. 6.3)",
    "budget_code": "1e9 agent steps (--total-frames default of the author's code)",
    "training_episode_cap": 3000,
    "final_episodes": 100,
}

SCALES = {
    "quick": dict(net="small", testbed_seeds=5, testbed_budget=10000, testbed_lambda_div=10,
                  configs={"baseline": dict(kappa=1, mu=3, lam=10, max_evals=1),
                           "proposal": dict(kappa=3, mu=5, lam=10, max_evals=5)},
                  cap=200, generations=3, elite_episodes=3, final_episodes=8, final_cap=200,
                  num_envs=8, gif_frames=300),
    "paper": dict(net="nature", testbed_seeds=15, testbed_budget=200000, testbed_lambda_div=1,
                  configs=None, cap=3000, generations=None, elite_episodes=50, final_episodes=100,
                  final_cap=None, num_envs=16, gif_frames=600),
}


def parse(argv):
    p = chapter_parser(__doc__, chapter=CHAPTER, datasets=())
    p.add_argument("--game", default="Frostbite",
                   help="Atari game (the thesis: Atlantis, Frostbite, Gravitar, Kangaroo, Seaquest, Venture)")
    p.add_argument("--net", choices=("nature", "small"), default=None,
                   help="agent network (default: small at quick scale, nature at paper scale)")
    p.add_argument("--budget-steps", type=positive_float, default=None, metavar="STEPS",
                   help="paper scale: training budget in agent steps per configuration, > 0 and at least one "
                        "generation (default 1e9; frames = 4x steps)")
    p.add_argument("--selection", choices=("text", "code"), default="text",
                   help="Algorithm 3 line 10: best μ of E ∪ Q (text) or all κ elites + best μ − κ offspring (code)")
    p.add_argument("--final-pick", choices=("fitness", "elite_mean"), default="fitness",
                   help="final agent: best fitness (text) or best per-generation elite mean (code)")
    p.add_argument("--proposal-config", choices=("proposal", "code_v1"), default="proposal",
                   help="paper scale: Table 6.1's proposal (κ 10, μ 40) or the code's v1 (κ 40, μ 100)")
    p.add_argument("--sticky", type=probability, default=0.0, metavar="P",
                   help="repeat_action_probability, in [0, 1] (0: the code, default; 0.25: the text's "
                        "non-deterministic frame-skips)")
    p.add_argument("--workers", choices=("local", "ray"), default="local",
                   help="episode evaluation: the local vector-env scheduler or Ray actors ([distributed] extra)")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (implies --workers ray)")
    p.add_argument("--ray-workers", type=positive_int, default=2, metavar="N",
                   help="number of Ray actors, >= 1 (default 2)")
    p.add_argument("--num-envs", type=positive_int, default=None, metavar="N",
                   help="environment slots of the vector env, >= 1 (default: 8 at quick scale, 16 at paper scale)")
    p.add_argument("--skip-atari", action="store_true", help="only the noisy-fitness test bed")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------
# (a) the noisy-fitness test bed
# ------------------------------------------------------------------------------------------------

def run_testbed(sc, args, notes):
    from refimpl.thesis import atari_ga
    div = sc["testbed_lambda_div"]
    rows, per = [], {}
    for name in ("baseline", "proposal"):
        base = atari_ga.GAConfig.table_6_1(name, elite_episodes=0, selection=args.selection)
        cfg = atari_ga.GAConfig.table_6_1(name, lam=base.lam // div, elite_episodes=0, selection=args.selection)
        rec, true = [], []
        for s in range(sc["testbed_seeds"]):
            tb = atari_ga.NoisyTestBed()
            st = atari_ga.run_ga(cfg, tb, seed=args.seed + s, budget=sc["testbed_budget"])
            g = atari_ga.best_agent(cfg, st)
            rec.append(st.archive[g].fitness)
            true.append(tb.true_fitness(g))
        rec, true = np.array(rec), np.array(true)
        per[name] = {"recorded": rec.tolist(), "true": true.tolist(), "gap": (rec - true).tolist(),
                     "config": cfg.as_dict()}
        rows.append([name, cfg.kappa, cfg.mu, cfg.lam, cfg.max_evals, float(np.median(rec)),
                     float(np.median(true)), float(np.median(rec - true))])
    gap_p = mannwhitneyu(per["baseline"]["gap"], per["proposal"]["gap"], alternative="greater").pvalue
    true_p = mannwhitneyu(per["proposal"]["true"], per["baseline"]["true"], alternative="greater").pvalue
    cols = ["config", "κ", "μ", "λ", "max evals", "median recorded", "median true", "median gap"]
    print_table(f"Noisy test bed ({sc['testbed_seeds']} seeds, {sc['testbed_budget']} evaluations each): "
                f"recorded vs. true fitness of the selected agent", cols, rows)
    print(f"overestimation gap baseline > proposal: one-sided Mann–Whitney U p = {gap_p:.4g}")
    print(f"true fitness proposal > baseline:       one-sided Mann–Whitney U p = {true_p:.4g}")
    if div != 1:
        notes.append(f"test bed: Table 6.1 with λ divided by {div} (baseline λ {5000 // div}, proposal λ "
                     f"{2000 // div}), {sc['testbed_budget']} evaluations per run, {sc['testbed_seeds']} seeds")
    notes.append("test bed: θ ∈ R^16 from seed lists (init 0.05·N(0, I)), true fitness −‖θ‖²/(16·0.05²); "
                 "observed = true + 0.1·N(0, 1) + Exp(1) with probability 0.05 (a 'lucky episode')")
    return {"per_config": per, "gap_mwu_p": float(gap_p), "true_mwu_p": float(true_p)}, table(cols, rows, tolerance=DETERMINISTIC)


# ------------------------------------------------------------------------------------------------
# (b) Atari
# ------------------------------------------------------------------------------------------------

def make_evaluator(args, game, spec, sigma, settings):
    from refimpl.thesis import atari_env, atari_net
    if args.workers == "ray" or args.ray_address:
        return atari_env.RayEvaluator(game, spec, sigma, settings, n_workers=args.ray_workers, address=args.ray_address)
    policy = atari_env.AgentPolicy(spec, atari_net.GenomeBuilder(spec, sigma, cache_size=128), device=args.device)
    return atari_env.Evaluator(game, policy, settings)


def run_atari(sc, args, out, notes):
    from refimpl.thesis import atari_env, atari_ga, atari_net
    game = atari_env.check_game(args.game)
    net = args.net or sc["net"]
    settings = atari_env.EnvSettings(num_envs=args.num_envs or sc["num_envs"], num_threads=2,   # --num-envs >= 1
                              repeat_action_probability=args.sticky)
    probe = atari_env.make_vector_env(game, atari_env.EnvSettings(num_envs=1))
    n_actions = int(probe.single_action_space.n)
    probe.close()
    spec = atari_net.NetSpec(n_actions, net)
    print(f"\n{game}: {n_actions} actions, {net} net with {spec.n_params:,} parameters "
          f"(Sec. 6.3's network: {atari_net.NetSpec(n_actions).n_params:,})")
    ev = make_evaluator(args, game, spec, SIGMA, settings)
    if args.scale == "quick":
        configs = {k: atari_ga.GAConfig(**v, sigma=SIGMA, selection=args.selection, final_pick=args.final_pick,
                                  elite_episodes=sc["elite_episodes"], max_episode_steps=sc["cap"])
                   for k, v in sc["configs"].items()}
        budget = None
    else:
        configs = {"baseline": atari_ga.GAConfig.table_6_1("baseline", selection=args.selection,
                                                     final_pick=args.final_pick),
                   "proposal": atari_ga.GAConfig.table_6_1(args.proposal_config, selection=args.selection,
                                                     final_pick=args.final_pick)}
        budget = args.budget_steps if args.budget_steps is not None else 1e9
        print("NOTE: the text's budget of 'one million game frames' (Sec. 6.3) cannot hold one generation "
              "(λ = 5,000 episodes of up to 3,000 agent steps); the author's code defaults to 1e9 agent steps. "
              f"Budget used here: {budget:.3g} agent steps ({4 * budget:.3g} frames); set it with --budget-steps.")
    final_seeds = [atari_env.FINAL_SEED_BASE + i for i in range(sc["final_episodes"])]
    eval_seeds = [atari_env.FINAL_SEED_BASE + 10**6 + i for i in range(sc["elite_episodes"])]
    problem = atari_ga.AtariProblem(ev, max_steps=sc["cap"])
    runs = {}
    for name, cfg in configs.items():
        sw = Stopwatch()
        steps0 = ev.steps
        elite_eval = (lambda g: problem.play((tuple(g),), eval_seeds, max_steps=sc["cap"])) \
            if cfg.elite_episodes else None
        bar = None
        if args.progress and budget is not None:
            from tqdm import tqdm
            bar = tqdm(total=int(budget), desc=f"{name} (agent steps)", unit="step", unit_scale=True)
        problem.on_step = bar.update if bar is not None else None
        ck = out / "checkpoints" / f"{game}_{name}_seed{args.seed}.json" if args.scale == "paper" else None

        def on_gen(st, bar=bar):
            if bar is not None:
                bar.n = int(st.used)   # exact after a resume, too
                bar.refresh()
            e = st.log[-1]
            print(f"  {name} gen {e['generation']}: {int(e['used']):,} steps, elite fitness "
                  f"{e['elite_fitness']:.1f} ({e['elite_evals']} evals)"
                  + (f", {len(eval_seeds)}-episode mean {e['elite_eval_mean']:.1f} ± {e['elite_eval_std']:.1f}"
                     if "elite_eval_mean" in e else ""), flush=True)

        b = budget if budget is not None else math.inf
        st = atari_ga.run_ga(cfg, problem, seed=args.seed, budget=b, max_cost_per_episode=sc["cap"],
                       checkpoint=ck, elite_eval=elite_eval, on_generation=on_gen,
                       max_generations=sc["generations"])
        if budget is None:
            atari_ga.finalize(cfg, problem, st)
        if bar is not None:
            bar.close()
        agent = atari_ga.best_agent(cfg, st)
        top3 = tuple(atari_ga.top_unique(st, 3))
        final = problem.play((agent,), final_seeds, max_steps=sc["final_cap"])
        ens = problem.play(top3, final_seeds, max_steps=sc["final_cap"])
        fit = st.archive[agent].fitness if agent in st.archive else float("nan")
        runs[name] = {"config": cfg.as_dict(), "log": st.log, "agent": list(agent), "ensemble": [list(g) for g in top3],
                      "recorded_fitness": fit, "recorded_evals": st.archive[agent].n_evals if agent in st.archive else 0,
                      "final_returns": final.tolist(), "final_mean": float(final.mean()),
                      "ensemble_returns": ens.tolist(), "ensemble_mean": float(ens.mean()),
                      "training_steps": st.used, "training_episodes": st.episodes,
                      "all_steps": ev.steps - steps0, "seconds": float(sw)}
        print(f"  {name}: agent with recorded fitness {fit:.1f} ({runs[name]['recorded_evals']} evals) scores "
              f"{final.mean():.1f} ± {final.std():.1f} on the {len(final_seeds)} fixed seeds; top-3 ensemble "
              f"{ens.mean():.1f}; {int(st.used):,} training steps ({4 * int(st.used):,} frames), {float(sw):.0f} s")
    rnd = problem.play(atari_env.RANDOM, final_seeds, max_steps=sc["final_cap"])
    runs["random"] = {"final_returns": rnd.tolist(), "final_mean": float(rnd.mean())}
    # the GIF: the proposal's final agent, one episode on the first fixed seed (written with the figures)
    gif_frames = record_episode(game, spec, runs["proposal"]["agent"], final_seeds[0], sc, settings)
    ev.close()
    if args.scale == "quick":
        notes.append(f"Atari at quick scale: {game}, --net {net} ({spec.n_params:,} parameters), configs "
                     f"{sc['configs']}, training episodes capped at {sc['cap']} agent steps, {sc['generations']} "
                     f"generations, {sc['elite_episodes']} episodes per generation for Fig. 6.1, final protocol on "
                     f"{sc['final_episodes']} fixed seeds capped at {sc['final_cap']} steps; cannot test Table 6.2")
    notes.append("per-generation elite evaluations (Fig. 6.1) are outside the budget, as in the author's code")
    return {"game": game, "net": net, "n_params": spec.n_params, "runs": runs, "gif": f"{game}_final_agent.gif",
            "gif_frames": gif_frames, "settings": settings.as_dict()}


def record_episode(game, spec, genome, seed, sc, settings) -> list:
    """One episode of ``genome`` on ``seed`` (at most ``sc["gif_frames"]`` agent steps): the 84×84
    uint8 frames the agent sees (the newest of each stack)."""
    from refimpl.thesis import atari_env, atari_net
    frames = []
    one = atari_env.Evaluator(game, atari_env.AgentPolicy(spec, atari_net.GenomeBuilder(spec, SIGMA)),
                              atari_env.EnvSettings(num_envs=1, num_threads=1,
                                                    repeat_action_probability=settings.repeat_action_probability))
    one.evaluate([((tuple(genome),), seed)], max_steps=sc["gif_frames"], record=lambda o: frames.append(o[-1].copy()))
    one.close()
    return frames


def write_gif(frames, path) -> Path:
    """Every second frame of ``frames`` as an animated GIF (15 frames/s; matplotlib's Pillow writer),
    written atomically to ``path``."""
    from matplotlib.animation import PillowWriter
    plt = plot.pyplot()
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.axis("off")
    im = ax.imshow(frames[0], cmap="gray", vmin=0, vmax=255)
    with atomic_file(path, suffix=".gif") as tmp:   # Pillow picks the format by the suffix
        writer = PillowWriter(fps=15)
        with writer.saving(fig, str(tmp), dpi=84):
            for f in frames[::2]:
                im.set_data(f)
                writer.grab_frame()
    plt.close(fig)
    return Path(path)


GAME_COLUMN = {"atlantis": 1, "frostbite": 2, "gravitar": 3, "kangaroo": 4, "seaquest": 5, "venture": 6}
CONFIG_COLORS = {"baseline": "C0", "proposal": "C1"}


def game_title(game: str) -> str:
    """'frostbite' → 'Frostbite' (the thesis' spelling)."""
    return str(game).replace("_", " ").title()


def paper_scores(game: str) -> dict:
    """Table 6.2's Baseline, Baseline*, Proposal, Proposal* scores for ``game`` ({} if the thesis has none)."""
    col = GAME_COLUMN.get(str(game).lower())
    if col is None:
        return {}
    return {row[0]: row[col] for row in PAPER["table_6_2"]["rows"] if row[0].startswith(("Baseline", "Proposal"))}


def fig_6_1(atari, testbed, game, scale, why_absent=None):
    """Fig. 6.1 with Table 6.2 and the test bed: (a) the score of each generation's best agent (mean ± std over
    its evaluation episodes) over game frames, baseline vs proposal; (b) the final fixed-seed scores (chosen agent,
    top-3 ensemble "*", random policy) beside the thesis' Table 6.2 for ``game``; (c) the noisy-fitness test bed:
    recorded vs true fitness of each run's selected agent.

    ``atari`` is results.json's metrics["atari"] (None when the Atari run was skipped; ``why_absent`` says why),
    ``testbed`` metrics["testbed"] (None when absent).
    """
    fig, axes = plot.subplots(1, 3, figsize=(16, 4.2), gridspec_kw={"width_ratios": [1.4, 1.1, 1.0]})
    name = game_title(game)
    ax = axes[0]
    if atari is None:
        plot.absent_panel(ax, why_absent or "Atari run skipped")
    else:
        for cfg, color in CONFIG_COLORS.items():
            log = [e for e in atari["runs"][cfg]["log"] if "elite_eval_mean" in e]
            if not log:
                continue
            x = np.array([e["used"] for e in log]) * 4
            m = np.array([e["elite_eval_mean"] for e in log])
            s = np.array([e["elite_eval_std"] for e in log])
            ax.plot(x, m, "o-", color=color, label=f"{cfg} (ours): best agent of the generation, mean ± std")
            ax.fill_between(x, m - s, m + s, color=color, alpha=0.2)
        ax.set(xlabel="game frames processed (4 per agent step)", ylabel=f"{name} score (points)")
    ax.set_title(f"(a) Fig. 6.1: evolution progress on {name}")
    ax = axes[1]
    paper = paper_scores(game)
    methods = ["Baseline", "Baseline*", "Proposal", "Proposal*"]
    x = np.arange(len(methods) + 1)
    if paper:
        plot.paper_bars(ax, x[:-1] + 0.2, [paper[m] for m in methods], 0.4,
                        label=f"paper Table 6.2 ({name}; Nature net, 100 fixed-seed episodes)")
    if atari is not None:
        r = atari["runs"]
        ours = [r["baseline"]["final_mean"], r["baseline"]["ensemble_mean"], r["proposal"]["final_mean"],
                r["proposal"]["ensemble_mean"], r["random"]["final_mean"]]
        ax.bar(x - 0.2, ours, 0.4, color=["C0", "C0", "C1", "C1", "0.6"],
               label=f"ours ({len(r['random']['final_returns'])} fixed-seed episodes)")
    else:
        ax.text(0.5, 0.5, "ours: not made\n(" + (why_absent or "Atari run skipped") + ")", transform=ax.transAxes,
                ha="center", va="center", fontsize=8, color="0.3", gid=plot.ABSENT,
                bbox={"facecolor": "white", "edgecolor": "0.6", "linestyle": ":"})
    if not paper:
        ax.text(0.5, 0.9, f"the thesis reports no {name} score", transform=ax.transAxes, ha="center", fontsize=8,
                color="0.3")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xticks(x, methods + ["random\npolicy"], rotation=30)
    ax.set(xlabel="agent (*: top-3 ensemble)", ylabel=f"mean {name} score (points, symlog)",
           title="(b) Table 6.2: final fixed-seed evaluation")
    ax = axes[2]
    if testbed is None:
        plot.absent_panel(ax, "noisy test bed not run")
    else:
        for i, (cfg, color) in enumerate(CONFIG_COLORS.items()):
            p = testbed["per_config"][cfg]
            n = len(p["true"])
            xs = i + np.linspace(-0.25, 0.25, n)
            ax.vlines(xs, p["true"], p["recorded"], color=color, lw=1.2, alpha=0.6)
            ax.plot(xs, p["recorded"], "o", color=color, ms=5, label="recorded fitness of the selected agent")
            ax.plot(xs, p["true"], "o", color=color, mfc="white", ms=5, label="its true fitness")
        ax.set_xticks(range(len(CONFIG_COLORS)), [
            f"{c}\nκ {testbed['per_config'][c]['config']['kappa']}, μ {testbed['per_config'][c]['config']['mu']}, "
            f"λ {testbed['per_config'][c]['config']['lam']},\n≤ {testbed['per_config'][c]['config']['max_evals']} "
            f"evaluations" for c in CONFIG_COLORS])
        ax.set_xlim(-0.6, len(CONFIG_COLORS) - 0.4)
        ax.set(xlabel="configuration (one line per seed: true → recorded)", ylabel="fitness (arbitrary units)",
               title=f"(c) noisy test bed: overestimation, MWU p = {testbed['gap_mwu_p']:.3g}")
    datasets = [f"Atari {name} (ALE)"] if atari is not None else []
    extra = []
    if atari is not None:
        extra.append(f"{atari['net']} net, generations 0–{atari['runs']['baseline']['log'][-1]['generation']}")
    if testbed is not None:
        datasets.append("synthetic noisy-fitness test bed")
        extra.append(f"test bed {len(testbed['per_config']['baseline']['true'])} seeds")
    plot.data_label(fig, datasets or ["none"], scale, "; ".join(extra) or None)
    fig.tight_layout()
    plot.legend_outside(fig, ncol=3)
    return fig


def main(argv=None):
    args = parse(argv)
    sw = Stopwatch()
    sc = SCALES[args.scale]
    notes, metrics, tables = [], {}, {}
    try:
        from refimpl.thesis import atari_env
        if not args.skip_atari:
            atari_env.check_game(args.game)
    except (ImportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.budget_steps is not None and args.scale == "paper":
        from refimpl.thesis import atari_ga
        try:
            for k in ("baseline", args.proposal_config):
                atari_ga.check_budget(atari_ga.GAConfig.table_6_1(k), args.budget_steps, sc["cap"])
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE
    out = output_dir(args)

    testbed, tb_table = run_testbed(sc, args, notes)
    metrics["testbed"] = testbed
    tables["testbed"] = tb_table
    metrics["testbed_claim_gap_smaller_for_proposal"] = bool(testbed["gap_mwu_p"] < 0.05)

    figures = []
    if not args.skip_atari:
        atari = run_atari(sc, args, out, notes)
        gif_frames = atari.pop("gif_frames")
        metrics["atari"] = atari
        col = GAME_COLUMN.get(atari["game"])
        r = atari["runs"]
        ours = [["Baseline (ours)", r["baseline"]["final_mean"]], ["Baseline* (ours)", r["baseline"]["ensemble_mean"]],
                ["Proposal (ours)", r["proposal"]["final_mean"]], ["Proposal* (ours)", r["proposal"]["ensemble_mean"]],
                ["Random policy (ours)", r["random"]["final_mean"]]]
        rows = [[row[0], row[col] if col else None] for row in PAPER["table_6_2"]["rows"]] + ours
        tables["table_6_2"] = table(["method", atari["game"]], rows,
                                    tolerance=trained(100.0, what="game scores over a few fixed-seed episodes"))
        print_table(f"Table 6.2 ({atari['game']}; ours: {len(r['random']['final_returns'])} fixed seeds, "
                    f"{args.scale} scale)", ["method", atari["game"]], rows)
        gaps = {k: r[k]["recorded_fitness"] - r[k]["final_mean"] for k in ("baseline", "proposal")}
        metrics["atari_overestimation_gap"] = gaps
        metrics["atari_beats_random"] = {k: bool(r[k]["final_mean"] > r["random"]["final_mean"])
                                         for k in ("baseline", "proposal")}
        print(f"overestimation (recorded fitness − fixed-seed mean): baseline {gaps['baseline']:.1f}, "
              f"proposal {gaps['proposal']:.1f}")
        print(f"GIF of the final agent (written after results.json): {out / atari['gif']}")
        figures.append(atari["gif"])
    game = metrics["atari"]["game"] if "atari" in metrics else str(args.game).lower()
    fig_name = f"fig6_1_{game}.png"
    figs = plot.Deferred()      # drawn after results.json is written
    figs.add(out / fig_name, fig_6_1, metrics.get("atari"), testbed, game, args.scale,
             why_absent="Atari run skipped (--skip-atari)")
    if "atari" in metrics:
        figs.add_writer(write_gif, gif_frames, out / metrics["atari"]["gif"])
    figures.insert(0, fig_name)
    res = make_results(document="thesis", experiment="ch6 GA with noise-robust elites for Atari (Algorithm 3, "
                       "Tables 6.1-6.2, Fig. 6.1)", scale=args.scale,
                       config={"scale": {k: v for k, v in sc.items()}, "game": args.game, "selection": args.selection,
                               "final_pick": args.final_pick, "sticky": args.sticky, "workers": args.workers,
                               "budget_steps": args.budget_steps, "figures": figures},
                       seeds=[args.seed], metrics=metrics, tables=tables, paper=PAPER, notes=notes,
                       elapsed_seconds=float(sw),
                       tolerances={"metrics/testbed": DETERMINISTIC,
                                   "metrics/atari": trained(100.0, what="game scores: a float32 rounding difference "
                                                            "can flip one greedy action and change an episode"),
                                   "metrics/atari_overestimation_gap": trained(100.0, what="game scores")})
    write_results(out / "results.json", res)
    figs.save_all()                                  # after the results: a figure cannot lose them
    print(f"\nwrote {out / 'results.json'} and {', '.join(figures)} ({float(sw):.0f} s)")
    return 0


if __name__ == "__main__":
    run(main)
