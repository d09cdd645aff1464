"""The lqgx demo: double-pendulum swing-up (thesis §6.1) — iLQG/DDP as the deterministic
reference and, when available, GPS, SAPS and ESAPS over several trials — with a results table
(stdout + results.json), cost curves and a rendered filmstrip of the best swing-up.

    python examples/demo.py [--out results/demo] [--trials 4] [--iterations 25]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import pathlib
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    import lqgx
    import lqgx.systems

from lqgx.plots import plot_curves  # noqa: E402

POLICY_SEARCH = {"gps": dict(eps=1.0), "saps": dict(eps=1.0), "esaps": dict(eps=1.0, delta=-1.0)}


def run_reference(system, iterations):
    rows, results = {}, {}
    for name, solver in (("ilqg", lqgx.ilqg), ("ddp", lqgx.ddp)):
        start = time.perf_counter()
        result = solver(system, iterations=iterations)
        jax.block_until_ready(result.cost)
        rows[name] = {"final_cost_mean": float(result.cost), "final_cost_std": 0.0,
                      "iterations": int(result.iterations), "converged": bool(result.converged),
                      "wall_s": time.perf_counter() - start}
        results[name] = result
    return rows, results


def table(rows) -> str:
    lines = [f"{'algorithm':<10} {'final cost':>22} {'iterations':>10} {'wall [s]':>9}",
             "-" * 54]
    for name, row in rows.items():
        cost = f"{row['final_cost_mean']:.3f} ± {row['final_cost_std']:.3f}"
        lines.append(f"{name:<10} {cost:>22} {row['iterations']:>10} {row['wall_s']:>9.1f}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/demo")
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    system = lqgx.systems.make("double_pendulum")
    print(f"double pendulum swing-up: {system}")
    rows, results = run_reference(system, args.iterations)
    print(table(rows))
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    plot_curves(results, out / "curves.png", title="double pendulum swing-up")
    best = min(results, key=lambda name: rows[name]["final_cost_mean"])
    lqgx.render(system, np.asarray(results[best].states), out / "filmstrip.png")
    print(f"wrote {out / 'results.json'}, {out / 'curves.png'}, {out / 'filmstrip.png'}")


if __name__ == "__main__":
    main()
