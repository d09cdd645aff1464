"""Pendulum swing-up by iLQG with a torque limit.

    .venv/bin/python examples/pendulum_ilqg.py [--limit 3] [--iterations 100] [--out results/examples]

The pendulum of ``lqgx.systems.make("pendulum")`` hangs at q = 0 and must reach q = pi (upright)
within 5 s. Holding the 1 kg bob horizontal takes ~9.8 N m, so with a limit of a few N m iLQG has to
find a swing that pumps energy; its box-QP backward pass keeps every torque inside the limit.
Writes a filmstrip of the swing-up (MuJoCo rendering) to OUT/pendulum_ilqg.png.
"""

from __future__ import annotations

import argparse
import math
import pathlib

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)   # the examples run in float64; solvers also run in float32

import lqgx  # noqa: E402
import lqgx.systems  # noqa: E402

lqgx.enable_compilation_cache()   # a second run loads its compiled solves from disk


def main(argv=None):
    ap = argparse.ArgumentParser(description="Pendulum swing-up by iLQG with a torque limit.")
    ap.add_argument("--limit", type=float, default=3.0, help="torque limit |u| <= LIMIT (N m)")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--horizon", type=int, default=100, help="steps of 0.05 s")
    ap.add_argument("--out", default="results/examples")
    ap.add_argument("--no-render", action="store_true")
    args = ap.parse_args(argv)

    # A built-in system; `replace` swaps the torque box for ours (the constructor checks it).
    system = lqgx.systems.make("pendulum", horizon=args.horizon)
    system = system.replace(action_bounds=(-args.limit * jnp.ones(1), args.limit * jnp.ones(1)))

    result = lqgx.ilqg(system, iterations=args.iterations)

    q_final = float(result.states[-1, 0])
    print(f"iLQG: {result.message} after {int(result.iterations)} iterations, cost {float(result.cost):.2f}")
    print(f"final angle {q_final:.3f} rad (upright = {math.pi:.3f}), "
          f"largest |torque| {float(jnp.max(jnp.abs(result.actions))):.2f} N m (limit {args.limit})")
    if not args.no_render:
        path = pathlib.Path(args.out) / "pendulum_ilqg.png"
        lqgx.render(system, result.states, path, video=False)
        print(f"filmstrip: {path}")
    return result


if __name__ == "__main__":
    main()
