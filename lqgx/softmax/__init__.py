"""Mean-field softmax policy gradient (paper: meanfield-softmax-policy-gradient, "the paper").

Softmax (energy-based) policies π(a|s) ∝ exp(f(s, a)) on a compact action interval, represented
on a uniform action grid; the energy is a mean-field two-layer network f = (1/N) Σ_i ω_0^i φ(·; ω̄^i)
(eq. 7, Assumption 1); entropy-regularized values with KL to Lebesgue measure and temperature τ
(eq. 1), evaluated exactly on finite state grids (eqs. 2, 6, 11); the policy-gradient vector field
of eqs. 9 / 10 / 12 in covariance form with the mean-field time scaling; small-step ascent training;
the §5 teacher-student problems.

Modules (one concept each):
  grid          softmax distributions on an action grid (shared with ``lqgx.ddpl``)
  energy        mean-field energy, ``Particles``
  mdp           ``GridMDP`` and the §3 bandit / §5 (b) constructors
  evaluation    exact policy evaluation (resolvent)
  vector_field  eq. 9/10 field for any unit, and the objective for ``jax.grad``
  relu_grid     the same field for ReLU units in O(N·S·log A) (used for training)
  optimal       soft value iteration (eq. 3)
  teacher       §5 teacher problems
  training      Euler steps in ``lax.scan`` chunks
"""

from lqgx.softmax.energy import Particles, init_particles, mean_field_energy, particle_energy, relu_unit
from lqgx.softmax.evaluation import PolicyEvaluation, evaluate_energy
from lqgx.softmax.grid import (
    action_grid,
    grid_entropy,
    grid_kl_to_uniform,
    grid_log_density,
    grid_log_normalizer,
    grid_softmax,
)
from lqgx.softmax.mdp import GridMDP, bandit_mdp, jump_mdp
from lqgx.softmax.optimal import SoftOptimum, soft_value_iteration
from lqgx.softmax.relu_grid import relu_grid_energy, relu_grid_field
from lqgx.softmax.teacher import teacher_bandit, teacher_jump_mdp, teacher_particles
from lqgx.softmax.training import TrainingTrace, ascent_steps, train
from lqgx.softmax.vector_field import advantage_measure, policy_gradient_field, regularized_objective

__all__ = [
    "action_grid", "grid_entropy", "grid_kl_to_uniform", "grid_log_density", "grid_log_normalizer",
    "grid_softmax", "Particles", "init_particles", "mean_field_energy", "particle_energy", "relu_unit",
    "GridMDP", "bandit_mdp", "jump_mdp", "PolicyEvaluation", "evaluate_energy", "advantage_measure",
    "policy_gradient_field", "regularized_objective", "relu_grid_energy", "relu_grid_field",
    "SoftOptimum", "soft_value_iteration", "teacher_bandit", "teacher_jump_mdp", "teacher_particles", "TrainingTrace",
    "ascent_steps", "train",
]
