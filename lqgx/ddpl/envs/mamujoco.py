"""Multi-agent MuJoCo on MJX: Gymnasium's ``Ant-v5`` and ``HumanoidStandup-v5`` split among agents.

The base tasks are Gymnasium's own (``gymnasium/envs/mujoco/ant_v5.py``,
``humanoidstandup_v5.py``): the MJCF files the installed ``gymnasium`` package ships, its frame
skip (5), reward terms, termination, reset noise and 1000-step truncation, re-implemented on MJX so
that episodes ``vmap`` over environments and ``lax.scan`` over time. The agent partitions and the
local observations follow MaMuJoCo (Farama Gymnasium-Robotics ``multiagent_mujoco/obsk.py`` and
``mujoco_multi.py``); ``ant-8x1`` and ``humanoid-standup-17x1`` exist only in HARL
(PKU-MARL/HARL ``harl/envs/mamujoco``), whose joint order they use.

Names: ``ant-2x4``, ``ant-4x2``, ``ant-8x1``, ``humanoid-standup-17x1``.

Interface (``envs.base``): the global state (critics' input) is the base task's observation —
Ant: qpos[2:] (13), qvel (14), cfrc_ext[1:] clipped to [−1, 1] (78) = 105; HumanoidStandup:
qpos[2:] (22), qvel (23), cinert[1:] (130), cvel[1:] (78), qfrc_actuator[6:] (17),
cfrc_ext[1:] (78) = 348. The shared reward is the base task's reward. Agent actions are in the
base task's units (Ant [−1, 1], HumanoidStandup [−0.4, 0.4]), so the reward's control cost is
Gymnasium's. ``done`` = terminated (Ant: torso z outside [0.2, 1.0] or a non-finite state) or
truncated (``max_steps``, default 1000); the next state is then the first of a new episode (auto-reset).

Observation modes (``observation=``):

* ``"full"`` (the default): every agent sees the global state plus a one-hot agent id — HARL's
  "fully observable setting", which the paper's Table 1 baselines (HASAC, HAPPO, MAPPO from HARL)
  were run with, so returns compare with that table. (HARL also normalizes observations by
  running statistics; DDPL here does not.)
* ``"local"``: MaMuJoCo's ``agent_obsk = 1``: each agent sees, for its own joints (sorted by
  name), qpos, qvel and the cfrc_ext of the bodies the joint moves (Humanoid also cinert, cvel and
  qfrc_actuator), the qpos of the joints at graph distance 1, and the root's qpos[2:7] and
  qvel[:6]. Agents' observations differ in length; shorter ones are zero-padded to ``obs_dim``.
  Joint coordinates are looked up by joint name in the MJCF, which fixes Gymnasium-Robotics'
  abdomen_y/abdomen_z qpos mix-up (its abdomen_y node carries abdomen_z's index).

Physics (``physics="fast"|"gymnasium"``): Gymnasium's models with the settings MJX needs
(elliptic cones for the Ant, Newton for the HumanoidStandup) and capped solver iterations by
default; see ``lqgx.systems.gym_tasks`` for what they change and how closely MJX then steps with
C MuJoCo.

Each environment also has ``system``: the ``lqgx.System`` of the same plant
(``lqgx.systems.ant_v5`` / ``humanoid_standup_v5``, horizon ``horizon``) for trajectory optimizers
and teachers, and ``agent_actions`` (indices into the actuator vector, per agent) /
``agent_joints`` (names). A TVLG teacher (``lqgx.controllers.teacher``) needs the plant's state
x = (qpos, qvel) and the step t, but the global state leaves out the torso's x, y (as Gymnasium's
observation does): it acts on the teacher state z = [global state, qpos[0:2], t / max_steps]
(``teacher_state``), from which ``system_state`` reads (x, t) and ``state_of`` the global state.

``max_steps`` (default 1000, Gymnasium's TimeLimit) caps an episode; shorter episodes (e.g. the
teacher's horizon) make short-budget warm-start studies possible on a CPU. A teacher whose
horizon is shorter than ``max_steps`` holds its last step's controller for the rest of the
episode (``teacher_actions`` clips t).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from lqgx._checks import positive_int
from lqgx._pytree import tree_select
from lqgx.ddpl.envs.base import global_observation
from lqgx.systems._mjx import MjxDynamics, import_mjx
from lqgx.systems.gym_tasks import ANT, EPISODE_STEPS, FRAME_SKIP, HUMANOID_STANDUP, load_model

OBSERVATIONS = ("full", "local")
_WIDTH = {"cinert": 10, "cvel": 6, "cfrc_ext": 6}


# -- partitions (joint names in each agent's order) -------------------------------------------------
_ANT_LEGS = (("hip_1", "ankle_1"), ("hip_2", "ankle_2"), ("hip_3", "ankle_3"), ("hip_4", "ankle_4"))
PARTITIONS = {
    # Gymnasium-Robotics obsk.py "2x4": front legs, back legs; "4x2": one leg each.
    "ant-2x4": (ANT, (_ANT_LEGS[0] + _ANT_LEGS[1], _ANT_LEGS[2] + _ANT_LEGS[3])),
    "ant-4x2": (ANT, _ANT_LEGS),
    # HARL: one joint each, hip1, ankle1, ..., hip4, ankle4.
    "ant-8x1": (ANT, tuple((j,) for leg in _ANT_LEGS for j in leg)),
    # HARL's order of the 17 actuated joints.
    "humanoid-standup-17x1": (HUMANOID_STANDUP, tuple((j,) for j in (
        "left_shoulder1", "left_shoulder2", "abdomen_x", "abdomen_y", "abdomen_z",
        "right_shoulder1", "right_shoulder2", "right_elbow", "left_elbow", "left_hip_x",
        "left_hip_y", "left_hip_z", "right_hip_x", "right_hip_y", "right_hip_z", "right_knee",
        "left_knee"))),
}
NAMES = tuple(PARTITIONS)

# MaMuJoCo's graphs (obsk.py): hyperedges over joints, and the bodies whose cinert/cvel/cfrc_ext a
# joint's agent observes.
_GRAPHS = {
    ANT: dict(
        edges=(("hip_1", "ankle_1"), ("hip_2", "ankle_2"), ("hip_3", "ankle_3"), ("hip_4", "ankle_4"),
               ("hip_1", "hip_2", "hip_3", "hip_4")),
        bodies={"hip_1": ("torso", "front_left_leg"), "ankle_1": ("front_left_leg", "aux_1", 4),
                "hip_2": ("torso", "front_right_leg"), "ankle_2": ("front_right_leg", "aux_2", 7),
                "hip_3": ("torso", "back_leg"), "ankle_3": ("back_leg", "aux_3", 10),
                "hip_4": ("torso", "right_back_leg"), "ankle_4": ("right_back_leg", "aux_4", 13)}),
    HUMANOID_STANDUP: dict(
        edges=(("abdomen_x", "abdomen_y", "abdomen_z"), ("right_hip_x", "right_hip_y", "right_hip_z"),
               ("left_hip_x", "left_hip_y", "left_hip_z"),
               ("left_elbow", "left_shoulder1", "left_shoulder2"),
               ("right_elbow", "right_shoulder1", "right_shoulder2"),
               ("left_knee", "left_hip_x", "left_hip_y", "left_hip_z"),
               ("right_knee", "right_hip_x", "right_hip_y", "right_hip_z"),
               ("left_shoulder1", "left_shoulder2", "abdomen_x", "abdomen_y", "abdomen_z"),
               ("right_shoulder1", "right_shoulder2", "abdomen_x", "abdomen_y", "abdomen_z"),
               ("abdomen_x", "abdomen_y", "abdomen_z", "left_hip_x", "left_hip_y", "left_hip_z"),
               ("abdomen_x", "abdomen_y", "abdomen_z", "right_hip_x", "right_hip_y", "right_hip_z")),
        bodies={"abdomen_y": ("torso", "lwaist", "pelvis"), "abdomen_z": ("torso", "lwaist", "pelvis"),
                "abdomen_x": ("pelvis", "right_thigh", "left_thigh"),
                "right_hip_x": ("right_thigh", "right_shin"), "right_hip_z": ("right_thigh", "right_shin"),
                "right_hip_y": ("right_thigh", "right_shin"), "right_knee": ("right_shin", "right_foot"),
                "left_hip_x": ("left_thigh", "left_shin"), "left_hip_z": ("left_thigh", "left_shin"),
                "left_hip_y": ("left_thigh", "left_shin"), "left_knee": ("left_shin", "left_foot"),
                "right_shoulder1": ("torso", "right_upper_arm", "right_lower_arm"),
                "right_shoulder2": ("torso", "right_upper_arm", "right_lower_arm"),
                "right_elbow": ("right_lower_arm",),
                "left_shoulder1": ("torso", "left_upper_arm", "left_lower_arm"),
                "left_shoulder2": ("torso", "left_upper_arm", "left_lower_arm"),
                "left_elbow": ("left_lower_arm",)}),
}


def _body_id(model, body) -> int:
    # obsk.py names the ant's lower-leg bodies by number (they are unnamed in ant.xml).
    if isinstance(body, int):
        return body
    index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body)
    if index < 0:
        raise ValueError(f"body {body!r} not in the model")
    return index


def _joint(model, name: str):
    index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if index < 0:
        raise ValueError(f"joint {name!r} not in the model")
    return int(model.jnt_qposadr[index]), int(model.jnt_dofadr[index])


def actuator_of_joint(model, name: str) -> int:
    """Index in ``ctrl`` of the actuator that drives joint ``name``."""
    joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    hits = [a for a in range(model.nu) if model.actuator_trnid[a, 0] == joint
            and model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT]
    if len(hits) != 1:
        raise ValueError(f"joint {name!r} must have exactly one actuator, has {len(hits)}")
    return hits[0]


# -- observation layout ---------------------------------------------------------------------------
class _Layout:
    """Offsets of each category in the global state (the base task's observation)."""

    def __init__(self, model, task):
        self.offset = {"qpos": -2, "qvel": model.nq - 2}  # qpos[2:] first: qpos[i] is at i − 2
        start = model.nq - 2 + model.nv
        for category in task.body_categories:
            self.offset[category] = start
            start += model.nv - 6 if category == "qfrc_actuator" else _WIDTH[category] * (model.nbody - 1)
        self.size = start

    def body(self, category, body):
        # rows of body 1.. (the world body is left out of the observation)
        width = _WIDTH[category]
        first = self.offset[category] + width * (body - 1)
        return list(range(first, first + width))

    def actuator_force(self, model, dof):
        # qfrc_actuator[6:]: the free joint's 6 dofs are left out
        return [self.offset["qfrc_actuator"] + dof - 6]


def local_indices(model, task, agent_joints) -> list[list[int]]:
    """MaMuJoCo ``agent_obsk = 1`` observations as indices into the global state, per agent."""
    layout = _Layout(model, task)
    graph = _GRAPHS[task]
    out = []
    for joints in agent_joints:
        own = set(joints)
        near = set()
        for edge in graph["edges"]:
            for j in own:
                if j in edge:
                    near |= set(edge)
        near -= own
        index, seen = [], {c: set() for c in _WIDTH}
        for name in sorted(own):
            qpos, dof = _joint(model, name)
            for category in task.local_categories:
                if category == "qpos":
                    index.append(layout.offset["qpos"] + qpos)
                elif category == "qvel":
                    index.append(layout.offset["qvel"] + dof)
                elif category == "qfrc_actuator":
                    index += layout.actuator_force(model, dof)
                else:
                    for body in graph["bodies"][name]:
                        b = _body_id(model, body)
                        if b not in seen[category]:
                            index += layout.body(category, b)
                            seen[category].add(b)
        for name in sorted(near):
            index.append(layout.offset["qpos"] + _joint(model, name)[0])
        # the root: qpos[2:7] (height, orientation) and qvel[:6]
        index += [layout.offset["qpos"] + i for i in range(2, 7)]
        index += [layout.offset["qvel"] + i for i in range(6)]
        out.append(index)
    return out


# -- the environment ------------------------------------------------------------------------------
class EnvState(NamedTuple):
    data: object        # mjx.Data after the last env step (its xpos feeds the next forward reward)
    t: jax.Array        # steps taken in this episode


class MaMuJoCoEnv:
    """A MaMuJoCo task on MJX behind the DDPL interface (module docstring)."""

    eval_discount = 1.0

    def __init__(self, name: str, observation: str = "full", physics: str = "fast",
                 max_steps: int = EPISODE_STEPS, horizon: int | None = None):
        if name not in PARTITIONS:
            raise ValueError(f"env must be one of {NAMES}, got {name!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        max_steps = positive_int(max_steps, "max_steps")
        self.name, self.observation, self.physics = name, observation, physics
        self.horizon = None if horizon is None else positive_int(horizon, "horizon")
        self.task, self.agent_joints = PARTITIONS[name]
        self.mj_model = load_model(self.task, physics)
        model = self.mj_model
        self.agent_actions = tuple(tuple(actuator_of_joint(model, j) for j in joints)
                                   for joints in self.agent_joints)
        self.num_agents = len(self.agent_actions)
        self.action_dim = len(self.agent_actions[0])
        low, high = model.actuator_ctrlrange[0]
        self.action_low = (float(low),) * self.action_dim
        self.action_high = (float(high),) * self.action_dim
        self.max_steps = int(max_steps)
        self.dt = FRAME_SKIP * float(model.opt.timestep)
        self.state_dim = _Layout(model, self.task).size
        if observation == "full":
            self.obs_dim = self.state_dim + self.num_agents
            self._local = None
        else:
            index = local_indices(model, self.task, self.agent_joints)
            self.local_sizes = tuple(len(i) for i in index)
            self.obs_dim = max(self.local_sizes)
            # −1 pads shorter observations; it selects the zero appended to the state
            self._local = np.array([i + [-1] * (self.obs_dim - len(i)) for i in index])
        self._mjx = import_mjx()
        self.dynamics = MjxDynamics(model, frame_skip=FRAME_SKIP)
        self.mjx_model = self.dynamics.mjx_model
        self._template = self.dynamics.template
        self.init_qpos = np.array(model.qpos0)
        self._index = np.asarray(self.agent_actions)

    # -- lqgx.System of the same plant, built on first use (it compiles nothing until called)
    @functools.cached_property
    def system(self):
        import lqgx.systems

        builder = lqgx.systems.ant_v5 if self.task is ANT else lqgx.systems.humanoid_standup_v5
        options = {} if self.horizon is None else {"horizon": self.horizon}
        return builder(physics=self.physics, **options)

    # -- conversions --------------------------------------------------------------------------------
    def to_system_action(self, actions):
        """actions[n, d] → ctrl[nu] (each agent's entries at its actuators)."""
        actions = jnp.asarray(actions)
        return jnp.zeros((self.mj_model.nu,), actions.dtype).at[self._index.ravel()].set(
            actions.reshape(-1))

    def from_system_action(self, u):
        """ctrl[nu] → actions[n, d]."""
        return jnp.asarray(u)[self._index]

    def from_system_moments(self, mean, cov):
        """Per-agent moments (mean[n, d], cov[n, d, d]) of ctrl ~ N(mean[nu], cov[nu, nu])."""
        idx = self._index
        return jnp.asarray(mean)[idx], jnp.asarray(cov)[idx[:, :, None], idx[:, None, :]]

    # -- the teacher's view (module docstring) -----------------------------------------------------
    def teacher_state(self, state, env_state):
        """z = [state, qpos[0:2], t / max_steps]."""
        qpos_xy = env_state.data.qpos[:2].astype(state.dtype)
        return jnp.concatenate([state, qpos_xy, (env_state.t / self.max_steps).astype(state.dtype)[None]])

    def state_of(self, teacher_state):
        """The global state of a teacher state."""
        return teacher_state[:self.state_dim]

    def system_state(self, teacher_state):
        """(x = (qpos, qvel) of ``system``, t) of a teacher state."""
        z, S = teacher_state, self.state_dim
        nq, nv = self.mj_model.nq, self.mj_model.nv
        qpos = jnp.concatenate([z[S:S + 2], z[:nq - 2]])
        x = jnp.concatenate([qpos, z[nq - 2:nq - 2 + nv]])
        t = jnp.round(z[S + 2] * self.max_steps).astype(jnp.int32)
        return x, t

    def perturb(self, key, teacher_state, std):
        """The teacher state with N(0, std²) (SI units: m, rad, m/s, rad/s) added to its
        kinematic entries (qpos[2:], qvel and the torso's x, y); the body forces and the step are
        kept (``lqgx.ddpl.guide``). The torso's quaternion (qpos[3:7]) is perturbed too and not
        renormalized (how the Ant warm start in docs/mamujoco.md was measured); the teacher's
        gains act on it linearly either way."""
        z, S = teacher_state, self.state_dim
        k = self.mj_model.nq - 2 + self.mj_model.nv
        k_body, k_xy = jax.random.split(key)
        z = z.at[:k].add(std * jax.random.normal(k_body, (k,), z.dtype))
        return z.at[S:S + 2].add(std * jax.random.normal(k_xy, (2,), z.dtype))

    def observe(self, state):
        """obs[n, obs_dim] of a global state (module docstring: ``observation``)."""
        if self._local is None:
            return global_observation(state, self.num_agents)
        padded = jnp.concatenate([state, jnp.zeros((1,), state.dtype)])
        return padded[self._local]

    def global_state(self, data):
        """The base task's observation of an ``mjx.Data`` (Gymnasium's ``_get_obs``)."""
        impl = data._impl
        parts = [data.qpos[2:], data.qvel]
        for category in self.task.body_categories:
            if category == "cfrc_ext":
                forces = impl.cfrc_ext[1:]
                parts.append((jnp.clip(forces, -1.0, 1.0) if self.task is ANT else forces).ravel())
            elif category == "cinert":
                parts.append(impl.cinert[1:].ravel())
            elif category == "cvel":
                parts.append(data.cvel[1:].ravel())
            else:
                parts.append(data.qfrc_actuator[6:])
        return jnp.concatenate(parts).astype(jnp.float32)

    # -- dynamics -----------------------------------------------------------------------------------
    def _reset_data(self, key):
        """Gymnasium's ``reset_model`` followed by ``set_state``'s ``mj_forward``."""
        dtype = self._template.qpos.dtype
        k_pos, k_vel = jax.random.split(key)
        scale = self.task.reset_noise
        nq, nv = self.mj_model.nq, self.mj_model.nv
        qpos = jnp.asarray(self.init_qpos, dtype) + jax.random.uniform(k_pos, (nq,), dtype, -scale, scale)
        if self.task.normal_velocity_noise:
            qvel = scale * jax.random.normal(k_vel, (nv,), dtype)
        else:
            qvel = jax.random.uniform(k_vel, (nv,), dtype, -scale, scale)
        return self.set_state(qpos, qvel)

    def set_state(self, qpos, qvel):
        """``mjx.Data`` at (qpos, qvel) after a forward pass, like Gymnasium's ``set_state``."""
        dtype = self._template.qpos.dtype
        data = self._template.replace(qpos=jnp.asarray(qpos, dtype), qvel=jnp.asarray(qvel, dtype))
        return self._mjx.forward(self.mjx_model, data)

    def reset(self, key):
        data = self._reset_data(key)
        return self.global_state(data), EnvState(data, jnp.zeros((), jnp.int32))

    def simulate(self, data, ctrl):
        """Gymnasium's ``do_simulation``: ``FRAME_SKIP`` MuJoCo steps, then ``mj_rnePostConstraint``
        (which fills ``cfrc_ext``)."""
        data = self.dynamics.step_data(data.replace(ctrl=jnp.asarray(ctrl, data.qpos.dtype)))
        return self._mjx.rne_postconstraint(self.mjx_model, data)

    def reward_terminated(self, before, after, ctrl):
        """(reward, terminated) of Gymnasium's ``step`` for the transition ``before → after``."""
        finite = jnp.all(jnp.isfinite(after.qpos)) & jnp.all(jnp.isfinite(after.qvel))
        if self.task is ANT:
            # forward reward: the torso's x displacement over dt, read from xpos as Gymnasium does
            # (xpos is computed at the start of MuJoCo's last substep in both C and MJX)
            x_velocity = (after.xpos[1, 0] - before.xpos[1, 0]) / self.dt
            z = after.qpos[2]
            healthy = finite & (z >= 0.2) & (z <= 1.0)
            ctrl_cost = 0.5 * jnp.sum(jnp.square(ctrl))
            contact_cost = 5e-4 * jnp.sum(jnp.square(jnp.clip(after._impl.cfrc_ext, -1.0, 1.0)))
            reward = x_velocity + healthy.astype(x_velocity.dtype) - ctrl_cost - contact_cost
            return reward, ~healthy
        uph = after.qpos[2] / self.mj_model.opt.timestep   # Gymnasium divides by the timestep, not dt
        ctrl_cost = 0.1 * jnp.sum(jnp.square(after.ctrl))
        impact = jnp.minimum(0.5e-6 * jnp.sum(jnp.square(after._impl.cfrc_ext)), 10.0)
        reward = uph - ctrl_cost - impact + 1.0
        return reward, ~finite

    def step(self, key, env_state, actions):
        ctrl = self.to_system_action(actions)
        before = env_state.data
        after = self.simulate(before, ctrl)
        reward, terminated = self.reward_terminated(before, after, ctrl)
        t = env_state.t + 1
        done = terminated | (t >= self.max_steps)
        fresh = self._reset_data(key)
        data = tree_select(done, fresh, after)
        t = jnp.where(done, 0, t).astype(jnp.int32)
        # a non-finite transition would write NaNs into the replay buffer: report it as a
        # terminal step with zero reward and start afresh (Gymnasium terminates it too)
        reward = jnp.where(jnp.isfinite(reward), reward, 0.0).astype(jnp.float32)
        return self.global_state(data), EnvState(data, t), reward, done


def make(name: str, observation: str = "full", physics: str = "fast",
         max_steps: int = EPISODE_STEPS, horizon: int | None = None) -> MaMuJoCoEnv:
    """``ant-2x4`` | ``ant-4x2`` | ``ant-8x1`` | ``humanoid-standup-17x1`` (module docstring)."""
    return MaMuJoCoEnv(name, observation=observation, physics=physics, max_steps=max_steps,
                       horizon=horizon)
