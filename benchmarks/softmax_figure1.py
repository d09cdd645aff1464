"""Reproduce Figure 1 of the mean-field softmax policy-gradient paper (§5).

(a) bandit: S = {0}, A = [0, 1] on a 100-node grid.
(b) MDP: S × A a 100 × 100 grid on [0, 1]², γ = 0.7, P(s, a, s') = 0.9 δ(s' - a) + 0.1/100.
Both: τ = 0.2, teacher Q* = τ f* (width 5, ReLU, weights N(0, 4)), student width N = 800, ReLU,
first-layer weights N(0, 4), output weights 0, forward-Euler steps on the mean-field ODE (eq. 9),
exact policy evaluation at every step. Each seed draws a new teacher and a new student.

Step sizes: (a) uses the paper's β = 1e-3. (b) costs ~100× more per step, so by default it
integrates the *same* ODE with β = 1e-2 to reach a horizon where convergence is visible, and checks
that choice: seed 0 of (b) is re-run with the paper's β = 1e-3 over [0, --check-time] and the
largest relative difference of the two gap curves is reported ("euler_check"). Figure 1 plots
against training time t = β · step, so both step sizes describe the same curve.

Output (``--out``, default results/softmax_figure1):
  figure1.json  per setting: times, E(ν*) - E(ν_t) per seed (subsampled for plotting), final gaps,
                monotonicity measured at *every* step, wall time, settings
  figure1.png   the two panels, log-scale gap against training time t = β · step

Run:  .venv/bin/python benchmarks/softmax_figure1.py [--seeds 5] [--bandit-time 100] [--mdp-time 30]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lqgx.softmax.energy import init_particles  # noqa: E402
from lqgx.softmax.teacher import teacher_bandit, teacher_jump_mdp  # noqa: E402
from lqgx.softmax.training import train  # noqa: E402

PLOT_POINTS = 400


def summarize(name, times, objective, optimum, wall_s, settings):
    """Gap statistics; monotonicity is checked on the full per-step record (float64)."""
    gap = np.asarray(optimum)[:, None] - np.asarray(objective)  # [seeds, K+1]
    increments = np.diff(gap, axis=1)
    stride = max(1, (gap.shape[1] - 1) // PLOT_POINTS)
    keep = np.r_[np.arange(0, gap.shape[1], stride), gap.shape[1] - 1] if (gap.shape[1] - 1) % stride else \
        np.arange(0, gap.shape[1], stride)
    final = gap[:, -1]
    return {
        "setting": name,
        **settings,
        "optimal_objective": np.asarray(optimum).tolist(),
        "initial_gap": gap[:, 0].tolist(),
        "final_gap": final.tolist(),
        "final_gap_mean": float(final.mean()),
        "final_gap_std": float(final.std()),
        "final_over_initial": (final / gap[:, 0]).tolist(),
        "min_gap": float(gap.min()),
        "monotone_every_step": bool(np.all(increments <= 0.0)),
        "max_step_increase": float(increments.max()),
        "steps_with_increase": int(np.sum(increments > 0.0)),
        "wall_s": wall_s,
        "times": np.asarray(times)[keep].tolist(),
        "gap": gap[:, keep].tolist(),
    }


def run_bandit(args):
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.seeds)
    mdp, optimum = jax.vmap(lambda k: teacher_bandit(k, actions=args.size))(jax.random.split(keys[0], args.seeds))
    particles = jax.vmap(lambda k: init_particles(k, args.width, 2, 2.0, 0.0))(keys)
    steps = int(round(args.bandit_time / args.step_size))
    start = time.perf_counter()
    trace = train(mdp, particles, steps=steps, step_size=args.step_size, chunk=args.chunk, batched=True,
                  progress=lambda done, obj, wall: print(
                      f"  (a) step {done}/{steps}  t={done * args.step_size:.1f}  mean gap "
                      f"{float(jnp.mean(optimum.objective - obj)):.3e}  {wall:.0f}s", flush=True))
    wall = time.perf_counter() - start
    return summarize("bandit", trace.times, trace.objective, optimum.objective, wall,
                     dict(steps=steps, horizon=args.bandit_time))


def run_mdp(args):
    # Seeds run one after the other: on CPU a vmapped 100 × 100 step is slower than a loop.
    keys = jax.random.split(jax.random.PRNGKey(args.seed + 1), args.seeds)
    beta = args.mdp_step_size
    steps = int(round(args.mdp_time / beta))
    objectives, optima, start = [], [], time.perf_counter()
    for i, key in enumerate(keys):
        k_teacher, k_student = jax.random.split(key)
        mdp, optimum = teacher_jump_mdp(k_teacher, size=args.size)
        particles = init_particles(k_student, args.width, 3, 2.0, 0.0)
        trace = train(mdp, particles, steps=steps, step_size=beta, chunk=args.chunk,
                      progress=lambda done, obj, wall, i=i, opt=optimum: print(
                          f"  (b) seed {i} step {done}/{steps}  t={done * beta:.2f}  gap "
                          f"{float(opt.objective - obj):.3e}  {wall:.0f}s", flush=True))
        objectives.append(trace.objective)
        optima.append(optimum.objective)
        if i == 0 and args.check_time > 0:
            euler_check = check_step_size(mdp, particles, optimum, trace, args)
    wall = time.perf_counter() - start
    result = summarize("mdp", trace.times, jnp.stack(objectives), jnp.stack(optima), wall,
                       dict(steps=steps, horizon=args.mdp_time, discount=0.7, mdp_step_size=beta))
    if args.check_time > 0:
        result["euler_check"] = euler_check
    return result


def check_step_size(mdp, particles, optimum, trace, args):
    """Re-run seed 0 with the paper's β over [0, check_time]; compare gaps at common times."""
    ratio = int(round(args.mdp_step_size / args.step_size))
    coarse_steps = int(round(args.check_time / args.mdp_step_size))
    reference = train(mdp, particles, steps=coarse_steps * ratio, step_size=args.step_size, chunk=args.chunk)
    fine_gap = np.asarray(optimum.objective - reference.objective)[::ratio]
    coarse_gap = np.asarray(optimum.objective - trace.objective)[: coarse_steps + 1]
    rel = float(np.max(np.abs(coarse_gap - fine_gap) / fine_gap))
    print(f"  (b) Euler check: β={args.mdp_step_size} vs β={args.step_size} on [0, {args.check_time}]: "
          f"max relative gap difference {rel:.2e}", flush=True)
    return {"check_time": args.check_time, "reference_step_size": args.step_size,
            "max_relative_gap_difference": rel}


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    titles = {"bandit": "(a) bandit, A = [0, 1]", "mdp": "(b) MDP, 100 × 100 grid, γ = 0.7"}
    for ax, res in zip(axes, results):
        for i, gap in enumerate(res["gap"]):
            ax.semilogy(res["times"], gap, lw=1.2, label=f"seed {i}")
        ax.set_title(titles[res["setting"]])
        ax.set_xlabel("training time t = β · step")
        ax.set_ylabel(r"$\mathcal{E}(\nu^*) - \mathcal{E}(\nu_t)$")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    steps = ", ".join(f"{r['setting']}: β = {r.get('mdp_step_size', r['step_size'])}" for r in results)
    fig.suptitle(f"Mean-field softmax policy gradient, N = {results[0]['width']}, τ = 0.2 ({steps})")
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/softmax_figure1")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=800)
    parser.add_argument("--size", type=int, default=100, help="grid nodes per axis")
    parser.add_argument("--step-size", type=float, default=1e-3, help="β of (a) and of the (b) check")
    parser.add_argument("--mdp-step-size", type=float, default=1e-2, help="β of (b)")
    parser.add_argument("--check-time", type=float, default=1.0, help="(b) Euler check horizon, 0 = off")
    parser.add_argument("--bandit-time", type=float, default=100.0, help="training horizon of (a)")
    parser.add_argument("--mdp-time", type=float, default=30.0, help="training horizon of (b)")
    parser.add_argument("--chunk", type=int, default=2000, help="steps per compiled scan")
    parser.add_argument("--only", choices=["bandit", "mdp"], default=None)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common = dict(width=args.width, size=args.size, step_size=args.step_size, temperature=0.2,
                  seeds=args.seeds, seed=args.seed)
    results = []
    for name, runner in (("bandit", run_bandit), ("mdp", run_mdp)):
        if args.only in (None, name):
            print(f"Figure 1 ({name}): {args.seeds} seeds", flush=True)
            res = runner(args)
            res.update(common)
            results.append(res)
            print(f"  final gap {res['final_gap_mean']:.3e} ± {res['final_gap_std']:.3e} "
                  f"(final/initial {np.round(res['final_over_initial'], 3).tolist()}), monotone at every step: "
                  f"{res['monotone_every_step']} (max step increase {res['max_step_increase']:.2e}), "
                  f"{res['wall_s']:.0f}s", flush=True)
    (out / "figure1.json").write_text(json.dumps({"results": results}, indent=1))
    plot(results, out / "figure1.png")
    print(f"wrote {out / 'figure1.json'} and {out / 'figure1.png'}")


if __name__ == "__main__":
    main()
