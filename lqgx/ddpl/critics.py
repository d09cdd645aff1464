"""Per-agent critics Q̂_i(s, a_i) of Algorithm 2 (line 5) with Polyak-averaged targets.

    L_i^Q(ψ_i) = mean_{(s, a_i, r, s') ∈ B} ( Q̂_i^ψ(s, a_i) − r − γ (1 − done) (1/N) Σ_j Q̂_i^ψ̄(s', a'_j) )²
    ψ̄_i ← ξ ψ_i + (1 − ξ) ψ̄_i,    ξ = 0.005 (Table 3)

a'_j ~ π_i^{θ^{k−1}}(· | s') (N samples per next state). All functions act on one agent; the
training loop ``vmap``s them over agents with stacked parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx.ddpl.networks import QNet


def critic_init(key, hidden, state_dim: int, action_dim: int):
    return QNet(tuple(hidden)).init(key, jnp.zeros(state_dim), jnp.zeros(action_dim))


def critic_apply(hidden, params, state, action):
    """Q̂(s[S], a[d]) → scalar."""
    return QNet(tuple(hidden)).apply(params, state, action)


def td_targets(hidden, target_params, reward, next_state, next_actions, done, gamma):
    """r + γ(1−done) mean_j Q̂^ψ̄(s', a'_j); reward[B], next_state[B,S], next_actions[B,N,d]."""
    q_next = jax.vmap(lambda s, a: jax.vmap(lambda aj: critic_apply(hidden, target_params, s, aj))(a))(
        next_state, next_actions)
    return reward + gamma * (1.0 - done) * jnp.mean(q_next, axis=-1)


def critic_loss(hidden, params, state, action, targets):
    """Mean squared TD error; state[B,S], action[B,d], targets[B]."""
    q = jax.vmap(lambda s, a: critic_apply(hidden, params, s, a))(state, action)
    return jnp.mean((q - jax.lax.stop_gradient(targets)) ** 2)


def polyak(target, online, xi: float):
    """ψ̄ ← ξ ψ + (1 − ξ) ψ̄."""
    return jax.tree.map(lambda t, o: xi * o + (1.0 - xi) * t, target, online)
