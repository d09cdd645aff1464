"""Seeding DSO from trajectory optimization ("data-augmented policy optimization", §5.2).

    .venv/bin/python examples/dso_seeding.py [--teacher ilqg|gps|esaps] [--threshold J]

A trajectory optimizer solves the MJX pendulum swing-up and returns a TVLG controller: iLQG
(``lqgx.ilqg``; deterministic, its rollouts get small action noise ``demo_action_std``) or the
stochastic TVLG of GPS / ESAPS (``lqgx.gps`` / ``lqgx.esaps``; rolled out with its own
covariance: feedback gains fitted *under* noise). Rollouts of that controller form a dataset
D = {x̄_t^n, ā_t^n}; the behavioural-cloning cost of §5.1,

    L_clone(θ) = -1/N Σ_{n,t} ln p_ε(ā_t^n - μ(x̄_t^n, θ)),

is added to the policy-optimization cost and both are minimized together by DSO chain iteration.
Compared against the same optimization without seeding: rollouts needed for the *task* cost (the
clone term excluded) to fall below a threshold. Writes ``results/dso/seeding.{json,png}``.
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import dso_common as common  # noqa: E402

common.enable_x64()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import lqgx  # noqa: E402
import lqgx.dso as dso  # noqa: E402


def demonstrations(system, controller, key, rollouts: int, action_std: float):
    """Roll the TVLG controller ``u = k_t + K_t x + ε`` out on the system (with its noise)."""
    horizon = system.horizon
    low, high = system.bounds_or_inf()
    noise_chol = jnp.linalg.cholesky(system.noise_cov + 1e-300 * jnp.eye(system.state_dim))

    def one(key):
        k0, k_steps = jax.random.split(key)
        x0 = system.x0 + jnp.sqrt(jnp.diag(system.x0_cov)) * jax.random.normal(k0, (2,))

        def step(x, inputs):
            t, k = inputs
            ka, kw = jax.random.split(k)
            u = controller.mean(x, t) + action_std * jax.random.normal(ka, (1,))
            u = jnp.clip(u, low, high)
            x_next = system.dynamics(x, u) + noise_chol @ jax.random.normal(kw, (2,))
            return x_next, (x, u)

        xT, (xs, us) = jax.lax.scan(step, x0, (jnp.arange(horizon),
                                               jax.random.split(k_steps, horizon)))
        return jnp.concatenate([xs, xT[None]]), us

    return jax.jit(jax.vmap(one))(jax.random.split(key, rollouts))


def solve_teacher(system, algo: str, seed: int):
    """The teacher's Result: iLQG on the mean dynamics, or the stochastic TVLG of GPS / ESAPS
    (the thesis double-pendulum settings: GPS eps 0.1; ESAPS eps 4, entropy floor 8 nats below
    the initial policy's)."""
    key = jax.random.PRNGKey(seed + 3)
    if algo == "ilqg":
        return lqgx.ilqg(system, iterations=100)
    if algo == "gps":
        return lqgx.gps(system, 0.1, iterations=25, samples=25, key=key)
    from lqgx.optimizers import default_policy

    entropy0 = float(lqgx.lq.policy_entropy(default_policy(system))[0])
    return lqgx.esaps(system, 4.0, -(entropy0 - 8.0), iterations=25, samples=25, key=key)


def run(iterations: int = 40, rollouts: int = 128, horizon: int = 100, seed: int = 0,
        demo_rollouts: int = 32, action_std: float = 1.0, demo_action_std: float = 0.2,
        clone_weight: float = 1.0, plot: bool = True, teacher_algo: str = "ilqg",
        threshold: float | None = None) -> dict:
    system = common.pendulum_system(horizon)
    with common.Timer() as t_solve:
        teacher = solve_teacher(system, teacher_algo, seed)
    print(f"{teacher_algo}: cost {float(teacher.cost):.2f}, {teacher.message} "
          f"({t_solve.seconds:.0f} s)")
    if teacher_algo == "ilqg":
        # demonstrations near the teacher's own trajectory distribution (small exploration noise)
        states, actions = demonstrations(system, teacher.policy, jax.random.PRNGKey(seed + 7),
                                         demo_rollouts, demo_action_std)
        demo_std = demo_action_std
    else:
        # the stochastic teacher acts with its own covariance (lqgx.rollout.sample_rollouts)
        from lqgx.rollout import sample_rollouts

        rolled = sample_rollouts(system, teacher.policy, jax.random.PRNGKey(seed + 7), demo_rollouts)
        states, actions = rolled.states, rolled.actions
        demo_std = float(jnp.sqrt(jnp.mean(teacher.policy.cov[:, 0, 0])))
    policy_fn = common.make_mlp_policy(common.pendulum_features, action_scale=3.0)
    task = dso.from_policy(system, policy_fn, action_std**2)
    clone = dso.clone_cost(policy_fn, states, actions, jnp.eye(1) * action_std**2,
                           weight=clone_weight)
    seeded = task.with_parameter_cost(clone)
    # reference: the TVLG teacher itself under the same action noise, as a DSO chain
    tvlg = dso.from_policy(system, lambda th, x, t: th.mean(x, t), action_std**2)
    teacher_cost = dso.estimate(tvlg, teacher.policy, jax.random.PRNGKey(5), 500, baseline=False)
    print(f"teacher under the DSO action noise (std {action_std}): J = "
          f"{float(teacher_cost.cost):.2f}")
    tvlg_demo = dso.from_policy(system, lambda th, x, t: th.mean(x, t), max(demo_std, 1e-3)**2)
    teacher_demo = dso.estimate(tvlg_demo, teacher.policy, jax.random.PRNGKey(6), 500,
                                baseline=False)
    print(f"teacher under the demo noise (std {demo_std:.3g}): J = "
          f"{float(teacher_demo.cost):.2f}")

    theta0 = common.init_mlp(jax.random.PRNGKey(seed), [3, 32, 32, 1])
    runs = {}
    for name, problem in (("unseeded", task), ("seeded", seeded)):
        clone_values = []

        def callback(it, theta, rec):
            clone_values.append(float(clone(theta)))

        with common.Timer() as timer:
            res = dso.optimize(problem, theta0, jax.random.PRNGKey(seed + 1),
                               iterations=iterations, rollouts=rollouts, method="chain",
                               learning_rate=1e-2, inner_steps=20, callback=callback)
        cost = np.asarray(res.history["cost"])
        task_cost = cost - (np.asarray(clone_values) if name == "seeded" else 0.0)
        runs[name] = {"task_cost": task_cost, "cost_stderr": res.history["cost_stderr"],
                      "samples": res.history["samples"], "clone_cost": clone_values,
                      "wall_s": timer.seconds}
        print(f"{name:9s} task J {task_cost[0]:8.2f} -> {task_cost[-1]:8.2f} "
              f"({timer.seconds:.0f} s)")
    if threshold is None:
        start = runs["unseeded"]["task_cost"][0]
        best_end = min(np.mean(r["task_cost"][-5:]) for r in runs.values())
        threshold = float(start - 0.5 * (start - best_end))
    result = {"system": "pendulum (MJX)", "teacher": f"{teacher_algo} TVLG", "teacher_cost_noisy":
              float(teacher_cost.cost), "teacher_cost_nominal": float(teacher.cost),
              "teacher_cost_demo_noise": float(teacher_demo.cost),
              "demo_action_std": demo_std, "action_std": action_std,
              "demo_rollouts": demo_rollouts, "clone_weight": clone_weight,
              "rollouts_per_iteration": rollouts, "iterations": iterations,
              "threshold": threshold, "demo_samples_not_counted": demo_rollouts, "runs": {}}
    for name, r in runs.items():
        reached = common.samples_to_threshold(np.asarray(r["samples"]), r["task_cost"], threshold)
        result["runs"][name] = {**r, "samples_to_threshold": reached,
                                "final_task_cost": float(np.mean(r["task_cost"][-5:]))}
        print(f"{name}: rollouts to task J < {threshold:.1f}: {reached}")
    return common.finish(f"seeding-{teacher_algo}", result, _plot, plot)


def _plot(result):
    plt = common.pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, r in result["runs"].items():
        ax.plot(r["samples"], r["task_cost"],
                label=f"{name} (to threshold: {r['samples_to_threshold']})")
    ax.axhline(result["threshold"], color="k", ls="--", lw=0.8, label="threshold")
    ax.axhline(result["teacher_cost_noisy"], color="g", ls=":", lw=1,
               label=f"{result['teacher']} teacher at the DSO action noise")
    ax.set_xlabel("rollouts")
    ax.set_ylabel("task cost J (clone term excluded)")
    ax.set_title(f"DSO seeded from {result['teacher']} (L_clone) vs unseeded")
    ax.legend()
    fig.tight_layout()
    fig.savefig(common.RESULTS / f"seeding-{result['teacher'].split()[0]}.png", dpi=120)


if __name__ == "__main__":
    parser = common.argument_parser(__doc__, iterations=40, rollouts=128)
    parser.add_argument("--teacher", choices=("ilqg", "gps", "esaps"), default="ilqg")
    parser.add_argument("--threshold", type=float, default=None,
                        help="task-cost threshold (default: halfway from the start to the best end)")
    args = parser.parse_args()
    run(iterations=args.iterations, rollouts=args.rollouts, seed=args.seed,
        teacher_algo=args.teacher, threshold=args.threshold)
