from functools import partial

import jax
import numpy as np
import pytest

from lqgx.ddpl.algorithm import DDPLConfig, init_state, train_iterations
from lqgx.ddpl.envs import make

TINY = dict(total_env_steps=64, num_envs=4, batch_size=8, num_action_samples=2, hidden=(8,), diffusion_steps=3,
            buffer_size=64, learning_starts=4, gamma=0.1, reward_scale=1e-3)


@pytest.mark.parametrize("policy", ["diffusion", "gaussian"])
def test_algorithm2_runs_vectorized_over_agents_and_is_deterministic(policy):
    env = make("toy-game-2")
    cfg = DDPLConfig(policy=policy, **TINY)
    st = init_state(cfg, env, jax.random.PRNGKey(0))
    leaves = jax.tree.leaves(st.policy_params)
    assert all(x.shape[0] == 2 for x in leaves)  # stacked over the 2 agents
    assert not np.allclose(leaves[-1][0], leaves[-1][1])  # independently initialized agents
    f = jax.jit(partial(train_iterations, cfg, env), static_argnums=1)
    s1, m1 = f(st, 5)
    s2, m2 = f(st, 5)
    assert int(s1.env_steps) == 20 and int(s1.buffer.size) == 20
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s2)):
        np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(np.asarray(m1["critic_loss"])))
    # parameters moved once learning started
    assert not np.allclose(jax.tree.leaves(s1.critic_params)[0], jax.tree.leaves(st.critic_params)[0])
    # Polyak target moved by ξ = 0.005 of the gap only
    gap = np.abs(np.asarray(jax.tree.leaves(s1.critic_target)[0] - jax.tree.leaves(st.critic_target)[0])).max()
    moved = np.abs(np.asarray(jax.tree.leaves(s1.critic_params)[0] - jax.tree.leaves(st.critic_params)[0])).max()
    assert gap < 0.1 * moved


def test_bad_config_raises_named_errors():
    with pytest.raises(ValueError, match="policy"):
        DDPLConfig(policy="flow")
    with pytest.raises(ValueError, match="batch_size"):
        DDPLConfig(batch_size=0)
    with pytest.raises(ValueError, match="gamma"):
        DDPLConfig(gamma=1.0)
