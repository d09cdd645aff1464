"""SAPS one-step update (thesis ch. 4) on an exact linear-Gaussian problem."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import multivariate_normal

from lqgx.optimizers.kl_update import prepare, thesis_dual
from lqgx.optimizers.saps import SAPS, saps_update

from .lq_problems import log_policy, random_problem, simulate

EPS = 0.1


@pytest.fixture(scope="module")
def problem():
    return random_problem(seed=3)


@pytest.fixture(scope="module")
def update():
    return jax.jit(lambda pb, eps: saps_update(pb, eps))


@pytest.fixture(scope="module")
def solved(problem, update):
    return update(problem, EPS)


def test_state_action_kl_is_within_the_bound_at_every_step(solved):
    kl = np.asarray(solved.kl_state_action)
    assert bool(solved.ok)
    assert np.all(kl <= EPS * (1 + 1e-6)), kl
    assert kl.max() >= EPS * (1 - 1e-6)


def test_strong_duality_at_the_kkt_point(problem, solved):
    # the thesis's dual (eq. 4.6) at the returned multipliers equals the expected cost
    np.testing.assert_allclose(float(thesis_dual(SAPS, problem, solved, EPS)),
                               float(solved.expected_cost), rtol=1e-6)


def test_closed_form_state_action_kl_matches_monte_carlo(problem, solved):
    prep = prepare(problem)
    states, actions = simulate(problem, solved.policy, jax.random.PRNGKey(2), 100_000)
    traj, prior = solved.trajectory, prep.prior_states
    N, T = states.shape[:2]
    for t in range(1, T):
        x, u = states[:, t], actions[:, t]
        log_ratio = (multivariate_normal.logpdf(x, traj.mean[t], traj.cov[t])
                     + log_policy(solved.policy, t, x, u)
                     - multivariate_normal.logpdf(x, prior.mean[t], prior.cov[t])
                     - log_policy(problem.prior, t, x, u))
        mc, se = float(jnp.mean(log_ratio)), float(jnp.std(log_ratio)) / np.sqrt(N)
        assert abs(mc - float(solved.kl_state_action[t])) < 5 * se + 1e-4, (t, mc, se)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known weakness of the thesis's schemes: on this problem "
                   "coordinate descent stops 0.5 % and block descent 2.7 % above the optimum "
                   "(method='newton' and cvxpy agree to 2e-9), so their duals differ")
def test_block_and_coordinate_descent_reach_the_same_dual_value(problem, solved):
    coordinate = jax.jit(lambda pb: saps_update(pb, EPS, method="coordinate"))(problem)
    block = jax.jit(lambda pb: saps_update(pb, EPS, method="block"))(problem)
    assert np.all(np.asarray(block.kl_state_action) <= EPS * (1 + 1e-3))
    np.testing.assert_allclose(float(block.dual), float(coordinate.dual), rtol=2e-3)


def test_tiny_eps_returns_the_prior(problem, update):
    res = update(problem, 1e-9)
    q = problem.prior
    np.testing.assert_allclose(np.asarray(res.policy.k), np.asarray(q.k), atol=2e-3)
    np.testing.assert_allclose(np.asarray(res.policy.K), np.asarray(q.K), atol=2e-3)
    np.testing.assert_allclose(np.asarray(res.policy.cov), np.asarray(q.cov), atol=2e-3)
