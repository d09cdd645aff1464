"""The lqgx demo: double-pendulum swing-up (thesis §6.1) comparing GPS, SAPS and ESAPS over several
trials (vmapped), with iLQG as the deterministic reference; prints a results table and writes
results.json, curves.png (cost mean ± std and policy-step size per iteration, like thesis
Fig. 6.1/6.2) and filmstrip.png (the best policy's mean swing-up, rendered by MuJoCo).

    python examples/demo.py [--out results/demo] [--trials 10] [--iterations 25] [--samples 25]

The defaults are the thesis run (10 trials, 25 iterations, 25 samples per iteration) with the
step bounds that ``benchmarks/thesis_double_pendulum.py --linearization autodiff`` picked from
its sweep (GPS eps 0.1; SAPS eps 4; ESAPS eps 4 with the entropy allowed to fall 8 nats below
the initial policy's). Costs are minimized (the thesis plots reward = -cost).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import pathlib

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    import lqgx
    import lqgx.systems

from lqgx.compilation import CompileClock  # noqa: E402
from lqgx.optimizers import default_policy  # noqa: E402
from lqgx.plots import plot_curves  # noqa: E402

lqgx.enable_compilation_cache()   # a second run loads its compiled solves from disk


def solvers(system, args):
    """name -> function(key) -> Result, with the step bounds used by the thesis comparison."""
    entropy0 = float(lqgx.lq.policy_entropy(default_policy(system))[0])
    delta = -(entropy0 - args.esaps_entropy_drop)  # floor: drop nats below the initial entropy
    common = dict(iterations=args.iterations, samples=args.samples, max_outer=args.max_outer)
    return {
        "gps": lambda key: lqgx.gps(system, args.gps_eps, key=key, **common),
        "saps": lambda key: lqgx.saps(system, args.saps_eps, key=key, **common),
        "esaps": lambda key: lqgx.esaps(system, args.esaps_eps, delta, key=key, **common),
    }


def run(name, solve, keys):
    print(f"  {name}: compiling and running {len(keys)} trials ...", flush=True)
    with CompileClock() as compile_clock:   # wall time and its compile part
        result = jax.block_until_ready(jax.vmap(solve)(keys))
    wall = compile_clock.wall
    final = np.asarray(result.history["cost"])[:, -1]
    row = {"final_cost_mean": float(np.mean(final)), "final_cost_std": float(np.std(final)),
           "max_kl_step": float(np.max(np.asarray(result.history["kl"]))),
           "iterations": int(np.max(np.asarray(result.iterations))), "wall_s": wall,
           "compile_s": compile_clock.seconds}
    print(f"  {name}: done in {wall:.0f} s (compile {compile_clock.seconds:.0f} s)", flush=True)
    return row, result


def table(rows) -> str:
    lines = [f"{'algorithm':<10} {'final cost (mean ± std)':>26} {'max KL step':>12} "
             f"{'iterations':>10} {'wall [s]':>9} {'compile [s]':>12}", "-" * 84]
    for name, row in rows.items():
        cost = f"{row['final_cost_mean']:.2f} ± {row['final_cost_std']:.2f}"
        kl = f"{row['max_kl_step']:.3g}" if row["max_kl_step"] == row["max_kl_step"] else "-"
        lines.append(f"{name:<10} {cost:>26} {kl:>12} {row['iterations']:>10} "
                     f"{row['wall_s']:>9.0f} {row['compile_s']:>12.0f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/demo")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=25)
    parser.add_argument("--samples", type=int, default=25)
    parser.add_argument("--max-outer", type=int, default=10, help="GPS dual passes per update")
    parser.add_argument("--gps-eps", type=float, default=0.1)
    parser.add_argument("--saps-eps", type=float, default=4.0)
    parser.add_argument("--esaps-eps", type=float, default=4.0)
    parser.add_argument("--esaps-entropy-drop", type=float, default=8.0,
                        help="ESAPS entropy floor: nats below the initial policy's entropy")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    system = lqgx.systems.make("double_pendulum")
    print(f"double pendulum swing-up (thesis §6.1): {system}; {args.trials} trials x "
          f"{args.iterations} iterations x {args.samples} samples", flush=True)
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.trials)
    rows, results = {}, {}
    for name, solve in solvers(system, args).items():
        rows[name], results[name] = run(name, solve, keys)

    with CompileClock() as compile_clock:
        reference = jax.block_until_ready(lqgx.ilqg(system, iterations=100))
    rows["ilqg"] = {"final_cost_mean": float(reference.cost), "final_cost_std": 0.0,
                    "max_kl_step": float("nan"), "iterations": int(reference.iterations),
                    "wall_s": compile_clock.wall, "compile_s": compile_clock.seconds}
    print()
    print(table(rows))
    print("(GPS-family costs: sample estimates of the stochastic policy's expected cost; iLQG: the "
          "deterministic optimum of the mean dynamics, a lower reference)")
    (out / "results.json").write_text(json.dumps({"settings": vars(args), "results": rows},
                                                 indent=2))
    plot_curves(results, out / "curves.png", title="double pendulum: expected cost")
    best = min(results, key=lambda name: rows[name]["final_cost_mean"])
    trial = int(np.argmin(np.asarray(results[best].history["cost"])[:, -1]))
    states = np.asarray(results[best].states)[trial]
    lqgx.render(system, states, out / "filmstrip.png")
    print(f"wrote {out / 'results.json'}, {out / 'curves.png'}, {out / 'filmstrip.png'} "
          f"(filmstrip: best {best} trial)")


if __name__ == "__main__":
    main()
