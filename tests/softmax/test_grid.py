"""lqgx.softmax.grid: quadrature accuracy, normalization, stability, entropy identities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from lqgx.softmax.grid import (
    action_grid,
    grid_entropy,
    grid_kl_to_uniform,
    grid_log_density,
    grid_log_normalizer,
    grid_softmax,
)


def smooth_energy(a, xp=jnp):
    return xp.sin(3.0 * a) + 2.0 * a**2 - 1.5 * a


def kinked_energy(a, xp=jnp):
    # Two ReLU units: kinks at a = 0.3 and 0.71, as produced by the mean-field energy.
    return 3.0 * xp.maximum(a - 0.3, 0.0) - 2.0 * xp.maximum(0.71 - a, 0.0) + 0.5


def reference_log_normalizer(energy_fn, low, high, breakpoints=()):
    # scipy adaptive quadrature on the numpy version of the energy (independent of the grid code).
    value, _ = integrate.quad(lambda a: np.exp(energy_fn(a, np)), low, high, points=breakpoints or None,
                              epsabs=1e-13, epsrel=1e-12, limit=200)
    return np.log(value)


@pytest.mark.parametrize("rule", ["midpoint", "trapezoid"])
def test_log_normalizer_is_second_order_accurate_against_adaptive_quadrature(rule):
    # Property: |log Z_grid - log Z| <= C h^2 and halving h divides the error by ~4.
    reference = reference_log_normalizer(smooth_energy, -0.5, 1.5)
    errors = []
    for size in (50, 100, 200):
        points, weights = action_grid(-0.5, 1.5, size, rule)
        errors.append(abs(float(grid_log_normalizer(smooth_energy(points), weights)) - reference))
    assert errors[1] < 1e-3
    for coarse, fine in zip(errors, errors[1:]):
        assert 3.5 < coarse / fine < 4.5, errors


def test_log_normalizer_of_kinked_relu_energy_matches_fine_grid_reference():
    # Property: the documented accuracy holds for the piecewise-linear energies used in training
    # (100 nodes on [0, 1]: error below 1e-4 against a 200 000-node reference grid).
    fine_points, fine_weights = action_grid(0.0, 1.0, 200_000)
    reference = float(grid_log_normalizer(kinked_energy(fine_points), fine_weights))
    exact = reference_log_normalizer(kinked_energy, 0.0, 1.0, breakpoints=(0.3, 0.71))
    assert abs(reference - exact) < 1e-9  # the reference itself is right
    points, weights = action_grid(0.0, 1.0, 100)
    assert abs(float(grid_log_normalizer(kinked_energy(points), weights)) - reference) < 1e-4


def test_action_grid_weights_sum_to_interval_length_and_nodes_are_inside():
    for rule in ("midpoint", "trapezoid"):
        points, weights = action_grid(2.0, 5.0, 7, rule)
        assert float(jnp.sum(weights)) == pytest.approx(3.0, abs=1e-14)
        assert float(points.min()) >= 2.0 and float(points.max()) <= 5.0
    points, _ = action_grid(0.0, 1.0, 4)
    np.testing.assert_allclose(points, [0.125, 0.375, 0.625, 0.875])


@pytest.mark.parametrize("kwargs", [dict(low=1.0, high=1.0, size=3), dict(low=0.0, high=1.0, size=0),
                                    dict(low=0.0, high=1.0, size=1, rule="trapezoid"),
                                    dict(low=0.0, high=1.0, size=3, rule="simpson")])
def test_action_grid_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        action_grid(**kwargs)


def test_grid_softmax_is_normalized_shift_invariant_and_stable_for_huge_energies():
    points, weights = action_grid(0.0, 1.0, 64, "trapezoid")
    energy = jnp.stack([smooth_energy(points), 1e4 * points, -1e4 * points])  # [3, A]
    probs = grid_softmax(energy, jnp.log(weights))
    assert bool(jnp.all(jnp.isfinite(probs)))
    np.testing.assert_allclose(jnp.sum(probs, axis=-1), 1.0, atol=1e-14)
    np.testing.assert_allclose(grid_softmax(energy + 123.0, jnp.log(weights)), probs, atol=1e-14)
    # With the weights: p_j ∝ w_j exp(E_j), so the trapezoid end nodes get half mass for flat E.
    flat = grid_softmax(jnp.zeros(64), jnp.log(weights))
    np.testing.assert_allclose(flat, weights / weights.sum(), atol=1e-15)
    assert float(grid_log_normalizer(1e4 * points, weights)) == pytest.approx(1e4 + np.log(0.5 / 63), rel=1e-12)


def test_grid_log_density_integrates_to_one():
    points, weights = action_grid(-1.0, 2.0, 300)
    log_density = grid_log_density(smooth_energy(points), weights)
    assert float(jnp.sum(weights * jnp.exp(log_density))) == pytest.approx(1.0, abs=1e-12)


def test_grid_entropy_matches_closed_forms():
    # Uniform on [0, 2]: H = log 2, KL to uniform = 0.
    points, weights = action_grid(0.0, 2.0, 50)
    uniform = grid_softmax(jnp.zeros(50), jnp.log(weights))
    assert float(grid_entropy(uniform, weights)) == pytest.approx(np.log(2.0), abs=1e-13)
    assert float(grid_kl_to_uniform(uniform, weights)) == pytest.approx(0.0, abs=1e-13)
    # Exponential density λ e^{-λ a} / z on [0, 1], z = 1 - e^{-λ}:
    # H = 1 - log λ + log z - λ e^{-λ} / z (closed form), grid error O(h^2).
    lam = 3.0
    points, weights = action_grid(0.0, 1.0, 400)
    probs = grid_softmax(-lam * points, jnp.log(weights))
    z = 1.0 - np.exp(-lam)
    exact = 1.0 - np.log(lam) + np.log(z) - lam * np.exp(-lam) / z
    assert float(grid_entropy(probs, weights)) == pytest.approx(exact, abs=1e-5)
    assert float(grid_kl_to_uniform(probs, weights)) > 0.0


def test_grid_entropy_handles_zero_mass_nodes_without_nan_gradients():
    weights = jnp.full(4, 0.25)
    probs = jnp.array([0.5, 0.5, 0.0, 0.0])
    assert float(grid_entropy(probs, weights)) == pytest.approx(-np.log(2.0), abs=1e-14)
    assert bool(jnp.all(jnp.isfinite(jax.grad(grid_entropy)(probs, weights))))


def test_grid_functions_jit_and_vmap_over_batches():
    points, weights = action_grid(0.0, 1.0, 32)
    energies = jnp.stack([smooth_energy(points) * k for k in range(5)])  # [5, A]
    batched = jax.jit(jax.vmap(grid_log_normalizer, in_axes=(0, None)))(energies, weights)
    np.testing.assert_allclose(batched, grid_log_normalizer(energies, weights), atol=1e-14)
    entropies = jax.vmap(lambda e: grid_entropy(grid_softmax(e, jnp.log(weights)), weights))(energies)
    assert entropies.shape == (5,)
