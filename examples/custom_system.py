"""Your own system in plain JAX: a unicycle parking next to an obstacle, solved by iLQG and SAPS.

    .venv/bin/python examples/custom_system.py [--iterations 50] [--samples 25]

An ``lqgx.System`` is three JAX functions and an initial state: the mean dynamics
``f(x, u) -> x_next``, a running cost ``c(x, u, t)`` and a final cost ``c_T(x)``; process noise,
initial-state noise and an action box are optional. Every solver in lqgx takes it as it is:
iLQG differentiates it (jax.jacfwd / jax.hessian), SAPS samples it and fits local linear models.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import lqgx  # noqa: E402

lqgx.enable_compilation_cache()   # a second run loads its compiled solves from disk

DT = 0.1
GOAL = jnp.array([2.0, 1.0, 0.0])          # park at (2, 1), facing +x
OBSTACLE, RADIUS = jnp.array([1.0, 0.5]), 0.3


def dynamics(x, u):
    """Unicycle: x = (px, py, heading), u = (speed, turn rate); one Euler step of DT seconds."""
    px, py, heading = x
    speed, turn = u
    return jnp.array([px + DT * speed * jnp.cos(heading), py + DT * speed * jnp.sin(heading),
                      heading + DT * turn])


def cost(x, u, t):
    """Effort, plus a smooth penalty for entering the disc around OBSTACLE."""
    inside = jnp.maximum(0.0, RADIUS ** 2 - jnp.sum((x[:2] - OBSTACLE) ** 2))
    return 0.01 * jnp.sum(u ** 2) + 100.0 * inside


def final_cost(x):
    return 50.0 * jnp.sum((x - GOAL) ** 2)


def main(argv=None):
    ap = argparse.ArgumentParser(description="A unicycle in plain JAX, solved by iLQG and SAPS.")
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--samples", type=int, default=25, help="SAPS rollouts per iteration")
    ap.add_argument("--horizon", type=int, default=40)
    args = ap.parse_args(argv)

    system = lqgx.System(dynamics, cost, final_cost, x0=jnp.zeros(3), horizon=args.horizon,
                         noise_cov=1e-4 * jnp.eye(3),                      # SAPS sees this noise
                         action_bounds=(jnp.array([-1.0, -2.0]), jnp.array([1.0, 2.0])),
                         name="unicycle")

    planned = lqgx.ilqg(system, iterations=args.iterations)
    learned = lqgx.saps(system, eps=4.0, iterations=args.iterations, samples=args.samples,
                        key=jax.random.PRNGKey(0))
    for name, result in (("iLQG (model-based)", planned), ("SAPS (sampled, eps = 4)", learned)):
        end = result.states[-1]
        print(f"{name:24s} cost {float(result.cost):8.3f}   ends at ({float(end[0]):.2f}, "
              f"{float(end[1]):.2f}), heading {float(end[2]):+.2f}   [{result.message}]")
    return planned, learned


if __name__ == "__main__":
    main()
