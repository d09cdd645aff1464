"""lqgx.systems.make_env: a gymnasium.Env over the MJX model, driven by a TVLG policy."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import lqgx
from lqgx import systems

T = 8


@pytest.fixture(scope="module")
def env():
    return systems.make_env("pendulum", horizon=T)


def test_env_passes_gymnasium_env_checker(env):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # advisory warnings (unbounded Box, asymmetric actions)
        check_env(env, skip_render_check=True)
    assert env.action_space.shape == (1,)
    np.testing.assert_array_equal(env.action_space.high, [3.0])
    assert env.observation_space.shape == (2,)


def test_tvlg_policy_acts_in_env_and_return_is_minus_trajectory_cost(env):
    system = env.system
    rng = np.random.default_rng(0)
    K = jnp.asarray(rng.normal(size=(T, 1, 2)))
    k = jnp.asarray(rng.normal(size=(T, 1)))
    policy = lqgx.LinearGaussianPolicy(K=K, k=k, cov=jnp.ones((T, 1, 1)))
    obs, _ = env.reset(seed=0)
    states, actions, ret = [obs], [], 0.0
    for t in range(T):
        u = np.clip(policy.act(obs, t), -3.0, 3.0)
        obs, reward, terminated, truncated, _ = env.step(u)
        assert not terminated
        assert truncated == (t == T - 1)
        states.append(obs)
        actions.append(u)
        ret += reward
    states, actions = np.stack(states), np.stack(actions)
    expected = system.trajectory_cost(jnp.asarray(states), jnp.asarray(actions))
    np.testing.assert_allclose(ret, -float(expected), rtol=1e-10)
    # Each transition is the MuJoCo step plus small process noise (std 1e-3 / 1e-2).
    for t in range(T):
        mean = system.dynamics.step_c(states[t], actions[t])
        assert np.all(np.abs(states[t + 1] - mean) < 6 * np.sqrt(np.diag(system.noise_cov)))


def test_env_is_reproducible_from_the_seed(env):
    def episode(seed):
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for _ in range(3):
            obs, *_ = env.step(np.array([1.0]))
            out.append(obs)
        return np.stack(out)

    np.testing.assert_array_equal(episode(3), episode(3))
    assert not np.array_equal(episode(3), episode(4))


def test_make_env_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown system name"):
        systems.make_env("pendulum3")
