"""GPS one-step update (thesis ch. 3) on exact linear-Gaussian problems, and the outer loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
from lqgx.lq import riccati_backward_pass
from lqgx.optimizers.gps import gps_update

from .lq_problems import log_policy, random_problem, simulate

EPS = 0.05


@pytest.fixture(scope="module")
def problem():
    return random_problem()


@pytest.fixture(scope="module")
def update():
    return jax.jit(lambda pb, eps: gps_update(pb, eps))


@pytest.fixture(scope="module")
def solved(problem, update):
    return update(problem, EPS)


def test_every_step_meets_its_kl_bound_with_equality(solved):
    kl = np.asarray(solved.kl)
    assert bool(solved.converged)
    # GPS's bound is always active (KL -> inf as alpha -> 0): complementary slackness = equality.
    np.testing.assert_allclose(kl, EPS, rtol=1e-3)
    assert np.all(np.asarray(solved.alpha) > 1e-6)


def test_closed_form_kl_matches_monte_carlo(problem, solved):
    states, actions = simulate(problem, solved.policy, jax.random.PRNGKey(1), 200_000)
    T = states.shape[1]
    for t in range(T):
        log_ratio = (log_policy(solved.policy, t, states[:, t], actions[:, t])
                     - log_policy(problem.prior, t, states[:, t], actions[:, t]))
        mc, se = float(jnp.mean(log_ratio)), float(jnp.std(log_ratio)) / np.sqrt(states.shape[0])
        assert abs(mc - float(solved.kl[t])) < 5 * se + 1e-4, (t, mc, float(solved.kl[t]), se)


def test_strong_duality_dual_equals_expected_cost(solved):
    np.testing.assert_allclose(float(solved.dual), float(solved.expected_cost), rtol=1e-4)


def test_huge_eps_gives_the_lqg_optimum(problem, update):
    res = update(problem, 1e4)
    np.testing.assert_allclose(np.asarray(res.alpha), 1e-8, rtol=1e-6)  # inactive: alpha_min
    hard = riccati_backward_pass(problem.cost, problem.final, problem.dynamics, 0.0,
                                 scheme="control")
    np.testing.assert_allclose(np.asarray(res.policy.K), np.asarray(hard.K), atol=1e-6)
    np.testing.assert_allclose(np.asarray(res.policy.k), np.asarray(hard.k), atol=1e-6)
    assert np.all(np.asarray(res.kl) < 1e4)


def test_tiny_eps_returns_the_prior(problem, update):
    res = update(problem, 1e-8)
    np.testing.assert_allclose(np.asarray(res.kl), 1e-8, rtol=1e-3)
    q = problem.prior
    np.testing.assert_allclose(np.asarray(res.policy.K), np.asarray(q.K), atol=1e-3)
    np.testing.assert_allclose(np.asarray(res.policy.k), np.asarray(q.k), atol=1e-3)
    np.testing.assert_allclose(np.asarray(res.policy.cov), np.asarray(q.cov), atol=1e-3)


def test_vmap_over_eight_eps_equals_eight_calls(problem, update):
    eps = jnp.geomspace(1e-3, 1.0, 8)
    batched = jax.vmap(update, in_axes=(None, 0))(problem, eps)
    for i in range(8):
        single = update(problem, eps[i])
        np.testing.assert_allclose(np.asarray(batched.policy.K[i]), np.asarray(single.policy.K),
                                   rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(np.asarray(batched.kl[i]), np.asarray(single.kl), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(batched.kl), np.broadcast_to(eps[:, None], (8, 5)),
                               rtol=1e-3)


@pytest.mark.slow
def test_single_multiplier_bounds_the_trajectory_kl(problem):
    res = gps_update(problem, 0.2, multiplier="single")
    assert bool(res.converged)
    np.testing.assert_allclose(float(jnp.sum(res.kl)), 0.2, rtol=1e-3)
    np.testing.assert_allclose(np.asarray(res.alpha), float(res.alpha[0]))


# -- outer loop ---------------------------------------------------------------------------------

def pendulum(T=12):
    dt = 0.1

    def dynamics(x, u):
        return jnp.array([x[0] + dt * x[1], x[1] + dt * (-9.81 * jnp.sin(x[0]) + u[0])])

    return lqgx.System(dynamics, lambda x, u, t: 0.01 * (x @ x) + 0.01 * u @ u,
                       lambda x: 10.0 * ((x[0] - jnp.pi) ** 2 + 0.1 * x[1] ** 2),
                       x0=jnp.zeros(2), horizon=T, x0_cov=1e-4 * jnp.eye(2),
                       noise_cov=1e-4 * jnp.eye(2), action_bounds=(-jnp.ones(1) * 8,
                                                                    jnp.ones(1) * 8))


def test_outer_loop_improves_cost_and_batches_trials_with_vmap():
    system = pendulum()
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    res = jax.vmap(lambda k: lqgx.gps(system, 0.5, iterations=4, samples=4, key=k))(keys)
    assert res.history["cost"].shape == (2, 4)
    assert res.history["alpha"].shape == (2, 4, 12)
    assert np.all(np.isfinite(np.asarray(res.policy.K)))
    np.testing.assert_allclose(np.asarray(res.history["kl"]), 0.5, rtol=1e-3)
    assert np.all(np.asarray(res.history["cost_model"][:, -1])
                  < np.asarray(res.history["cost_model"][:, 0]))
    assert list(np.asarray(res.converged)) == [True, True]


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=0.0), "eps must be > 0"),
    (dict(eps=-1.0), "eps must be > 0"),
    (dict(eps=float("nan")), "eps must be finite"),
    (dict(eps=0.1, samples=0), "samples must be an integer >= 1"),
    (dict(eps=0.1, iterations=0), "iterations must be an integer >= 1"),
    (dict(eps=0.1, linearization="fd"), "linearization must be one of"),
    (dict(eps=jnp.ones(3)), r"eps must be a scalar or have shape \[T\]"),
])
def test_bad_input_raises_value_error_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lqgx.gps(pendulum(), **kwargs)


def test_bad_policy_shape_raises():
    bad = lqgx.LinearGaussianPolicy(K=jnp.zeros((3, 1, 2)), k=jnp.zeros((3, 1)),
                                    cov=jnp.ones((3, 1, 1)))
    with pytest.raises(ValueError, match="policy.K must have shape"):
        lqgx.gps(pendulum(), 0.1, policy=bad)


def test_update_that_blows_up_the_true_system_is_rejected_and_retried_smaller():
    """The outer loop's safeguard: the true dynamics return NaN once |x| > 2 (a simulator that
    explodes), the local model (linear there) does not know it, so a large-eps update toward the
    goal x = 10 is rejected; eps then halves until an update stays finite."""
    T = 6

    def dynamics(x, u):
        x_next = x + 0.5 * u
        return jnp.where(jnp.abs(x_next) > 2.0, jnp.nan, x_next)

    system = lqgx.System(dynamics, lambda x, u, t: 0.01 * u @ u,
                         lambda x: 10.0 * (x[0] - 10.0) ** 2, x0=jnp.zeros(1), horizon=T,
                         x0_cov=1e-4 * jnp.eye(1), noise_cov=1e-6 * jnp.eye(1))
    res = lqgx.gps(system, 50.0, iterations=6, samples=4, initial_std=0.1)
    accepted = np.asarray(res.history["accepted"])
    scale = np.asarray(res.history["eps_scale"])
    assert not accepted[0] and accepted.any()
    assert scale[0] == 1.0 and scale[1] == 0.5
    assert np.all(np.isfinite(np.asarray(res.states))) and np.isfinite(float(res.cost))
    if accepted[-1]:
        assert int(res.status) == 3 and bool(res.converged)
        assert "rejected" in res.message
    else:
        assert int(res.status) == 104 and not bool(res.converged)


def test_sample_fitted_dynamics_with_the_mixture_prior_improve_the_cost():
    system = pendulum()
    res = lqgx.gps(system, 0.5, iterations=4, samples=6, linearization="samples",
                   dynamics_prior="gmm", prior_buffer=10, prior_em_iterations=10,
                   key=jax.random.PRNGKey(2))
    assert bool(res.converged) and int(res.status) == 2
    cost = np.asarray(res.history["cost"])
    assert np.all(np.isfinite(cost)) and np.all(np.isfinite(np.asarray(res.policy.K)))
    assert cost[-1] < np.asarray(res.history["cost_sampled"])[0]
    np.testing.assert_allclose(np.asarray(res.history["kl"]), 0.5, rtol=1e-3)


def test_sample_buffer_is_a_ring_of_the_last_rollouts():
    from lqgx.optimizers.policy_search import SampleBuffer
    from lqgx.rollout import Rollouts

    system = pendulum(T=3)
    buffer = SampleBuffer.empty(system, 5)

    def batch(first, count):
        ids = jnp.arange(first, first + count, dtype=float)
        return Rollouts(states=jnp.broadcast_to(ids[:, None, None], (count, 4, 2)),
                        actions=jnp.broadcast_to(ids[:, None, None], (count, 3, 1)),
                        costs=ids)

    buffer = buffer.add(batch(0, 3)).add(batch(3, 3))     # 6 rollouts into 5 slots
    assert int(buffer.count) == 6
    np.testing.assert_array_equal(np.asarray(buffer.states[:, 0, 0]), [5, 1, 2, 3, 4])
    buffer = buffer.add(batch(6, 8))                      # more than the capacity: the first 5
    np.testing.assert_array_equal(np.sort(np.asarray(buffer.actions[:, 0, 0])), [6, 7, 8, 9, 10])


@pytest.mark.parametrize("kwargs, match", [
    (dict(dynamics_prior="gmm"), "dynamics_prior='gmm' is the prior of linearization='samples'"),
    (dict(linearization="samples", dynamics_prior="mixture"), "dynamics_prior must be one of"),
    (dict(linearization="samples", prior_buffer=0), "prior_buffer must be an integer"),
    (dict(linearization="samples", prior_strength=0.0), "prior_strength must be a number > 0"),
    (dict(linearization="samples", prior_em_iterations=0), "prior_em_iterations must be"),
])
def test_bad_prior_options_raise_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lqgx.gps(pendulum(), 0.1, **kwargs)
