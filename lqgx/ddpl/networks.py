"""Flax (linen) networks of DDPL (Table 3: MLP 3×256, mish activation).

- ``ScoreNet``: s_τ^θ(a_τ | s), input [state, a_τ, sinusoidal embedding of τ/H] → [d].
- ``QNet``: Q̂_i^ψ(s, a_i) → scalar (per-agent critic of Algorithm 2 line 5).
- ``GaussianNet``: mean and log-std of the Gaussian-policy variant (Fig. 4 ablation).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp


def mish(x):
    return x * jnp.tanh(nn.softplus(x))


class MLP(nn.Module):
    """Fully connected net with mish activations; ``out`` linear outputs."""

    hidden: Sequence[int]
    out: int

    @nn.compact
    def __call__(self, x):
        for h in self.hidden:
            x = mish(nn.Dense(h)(x))
        return nn.Dense(self.out)(x)


def time_embedding(t, dim: int = 16):
    """Sinusoidal embedding of t ∈ [0, 1] (scalar or [...]) → [..., dim]."""
    half = dim // 2
    freqs = jnp.exp(jnp.linspace(0.0, jnp.log(100.0), half))
    ang = jnp.asarray(t)[..., None] * freqs * jnp.pi
    return jnp.concatenate([jnp.sin(ang), jnp.cos(ang)], axis=-1)


class ScoreNet(nn.Module):
    """Score network s_τ^θ(a_τ | s): (state[S], a[d], t[] = τ/H) → [d]."""

    hidden: Sequence[int]
    action_dim: int

    @nn.compact
    def __call__(self, state, action, t):
        x = jnp.concatenate([state, action, time_embedding(t)], axis=-1)
        return MLP(self.hidden, self.action_dim)(x)


class QNet(nn.Module):
    """Critic Q̂(s, a_i): (state[S], action[d]) → scalar."""

    hidden: Sequence[int]

    @nn.compact
    def __call__(self, state, action):
        return MLP(self.hidden, 1)(jnp.concatenate([state, action], axis=-1))[..., 0]


class GaussianNet(nn.Module):
    """Gaussian policy head: state[S] → (mean[d], log_std[d])."""

    hidden: Sequence[int]
    action_dim: int

    @nn.compact
    def __call__(self, state):
        out = MLP(self.hidden, 2 * self.action_dim)(state)
        mean, log_std = jnp.split(out, 2, axis=-1)
        return mean, jnp.clip(log_std, -5.0, 1.0)
