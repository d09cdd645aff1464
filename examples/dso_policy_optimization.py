"""DSO policy optimization of an MLP on the MJX pendulum: chain iteration (eq. 63, PCO clip) vs
plain gradient descent (Adam on the Algorithm-1 estimate) and natural gradient (eq. 74, Fisher
trust region ``kl_bound``) on the same sample budget.

    .venv/bin/python examples/dso_policy_optimization.py [--iterations 60] [--rollouts 128]

Writes ``results/dso/policy_optimization.{json,png}``: batch estimates of J per iteration against
cumulative rollouts, and the rollouts each method needs to reach cost thresholds (25/50/75/90%
of the best improvement either method achieved).
"""

from __future__ import annotations

import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import dso_common as common  # noqa: E402

common.enable_x64()

import jax  # noqa: E402
import numpy as np  # noqa: E402

import lqgx.dso as dso  # noqa: E402


def build(horizon: int, action_std: float):
    system = common.pendulum_system(horizon)
    policy_fn = common.make_mlp_policy(common.pendulum_features, action_scale=3.0)
    problem = dso.from_policy(system, policy_fn, action_std**2)
    return system, policy_fn, problem


def run(iterations: int = 60, rollouts: int = 128, horizon: int = 100, seed: int = 0,
        hidden: int = 32, action_std: float = 1.0, methods=("chain", "gradient"),
        plot: bool = True) -> dict:
    system, policy_fn, problem = build(horizon, action_std)
    theta0 = common.init_mlp(jax.random.PRNGKey(seed), [3, hidden, hidden, 1])
    runs = {}
    settings = {
        "chain": dict(method="chain", learning_rate=1e-2, inner_steps=20, clip=0.2),
        "gradient": dict(method="gradient", learning_rate=1e-2),
        "natural": dict(method="natural", kl_bound=0.05, damping=1e-3),
    }
    for name in methods:
        opts = settings[name]
        with common.Timer() as timer:
            res = dso.optimize(problem, theta0, jax.random.PRNGKey(seed + 1),
                               iterations=iterations, rollouts=rollouts, **opts)
        runs[name] = {k: np.asarray(v) for k, v in res.history.items()}
        runs[name]["wall_s"] = timer.seconds
        print(f"{name:9s} J {res.history['cost'][0]:9.2f} -> {res.history['cost'][-1]:9.2f} "
              f"({timer.seconds:.0f} s)")
    start = runs[methods[0]]["cost"][0]
    best_end = min(np.mean(r["cost"][-5:]) for r in runs.values())
    fractions = (0.25, 0.5, 0.75, 0.9)     # of the best improvement either method achieved
    thresholds = [float(start - f * (start - best_end)) for f in fractions]
    result = {"system": "pendulum (MJX)", "horizon": horizon, "rollouts_per_iteration": rollouts,
              "iterations": iterations, "policy": f"MLP 3-{hidden}-{hidden}-1 tanh",
              "action_std": action_std, "thresholds": thresholds,
              "threshold_fractions_of_best_improvement": fractions, "methods": {}}
    for name, hist in runs.items():
        reached = [common.samples_to_threshold(hist["samples"], hist["cost"], th)
                   for th in thresholds]
        result["methods"][name] = {
            "cost": hist["cost"], "cost_stderr": hist["cost_stderr"], "samples": hist["samples"],
            "step_norm": hist["step_norm"], "samples_to_threshold": reached,
            "final_cost": float(np.mean(hist["cost"][-5:])), "wall_s": hist["wall_s"]}
        print(f"{name}: rollouts to J < {np.round(thresholds, 1).tolist()}: {reached}")
    return common.finish("policy_optimization", result, _plot, plot)


def _plot(result):
    plt = common.pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, m in result["methods"].items():
        c, s, e = np.asarray(m["cost"]), np.asarray(m["samples"]), np.asarray(m["cost_stderr"])
        ax.plot(s, c, label=f"{name}: to thresholds {m['samples_to_threshold']}")
        ax.fill_between(s, c - 2 * e, c + 2 * e, alpha=0.2)
    for th in result["thresholds"]:
        ax.axhline(th, color="k", ls="--", lw=0.5)
    ax.set_xlabel("rollouts")
    ax.set_ylabel("J estimate (cost, lower is better)")
    ax.set_title("DSO on MJX pendulum: " + " vs ".join(result["methods"]))
    ax.legend()
    fig.tight_layout()
    fig.savefig(common.RESULTS / "policy_optimization.png", dpi=120)


if __name__ == "__main__":
    parser = common.argument_parser(__doc__, iterations=60, rollouts=128)
    parser.add_argument("--horizon", type=int, default=100)
    parser.add_argument("--methods", default="chain,gradient",
                        help="comma-separated subset of chain,gradient,natural (natural builds a "
                             "dense [p, p] Fisher: slow for the 1217-parameter MLP)")
    args = parser.parse_args()
    run(iterations=args.iterations, rollouts=args.rollouts, horizon=args.horizon, seed=args.seed,
        methods=tuple(args.methods.split(",")))
