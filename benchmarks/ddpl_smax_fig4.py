"""DDPL Fig. 4 ablation on SMAX 3s_vs_5z: diffusion vs Gaussian policies (CPU preset, short budget).

Fig. 4 of the DDPL paper: LEFT the evaluation return of DDPL with diffusion and with Gaussian
policies during training; RIGHT the joint action distribution at one representative state, one
action dimension from each of two agents, at several points in training. The paper trains 5e7 env
steps per run on a GPU; the default here is 5e5 (1 %), which takes ~2.5 min (Gaussian) and ~20 min
(diffusion) per run on one CPU core once compiled.

    # train (resumable: every run checkpoints every --every steps and continues where it stopped)
    taskset -c 0 .venv/bin/python benchmarks/ddpl_smax_fig4.py --train --policies gaussian --seeds 0,1,2
    taskset -c 1 .venv/bin/python benchmarks/ddpl_smax_fig4.py --train --policies diffusion --seeds 0,1,2
    # figures and JSON from whatever runs exist
    .venv/bin/python benchmarks/ddpl_smax_fig4.py

Writes OUT/fig4.json (per run: curve, final, best, mean of the last 4 evaluations; per policy the
mean ± std over seeds; the action-distribution statistics), OUT/fig4_curves.png (mean ± std over
seeds) and OUT/fig4_actions.png (2-D histograms of (agent 0, agent 1) action dimension --dim,
sampled --samples times at the representative state from each snapshot). SMAX actions are
Box[0, 1]⁴ (coordinate_1, coordinate_2, do_shoot, shoot_last_enemy; ``envs.jaxmarl_envs``).

The representative state is the reset state of ``env.reset(PRNGKey(--state-seed))`` advanced
--state-steps steps with uniform random actions (default: 10 steps, once the units have started to
move). Multimodality is summarized per marginal by Sarle's bimodality coefficient
BC = (g² + 1) / (κ + 3(n−1)² / ((n−2)(n−3))) (g skewness, κ excess kurtosis); BC > 5/9 (the
uniform's) suggests more than one mode, a Gaussian has 1/3; mass clipped onto the box's faces
also raises it, so the fraction of samples there is reported next to it.
"""

import argparse
import json
import shutil
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

PAPER = {"diffusion": 2.0, "gaussian": 0.65}   # Fig. 4 left / Sec. 5: returns the two variants settle at
ENV = "smax-3s_vs_5z"


def train_runs(out: Path, policies, seeds, steps: int, every: int, snapshots, eval_episodes: int,
               preset: str = "cpu"):
    """Train each run one evaluation chunk at a time (resume=True is bit-identical), copying the
    checkpoint to snapshots/checkpoint-STEP.npz at the snapshot steps."""
    from lqgx.ddpl.train import train

    for policy in policies:
        for seed in seeds:
            run = out / f"{policy}-s{seed}"
            while True:
                resume = (run / "checkpoint.npz").exists()
                if resume and json.loads((run / "results.json").read_text())["env_steps"][-1] >= steps:
                    break
                first = {} if resume else dict(eval_every=every, checkpoint_every=every,
                                               eval_episodes=eval_episodes)
                res = train(ENV, policy, steps=steps, seed=seed, out=run, resume=resume, preset=preset,
                            progress=False, max_chunks=1, **first)
                step = res["env_steps"][-1]
                print(f"{time.strftime('%H:%M:%S')} {policy} s{seed} step {step:>8d} "
                      f"eval {res['eval_return'][-1]:.3f}", flush=True)
                if step in snapshots:
                    (run / "snapshots").mkdir(exist_ok=True)
                    shutil.copy(run / "checkpoint.npz", run / "snapshots" / f"checkpoint-{step}.npz")
                if step >= steps:
                    break


def curves(out: Path) -> dict:
    runs = {}
    for path in sorted(out.glob("*-s*/results.json")):
        r = json.loads(path.read_text())
        ret = r["eval_return"]
        runs[path.parent.name] = dict(policy=r["policy"], seed=r["seed"], env_steps=r["env_steps"],
                                      eval_return=ret, final=ret[-1], best=max(ret),
                                      last4_mean=float(np.mean(ret[-4:])))
    return runs


def per_policy(runs: dict) -> dict:
    """Mean ± std over seeds of the curves (on the common steps) and of final/best/last-4."""
    summary = {}
    for policy in sorted({r["policy"] for r in runs.values()}):
        rs = [r for r in runs.values() if r["policy"] == policy]
        n = min(len(r["env_steps"]) for r in rs)
        curve = np.array([r["eval_return"][:n] for r in rs])
        summary[policy] = dict(
            seeds=sorted(r["seed"] for r in rs), env_steps=rs[0]["env_steps"][:n],
            curve_mean=curve.mean(0).tolist(), curve_std=curve.std(0).tolist(),
            **{f"{k}_{stat}": float(getattr(np, stat)([r[k] for r in rs]))
               for k in ("final", "best", "last4_mean") for stat in ("mean", "std")},
            paper=PAPER[policy])
    return summary


def representative_state(env, seed: int, steps: int):
    key = jax.random.PRNGKey(seed)
    k_reset, key = jax.random.split(key)
    obs, es = env.reset(k_reset)
    for _ in range(steps):
        k_a, k_s, key = jax.random.split(key, 3)
        a = jax.random.uniform(k_a, (env.num_agents, env.action_dim), minval=jnp.asarray(env.action_low),
                               maxval=jnp.asarray(env.action_high))
        obs, es, _, _ = env.step(k_s, es, a)
    return obs


def bimodality(x: np.ndarray) -> float:
    """Sarle's bimodality coefficient of the sample x (module docstring)."""
    n = len(x)
    z = (x - x.mean()) / max(x.std(), 1e-12)
    g, k = float(np.mean(z ** 3)), float(np.mean(z ** 4) - 3.0)
    return (g * g + 1.0) / (k + 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3)))


def action_samples(out: Path, policies, seed: int, samples: int, state_seed: int, state_steps: int) -> dict:
    """{policy: {step: a[samples, n, d]}} from the snapshots of run POLICY-sSEED."""
    from lqgx.ddpl.algorithm import policy_act_fn
    from lqgx.ddpl.train import load_run

    state, samplers, draws = None, {}, {}
    for policy in policies:
        snaps = sorted((out / f"{policy}-s{seed}" / "snapshots").glob("checkpoint-*.npz"),
                       key=lambda p: int(p.stem.split("-")[1]))
        for path in snaps:
            run = load_run(path)
            cfg, env = run.config, run.environment
            if state is None:
                state = representative_state(env, state_seed, state_steps)
            if policy not in samplers:  # one compile per policy class, parameters as arguments
                samplers[policy] = jax.jit(lambda params, keys, cfg=cfg, env=env: jax.vmap(
                    lambda k: policy_act_fn(cfg, env, params)(k, state))(keys))
            a = np.asarray(samplers[policy](run.state.policy_params,
                                            jax.random.split(jax.random.PRNGKey(1), samples)))
            draws.setdefault(policy, {})[int(path.stem.split("-")[1])] = a
    return draws


def action_stats(draws: dict) -> dict:
    """Per snapshot: std and bimodality coefficient per (agent, dim), and the fraction of samples
    on the box's faces (within 1e-3 of 0 or 1: the policies' samples are clipped to the box)."""
    return {policy: {str(step): dict(std=a.std(0).tolist(),
                                     at_bound=np.mean((a < 1e-3) | (a > 1 - 1e-3), axis=0).tolist(),
                                     bimodality=[[bimodality(a[:, i, j]) for j in range(a.shape[2])]
                                                 for i in range(a.shape[1])])
                     for step, a in by_step.items()}
            for policy, by_step in draws.items()}


def plot_curves(summary: dict, path: Path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.8, 3.6))
    for policy, color in (("diffusion", "C0"), ("gaussian", "C1")):
        if policy not in summary:
            continue
        s = summary[policy]
        x, m, sd = np.array(s["env_steps"]), np.array(s["curve_mean"]), np.array(s["curve_std"])
        ax.plot(x, m, color=color, label=f"DDPL-{policy} (seeds {','.join(map(str, s['seeds']))})")
        ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.25)
        ax.axhline(PAPER[policy], color=color, ls=":", lw=1, label=f"paper, 5e7 steps: ≈{PAPER[policy]}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean evaluation return")
    ax.set_title(f"{ENV}: diffusion vs Gaussian (mean ± std over seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_actions(draws: dict, dim: int, seed: int, state_steps: int, path: Path):
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    policies = [p for p in ("diffusion", "gaussian") if p in draws]
    steps = sorted({s for d in draws.values() for s in d})
    fig, axes = plt.subplots(len(policies), len(steps), figsize=(2.6 * len(steps), 2.6 * len(policies)),
                             squeeze=False)
    for row, policy in enumerate(policies):
        for col, step in enumerate(steps):
            ax = axes[row][col]
            a = draws[policy].get(step)
            if a is not None:
                # log colours: clipped samples pile up on the box's edges and would hide the interior
                ax.hist2d(a[:, 0, dim], a[:, 1, dim], bins=40, range=[[0, 1], [0, 1]], cmap="viridis",
                          norm=LogNorm(), cmin=1)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_title(f"{policy}, {step:,} steps", fontsize=8)
            ax.tick_params(labelsize=6)
            if col == 0:
                ax.set_ylabel(f"agent 1, a[{dim}]", fontsize=7)
            if row == len(policies) - 1:
                ax.set_xlabel(f"agent 0, a[{dim}]", fontsize=7)
    fig.suptitle(f"{ENV}, seed {seed}: actions at one state (reset + {state_steps} random steps)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/smax_fig4")
    ap.add_argument("--train", action="store_true", help="train (or resume) the runs first")
    ap.add_argument("--policies", default="diffusion,gaussian")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=500_000)
    ap.add_argument("--preset", default="cpu", choices=("cpu", "paper"), help="paper: Table 3 (a GPU)")
    ap.add_argument("--every", type=int, default=25_000, help="evaluation and checkpoint interval")
    ap.add_argument("--eval-episodes", type=int, default=20)
    ap.add_argument("--snapshots", default="25000,100000,250000,500000")
    ap.add_argument("--plot-seed", type=int, default=0, help="run whose snapshots give the action plot")
    ap.add_argument("--dim", type=int, default=0, help="action dimension plotted (0..3)")
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--state-seed", type=int, default=0)
    ap.add_argument("--state-steps", type=int, default=10)
    args = ap.parse_args()
    if not 0 <= args.dim <= 3:
        raise SystemExit(f"--dim must be in 0..3 (SMAX actions are 4-dimensional), got {args.dim}")
    out = Path(args.out)
    policies = args.policies.split(",")
    if args.train:
        train_runs(out, policies, [int(s) for s in args.seeds.split(",")], args.steps, args.every,
                   {int(s) for s in args.snapshots.split(",")}, args.eval_episodes, args.preset)
    runs = curves(out)
    if not runs:
        raise SystemExit(f"no runs in {out}; train them first (--train)")
    summary = per_policy(runs)
    draws = action_samples(out, policies, args.plot_seed, args.samples, args.state_seed, args.state_steps)
    import matplotlib

    matplotlib.use("Agg")
    plot_curves(summary, out / "fig4_curves.png")
    if draws:
        plot_actions(draws, args.dim, args.plot_seed, args.state_steps, out / "fig4_actions.png")
    report = dict(env=ENV, runs=runs, policies=summary, actions=action_stats(draws),
                  action_plot=dict(seed=args.plot_seed, dim=args.dim, samples=args.samples,
                                   state_seed=args.state_seed, state_steps=args.state_steps))
    (out / "fig4.json").write_text(json.dumps(report, indent=1))
    for policy, s in summary.items():
        print(f"{policy:9s} seeds {s['seeds']}: final {s['final_mean']:.3f} ± {s['final_std']:.3f}, "
              f"best {s['best_mean']:.3f} ± {s['best_std']:.3f}, last-4 {s['last4_mean_mean']:.3f} ± "
              f"{s['last4_mean_std']:.3f} (paper ≈ {s['paper']})")
    for policy, by_step in report["actions"].items():
        for step, st in by_step.items():
            bc = np.array(st["bimodality"])
            print(f"{policy:9s} {int(step):>7,d} steps: action std {np.round(np.mean(st['std'], 0), 3).tolist()} "
                  f"(mean over agents), on the box's faces {np.mean(st['at_bound']):.2f}, bimodality max {bc.max():.2f} (agent, dim) "
                  f"{tuple(int(i) for i in np.unravel_index(bc.argmax(), bc.shape))}")


if __name__ == "__main__":
    main()
