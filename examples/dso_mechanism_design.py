"""DSO mechanism design (§5.2): jointly optimize an MLP policy and the pendulum's link length ℓ,
with a log-prior keeping ℓ near the initial design.

    .venv/bin/python examples/dso_mechanism_design.py

Task: bring the tip of a pendulum (plain JAX, explicit Euler, ``dt = 0.05``, torque limit 5 N m)
to a target point 1.43 m from the pivot, 25° from hanging, and hold it. With the initial design
ℓ = 1 m the target is out of reach; a longer link gets closer, but holding it at an angle φ needs
a torque ``m g ℓ sin φ`` that grows with ℓ and hits the limit (ℓ sin φ <= 0.51 m).
θ = (θ_μ, log ℓ); the chain is eq. 96 with ``θ_f = log ℓ`` inside the dynamics, so the
transition density includes the process-noise term ``N(x'; f(x, a, θ_f), Σ_w)`` (``from_policy``
with ``dynamics_fn``); the prior is ``L_prior = (log ℓ - log 1)² / (2 · 0.1²)``.
Compares joint optimization against policy-only optimization at the fixed initial design.
Writes ``results/dso/mechanism_design.{json,png}``.
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import dso_common as common  # noqa: E402

common.enable_x64()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import lqgx  # noqa: E402
import lqgx.dso as dso  # noqa: E402

DT, MASS, DAMPING, GRAVITY, TORQUE_LIMIT = 0.05, 1.0, 0.05, 9.81, 5.0
TARGET = jnp.array([0.6, -1.3])    # tip target: 1.43 m from the pivot, 25° from hanging
PRIOR_STD = 0.1                    # on log ℓ


def pendulum_step(x, u, length):
    """Explicit Euler: ``q' = q + dt q̇``, ``q̇' = q̇ + dt (u - m g ℓ sin q - b q̇) / (m ℓ²)``."""
    q, qd = x[0], x[1]
    qdd = (u[0] - MASS * GRAVITY * length * jnp.sin(q) - DAMPING * qd) / (MASS * length**2)
    return jnp.stack([q + DT * qd, qd + DT * qdd])


def tip(x, length):
    return length * jnp.stack([jnp.sin(x[0]), -jnp.cos(x[0])])


def task_cost(x, u, length):
    return jnp.sum((tip(x, length) - TARGET) ** 2) + 0.01 * x[1] ** 2 + 1e-3 * jnp.sum(u**2)


def build(horizon: int, action_std: float, joint: bool):
    policy = common.make_mlp_policy(common.pendulum_features, action_scale=TORQUE_LIMIT / 2)

    def length_of(theta):
        return jnp.exp(theta["log_length"]) if joint else jnp.asarray(1.0)

    system = lqgx.System(lambda x, u: pendulum_step(x, u, 1.0),
                         lambda x, u, t: task_cost(x, u, 1.0),
                         lambda x: 10.0 * task_cost(x, jnp.zeros(1), 1.0),
                         jnp.zeros(2), horizon, x0_cov=1e-4 * jnp.eye(2),
                         noise_cov=jnp.diag(jnp.array([1e-4, 1e-2])),
                         action_bounds=(jnp.array([-TORQUE_LIMIT]), jnp.array([TORQUE_LIMIT])),
                         name="pendulum-design")
    prior = dso.gaussian_log_prior(jnp.log(1.0), PRIOR_STD, select=lambda th: th["log_length"])
    problem = dso.from_policy(
        system, lambda th, x, t: policy(th["policy"], x, t), action_std**2,
        dynamics_fn=(lambda th, x, u: pendulum_step(x, u, length_of(th))) if joint else None,
        cost_fn=lambda th, x, u, t: task_cost(x, u, length_of(th)),
        final_cost_fn=lambda th, x: 10.0 * task_cost(x, jnp.zeros(1), length_of(th)),
        parameter_cost=prior if joint else None)
    return problem


def run(iterations: int = 80, rollouts: int = 128, horizon: int = 40, seed: int = 0,
        action_std: float = 1.0, plot: bool = True) -> dict:
    theta0 = {"policy": common.init_mlp(jax.random.PRNGKey(seed), [3, 32, 32, 1]),
              "log_length": jnp.asarray(0.0)}
    result = {"task": "tip to (0.6, -1.3) and hold", "horizon": horizon, "rollouts": rollouts,
              "iterations": iterations, "prior_std_log_length": PRIOR_STD, "runs": {}}
    for name, joint in (("policy_only", False), ("joint", True)):
        problem = build(horizon, action_std, joint)
        lengths = []

        def callback(it, theta, rec):
            lengths.append(float(jnp.exp(theta["log_length"])))

        with common.Timer() as timer:
            res = dso.optimize(problem, theta0, jax.random.PRNGKey(seed + 1),
                               iterations=iterations, rollouts=rollouts, method="chain",
                               learning_rate=1e-2, inner_steps=20, callback=callback)
        final_length = float(jnp.exp(res.theta["log_length"])) if joint else 1.0
        # task cost without the prior, re-estimated at the final θ with fresh rollouts
        task_problem = build(horizon, action_std, joint)
        task_problem = dataclass_replace(task_problem, parameter_cost=None)
        final = dso.estimate(task_problem, res.theta, jax.random.PRNGKey(99), 1000,
                             baseline=False)
        result["runs"][name] = {"cost": res.history["cost"], "samples": res.history["samples"],
                                "length": lengths, "final_length": final_length,
                                "final_task_cost": float(final.cost),
                                "final_task_cost_stderr": float(final.cost_stderr),
                                "wall_s": timer.seconds}
        print(f"{name:12s} final length {final_length:.3f} m, task cost "
              f"{float(final.cost):.2f} ± {float(final.cost_stderr):.2f} ({timer.seconds:.0f} s)")
    return common.finish("mechanism_design", result, _plot, plot)


def dataclass_replace(obj, **changes):
    import dataclasses
    return dataclasses.replace(obj, **changes)


def _plot(result):
    plt = common.pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for name, r in result["runs"].items():
        axes[0].plot(r["samples"], r["cost"], label=name)
        axes[1].plot(r["samples"], r["length"], label=name)
    axes[0].set_xlabel("rollouts")
    axes[0].set_ylabel("J estimate (incl. prior)")
    axes[1].set_xlabel("rollouts")
    axes[1].set_ylabel("link length ℓ [m]")
    for ax in axes:
        ax.legend()
    fig.suptitle("DSO mechanism design: policy + link length")
    fig.tight_layout()
    fig.savefig(common.RESULTS / "mechanism_design.png", dpi=120)


if __name__ == "__main__":
    parser = common.argument_parser(__doc__, iterations=80, rollouts=128)
    args = parser.parse_args()
    run(iterations=args.iterations, rollouts=args.rollouts, seed=args.seed)
