"""Entropy-regularized MDPs on a finite state set × a uniform action grid.

Paper §2 (eq. 1–3) with π̄ = Lebesgue measure on A: states s_k (k < S) are finite, actions are the
nodes a_j (j < A) of an ``action_grid`` with quadrature weights w_j, so every integral over A is
the quadrature Σ_j w_j (·)(a_j). Policies are softmax in an energy f[S, A] (eq. 8). The bandit of
§3 is the special case S = 1, γ = 0 (then Q = r̄ and the discounted state measure is ρ_0).

Arrays (``GridMDP`` fields):
  state_features[S, k]     y(s); the energy network sees x(s, a) = (y(s), a)  (``features``)
  actions[A]               grid nodes a_j (the last feature coordinate)
  quadrature_weights[A]    w_j, Σ_j w_j = |A|
  transition[S, A, S]      P(s, a, s'), rows sum to one over s'
  reward[S, A]             r̄(s, a) = E[r(s, a, s')], rewards are *maximized* (paper convention)
  initial[S]               ρ_0, a probability vector
  discount                 γ ∈ [0, 1)
  temperature              τ > 0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx._pytree import pytree_dataclass
from lqgx.softmax.grid import action_grid

__all__ = ["GridMDP", "bandit_mdp", "jump_mdp"]


@pytree_dataclass
class GridMDP:
    """Finite-state, grid-action, entropy-regularized MDP (a pytree; vmap over a leading axis)."""

    state_features: jax.Array
    actions: jax.Array
    quadrature_weights: jax.Array
    transition: jax.Array
    reward: jax.Array
    initial: jax.Array
    discount: jax.Array
    temperature: jax.Array

    @property
    def features(self) -> jax.Array:
        """x(s, a_j) = (y(s), a_j): ``[S, A, k + 1]``, the action as the last coordinate."""
        S, A = self.reward.shape[-2:]
        y = jnp.broadcast_to(self.state_features[..., :, None, :], (*self.state_features.shape[:-2], S, A,
                                                                      self.state_features.shape[-1]))
        a = jnp.broadcast_to(self.actions[..., None, :, None], (*y.shape[:-1], 1))
        return jnp.concatenate([y, a], axis=-1)

    @property
    def num_states(self) -> int:
        return self.transition.shape[-3]

    @property
    def num_actions(self) -> int:
        return self.transition.shape[-2]

    def validate(self) -> "GridMDP":
        """Check shapes (not values, so it also works under jit); returns self."""
        S, A = self.reward.shape[-2:]
        checks = {
            "state_features": (self.state_features.shape[-2:-1], (S,)),
            "actions": (self.actions.shape[-1:], (A,)),
            "quadrature_weights": (self.quadrature_weights.shape[-1:], (A,)),
            "transition": (self.transition.shape[-3:], (S, A, S)),
            "initial": (self.initial.shape[-1:], (S,)),
        }
        for name, (got, want) in checks.items():
            if tuple(got) != tuple(want):
                raise ValueError(f"{name} has shape {got}, expected {want} (reward is [S, A] = [{S}, {A}])")
        return self


def bandit_mdp(reward: jax.Array, points: jax.Array, quadrature_weights: jax.Array,
               temperature: float) -> GridMDP:
    """The §3 bandit: one state, actions on the grid, V_ν = ∫ (r - τ log π_ν) dπ_ν.

    Args:
      reward: ``r[A]`` at the nodes.
      points, quadrature_weights: ``[A]`` from ``action_grid``.
      temperature: τ.

    Features are x(a) = (1, a) (a ReLU unit with bias). Returns a ``GridMDP`` with S = 1, γ = 0.
    """
    A = points.shape[0]
    return GridMDP(
        state_features=jnp.ones((1, 1), points.dtype),
        actions=points,
        quadrature_weights=quadrature_weights,
        transition=jnp.ones((1, A, 1), points.dtype),
        reward=jnp.asarray(reward, points.dtype).reshape(1, A),
        initial=jnp.ones((1,), points.dtype),
        discount=jnp.asarray(0.0, points.dtype),
        temperature=jnp.asarray(temperature, points.dtype),
    ).validate()


def jump_mdp(reward: jax.Array, size: int, discount: float, temperature: float,
             jump_probability: float = 0.9) -> GridMDP:
    """The §5 (b) MDP on [0, 1]²: S = A = ``size`` midpoint-grid nodes, action a jumps to s' = a.

    P(s, a, s') = jump_probability · δ(s' - a) + (1 - jump_probability) / size  (the paper: 0.9 and
    0.1/100), ρ_0 uniform over the states (the paper does not state ρ_0), features (s, 1, a).

    Args:
      reward: ``r̄[size, size]``.
    Returns a ``GridMDP``.
    """
    points, weights = action_grid(0.0, 1.0, size)
    # The action grid and the state grid coincide, so δ(s' - a) picks the state with the same index.
    jump = jnp.broadcast_to(jnp.eye(size), (size, size, size))
    transition = jump_probability * jump + (1.0 - jump_probability) / size
    return GridMDP(
        state_features=jnp.stack([points, jnp.ones_like(points)], axis=-1),  # y(s) = (s, 1)
        actions=points,
        quadrature_weights=weights,
        transition=transition,
        reward=jnp.asarray(reward, points.dtype),
        initial=jnp.full((size,), 1.0 / size),
        discount=jnp.asarray(discount, points.dtype),
        temperature=jnp.asarray(temperature, points.dtype),
    ).validate()
