"""Energy-based (softmax) distributions on a uniform grid over a compact action interval.

A softmax ("energy-based", "all policies") distribution on a compact action set A = [low, high]
has density with respect to Lebesgue measure

    π(a) = exp(E(a)) / Z,        Z = ∫_A exp(E(a)) da                  (paper eq. 8 with f = E)

We represent it on ``size`` grid nodes ``a_j`` with quadrature weights ``w_j`` (so that
∫ g(a) da ≈ Σ_j w_j g(a_j)). Everything here works on *probability masses* at the nodes,

    p_j = w_j exp(E(a_j)) / Σ_k w_k exp(E(a_k)),      Σ_j p_j = 1,

which is what sampling (``jax.random.categorical(key, log p)``) and expectations
(E_π[g] ≈ Σ_j p_j g(a_j)) need. The density at a node is recovered as π(a_j) ≈ p_j / w_j.

Accuracy (``action_grid``): both rules integrate affine functions exactly and have error
O(h²) for twice-differentiable integrands (h = (high - low) / size for "midpoint",
(high - low) / (size - 1) for "trapezoid"); the leading terms are  (high-low) h² g''/24 (midpoint)
and -(high-low) h² g''/12 (trapezoid). For the ReLU energies of this package, whose second
derivative is a sum of Dirac masses at the kinks, the error is still O(h²) per kink. The
self-normalized quantities (``grid_softmax``, expectations) inherit the same order.

All functions are pure, shape-polymorphic in the leading (batch) axes, and ``jit``/``vmap``-able;
the action axis is always the *last* axis ``[..., A]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "action_grid",
    "grid_log_normalizer",
    "grid_softmax",
    "grid_log_density",
    "grid_entropy",
    "grid_kl_to_uniform",
]


def action_grid(low: float, high: float, size: int, rule: str = "midpoint") -> tuple[jax.Array, jax.Array]:
    """Nodes and quadrature weights of a uniform grid on the interval [low, high].

    Args:
      low, high: interval end points, ``low < high`` (Python floats).
      size: number of nodes A (``>= 1`` for "midpoint", ``>= 2`` for "trapezoid").
      rule: "midpoint" — nodes at cell centres ``low + (j + 1/2) h``, ``h = (high-low)/size``,
        all weights ``h``; "trapezoid" — nodes ``linspace(low, high, size)``, weights ``h`` with
        half weights at both end points, ``h = (high-low)/(size-1)``. Both are O(h²) accurate
        (see module docstring); the weights sum to ``high - low`` exactly.

    Returns:
      ``points[A]``, ``quadrature_weights[A]`` (default float dtype).
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if not float(low) < float(high):
        raise ValueError(f"need low < high, got low={low!r}, high={high!r}")
    length = float(high) - float(low)
    if rule == "midpoint":
        h = length / size
        points = low + h * (jnp.arange(size) + 0.5)
        weights = jnp.full((size,), h)
    elif rule == "trapezoid":
        if size < 2:
            raise ValueError(f"the trapezoid rule needs size >= 2, got {size}")
        h = length / (size - 1)
        points = jnp.linspace(low, high, size)
        weights = jnp.full((size,), h).at[jnp.array([0, -1])].set(0.5 * h)
    else:
        raise ValueError(f"rule must be 'midpoint' or 'trapezoid', got {rule!r}")
    return points, weights


def grid_log_normalizer(energy: jax.Array, quadrature_weights: jax.Array) -> jax.Array:
    """log Z = log ∫_A exp(E(a)) da ≈ log Σ_j w_j exp(E_j), computed with log-sum-exp.

    Args:
      energy: ``E[..., A]`` energy at the grid nodes.
      quadrature_weights: ``w[A]`` (positive).

    Returns:
      ``log_Z[...]``.
    """
    return jax.nn.logsumexp(energy + jnp.log(quadrature_weights), axis=-1)


def grid_softmax(energy: jax.Array, log_weights: jax.Array | None = None) -> jax.Array:
    """Probability masses p_j ∝ w_j exp(E_j) of the softmax distribution at the grid nodes.

    Args:
      energy: ``E[..., A]``.
      log_weights: ``log w[A]`` (log quadrature weights), or None for equal weights (the
        midpoint rule, where the weights cancel).

    Returns:
      ``p[..., A]``, non-negative, summing to one over the last axis.
    """
    if log_weights is not None:
        energy = energy + log_weights
    return jax.nn.softmax(energy, axis=-1)


def grid_log_density(energy: jax.Array, quadrature_weights: jax.Array) -> jax.Array:
    """log π(a_j) = E_j - log Z: log density w.r.t. Lebesgue measure at the nodes, ``[..., A]``."""
    return energy - grid_log_normalizer(energy, quadrature_weights)[..., None]


def grid_entropy(probs: jax.Array, quadrature_weights: jax.Array) -> jax.Array:
    """Differential entropy H(π) = -∫ π log π da ≈ -Σ_j p_j log(p_j / w_j), in nats.

    This is *minus* the relative entropy to Lebesgue measure used in the paper's regularizer
    (eq. 1 with π̄ = Lebesgue): D_KL(π; Lebesgue) = -H(π). The relative entropy to the uniform
    *probability* on [low, high] is ``log(high - low) - H`` (see ``grid_kl_to_uniform``).
    Nodes with p_j = 0 contribute 0 (0 log 0 = 0), without NaN gradients.

    Args:
      probs: ``p[..., A]`` probability masses at the nodes (e.g. from ``grid_softmax``).
      quadrature_weights: ``w[A]``.

    Returns:
      ``H[...]``.
    """
    positive = probs > 0
    safe = jnp.where(positive, probs, 1.0)
    return -jnp.sum(jnp.where(positive, probs * jnp.log(safe / quadrature_weights), 0.0), axis=-1)


def grid_kl_to_uniform(probs: jax.Array, quadrature_weights: jax.Array) -> jax.Array:
    """D_KL(π ‖ Uniform[low, high]) = log(high - low) - H(π) >= 0, ``[...]``."""
    return jnp.log(jnp.sum(quadrature_weights)) - grid_entropy(probs, quadrature_weights)
