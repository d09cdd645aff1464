"""ESAPS one-step update (thesis ch. 5) on an exact linear-Gaussian problem."""

import jax
import numpy as np
import pytest

from lqgx.lq import soft_backward_pass
from lqgx.optimizers.esaps import esaps_update

from .lq_problems import random_problem


@pytest.fixture(scope="module")
def problem():
    return random_problem(seed=4)


@pytest.fixture(scope="module")
def update():
    return jax.jit(lambda pb, eps, delta: esaps_update(pb, eps, delta))


def test_entropy_floor_and_state_action_bound_hold_at_every_step(problem, update):
    # q has entropy 1/2 log(2 pi e) = 1.42 nats; ask for at least 1.6 so the floor binds.
    delta = -1.6
    res = update(problem, 0.1, delta)
    entropy = np.asarray(res.entropy)
    assert bool(res.ok)
    assert np.all(entropy >= -delta - 1e-3), entropy
    assert np.all(np.asarray(res.kl_state_action) <= 0.1 * (1 + 1e-6))
    # complementary slackness for the floor: beta_t > 0 only where the floor is met exactly
    active = np.asarray(res.beta) > 1e-9
    assert active.any()
    np.testing.assert_allclose(entropy[active], -delta, atol=1e-3)


def test_huge_eps_gives_the_max_entropy_lqg_optimum(problem, update):
    delta = -2.0
    res = update(problem, 1e4, delta)
    np.testing.assert_allclose(np.asarray(res.entropy), -delta, atol=1e-6)  # floor active
    assert np.all(np.asarray(res.alpha) < 1e-6)  # KL bound inactive
    soft = soft_backward_pass(problem.cost, problem.final, problem.dynamics, res.beta)
    np.testing.assert_allclose(np.asarray(res.policy.K), np.asarray(soft.policy.K), atol=1e-5)
    np.testing.assert_allclose(np.asarray(res.policy.k), np.asarray(soft.policy.k), atol=1e-5)
    # rtol 1e-4: beta is the barrier's estimate mu / slack (accurate to ~1e-5)
    np.testing.assert_allclose(np.asarray(res.policy.cov), np.asarray(soft.policy.cov),
                               rtol=1e-4)


def test_bad_delta_raises_value_error():
    from lqgx.optimizers.esaps import esaps
    from .test_gps import pendulum

    with pytest.raises(ValueError, match="delta must be finite"):
        esaps(pendulum(), 0.1, float("inf"))
    with pytest.raises(ValueError, match="delta must be a scalar"):
        esaps(pendulum(), 0.1, np.zeros(3))
    with pytest.raises(ValueError, match="eps must be > 0"):
        esaps(pendulum(), 0.0, -1.0)
