"""MPC: on a linear-quadratic problem the receding-horizon controller is the H-step LQR (numpy
Riccati oracle), in closed loop too; TVLG feedback between replans; the shift; errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
from lqgx.controllers import MPC, closed_loop, push
from lqgx.controllers.mpc import _shift

RNG = np.random.default_rng(3)
N, M, T, H = 3, 2, 12, 6
A = np.eye(N) + 0.1 * RNG.normal(size=(N, N))
B = RNG.normal(size=(N, M)) * 0.5
Q, R, QF = np.diag([1.0, 0.5, 2.0]), np.diag([0.3, 0.1]), 5.0 * np.eye(N)
X0 = np.array([2.0, -1.0, 0.5])


def riccati_gains(horizon):
    """Gains L_j (u_j = -L_j x) of the ``horizon``-step LQR with terminal cost QF."""
    P, gains = QF, []
    for _ in range(horizon):
        L = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P = Q + A.T @ P @ (A - B @ L)
        gains.append(L)
    return gains[::-1]


@pytest.fixture(scope="module")
def lq():
    return lqgx.System(lambda x, u: jnp.asarray(A) @ x + jnp.asarray(B) @ u,
                       lambda x, u, t: 0.5 * x @ jnp.asarray(Q) @ x + 0.5 * u @ jnp.asarray(R) @ u,
                       lambda x: 0.5 * x @ jnp.asarray(QF) @ x, jnp.asarray(X0), T, name="lq")


def simulate(gain_at, steps=T, disturbance=None):
    """numpy closed loop u_t = -gain_at(t) x_t, its actions and cost."""
    x, xs, us, cost = X0.copy(), [], [], 0.0
    for t in range(steps):
        u = -gain_at(t) @ x
        cost += 0.5 * x @ Q @ x + 0.5 * u @ R @ u
        xs.append(x)
        us.append(u)
        x = A @ x + B @ u + (0.0 if disturbance is None else disturbance[t])
    return np.array(us), cost + 0.5 * x @ QF @ x


def test_mpc_is_the_receding_horizon_lqr(lq):
    mpc = MPC(lq, horizon=H, iterations=1, init_iterations=1)
    d = np.asarray(push(lq, T, 4, 0.7))
    loop = closed_loop(lq, mpc, jax.random.PRNGKey(0), disturbance=d)
    L0 = riccati_gains(H)[0]
    us, cost = simulate(lambda t: L0, disturbance=d)
    np.testing.assert_allclose(loop.actions, us, atol=1e-8)
    np.testing.assert_allclose(float(loop.cost), cost, rtol=1e-10)
    # the pure step: from any state, the first LQR action
    state = mpc.init(jnp.asarray(X0))
    x = jnp.array([0.3, -0.2, 1.0])
    u, state = mpc.step(state, x)
    np.testing.assert_allclose(u, -L0 @ np.asarray(x), atol=1e-8)
    assert int(state.t) == 1


def test_tvlg_feedback_between_replans(lq):
    mpc = MPC(lq, horizon=H, iterations=1, init_iterations=1, replan_every=3)
    loop = closed_loop(lq, mpc, jax.random.PRNGKey(0))
    gains = riccati_gains(H)
    us, cost = simulate(lambda t: gains[t % 3])
    np.testing.assert_allclose(loop.actions, us, atol=1e-8)
    np.testing.assert_allclose(float(loop.cost), cost, rtol=1e-10)


def test_full_horizon_feedback_and_open_loop_match_the_plan(lq):
    res = lqgx.ilqg(lq, iterations=1)
    key = jax.random.PRNGKey(0)
    for controller in (res.policy, res.actions):
        loop = closed_loop(lq, controller, key)
        np.testing.assert_allclose(loop.actions, res.actions, atol=1e-8)
        np.testing.assert_allclose(float(loop.cost), float(res.cost), rtol=1e-10)
    # a push: the feedback law reacts (it is the T-step LQR), the open-loop plan cannot
    d = np.asarray(push(lq, T, 3, 1.0))
    gains = riccati_gains(T)
    us, cost = simulate(lambda t: gains[t], disturbance=d)
    feedback = closed_loop(lq, res.policy, key, disturbance=d)
    open_loop = closed_loop(lq, res.actions, key, disturbance=d)
    np.testing.assert_allclose(float(feedback.cost), cost, rtol=1e-10)
    assert float(open_loop.cost) > float(feedback.cost)


def test_process_noise_uses_common_random_numbers(lq):
    noisy = lq.replace(noise_cov=0.01 * jnp.eye(N), x0_cov=0.01 * jnp.eye(N))
    res = lqgx.ilqg(noisy, iterations=1)
    a = closed_loop(noisy, res.policy, jax.random.PRNGKey(4))
    b = closed_loop(noisy, res.actions, jax.random.PRNGKey(4))
    np.testing.assert_allclose(a.states[0], b.states[0])       # the same x0 draw
    assert not np.allclose(a.states[0], X0)
    c = closed_loop(noisy, res.policy, jax.random.PRNGKey(5))
    assert not np.allclose(a.states, c.states)


def test_shift_advances_and_repeats_the_last_step():
    a = jnp.arange(5.0)[:, None] * jnp.ones((5, 2))
    np.testing.assert_array_equal(_shift(a, 2)[:, 0], [2.0, 3.0, 4.0, 4.0, 4.0])
    np.testing.assert_array_equal(_shift(a, 0), a)


def test_sample_based_solver_runs_in_the_loop(lq):
    noisy = lq.replace(noise_cov=1e-4 * jnp.eye(N))
    mpc = MPC(noisy, "gps", horizon=H, iterations=2, init_iterations=10, eps=1.0, samples=8)
    loop = closed_loop(noisy, mpc, jax.random.PRNGKey(1), steps=4)
    assert loop.actions.shape == (4, M) and bool(jnp.all(jnp.isfinite(loop.actions)))
    L0 = riccati_gains(H)[0]
    uncontrolled = closed_loop(noisy, jnp.zeros((4, M)), jax.random.PRNGKey(1))
    assert float(jnp.sum(loop.costs)) < float(jnp.sum(uncontrolled.costs))
    assert np.linalg.norm(np.asarray(loop.actions[0]) + L0 @ X0) < 0.5 * np.linalg.norm(L0 @ X0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(solver="lqr"), "solver must be one of"),
    (dict(horizon=0), "horizon must be an integer"),
    (dict(iterations=1.5), "iterations must be an integer"),
    (dict(replan_every=99), "replan_every=99 exceeds"),
    (dict(solver="gps"), "needs eps"),
    (dict(solver="esaps", eps=1.0), "needs delta"),
])
def test_bad_arguments_name_themselves(lq, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MPC(lq, **kwargs)


def test_closed_loop_checks_its_arguments(lq):
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="disturbance must have shape"):
        closed_loop(lq, jnp.zeros((T, M)), key, disturbance=jnp.zeros((T, N + 1)))
    with pytest.raises(ValueError, match="open-loop actions"):
        closed_loop(lq, jnp.zeros((T, M + 1)), key)
    with pytest.raises(ValueError, match="steps must be"):
        closed_loop(lq, jnp.zeros((T, M)), key, steps=0)
