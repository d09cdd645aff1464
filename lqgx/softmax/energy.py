"""Mean-field two-layer energy f_ν(x) = ∫ ψ(x; ω) ν(dω) with ψ = ω_0 φ(x; ω̄).

Paper eq. 7 and Assumption 1: a width-N single-hidden-layer network in the mean-field scaling,

    f_w(x) = (1/N) Σ_i ψ(x; w_i),      ψ(x; ω) = ω_0 · φ(x; ω̄),      ω = (ω_0, ω̄) ∈ R × R^d,

is the energy of the empirical measure ν^(N) = (1/N) Σ_i δ_{w_i}. ψ is 1-homogeneous in the
output weight ω_0 (Assumption 1 b of §3 / Assumption 1 of §4). Here x are state-action
*features* ``x[d]``; for the paper's §5 problems x = (s, 1, a) or (1, a) — the constant
coordinate gives each unit a bias, without which a ReLU unit on [0, 1] would be linear in a.

Notation: ``Particles(output[N], hidden[N, d])`` holds the N particles (ω_0^i, ω̄^i).
A unit ``phi(x[d], hidden[d]) -> scalar`` is any JAX function; ``relu_unit`` is the paper's.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Particles", "relu_unit", "init_particles", "particle_energy", "mean_field_energy"]

Unit = Callable[[jax.Array, jax.Array], jax.Array]


class Particles(NamedTuple):
    """N particles ω_i = (ω_0^i, ω̄^i) of the empirical measure ν^(N) (a pytree).

    Fields: ``output[N]`` (ω_0, output weights), ``hidden[N, d]`` (ω̄, first-layer weights
    acting on the features x[d]).
    """

    output: jax.Array
    hidden: jax.Array

    @property
    def width(self) -> int:
        return self.output.shape[0]


def relu_unit(x: jax.Array, hidden: jax.Array) -> jax.Array:
    """φ(x; ω̄) = max(0, ω̄ · x) for features ``x[d]`` and weights ``hidden[d]``; scalar."""
    return jax.nn.relu(jnp.dot(hidden, x))


def init_particles(key: jax.Array, width: int, feature_dim: int, hidden_std: float = 2.0,
                   output_std: float = 0.0, dtype=None) -> Particles:
    """Random particles: ω̄ ~ N(0, hidden_std² I), ω_0 ~ N(0, output_std²) (0 ⇒ exactly zero).

    The paper's student (§5): hidden_std = 2 (variance 4), output_std = 0. Its teacher: both 2.
    Returns ``Particles(output[width], hidden[width, feature_dim])``.
    """
    dtype = dtype or jnp.zeros(()).dtype
    k_out, k_hid = jax.random.split(key)
    hidden = hidden_std * jax.random.normal(k_hid, (width, feature_dim), dtype)
    output = output_std * jax.random.normal(k_out, (width,), dtype)
    return Particles(output=output, hidden=hidden)


def particle_energy(features: jax.Array, omega: Particles, unit: Unit = relu_unit) -> jax.Array:
    """ψ(x; ω) = ω_0 φ(x; ω̄) of *one* particle on all feature points.

    Args:
      features: ``x[..., d]``.
      omega: one particle, ``Particles(output[], hidden[d])``.

    Returns:
      ``ψ[...]``.
    """
    flat = features.reshape(-1, features.shape[-1])
    values = jax.vmap(unit, in_axes=(0, None))(flat, omega.hidden)
    return omega.output * values.reshape(features.shape[:-1])


def mean_field_energy(features: jax.Array, particles: Particles, unit: Unit = relu_unit) -> jax.Array:
    """f_ν(x) = (1/N) Σ_i ω_0^i φ(x; ω̄^i) (eq. 7) on all feature points.

    Args:
      features: ``x[..., d]`` (e.g. ``[S, A, d]`` for a state-action grid).
      particles: ``Particles(output[N], hidden[N, d])``.

    Returns:
      ``f[...]``.
    """
    flat = features.reshape(-1, features.shape[-1])
    # [N, P] unit activations, contracted with the output weights: one matrix-vector product.
    activations = jax.vmap(lambda h: jax.vmap(unit, in_axes=(0, None))(flat, h))(particles.hidden)
    return (particles.output @ activations / particles.width).reshape(features.shape[:-1])
