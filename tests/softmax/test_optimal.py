"""Optimal softmax policies: Z^{-1} exp(r/τ) (§3), the soft Bellman optimum (eq. 3), fixed points."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lqgx.softmax.energy import Particles
from lqgx.softmax.evaluation import evaluate_energy
from lqgx.softmax.grid import action_grid
from lqgx.softmax.mdp import bandit_mdp
from lqgx.softmax.optimal import soft_value_iteration
from lqgx.softmax.relu_grid import relu_grid_field
from lqgx.softmax.teacher import teacher_bandit, teacher_jump_mdp, teacher_particles
from lqgx.softmax.vector_field import advantage_measure

from .conftest import jitted, random_mdp

field_fn = jitted(relu_grid_field)


def largest(field: Particles) -> float:
    return max(float(jnp.max(jnp.abs(x))) for x in field)


def test_bandit_boltzmann_policy_zeroes_the_advantage_and_attains_tau_log_z():
    # §3: π* = Z^{-1} exp(r/τ) (any additive constant in the energy) is a stationary point of eq. 12:
    # δ = r - τ log π* is constant in a, so the advantage measure G vanishes identically, and
    # V(π*) = τ log Z. Other policies lose exactly τ KL(π ‖ π*).
    tau = 0.2
    points, weights = action_grid(0.0, 1.0, 40)
    reward = jnp.sin(6.0 * points) + points**2
    mdp = bandit_mdp(reward, points, weights, tau)
    optimal = jax.jit(evaluate_energy)(mdp, reward[None] / tau + 7.0)
    assert float(jnp.max(jnp.abs(advantage_measure(mdp, optimal)))) < 1e-14
    log_z = jnp.log(jnp.sum(weights * jnp.exp(reward / tau)))
    assert float(optimal.objective) == pytest.approx(float(tau * log_z), abs=1e-13)
    other = jax.jit(evaluate_energy)(mdp, jnp.cos(3.0 * points)[None])
    assert float(jnp.max(jnp.abs(advantage_measure(mdp, other)))) > 1e-3
    kl = jnp.sum(other.probs * (other.log_density - optimal.log_density))
    assert float(optimal.objective - other.objective) == pytest.approx(float(tau * kl), abs=1e-13)


@pytest.mark.parametrize("problem", ["bandit", "jump"])
def test_teacher_energy_is_a_fixed_point_of_the_vector_field(problem):
    # Theorem 4.2 / eq. 13: a student whose particles equal the teacher's realises π* ∝ exp(f*), and
    # the vector field vanishes there; halving the output weights gives a non-zero field and a gap.
    key = jax.random.PRNGKey(7)
    if problem == "bandit":
        mdp, optimum = jitted(teacher_bandit, actions=30)(key)
    else:
        mdp, optimum = jitted(teacher_jump_mdp, size=12)(key)
    teacher = teacher_particles(key, mdp.state_features.shape[-1] + 1)  # the same draw as the MDP's
    field, evaluation = field_fn(mdp, teacher)
    assert float(evaluation.objective) == pytest.approx(float(optimum.objective), abs=1e-13)
    assert largest(field) < 1e-12
    perturbed = Particles(0.5 * teacher.output, teacher.hidden)
    field, evaluation = field_fn(mdp, perturbed)
    assert largest(field) > 1e-3
    assert float(optimum.objective - evaluation.objective) > 1e-4


def test_soft_value_iteration_recovers_the_teacher_optimum():
    # The teacher construction (r̄ = Q* - γ P V*) and soft value iteration agree: Q* = τ f*.
    mdp, optimum = jitted(teacher_jump_mdp, size=12)(jax.random.PRNGKey(8))
    solved = jax.jit(soft_value_iteration)(mdp)
    np.testing.assert_allclose(solved.energy, optimum.energy, atol=1e-11)
    assert float(solved.objective) == pytest.approx(float(optimum.objective), abs=1e-12)


def test_soft_optimum_is_self_consistent_and_dominates_other_softmax_policies():
    # Evaluating π* ∝ exp(Q*/τ) exactly returns Q* and E*; random energies never do better (eq. 3).
    mdp = random_mdp(jax.random.PRNGKey(9), discount=0.9)
    energies = 2.0 * jax.random.normal(jax.random.PRNGKey(10), (50, 5, 7))

    @jax.jit
    def solve_and_compare(mdp, energies):
        solved = soft_value_iteration(mdp, iterations=400)  # 0.9^400 ≈ 5e-19
        return solved, evaluate_energy(mdp, solved.energy), jax.vmap(lambda e: evaluate_energy(mdp, e).objective)(energies)

    solved, evaluation, objectives = solve_and_compare(mdp, energies)
    np.testing.assert_allclose(evaluation.q, solved.q, atol=1e-12)
    np.testing.assert_allclose(evaluation.value, solved.value, atol=1e-12)
    assert float(jnp.max(objectives)) < float(solved.objective) - 1e-6
