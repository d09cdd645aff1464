"""Sampling planners (CEM, MPPI, predictive sampling) against iLQG: cost reached vs wall-clock.

For each system of ``lqgx.systems`` (default: pendulum, cartpole, double_pendulum and, unless
``--skip-ant``, ant_v5 with horizon 20), from zero initial actions and key 0:

* iLQG (``lqgx.ilqg``, at most 200 iterations, default tolerances): converged cost, iterations,
  solve time;
* each sampling planner run once for the largest iteration budget B: the best-so-far cost
  ``history["cost"]`` after each budget b <= B, with time b / B of the measured solve (one jitted
  scan: iterations cost the same, so the shorter budgets' times are that share of the whole run,
  not separate runs).

Times are medians of ``--repeats`` calls after one warm-up call; ``compile_s`` is the warm-up
call minus that median. Planner settings (the same rule on every system, scaled by the action
range ``high - low`` and the zero-action cost J_0): CEM N/8 elites, smoothing 0.5,
sigma_0 = range / 4, sigma_min = 0.01 range; MPPI lambda = 1e-3 J_0, sigma = 0.1 range;
predictive sampling sigma = 0.05 range (picked from a small sweep on pendulum / cartpole /
double pendulum at N = 128, B = 100..300; see docs/sampling-planners.md).

    taskset -c 1 .venv/bin/python benchmarks/sampling_planners.py [--quick] [--skip-ant]
        [--systems pendulum,cartpole] [--ant-ilqg] [--repeats 2]
        [--out results/benchmarks/sampling_planners.json]

``--quick``: budgets 10/30/100 with N = 128 (full: 10/30/100/300, N = 256); ant: budgets 2/5/10
with N = 16 (full: 5/10/20/50, N = 64); each planner on ant compiles for ~75 s on one CPU core.
iLQG on ant is off unless ``--ant-ilqg``: its jitted MJX-Jacobian solve takes ~12 min to compile
on a CPU (docs/mamujoco.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import lqgx  # noqa: E402

SYSTEMS = {"pendulum": {}, "cartpole": {}, "double_pendulum": {}, "ant_v5": {"horizon": 20}}
PLANNERS = ("cem", "mppi", "predictive_sampling")


def budgets(name: str, quick: bool) -> tuple[tuple[int, ...], int]:
    """Iteration budgets and samples per iteration for ``name``."""
    if name == "ant_v5":
        return ((2, 5, 10), 16) if quick else ((5, 10, 20, 50), 64)
    return ((10, 30, 100), 128) if quick else ((10, 30, 100, 300), 256)


def settings(planner: str, system: lqgx.System, samples: int, zero_cost: float) -> dict:
    """The planner's keywords (module docstring), from the action range and J_0."""
    low, high = system.action_bounds
    width = high - low
    if planner == "cem":
        return dict(elites=max(samples // 8, 2), smoothing=0.5, std=0.25 * width,
                    min_std=float(0.01 * jnp.min(width)))
    if planner == "mppi":
        return dict(temperature=max(1e-3 * abs(zero_cost), 1e-6), noise_std=0.1 * width)
    return dict(noise_std=0.05 * width)


def timed(solve, repeats: int):
    """``(result, compile_s, solve_s)``: median of ``repeats`` calls after a warm-up."""
    start = time.perf_counter()
    result = jax.block_until_ready(solve())
    first = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = jax.block_until_ready(solve())
        runs.append(time.perf_counter() - start)
    run = float(np.median(runs))
    return result, max(first - run, 0.0), run


def bench_ilqg(system, repeats: int) -> dict:
    res, compile_s, solve_s = timed(lambda: lqgx.ilqg(system, iterations=200), repeats)
    return {"cost": float(res.cost), "iterations": int(res.iterations),
            "converged": bool(res.converged), "message": res.message,
            "compile_s": compile_s, "solve_s": solve_s}


def bench_planner(planner: str, system, budget: tuple[int, ...], samples: int, zero_cost: float,
                  repeats: int) -> dict:
    options = settings(planner, system, samples, zero_cost)
    solve = getattr(lqgx.optimizers, planner)
    key = jax.random.PRNGKey(0)
    res, compile_s, solve_s = timed(
        lambda: solve(system, iterations=budget[-1], samples=samples, key=key, **options),
        repeats)
    history = np.asarray(res.history["cost"])
    return {"samples": samples, "compile_s": compile_s, "solve_s": solve_s,
            "converged": bool(res.converged), "status": int(res.status),
            "budgets": [{"iterations": b, "cost": float(history[b - 1]),
                         "mean_cost": float(res.history["mean_cost"][b - 1]),
                         "time_s": solve_s * b / budget[-1]} for b in budget],
            "settings": {k: np.asarray(v).tolist() for k, v in options.items()}}


def run_system(name: str, args) -> dict:
    system = lqgx.systems.make(name, **SYSTEMS[name])
    zeros = jnp.zeros((system.horizon, system.action_dim), system.x0.dtype)
    zero_cost = float(system.trajectory_cost(system.rollout(zeros), zeros))
    budget, samples = budgets(name, args.quick)
    row = {"horizon": system.horizon, "state_dim": system.state_dim,
           "action_dim": system.action_dim, "zero_action_cost": zero_cost}
    if name != "ant_v5" or args.ant_ilqg:
        row["ilqg"] = bench_ilqg(system, args.repeats)
        print(f"{name:16s} ilqg     cost {row['ilqg']['cost']:10.4g}  "
              f"{row['ilqg']['iterations']} it  {row['ilqg']['solve_s']:.3f} s  "
              f"(compile {row['ilqg']['compile_s']:.1f} s)", flush=True)
    for planner in PLANNERS:
        row[planner] = bench_planner(planner, system, budget, samples, zero_cost, args.repeats)
        costs = "  ".join(f"{b['iterations']}:{b['cost']:.4g}" for b in row[planner]["budgets"])
        print(f"{name:16s} {planner:8.8s} {costs}  {row[planner]['solve_s']:.3f} s  "
              f"(compile {row[planner]['compile_s']:.1f} s)", flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-ant", action="store_true")
    parser.add_argument("--ant-ilqg", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="results/benchmarks/sampling_planners.json")
    args = parser.parse_args()
    names = [n for n in args.systems.split(",") if not (args.skip_ant and n == "ant_v5")]
    unknown = sorted(set(names) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown system(s) {unknown}; available: {', '.join(SYSTEMS)}")
    start = time.perf_counter()
    rows = {name: run_system(name, args) for name in names}
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": platform.platform(), "processor": platform.processor(),
            "cpus": len(os.sched_getaffinity(0)), "device": str(jax.devices()[0]),
            "jax": jax.__version__, "x64": True, "quick": args.quick, "repeats": args.repeats,
            "wall_s": time.perf_counter() - start}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out} ({meta['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
