"""Foundation checks with numbers: iLQG vs a cvxpy QP (with and without box limits), Riccati gains vs
scipy's DARE, and the torque-limited pendulum swing-up in float32 and float64.

    python benchmarks/ilqg_oracles.py [--out results/benchmarks]   -> ilqg_oracles.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

try:
    import cvxpy as cp
except ImportError:   # an oracle, not a dependency of lqgx
    raise SystemExit("benchmarks/ilqg_oracles.py needs cvxpy: pip install 'lqgx[oracles]'") from None
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

jax.config.update("jax_enable_x64", True)

import lqgx  # noqa: E402
from lqgx import lq  # noqa: E402


def lq_problem(seed=7, n=3, m=2, T=15):
    rng = np.random.default_rng(seed)
    A = np.eye(n) + 0.1 * rng.normal(size=(n, n))
    B = 0.5 * rng.normal(size=(n, m))
    c = 0.05 * rng.normal(size=n)
    Q, R, Qf = np.diag(rng.uniform(0.5, 2, n)), np.diag(rng.uniform(0.1, 0.5, m)), 5 * np.eye(n)
    x0, goal = rng.normal(size=n) * 2, rng.normal(size=n)
    system = lqgx.System(lambda x, u: jnp.asarray(A) @ x + jnp.asarray(B) @ u + jnp.asarray(c),
                         lambda x, u, t: 0.5 * (x - goal) @ Q @ (x - goal) + 0.5 * u @ R @ u,
                         lambda x: 0.5 * (x - goal) @ Qf @ (x - goal), jnp.asarray(x0), T)

    def oracle(bound):
        X, U = cp.Variable((T + 1, n)), cp.Variable((T, m))
        cons = [X[0] == x0] + [X[t + 1] == A @ X[t] + B @ U[t] + c for t in range(T)]
        if bound is not None:
            cons += [cp.abs(U) <= bound]
        obj = sum(0.5 * cp.quad_form(X[t] - goal, Q) + 0.5 * cp.quad_form(U[t], R)
                  for t in range(T)) + 0.5 * cp.quad_form(X[T] - goal, Qf)
        problem = cp.Problem(cp.Minimize(obj), cons)
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        return problem.value

    return system, oracle


def cvxpy_agreement():
    system, oracle = lq_problem()
    report = {}
    one = lqgx.ilqg(system, iterations=1)
    optimum = oracle(None)
    report["unbounded"] = {"qp_cost": optimum, "ilqg_cost_after_1_iteration": float(one.cost),
                           "relative_error": abs(float(one.cost) - optimum) / abs(optimum)}
    for bound in (0.6, 0.3):
        boxed = system.replace(action_bounds=(-bound * jnp.ones(2), bound * jnp.ones(2)))
        res = lqgx.ilqg(boxed, tol=1e-12, gradient_tol=1e-10)
        optimum = oracle(bound)
        report[f"box_{bound}"] = {"qp_cost": optimum, "ilqg_cost": float(res.cost),
                                  "iterations": int(res.iterations),
                                  "relative_error": abs(float(res.cost) - optimum) / abs(optimum),
                                  "max_abs_action": float(jnp.max(jnp.abs(res.actions)))}
    return report


def dare_agreement(T=300):
    rng = np.random.default_rng(0)
    n, m = 4, 2
    A = np.eye(n) + 0.1 * rng.normal(size=(n, n))
    B = rng.normal(size=(n, m))
    Q, R = np.diag(rng.uniform(0.5, 2.0, n)), np.diag(rng.uniform(0.1, 1.0, m))
    P = scipy.linalg.solve_discrete_are(A, B, Q, R)
    K_inf = -np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    cost = lq.QuadraticCost(Cxx=jnp.broadcast_to(Q, (T, n, n)), Cuu=jnp.broadcast_to(R, (T, m, m)),
                            Cux=jnp.zeros((T, m, n)), cx=jnp.zeros((T, n)), cu=jnp.zeros((T, m)),
                            c0=jnp.zeros(T))
    dyn = lq.LinearDynamics(A=jnp.broadcast_to(A, (T, n, n)), B=jnp.broadcast_to(B, (T, n, m)),
                            c=jnp.zeros((T, n)), cov=jnp.zeros((T, n, n)))
    final = lq.QuadraticFinalCost(Cxx=jnp.asarray(Q), cx=jnp.zeros(n), c0=jnp.array(0.0))
    sol = lq.riccati_backward_pass(cost, final, dyn, 0.0)
    return {"horizon": T, "max_abs_gain_error_t0": float(np.max(np.abs(sol.K[0] - K_inf))),
            "max_abs_value_error_t0": float(np.max(np.abs(sol.value.Vxx[0] - P)))}


def pendulum(x, u, dt=0.05):
    omega = x[1] + dt * (-9.81 * jnp.sin(x[0]) - 0.1 * x[1] + 4.0 * u[0])
    return jnp.stack([x[0] + dt * omega, omega])


def swing_up(dtype):
    system = lqgx.System(pendulum, lambda x, u, t: 0.01 * jnp.sum(u**2),
                         lambda x: 100.0 * ((1 + jnp.cos(x[0]))**2 + jnp.sin(x[0])**2) + x[1]**2,
                         jnp.zeros(2, dtype), 100,
                         action_bounds=(-jnp.ones(1, dtype), jnp.ones(1, dtype)))
    start = time.perf_counter()
    res = lqgx.ilqg(system, iterations=150, actions=0.1 * jnp.ones((100, 1), dtype))
    jax.block_until_ready(res.cost)
    history = np.asarray(res.history["cost"], dtype=np.float64)
    return {"dtype": str(jnp.dtype(dtype)), "converged": bool(res.converged), "message": res.message,
            "iterations": int(res.iterations), "final_cost": float(res.cost),
            "final_angle": float(res.states[-1, 0]), "cos_final_angle": float(
                jnp.cos(res.states[-1, 0])),
            "monotone": bool(np.all(np.diff(history) <= 0)),
            "max_abs_action": float(jnp.max(jnp.abs(res.actions))),
            "first_call_s": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args()
    report = {"cvxpy": cvxpy_agreement(), "dare": dare_agreement(),
              "swing_up": [swing_up(jnp.float64), swing_up(jnp.float32)]}
    print(json.dumps(report, indent=2))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ilqg_oracles.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
