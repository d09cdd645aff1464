"""The sampled surrogate S̃ (eqs. 65–66) and its gradient identity (eq. 67)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import lqgx.dso as dso
from lqgx.dso.gradient import fit_value_on

ROLLOUTS = 2000


def flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


@pytest.fixture(scope="module")
def batches(lq):
    out = []
    for i, theta in enumerate(lq.thetas):
        value = fit_value_on(lq.problem, theta, jax.random.PRNGKey(50 + i), ROLLOUTS // 4)
        paths = dso.sample_paths(lq.problem, theta, jax.random.PRNGKey(i), ROLLOUTS)
        out.append((theta, value, paths))
    return out


@pytest.mark.parametrize("clip", [None, 0.2])
def test_surrogate_gradient_at_zero_equals_algorithm1_on_same_samples(lq, batches, clip):
    """eq. 67: two independent code paths (autodiff of S̃ vs the backward recursion)."""
    for theta, value, paths in batches:
        for v in (value, None):
            alg1 = dso.algorithm1(lq.problem, theta, paths, v).grad
            batch = dso.surrogate_batch(lq.problem, theta, paths, v)
            zeros = jax.tree_util.tree_map(jnp.zeros_like, theta)
            grad_s = jax.grad(lambda a: dso.surrogate(lq.problem, theta, a, batch, clip))(zeros)
            scale = np.max(np.abs(flat(alg1)))
            np.testing.assert_allclose(flat(grad_s), flat(alg1), rtol=1e-10, atol=1e-12 * scale)


def test_surrogate_value_at_zero_is_costs_plus_advantages(lq, batches):
    theta, value, paths = batches[0]
    batch = dso.surrogate_batch(lq.problem, theta, paths, value)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, theta)
    s0 = dso.surrogate(lq.problem, theta, zeros, batch)
    expected = jnp.mean(batch.returns[:, 0] + jnp.sum(batch.advantages, axis=1))
    np.testing.assert_allclose(float(s0), float(expected), rtol=1e-12)


def test_surrogate_ratios_are_importance_weights(lq, batches):
    """With α ≠ 0 the ratio term equals exp(ln P(θ+α) - ln P(θ)) R̂, computed independently."""
    theta, value, paths = batches[0]
    batch = dso.surrogate_batch(lq.problem, theta, paths, None)
    alpha = {"K": jnp.array([[0.05, -0.02]]), "k": jnp.array([0.03])}
    shifted = jax.tree_util.tree_map(lambda a, b: a + b, theta, alpha)
    mu_old = jnp.einsum("mn,ktn->ktm", theta["K"], paths.states[:, :-1]) + theta["k"]
    mu_new = jnp.einsum("mn,ktn->ktm", shifted["K"], paths.states[:, :-1]) + shifted["k"]
    a = paths.records.action
    ratio = jnp.exp(-0.5 * ((a - mu_new) ** 2 - (a - mu_old) ** 2)[..., 0] / 0.25)
    from lqgx.dso.rollout import batch_costs
    costs = batch_costs(lq.problem, shifted, paths)
    expected = jnp.mean(jnp.sum(costs, 1) + jnp.sum(ratio * batch.advantages, 1))
    got = dso.surrogate(lq.problem, theta, alpha, batch)
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-10)


def test_clip_bounds_the_ratio_gain(lq, batches):
    """PCO: a huge α cannot lower the clipped ratio term below what ratios 1±c allow."""
    theta, value, paths = batches[0]
    batch = dso.surrogate_batch(lq.problem, theta, paths, value)
    alpha = {"K": jnp.array([[3.0, -3.0]]), "k": jnp.array([2.0])}
    zero_cost = {"K": jnp.zeros((1, 2)), "k": jnp.zeros(1)}
    clipped = dso.surrogate(lq.problem, theta, alpha, batch, clip=0.2)
    plain = dso.surrogate(lq.problem, theta, alpha, batch)
    assert float(clipped) >= float(plain) - 1e-9
    # the ratio part of the clipped surrogate is at least min over r in [0.8, 1.2] of r*A per term
    adv = batch.advantages
    floor = jnp.mean(jnp.sum(jnp.minimum(0.8 * adv, 1.2 * adv), 1))
    from lqgx.dso.rollout import batch_costs
    shifted = jax.tree_util.tree_map(lambda a, b: a + b, theta, alpha)
    cost_part = jnp.mean(jnp.sum(batch_costs(lq.problem, shifted, paths), 1))
    assert float(clipped - cost_part) >= float(floor) - 1e-9
    del zero_cost
