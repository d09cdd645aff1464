"""Sampling a time-varying linear-Gaussian policy on a (nonlinear) ``System`` with process noise.

    x_0 ~ N(x0, x0_cov),  u_t ~ N(K_t x_t + k_t, S_t),  x_{t+1} = f(x_t, clip(u_t)) + w_t,
    w_t ~ N(0, noise_cov).

The actions stored are the ones applied (clipped into ``action_bounds``); ``lax.scan`` over time,
``vmap`` over samples, explicit PRNG keys.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx._pytree import pytree_dataclass
from lqgx.lq.types import LinearGaussianPolicy, cholesky
from lqgx.system import System


@pytree_dataclass
class Rollouts:
    """``states[N, T+1, n]``, applied ``actions[N, T, m]`` and total ``costs[N]``."""

    states: jax.Array
    actions: jax.Array
    costs: jax.Array


def _noise_factor(cov: jax.Array) -> jax.Array:
    """Cholesky factor of a PSD covariance; exactly zero for a zero covariance."""
    zero = jnp.all(cov == 0)
    return jnp.where(zero, jnp.zeros_like(cov), cholesky(cov))


def sample_rollouts(system: System, policy: LinearGaussianPolicy, key: jax.Array,
                    samples: int) -> Rollouts:
    """``samples`` independent rollouts of ``policy`` on ``system`` (module docstring)."""
    n, m = system.state_dim, system.action_dim
    T = policy.k.shape[0]
    x0_chol = _noise_factor(system.x0_cov)
    w_chol = _noise_factor(system.noise_cov)
    u_chol = jax.vmap(cholesky)(policy.cov)
    dtype = system.x0.dtype

    def one(key):
        k0, ku, kw = jax.random.split(key, 3)
        x0 = system.x0 + x0_chol @ jax.random.normal(k0, (n,), dtype)
        eu = jax.random.normal(ku, (T, m), dtype)
        ew = jax.random.normal(kw, (T, n), dtype)

        def step(x, inputs):
            t, e_u, e_w = inputs
            u = system.clip_actions(policy.mean(x, t) + u_chol[t] @ e_u)
            x_next = system.dynamics(x, u) + w_chol @ e_w
            return x_next, (x, u)

        xT, (xs, us) = jax.lax.scan(step, x0, (jnp.arange(T), eu, ew))
        states = jnp.concatenate([xs, xT[None]])
        return states, us, system.trajectory_cost(states, us)

    states, actions, costs = jax.vmap(one)(jax.random.split(key, samples))
    return Rollouts(states=states, actions=actions, costs=costs)


def mean_rollout(system: System, policy: LinearGaussianPolicy) -> tuple[jax.Array, jax.Array]:
    """Noise-free closed-loop rollout of the mean policy from ``system.x0``:
    ``(states[T+1, n], actions[T, m])`` with clipped actions."""
    T = policy.k.shape[0]

    def step(x, t):
        u = system.clip_actions(policy.mean(x, t))
        return system.dynamics(x, u), (x, u)

    xT, (xs, us) = jax.lax.scan(step, system.x0, jnp.arange(T))
    return jnp.concatenate([xs, xT[None]]), us
