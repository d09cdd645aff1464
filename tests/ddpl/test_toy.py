"""§3 toy problems: closed-form returns, Theorem 3.1, exact DecSPG (Fig. 2)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lqgx.ddpl.envs import ToyGameEnv, rollout_episode_returns
from lqgx.ddpl.toy import (PAPER, DecSPGConfig, GridPolicies, _gaussian_masses, _gaussian_projection,
                           expected_return, p_start, r_start, run_decspg)
from lqgx.softmax.grid import action_grid


def test_reward_and_transition_constants():
    assert np.isclose(r_start(jnp.array(0.5)), -2.5 + 2.7 + 2.7 * np.exp(-250.0))
    assert np.isclose(p_start(jnp.array(-0.5)), 0.005)
    assert p_start(jnp.array(-0.76)) == 0 and p_start(jnp.array(0.5)) == 0


@pytest.mark.parametrize("n,single", [(1, True), (2, False), (3, False)])
def test_closed_form_return_matches_monte_carlo_of_env(n, single):
    env = ToyGameEnv(n, single_agent=single)
    mu, sd = -0.5, 0.1
    act = lambda k, s: mu + sd * jax.random.normal(k, (n, 1))
    mc_mean, rets = jax.jit(lambda k: rollout_episode_returns(env, act, k, 100_000))(jax.random.PRNGKey(0))
    points, _ = action_grid(-2.0, 2.0, 8001)
    m = _gaussian_masses(mu, jnp.log(sd), points)
    pol = GridPolicies(jnp.tile(m, (n, 1)), jnp.tile(m, (n, 1)))
    exact = expected_return(pol, points, PAPER, single_agent=single)
    stderr = np.std(np.asarray(rets)) / np.sqrt(rets.shape[0])
    assert abs(float(mc_mean) - float(exact)) < 5 * stderr + 1e-3, (mc_mean, exact, stderr)


def test_gaussian_projection_obeys_theorem_3_1():
    """From N(0, σ²) with Q̂ = r_start: μ stays 0 and 1/σ'² ≥ 1/σ² + 0.128 (Theorem 3.1)."""
    points, weights = action_grid(-2.0, 2.0, 4001)
    for var in (0.1, 0.05, 0.01):
        mu, ls = _gaussian_projection(jnp.array(0.0), jnp.array(0.5 * np.log(var)), 0.01 * r_start(points),
                                      points, weights, iters=2000, lr=0.01)
        assert abs(float(mu)) < 1e-6
        assert 1 / np.exp(2 * float(ls)) >= 1 / var + 0.128


def test_decspg_all_policy_update_is_the_exact_softmax_and_returns_start_at_oracle():
    cfg = DecSPGConfig(n_agents=1, single_agent=True, policy_class="all", epochs=3, grid_size=401, batch=50)
    out = run_decspg(cfg, jax.random.PRNGKey(0))
    points = out["points"]
    m0 = _gaussian_masses(0.0, 0.5 * jnp.log(0.1), points)
    np.testing.assert_allclose(out["return"][0], expected_return(GridPolicies(m0[None], m0[None]), points,
                                                                single_agent=True))
    assert out["return"].shape == (4,) and np.all(np.isfinite(out["return"]))
    # without a success, three exact updates are π0 · exp(3 c r_start) / Z
    if float(out["successes"][-1]) == 0:
        expect = jax.nn.softmax(jnp.log(m0) + 3 * 0.01 * r_start(points))
        np.testing.assert_allclose(out["final_start"][0], expect, atol=1e-10)


def test_bad_decspg_config_raises():
    with pytest.raises(ValueError, match="policy_class"):
        DecSPGConfig(policy_class="mixture")
    with pytest.raises(ValueError, match="n_agents"):
        DecSPGConfig(n_agents=2, single_agent=True)


@pytest.mark.slow
def test_fig2_n2_expressive_update_beats_gaussian_projection():
    """Fig. 2 right (n = 2): 'all policies' reaches the high-reward equilibrium, Gaussian stays low."""
    res = {}
    for pc in ("all", "gaussian"):
        cfg = DecSPGConfig(n_agents=2, policy_class=pc, epochs=300, grid_size=1001)
        out = jax.jit(jax.vmap(lambda k: run_decspg(cfg, k)))(jax.random.split(jax.random.PRNGKey(0), 4))
        res[pc] = float(out["return"][:, -1].mean())
    assert res["all"] > 10.0 and res["gaussian"] < 0.5 * res["all"], res



@pytest.mark.parametrize("constants", [PAPER, dataclasses.replace(PAPER, cp=0.5, c1=2000.0)])
def test_env_expected_return_used_for_training_eval_matches_monte_carlo(constants):
    """``ToyGameEnv.expected_return`` (the evaluator of ``lqgx ddpl train`` on the toys) against plain
    episode rollouts of ``env.step``, for a fixed state-dependent policy whose two agents differ and
    whose goal-state action differs from the start-state one. At the paper's constants the joint
    success (≈ 2e-5 per episode) is invisible to Monte Carlo, so the second case raises c_p to 0.5
    (joint success ≈ 0.03) and lowers c1 so that the Π q_i · V_goal term (≈ 10 in J) and the
    goal-state policy's c3 E[exp(−aᵀa)] part (≈ 6) are each several standard errors of the check."""
    env = ToyGameEnv(2, constants=constants)
    mu_start, mu_goal = jnp.array([-0.5, -0.45]), jnp.array([0.3, -0.2])

    def act(key, s):
        mu = jnp.where(jnp.all(s == 1), mu_goal, mu_start)
        return (mu + 0.1 * jax.random.normal(key, (2,)))[:, None]

    mc_mean, rets = jax.jit(lambda key: rollout_episode_returns(env, act, key, 1_000_000))(jax.random.PRNGKey(1))
    ev, per_sample = jax.jit(lambda key: env.expected_return(act, key, 200_000))(jax.random.PRNGKey(2))
    stderr = np.hypot(np.std(np.asarray(rets)) / np.sqrt(rets.shape[0]),
                      np.std(np.asarray(per_sample)) / np.sqrt(per_sample.shape[0]))
    assert abs(float(mc_mean) - float(ev)) < 5 * stderr, (mc_mean, ev, stderr)
