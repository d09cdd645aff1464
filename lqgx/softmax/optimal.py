"""The optimal entropy-regularized policy (paper eq. 3) by soft value iteration.

With KL to Lebesgue measure (eq. 1) the optimal policy is a Boltzmann distribution
π*(s, a) = exp(Q*(s, a)/τ) / Z(s), i.e. a softmax policy with energy f* = Q*/τ (+ any constant
in a), where Q* solves the soft Bellman equation

    V*(s)    = τ log ∫_A exp(Q*(s, a)/τ) da,
    Q*(s, a) = r̄(s, a) + γ Σ_s' P(s, a, s') V*(s').

The map Q ↦ r̄ + γ P τ log∫exp(Q/τ) is a γ-contraction in sup norm, so ``iterations`` steps from
Q = r̄ leave an error ≤ γ^iterations · ‖Q* - r̄‖_∞ / (1 - γ). In the bandit (γ = 0) one step gives
the closed form π* = Z^{-1} exp(r/τ) of §3.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lqgx.softmax.grid import grid_log_normalizer
from lqgx.softmax.mdp import GridMDP

__all__ = ["SoftOptimum", "soft_value_iteration"]


class SoftOptimum(NamedTuple):
    """Fields: ``energy[S, A]`` f* = Q*/τ, ``q[S, A]`` Q*, ``value[S]`` V*, ``objective[]`` ϱ_0 · V*."""

    energy: jax.Array
    q: jax.Array
    value: jax.Array
    objective: jax.Array


def soft_value(mdp: GridMDP, q: jax.Array) -> jax.Array:
    """V(s) = τ log ∫ exp(Q(s, a)/τ) da on the grid; ``q[S, A] -> [S]``."""
    return mdp.temperature * grid_log_normalizer(q / mdp.temperature, mdp.quadrature_weights)


def soft_value_iteration(mdp: GridMDP, iterations: int = 200) -> SoftOptimum:
    """Iterate the soft Bellman operator ``iterations`` times from Q = r̄ (a fixed-count fori_loop)."""

    def bellman(_, q):
        return mdp.reward + mdp.discount * jnp.einsum("sat,t->sa", mdp.transition, soft_value(mdp, q))

    q = jax.lax.fori_loop(0, iterations, bellman, mdp.reward)
    value = soft_value(mdp, q)
    return SoftOptimum(energy=q / mdp.temperature, q=q, value=value, objective=jnp.dot(mdp.initial, value))
