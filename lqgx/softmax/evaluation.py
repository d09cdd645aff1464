"""Exact evaluation of a softmax policy on a ``GridMDP`` (paper eqs. 1, 2, 6, 11).

For the policy π(s, ·) ∝ exp(f(s, ·)) (eq. 8; masses p[s, j] = w_j π(s, a_j)):

  P_π(s, s')  = Σ_j p[s, j] P(s, a_j, s')                          state-to-state kernel
  R_π(s)      = Σ_j p[s, j] (r̄(s, a_j) - τ log π(s, a_j))            regularized reward, eq. 1
  V_π         = (I - γ P_π)^{-1} R_π                                 eq. 1 (resolvent)
  Q_π(s, a)   = r̄(s, a) + γ Σ_s' P(s, a, s') V_π(s')                 eq. 2
  ϱ_π         = ϱ_0ᵀ (I - γ P_π)^{-1}                                eq. 6 (improper, mass 1/(1-γ))
  E           = ϱ_0 · V_π                                            eq. 11

log π is the log *density* w.r.t. Lebesgue measure (KL to π̄ = Lebesgue, eq. 1), so R_π contains
τ times the differential entropy ``grid_entropy``. Two linear solves of size S, no matrix inverse.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lqgx.softmax.grid import grid_log_density, grid_softmax
from lqgx.softmax.mdp import GridMDP

__all__ = ["PolicyEvaluation", "evaluate_energy"]


class PolicyEvaluation(NamedTuple):
    """Everything the policy gradient needs about one softmax policy.

    Fields: ``probs[S, A]`` masses p, ``log_density[S, A]`` log π, ``value[S]`` V_π,
    ``q[S, A]`` Q_π, ``state_measure[S]`` ϱ_π, ``objective[]`` E = ϱ_0 · V_π.
    """

    probs: jax.Array
    log_density: jax.Array
    value: jax.Array
    q: jax.Array
    state_measure: jax.Array
    objective: jax.Array


def evaluate_energy(mdp: GridMDP, energy: jax.Array) -> PolicyEvaluation:
    """Evaluate the softmax policy with energy ``f[S, A]`` exactly (eqs. 1, 2, 6, 11)."""
    log_w = jnp.log(mdp.quadrature_weights)
    probs = grid_softmax(energy, log_w)
    log_density = grid_log_density(energy, mdp.quadrature_weights)
    regularized_reward = jnp.sum(probs * (mdp.reward - mdp.temperature * log_density), axis=-1)
    state_kernel = jnp.einsum("sa,sat->st", probs, mdp.transition)
    resolvent_system = jnp.eye(mdp.num_states, dtype=energy.dtype) - mdp.discount * state_kernel
    value = jnp.linalg.solve(resolvent_system, regularized_reward)
    q = mdp.reward + mdp.discount * jnp.einsum("sat,t->sa", mdp.transition, value)
    state_measure = jnp.linalg.solve(resolvent_system.T, mdp.initial)
    return PolicyEvaluation(
        probs=probs,
        log_density=log_density,
        value=value,
        q=q,
        state_measure=state_measure,
        objective=jnp.dot(mdp.initial, value),
    )
