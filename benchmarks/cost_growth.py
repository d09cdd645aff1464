"""How the time and memory of iLQG, GPS and SAPS grow with horizon T, state dimension n and batch
size B (CPU, float64), with log-log exponents fitted on the large end of each sweep.

Problems (m = max(1, n // 2) actions throughout):

* Riccati pass alone: one ``lqgx.lq.riccati_backward_pass`` (mu = 0, unbounded) on the model of
  ``bounded_problem(T, n)`` (below): the kernel inside every iLQG iteration, a fixed amount of
  work, to check the O(T n^3) expectation free of iteration counts.
* iLQG: a chain of n / 2 actuated pendulums (angle, velocity), neighbours coupled through
  sin(theta_j - theta_i), semi-implicit Euler with dt = 0.05, swung from hanging (x0 = 0) to
  upright; cost 0.01 |x - goal|^2 + 0.01 |u|^2 per step, 100 |x_T - goal|^2 at the end. Exactly
  10 iterations per solve (tol = gradient_tol = 1e-30 so no convergence test fires; checked),
  each one expansion + Riccati pass + one full-step rollout (``line_search=(1.0,)``), jitted;
  the B sweep is ``lqgx.solve_batch(lqgx.ilqg, ...)`` from perturbed x0s inside jit.
* GPS / SAPS: one KL-constrained update (``constrained_update`` with its default method and
  eps = 1, as ``benchmarks/thesis_dual_timing.py`` times it) on ``bounded_problem(T, n)``:
  ``tests/optimizers/lq_problems.random_problem(T, n, m)`` with each A_t scaled to spectral norm
  <= 1 (as drawn, A_t = I + 0.1 N(0, 1) expands: at n = 8 the SAPS update hit its 300-step
  cap at T = 200 and stopped after 0 steps at T = 400); the B sweep vmaps the update over B
  problems (seeds 0..B-1). The update is iterative (GPS: dual passes, SAPS: interior-point Newton steps,
  each a Riccati pass over the state-action moments), so time per iteration is reported beside
  time per update.

Sweeps (``GRIDS``): T at n = 4 (B = 1), n at T = 50, B at (T, n) = (50, 4). Timing: one warm-up
call, then the median of ``--repeats`` calls with ``jax.block_until_ready``; compile time = first
call minus that median. Memory: XLA's ``memory_analysis()`` of the compiled executable (temp
bytes; argument and output bytes kept in the JSON). Exponents: least squares of log(time) on
log(size) over the last ``FIT_POINTS`` sizes of each sweep, where fixed per-call overheads matter
least.

    taskset -c 0 .venv/bin/python benchmarks/cost_growth.py [--quick]
        [--algos riccati,ilqg,gps,saps]
        [--repeats 3] [--out results/benchmarks] [--figure docs/figures/cost_growth.png]

``--quick``: tiny grids and one repeat, a smoke test (about 1.5 minutes: every shape compiles,
GPS/SAPS at ~8 s each). ``--refit JSON``: recompute the per-iteration times and fits of a
stored report and redraw ``--figure``, without measuring. Written up in docs/cost-growth.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import lqgx  # noqa: E402
from lqgx._pytree import replace  # noqa: E402
from lqgx.lq.backward import riccati_backward_pass  # noqa: E402
from lqgx.optimizers.kl_update import UpdateOptions, constrained_update  # noqa: E402
from tests.optimizers.lq_problems import random_problem  # noqa: E402
from _harness import machine, median_seconds, write_report  # noqa: E402  (benchmarks/ is
from thesis_dual_timing import FORMS  # noqa: E402  sys.path[0] when the script runs)

ALGOS = ("riccati", "ilqg", "gps", "saps")
LABELS = {"riccati": "Riccati pass alone", "ilqg": "iLQG (pendulum chain)",
          "gps": "GPS update", "saps": "SAPS update"}
ILQG_ITERATIONS = 10
EPS = 1.0
FIT_POINTS = 3
# SAPS's Newton system lives on the moments (n + n(n+1)/2 state coordinates), so a step costs
# ~n^6: its n grid stops at 12 to keep the run within minutes.
GRIDS = {
    "full": {"T": {a: (25, 50, 100, 200, 400) for a in ALGOS},
             "n": {"riccati": (2, 4, 8, 16, 32, 64, 128), "ilqg": (2, 4, 8, 16, 32, 64),
                   "gps": (2, 4, 8, 16, 32, 64), "saps": (2, 4, 6, 8, 12)},
             "B": {a: (1, 4, 16, 64) for a in ALGOS}},
    "quick": {"T": {a: (20, 40) for a in ALGOS}, "n": {a: (2, 4) for a in ALGOS},
              "B": {a: (1, 2) for a in ALGOS}},
}
# The fixed sizes while one is swept.
BASE = {"full": {"T": dict(n=4, B=1), "n": dict(T=50, B=1), "B": dict(T=50, n=4)},
        "quick": {"T": dict(n=2, B=1), "n": dict(T=20, B=1), "B": dict(T=20, n=2)}}
GUIDES = {"T": 1, "n": 3, "B": 1}  # the expected exponents of time per iteration
UNITS = {"T": "horizon T (steps)", "n": "state dimension n (m = max(1, n/2))",
         "B": "batch size B (problems per call)"}


# -- problems ------------------------------------------------------------------------------------

def pendulum_chain(n: int, T: int, dt: float = 0.05) -> lqgx.System:
    """n / 2 actuated pendulums, neighbours coupled by sin(theta_j - theta_i); swing-up.

    Nonlinear enough that 10 iLQG iterations from hanging do not reach machine precision (so the
    iteration count, and thus the work, is the same at every size)."""
    if n < 2 or n % 2:
        raise ValueError(f"the pendulum chain needs an even n >= 2, got {n}")
    k = n // 2

    def dynamics(x, u):
        theta, omega = x[:k], x[k:]
        left = jnp.concatenate([theta[:1], theta[:-1]])  # free ends: no coupling past them
        right = jnp.concatenate([theta[1:], theta[-1:]])
        coupling = jnp.sin(left - theta) + jnp.sin(right - theta)
        accel = -9.81 * jnp.sin(theta) + 2.0 * coupling - 0.1 * omega + u
        omega_next = omega + dt * accel
        return jnp.concatenate([theta + dt * omega_next, omega_next])

    goal = jnp.concatenate([jnp.full(k, jnp.pi), jnp.zeros(k)])

    def cost(x, u, t):
        return 0.01 * jnp.sum((x - goal) ** 2) + 0.01 * jnp.sum(u ** 2)

    def final_cost(x):
        return 100.0 * jnp.sum((x - goal) ** 2)

    return lqgx.System(dynamics, cost, final_cost, jnp.zeros(n), T, action_dim=k,
                       name=f"pendulum-chain-{k}")


def bounded_problem(T: int, n: int, seed: int = 0):
    """``random_problem`` with every A_t divided by max(1, ||A_t||_2): the same random model,
    but non-expanding, so long horizons neither overflow nor change the update's difficulty."""
    problem = random_problem(T=T, n=n, m=max(1, n // 2), seed=seed)
    A = problem.dynamics.A
    norms = jnp.linalg.norm(A, ord=2, axis=(1, 2))
    dynamics = replace(problem.dynamics, A=A / jnp.maximum(norms, 1.0)[:, None, None])
    return replace(problem, dynamics=dynamics)


def stacked_problems(T: int, n: int, count: int):
    """``bounded_problem`` for seeds 0..count-1, stacked on a leading axis for ``jax.vmap``."""
    problems = [bounded_problem(T, n, seed=s) for s in range(count)]
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *problems)


# -- the jitted calls, one per (algorithm, shape) -------------------------------------------------

def ilqg_call(T: int, n: int, B: int):
    """``(jitted fn, args)`` for 10 iLQG iterations; B = 1 is unbatched."""
    system = pendulum_chain(n, T)
    # line_search=(1.0,): each iteration is exactly one expansion, one Riccati pass and one
    # rollout. The default backtracking adds 0-10 rollouts per iteration, a number that changes
    # with the problem: in a first run it bent the T exponent down to 0.5.
    opts = dict(iterations=ILQG_ITERATIONS, tol=1e-30, gradient_tol=1e-30, line_search=(1.0,))
    if B == 1:
        return jax.jit(lambda x0: lqgx.ilqg(system.replace(x0=x0), **opts)), system.x0
    # Small perturbations of the hanging start: every solve does the same amount of work.
    x0s = 0.05 * jax.random.normal(jax.random.PRNGKey(0), (B, n))
    return jax.jit(lambda x0s: lqgx.solve_batch(lqgx.ilqg, system, x0s, **opts)), x0s


def update_call(algo: str, T: int, n: int, B: int):
    """``(jitted fn, args)`` for one GPS/SAPS update; B > 1 vmaps it over B random problems."""
    form = FORMS[algo]

    def update(problem):
        return constrained_update(form, problem, EPS, None, options=UpdateOptions())

    if B == 1:
        return jax.jit(update), bounded_problem(T, n)
    return jax.jit(jax.vmap(update)), stacked_problems(T, n, B)


def riccati_call(T: int, n: int, B: int):
    """``(jitted fn, args)`` for one bare ``riccati_backward_pass`` (mu = 0, no bounds) on
    ``bounded_problem``'s model: a fixed amount of work, unlike the iterative solvers."""

    def backward(problem):
        return riccati_backward_pass(problem.cost, problem.final, problem.dynamics, 0.0)

    if B == 1:
        return jax.jit(backward), bounded_problem(T, n)
    return jax.jit(jax.vmap(backward)), stacked_problems(T, n, B)


def make_call(algo: str, T: int, n: int, B: int):
    if algo == "riccati":
        return riccati_call(T, n, B)
    return ilqg_call(T, n, B) if algo == "ilqg" else update_call(algo, T, n, B)


# -- measurement ---------------------------------------------------------------------------------

def measure(fn, args, repeats: int) -> dict:
    """Wall times of ``fn(args)``: first call (compile + run), then the median of ``repeats``."""
    result, times = median_seconds(lambda: jax.block_until_ready(fn(args)), repeats)
    # After the first call the lowering and the executable are cached in memory, so this
    # lower/compile costs milliseconds and returns the executable that was timed.
    memory = fn.lower(args).compile().memory_analysis()
    return {"result": result, "run_s": times["solve_s"], "runs_s": times["runs_s"],
            "compile_s": max(times["compile_s"], 0.0), "first_call_s": times["first_s"],
            "temp_bytes": int(memory.temp_size_in_bytes),
            "argument_bytes": int(memory.argument_size_in_bytes),
            "output_bytes": int(memory.output_size_in_bytes)}


def summarize(algo: str, result) -> dict:
    """Iterations the call ran (max over a batch: a vmapped while loop runs until all stop)."""
    if algo == "riccati":
        ok = np.asarray(result.ok)
        return {"iterations": 1, "iterations_min": 1, "ok": int(ok.sum()), "valid": bool(ok.all())}
    iterations = np.asarray(result.iterations)
    row = {"iterations": int(iterations.max()), "iterations_min": int(iterations.min())}
    if algo == "ilqg":
        cost = np.asarray(result.cost)
        row["all_ran_full"] = bool(np.all(iterations == ILQG_ITERATIONS))
        row["final_cost"] = float(np.mean(cost))
        row["valid"] = bool(np.all(np.isfinite(cost)))
    else:
        ok = np.asarray(result.ok)
        row["converged"] = int(np.sum(np.asarray(result.converged)))
        row["ok"] = int(ok.sum())
        # A failed update returns q at once: its time says nothing about the growth.
        row["valid"] = bool(ok.all() and iterations.min() >= 1)
    return row


def measure_point(algo: str, sizes: dict, repeats: int) -> dict:
    fn, args = make_call(algo, **sizes)
    row = measure(fn, args, repeats)
    row.update(summarize(algo, row.pop("result")))
    row.update(sizes, m=max(1, sizes["n"] // 2))
    return derive(row)


def derive(row: dict) -> dict:
    """Times per iteration (the unit whose growth the Riccati pass predicts), per call and per
    problem of a batch; recomputed from the stored measurements by ``--refit``."""
    row["per_iteration_s"] = row["run_s"] / max(row["iterations"], 1)
    row["per_iteration_per_problem_s"] = row["per_iteration_s"] / row["B"]
    return row


def fit_exponent(sizes, values, points: int) -> dict:
    """Slope of log(value) on log(size) over the last ``points`` sizes (least squares)."""
    x, y = np.log(np.asarray(sizes[-points:], float)), np.log(np.asarray(values[-points:], float))
    slope, _ = np.polyfit(x, y, 1)
    return {"exponent": float(slope), "fit_sizes": list(sizes[-points:])}


def sweep(algo: str, variable: str, grid: str, repeats: int, cache: dict) -> dict:
    """One sweep; shapes already measured in another sweep are reused, not compiled again."""
    rows = []
    for size in GRIDS[grid][variable][algo]:
        sizes = {**BASE[grid][variable], variable: size}
        key = (algo, sizes["T"], sizes["n"], sizes["B"])
        if key not in cache:
            cache[key] = measure_point(algo, sizes, repeats)
            progress(algo, cache[key])
        rows.append(cache[key])
    return {"fixed": BASE[grid][variable], "rows": rows, "fits": fits_of(rows, variable)}


def fits_of(rows: list, variable: str) -> dict:
    """Exponents of each quantity over the last ``FIT_POINTS`` valid sizes of a sweep."""
    valid = [r for r in rows if r["valid"]]  # failed solves are reported, not fitted
    points = min(FIT_POINTS, len(valid))
    sizes = [r[variable] for r in valid]
    return {quantity: fit_exponent(sizes, [r[quantity] for r in valid], points)
            for quantity in ("per_iteration_s", "per_iteration_per_problem_s", "run_s",
                             "temp_bytes")}


def refit(report: dict) -> dict:
    """Recompute the derived times and the fits of a report from its raw measurements."""
    for sweeps in report["results"].values():
        for variable, data in sweeps.items():
            data["rows"] = [derive(r) for r in data["rows"]]
            data["fits"] = fits_of(data["rows"], variable)
    return report


def progress(algo: str, row: dict) -> None:
    print(f"{algo:7s} T={row['T']:4d} n={row['n']:3d} B={row['B']:3d}  compile "
          f"{row['compile_s']:6.2f} s  run {row['run_s'] * 1e3:9.2f} ms  iterations "
          f"{row['iterations']:3d}  per iteration {row['per_iteration_s'] * 1e3:8.3f} ms  "
          f"temp {row['temp_bytes'] / 2**20:8.2f} MiB", flush=True)
    if not row["valid"]:
        print("  warning: failed (not ok or non-finite); left out of the fit", flush=True)
    if not row.get("all_ran_full", True):  # converged early: per-iteration time still valid
        print(f"  warning: iLQG stopped before {ILQG_ITERATIONS} iterations "
              f"({row['iterations_min']}..{row['iterations']})", flush=True)


# -- report --------------------------------------------------------------------------------------

def machine_info() -> dict:
    return machine(cpus_usable=sorted(os.sched_getaffinity(0)), jax=jax.__version__,
                   device=str(jax.devices()[0]), x64=True,
                   xla_flags=os.environ.get("XLA_FLAGS", ""))


COLORS = {"riccati": "tab:gray", "ilqg": "tab:blue", "gps": "tab:orange", "saps": "tab:green"}
QUANTITIES = (("per_iteration_s", 1e3, "time per iteration (ms; whole batch)"),
              ("temp_bytes", 2.0**-20, "XLA temp memory (MiB)"))


def plot(results: dict, path: pathlib.Path) -> None:
    """Two rows (time per iteration, temp memory) x one column per swept variable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 9), constrained_layout=True)
    for col, variable in enumerate(("T", "n", "B")):
        for algo, sweeps in results.items():
            for row, (quantity, scale, _) in enumerate(QUANTITIES):
                plot_line(axes[row, col], algo, sweeps[variable], variable, quantity, scale)
        ticks = sorted({r[variable] for s in results.values() for r in s[variable]["rows"]})
        plot_guide(axes[0, col], results, variable, ticks)
        fixed = next(iter(results.values()))[variable]["fixed"]
        for row, (_, _, ylabel) in enumerate(QUANTITIES):
            style(axes[row, col], variable, ylabel, ticks, fixed)
    fig.suptitle("lqgx cost growth, CPU (1 core), float64. Exponent = least-squares slope of "
                 f"log-log over the last {FIT_POINTS} sizes of each sweep (dashed)", fontsize=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_line(ax, algo: str, data: dict, variable: str, quantity: str, scale: float) -> None:
    sizes = np.array([r[variable] for r in data["rows"]], float)
    values = np.array([r[quantity] for r in data["rows"]], float) * scale
    fit = data["fits"][quantity]
    ax.plot(sizes, values, "o-", color=COLORS[algo], ms=5,
            label=f"{LABELS[algo]}: exponent {fit['exponent']:.2f}")
    bad = np.array([not r["valid"] for r in data["rows"]])
    if bad.any():  # failed solves: shown, not fitted
        ax.plot(sizes[bad], values[bad], "x", color="red", ms=10)
    # Dashed black: the fitted power law, drawn over the points it was fitted on.
    fx = np.array(fit["fit_sizes"], float)
    end = values[list(sizes).index(fx[-1])]
    ax.plot(fx, end * (fx / fx[-1]) ** fit["exponent"], "--", color="k", lw=1.2, alpha=0.7)


def plot_guide(ax, results: dict, variable: str, ticks) -> None:
    """Dotted: the expected slope (T^1, n^3, B^1) over the upper half of the sizes, ending at
    half the lowest time at the largest size, to compare the fitted slopes against."""
    x = np.array(ticks[len(ticks) // 2:], float)
    end = min(r["per_iteration_s"] for s in results.values() for r in s[variable]["rows"]
              if r[variable] == x[-1])
    ax.plot(x, 0.5e3 * end * (x / x[-1]) ** GUIDES[variable], ":", color="k", lw=1.5,
            label=f"slope {GUIDES[variable]} (guide)")


def style(ax, variable: str, ylabel: str, ticks, fixed: dict) -> None:
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(ScalarFormatter())  # 25, 50, ... rather than 10^1.4
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(UNITS[variable])
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9, loc="best", framealpha=0.7)
    ax.set_title(f"sweep {variable}, fixed " + ", ".join(f"{k} = {v}" for k, v in fixed.items()))


def print_exponents(results: dict) -> None:
    for algo, sweeps in results.items():
        exps = "  ".join(f"{v}: {s['fits']['per_iteration_s']['exponent']:5.2f}"
                         for v, s in sweeps.items())
        print(f"exponents of time per iteration, {algo:7s} {exps}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny grids, one repeat")
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (default 3)")
    parser.add_argument("--out", default="results/benchmarks")
    parser.add_argument("--figure", default=None, help="write the log-log figure (PNG) here")
    parser.add_argument("--refit", default=None, metavar="JSON",
                        help="no measuring: recompute times per iteration and the fits of an "
                             "earlier cost_growth.json in place, and redraw --figure")
    args = parser.parse_args()
    if args.refit:
        path = pathlib.Path(args.refit)
        report = refit(json.loads(path.read_text()))
        path.write_text(json.dumps(report, indent=1))
        print_exponents(report["results"])
        if args.figure:
            plot(report["results"], pathlib.Path(args.figure))
        return
    grid = "quick" if args.quick else "full"
    repeats = args.repeats or (1 if args.quick else 3)
    algos = [a for a in args.algos.split(",") if a]
    unknown = sorted(set(algos) - set(ALGOS))
    if unknown:
        parser.error(f"unknown algorithm(s) {unknown}; choose from {ALGOS}")
    start = time.perf_counter()
    cache: dict = {}
    results = {algo: {v: sweep(algo, v, grid, repeats, cache) for v in ("T", "n", "B")}
               for algo in algos}
    report = {"machine": machine_info(), "grid": grid, "repeats": repeats,
              "fit_points": FIT_POINTS, "ilqg_iterations": ILQG_ITERATIONS, "eps": EPS,
              "wall_s": time.perf_counter() - start, "results": results}
    print_exponents(results)
    write_report(args.out, "cost_growth", report)
    if args.figure:
        plot(results, pathlib.Path(args.figure))
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
