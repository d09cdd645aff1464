"""Model-predictive control through a push: cart-pole and double-pendulum swing-ups.

    .venv/bin/python examples/mpc_pushes.py [--systems cartpole,double_pendulum] [--push 3]

A full-horizon iLQG solve gives a plan and its TVLG feedback law. Mid-swing (at T/3) the system
is pushed: every joint velocity jumps by ``--push``. Three controllers meet the push on the same
process noise:

* the open-loop plan (the iLQG actions replayed),
* the TVLG feedback alone (u = k_t + K_t x: the plan's local linear correction),
* MPC (``lqgx.controllers.MPC``): iLQG replanned at every step over H = T/2 steps, warm-started
  from the previous plan, 3 iterations per step.

Writes ``results/mpc/SYSTEM/{result.json,curves.png,filmstrip.png}`` and prints a table with the
closed-loop costs, the MPC control rate on this machine and its compile time (apart).
"""

from __future__ import annotations

import argparse
import pathlib

import jax

jax.config.update("jax_enable_x64", True)

import lqgx  # noqa: E402
from lqgx.controllers import MPC, push  # noqa: E402
from lqgx.controllers.mpc import compare_controllers, write_report  # noqa: E402

lqgx.enable_compilation_cache()   # a second run loads its compiled solves from disk


def run(name: str, velocity: float, out: pathlib.Path, horizon: int | None = None,
        iterations: int = 3) -> dict:
    system = lqgx.systems.make(name)
    T = system.horizon
    mpc = MPC(system, horizon=horizon or T // 2, iterations=iterations)
    at = T // 3
    print(f"{name}: {mpc}, push of {velocity:g} at step {at} (compiling ...)", flush=True)
    # the three controllers on the same noise and push; then result.json, curves, filmstrip
    runs = compare_controllers(mpc, jax.random.PRNGKey(0), T, push(system, T, at, velocity))
    return write_report(name, mpc, runs, out / name, disturbance=velocity, push_step=at)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default="cartpole,double_pendulum")
    parser.add_argument("--push", type=float, default=3.0, help="velocity jump (rad/s or m/s)")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--out", default="results/mpc")
    args = parser.parse_args(argv)
    rows = [run(name, args.push, pathlib.Path(args.out), iterations=args.iterations)
            for name in args.systems.split(",")]
    print(f"\n{'system':16s} {'plan (no push)':>14s} {'open loop':>10s} {'TVLG':>10s} {'MPC':>10s} "
          f"{'MPC Hz':>8s} {'compile s':>9s}")
    for r in rows:
        print(f"{r['system']:16s} {r['plan_cost']:14.4g} {r['open_loop_cost']:10.4g} "
              f"{r['tvlg_cost']:10.4g} {r['closed_loop_cost']:10.4g} {r['control_hz']:8.1f} "
              f"{r['compile_s']:9.0f}")
    return rows


if __name__ == "__main__":
    main()
