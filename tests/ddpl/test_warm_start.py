"""Warm start of DDPL from a TVLG teacher: demonstrations, fit losses, pretraining, guidance, train()."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lqgx.controllers.teacher import Teacher, save_teacher, teacher_moments
from lqgx.ddpl.algorithm import DDPLConfig, guide_weight, init_state, make_policy
from lqgx.ddpl.diffusion import DiffusionPolicy
from lqgx.ddpl.envs.control import ControlEnv
from lqgx.ddpl.gaussian import GaussianPolicy
from lqgx.ddpl.guide import Guide, teacher_fit_loss, teacher_targets
from lqgx.ddpl.train import train
from lqgx.ddpl.warm_start import demonstrations, seed_state
from lqgx.lq.types import LinearGaussianPolicy

from .test_control_env import point_masses


def masses_env():
    return ControlEnv("masses-2", point_masses(noise=1e-4, x0_std=0.05, limit=20.0), agent_actions=((0,), (1,)),
                      state_scale=(1.0, 1.0, 2.0, 2.0))


def linear_teacher(env, std=0.05, seed=0):
    """A TVLG u = k_t + K_t x with small random gains, in system units."""
    T, n, m = env.max_steps, env.system.state_dim, env.system.action_dim
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    half = 0.5 * (np.asarray(env.system.action_bounds[1]) - np.asarray(env.system.action_bounds[0]))
    cov = jnp.broadcast_to(jnp.diag(jnp.asarray((std * half) ** 2)), (T, m, m))
    return LinearGaussianPolicy(-2.0 * jnp.broadcast_to(jnp.eye(m, n), (T, m, n)) + 0.1 * jax.random.normal(k1, (T, m, n)),
                                2.0 * jax.random.normal(k2, (T, m)), cov)


def test_demonstrations_hold_returns_to_go_and_whole_episodes():
    env = masses_env()
    teacher = linear_teacher(env)
    demos = demonstrations(env, teacher, jax.random.PRNGKey(0), episodes=3, gamma=0.9)
    T = env.max_steps
    assert demos.transitions.reward.shape == (3 * T,) and demos.episode_returns.shape == (3,)
    r = np.asarray(demos.transitions.reward).reshape(3, T)
    g = np.asarray(demos.returns).reshape(3, T)
    expect = np.array([[sum(0.9 ** (k - t) * r[e, k] for k in range(t, T)) for t in range(T)] for e in range(3)])
    np.testing.assert_allclose(g, expect, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(demos.episode_returns), r.sum(1), rtol=1e-10)
    done = np.asarray(demos.transitions.done).reshape(3, T)
    assert np.all(done[:, -1] == 1) and np.all(done[:, :-1] == 0)
    times = np.round(np.asarray(demos.transitions.state).reshape(3, T, -1)[:, :, -1] * T)
    np.testing.assert_array_equal(times, np.tile(np.arange(T), (3, 1)))


def test_gaussian_target_loss_is_the_expected_negative_log_likelihood():
    pol = GaussianPolicy(2, -5.0, 5.0, (8,))
    params = pol.init(jax.random.PRNGKey(0), 3)
    state, mean = jnp.array([0.1, -0.3, 0.2]), jnp.array([0.4, -0.2])
    cov = jnp.array([[0.3, 0.1], [0.1, 0.2]])
    a = jax.random.multivariate_normal(jax.random.PRNGKey(1), mean, cov, (400_000,))
    mc = -jnp.mean(jax.vmap(lambda x: pol.log_prob(params, state, x))(a))
    np.testing.assert_allclose(float(pol.gaussian_target_loss(params, None, state, mean, cov)), float(mc), rtol=2e-3)


def test_exact_and_denoising_score_matching_differ_by_a_constant():
    """Vincent (2011): E[DSM] − E[ESM] does not depend on the score network's parameters."""
    pol = DiffusionPolicy(1, -3.0, 3.0, steps=5, schedule="vp", hidden=(16,), tau_samples=None)
    state, mean, cov = jnp.array([0.2, 1.0]), jnp.array([0.3]), jnp.array([[0.04]])
    keys = jax.random.split(jax.random.PRNGKey(0), 40_000)
    a = mean + 0.2 * jax.random.normal(jax.random.PRNGKey(1), (40_000, 1))

    @jax.jit
    def gap(params):
        dsm = jax.vmap(lambda k, x: pol.denoising_loss(params, k, state, x))(keys, a)
        esm = jax.vmap(lambda k: pol.gaussian_target_loss(params, k, state, mean, cov))(keys)
        return jnp.mean(dsm) - jnp.mean(esm), jnp.mean(esm)

    (g1, e1), (g2, e2) = gap(pol.init(jax.random.PRNGKey(2), 2)), gap(pol.init(jax.random.PRNGKey(3), 2))
    assert abs(float(e1 - e2)) > 0.5                 # the two networks fit very differently ...
    np.testing.assert_allclose(float(g1), float(g2), atol=0.03 * abs(float(e1 - e2)))  # ... same gap


@pytest.mark.parametrize("policy", ["gaussian", "diffusion"])
def test_pretraining_fits_the_teachers_law_and_fills_the_buffer(policy):
    env = masses_env()
    teacher = linear_teacher(env)
    cfg = DDPLConfig(policy=policy, hidden=(32, 32), batch_size=16, num_envs=2, buffer_size=512,
                     diffusion_steps=5, schedule="vp", reverse_variance="paper_noiseless_last",
                     demo_episodes=16, pretrain_steps=400, pretrain_lr=3e-3, pretrain_batch=128,
                     pretrain_state_noise=0.05, gamma=0.9)
    state0 = init_state(cfg, env, jax.random.PRNGKey(0))
    state, guide, info, demos = jax.jit(lambda s, tp, k: seed_state(cfg, env, s, tp, k))(
        state0, teacher, jax.random.PRNGKey(1))
    D = 16 * env.max_steps
    assert int(state.env_steps) == D and int(state.buffer.size) == D
    np.testing.assert_array_equal(np.asarray(state.buffer.data.state[:D]), np.asarray(demos.transitions.state))
    assert float(info.policy_loss[-50:].mean()) < float(info.policy_loss[:50].mean())
    # the student's action means at demonstration states are close to the teacher's
    pol = make_policy(cfg, env)
    states = demos.transitions.state[::5]

    def student_mean(s):
        obs = env.observe(s)
        draws = jax.vmap(lambda k: jax.vmap(lambda p, kk, o: pol.sample(p, kk, o))(
            state.policy_params, jax.random.split(k, 2), obs))(jax.random.split(jax.random.PRNGKey(4), 64))
        return jnp.mean(draws, axis=0)

    got = jax.jit(jax.vmap(student_mean))(states)
    want = jax.vmap(lambda s: teacher_moments(env, teacher, s)[0])(states)
    err = float(jnp.sqrt(jnp.mean((got - jnp.clip(want, -1, 1)) ** 2)))
    spread = float(jnp.std(want))
    assert err < 0.35 * spread, (err, spread)
    # the critics start from the teacher's returns-to-go; targets equal the fitted critics
    for a, b in zip(jax.tree.leaves(state.critic_params), jax.tree.leaves(state.critic_target)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_teacher_targets_ask_at_perturbed_demonstration_states_only():
    env = masses_env()
    teacher = linear_teacher(env)
    states = jax.vmap(lambda k: env.reset(k)[0])(jax.random.split(jax.random.PRNGKey(0), 5))
    targets = teacher_targets(env, Guide(teacher, states), jax.random.PRNGKey(1), 64, 0.0)
    obs_states = np.asarray(targets.obs[:, 0, :env.state_dim])
    assert all(np.any(np.all(np.isclose(s, np.asarray(states)), axis=1)) for s in obs_states)
    noisy = teacher_targets(env, Guide(teacher, states), jax.random.PRNGKey(1), 64, 0.1)
    delta = np.asarray(noisy.obs[:, 0, :env.state_dim]) - obs_states
    assert 0.05 < delta[:, :4].std() < 0.15 and np.all(delta[:, 4] == 0)     # time feature kept
    one = jax.tree.map(lambda x: x[:, 0], targets)
    pol = GaussianPolicy(1, -1.0, 1.0, (8,))
    params = pol.init(jax.random.PRNGKey(2), env.obs_dim)
    for target in ("law", "samples"):
        assert np.isfinite(float(teacher_fit_loss(pol, params, jax.random.PRNGKey(3), one, target)))


def test_a_warm_start_is_guided_over_two_budgets_by_default():
    from lqgx.ddpl.train import GUIDE_BUDGETS, run_config

    cfg = run_config("double-pendulum-2", "diffusion", "cpu", "ilqg", 5000, None)
    assert GUIDE_BUDGETS == 2 and cfg.guide_steps == 10_000 and cfg.critic_warmup_steps > 0
    assert run_config("double-pendulum-2", "diffusion", "cpu", "ilqg", 5000, 0).guide_steps == 0
    assert run_config("double-pendulum-2", "diffusion", "cpu", None, 5000, None).guide_steps == 0
    assert float(guide_weight(cfg, 5000)) == cfg.guide_weight / 2


def test_guide_weight_anneals_linearly_to_zero():
    cfg = DDPLConfig(guide_steps=1000, guide_weight=4.0)
    np.testing.assert_allclose([float(guide_weight(cfg, s)) for s in (0, 250, 1000, 5000)], [4.0, 3.0, 0.0, 0.0])
    assert float(guide_weight(DDPLConfig(), 0)) == 0.0
    with pytest.raises(ValueError, match="guide_weight"):
        DDPLConfig(guide_weight=-1.0)
    with pytest.raises(ValueError, match="pretrain_target"):
        DDPLConfig(pretrain_target="mean")


KW = dict(steps=440, num_envs=4, batch_size=8, num_action_samples=2, hidden=(8,), diffusion_steps=3,
          buffer_size=1024, learning_starts=8, eval_every=200, eval_episodes=2, demo_episodes=2,
          pretrain_steps=20, pretrain_batch=16, critic_warmup_steps=40, progress=False)


def test_warm_started_guided_training_resumes_bit_identically(tmp_path, monkeypatch):
    """train() end to end with a hand-made teacher (no solve) on the point masses standing in for
    ``double-pendulum-2`` (same n, m; cheap dynamics)."""
    import lqgx.ddpl.train as train_module

    env = ControlEnv("double-pendulum-2", point_masses(T=20, noise=1e-4, limit=20.0), agent_actions=((0,), (1,)),
                     state_scale=1.0)
    monkeypatch.setattr(train_module, "make_env", lambda name: env)
    dp_teacher_file = tmp_path / "teacher.npz"
    save_teacher(dp_teacher_file, Teacher(env=env, algo="ilqg", policy=linear_teacher(env), evaluated_return=-1.0,
                                          mean_return=-1.0, result=None, solve_s=0.0, solver_env_steps=0, options={}))
    kw = dict(KW, warm_start="ilqg", teacher=dp_teacher_file, guide_steps=400)
    full = train("double-pendulum-2", "gaussian", seed=1, out=tmp_path / "a", **kw)
    assert full["warm_start"] == "ilqg" and full["teacher_return"] == -1.0 and full["pretrain_s"] > 0
    assert full["env_steps"][:2] == [0, 40] and full["env_steps"][-1] == 440   # demos count as steps
    assert (tmp_path / "a" / "teacher.npz").exists() and (tmp_path / "a" / "guide_states.npy").exists()
    train("double-pendulum-2", "gaussian", seed=1, out=tmp_path / "b", max_chunks=1, **kw)
    resumed = train("double-pendulum-2", "gaussian", seed=1, out=tmp_path / "b", resume=True, progress=False)
    assert resumed["eval_return"] == full["eval_return"]
    saved = json.loads((tmp_path / "b" / "results.json").read_text())
    assert saved["warm_start"] == "ilqg" and saved["demo_env_steps"] == 40


def test_warm_start_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="warm_start"):
        train("toy-game-2", warm_start="gps", out=tmp_path)
    with pytest.raises(ValueError, match="warm_start must be one of"):
        train("double-pendulum-2", warm_start="sac", out=tmp_path)
    with pytest.raises(ValueError, match="guide_steps"):
        train("double-pendulum-2", guide_steps=100, out=tmp_path)
