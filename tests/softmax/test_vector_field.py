"""The policy-gradient vector field (eqs. 5, 9, 10, 12) against jax.grad and against each other."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lqgx.softmax.energy import Particles, init_particles, mean_field_energy, relu_unit
from lqgx.softmax.evaluation import evaluate_energy
from lqgx.softmax.grid import action_grid
from lqgx.softmax.mdp import bandit_mdp
from lqgx.softmax.relu_grid import relu_grid_energy, relu_grid_field
from lqgx.softmax.vector_field import policy_gradient_field, regularized_objective

from .conftest import jitted


def max_abs(a: Particles, b: Particles) -> float:
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(a, b))


def mean_field_gradient(mdp, particles, unit=relu_unit):
    """N ∇_w E(w) by reverse-mode autodiff *through* the resolvent solves (eq. 5, left-hand side)."""
    grad = jax.jit(jax.grad(functools.partial(regularized_objective, unit=unit), argnums=1))(mdp, particles)
    return jax.tree_util.tree_map(lambda g: particles.width * g, grad)


def test_field_equals_mean_field_scaled_jax_grad_of_regularized_objective(small_mdp, small_particles):
    # Policy-gradient theorem (eq. 5 / Lemma A.1) with the t -> t/N scaling: F(w_i) = N ∂E/∂w_i.
    field, _ = jitted(policy_gradient_field)(small_mdp, small_particles)
    reference = mean_field_gradient(small_mdp, small_particles)
    assert max_abs(field, Particles(jnp.zeros_like(field.output), jnp.zeros_like(field.hidden))) > 1e-2
    assert max_abs(field, reference) < 1e-12


def test_field_equals_jax_grad_for_a_smooth_unit_and_the_bandit():
    # Same property for a tanh unit (any φ works) on the §3 bandit (S = 1, γ = 0; eq. 12).
    points, weights = action_grid(0.0, 1.0, 9)
    mdp = bandit_mdp(jnp.sin(5.0 * points), points, weights, temperature=0.2)
    particles = init_particles(jax.random.PRNGKey(0), 4, 2, 1.0, 1.0)
    unit = lambda x, w: jnp.tanh(jnp.dot(w, x))  # noqa: E731
    field, _ = jitted(policy_gradient_field, unit=unit)(mdp, particles)
    assert max_abs(field, mean_field_gradient(mdp, particles, unit)) < 1e-13
    assert float(jnp.max(jnp.abs(field.hidden))) > 1e-3


def test_covariance_form_equals_eq9_with_explicit_per_particle_jacobians(small_mdp, small_particles):
    # eq. 9 written literally: ∫∫ (∇ψ - E_π ∇ψ) (Q - τ log π) dπ dϱ_π, with ∇ψ from jax.jacobian.
    mdp, particles = small_mdp, small_particles
    evaluation = jax.jit(evaluate_energy)(mdp, mean_field_energy(mdp.features, particles))
    psi = lambda omega, x: omega[0] * relu_unit(x, omega[1:])  # noqa: E731
    omegas = jnp.concatenate([particles.output[:, None], particles.hidden], axis=1)  # [N, 1 + d]
    grads = jax.jit(jax.vmap(lambda o: jax.vmap(jax.vmap(lambda x: jax.grad(psi)(o, x)))(mdp.features)))(omegas)
    centred = grads - jnp.einsum("sa,nsak->nsk", evaluation.probs, grads)[:, :, None, :]
    delta = evaluation.q - mdp.temperature * evaluation.log_density
    literal = jnp.einsum("nsak,sa,sa,s->nk", centred, delta, evaluation.probs, evaluation.state_measure)
    field, _ = jitted(policy_gradient_field)(mdp, particles)
    np.testing.assert_allclose(literal[:, 0], field.output, atol=1e-13)
    np.testing.assert_allclose(literal[:, 1:], field.hidden, atol=1e-13)


def test_relu_grid_fast_path_equals_dense_path_including_flat_and_on_node_kinks(small_mdp):
    # The O(N S log A) path is exact: same energy and field as the dense path, also for units with
    # slope v = 0 (active everywhere / nowhere) and kinks exactly on grid nodes.
    mdp = small_mdp
    particles = init_particles(jax.random.PRNGKey(12), 12, 3, 2.0, 1.0)
    a3 = float(mdp.actions[3])
    special = jnp.array([[0.0, 0.5, 0.0], [0.0, -0.5, 0.0],      # v = 0, α > 0 / α < 0
                         [0.0, -a3, 1.0], [0.0, a3, -1.0]])      # z = 0 exactly at a_3 (s-independent)
    particles = Particles(particles.output, particles.hidden.at[:4].set(special))

    @jax.jit
    def both_paths(mdp, particles):
        return (relu_grid_energy(mdp, particles), mean_field_energy(mdp.features, particles),
                relu_grid_field(mdp, particles), policy_gradient_field(mdp, particles))

    fast_energy, dense_energy, (fast, fast_eval), (dense, dense_eval) = both_paths(mdp, particles)
    np.testing.assert_allclose(fast_energy, dense_energy, atol=1e-14)
    assert max_abs(fast, dense) < 1e-13
    assert float(jnp.abs(fast_eval.objective - dense_eval.objective)) < 1e-14


def test_field_is_invariant_to_constant_energy_shift(small_mdp, small_particles):
    # A unit with φ ≡ 1 shifts f by a constant; the covariance (eq. 10) ignores it (§3 remark).
    unit = relu_unit
    shifted = lambda x, w: relu_unit(x, w) + 3.0  # noqa: E731
    # Shifting every φ by 3 adds 3·mean(ω_0) to f (a constant) and 3 to ∂ψ/∂ω_0 (a constant in a).
    base, base_eval = jitted(policy_gradient_field, unit=unit)(small_mdp, small_particles)
    moved, moved_eval = jitted(policy_gradient_field, unit=shifted)(small_mdp, small_particles)
    assert max_abs(base, moved) < 1e-12
    np.testing.assert_allclose(base_eval.probs, moved_eval.probs, atol=1e-14)


def test_field_in_float32_agrees_with_float64(small_mdp, small_particles):
    # Precision convention: the same computation in float32 is right to float32 accuracy.
    to32 = lambda tree: jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), tree)  # noqa: E731
    field_fn = jax.jit(relu_grid_field)
    field64, _ = field_fn(small_mdp, small_particles)
    field32, eval32 = field_fn(to32(small_mdp), to32(small_particles))
    assert field32.output.dtype == jnp.float32 and eval32.value.dtype == jnp.float32
    assert max_abs(field64, Particles(jnp.zeros_like(field64.output), jnp.zeros_like(field64.hidden))) > 1e-2
    assert max_abs(field32, field64) < 1e-4
