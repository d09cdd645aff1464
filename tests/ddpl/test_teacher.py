"""TVLG teachers acting for the agents of a control environment (lqgx.controllers.teacher)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
from lqgx.controllers.teacher import (evaluate_teacher, load_teacher, make_teacher, mean_actions,
                                      save_teacher, teacher_actions, teacher_moments)
from lqgx.ddpl.envs.control import ControlEnv
from lqgx.lq.types import LinearGaussianPolicy

from .test_control_env import point_masses


def masses_env(**kw):
    return ControlEnv("masses-2", point_masses(**kw), agent_actions=((0,), (1,)), state_scale=(1.0, 1.0, 2.0, 2.0))


@pytest.fixture(scope="module")
def ilqg_teacher():
    env = masses_env(limit=20.0)     # bounds far away: iLQG solves the LQ problem exactly
    return env, make_teacher(env, "ilqg", key=jax.random.PRNGKey(0), iterations=30, starts=2,
                             exploration=0.05, eval_episodes=16)


def test_ilqg_teacher_reproduces_the_solvers_cost_and_acts_per_agent(ilqg_teacher):
    env, teacher = ilqg_teacher
    # deterministic system: the noise-free teacher's return is minus iLQG's optimal cost
    np.testing.assert_allclose(teacher.mean_return, -float(np.min(teacher.result.cost)), rtol=1e-6)
    assert teacher.evaluated_return < teacher.mean_return       # exploration noise costs something
    assert teacher.solver_env_steps == 0 and teacher.algo == "ilqg"
    # the policy's covariance is the exploration noise: (0.05 · half range)^2
    np.testing.assert_allclose(np.asarray(teacher.policy.cov[0]), np.diag([(0.05 * 20) ** 2, (0.05 * 15) ** 2]),
                               rtol=1e-10)
    state, _ = env.reset(jax.random.PRNGKey(1))
    a = teacher.act(jax.random.PRNGKey(2), state, t=3)
    assert a.shape == (2, 1) and np.all(np.abs(np.asarray(a)) <= 1)
    x, _ = env.system_state(state)
    u = teacher.policy.mean(x, 3)
    np.testing.assert_allclose(np.asarray(teacher.mean_act(env.make_state(x, 3))),
                               np.asarray(env.from_system_action(u)), rtol=1e-10)


def test_teacher_samples_follow_its_moments():
    env = masses_env(limit=50.0)
    T = env.max_steps
    K = 0.3 * jax.random.normal(jax.random.PRNGKey(0), (T, 2, 4))
    policy = LinearGaussianPolicy(K, jnp.ones((T, 2)), jnp.broadcast_to(jnp.array([[2.0, 0.5], [0.5, 1.0]]), (T, 2, 2)))
    state = env.make_state(jnp.array([0.3, -0.2, 0.1, 0.4]), 2)
    samples = jax.vmap(lambda k: teacher_actions(env, policy, k, state))(jax.random.split(jax.random.PRNGKey(1), 100_000))
    mean, cov = teacher_moments(env, policy, state)
    np.testing.assert_allclose(np.asarray(samples.mean(0)), np.asarray(mean), atol=2e-3)
    np.testing.assert_allclose(np.asarray(samples.var(0))[:, 0], np.asarray(cov)[:, 0, 0], rtol=2e-2)
    np.testing.assert_allclose(np.asarray(mean_actions(env, policy, state)), np.asarray(mean), rtol=1e-10)


def test_evaluated_return_matches_a_direct_rollout(ilqg_teacher):
    env, teacher = ilqg_teacher
    mean, returns = evaluate_teacher(env, teacher.policy, jax.random.PRNGKey(5), 8, noise=False)
    u_nominal = np.asarray(teacher.result.actions)[int(np.argmin(teacher.result.cost))]
    xs = env.system.rollout(jnp.asarray(u_nominal))
    np.testing.assert_allclose(returns, -float(env.system.trajectory_cost(xs, jnp.asarray(u_nominal))), rtol=1e-6)


def test_gps_teacher_counts_the_true_system_samples_it_used():
    env = masses_env(noise=1e-4)
    teacher = make_teacher(env, "gps", key=jax.random.PRNGKey(0), eps=0.5, iterations=2, samples=4,
                           eval_episodes=4)
    assert teacher.solver_env_steps == 3 * 4 * env.max_steps    # initial evaluation + 2 updates
    assert np.isfinite(teacher.evaluated_return) and teacher.policy.cov.shape == (env.max_steps, 2, 2)


def test_saved_teacher_loads_back(tmp_path, ilqg_teacher):
    env, teacher = ilqg_teacher
    save_teacher(tmp_path / "t.npz", teacher)
    back = load_teacher(tmp_path / "t.npz", env)
    for a, b in zip(jax.tree.leaves(teacher.policy), jax.tree.leaves(back.policy)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert back.evaluated_return == teacher.evaluated_return and back.algo == "ilqg"
    other = masses_env(T=env.system.horizon + 1)
    with pytest.raises(ValueError, match="another horizon"):
        load_teacher(tmp_path / "t.npz", other)


def test_bad_teacher_arguments_name_themselves():
    env = masses_env()
    with pytest.raises(ValueError, match="algo"):
        make_teacher(env, "sac")
    with pytest.raises(TypeError, match="env"):
        make_teacher(lqgx.ddpl.envs.make("toy-game-2"), "ilqg")
    with pytest.raises(ValueError, match="exploration"):
        make_teacher(env, "ilqg", exploration=-1.0)
    assert lqgx.ddpl.teacher is make_teacher
