"""lqgx's iLQG beside google/trajax's ``ilqr`` on the cart-pole swing-up, float64 and float32, in
one process: iterations, final cost, solve time, time per iteration, compile time, and a vmap
over 32 perturbed initial states.

Problem: the cart-pole of benchmarks/ilqr_cartpole.py, imported from it (trajax's cartpole
benchmark constants: T = 50 steps of dt = 0.1 s, RK4; cart 1 kg, pole 0.1 kg and 0.5 m; running
cost 0.1 ||u||^2, terminal cost 1000 (p^2 + (theta - pi)^2) + 100 (p_dot^2 + theta_dot^2); zero
initial actions, unbounded force). trajax gets the same functions as ``cost(x, u, t)`` (the
terminal cost at t == T, where trajax pads u with zeros) and ``dynamics(x, u, t)``.

trajax is not a dependency of lqgx and must not be installed into its venv (PyPI's ``trajax`` is
an unrelated package). Export its source to a folder outside the repo and pass that folder:

    git clone https://github.com/google/trajax /tmp/trajax_git   # or any bare mirror of it
    mkdir -p /tmp/trajax_src
    git --git-dir=/tmp/trajax_git/.git archive HEAD trajax | tar -x -C /tmp/trajax_src
    git --git-dir=/tmp/trajax_git/.git rev-parse HEAD > /tmp/trajax_src/TRAJAX_COMMIT
    taskset -c 1 python benchmarks/trajax_cartpole.py --trajax-path /tmp/trajax_src \\
        [--repeats 7] [--quick] [--out results/benchmarks]        -> trajax_cartpole.json

(``--trajax-path`` defaults to $TRAJAX_PATH; the folder is prepended to sys.path.) Only
``trajax.optimizers`` is imported; it needs jax and scipy, both already in lqgx's venv
(``ml_collections`` and ``absl`` are used only by trajax's experimental SQP code and tests). The
commit is read from DIR/TRAJAX_COMMIT, else from ``git rev-parse`` in DIR, else "unknown".

Stopping rules, matched as closely as the two solvers allow:
  * both at most 300 iterations;
  * lqgx: ``tol=1e-6`` on the relative cost change |dJ| / |J| of an accepted step (raised to
    10 eps = 1.2e-6 in float32), or on the expected reduction, or Tassa's normalized step
    below ``gradient_tol=1e-5`` (both only when the local model is convex);
  * trajax: ``obj_step_threshold=1e-6``, its test |dJ| <= 1e-6 (|J| + 1), nearly the same as
    lqgx's at J ~ 16; ``grad_norm_threshold`` left at trajax's default 1e-4 on ||dJ/dU||
    (trajax's own small-gradient stop, the analogue of lqgx's small-step stop);
    ``alpha_min`` left at 5e-5 (trajax also stops once its line search cannot decrease J).
  trajax reports no status, so "converged" for it means it stopped before the iteration cap.

Timing: the first call of each solver (tracing, compilation and one solve) is timed apart; then
``--repeats`` calls of each alternate, lqgx and trajax (order reversed every other repeat, so
neither always runs second), and the median is reported with min/max; compile_s = first call
minus that median. lqgx is timed as a user calls it, ``lqgx.ilqg(system, iterations=300)``
(its own cached jit plus Python-side dispatch and result trimming); trajax as ``jax.jit`` around a
function of x0 that calls ``trajax.optimizers.ilqr``. The batch runs jit(vmap) for both:
``lqgx.solve_batch`` as in ilqr_cartpole.py's batch_solve, and jit(vmap(trajax solve)).

Caveats:
  * x64 is on for the whole process (lqgx runs its float32 problem with float32 arrays in it).
    trajax's float32 solve does not trace under x64 (``ilqr`` closure-converts the cost, whose
    Python-float constants then become float64 arrays: "lax.mul requires arguments to have the
    same dtypes, got float32, float64"; its ``ddp_rollout`` also allocates default-dtype zeros),
    so it is traced and run inside ``jax.enable_x64(False)``, as a float32 trajax user runs it.
  * The algorithms differ: lqgx regularizes (Levenberg-Marquardt mu schedule, convexity test)
    and line-searches over {1, ..., 1e-3} with an actual/expected reduction test; trajax has no
    regularization here (Q, R are PSD) and halves alpha until the cost strictly decreases. The
    iteration counts can therefore differ; ms per iteration compares the cost of one iteration.
  * trajax's ilqr wraps a custom VJP (implicit differentiation); lqgx's single call takes its
    plain jitted path, and lqgx's batch (under jit) takes its differentiable path.
  * CPU timings on a shared machine: pin the process (``taskset -c 1``) and run nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

BENCHMARKS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))  # the cart-pole lives beside this file

import lqgx  # noqa: E402
from _harness import machine as harness_machine  # noqa: E402
from _harness import write_report  # noqa: E402
from ilqr_cartpole import (  # noqa: E402
    DT,
    HORIZON,
    PERTURBATION_STD,
    cartpole,
    final_cost,
    make_system,
    perturbed_x0s,
    running_cost,
    swung_up,
)

MAX_ITERATIONS = 300
TOL = 1e-6
TRAJAX_HINT = ("trajax source not found: pass --trajax-path DIR or set TRAJAX_PATH, DIR holding "
               "trajax/ (e.g. `git clone https://github.com/google/trajax`; never `pip install "
               "trajax`, an unrelated PyPI package)")


# -- trajax ----------------------------------------------------------------------------------
def load_trajax(path: str | None):
    """(trajax.optimizers, commit) from the source folder ``path``; exit if there is none."""
    if not path or not (pathlib.Path(path) / "trajax" / "optimizers.py").is_file():
        sys.exit(f"error: {TRAJAX_HINT}" + (f" (got {path!r})" if path else ""))
    sys.path.insert(0, str(pathlib.Path(path).resolve()))
    from trajax import optimizers

    return optimizers, _trajax_commit(pathlib.Path(path))


def _trajax_commit(path: pathlib.Path) -> str:
    stamp = path / "TRAJAX_COMMIT"  # written by the export step: an archive carries no .git
    if stamp.is_file():
        return stamp.read_text().strip()
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def trajax_cost(x, u, t):
    # trajax sums cost(x_t, u_t, t) for t < T plus cost(x_T, 0, T): the terminal cost at T.
    return jnp.where(t == HORIZON, final_cost(x), running_cost(x, u, t))


def trajax_dynamics(x, u, t):
    return cartpole(x, u)


def trajax_solver(optimizers):
    """x0 -> dict of trajax's solution from zero actions (un-jitted; jit or vmap it)."""

    def solve(x0):
        actions = jnp.zeros((HORIZON, 1), x0.dtype)
        X, U, obj, gradient, _, _, iterations = optimizers.ilqr(
            trajax_cost, trajax_dynamics, x0, actions, maxiter=MAX_ITERATIONS,
            obj_step_threshold=TOL)
        return {"states": X, "actions": U, "cost": obj, "iterations": iterations,
                "grad_norm": jnp.linalg.norm(gradient)}

    return solve


def trajax_scope(dtype):
    """Where trajax's calls run: without x64 for float32 (see the module docstring)."""
    return jax.enable_x64(False) if jnp.dtype(dtype) == jnp.float32 else nullcontext()


def in_scope(fun, dtype):
    def run(*args):
        with trajax_scope(dtype):
            return jax.block_until_ready(fun(*args))

    return run


def ready(result):
    """``result`` once computed (its fields come from one executable: waiting on one is enough)."""
    jax.block_until_ready(result.cost)
    return result


# -- timing ----------------------------------------------------------------------------------
def time_interleaved(runs: dict, repeats: int, label: str) -> tuple[dict, dict]:
    """Outputs and timings of zero-argument ``runs`` (name -> callable): a first call each, then
    ``repeats`` rounds with one call of each, the order reversed every other round."""
    outputs, first, seconds = {}, {}, {name: [] for name in runs}
    for name, run in runs.items():
        print(f"[{label}] first call of {name} (compiles) ...", flush=True)
        start = time.perf_counter()
        outputs[name] = run()
        first[name] = time.perf_counter() - start
        print(f"[{label}]   {name}: {first[name]:.2f} s", flush=True)
    names = list(runs)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            outputs[name] = runs[name]()
            seconds[name].append(time.perf_counter() - start)
        print(f"[{label}] repeat {repeat + 1}/{repeats}: " + ", ".join(
            f"{name} {1e3 * seconds[name][-1]:.1f} ms" for name in names), flush=True)
    return outputs, {name: _timing(first[name], seconds[name]) for name in names}


def _timing(first: float, seconds: list) -> dict:
    median = statistics.median(seconds)
    return {"solve_ms": 1e3 * median, "solve_ms_min": 1e3 * min(seconds),
            "solve_ms_max": 1e3 * max(seconds), "repeats": len(seconds),
            "first_call_s": first, "compile_s": first - median}


def ratios(lqgx_row: dict, trajax_row: dict, keys) -> dict:
    return {key: lqgx_row[key] / trajax_row[key] for key in keys if trajax_row[key] > 0}


# -- one initial state -----------------------------------------------------------------------
def single(dtype, trajax_solve, repeats: int) -> dict:
    system = make_system(jnp.dtype(dtype))
    jitted = in_scope(jax.jit(trajax_solve), dtype)
    runs = {"lqgx": lambda: ready(lqgx.ilqg(system, iterations=MAX_ITERATIONS)),
            "trajax": lambda: jitted(system.x0)}
    outputs, timings = time_interleaved(runs, repeats, dtype)
    res, sol = outputs["lqgx"], outputs["trajax"]
    rows = {"lqgx": {"iterations": int(res.iterations), "final_cost": float(res.cost),
                     "converged": bool(res.converged), "message": res.message,
                     "swung_up": bool(swung_up(res.states)), **timings["lqgx"]},
            "trajax": {"iterations": int(sol["iterations"]), "final_cost": float(sol["cost"]),
                       "converged": int(sol["iterations"]) < MAX_ITERATIONS,
                       "grad_norm": float(sol["grad_norm"]),
                       "swung_up": bool(swung_up(sol["states"])), **timings["trajax"]}}
    for row in rows.values():
        row["ms_per_iteration"] = row["solve_ms"] / max(row["iterations"], 1)
    # Same local optimum? (Both start from zero actions on the same problem.)
    rows["max_abs_action_difference"] = float(np.max(np.abs(
        np.asarray(res.actions, np.float64) - np.asarray(sol["actions"], np.float64))))
    rows["ratio_lqgx_over_trajax"] = ratios(rows["lqgx"], rows["trajax"],
                                            ("solve_ms", "ms_per_iteration", "compile_s"))
    return rows


# -- a vmapped batch of initial states -------------------------------------------------------
def batch(dtype, trajax_solve, count: int, repeats: int) -> dict:
    system = make_system(jnp.dtype(dtype))
    x0s = perturbed_x0s(system, count)
    lqgx_batch = jax.jit(lambda x0s: lqgx.solve_batch(lqgx.ilqg, system, x0s,
                                                      iterations=MAX_ITERATIONS))
    trajax_batch = in_scope(jax.jit(jax.vmap(trajax_solve)), dtype)
    runs = {"lqgx": lambda: ready(lqgx_batch(x0s)),
            "trajax": lambda: trajax_batch(x0s)}
    outputs, timings = time_interleaved(runs, repeats, f"{dtype} batch {count}")
    res, sol = outputs["lqgx"], outputs["trajax"]
    lqgx_iters, trajax_iters = np.asarray(res.iterations), np.asarray(sol["iterations"])
    rows = {"lqgx": {"converged": int(np.sum(np.asarray(res.converged))),
                     "swung_up": int(np.sum(swung_up(res.states))),
                     "iterations_mean": float(np.mean(lqgx_iters)),
                     "iterations_max": int(np.max(lqgx_iters)),
                     "final_cost_median": float(np.median(np.asarray(res.cost))),
                     **timings["lqgx"]},
            "trajax": {"converged": int(np.sum(trajax_iters < MAX_ITERATIONS)),
                       "swung_up": int(np.sum(swung_up(sol["states"]))),
                       "iterations_mean": float(np.mean(trajax_iters)),
                       "iterations_max": int(np.max(trajax_iters)),
                       "final_cost_median": float(np.median(np.asarray(sol["cost"]))),
                       **timings["trajax"]}}
    for row in rows.values():
        row["ms_per_problem"] = row["solve_ms"] / count
    rows["count"] = count
    rows["perturbation_std"] = list(PERTURBATION_STD)
    rows["ratio_lqgx_over_trajax"] = ratios(rows["lqgx"], rows["trajax"],
                                            ("solve_ms", "compile_s"))
    return rows


# -- report ----------------------------------------------------------------------------------
def machine(trajax_commit: str) -> dict:
    import jaxlib

    try:
        lqgx_commit = subprocess.run(["git", "-C", str(BENCHMARKS), "rev-parse", "HEAD"],
                                     check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        lqgx_commit = "unknown"
    return harness_machine(jax=jax.__version__, jaxlib=jaxlib.__version__,
                           device=str(jax.devices()[0]), lqgx=lqgx.__version__,
                           lqgx_commit=lqgx_commit, trajax_commit=trajax_commit)


def print_row(label: str, rows: dict) -> None:
    for name in ("lqgx", "trajax"):
        row = rows[name]
        shown = {k: row[k] for k in ("iterations", "final_cost", "swung_up", "converged",
                                     "iterations_mean", "solve_ms", "ms_per_iteration",
                                     "ms_per_problem", "compile_s") if k in row}
        print(f"{label} {name}: {json.dumps(shown)}", flush=True)
    print(f"{label} lqgx/trajax: {json.dumps(rows['ratio_lqgx_over_trajax'])}", flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajax-path", default=os.environ.get("TRAJAX_PATH"),
                        help="folder holding trajax/ (default: $TRAJAX_PATH)")
    parser.add_argument("--out", default="results/benchmarks")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per solver (>= 1)")
    parser.add_argument("--batch", type=int, default=32, help="initial states in the vmap")
    parser.add_argument("--quick", action="store_true", help="2 repeats and a batch of 4")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.batch = 2, 4
    if args.repeats < 1 or args.batch < 1:
        parser.error("--repeats and --batch must be >= 1")
    return args


def main():
    args = parse_args()
    optimizers, commit = load_trajax(args.trajax_path)
    solve = trajax_solver(optimizers)
    report = {"problem": {"dt": DT, "horizon": HORIZON, "max_iterations": MAX_ITERATIONS,
                          "lqgx": {"tol": TOL, "gradient_tol": "default (1e-5)"},
                          "trajax": {"obj_step_threshold": TOL,
                                     "grad_norm_threshold": "default (1e-4)",
                                     "alpha_min": "default (5e-5)",
                                     "float32_without_x64": True}},
              "quick": args.quick, "machine": machine(commit)}
    print(f"trajax {commit} from {args.trajax_path}; {report['machine']['cpus']} cpu(s)",
          flush=True)
    for dtype in ("float64", "float32"):
        report[dtype] = single(dtype, solve, args.repeats)
        print_row(dtype, report[dtype])
    for dtype in ("float64", "float32"):
        key = f"batch_{dtype}"
        report[key] = batch(dtype, solve, args.batch, args.repeats)
        print_row(key, report[key])
    write_report(args.out, "trajax_cartpole", report)


if __name__ == "__main__":
    main()
