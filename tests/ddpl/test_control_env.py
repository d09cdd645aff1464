"""Cooperative control environments (lqgx.ddpl.envs.control): returns are minus system costs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
from lqgx.ddpl.envs import make
from lqgx.ddpl.envs.control import ControlEnv


def point_masses(T=6, noise=0.0, x0_std=0.0, limit=2.0):
    """Two unit masses on a line, one force each: x = (p1, p2, v1, v2), u = (f1, f2)."""
    dt = 0.1

    def dynamics(x, u):
        v = x[2:] + dt * u
        return jnp.concatenate([x[:2] + dt * v, v])

    goal = jnp.array([1.0, -1.0, 0.0, 0.0])
    return lqgx.System(dynamics, cost=lambda x, u, t: (1.0 + t) * 0.01 * u @ u + 0.1 * jnp.sum((x - goal) ** 2),
                       final_cost=lambda x: 10.0 * jnp.sum((x - goal) ** 2),
                       x0=jnp.zeros(4), horizon=T, x0_cov=x0_std**2 * jnp.eye(4),
                       noise_cov=noise * jnp.eye(4),
                       action_bounds=(-limit * jnp.ones(2), limit * jnp.array([1.0, 0.5])))


def make_env(**kw):
    return ControlEnv("masses-2", point_masses(**kw), agent_actions=((0,), (1,)), state_scale=(1.0, 1.0, 2.0, 2.0))


def run_episode(env, actions, key):
    """Step through one episode with fixed normalized actions[T, n, d]."""
    state, es = env.reset(key)
    rewards, dones, states = [], [], [state]
    for t in range(env.max_steps):
        state, es, r, d = env.step(jax.random.fold_in(key, t), es, actions[t])
        rewards.append(float(r))
        dones.append(bool(d))
        states.append(state)
    return np.array(rewards), np.array(dones), states


def test_episode_return_is_minus_the_system_trajectory_cost():
    env = make_env()
    acts = jax.random.uniform(jax.random.PRNGKey(0), (env.max_steps, 2, 1), minval=-1.2, maxval=1.2)
    rewards, dones, _ = run_episode(env, acts, jax.random.PRNGKey(1))
    u = jax.vmap(env.to_system_action)(acts)
    xs = env.system.rollout(u)
    np.testing.assert_allclose(rewards.sum(), -float(env.system.trajectory_cost(xs, u)), rtol=1e-10)
    # the last reward carries the final cost
    np.testing.assert_allclose(rewards[-1], -float(env.system.cost(xs[-2], u[-1], env.max_steps - 1)
                                                   + env.system.final_cost(xs[-1])), rtol=1e-10)
    assert dones.tolist() == [False] * (env.max_steps - 1) + [True]


def test_auto_reset_time_feature_and_observations():
    env = make_env(x0_std=0.1)
    acts = jnp.zeros((env.max_steps, 2, 1))
    _, _, states = run_episode(env, acts, jax.random.PRNGKey(2))
    times = [int(env.system_state(s)[1]) for s in states]
    assert times == list(range(env.max_steps)) + [0]          # auto-reset after T steps
    assert env.state_dim == 5 and env.obs_dim == 7
    obs = env.observe(states[3])
    assert obs.shape == (2, 7)
    np.testing.assert_array_equal(np.asarray(obs[:, 5:]), np.eye(2))
    np.testing.assert_array_equal(np.asarray(obs[0, :5]), np.asarray(states[3]))
    x, t = env.system_state(states[3])
    np.testing.assert_allclose(np.asarray(env.make_state(x, t)), np.asarray(states[3]), rtol=1e-12)


def test_normalized_actions_round_trip_and_follow_each_agents_box():
    env = make_env()
    a = jnp.array([[0.3], [-0.8]])
    u = env.to_system_action(a)
    np.testing.assert_allclose(np.asarray(u), [0.6, -1.7], rtol=1e-12)  # boxes [-2, 2], [-2, 1]
    np.testing.assert_allclose(np.asarray(env.from_system_action(u)), np.asarray(a), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(env.to_system_action(jnp.array([[5.0], [-5.0]]))), [2.0, -2.0])


def test_agent_moments_are_the_normalized_marginals():
    env = make_env()
    cov = jnp.array([[0.4, 0.1], [0.1, 0.9]])
    mean = jnp.array([0.5, -1.0])
    m, c = env.from_system_moments(mean, cov)
    samples = jax.random.multivariate_normal(jax.random.PRNGKey(0), mean, cov, (200_000,))
    centre, half = np.array([0.0, -0.5]), np.array([2.0, 1.5])
    a = (np.asarray(samples) - centre) / half
    np.testing.assert_allclose(np.asarray(m)[:, 0], a.mean(0), atol=5e-3)
    np.testing.assert_allclose(np.asarray(c)[:, 0, 0], a.var(0), rtol=1e-2)


def test_leaving_the_valid_range_ends_the_episode_with_the_penalty():
    env = ControlEnv("masses-2", point_masses(), agent_actions=((0,), (1,)), state_scale=1.0,
                     state_limit=(np.inf, np.inf, 0.05, np.inf), nonfinite_penalty=77.0)
    state, es = env.reset(jax.random.PRNGKey(0))
    state, es, r, d = env.step(jax.random.PRNGKey(1), es, jnp.array([[1.0], [0.0]]))  # v1 = 0.2 > 0.05
    assert bool(d) and float(r) == -77.0
    assert int(env.system_state(state)[1]) == 0

    def explode(x, u):
        return x * jnp.inf

    bad = point_masses().replace(dynamics=explode)
    env = ControlEnv("bad", bad, agent_actions=((0,), (1,)), state_scale=1.0)
    state, es = env.reset(jax.random.PRNGKey(0))
    state, es, r, d = env.step(jax.random.PRNGKey(1), es, jnp.zeros((2, 1)))
    assert bool(d) and float(r) == -1e4 and np.all(np.isfinite(np.asarray(state)))


def test_bad_partitions_and_systems_are_rejected():
    sys_ = point_masses()
    with pytest.raises(ValueError, match="agent_actions"):
        ControlEnv("x", sys_, agent_actions=((0,), (0,)), state_scale=1.0)
    with pytest.raises(ValueError, match="agent_actions"):
        ControlEnv("x", sys_, agent_actions=((0, 1),) + ((),), state_scale=1.0)
    with pytest.raises(ValueError, match="action_bounds"):
        ControlEnv("x", sys_.replace(action_bounds=None), agent_actions=((0,), (1,)), state_scale=1.0)
    with pytest.raises(ValueError, match="state_scale"):
        ControlEnv("x", sys_, agent_actions=((0,), (1,)), state_scale=0.0)
    with pytest.raises(TypeError, match="system"):
        ControlEnv("x", "pendulum", agent_actions=((0,), (1,)), state_scale=1.0)


def test_registered_pendulum_envs_partition_their_systems_one_joint_per_agent():
    dp = make("double-pendulum-2")
    assert dp.system.name == "double_pendulum" and dp.num_agents == 2 and dp.action_dim == 1
    assert dp.agent_actions == ((0,), (1,)) and dp.max_steps == dp.system.horizon == 100
    qp = make("quad-pendulum-4")
    assert qp.system.name == "quad_pendulum" and qp.agent_actions == ((0,), (1,), (2,), (3,))
    assert qp.state_dim == 9 and qp.obs_dim == 13 and qp.max_steps == 150
    with pytest.raises(ValueError, match="unknown option"):
        make("double-pendulum-2", wobble=1)
    with pytest.raises(ValueError, match="takes no options"):
        make("toy-game-2", horizon=3)


def test_double_pendulum_env_return_matches_the_mjx_system_cost():
    env = make("double-pendulum-2", horizon=12, tail=4, noise_cov=np.zeros((4, 4)), x0_cov=np.zeros((4, 4)))
    acts = jax.random.uniform(jax.random.PRNGKey(3), (12, 2, 1), minval=-1, maxval=1)

    def episode(acts):
        def step(carry, a):
            state, es = carry
            state, es, r, d = env.step(jax.random.PRNGKey(0), es, a)
            return (state, es), r
        _, rewards = jax.lax.scan(step, env.reset(jax.random.PRNGKey(1)), acts)
        return jnp.sum(rewards)

    u = jax.vmap(env.to_system_action)(acts)
    cost = env.system.trajectory_cost(env.system.rollout(u), u)
    np.testing.assert_allclose(float(jax.jit(episode)(acts)), -float(cost), rtol=1e-9)
