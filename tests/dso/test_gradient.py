"""Algorithm 1 against the closed-form J(θ) of a linear-Gaussian system with a linear policy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import lqgx.dso as dso

ROLLOUTS = 2000


def flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


@pytest.fixture(scope="module")
def value_models(lq):
    """V̂ for each θ, fitted on rollouts independent of those the tests estimate from."""
    return [_fit(lq.problem, th, jax.random.PRNGKey(100 + i)) for i, th in enumerate(lq.thetas)]


def _fit(problem, theta, key):
    from lqgx.dso.gradient import fit_value_on
    return fit_value_on(problem, theta, key, ROLLOUTS // 4)


def _z_scores(lq, value_models, baseline):
    zs = []
    for i, theta in enumerate(lq.thetas):
        bl = value_models[i] if baseline else False
        grad, stderr = dso.gradient(lq.problem, theta, jax.random.PRNGKey(i), ROLLOUTS,
                                    baseline=bl)
        zs.append((flat(grad) - flat(lq.grad(theta))) / flat(stderr))
    return np.array(zs)


def test_gradient_matches_closed_form_within_4_standard_errors(lq, value_models):
    for baseline in (True, False):
        z = _z_scores(lq, value_models, baseline)
        print(f"baseline={baseline} z-scores per theta:\n{np.round(z, 2)}")
        assert np.all(np.abs(z) < 4.0), z


def test_cost_estimate_matches_closed_form(lq, value_models):
    for i, theta in enumerate(lq.thetas):
        est = dso.estimate(lq.problem, theta, jax.random.PRNGKey(i), ROLLOUTS,
                           baseline=value_models[i])
        z = (float(est.cost) - float(lq.cost(theta))) / float(est.cost_stderr)
        assert abs(z) < 4.0, (i, z)


def test_baseline_reduces_variance_without_bias(lq, value_models):
    """Same samples with and without V̂: variance falls; the mean stays on the closed form."""
    ratios = []
    for i, theta in enumerate(lq.thetas):
        key = jax.random.PRNGKey(10 + i)
        plain = dso.estimate(lq.problem, theta, key, ROLLOUTS, baseline=False)
        based = dso.estimate(lq.problem, theta, key, ROLLOUTS, baseline=value_models[i])
        ratios.append((flat(plain.stderr) / flat(based.stderr)) ** 2)
        z = (flat(based.grad) - flat(lq.grad(theta))) / flat(based.stderr)
        assert np.all(np.abs(z) < 4.0), z
    ratios = np.array(ratios)
    print(f"variance reduction factor (no baseline / baseline) per theta, per component:\n"
          f"{np.round(ratios, 1)}")
    assert np.all(ratios > 2.0), ratios


def test_wrong_baseline_leaves_estimate_unbiased(lq, value_models):
    """A deliberately bad V̂ (shifted and scaled) must not bias the estimate (eq. 57)."""
    theta = lq.thetas[0]
    good = value_models[0]
    bad = good._replace(weights=3.0 * good.weights + 5.0)
    est = dso.estimate(lq.problem, theta, jax.random.PRNGKey(3), ROLLOUTS, baseline=bad)
    z = (flat(est.grad) - flat(lq.grad(theta))) / flat(est.stderr)
    assert np.all(np.abs(z) < 4.0), z


def test_baseline_at_next_state_would_bias(lq, value_models):
    """Sanity check that the test above can fail: using V̂ at the *sampled* next state
    (which depends on the action) instead of at f(x_t, θ) biases the estimate."""
    from lqgx.dso.rollout import Path, sample_paths
    from lqgx.dso.gradient import rollout_gradient

    theta = lq.thetas[0]
    value = value_models[0]      # a good V̂: at x_{t+1} it cancels R_{t+1} and the score term
    paths = sample_paths(lq.problem, theta, jax.random.PRNGKey(3), ROLLOUTS)
    steps = jnp.arange(lq.problem.horizon)

    @jax.jit
    def biased(states, records):
        base = jax.vmap(value)(states[1:], steps + 1)
        return rollout_gradient(lq.problem, theta, Path(states, records), base)

    per = jax.vmap(biased)(paths.states, paths.records)
    mean = flat(jax.tree_util.tree_map(lambda g: g.mean(0), per))
    se = flat(jax.tree_util.tree_map(lambda g: g.std(0) / np.sqrt(ROLLOUTS), per))
    z = (mean - flat(lq.grad(theta))) / se
    assert np.max(np.abs(z)) > 4.0, z


def test_same_key_same_estimate(lq, value_models):
    theta = lq.thetas[0]
    a = dso.gradient(lq.problem, theta, jax.random.PRNGKey(7), ROLLOUTS, baseline=value_models[0])
    b = dso.gradient(lq.problem, theta, jax.random.PRNGKey(7), ROLLOUTS, baseline=value_models[0])
    np.testing.assert_array_equal(flat(a.grad), flat(b.grad))
    c = dso.gradient(lq.problem, theta, jax.random.PRNGKey(8), ROLLOUTS, baseline=value_models[0])
    assert not np.array_equal(flat(a.grad), flat(c.grad))


def test_gradient_rejects_bad_arguments(lq):
    theta = lq.thetas[0]
    with pytest.raises(ValueError, match="rollouts"):
        dso.gradient(lq.problem, theta, jax.random.PRNGKey(0), rollouts=1)
    with pytest.raises(ValueError, match="baseline"):
        dso.gradient(lq.problem, theta, jax.random.PRNGKey(0), rollouts=ROLLOUTS, baseline="yes")
    with pytest.raises(TypeError, match="problem"):
        dso.gradient(lq.system, theta, jax.random.PRNGKey(0), rollouts=8)
    with pytest.raises(TypeError, match="theta"):
        dso.gradient(lq.problem, {"K": [[1, 2]], "k": [0]}, jax.random.PRNGKey(0), rollouts=8)
    with pytest.raises(ValueError, match="theta"):
        dso.gradient(lq.problem, {}, jax.random.PRNGKey(0), rollouts=8)
