"""JaxMARL adapters: MPE simple_reference (continuous) and SMAX 3s_vs_5z / 6h_vs_8z (continuous).

- ``MPE_simple_reference_v3`` with ``action_type="Continuous"``: 2 agents, Box[0, 1] actions,
  25-step episodes. Global state = concatenation of both agents' observations.
- ``HeuristicEnemySMAX`` with ``action_type="continuous"`` (JaxMARL SMAX against the built-in
  heuristic enemy, the JaxMARL/paper setting): Box[0, 1] actions of dimension 4
  (coordinate_1, coordinate_2, do_shoot, shoot_last_enemy; decoded stochastically by JaxMARL),
  global state = ``obs["world_state"]``. Actions are clipped to [1e-6, 1 − 1e-6] before
  decoding because JaxMARL takes ``log(a)`` and ``log(1 − a)`` of two of the coordinates.

Shared reward = mean over agents of JaxMARL's per-agent rewards. JaxMARL auto-resets on
``done["__all__"]``. Importing jaxmarl prints a harmless "submoduled environments" notice, which
is silenced here (``_quiet``).
"""

from __future__ import annotations

import contextlib
import io
import sys

import jax
import jax.numpy as jnp

from lqgx.ddpl.envs.base import global_observation


@contextlib.contextmanager
def _quiet():
    """Swallow what importing jaxmarl prints ("Importing submoduled environments...").

    ``contextlib.redirect_stdout`` is not enough: jaxmarl's MABrax module silences brax's import
    and then "restores" ``sys.stdout = sys.__stdout__``, which undoes any redirect around it. So
    ``sys.__stdout__`` / ``sys.__stderr__`` point at the sink too while jaxmarl is imported."""
    sink = io.StringIO()
    saved = sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__
    sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = sink
    try:
        yield
    finally:
        sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = saved


def _import_jaxmarl():
    with _quiet():
        import jaxmarl
        from jaxmarl.environments.smax import map_name_to_scenario
    return jaxmarl, map_name_to_scenario


class JaxMARLEnv:
    """Wrap a JaxMARL ``MultiAgentEnv`` into the DDPL interface (see ``envs.base``)."""

    eval_discount = 1.0

    def __init__(self, name, env, global_state="concat", clip_eps=0.0):
        self.name = name
        self._env = env
        self.agents = list(env.agents)
        self.num_agents = len(self.agents)
        space = env.action_space(self.agents[0])
        shape = tuple(space.shape) if space.shape else ()
        self.action_dim = int(shape[0]) if shape else 1
        lo = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), (self.action_dim,))
        hi = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), (self.action_dim,))
        self.action_low = tuple(float(x) for x in lo)
        self.action_high = tuple(float(x) for x in hi)
        self.max_steps = int(env.max_steps)
        self._global = global_state
        self._clip_eps = clip_eps
        obs, _ = env.reset(jax.random.PRNGKey(0))
        self.state_dim = int(self._state(obs).shape[0])
        self.obs_dim = self.state_dim + self.num_agents

    def observe(self, state):
        return global_observation(state, self.num_agents)

    def _state(self, obs):
        if self._global == "world_state":
            return obs["world_state"].astype(jnp.float32)
        return jnp.concatenate([obs[a] for a in self.agents]).astype(jnp.float32)

    def reset(self, key):
        obs, st = self._env.reset(key)
        return self._state(obs), st

    def step(self, key, env_state, actions):
        lo = jnp.asarray(self.action_low) + self._clip_eps
        hi = jnp.asarray(self.action_high) - self._clip_eps
        a = jnp.clip(actions, lo, hi).astype(jnp.float32)
        acts = {ag: a[i] for i, ag in enumerate(self.agents)}
        obs, st, rew, done, _ = self._env.step(key, env_state, acts)
        r = jnp.mean(jnp.stack([rew[ag] for ag in self.agents]))
        return self._state(obs), st, r, done["__all__"]


def make_mpe_simple_reference():
    jaxmarl, _ = _import_jaxmarl()
    env = jaxmarl.make("MPE_simple_reference_v3", action_type="Continuous")
    return JaxMARLEnv("mpe-simple-reference", env, global_state="concat")


def make_smax(map_name: str):
    jaxmarl, map_name_to_scenario = _import_jaxmarl()
    env = jaxmarl.make("HeuristicEnemySMAX", scenario=map_name_to_scenario(map_name),
                       action_type="continuous")
    return JaxMARLEnv(f"smax-{map_name}", env, global_state="world_state", clip_eps=1e-6)
