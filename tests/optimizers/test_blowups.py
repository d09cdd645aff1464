"""Blow-up suite for the GPS / SAPS / ESAPS outer loops on a nonlinear system (issue: "every run
ends finite with a clear message"): huge and tiny step bounds, dynamics that explode (finite but
~1e38, and inf from the first step), and a simulator that returns NaN once the policy reaches a
region it only gets to after some iterations."""

import jax.numpy as jnp
import numpy as np
import pytest

import lqgx


def pendulum(nan_above=None, gain=None, T=12):
    """The torque-limited pendulum of test_gps, optionally scaled by ``gain`` each step
    (exploding) or returning NaN once |angle| > ``nan_above`` (a simulator that breaks)."""
    dt = 0.1

    def dynamics(x, u):
        x_next = jnp.array([x[0] + dt * x[1], x[1] + dt * (-9.81 * jnp.sin(x[0]) + u[0])])
        if gain is not None:
            x_next = gain * x_next
        if nan_above is not None:
            x_next = jnp.where(jnp.abs(x_next[0]) > nan_above, jnp.nan, x_next)
        return x_next

    return lqgx.System(dynamics, lambda x, u, t: 0.01 * (x @ x) + 0.01 * u @ u,
                       lambda x: 10.0 * ((x[0] - jnp.pi) ** 2 + 0.1 * x[1] ** 2),
                       x0=jnp.zeros(2), horizon=T, x0_cov=1e-4 * jnp.eye(2),
                       noise_cov=1e-4 * jnp.eye(2),
                       action_bounds=(-8.0 * jnp.ones(1), 8.0 * jnp.ones(1)))


def _ends_finite_with_a_message(res):
    assert np.isfinite(float(res.cost))
    for leaf in (res.policy.K, res.policy.k, res.policy.cov, res.states, res.actions):
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert int(res.status) in lqgx.result.STATUS_MESSAGES and res.message
    if int(res.status) == 104:
        assert "non-finite" in res.message and not bool(res.converged)


CASES = {
    "huge eps": (dict(), 1e6),
    "tiny eps": (dict(), 1e-8),
    "NaN after some iterations": (dict(nan_above=2.0), 2.0),
    "exploding, finite": (dict(gain=50.0), 0.5),
}


@pytest.mark.parametrize("case", list(CASES))
def test_gps_ends_finite_with_a_message(case):
    options, eps = CASES[case]
    res = lqgx.gps(pendulum(**options), eps, iterations=5, samples=4)
    _ends_finite_with_a_message(res)
    accepted = np.asarray(res.history["accepted"])
    if case == "tiny eps":      # a step of 1e-8 nats: nothing moves, nothing is rejected
        assert accepted.all() and int(res.status) == 2
        np.testing.assert_allclose(float(res.cost), float(res.history["cost_sampled"][0]),
                                   rtol=0.05)
    if case == "NaN after some iterations":  # the simulator broke: updates were rejected
        assert not accepted.all() and int(res.status) in (3, 104)


@pytest.mark.parametrize("algo", ["saps", "esaps"])
def test_state_action_bounds_end_finite_with_a_message_at_a_huge_eps(algo):
    options = dict(entropy_drop=1.0) if algo == "esaps" else {}
    res = getattr(lqgx, algo)(pendulum(nan_above=2.0), 1e6, iterations=4, samples=4, **options)
    _ends_finite_with_a_message(res)


def test_dynamics_that_overflow_from_the_first_step_stop_with_a_message():
    res = lqgx.gps(pendulum(gain=1e30), 0.5, iterations=3, samples=4)
    assert int(res.status) >= 100 and not bool(res.converged)
    assert "not finite" in res.message or "non-finite" in res.message
