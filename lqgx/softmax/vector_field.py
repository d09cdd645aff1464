"""The mean-field policy-gradient vector field (paper eqs. 5, 9, 10, 12) in covariance form.

With f_w = (1/N) Σ_i ψ(·; w_i) (eq. 7), the policy gradient theorem (eq. 5, Lemma A.1) gives
∇_{w_i} E = (1/N) F(w_i; ν) with

  F(ω; ν) = ∫_S ∫_A (∇_ω ψ(s, a; ω) - E_{π(s,·)}[∇_ω ψ(s, ·; ω)]) δ(s, a) π(s, da) ϱ_π(ds)   (eq. 9)
          = ∫_S C_{π(s,·)}[∇_ω ψ(s, ·; ω), δ(s, ·)] ϱ_π(ds),                                  (eq. 10)
  δ(s, a) = Q_π(s, a) - τ log π(s, a).

Eq. 12 is the bandit case (ϱ_π = δ_0, Q = r). The factor 1/N is absorbed by the mean-field time
scaling t → t/N, so the particles move as dω_i/dt = F(ω_i; ν^(N)): ``policy_gradient_field``
returns F, which equals N · ∇_w E (checked against ``jax.grad`` of ``regularized_objective``).

Because the covariance is bilinear, F(ω) = ∇_ω ⟨G, ψ(·; ω)⟩ with the fixed *advantage measure*
G(s, a) = ϱ_π(s) p(s, a) (δ(s, a) - Σ_a' p(s, a') δ(s, a')) on the grid: one backward pass through
one unit per particle, instead of differentiating through the resolvent as ``jax.grad`` does.
Adding a constant to f or δ leaves F unchanged (the covariance is centred).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx.softmax.energy import Particles, Unit, mean_field_energy, particle_energy, relu_unit
from lqgx.softmax.evaluation import PolicyEvaluation, evaluate_energy
from lqgx.softmax.mdp import GridMDP

__all__ = ["advantage_measure", "policy_gradient_field", "regularized_objective"]


def advantage_measure(mdp: GridMDP, evaluation: PolicyEvaluation) -> jax.Array:
    """G[S, A] = ϱ_π(s) p(s, a) (δ - E_π δ)(s, a), δ = Q_π - τ log π: the potential's weight (eq. 10)."""
    delta = evaluation.q - mdp.temperature * evaluation.log_density
    centred = delta - jnp.sum(evaluation.probs * delta, axis=-1, keepdims=True)
    return evaluation.state_measure[:, None] * evaluation.probs * centred


def policy_gradient_field(mdp: GridMDP, particles: Particles, unit: Unit = relu_unit
                          ) -> tuple[Particles, PolicyEvaluation]:
    """F(ω_i; ν^(N)) for every particle (eq. 9 / 10, mean-field time scaling).

    Args:
      mdp: ``GridMDP`` with features ``[S, A, d]``.
      particles: ``Particles(output[N], hidden[N, d])``.
      unit: φ(x[d], ω̄[d]) -> scalar.

    Returns:
      ``(field, evaluation)``: ``field`` is a ``Particles`` of velocities (``output[N]``,
      ``hidden[N, d]``), ``evaluation`` the ``PolicyEvaluation`` of the current policy π_ν.
    """
    energy = mean_field_energy(mdp.features, particles, unit)
    evaluation = evaluate_energy(mdp, energy)
    weight = advantage_measure(mdp, evaluation)

    def potential(omega: Particles) -> jax.Array:
        # ⟨G, ψ(·; ω)⟩ with G held fixed: its gradient is the covariance of eq. 10.
        return jnp.sum(weight * particle_energy(mdp.features, omega, unit))

    return jax.vmap(jax.grad(potential))(particles), evaluation


def regularized_objective(mdp: GridMDP, particles: Particles, unit: Unit = relu_unit) -> jax.Array:
    """E(ν^(N)) = E_{s_0 ~ ϱ_0}[V_{π_ν}(s_0)] (eq. 11) as a function of the particles; scalar."""
    return evaluate_energy(mdp, mean_field_energy(mdp.features, particles, unit)).objective
