"""iLQG and DDP: exact on LQ problems (cvxpy oracle), swing-up of a torque-limited pendulum,
float32/float64, vmap over initial states, and clean failure on bad input or NaN dynamics."""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx

from .lq_problems import tracking_costs

# ---- a linear-quadratic problem and its QP oracle -------------------------------------------
RNG = np.random.default_rng(7)
N, M, T = 3, 2, 15
A_LQ = np.eye(N) + 0.1 * RNG.normal(size=(N, N))
B_LQ = RNG.normal(size=(N, M)) * 0.5
C_LQ = 0.05 * RNG.normal(size=N)
Q_LQ, R_LQ, QF_LQ = np.diag([1.0, 0.5, 2.0]), np.diag([0.3, 0.1]), 5.0 * np.eye(N)
GOAL = np.array([1.0, -0.5, 0.2])
X0_LQ = np.array([2.0, -1.0, 0.5])
BOUND = 0.6


def lq_dynamics(x, u):
    return jnp.asarray(A_LQ) @ x + jnp.asarray(B_LQ) @ u + jnp.asarray(C_LQ)


lq_cost, lq_final = tracking_costs(GOAL, Q_LQ, R_LQ, QF_LQ)


def qp_oracle(bound=None):
    X, U = cp.Variable((T + 1, N)), cp.Variable((T, M))
    cons = [X[0] == X0_LQ] + [X[t + 1] == A_LQ @ X[t] + B_LQ @ U[t] + C_LQ for t in range(T)]
    if bound is not None:
        cons += [U <= bound, U >= -bound]
    obj = sum(0.5 * cp.quad_form(X[t] - GOAL, Q_LQ) + 0.5 * cp.quad_form(U[t], R_LQ)
              for t in range(T)) + 0.5 * cp.quad_form(X[T] - GOAL, QF_LQ)
    problem = cp.Problem(cp.Minimize(obj), cons)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return problem.value, U.value


@pytest.fixture(scope="module")
def lq_system():
    return lqgx.System(lq_dynamics, lq_cost, lq_final, jnp.asarray(X0_LQ), T, name="lq")


@pytest.fixture(scope="module")
def boxed_lq_system(lq_system):
    return lq_system.replace(action_bounds=(-BOUND * jnp.ones(M), BOUND * jnp.ones(M)))


def test_ilqg_solves_an_lq_problem_in_one_iteration(lq_system):
    optimum, _ = qp_oracle()
    one = lqgx.ilqg(lq_system, iterations=1)
    assert abs(float(one.cost) - optimum) <= 1e-6 * abs(optimum)
    full = lqgx.ilqg(lq_system)
    assert bool(full.converged), full.message
    assert abs(float(full.history["cost"][0]) - optimum) <= 1e-6 * abs(optimum)
    assert abs(float(full.cost) - optimum) <= 1e-6 * abs(optimum)


def test_ilqg_with_box_limits_matches_the_constrained_qp(boxed_lq_system):
    optimum, U_opt = qp_oracle(BOUND)
    unconstrained, _ = qp_oracle()
    assert optimum > unconstrained + 1e-3  # the limits are active
    res = lqgx.ilqg(boxed_lq_system, tol=1e-12, gradient_tol=1e-10)
    assert bool(res.converged), res.message
    assert abs(float(res.cost) - optimum) <= 1e-6 * abs(optimum)
    np.testing.assert_allclose(res.actions, U_opt, atol=1e-4)
    assert float(jnp.max(jnp.abs(res.actions))) <= BOUND


def test_ddp_equals_ilqg_on_linear_dynamics(lq_system):
    res_ilqg, res_ddp = lqgx.ilqg(lq_system), lqgx.ddp(lq_system)
    np.testing.assert_allclose(res_ddp.actions, res_ilqg.actions, atol=1e-9)


def test_policy_is_the_lqg_policy_at_the_optimum(lq_system):
    res = lqgx.ilqg(lq_system)
    assert res.policy.K.shape == (T, M, N) and res.policy.cov.shape == (T, M, M)
    for t in (0, T // 2, T - 1):
        np.testing.assert_allclose(res.policy.mean(res.states[t], t), res.actions[t], atol=1e-10)
    assert np.all(np.linalg.eigvalsh(np.asarray(res.policy.cov)) > 0)


# ---- a torque-limited pendulum swing-up (plain JAX dynamics) --------------------------------
DT, MAX_TORQUE = 0.05, 1.0  # the static-hold torque m g l = 9.81 * 0.25 > 1: it must pump


def pendulum(x, u):
    theta, omega = x[0], x[1]
    accel = (-9.81 * jnp.sin(theta) - 0.1 * omega + 4.0 * u[0])  # m l^2 = 0.25, u scaled
    omega = omega + DT * accel
    return jnp.stack([theta + DT * omega, omega])


def pendulum_cost(x, u, t):
    return 0.01 * jnp.sum(u**2)


def pendulum_final(x):
    return 100.0 * ((1 + jnp.cos(x[0]))**2 + jnp.sin(x[0])**2) + x[1]**2


def upright(theta):
    return np.cos(np.asarray(theta)) < -0.99


@pytest.fixture(scope="module", params=["float64", "float32"])
def swing_up(request):
    dtype = jnp.dtype(request.param)
    system = lqgx.System(pendulum, pendulum_cost, pendulum_final, jnp.zeros(2, dtype), 100,
                         action_bounds=(-MAX_TORQUE * jnp.ones(1, dtype),
                                        MAX_TORQUE * jnp.ones(1, dtype)))
    res = lqgx.ilqg(system, iterations=150, actions=0.1 * jnp.ones((100, 1), dtype))
    return system, res, dtype


def test_swing_up_reaches_upright_within_limits(swing_up):
    _, res, dtype = swing_up
    assert bool(res.converged), res.message
    assert res.states.dtype == dtype and res.policy.K.dtype == dtype
    assert upright(res.states[-1, 0]), res.states[-1]
    assert float(jnp.max(jnp.abs(res.actions))) <= MAX_TORQUE
    assert float(jnp.max(jnp.abs(res.actions))) > 0.99 * MAX_TORQUE  # the limit binds
    assert float(res.cost) < 1.0


def test_swing_up_cost_decreases_monotonically(swing_up):
    _, res, _ = swing_up
    history = np.asarray(res.history["cost"])
    assert len(history) == int(res.iterations) and np.all(np.isfinite(history))
    assert np.all(np.diff(history) <= 0)


def test_ddp_swings_up_too():
    system = lqgx.System(pendulum, pendulum_cost, pendulum_final, jnp.zeros(2), 100,
                         action_bounds=(-jnp.ones(1), jnp.ones(1)))
    res = lqgx.ddp(system, iterations=150, actions=0.1 * jnp.ones((100, 1)))
    assert bool(res.converged) and upright(res.states[-1, 0])


def test_solve_batch_matches_separate_solves(lq_system):
    x0s = jnp.asarray(X0_LQ) + jnp.array([[0.0, 0.0, 0.0], [0.5, -0.2, 0.1], [-1.0, 0.3, 0.0]])
    batch = lqgx.solve_batch(lqgx.ilqg, lq_system, x0s)
    assert batch.actions.shape == (3, T, M)
    for i in range(3):
        single = lqgx.ilqg(lq_system.replace(x0=x0s[i]))
        np.testing.assert_allclose(batch.actions[i], single.actions, atol=1e-9)
        np.testing.assert_allclose(batch.cost[i], single.cost, rtol=1e-12)
    assert batch.message == ["converged: update step below tol"] * 3 or all(batch.converged)


# ---- robustness ---------------------------------------------------------------------------
def test_bad_initial_actions_are_rejected(lq_system):
    with pytest.raises(ValueError, match="actions"):
        lqgx.ilqg(lq_system, actions=jnp.zeros((T + 1, M)))
    with pytest.raises(ValueError, match="iterations"):
        lqgx.ilqg(lq_system, iterations=0)
    with pytest.raises(TypeError, match="unknown option"):
        lqgx.ilqg(lq_system, regularisation="state")
    with pytest.raises(ValueError, match="regularization"):
        lqgx.ilqg(lq_system, regularization="both")


def nan_beyond_half_turn(x, u):
    """Pendulum dynamics that return NaN once the angle passes pi/2: a swing-up cannot finish."""
    nxt = pendulum(x, u)
    return jnp.where(jnp.abs(nxt[0]) > 1.5, jnp.nan, nxt)


def test_nan_dynamics_give_a_finite_policy_and_a_message():
    system = lqgx.System(nan_beyond_half_turn, pendulum_cost, pendulum_final, jnp.zeros(2), 40,
                         action_bounds=(-jnp.ones(1), jnp.ones(1)))
    res = lqgx.ilqg(system, iterations=60, actions=0.1 * jnp.ones((40, 1)))
    assert np.all(np.isfinite(np.asarray(res.states)))
    for leaf in jax.tree_util.tree_leaves(res.policy):
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert isinstance(res.message, str) and res.message
    assert np.all(np.abs(np.asarray(res.states[:, 0])) <= 1.5)


def test_nan_initial_rollout_stops_cleanly():
    system = lqgx.System(nan_beyond_half_turn, pendulum_cost, pendulum_final,
                         jnp.array([1.45, 3.0]), 10, action_bounds=(-jnp.ones(1), jnp.ones(1)))
    res = lqgx.ilqg(system, iterations=5)
    assert not bool(res.converged)
    assert "not finite" in res.message
    for leaf in jax.tree_util.tree_leaves(res.policy):
        assert np.all(np.isfinite(np.asarray(leaf)))


def kinked(x, u):
    """Dynamics with an infinite derivative at the origin (sqrt|x|): derivatives are NaN there."""
    return jnp.stack([x[0] + jnp.sqrt(jnp.abs(x[0])) + u[0]])


def test_nonfinite_derivatives_stop_with_a_message():
    system = lqgx.System(kinked, lambda x, u, t: jnp.sum(u**2), lambda x: jnp.sum(x**2),
                         jnp.zeros(1), 5)
    res = lqgx.ilqg(system, iterations=5)
    assert not bool(res.converged)
    assert "derivatives" in res.message
    for leaf in jax.tree_util.tree_leaves(res.policy):
        assert np.all(np.isfinite(np.asarray(leaf)))
