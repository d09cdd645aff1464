"""Time-varying quadratic value-function approximation V̂_t(x) for the baseline of §4.1.

In the time-varying setting the paper notes that function approximation "makes little sense
unless the approximation is a quadratic"; so ``V̂_t(x) = w_t · φ(s_t ⊙ (x - c_t))`` with
``φ(y) = [1, y, upper-triangle(y yᵀ)]``, fitted per step by ridge regression of the empirical costs
to go ``R_t`` (Monte-Carlo returns). To keep Algorithm 1 unbiased, V̂ must be fitted on rollouts
independent of the batch whose gradient it baselines ("fitted to data up to the previous batch").
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class ValueModel(NamedTuple):
    """V̂_t for ``t = 0..T``.

    Fields: ``weights[T+1, p]`` with ``p = 1 + n + n(n+1)/2``; ``center[T+1, n]`` and
    ``inv_scale[T+1, n]`` standardize the state before the features.
    """

    weights: jax.Array
    center: jax.Array
    inv_scale: jax.Array

    def __call__(self, x: jax.Array, t) -> jax.Array:
        """``V̂_t(x)`` for ``x[n]`` -> scalar."""
        y = (x - self.center[t]) * self.inv_scale[t]
        return quadratic_features(y) @ self.weights[t]


def quadratic_features(y: jax.Array) -> jax.Array:
    """``[n] -> [1 + n + n(n+1)/2]``: constant, linear and upper-triangular quadratic monomials."""
    n = y.shape[-1]
    rows, cols = jnp.triu_indices(n)
    quad = y[..., rows] * y[..., cols]
    return jnp.concatenate([jnp.ones(y.shape[:-1] + (1,), y.dtype), y, quad], axis=-1)


def zero_value(horizon: int, state_dim: int, dtype=None) -> ValueModel:
    """V̂ ≡ 0, i.e. no baseline."""
    dtype = dtype or jnp.result_type(float)
    p = 1 + state_dim + state_dim * (state_dim + 1) // 2
    return ValueModel(weights=jnp.zeros((horizon + 1, p), dtype),
                      center=jnp.zeros((horizon + 1, state_dim), dtype),
                      inv_scale=jnp.ones((horizon + 1, state_dim), dtype))


@jax.jit
def fit_value(states: jax.Array, returns: jax.Array, ridge: float = 1e-6) -> ValueModel:
    """Fit V̂_t to costs to go by ridge least squares, one regression per step.

    Args:
        states: ``[N, T+1, n]`` visited states.
        returns: ``[N, T+1]`` costs to go ``R_t``.
        ridge: relative Tikhonov weight (times the mean feature energy).

    Returns:
        ``ValueModel`` for ``t = 0..T``.
    """
    center = jnp.mean(states, axis=0)                       # [T+1, n]
    spread = jnp.std(states, axis=0)
    inv_scale = 1.0 / jnp.maximum(spread, 1e-8 * (1.0 + jnp.abs(center)))
    inv_scale = jnp.where(spread > 0, inv_scale, 0.0)       # constant coordinates carry no signal

    def fit_step(x_t, r_t, c_t, s_t):
        phi = quadratic_features((x_t - c_t) * s_t)         # [N, p]
        gram = phi.T @ phi
        reg = ridge * (jnp.trace(gram) / gram.shape[0] + 1e-12) * jnp.eye(gram.shape[0],
                                                                          dtype=gram.dtype)
        return jnp.linalg.solve(gram + reg, phi.T @ r_t)

    weights = jax.vmap(fit_step, in_axes=(1, 1, 0, 0))(states, returns, center, inv_scale)
    return ValueModel(weights=weights, center=center, inv_scale=inv_scale)
