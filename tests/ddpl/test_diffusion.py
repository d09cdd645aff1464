import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lqgx.ddpl.diffusion import DiffusionPolicy, project_ball, project_box
from lqgx.ddpl.gaussian import GaussianPolicy


def _policy(**kw):
    return DiffusionPolicy(2, low=(-1.0, 0.0), high=(1.0, 0.5), steps=5, hidden=(16, 16), **kw)


def test_sample_shape_projection_and_determinism():
    pol = _policy()
    params = pol.init(jax.random.PRNGKey(0), 3)
    keys = jax.random.split(jax.random.PRNGKey(1), 500)
    f = jax.jit(jax.vmap(lambda k: pol.sample(params, k, jnp.ones(3))))
    a = f(keys)
    assert a.shape == (500, 2)
    assert np.all(a[:, 0] >= -1) and np.all(a[:, 0] <= 1) and np.all(a[:, 1] >= 0) and np.all(a[:, 1] <= 0.5)
    np.testing.assert_array_equal(a, f(keys))
    raw = jax.vmap(lambda k: pol.sample_raw(params, k, jnp.ones(3)))(keys)
    np.testing.assert_allclose(a, pol.project(raw))


def test_box_projection_is_the_euclidean_nearest_point():
    rng = np.random.default_rng(0)
    low, high = np.array([-1.0, 0.0]), np.array([1.0, 0.5])
    cand = np.stack(np.meshgrid(np.linspace(-1, 1, 201), np.linspace(0, 0.5, 51)), -1).reshape(-1, 2)
    for x in rng.normal(scale=2.0, size=(20, 2)):
        p = np.asarray(project_box(jnp.asarray(x), low, high))
        best = cand[np.argmin(np.linalg.norm(cand - x, axis=1))]
        assert np.linalg.norm(p - x) <= np.linalg.norm(best - x) + 1e-12


def test_ball_projection():
    x = jnp.array([[3.0, 4.0], [0.1, 0.2]])
    p = project_ball(x, 1.0)
    np.testing.assert_allclose(p[0], [0.6, 0.8], atol=1e-12)
    np.testing.assert_allclose(p[1], x[1])


def test_denoising_loss_full_sum_matches_monte_carlo_over_tau():
    full = _policy(tau_samples=None)
    mc = _policy(tau_samples=1)
    params = full.init(jax.random.PRNGKey(0), 3)
    s, a = jnp.ones(3), jnp.array([0.3, 0.1])
    exact = jax.vmap(lambda k: full.denoising_loss(params, k, s, a))(jax.random.split(jax.random.PRNGKey(2), 1000)).mean()
    est = jax.vmap(lambda k: mc.denoising_loss(params, k, s, a))(jax.random.split(jax.random.PRNGKey(3), 8000)).mean()
    assert abs(est - exact) / exact < 0.15


def test_gaussian_policy_sample_and_loss():
    pol = GaussianPolicy(2, -1.0, 1.0, hidden=(8,))
    params = pol.init(jax.random.PRNGKey(0), 3)
    a = jax.vmap(lambda k: pol.sample(params, k, jnp.ones(3)))(jax.random.split(jax.random.PRNGKey(1), 100))
    assert a.shape == (100, 2) and np.all(np.abs(a) <= 1)
    loss = pol.weighted_loss(params, None, jnp.ones(3), a, jnp.ones(100))
    assert np.isfinite(loss)


def test_bad_policy_arguments_raise_named_errors():
    with pytest.raises(ValueError, match="action_dim"):
        DiffusionPolicy(0)
    with pytest.raises(ValueError, match="low must be < high"):
        DiffusionPolicy(1, low=1.0, high=-1.0)
    with pytest.raises(ValueError, match="kind"):
        DiffusionPolicy(1, schedule="nope")
