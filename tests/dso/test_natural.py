"""Fisher metric (eqs. 72–74) against its closed form for a linear policy, and natural steps."""

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

import lqgx.dso as dso

ROLLOUTS = 2000


def test_fisher_bottleneck_and_score_forms_match_closed_form(lq):
    theta = lq.thetas[0]
    paths = dso.sample_paths(lq.problem, theta, jax.random.PRNGKey(0), ROLLOUTS)
    true = np.asarray(lq.fisher(theta))
    bottleneck = np.asarray(dso.fisher(lq.problem, theta, paths, form="bottleneck"))
    score = np.asarray(dso.fisher(lq.problem, theta, paths, form="score"))
    rel = lambda a: np.linalg.norm(a - true) / np.linalg.norm(true)  # noqa: E731
    print(f"Fisher relative error: eq. 74 {rel(bottleneck):.4f}, eq. 72 {rel(score):.4f}")
    assert rel(bottleneck) < 0.03      # only the state distribution is sampled
    assert rel(score) < 0.05


def test_natural_gradient_solves_fisher_system(lq):
    theta = lq.thetas[0]
    nat = dso.natural_gradient(lq.problem, theta, jax.random.PRNGKey(1), ROLLOUTS, damping=1e-6)
    d = np.asarray(ravel_pytree(nat.direction)[0])
    g = np.asarray(ravel_pytree(nat.grad)[0])
    np.testing.assert_allclose(np.asarray(nat.fisher) @ d, g, rtol=1e-4, atol=1e-6)
    # a descent direction
    assert float(g @ d) > 0
    # the natural step lowers the closed-form cost
    step = jax.tree_util.tree_map(lambda t, v: t - 0.2 * v, theta, nat.direction)
    assert float(lq.cost(step)) < float(lq.cost(theta))
