"""The §5 teacher-student problems: a random width-5 ReLU teacher defines the optimal Q function.

Paper §5: "we defined the optimal Q function as Q*(s, a) = τ f*_w(s, a), where f*_w is a single
hidden layer network of width n = 5, ReLU nonlinearities and weights i.i.d. N(0, 4)". Hence the
optimal policy is π* ∝ exp(f*) and, by the soft Bellman equation (see ``optimal.py``),

    V*(s) = τ log ∫_A exp(f*(s, a)) da,     r̄(s, a) = Q*(s, a) - γ Σ_s' P(s, a, s') V*(s'),

which is the reward the student is trained on. In the bandit (γ = 0) r = Q* = τ f*.

Interpretation choices (the paper is silent): the teacher uses the same mean-field scaling as the
student, f* = (1/5) Σ_i c_i max(0, ω̄_i · x), with a bias input (x = (1, a) or (s, 1, a)) and all
weights c_i, ω̄_i ~ N(0, 4); ϱ_0 is uniform over the states.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx.softmax.energy import init_particles, mean_field_energy
from lqgx.softmax.grid import action_grid
from lqgx.softmax.mdp import GridMDP, bandit_mdp, jump_mdp
from lqgx.softmax.optimal import SoftOptimum, soft_value

__all__ = ["teacher_particles", "teacher_bandit", "teacher_jump_mdp"]


def teacher_particles(key: jax.Array, feature_dim: int, width: int = 5, weight_std: float = 2.0):
    """The teacher network's particles: all weights i.i.d. N(0, weight_std²) (§5: width 5, N(0, 4))."""
    return init_particles(key, width, feature_dim, weight_std, weight_std)


def _solution(mdp: GridMDP, teacher_energy: jax.Array) -> SoftOptimum:
    q = mdp.temperature * teacher_energy
    value = soft_value(mdp, q)
    return SoftOptimum(energy=teacher_energy, q=q, value=value, objective=jnp.dot(mdp.initial, value))


def _with_reward(mdp: GridMDP, reward: jax.Array) -> GridMDP:
    return GridMDP(**{**mdp.__dict__, "reward": reward})


def teacher_bandit(key: jax.Array, actions: int = 100, temperature: float = 0.2, teacher_width: int = 5,
                   weight_std: float = 2.0) -> tuple[GridMDP, SoftOptimum]:
    """§5 (a): S = {0}, A = [0, 1] on an ``actions``-node midpoint grid, r = τ f*.

    The teacher is ``teacher_particles(key, 2, teacher_width, weight_std)``. Returns ``(mdp, optimum)``; ``optimum.objective`` is E(ν*) = τ log ∫ exp(f*) da.
    """
    points, weights = action_grid(0.0, 1.0, actions)
    placeholder = bandit_mdp(jnp.zeros_like(points), points, weights, temperature)
    teacher = teacher_particles(key, placeholder.features.shape[-1], teacher_width, weight_std)
    teacher_energy = mean_field_energy(placeholder.features, teacher)  # [1, A]
    mdp = _with_reward(placeholder, temperature * teacher_energy)
    return mdp, _solution(mdp, teacher_energy)


def teacher_jump_mdp(key: jax.Array, size: int = 100, discount: float = 0.7, temperature: float = 0.2,
                     teacher_width: int = 5, weight_std: float = 2.0, jump_probability: float = 0.9
                     ) -> tuple[GridMDP, SoftOptimum]:
    """§5 (b): S × A a ``size`` × ``size`` grid on [0, 1]², P = 0.9 δ(s' - a) + 0.1/size, γ = 0.7.

    The teacher is ``teacher_particles(key, 3, teacher_width, weight_std)``. Returns ``(mdp, optimum)``
    with r̄ = Q* - γ P V* so that Q* = τ f* exactly on the grid.
    """
    placeholder = jump_mdp(jnp.zeros((size, size)), size, discount, temperature, jump_probability)
    teacher = teacher_particles(key, placeholder.features.shape[-1], teacher_width, weight_std)
    teacher_energy = mean_field_energy(placeholder.features, teacher)  # [S, A]
    optimum = _solution(placeholder, teacher_energy)
    reward = optimum.q - discount * jnp.einsum("sat,t->sa", placeholder.transition, optimum.value)
    return _with_reward(placeholder, reward), optimum
