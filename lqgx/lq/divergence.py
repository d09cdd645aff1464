"""Closed-form KL divergences and entropies of linear-Gaussian policies (thesis Appendix A).

For p(u|x) = N(K_p x + k_p, S_p), q(u|x) = N(K_q x + k_q, S_q) and x ~ N(m, P):

    E_x KL(p(.|x) || q(.|x)) = 1/2 [ tr(S_q^-1 S_p) - d + log|S_q|/|S_p|
                                     + d(m)^T S_q^-1 d(m) + tr(dK^T S_q^-1 dK P) ],

with dK = K_p - K_q and d(m) = dK m + k_p - k_q. The differential entropy of N(., S) is
1/2 log|2 pi e S|. Covariances are factored with ``cholesky`` (never inverted directly).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx.lq.types import LinearGaussianPolicy, cholesky, cholesky_log_det


def _solve(chol: jax.Array, rhs: jax.Array) -> jax.Array:
    """Solve S x = rhs per time step given the Cholesky factors ``chol[T, d, d]``."""
    return jax.vmap(lambda c, b: jax.scipy.linalg.cho_solve((c, True), b))(chol, rhs)


def _trace_ratio(chol_q: jax.Array, chol_p: jax.Array) -> jax.Array:
    """tr(S_q^-1 S_p) = ||L_q^-1 L_p||_F^2 from the (jittered) Cholesky factors."""
    whitened = jax.scipy.linalg.solve_triangular(chol_q, chol_p, lower=True)
    return jnp.sum(whitened**2, axis=(-1, -2))


def policy_kl(p: LinearGaussianPolicy, q: LinearGaussianPolicy, state_mean: jax.Array,
              state_cov: jax.Array) -> jax.Array:
    """Expected KL(p || q) per step under x_t ~ N(state_mean[t], state_cov[t]).

    Args: policies ``[T, ...]``, ``state_mean[T(+1), n]``, ``state_cov[T(+1), n, n]`` (a trailing
    final-state row is ignored). Returns ``[T]`` nats.
    """
    T = p.k.shape[0]
    m = p.k.shape[-1]
    mean, cov = state_mean[:T], state_cov[:T]
    chol_p, chol_q = cholesky(p.cov), cholesky(q.cov)
    trace_term = _trace_ratio(chol_q, chol_p)
    dK = p.K - q.K
    d = jnp.einsum("tmn,tn->tm", dK, mean) + p.k - q.k
    mahalanobis = jnp.einsum("tm,tm->t", d, _solve(chol_q, d[..., None])[..., 0])
    gain_term = jnp.trace(jnp.swapaxes(dK, -1, -2) @ _solve(chol_q, dK) @ cov, axis1=-2, axis2=-1)
    return 0.5 * (trace_term - m + cholesky_log_det(chol_q) - cholesky_log_det(chol_p)
                  + mahalanobis + gain_term)


def gaussian_kl(mean_p: jax.Array, cov_p: jax.Array, mean_q: jax.Array,
                cov_q: jax.Array) -> jax.Array:
    """KL(N(mean_p, cov_p) || N(mean_q, cov_q)), batched over leading axes."""
    d = mean_p.shape[-1]
    chol_p, chol_q = cholesky(cov_p), cholesky(cov_q)
    batch = chol_q.shape[:-2]
    flat_q = chol_q.reshape((-1, d, d))

    def solve(rhs):
        flat = jnp.broadcast_to(rhs, batch + rhs.shape[-2:]).reshape((-1,) + rhs.shape[-2:])
        return _solve(flat_q, flat).reshape(batch + rhs.shape[-2:])

    diff = (mean_q - mean_p)[..., None]
    trace_term = _trace_ratio(chol_q, chol_p)
    mahalanobis = jnp.sum(diff * solve(diff), axis=(-1, -2))
    return 0.5 * (trace_term - d + mahalanobis + cholesky_log_det(chol_q)
                  - cholesky_log_det(chol_p))


def gaussian_entropy(cov: jax.Array) -> jax.Array:
    """Differential entropy 1/2 log|2 pi e cov| (nats), batched over leading axes."""
    d = cov.shape[-1]
    return 0.5 * (d * jnp.log(2 * jnp.pi * jnp.e) + cholesky_log_det(cholesky(cov)))


def policy_entropy(policy: LinearGaussianPolicy) -> jax.Array:
    """Per-step action entropy ``[T]`` (independent of the state for a linear-Gaussian policy)."""
    return gaussian_entropy(policy.cov)
