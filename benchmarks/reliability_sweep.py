"""Reliability sweep: GPS / SAPS / ESAPS updates on many random, deliberately hard problems.

Each problem is ``tests/optimizers/lq_problems.hard_problem``: possibly unstable dynamics,
near-singular noise / prior / initial covariances, ill-conditioned costs, eps log-uniform in
[1e-4, 1e2], ESAPS floors below and above the prior's entropy. The problems are split evenly over
a few shapes (T, n, m) and each shape runs as one ``jit(vmap(update))`` per algorithm, each
algorithm with its default method. Counted per algorithm:

* ``nonfinite``: problems whose returned policy or multipliers contain NaN/inf (must be 0);
* ``flagged``: problems the update reports as not converged (``converged`` False), which a caller
  can see and act on; ``failed`` of them report ``ok`` False (the update broke down and returned
  q unchanged);
* ``violated``: problems whose bound is exceeded by more than ``rtol`` relative (GPS: max_t
  E_mu KL(pi || q) - eps; SAPS/ESAPS: max_t KL(mu pi || nu q) - eps; ESAPS also the entropy floor,
  by more than ``rtol`` (1 + |delta|)) -- ``violated_unflagged`` of them while reporting
  converged (must be 0);
* the worst relative violation and the median update time per problem.

    python benchmarks/reliability_sweep.py [--problems 1000] [--algos gps,saps,esaps]
        [--shapes 5x1x1,10x2x1,20x3x2,30x5x3,50x8x4] [--out results/benchmarks/reliability.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from lqgx._pytree import all_finite  # noqa: E402
from lqgx.optimizers.esaps import esaps_update  # noqa: E402
from lqgx.optimizers.gps import gps_update  # noqa: E402
from lqgx.optimizers.saps import saps_update  # noqa: E402
from tests.optimizers.lq_problems import hard_problems  # noqa: E402

SHAPES = ((5, 1, 1), (10, 2, 1), (20, 3, 2), (30, 5, 3), (50, 8, 4))   # (T, n, m)
UPDATES = {
    "gps": lambda problem, eps, delta: gps_update(problem, eps),
    "saps": lambda problem, eps, delta: saps_update(problem, eps),
    "esaps": lambda problem, eps, delta: esaps_update(problem, eps, delta),
}


def outcome(algo: str, res, eps, delta) -> dict:
    """Per-problem flags (host arrays) of one batch of updates."""
    finite = jax.vmap(all_finite)((res.policy, res.alpha, res.beta))
    bound = res.kl if algo == "gps" else res.kl_state_action
    excess = jnp.max(bound - eps[:, None], axis=1) / eps
    if algo == "esaps":
        entropy_excess = jnp.max(-delta - res.entropy, axis=1) / (1.0 + jnp.abs(delta).max(-1))
        excess = jnp.maximum(excess, entropy_excess)
    excess = jnp.where(finite, excess, jnp.inf)
    return {"finite": np.asarray(finite), "converged": np.asarray(res.converged),
            "ok": np.asarray(res.ok), "excess": np.asarray(excess)}


def sweep(algos, problems: int, seed: int, rtol: float, shapes=SHAPES, progress=print,
          on_algorithm=None) -> dict:
    """The report ``{algo: counts}``; ``on_algorithm(report)`` after each algorithm (to save
    partial results of a long sweep)."""
    per_shape = -(-problems // len(shapes))
    report = {}
    for algo in algos:
        update = jax.jit(jax.vmap(UPDATES[algo]))
        flags = {"finite": [], "converged": [], "ok": [], "excess": []}
        timing = []
        for index, (T, n, m) in enumerate(shapes):
            # a shape's problems depend on its place in SHAPES, not in ``shapes``: a subset run
            # draws the same problems as the full sweep
            place = SHAPES.index((T, n, m)) if (T, n, m) in SHAPES else index
            seeds = seed + 100_000 * place + np.arange(per_shape)
            batch, eps, delta = hard_problems(seeds, T, n, m)
            delta = jnp.broadcast_to(delta[:, None], (per_shape, T)) if delta.ndim == 1 \
                else delta
            start = time.perf_counter()
            jax.block_until_ready(update(batch, eps, delta))           # compile + first run
            compile_and_run = time.perf_counter() - start
            start = time.perf_counter()
            res = jax.block_until_ready(update(batch, eps, delta))
            run = time.perf_counter() - start
            shape_flags = outcome(algo, res, eps, delta)
            for key, value in shape_flags.items():
                flags[key].append(value)
            timing.append({"shape": [T, n, m], "problems": per_shape,
                           "compile_s": compile_and_run - run, "run_s": run,
                           "ms_per_problem": 1e3 * run / per_shape,
                           "nonfinite": int((~shape_flags["finite"]).sum()),
                           "failed": int((~shape_flags["ok"]).sum()),
                           "flagged": int((~shape_flags["converged"]).sum()),
                           "violated": int((shape_flags["excess"] > rtol).sum())})
            progress(f"{algo} T={T} n={n} m={m}: {per_shape} problems, {run:.1f} s "
                     f"(+{compile_and_run - run:.1f} s compile); flagged "
                     f"{timing[-1]['flagged']}, failed {timing[-1]['failed']}, non-finite "
                     f"{timing[-1]['nonfinite']}, violated {timing[-1]['violated']}")
        finite = np.concatenate(flags["finite"])
        converged = np.concatenate(flags["converged"])
        ok = np.concatenate(flags["ok"])
        excess = np.concatenate(flags["excess"])
        violated = excess > rtol
        report[algo] = {
            "problems": int(finite.size), "nonfinite": int((~finite).sum()),
            "flagged": int((~converged).sum()), "failed": int((~ok).sum()),
            "violated": int(violated.sum()),
            "violated_unflagged": int((violated & converged).sum()),
            "worst_relative_violation": float(np.max(np.where(finite, excess, -np.inf))),
            "worst_relative_violation_converged": float(
                np.max(np.where(finite & converged, excess, -np.inf), initial=-np.inf)),
            "timing": timing,
        }
        if on_algorithm is not None:
            on_algorithm(report)
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--problems", type=int, default=1000)
    p.add_argument("--algos", default="gps,saps,esaps")
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shapes", default=",".join("x".join(map(str, sh)) for sh in SHAPES),
                   help="comma-separated TxNxM shapes; the problems are split evenly over them")
    p.add_argument("--out", default="results/benchmarks/reliability.json")
    args = p.parse_args()
    algos = args.algos.split(",")
    unknown = sorted(set(algos) - set(UPDATES))
    if unknown:
        p.error(f"--algos: unknown {unknown}; choose from {sorted(UPDATES)}")
    try:
        shapes = tuple(tuple(int(v) for v in sh.split("x")) for sh in args.shapes.split(","))
        assert all(len(sh) == 3 and min(sh) >= 1 for sh in shapes)
    except (ValueError, AssertionError):
        p.error(f"--shapes: expected comma-separated TxNxM with positive integers, got "
                f"{args.shapes!r}")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"problems": args.problems, "shapes": [list(s) for s in shapes], "rtol": args.rtol,
            "seed": args.seed, "machine": platform.platform(), "processor": platform.processor(),
            "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}

    def save(report):
        out.write_text(json.dumps({"meta": meta, "results": report}, indent=1))

    report = sweep(algos, args.problems, args.seed, args.rtol, shapes=shapes, on_algorithm=save)
    for algo, r in report.items():
        print(f"{algo}: {r['problems']} problems, nonfinite {r['nonfinite']}, flagged "
              f"{r['flagged']} (failed {r['failed']}), bound violated {r['violated']} (unflagged "
              f"{r['violated_unflagged']}), worst relative violation "
              f"{r['worst_relative_violation']:.3g}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
