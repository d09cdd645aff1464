"""DSO chain iteration (eq. 63) and ``optimize`` on the closed-form LQ problem."""

import jax
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import lqgx.dso as dso

ROLLOUTS = 2000     # one compiled batch shape shared by all DSO tests


def test_chain_iteration_lowers_closed_form_cost(lq):
    theta = lq.thetas[2]
    nxt, info = dso.chain_iteration(lq.problem, theta, jax.random.PRNGKey(0), rollouts=ROLLOUTS,
                                    inner_steps=30, learning_rate=0.05)
    before, after = float(lq.cost(theta)), float(lq.cost(nxt))
    print(f"J {before:.3f} -> {after:.3f}, step {float(info.step_norm):.3f}")
    assert float(info.surrogate_decrease) > 0
    assert after < before - 0.05 * (before - float(lq.cost(lq.thetas[0])))
    assert float(info.step_norm) > 0


def test_kappa_scales_the_step(lq):
    theta = lq.thetas[2]
    key = jax.random.PRNGKey(1)
    full, a = dso.chain_iteration(lq.problem, theta, key, rollouts=ROLLOUTS, inner_steps=30,
                                  learning_rate=0.05)
    half, b = dso.chain_iteration(lq.problem, theta, key, rollouts=ROLLOUTS, inner_steps=30,
                                  learning_rate=0.05, kappa=0.5)
    np.testing.assert_allclose(ravel_pytree(b.step)[0], 0.5 * ravel_pytree(a.step)[0],
                               rtol=1e-12)


@pytest.mark.parametrize("method", ["chain", "gradient", "natural"])
def test_optimize_reduces_closed_form_cost(lq, method):
    theta0 = lq.thetas[2]
    opts = dict(chain=dict(learning_rate=0.05, inner_steps=30),
                gradient=dict(learning_rate=0.1), natural=dict(learning_rate=0.5))[method]
    res = dso.optimize(lq.problem, theta0, jax.random.PRNGKey(2), iterations=6, method=method,
                       rollouts=ROLLOUTS, **opts)
    start, end = float(lq.cost(theta0)), float(lq.cost(res.theta))
    print(f"{method}: J {start:.3f} -> {end:.3f}")
    assert res.converged and res.iterations == 6
    assert set(res.history) >= {"cost", "cost_stderr", "step_norm", "grad_norm", "samples"}
    assert end < 0.8 * start


def test_optimize_is_deterministic_and_validates(lq):
    theta0 = lq.thetas[1]
    a = dso.optimize(lq.problem, theta0, jax.random.PRNGKey(3), iterations=2, method="gradient",
                     rollouts=ROLLOUTS)
    b = dso.optimize(lq.problem, theta0, jax.random.PRNGKey(3), iterations=2, method="gradient",
                     rollouts=ROLLOUTS)
    np.testing.assert_array_equal(ravel_pytree(a.theta)[0], ravel_pytree(b.theta)[0])
    with pytest.raises(ValueError, match="method"):
        dso.optimize(lq.problem, theta0, jax.random.PRNGKey(0), method="newton")
    with pytest.raises(ValueError, match="iterations"):
        dso.optimize(lq.problem, theta0, jax.random.PRNGKey(0), iterations=0)
    with pytest.raises(ValueError, match="kappa"):
        dso.chain_iteration(lq.problem, theta0, jax.random.PRNGKey(0), kappa=1.5)
    with pytest.raises(ValueError, match="clip"):
        dso.chain_iteration(lq.problem, theta0, jax.random.PRNGKey(0), clip=2.0)
