"""Path constraints in iLQG (augmented Lagrangian, ``lqgx.optimizers.constrained``): accuracy on
LQ problems against Clarabel, and the cart-pole swing-up on a rail |p| <= 0.5 m.

1. LQ: random A = I + 0.1 N(0, 1) [4, 4], B = 0.5 N(0, 1) [4, 2], T = 15, quadratic costs
   pulling towards a goal outside the feasible set; path constraints x[0] <= 0.8, x[1] >= -0.5,
   u[0] + x[2] <= 1 (t < T) and final x_T[3] <= 0.2. lqgx runs to constraint_tol = 1e-8 (inner
   tol 1e-12); cvxpy/Clarabel at 1e-10 gaps. Reports the max violation and the relative gap
   (J_lqgx - J_clarabel) / |J_clarabel|.
2. Cart-pole (``lqgx.systems.make("cartpole")``, state (p, q, pdot, qdot), force in [-10, 10]
   N, T = 80, dt = 0.05 s): unconstrained iLQG vs iLQG with |p_t| <= 0.5 m for every t <= T
   (path and final constraint), penalty_init = 100, al_iterations = 30.

    python benchmarks/path_constraints.py [--out results]
        -> results/benchmarks/path_constraints.json, results/path_constraints_cartpole.png
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import lqgx  # noqa: E402
from lqgx.optimizers.constrained import constraint_values, tree_max  # noqa: E402

N, M, T_LQ = 4, 2, 15
G = np.array([[1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, 1.0, 0]])
H = np.array([[0.0, 0], [0, 0], [1.0, 0]])
h = np.array([0.8, 0.5, 1.0])
GF, hF = np.array([[0, 0, 0, 1.0]]), np.array([0.2])
Q, R, QF = np.diag([1.0, 0.5, 1.0, 0.5]), np.diag([0.2, 0.1]), 10.0 * np.eye(N)
GOAL, X0 = np.array([1.5, -1.0, 1.0, 0.5]), np.array([0.0, 0.0, 0.2, -0.1])
RAIL = 0.5


def lq_problem(seed: int):
    """(lqgx.System, Clarabel optimum) of the LQ problem of the module docstring."""
    r = np.random.default_rng(seed)
    A, B = np.eye(N) + 0.1 * r.normal(size=(N, N)), 0.5 * r.normal(size=(N, M))
    j = jnp.asarray

    def cost(x, u, t):
        d = x - j(GOAL)
        return 0.5 * d @ j(Q) @ d + 0.5 * u @ j(R) @ u

    def final_cost(x):
        d = x - j(GOAL)
        return 0.5 * d @ j(QF) @ d

    system = lqgx.System(lambda x, u: j(A) @ x + j(B) @ u, cost, final_cost, j(X0), T_LQ,
                         constraints=lambda x, u, t: j(G) @ x + j(H) @ u - j(h),
                         final_constraints=lambda x: j(GF) @ x - j(hF))
    X, U = cp.Variable((T_LQ + 1, N)), cp.Variable((T_LQ, M))
    cons = [X[0] == X0] + [X[t + 1] == A @ X[t] + B @ U[t] for t in range(T_LQ)]
    cons += [G @ X[t] + H @ U[t] <= h for t in range(T_LQ)] + [GF @ X[T_LQ] <= hF]
    objective = sum(0.5 * cp.quad_form(X[t] - GOAL, Q) + 0.5 * cp.quad_form(U[t], R)
                    for t in range(T_LQ)) + 0.5 * cp.quad_form(X[T_LQ] - GOAL, QF)
    problem = cp.Problem(cp.Minimize(objective), cons)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return system, float(problem.value)


def lq_rows(seeds) -> list[dict]:
    rows = []
    for seed in seeds:
        system, optimum = lq_problem(seed)
        res = lqgx.ilqg(system, constraint_tol=1e-8, tol=1e-12, gradient_tol=1e-10)
        violation = float(tree_max(constraint_values(system, res.states, res.actions)))
        rows.append({"seed": seed, "clarabel_cost": optimum, "lqgx_cost": float(res.cost),
                     "relative_gap": (float(res.cost) - optimum) / abs(optimum),
                     "violation": violation, "al_iterations": int(res.iterations),
                     "inner_iterations": int(np.sum(res.history["inner_iterations"])),
                     "message": res.message})
        print(f"LQ seed {seed}: gap {rows[-1]['relative_gap']:+.2e}, violation {violation:.1e}, "
              f"{rows[-1]['al_iterations']} AL / {rows[-1]['inner_iterations']} inner iterations")
    return rows


def rail(x, u, t):
    return jnp.array([x[0] - RAIL, -x[0] - RAIL])


def timed(solve):
    start = time.perf_counter()
    res = solve()
    jax.block_until_ready(res.actions)
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(solve().actions)
    return res, first, time.perf_counter() - start


def cartpole_runs() -> tuple[dict, dict]:
    free = lqgx.systems.make("cartpole")
    railed = free.replace(constraints=rail, final_constraints=lambda x: rail(x, None, None))
    runs = {"unconstrained": timed(lambda: lqgx.ilqg(free)),
            "rail": timed(lambda: lqgx.ilqg(railed, penalty_init=100.0, al_iterations=30))}
    summary, curves = {}, {}
    for label, (res, first, again) in runs.items():
        states = np.asarray(res.states)
        summary[label] = {"cost": float(res.cost), "max_abs_p": float(np.max(np.abs(states[:, 0]))),
                          "final_state": states[-1].tolist(), "iterations": int(res.iterations),
                          "message": res.message, "first_call_s": first, "solve_s": again}
        if label == "rail":
            summary[label]["inner_iterations"] = int(np.sum(res.history["inner_iterations"]))
            summary[label]["violation_history"] = np.asarray(
                res.history["constraint_violation"]).tolist()
        curves[label] = states
        print(f"cart-pole {label}: cost {summary[label]['cost']:.2f}, max |p| "
              f"{summary[label]['max_abs_p']:.4f} m, final q {states[-1, 1]:.3f} rad, "
              f"{res.message}, solve {again:.2f} s (first call {first:.1f} s)")
    return summary, curves


def figure(curves: dict, path: pathlib.Path, dt: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time_s = np.arange(curves["rail"].shape[0]) * dt
    fig, (ax_p, ax_q) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    styles = {"unconstrained": dict(color="tab:gray", ls="--", label="iLQG, no rail"),
              "rail": dict(color="tab:blue", label="iLQG + rail |p| ≤ 0.5 m (AL)")}
    for label, states in curves.items():
        ax_p.plot(time_s, states[:, 0], **styles[label])
        ax_q.plot(time_s, states[:, 1], **styles[label])
    for limit in (-RAIL, RAIL):
        ax_p.axhline(limit, color="tab:red", lw=1, ls=":")
    ax_p.axhspan(RAIL, 2, color="tab:red", alpha=0.08)
    ax_p.axhspan(-2, -RAIL, color="tab:red", alpha=0.08, label="outside the rail")
    low = min(-RAIL, curves["unconstrained"][:, 0].min()) - 0.1
    high = max(RAIL, curves["unconstrained"][:, 0].max()) + 0.1
    ax_p.set_ylim(low, high)
    ax_p.set_ylabel("cart position p (m)")
    ax_p.legend(loc="lower right", fontsize=8)
    ax_q.axhline(np.pi, color="k", lw=0.8, ls=":")
    ax_q.set_ylabel("pole angle q (rad, π = up)")
    ax_q.set_xlabel("time (s)")
    ax_p.set_title("Cart-pole swing-up on a rail: constrained vs unconstrained iLQG")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    (out / "benchmarks").mkdir(parents=True, exist_ok=True)
    lq = lq_rows(args.seeds)
    cartpole, curves = cartpole_runs()
    figure(curves, out / "path_constraints_cartpole.png", dt=0.05)
    report = {"lq_vs_clarabel": lq, "cartpole_rail": cartpole, "rail_m": RAIL}
    (out / "benchmarks" / "path_constraints.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out / 'benchmarks' / 'path_constraints.json'} and "
          f"{out / 'path_constraints_cartpole.png'}")


if __name__ == "__main__":
    main()
