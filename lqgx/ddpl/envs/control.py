"""Cooperative control environments: one ``lqgx.System`` whose action vector is split among agents.

A ``ControlEnv`` turns a finite-horizon control problem (``lqgx.System``: dynamics, running and
final cost, horizon T, initial-state distribution, process noise, action box) into the DDPL
multi-agent interface (``envs.base``):

* agent i owns the entries ``agent_actions[i]`` of the system's action vector u[m] (a partition:
  every entry belongs to exactly one agent) and acts in normalized units a_i ∈ [−1, 1]^d,
  u[agent_actions[i]] = centre + half_range · a_i. Normalizing makes agents with different torque
  limits homogeneous (one policy class, one box), which Algorithm 2's stacked per-agent
  parameters need;
* shared reward r_t = −cost(x_t, u_t, t), and at the last step also −final_cost(x_T), so an
  episode's (undiscounted) return is minus the system's trajectory cost;
* an episode is the system's horizon: x_0 ~ N(x0, x0_cov), x_{t+1} = dynamics(x_t, u_t) + w_t,
  w_t ~ N(0, noise_cov), done after T steps (auto-reset);
* global state s = [x / state_scale, t / T] (critics and policies, Alg. 2). The time feature makes
  the finite-horizon problem Markov: the system's costs and its optimal policies depend on t
  (the double pendulum's cost on the last 20 steps only, every TVLG teacher's gains);
* per-agent observation ``observe(s)[i] = [s, one_hot(i)]`` (``envs.base.global_observation``).

A transition that leaves the simulator's valid range — a non-finite next state or cost, or
|x_i| > ``state_limit[i]`` — ends the episode with reward −``nonfinite_penalty`` instead of
writing NaNs or 1e30s into the replay buffer. The double pendulum needs the limit: its
semi-implicit Euler step at dt = 0.05 s diverges once a joint passes ~40 rad/s (2 rad per step),
which exploratory policies reach (clipped Gaussian torques of 2× the limit: 2 % of 100-step
episodes above 40 rad/s, 1 % non-finite; bang-bang torques: 50 % non-finite within 300 steps),
while iLQG's swing-up stays below 12 rad/s. Its limit of 30 rad/s only ends runaways.

Everything is a pure function of its arguments: ``vmap`` over environments, ``lax.scan`` over time.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lqgx.ddpl.envs.base import global_observation
from lqgx.rollout import _noise_factor
from lqgx.system import System


@dataclasses.dataclass(frozen=True, eq=False)
class ControlEnv:
    """A ``System`` as a cooperative multi-agent environment (module docstring).

    Args:
      name: environment name.
      system: the single-agent ``lqgx.System`` (finite ``action_bounds`` required).
      agent_actions: per agent, the indices of its slice of u[m]; equal lengths d, a partition
        of ``range(m)``.
      state_scale: ``[n]`` divisor of x in the global state. The pendulums keep angles in
        radians (scale 1) rather than dividing them by π: the students must resolve the
        teachers' steep feedback near the upright (iLQG gains of tens of N m per rad); a
        Gaussian student cloned from iLQG on the double pendulum returned −57 with scale 1 vs
        −938 with π (128×128, 5000 steps; ``docs/ddpl-warm-start.md``).
      nonfinite_penalty: minus the reward of a transition that leaves the valid range.
      state_limit: ``[n]`` bound on |x| of the valid range (None: only finiteness).
      make_system: optional ``dtype -> System`` that rebuilds ``system`` in another float dtype
        (teachers solve in float64 while the learner runs in float32).
    """

    name: str
    system: System
    agent_actions: tuple
    state_scale: tuple
    nonfinite_penalty: float = 1e4
    state_limit: tuple | None = None
    make_system: Callable | None = None

    eval_discount = 1.0

    def __post_init__(self):
        sys_ = self.system
        if not isinstance(sys_, System):
            raise TypeError(f"system must be an lqgx.System, got {type(sys_).__name__}")
        if sys_.action_bounds is None or not np.all(np.isfinite(np.asarray(sys_.action_bounds))):
            raise ValueError("system must have finite action_bounds (agents act in normalized units)")
        groups = tuple(tuple(int(i) for i in g) for g in self.agent_actions)
        flat = sorted(i for g in groups for i in g)
        if not groups or flat != list(range(sys_.action_dim)):
            raise ValueError(f"agent_actions must partition range({sys_.action_dim}) (each action "
                             f"index in exactly one agent's slice), got {groups}")
        if len({len(g) for g in groups}) != 1:
            raise ValueError(f"agent_actions: every agent needs the same number of actions, got {groups}")
        scale = tuple(float(s) for s in np.broadcast_to(np.asarray(self.state_scale, float),
                                                         (sys_.state_dim,)))
        if not all(s > 0 and math.isfinite(s) for s in scale):
            raise ValueError(f"state_scale must be positive and finite, got {scale}")
        if self.state_limit is not None:
            limit = tuple(float(v) for v in np.broadcast_to(np.asarray(self.state_limit, float),
                                                             (sys_.state_dim,)))
            if not all(v > 0 for v in limit):
                raise ValueError(f"state_limit must be positive (inf for no limit), got {limit}")
            object.__setattr__(self, "state_limit", limit)
        object.__setattr__(self, "agent_actions", groups)
        object.__setattr__(self, "state_scale", scale)

    # -- sizes (the MultiAgentEnv attributes) -------------------------------------------------------
    num_agents = property(lambda self: len(self.agent_actions))
    action_dim = property(lambda self: len(self.agent_actions[0]))
    state_dim = property(lambda self: self.system.state_dim + 1)
    obs_dim = property(lambda self: self.state_dim + self.num_agents)
    max_steps = property(lambda self: self.system.horizon)
    action_low = property(lambda self: (-1.0,) * self.action_dim)
    action_high = property(lambda self: (1.0,) * self.action_dim)

    @property
    def _index(self) -> np.ndarray:
        """[n, d] action indices (agent-major)."""
        return np.asarray(self.agent_actions)

    def _centre_half(self, dtype):
        low, high = (jnp.asarray(b, dtype) for b in self.system.action_bounds)
        return 0.5 * (high + low), 0.5 * (high - low)

    # -- unit conversions --------------------------------------------------------------------------
    def to_system_action(self, actions):
        """actions[n, d] in [−1, 1] → u[m] (clipped into the system's box)."""
        dtype = self.system.x0.dtype
        centre, half = self._centre_half(dtype)
        u = jnp.zeros((self.system.action_dim,), dtype).at[self._index.ravel()].set(
            jnp.asarray(actions, dtype).reshape(-1))
        return self.system.clip_actions(centre + half * u)

    def from_system_action(self, u):
        """u[m] → actions[n, d] in normalized units (clipped to [−1, 1])."""
        centre, half = self._centre_half(jnp.asarray(u).dtype)
        a = jnp.clip((u - centre) / half, -1.0, 1.0)
        return a[self._index]

    def from_system_moments(self, mean, cov):
        """Per-agent normalized moments of u ~ N(mean[m], cov[m, m]): (mean[n, d], cov[n, d, d])
        of a_i = (u[agent_actions[i]] − centre) / half_range (unclipped)."""
        centre, half = self._centre_half(jnp.asarray(mean).dtype)
        a_mean = ((mean - centre) / half)[self._index]
        scaled = cov / jnp.outer(half, half)
        idx = self._index
        a_cov = scaled[idx[:, :, None], idx[:, None, :]]
        return a_mean, a_cov

    def make_state(self, x, t):
        """Global state [x / state_scale, t / T] (float32 or the system's dtype)."""
        scale = jnp.asarray(self.state_scale, x.dtype)
        return jnp.concatenate([x / scale, jnp.asarray(t, x.dtype)[None] / self.system.horizon])

    def system_state(self, state):
        """(x[n], t) of a global state (t rounded from t / T)."""
        n = self.system.state_dim
        x = state[:n] * jnp.asarray(self.state_scale, state.dtype)
        t = jnp.round(state[n] * self.system.horizon).astype(jnp.int32)
        return x, t

    def teacher_state(self, state, env_state):
        """The teacher's state (``lqgx.controllers.teacher``): the global state itself, which
        holds x and t."""
        return state

    def state_of(self, teacher_state):
        """The global state of a teacher state (the identity here)."""
        return teacher_state

    def perturb(self, key, state, std):
        """The global ``state`` with N(0, std²) added to its (normalized) system-state part; the
        time feature is kept (pretraining augmentation, ``lqgx.ddpl.warm_start``)."""
        n = self.system.state_dim
        noise = std * jax.random.normal(key, (n,), state.dtype)
        return state.at[:n].add(noise)

    def observe(self, state):
        """obs[n, S + n]: the global state and a one-hot agent id per agent."""
        return global_observation(state, self.num_agents)

    # -- dynamics ----------------------------------------------------------------------------------
    def _initial(self, key):
        sys_ = self.system
        x0 = sys_.x0 + _noise_factor(sys_.x0_cov) @ jax.random.normal(key, (sys_.state_dim,),
                                                                      sys_.x0.dtype)
        return x0

    def reset(self, key):
        x = self._initial(key)
        t = jnp.zeros((), jnp.int32)
        return self.make_state(x, t), (x, t)

    def step(self, key, env_state, actions):
        sys_ = self.system
        x, t = env_state
        k_noise, k_reset = jax.random.split(key)
        u = self.to_system_action(actions)
        noise = _noise_factor(sys_.noise_cov) @ jax.random.normal(k_noise, x.shape, x.dtype)
        x_next = sys_.dynamics(x, u) + noise
        t_next = t + 1
        last = t_next >= sys_.horizon
        cost = sys_.cost(x, u, t) + jnp.where(last, sys_.final_cost(x_next), 0.0)
        valid = jnp.all(jnp.isfinite(x_next)) & jnp.isfinite(cost)
        if self.state_limit is not None:
            valid &= jnp.all(jnp.abs(x_next) <= jnp.asarray(self.state_limit, x_next.dtype))
        bad = ~valid
        reward = jnp.where(bad, -self.nonfinite_penalty, -cost)
        done = last | bad
        x_reset = self._initial(k_reset)
        x_out = jnp.where(done, x_reset, jnp.where(bad, x, x_next))
        t_out = jnp.where(done, 0, t_next).astype(jnp.int32)
        return self.make_state(x_out, t_out), (x_out, t_out), reward.astype(x.dtype), done


# -- the registered control environments -------------------------------------------------------
def _float_dtype():
    return jnp.result_type(float)


def _system_env(env_name, system_name, agent_actions, state_scale, dtype, options, state_limit=None):
    import lqgx.systems

    def make_system(dtype):
        return lqgx.systems.make(system_name, dtype=dtype, **options)

    return ControlEnv(env_name, make_system(dtype or _float_dtype()), agent_actions=agent_actions,
                      state_scale=state_scale, state_limit=state_limit, make_system=make_system)


def make_double_pendulum(dtype=None, **options) -> ControlEnv:
    """``double-pendulum-2``: thesis §6.1 double pendulum (``lqgx.systems.double_pendulum``,
    options passed on), agent 0 the shoulder, agent 1 the elbow."""
    return _system_env("double-pendulum-2", "double_pendulum", ((0,), (1,)),
                       (1.0, 1.0, 5.0, 5.0), dtype, options,
                       state_limit=(math.inf, math.inf, 30.0, 30.0))


def make_quad_pendulum(dtype=None, **options) -> ControlEnv:
    """``quad-pendulum-4``: thesis §6.2 quad pendulum (``lqgx.systems.quad_pendulum``), one joint
    per agent, shoulder to tip."""
    return _system_env("quad-pendulum-4", "quad_pendulum", ((0,), (1,), (2,), (3,)),
                       (1.0,) * 4 + (10.0,) * 4, dtype, options)
