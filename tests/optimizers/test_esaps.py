"""ESAPS one-step update (thesis ch. 5) on an exact linear-Gaussian problem."""

import jax
import numpy as np
import pytest

from lqgx.lq import soft_backward_pass
from lqgx.optimizers.esaps import ESAPS, esaps_update
from lqgx.optimizers.kl_update import thesis_dual

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
    # strong duality with both multipliers: the thesis's dual (eq. 5.5) equals the cost
    np.testing.assert_allclose(float(thesis_dual(ESAPS, problem, res, 0.1, delta)),
                               float(res.expected_cost), rtol=1e-6)


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


def test_relative_entropy_floor_bounds_each_updates_entropy_drop():
    """entropy_drop d: every update keeps H(pi_new,t) >= H(pi_old,t) - d, with equality where
    beta_t > 0; from a state-independent q_0 one update equals the fixed delta = d - H(q_0)."""
    import lqgx
    from lqgx.lq import policy_entropy
    from lqgx.optimizers.policy_search import default_policy

    from .test_gps import pendulum

    system = pendulum()
    drop, eps = 0.05, 2.0
    h0 = float(policy_entropy(default_policy(system))[0])
    relative = lqgx.esaps(system, eps, entropy_drop=drop, iterations=1, samples=4)
    # (a slack relative floor keeps the jitted search's argument structure of the last call
    # below: one compile fewer)
    fixed = lqgx.esaps(system, eps, drop - h0, entropy_drop=100.0, iterations=1, samples=4)
    np.testing.assert_allclose(np.asarray(relative.policy.cov), np.asarray(fixed.policy.cov),
                               rtol=1e-10)
    second = lqgx.esaps(system, eps, entropy_drop=drop, iterations=1, samples=4,
                        policy=relative.policy)
    before = np.asarray(policy_entropy(relative.policy))
    after = np.asarray(policy_entropy(second.policy))
    assert np.all(after >= before - drop - 1e-6), after - before
    active = np.asarray(second.history["beta"][0]) > 1e-9
    assert active.sum() >= 3   # eps = 2 would shrink the entropy further: the floor binds
    np.testing.assert_allclose(after[active], before[active] - drop, atol=1e-5)
    # with both floors the higher one holds: a fixed floor above H(pi_1) - d wins
    both = lqgx.esaps(system, eps, -(before.min() - 0.01), entropy_drop=drop, iterations=1,
                      samples=4, policy=relative.policy)
    assert np.all(np.asarray(policy_entropy(both.policy)) >= before.min() - 0.01 - 1e-6)


def test_entropy_floor_arguments_are_checked():
    import lqgx

    from .test_gps import pendulum

    with pytest.raises(ValueError, match="needs an entropy floor"):
        lqgx.esaps(pendulum(), 0.1)
    with pytest.raises(ValueError, match="entropy_drop must be finite"):
        lqgx.esaps(pendulum(), 0.1, entropy_drop=float("nan"))
    with pytest.raises(TypeError, match="entropy_drop is an ESAPS option"):
        lqgx.saps(pendulum(), 0.1, entropy_drop=1.0)
