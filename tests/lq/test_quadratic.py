"""Quadratic algebra: Q-function, -log policy, coordinate shifts, cost expansions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

import lqgx
from lqgx import lq

RNG = np.random.default_rng(11)
T, N, M = 3, 3, 2


def _quad(cost, t, x, u):
    return (0.5 * x @ cost.Cxx[t] @ x + 0.5 * u @ cost.Cuu[t] @ u + u @ cost.Cux[t] @ x
            + cost.cx[t] @ x + cost.cu[t] @ u + cost.c0[t])


def _random_cost():
    L = RNG.normal(size=(T, N + M, N + M))
    C = L @ np.swapaxes(L, 1, 2)
    return lq.QuadraticCost(Cxx=jnp.asarray(C[:, :N, :N]), Cuu=jnp.asarray(C[:, N:, N:]),
                            Cux=jnp.asarray(C[:, N:, :N]), cx=jnp.asarray(RNG.normal(size=(T, N))),
                            cu=jnp.asarray(RNG.normal(size=(T, M))),
                            c0=jnp.asarray(RNG.normal(size=T)))


def test_negative_log_policy_is_the_gaussian_log_density():
    L = RNG.normal(size=(T, M, M))
    policy = lq.LinearGaussianPolicy(K=jnp.asarray(RNG.normal(size=(T, M, N))),
                                     k=jnp.asarray(RNG.normal(size=(T, M))),
                                     cov=jnp.asarray(L @ np.swapaxes(L, 1, 2) + 0.3 * np.eye(M)))
    cost = lq.negative_log_policy(policy)
    for t in range(T):
        x, u = RNG.normal(size=N), RNG.normal(size=M)
        density = multivariate_normal(np.asarray(policy.mean(jnp.asarray(x), t)),
                                      np.asarray(policy.cov[t]))
        np.testing.assert_allclose(_quad(cost, t, x, u), -density.logpdf(u), rtol=1e-9)


def test_q_function_is_cost_plus_expected_next_value():
    cost = _random_cost()
    A, B, c = RNG.normal(size=(N, N)), RNG.normal(size=(N, M)), RNG.normal(size=N)
    W = np.diag(RNG.uniform(0.1, 0.5, N))
    dyn = lq.LinearDynamics(A=jnp.asarray(A[None]), B=jnp.asarray(B[None]), c=jnp.asarray(c[None]),
                            cov=jnp.asarray(W[None]))
    V = np.eye(N) * 2.0 + 0.1
    v, v0 = RNG.normal(size=N), 0.7
    Q = lq.q_function(jax.tree_util.tree_map(lambda a: a[0], cost),
                      jax.tree_util.tree_map(lambda a: a[0], dyn), jnp.asarray(V), jnp.asarray(v),
                      jnp.asarray(v0))
    x, u = RNG.normal(size=N), RNG.normal(size=M)
    y = A @ x + B @ u + c
    expected = _quad(cost, 0, x, u) + 0.5 * y @ V @ y + v @ y + v0 + 0.5 * np.trace(V @ W)
    got = (0.5 * x @ Q.Qxx @ x + 0.5 * u @ Q.Quu @ u + u @ Q.Qux @ x + Q.qx @ x + Q.qu @ u + Q.q0)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_shift_cost_maps_deviation_coordinates_to_absolute_ones():
    cost = _random_cost()
    x_ref, u_ref = jnp.asarray(RNG.normal(size=(T, N))), jnp.asarray(RNG.normal(size=(T, M)))
    shifted = lq.shift_cost(cost, x_ref, u_ref)
    final = lq.QuadraticFinalCost(Cxx=cost.Cxx[0], cx=cost.cx[0], c0=cost.c0[0])
    shifted_final = lq.shift_final_cost(final, x_ref[0])
    for t in range(T):
        x, u = RNG.normal(size=N), RNG.normal(size=M)
        np.testing.assert_allclose(_quad(shifted, t, x, u),
                                   _quad(cost, t, x - x_ref[t], u - u_ref[t]), rtol=1e-10)
    x = RNG.normal(size=N)
    dx = x - x_ref[0]
    np.testing.assert_allclose(
        0.5 * x @ shifted_final.Cxx @ x + shifted_final.cx @ x + shifted_final.c0,
        0.5 * dx @ final.Cxx @ dx + final.cx @ dx + final.c0, rtol=1e-10)


def test_weighted_sum_weights_each_step():
    a, b = _random_cost(), _random_cost()
    w = jnp.array([0.0, 1.0, 2.5])
    total = lq.weighted_sum([a, b], [1.0, w])
    x, u = RNG.normal(size=N), RNG.normal(size=M)
    for t in range(T):
        np.testing.assert_allclose(_quad(total, t, x, u),
                                   _quad(a, t, x, u) + float(w[t]) * _quad(b, t, x, u), rtol=1e-10)


def test_quadratize_and_linearize_match_the_functions():
    def dynamics(x, u):
        return jnp.stack([x[0] + 0.1 * jnp.sin(x[1]) * u[0], x[1] * x[0] + u[0]**2])

    def cost(x, u, t):
        return jnp.cos(x[0]) * x[1]**2 + (t + 1.0) * u[0]**2 * x[0]

    rng = np.random.default_rng(5)  # own stream: xdist changes the order of module-RNG draws
    system = lqgx.System(dynamics, cost, lambda x: jnp.exp(x[0]) * x[1], jnp.zeros(2), 2)
    states = jnp.asarray(rng.normal(size=(3, 2)))
    actions = jnp.asarray(rng.normal(size=(2, 1)))
    dyn = lqgx.linearize(system, states, actions)
    running, final = lqgx.quadratize(system, states, actions)
    eps = 1e-6
    for t in range(2):
        dx, du = eps * rng.normal(size=2), eps * rng.normal(size=1)
        x, u = states[t] + dx, actions[t] + du
        np.testing.assert_allclose(dyn.A[t] @ x + dyn.B[t] @ u + dyn.c[t], dynamics(x, u),
                                   atol=1e-10)
        np.testing.assert_allclose(_quad(running, t, np.asarray(dx), np.asarray(du)),
                                   cost(x, u, t), atol=1e-12, rtol=1e-10)
    with pytest.raises(ValueError, match="method"):
        lqgx.linearize(system, states, actions, method="magic")
    with pytest.raises(ValueError, match="fd"):
        lqgx.linearize(system, states, actions, method="fd")
    with pytest.raises(ValueError, match="actions"):
        lqgx.linearize(system, states, actions[:, None])
