"""Backward passes against scipy's DARE, the box QP against cvxpy, the soft pass against quadrature."""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from lqgx import lq


def _time_invariant(A, B, T, c=None, cov=None):
    n, m = B.shape
    return lq.LinearDynamics(
        A=jnp.broadcast_to(A, (T, n, n)), B=jnp.broadcast_to(B, (T, n, m)),
        c=jnp.zeros((T, n)) if c is None else jnp.broadcast_to(c, (T, n)),
        cov=jnp.zeros((T, n, n)) if cov is None else jnp.broadcast_to(cov, (T, n, n)))


def _quadratic_cost(Q, R, T, q=None, r=None):
    n, m = Q.shape[0], R.shape[0]
    return lq.QuadraticCost(Cxx=jnp.broadcast_to(Q, (T, n, n)), Cuu=jnp.broadcast_to(R, (T, m, m)),
                            Cux=jnp.zeros((T, m, n)),
                            cx=jnp.zeros((T, n)) if q is None else jnp.broadcast_to(q, (T, n)),
                            cu=jnp.zeros((T, m)) if r is None else jnp.broadcast_to(r, (T, m)),
                            c0=jnp.zeros(T))


@pytest.fixture(scope="module")
def lqr_problem():
    rng = np.random.default_rng(0)
    n, m = 4, 2
    A = np.eye(n) + 0.1 * rng.normal(size=(n, n))
    B = rng.normal(size=(n, m))
    Q = np.diag(rng.uniform(0.5, 2.0, n))
    R = np.diag(rng.uniform(0.1, 1.0, m))
    return A, B, Q, R


def test_long_horizon_gain_converges_to_dare_gain(lqr_problem):
    A, B, Q, R = lqr_problem
    T = 300
    P = scipy.linalg.solve_discrete_are(A, B, Q, R)
    K_inf = -np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    final = lq.QuadraticFinalCost(Cxx=jnp.asarray(Q), cx=jnp.zeros(4), c0=jnp.array(0.0))
    sol = lq.riccati_backward_pass(_quadratic_cost(Q, R, T), final, _time_invariant(A, B, T), 0.0)
    assert bool(sol.ok)
    np.testing.assert_allclose(sol.K[0], K_inf, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(sol.value.Vxx[0], P, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("scheme", ["state", "control"])
def test_regularization_shrinks_the_step(lqr_problem, scheme):
    A, B, Q, R = lqr_problem
    T = 10
    cost = _quadratic_cost(Q, R, T, r=jnp.ones(2))
    final = lq.QuadraticFinalCost(Cxx=jnp.asarray(Q), cx=jnp.zeros(4), c0=jnp.array(0.0))
    dyn = _time_invariant(A, B, T)
    steps = [float(jnp.linalg.norm(lq.riccati_backward_pass(cost, final, dyn, mu,
                                                              scheme=scheme).k))
             for mu in (0.0, 1.0, 100.0)]
    assert steps[0] > steps[1] > steps[2] > 0


def test_backward_pass_reports_indefinite_q_uu(lqr_problem):
    A, B, Q, _ = lqr_problem
    T = 5
    cost = _quadratic_cost(Q, -np.eye(2), T)
    final = lq.QuadraticFinalCost(Cxx=jnp.zeros((4, 4)), cx=jnp.zeros(4), c0=jnp.array(0.0))
    assert not bool(lq.riccati_backward_pass(cost, final, _time_invariant(A, B, T), 0.0).ok)
    assert bool(lq.riccati_backward_pass(cost, final, _time_invariant(A, B, T), 10.0,
                                         scheme="control").ok)


@pytest.mark.parametrize("seed", range(6))
def test_box_qp_matches_cvxpy(seed):
    rng = np.random.default_rng(seed)
    m = 5
    L = rng.normal(size=(m, m))
    H = L @ L.T + 0.1 * np.eye(m)
    g = 3.0 * rng.normal(size=m)
    lower, upper = -rng.uniform(0.1, 1.0, m), rng.uniform(0.1, 1.0, m)
    x = cp.Variable(m)
    problem = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, H) + g @ x), [x >= lower, x <= upper])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    sol = lq.box_qp(jnp.asarray(H), jnp.asarray(g), jnp.asarray(lower), jnp.asarray(upper),
                    jnp.zeros(m))
    assert bool(sol.ok)
    np.testing.assert_allclose(sol.x, x.value, atol=1e-6)
    value = lambda v: 0.5 * v @ H @ v + g @ v  # noqa: E731
    assert value(np.asarray(sol.x)) <= problem.value + 1e-9
    assert np.all(np.asarray(sol.x) >= lower) and np.all(np.asarray(sol.x) <= upper)
    at_bound = np.isclose(sol.x, lower) | np.isclose(sol.x, upper)
    assert np.all(~np.asarray(sol.free) <= at_bound)


def test_box_qp_without_active_bounds_is_newton():
    H = jnp.array([[2.0, 0.5], [0.5, 1.0]])
    g = jnp.array([0.3, -0.2])
    sol = lq.box_qp(H, g, -10 * jnp.ones(2), 10 * jnp.ones(2), jnp.zeros(2))
    np.testing.assert_allclose(sol.x, -np.linalg.solve(H, g), atol=1e-12)
    assert bool(jnp.all(sol.free))


@pytest.fixture(scope="module")
def scalar_problem():
    """A 1-D stochastic LQ problem (n = m = 1) with an offset and cross terms."""
    T = 4
    dyn = lq.LinearDynamics(A=jnp.full((T, 1, 1), 0.9), B=jnp.full((T, 1, 1), 0.5),
                            c=jnp.full((T, 1), 0.1), cov=jnp.full((T, 1, 1), 0.05))
    cost = lq.QuadraticCost(Cxx=jnp.full((T, 1, 1), 1.0), Cuu=jnp.full((T, 1, 1), 0.3),
                            Cux=jnp.full((T, 1, 1), 0.1), cx=jnp.full((T, 1), -0.2),
                            cu=jnp.full((T, 1), 0.05), c0=jnp.full((T,), 0.4))
    final = lq.QuadraticFinalCost(Cxx=jnp.eye(1) * 2.0, cx=jnp.array([0.3]), c0=jnp.array(0.1))
    return dyn, cost, final


def test_soft_value_matches_quadrature_of_the_log_partition(scalar_problem):
    dyn, cost, final = scalar_problem
    tau = 0.7
    sol = lq.soft_backward_pass(cost, final, dyn, tau)
    t, x = 1, 0.37
    V = sol.value
    Q = lq.q_function(jax.tree_util.tree_map(lambda a: a[t], cost),
                      jax.tree_util.tree_map(lambda a: a[t], dyn),
                      V.Vxx[t + 1], V.vx[t + 1], V.v0[t + 1])
    u = np.linspace(-40, 40, 400001)
    q_values = (0.5 * Q.Qxx[0, 0] * x**2 + 0.5 * Q.Quu[0, 0] * u**2 + Q.Qux[0, 0] * u * x
                + Q.qx[0] * x + Q.qu[0] * u + Q.q0)
    log_z = scipy.special.logsumexp(-q_values / tau) + np.log(u[1] - u[0])
    soft_value = 0.5 * V.Vxx[t, 0, 0] * x**2 + V.vx[t, 0] * x + V.v0[t]
    np.testing.assert_allclose(soft_value, -tau * log_z, rtol=1e-10)


def test_soft_value_equals_expected_cost_minus_entropy(scalar_problem):
    """V_0 = E[sum cost] - sum_t tau H(pi_t) under the soft-optimal policy (closed forms)."""
    dyn, cost, final = scalar_problem
    tau = 0.7
    sol = lq.soft_backward_pass(cost, final, dyn, tau)
    x0_mean, x0_cov = jnp.array([0.2]), jnp.array([[0.3]])
    traj = lq.propagate(dyn, sol.policy, x0_mean, x0_cov)
    total = jnp.sum(lq.expected_cost(cost, final, traj)) - tau * jnp.sum(
        lq.policy_entropy(sol.policy))
    V = sol.value
    expected_v0 = (0.5 * jnp.sum(V.Vxx[0] * (x0_cov + jnp.outer(x0_mean, x0_mean)))
                   + V.vx[0] @ x0_mean + V.v0[0])
    np.testing.assert_allclose(total, expected_v0, rtol=1e-10)


def test_soft_pass_at_zero_temperature_is_the_hard_pass(lqr_problem):
    A, B, Q, R = lqr_problem
    T = 12
    cost = _quadratic_cost(Q, R, T, q=0.1 * jnp.ones(4), r=jnp.array([0.2, -0.1]))
    final = lq.QuadraticFinalCost(Cxx=jnp.asarray(Q), cx=jnp.ones(4), c0=jnp.array(0.5))
    dyn = _time_invariant(A, B, T)
    hard = lq.riccati_backward_pass(cost, final, dyn, 0.0)
    for tau in (1e-3, 1e-6, 0.0):
        soft = lq.soft_backward_pass(cost, final, dyn, tau)
        np.testing.assert_allclose(soft.policy.K, hard.K, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(soft.policy.k, hard.k, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(soft.value.Vxx, hard.value.Vxx, rtol=1e-9, atol=1e-9)
        entropy_scale = T * tau * (1.0 + abs(np.log(tau))) if tau > 0 else 0.0
        np.testing.assert_allclose(soft.value.v0, hard.value.v0, atol=entropy_scale + 1e-9)
        assert float(jnp.max(jnp.abs(soft.policy.cov))) <= tau * 10 + 1e-15
