"""crocoddyl's double-pendulum swing-up side by side with lqgx's iLQG (issue 16 item 2, issue 20
item 4).

The problem is crocoddyl's examples/double_pendulum_fwddyn.py: example-robot-data's
double_pendulum, torque on the first joint, T = 100 steps of dt = 0.01 s (semi-implicit Euler),
from x0 = (3.14, 0, 0, 0) to upright. lqgx solves it as the plain-JAX System of
tests/optimizers/test_peer_problems.py (Lagrangian dynamics by autodiff from the URDF's numbers);
crocoddyl solves its own model with FDDP, from the example's default start (states all x0,
controls zero: infeasible) and from the zero-control rollout (feasible, as lqgx starts).

crocoddyl runs in its own interpreter (it needs pinocchio's wheels; none is a dependency of lqgx):

    python3.11 -m venv /tmp/croc
    /tmp/croc/bin/pip install "pin==4.0.0" "libpinocchio==4.0.0" "crocoddyl==3.2.1" "numpy<2.5"
    python benchmarks/crocoddyl_double_pendulum.py --crocoddyl-python /tmp/croc/bin/python \\
        [--repeats 5] [--out results/benchmarks]        -> crocoddyl_double_pendulum.json

Pin pinocchio 4.0.0: crocoddyl 3.2.1's wheel does not pin libpinocchio, and with 4.1.0 its
forward dynamics silently lose gravity (an ABI mismatch; the zero-control cost then differs).
``--reference`` (run under that interpreter) prints crocoddyl's numbers as JSON: the constants of
the tests come from it. Without ``--crocoddyl-python`` only lqgx runs.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _harness import machine, median_seconds, write_report  # noqa: E402
MAX_ITERATIONS = 500


# -- crocoddyl (run under its own interpreter) --------------------------------------------------
def crocoddyl_reference(repeats: int) -> dict:
    import crocoddyl
    import example_robot_data
    import numpy as np
    import pinocchio
    from crocoddyl.utils.pendulum import ActuationModelDoublePendulum, CostModelDoublePendulum

    # The example's problem, as written there.
    state = crocoddyl.StateMultibody(example_robot_data.load("double_pendulum").model)
    actuation = ActuationModelDoublePendulum(state, actLink=1)
    running_costs = crocoddyl.CostModelSum(state, actuation.nu)
    terminal_costs = crocoddyl.CostModelSum(state, actuation.nu)
    pendulum_cost = CostModelDoublePendulum(
        state, crocoddyl.ActivationModelWeightedQuad(np.array([1.0] * 4 + [0.1] * 2)),
        actuation.nu)
    dt = 1e-2
    running_costs.addCost("uReg", crocoddyl.CostModelResidual(
        state, crocoddyl.ResidualModelControl(state, actuation.nu)), 1e-4 / dt)
    running_costs.addCost("xGoal", pendulum_cost, 1e-5 / dt)
    terminal_costs.addCost("xGoal", pendulum_cost, 100.0)

    def integrated(costs):
        return crocoddyl.IntegratedActionModelEuler(
            crocoddyl.DifferentialActionModelFreeFwdDynamics(state, actuation, costs), dt)

    running, terminal = integrated(running_costs), integrated(terminal_costs)
    horizon, x0 = 100, np.array([3.14, 0.0, 0.0, 0.0])
    problem = crocoddyl.ShootingProblem(x0, [running] * horizon, terminal)

    # Pointwise numbers the lqgx model is checked against.
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(5, 4)) * np.array([2.0, 2.0, 3.0, 3.0])
    us = rng.normal(size=(5, 1))
    next_states, costs, terminal_values = [], [], []
    for x, u in zip(xs, us):
        data = running.createData()
        running.calc(data, x, u)
        next_states.append(np.asarray(data.xnext).tolist())
        costs.append(float(data.cost))
        data = terminal.createData()
        terminal.calc(data, x)
        terminal_values.append(float(data.cost))
    zero_us = [np.zeros(actuation.nu)] * horizon
    zero_xs = problem.rollout(zero_us)
    zero_control_cost = float(problem.calc(zero_xs, zero_us))

    def solve(feasible: bool):
        solver = crocoddyl.SolverFDDP(problem)
        if feasible:
            solver.solve(problem.rollout(zero_us), zero_us, MAX_ITERATIONS, True)
        else:
            solver.solve([], [], MAX_ITERATIONS)
        return solver

    report = {"crocoddyl": crocoddyl.__version__, "pinocchio": pinocchio.__version__,
              "samples": {"next_states": next_states, "costs": costs,
                          "terminal_costs": terminal_values},
              "zero_control_cost": zero_control_cost}
    for name, feasible in (("fddp_default_start", False), ("fddp_feasible_start", True)):
        solver, times = median_seconds(lambda f=feasible: solve(f), repeats)
        report[name] = {"cost": float(solver.cost), "iterations": int(solver.iter), **times}
    return report


# -- lqgx --------------------------------------------------------------------------------------
def lqgx_runs(repeats: int, reference: dict | None) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, str(ROOT))
    import lqgx
    from tests.optimizers.test_peer_problems import croc_samples, crocoddyl_double_pendulum_system

    report = {"device": str(jax.devices()[0]), "jax": jax.__version__}
    if reference is not None:
        system = crocoddyl_double_pendulum_system(jnp.float64)
        xs, us = croc_samples()
        step = jax.vmap(system.dynamics)(jnp.asarray(xs), jnp.asarray(us))
        stage = jax.vmap(system.cost, in_axes=(0, 0, None))(jnp.asarray(xs), jnp.asarray(us), 0)
        final = jax.vmap(system.final_cost)(jnp.asarray(xs))
        zero = jnp.zeros((system.horizon, 1))
        samples = reference["samples"]
        report["agreement"] = {
            "next_state_max_abs": float(np.max(np.abs(step - np.array(samples["next_states"])))),
            "cost_max_rel": float(np.max(np.abs(stage / np.array(samples["costs"]) - 1))),
            "terminal_cost_max_rel": float(np.max(np.abs(
                final / np.array(samples["terminal_costs"]) - 1))),
            "zero_control_cost_rel": abs(float(system.trajectory_cost(
                system.rollout(zero), zero)) / reference["zero_control_cost"] - 1)}
        print("agreement", json.dumps(report["agreement"]))

    for dtype in ("float64", "float32"):
        system = crocoddyl_double_pendulum_system(jnp.dtype(dtype))
        for label, options in (("default", {}), ("tight", {"tol": 1e-14, "gradient_tol": 1e-14})):
            if label == "tight" and dtype == "float32":
                continue  # float32 cannot resolve relative changes of 1e-14

            def run(options=options):
                result = lqgx.ilqg(system, iterations=MAX_ITERATIONS, **options)
                jax.block_until_ready(result.cost)
                return result

            result, times = median_seconds(run, repeats)
            row = {"cost": float(result.cost), "iterations": int(result.iterations),
                   "message": result.message, "converged": bool(result.converged), **times,
                   "ms_per_iteration": 1e3 * times["solve_s"] / max(int(result.iterations), 1)}
            if reference is not None:
                croc = reference["fddp_feasible_start"]
                row["solve_time_vs_fddp_feasible"] = times["solve_s"] / croc["solve_s"]
                row["cost_vs_fddp_feasible"] = row["cost"] / croc["cost"]
            report[f"ilqg_{dtype}_{label}"] = row
            print(f"ilqg {dtype} {label}", json.dumps(row))
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true",
                        help="print crocoddyl's numbers as JSON (run under crocoddyl's python)")
    parser.add_argument("--crocoddyl-python", default=None,
                        help="an interpreter with crocoddyl 3.2.1 and pin 4.0.0")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.reference:
        print(json.dumps(crocoddyl_reference(args.repeats)))
        return

    reference = None
    if args.crocoddyl_python:
        completed = subprocess.run(
            [args.crocoddyl_python, __file__, "--reference", "--repeats", str(args.repeats)],
            capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            sys.exit(f"crocoddyl's run failed ({args.crocoddyl_python}):\n{completed.stderr}")
        reference = json.loads(completed.stdout.strip().splitlines()[-1])
        for name in ("fddp_default_start", "fddp_feasible_start"):
            print(f"crocoddyl {name}", json.dumps(reference[name]))
    report = {"problem": "crocoddyl examples/double_pendulum_fwddyn.py (T=100, dt=0.01)",
              "machine": machine(),
              "repeats": args.repeats, "crocoddyl_reference": reference,
              "lqgx": lqgx_runs(args.repeats, reference)}
    write_report(args.out, "crocoddyl_double_pendulum", report)


if __name__ == "__main__":
    main()
