"""Problem construction: from_policy (eq. 96) and the generic from_chain; input validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
import lqgx.dso as dso


def test_from_policy_rollouts_follow_the_system(lq):
    theta = lq.thetas[0]
    paths = dso.sample_paths(lq.problem, theta, jax.random.PRNGKey(0), 2000)
    assert paths.states.shape == (2000, lq.problem.horizon + 1, 2)
    assert paths.records.action.shape == (2000, lq.problem.horizon, 1)
    x, a, w = paths.states[:, :-1], paths.records.action, paths.records.process_noise
    predicted = jnp.einsum("ij,ktj->kti", jnp.array([[1.0, 0.1], [-0.2, 0.95]]), x)
    predicted = predicted + jnp.einsum("ij,ktj->kti", jnp.array([[0.0], [0.1]]), a) + w
    np.testing.assert_allclose(paths.states[:, 1:], predicted, atol=1e-12)


def test_action_bounds_clip_the_applied_action():
    system = lqgx.System(lambda x, u: x + u, lambda x, u, t: jnp.sum(u**2),
                         lambda x: jnp.sum(x**2), jnp.zeros(1), 3,
                         action_bounds=(jnp.array([-0.1]), jnp.array([0.1])))
    prob = dso.from_policy(system, lambda th, x, t: th, 4.0)
    paths = dso.sample_paths(prob, jnp.array([5.0]), jax.random.PRNGKey(0), 16)
    steps = jnp.diff(paths.states[..., 0], axis=1)
    assert float(jnp.max(jnp.abs(steps))) <= 0.1 + 1e-12


def test_generic_chain_constructor_gradient():
    """A scalar Gaussian random walk with drift θ: J = E[x_T²] = (x0 + Tθ)² + Tσ²."""
    sigma, horizon = 0.3, 4

    def sample(theta, x, t, key):
        z = sigma * jax.random.normal(key, x.shape)
        return x + theta + z, z

    def log_prob(theta, x, z, x_next, t):
        return -0.5 * jnp.sum((x_next - x - theta) ** 2) / sigma**2

    prob = dso.from_chain(lambda key: jnp.array([0.5]), sample, log_prob,
                          lambda theta, x, z, t: jnp.zeros(()),
                          lambda theta, x: jnp.sum(x**2),
                          lambda theta, x, t: x + theta, horizon, 1)
    theta = jnp.array([0.1])
    grad, se = dso.gradient(prob, theta, jax.random.PRNGKey(0), 2000, baseline=False)
    true = 2 * horizon * (0.5 + horizon * 0.1)
    assert abs(float(grad[0]) - true) < 4 * float(se[0])


@pytest.mark.parametrize("cov, match", [
    (jnp.array([1.0, 2.0]), "action_cov"),
    (-1.0, "positive definite"),
    (jnp.array([[1.0, 2.0], [0.0, 1.0]]), "action_cov"),
])
def test_from_policy_rejects_bad_action_cov(lq, cov, match):
    with pytest.raises(ValueError, match=match):
        dso.from_policy(lq.system, lq.policy, cov)


def test_from_policy_rejects_bad_callables_and_singular_noise(lq):
    with pytest.raises(TypeError, match="policy_fn"):
        dso.from_policy(lq.system, "not a function", 1.0)
    noiseless = lqgx.System(lambda x, u: x + u, lambda x, u, t: jnp.sum(u**2),
                            lambda x: jnp.sum(x**2), jnp.zeros(1), 3)
    with pytest.raises(ValueError, match="noise_cov"):
        dso.from_policy(noiseless, lambda th, x, t: th["u"], 1.0,
                        dynamics_fn=lambda th, x, u: x + th["g"] * u)
    with pytest.raises(ValueError, match="horizon"):
        dso.from_chain(*([lambda *a: jnp.zeros(1)] * 6), horizon=0, state_dim=1)
    with pytest.raises(TypeError, match="sample_transition"):
        dso.from_chain(lambda k: jnp.zeros(1), None, None, None, None, None, 3, 1)
