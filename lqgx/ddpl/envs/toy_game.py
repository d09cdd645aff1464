"""The §3 toy problems as ``MultiAgentEnv``s (n-agent game M_ma and the 3-state MDP M_sa).

Global state: the paper's state vector s ∈ {−1_n} ∪ {0, 1}^n (for M_sa a one-hot of
{s0, s1, s2} is not needed: s = −1 is s0, s = 1 is s1, s = 0 is s2). After the second step every
state leads to 0 with zero reward forever, so episodes are cut after 2 steps without changing any
return. Actions are unbounded in the paper (A_i = ℝ); we use the box [−2, 2] (the learning
dynamics never leave it: all reward features live in [−0.75, 0.75]). The reported return is the
discounted J with γ = 0.1, matching ``lqgx.ddpl.toy.expected_return``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lqgx.ddpl.envs.base import global_observation
from lqgx.ddpl.toy import PAPER, ToyConstants, next_value_terms, p_start, r_start


@dataclasses.dataclass(frozen=True)
class ToyGameEnv:
    """M_ma with ``num_agents`` agents (``single_agent=True``: M_sa, n = 1)."""

    num_agents: int = 2
    single_agent: bool = False
    constants: ToyConstants = PAPER
    bound: float = 2.0

    def __post_init__(self):
        if self.num_agents < 1 or (self.single_agent and self.num_agents != 1):
            raise ValueError(f"num_agents must be >= 1 (1 for single_agent), got {self.num_agents}")

    @property
    def name(self):
        return "toy-mdp" if self.single_agent else f"toy-game-{self.num_agents}"

    state_dim = property(lambda self: self.num_agents)
    obs_dim = property(lambda self: 2 * self.num_agents)
    action_dim = 1
    max_steps = 2
    action_low = property(lambda self: (-self.bound,))
    action_high = property(lambda self: (self.bound,))
    eval_discount = property(lambda self: self.constants.gamma)

    def observe(self, state):
        return global_observation(state, self.num_agents)

    def reset(self, key):
        del key
        s = -jnp.ones(self.num_agents)
        return s, (s, jnp.zeros((), jnp.int32))

    def _reward(self, s, a):
        k = self.constants
        start = jnp.all(s == -1)
        goal = jnp.all(s == 1)
        r0 = jnp.sum(r_start(a, k))
        if self.single_agent:
            r1 = k.c1 * s[0]
        else:
            r1 = jnp.where(goal, k.c2 + k.c3 * jnp.exp(-jnp.sum(a**2)), k.c1 * jnp.sum(s))
        return jnp.where(start, r0, r1)

    def step(self, key, env_state, actions):
        s, t = env_state
        a = actions[:, 0]
        r = self._reward(s, a)
        succ = jax.random.uniform(key, (self.num_agents,)) < p_start(a, self.constants)
        s_next = jnp.where(jnp.all(s == -1), succ.astype(s.dtype), jnp.zeros_like(s))
        done = t + 1 >= self.max_steps
        s_out = jnp.where(done, -jnp.ones_like(s), s_next)
        t_out = jnp.where(done, 0, t + 1)
        return s_out, (s_out, t_out), r, done

    def expected_return(self, act_fn, key, samples: int):
        """J of the joint policy ``act_fn(key, state) -> a[n, 1]`` with the success events
        integrated out (q_i = E[p_start(a_i)] from ``samples`` action samples per state; the
        closed form of ``lqgx.ddpl.toy``). Far lower variance than rolling out episodes, whose
        returns jump by γ·c1 = 2000 per rare success. Returns (J, per-sample start rewards)."""
        k = self.constants
        n = self.num_agents
        k1, k2 = jax.random.split(key)
        a0 = jax.vmap(lambda kk: act_fn(kk, -jnp.ones(n)))(jax.random.split(k1, samples))[..., 0]
        a1 = jax.vmap(lambda kk: act_fn(kk, jnp.ones(n)))(jax.random.split(k2, samples))[..., 0]
        q = jnp.mean(p_start(a0, k), axis=0)
        gain = jnp.mean(jnp.exp(-a1**2), axis=0)
        _, _, v_mean = next_value_terms(q, gain, n, k, self.single_agent)
        r0 = jnp.sum(r_start(a0, k), axis=-1)
        return jnp.mean(r0) + k.gamma * v_mean, r0 + k.gamma * v_mean
