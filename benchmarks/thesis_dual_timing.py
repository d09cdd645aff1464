"""Time of one GPS / SAPS / ESAPS constrained update on the thesis pendulums (CPU), compile separate.

The local problem is the one the outer loop builds at its first iteration: the default initial
policy's noise-free rollout on the MJX system, linearized by autodiff, cost quadratized. For each
algorithm the update (``constrained_update`` with its default method: GPS's exact Alg. 1 dual,
SAPS/ESAPS's interior-point Newton on the moments) is jitted once; reported per row:

* ``compile_s``: lowering + XLA compilation of the update,
* ``solve_s``: the minimum over ``--repeats`` calls of the compiled update (after one warm call),
* ``iterations`` (dual passes or Newton steps), ``converged``, ``max_kl``, ``max_kl_state_action``,
  ``min_entropy`` and ``eps``/``delta``.

Usage::

    python benchmarks/thesis_dual_timing.py [--systems double_pendulum,quad_pendulum]
        [--algos gps,saps,esaps] [--eps 1.0] [--entropy-drop 1.0] [--repeats 3]
        [--out results/benchmarks/dual_timing.json]

ESAPS's floor is ``delta = -(H(q_0) - drop)``: the entropy may fall at most ``drop`` nats below
the initial policy's, as in ``thesis_common``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import lqgx  # noqa: E402
from lqgx.optimizers.esaps import ESAPS  # noqa: E402
from lqgx.optimizers.gps import GPS  # noqa: E402
from lqgx.optimizers.kl_update import UpdateOptions, constrained_update  # noqa: E402
from lqgx.optimizers.policy_search import (  # noqa: E402
    SearchOptions,
    _local_problem,
    default_policy,
    evaluate,
)
from lqgx.optimizers.saps import SAPS  # noqa: E402

FORMS = {"gps": GPS, "saps": SAPS, "esaps": ESAPS}


def time_update(form, problem, eps, delta, repeats: int) -> dict:
    update = jax.jit(lambda pb: constrained_update(form, pb, eps, delta, options=UpdateOptions()))
    start = time.perf_counter()
    compiled = update.lower(problem).compile()
    compile_s = time.perf_counter() - start
    result = jax.block_until_ready(compiled(problem))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = jax.block_until_ready(compiled(problem))
        times.append(time.perf_counter() - start)
    row = {"compile_s": compile_s, "solve_s": min(times), "solve_all_s": times,
           "iterations": int(result.iterations), "converged": bool(result.converged),
           "ok": bool(result.ok), "max_kl": float(jnp.max(result.kl)),
           "expected_cost": float(result.expected_cost), "eps": eps}
    if form.state_action:
        row["max_kl_state_action"] = float(jnp.max(result.kl_state_action))
    if form.entropy:
        row["min_entropy"] = float(jnp.min(result.entropy))
        row["delta"] = delta
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--systems", default="double_pendulum,quad_pendulum")
    p.add_argument("--algos", default="gps,saps,esaps")
    p.add_argument("--eps", type=float, default=1.0)
    p.add_argument("--entropy-drop", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="results/benchmarks/dual_timing.json")
    args = p.parse_args()
    rows = {}
    for name in args.systems.split(","):
        system = lqgx.systems.make(name)
        q0 = default_policy(system)
        problem = jax.jit(lambda q: _local_problem(
            system, q, evaluate(system, q, jax.random.PRNGKey(0), 1), SearchOptions()))(q0)
        h0 = float(lqgx.lq.policy_entropy(q0)[0])
        delta = -(h0 - args.entropy_drop)
        for algo in args.algos.split(","):
            row = time_update(FORMS[algo], problem, args.eps, delta if algo == "esaps" else None,
                              args.repeats)
            row.update(system=name, algo=algo, horizon=system.horizon,
                       state_dim=system.state_dim, action_dim=system.action_dim)
            rows[f"{name}/{algo}"] = row
            print(f"{name:16s} {algo:6s} compile {row['compile_s']:6.1f} s  solve "
                  f"{row['solve_s'] * 1e3:8.1f} ms  iterations {row['iterations']:4d}  "
                  f"converged {row['converged']}  max KL {row['max_kl']:.4g}", flush=True)
    meta = {"cpus": len(os.sched_getaffinity(0)), "machine": platform.machine(),
            "jax": jax.__version__, "x64": True, "repeats": args.repeats}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
