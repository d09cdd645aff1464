"""Classic cart-pole swing-up with iLQR: iterations, ms per iteration, compile time, float32 vs
float64, and a vmap over 32 perturbed initial states.

Problem (documented choice, the common benchmark form): cart mass 1 kg, pole mass 0.1 kg, pole
length 0.5 m (Gym's constants), g = 9.81; state (p, theta, p_dot, theta_dot) with theta = 0
hanging down; RK4 with dt = 0.1 s, T = 50 steps (5 s); running cost 0.1 ||u||^2; terminal cost
1000 (p^2 + (theta - pi)^2) + 100 (p_dot^2 + theta_dot^2); unbounded force; zero initial
actions; at most 300 iterations, tol 1e-6 on the relative cost change. (With a 10 kg cart and
terminal weight 100, iLQR from zero actions settles in a local minimum that does not swing up.)

    python benchmarks/ilqr_cartpole.py [--out results/benchmarks]   -> ilqr_cartpole.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import lqgx  # noqa: E402
from lqgx.integrators import rk4  # noqa: E402

DT, HORIZON = 0.1, 50
CART_MASS, POLE_MASS, POLE_LENGTH, GRAVITY = 1.0, 0.1, 0.5, 9.81


def cartpole_ode(x, u):
    _, theta, p_dot, theta_dot = x
    s, c = jnp.sin(theta), jnp.cos(theta)
    denom = CART_MASS + POLE_MASS * s**2
    p_ddot = (u[0] + POLE_MASS * s * (POLE_LENGTH * theta_dot**2 + GRAVITY * c)) / denom
    theta_ddot = (-u[0] * c - POLE_MASS * POLE_LENGTH * theta_dot**2 * c * s
                  - (CART_MASS + POLE_MASS) * GRAVITY * s) / (POLE_LENGTH * denom)
    return jnp.stack([p_dot, theta_dot, p_ddot, theta_ddot])


cartpole = rk4(cartpole_ode, DT)


def running_cost(x, u, t):
    return 0.1 * jnp.sum(u**2)


def final_cost(x):
    return 1000.0 * (x[0]**2 + (x[1] - jnp.pi)**2) + 100.0 * (x[2]**2 + x[3]**2)


def make_system(dtype) -> lqgx.System:
    return lqgx.System(cartpole, running_cost, final_cost, jnp.zeros(4, dtype), HORIZON,
                       action_dim=1, name="cartpole-benchmark")


def swung_up(states) -> np.ndarray:
    final = np.asarray(states)[..., -1, :]
    return (np.abs(final[..., 1] - np.pi) < 0.05) & (np.abs(final[..., 0]) < 0.05)


def time_solve(system, iterations=300):
    start = time.perf_counter()
    res = lqgx.ilqg(system, iterations=iterations)
    jax.block_until_ready(res.cost)
    first = time.perf_counter() - start
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        res = lqgx.ilqg(system, iterations=iterations)
        jax.block_until_ready(res.cost)
        runs.append(time.perf_counter() - start)
    run = float(np.median(runs))
    return res, {"compile_s": first - run, "solve_s": run,
                 "iterations": int(res.iterations),
                 "ms_per_iteration": 1e3 * run / max(int(res.iterations), 1),
                 "final_cost": float(res.cost), "converged": bool(res.converged),
                 "message": res.message, "swung_up": bool(swung_up(res.states))}


PERTURBATION_STD = (0.2, 0.2, 0.1, 0.1)


def perturbed_x0s(system, count: int, seed: int = 0) -> jax.Array:
    """The batch benchmarks' initial states: x0 plus Gaussian noise of PERTURBATION_STD."""
    scale = jnp.array(PERTURBATION_STD, system.x0.dtype)
    return system.x0 + scale * jax.random.normal(jax.random.PRNGKey(seed), (count, 4),
                                                 system.x0.dtype)


def batch_solve(system, count=32, seed=0):
    x0s = perturbed_x0s(system, count, seed)
    solve = jax.jit(lambda x0s: lqgx.solve_batch(lqgx.ilqg, system, x0s, iterations=300))
    start = time.perf_counter()
    res = solve(x0s)
    jax.block_until_ready(res.cost)
    first = time.perf_counter() - start
    start = time.perf_counter()
    res = solve(x0s)
    jax.block_until_ready(res.cost)
    run = time.perf_counter() - start
    return {"count": count, "perturbation_std": list(PERTURBATION_STD),
            "converged": int(np.sum(np.asarray(res.converged))),
            "swung_up": int(np.sum(swung_up(res.states))),
            "iterations_mean": float(np.mean(np.asarray(res.iterations))),
            "compile_s": first - run, "solve_s": run}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args()
    report = {"problem": {"dt": DT, "horizon": HORIZON, "cart_mass": CART_MASS,
                          "pole_mass": POLE_MASS, "pole_length": POLE_LENGTH},
              "device": str(jax.devices()[0])}
    for dtype in ("float64", "float32"):
        system = make_system(jnp.dtype(dtype))
        _, report[dtype] = time_solve(system)
        print(dtype, json.dumps(report[dtype]))
    report["vmap32_float64"] = batch_solve(make_system(jnp.float64))
    print("vmap", json.dumps(report["vmap32_float64"]))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ilqr_cartpole.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out / 'ilqr_cartpole.json'}")


if __name__ == "__main__":
    main()
