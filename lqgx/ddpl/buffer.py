"""Replay buffer D of Algorithm 2 (line 3: rollouts are appended; line 4: minibatches sampled).

A fixed-capacity ring buffer stored as a pytree of arrays, so adding and sampling jit and the
whole buffer can be checkpointed. Transitions hold the *global* state s[S], joint action a[n, d],
shared reward r, next state s'[S] and the terminal flag.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Transition(NamedTuple):
    state: jax.Array       # [..., S]
    action: jax.Array      # [..., n, d]
    reward: jax.Array      # [...]
    next_state: jax.Array  # [..., S]
    done: jax.Array        # [...] float (1.0 = terminal, no bootstrap)


class Buffer(NamedTuple):
    data: Transition  # every leaf has leading axis [capacity]
    ptr: jax.Array    # int32 next write position
    size: jax.Array   # int32 number of valid entries


def buffer_init(capacity: int, state_dim: int, n_agents: int, action_dim: int, dtype=jnp.float32) -> Buffer:
    """Empty buffer with room for ``capacity`` transitions."""
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    z = lambda *s: jnp.zeros((capacity, *s), dtype)
    data = Transition(z(state_dim), z(n_agents, action_dim), z(), z(state_dim), z())
    return Buffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def buffer_add(buf: Buffer, batch: Transition) -> Buffer:
    """Append a batch of transitions (leading axis [m], m ≤ capacity), overwriting the oldest."""
    cap = buf.data.reward.shape[0]
    m = batch.reward.shape[0]
    idx = (buf.ptr + jnp.arange(m)) % cap
    data = jax.tree.map(lambda d, b: d.at[idx].set(b.astype(d.dtype)), buf.data, batch)
    return Buffer(data, (buf.ptr + m) % cap, jnp.minimum(buf.size + m, cap))


def buffer_sample(buf: Buffer, key, batch_size: int) -> Transition:
    """Uniform minibatch (with replacement) of ``batch_size`` valid transitions."""
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buf.size, 1))
    return jax.tree.map(lambda d: d[idx], buf.data)
