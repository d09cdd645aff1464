"""One multi-agent environment interface for DDPL (JaxMARL-style, arrays instead of dicts).

An environment is an object with

    name: str; num_agents: n; state_dim: S (global state, the critics' input, Alg. 2);
    obs_dim: O (per-agent observation, the policies' input);
    action_dim: d (per agent, homogeneous); action_low[d], action_high[d] (box A_i);
    max_steps: episode cap; eval_discount: discount used for the reported episode return
    (1.0 = the usual undiscounted return; the §3 toys report the discounted J with γ = 0.1)

    reset(key) -> (state[S], env_state)
    step(key, env_state, actions[n, d]) -> (state'[S], env_state', reward[], done[])
    observe(state[S]) -> obs[n, O]

Agent i's policy conditions on ``observe(s)[i]``. Every environment here is fully observed and
uses ``global_observation``: the global state plus a one-hot agent id (O = S + n), so that
parameter-shared policies could tell agents apart; with DDPL's separate per-agent networks the id
is a constant input. Control environments (``envs.control``) carry the time feature t/T inside
the global state.

``step`` auto-resets: when ``done`` the returned state is the first state of a new episode
(TD targets multiply the bootstrap by 1 − done, so the terminal observation is not needed).
The reward is the shared cooperative reward (for JaxMARL envs: the mean of the per-agent rewards).
Actions are stacked over agents (``[n, d]``) rather than per-agent dicts so that policies with
stacked parameters can be ``vmap``ped over agents; ``actions_to_dict``/``dict_to_actions``
convert at the JaxMARL boundary. Everything is a pure function of its arguments, so rollouts
``vmap`` over environments and ``lax.scan`` over time.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp


class MultiAgentEnv(Protocol):
    name: str
    num_agents: int
    state_dim: int
    obs_dim: int
    action_dim: int
    action_low: Any
    action_high: Any
    max_steps: int
    eval_discount: float

    def reset(self, key): ...

    def step(self, key, env_state, actions): ...

    def observe(self, state): ...


def global_observation(state, num_agents: int):
    """obs[n, S + n] = [state, one_hot(i)] for every agent i."""
    ids = jnp.eye(num_agents, dtype=state.dtype)
    return jnp.concatenate([jnp.broadcast_to(state, (num_agents, state.shape[-1])), ids], axis=-1)


def actions_to_dict(agents, actions):
    """[n, d] → {agent: [d]}."""
    return {a: actions[i] for i, a in enumerate(agents)}


def dict_to_actions(agents, actions):
    """{agent: [d]} → [n, d]."""
    return jnp.stack([actions[a] for a in agents])


def check_actions(env, actions):
    if actions.shape[-2:] != (env.num_agents, env.action_dim):
        raise ValueError(
            f"actions must have shape [..., {env.num_agents}, {env.action_dim}], got {actions.shape}")


def rollout_episode_returns(env, act_fn, key, episodes: int, with_env_state: bool = False):
    """Mean (discounted with ``env.eval_discount``) return over ``episodes`` parallel episodes.

    act_fn(key, state[S]) -> actions[n, d], or act_fn(key, state, env_state) with
    ``with_env_state`` (teachers read the simulator's state). Each episode runs ``env.max_steps``
    steps; rewards after the first ``done`` are ignored. Returns (mean, per-episode
    returns[episodes]).
    """
    k_reset, k_run = jax.random.split(key)
    states, env_states = jax.vmap(env.reset)(jax.random.split(k_reset, episodes))

    def body(carry, k):
        s, es, alive, ret, disc = carry
        k_act, k_env = jax.random.split(k)
        keys = jax.random.split(k_act, episodes)
        a = jax.vmap(act_fn)(keys, s, es) if with_env_state else jax.vmap(act_fn)(keys, s)
        s2, es2, r, d = jax.vmap(env.step)(jax.random.split(k_env, episodes), es, a)
        ret = ret + alive * disc * r
        alive = alive * (1.0 - d.astype(ret.dtype))
        return (s2, es2, alive, ret, disc * env.eval_discount), None

    init = (states, env_states, jnp.ones(episodes), jnp.zeros(episodes), jnp.ones(()))
    (_, _, _, ret, _), _ = jax.lax.scan(body, init, jax.random.split(k_run, env.max_steps))
    return jnp.mean(ret), ret
