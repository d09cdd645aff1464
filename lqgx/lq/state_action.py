"""State and state-action Gaussians of a TVLG policy (thesis §4.3, Appendix B "Plug in Gaussians").

Notation: ``x[n]`` state, ``u[m]`` action. With a state marginal mu_t(x) = N(x | m_t, P_t) and a
policy pi_t(u|x) = N(u | K_t x + k_t, S_t), the joint state-action Gaussian is

    rho_t(x, u) = N([x; u] | [m; K m + k], [[P, P K^T], [K P, S + K P K^T]]).

The state-action KL between two of them splits into a state part and an expected policy part,

    KL(mu pi || nu q) = KL(mu || nu) + E_mu[ KL(pi(.|x) || q(.|x)) ],

the quantity bounded by SAPS/ESAPS (thesis eq. 4.1c, 5.1c). This module also holds the Gaussian
log-densities as state-only ``QuadraticCost`` terms (the -alpha log q_t(s) + alpha log mu_t(s) + alpha
terms of the augmented reward eq. 4.7/4.8, in cost form) and the closed-form state distribution
of the coordinate-descent step (thesis eq. 4.9, Appendix B "Coordinate Descent").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx.lq.divergence import gaussian_kl, policy_kl
from lqgx.lq.types import (
    LinearGaussianPolicy,
    QuadraticCost,
    cholesky,
    cholesky_log_det,
    symmetrize,
)


def _cho_solve_batched(chol: jax.Array, rhs: jax.Array) -> jax.Array:
    return jax.vmap(lambda c, b: jax.scipy.linalg.cho_solve((c, True), b))(chol, rhs)


def joint_state_action(policy: LinearGaussianPolicy, state_mean: jax.Array,
                       state_cov: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean ``[T, n+m]`` and covariance ``[T, n+m, n+m]`` of rho_t(x, u) = mu_t(x) pi_t(u|x).

    ``state_mean[T(+1), n]``, ``state_cov[T(+1), n, n]``; a trailing final-state row is ignored.
    """
    T = policy.k.shape[0]
    m, P = state_mean[:T], state_cov[:T]
    u_mean = jnp.einsum("tmn,tn->tm", policy.K, m) + policy.k
    KP = policy.K @ P
    u_cov = symmetrize(KP @ jnp.swapaxes(policy.K, -1, -2) + policy.cov)
    top = jnp.concatenate([P, jnp.swapaxes(KP, -1, -2)], axis=-1)
    bottom = jnp.concatenate([KP, u_cov], axis=-1)
    return (jnp.concatenate([m, u_mean], axis=-1),
            symmetrize(jnp.concatenate([top, bottom], axis=-2)))


def state_action_kl(p: LinearGaussianPolicy, p_mean: jax.Array, p_cov: jax.Array,
                    q: LinearGaussianPolicy, q_mean: jax.Array, q_cov: jax.Array) -> jax.Array:
    """KL(mu_t pi_t || nu_t q_t) per step ``[T]`` (nats), in closed form.

    Computed as the state KL plus the expected policy KL (module docstring); ``tests`` check it
    against the KL between the two joint Gaussians of ``joint_state_action``.
    """
    T = p.k.shape[0]
    return (gaussian_kl(p_mean[:T], p_cov[:T], q_mean[:T], q_cov[:T])
            + policy_kl(p, q, p_mean, p_cov))


def negative_log_gaussian(mean: jax.Array, cov: jax.Array, action_dim: int) -> QuadraticCost:
    """-log N(x | mean[t], cov[t]) as a state-only ``QuadraticCost`` (zero action terms).

    -log N(x | m, P) = 1/2 x^T P^-1 x - x^T P^-1 m + 1/2 m^T P^-1 m + 1/2 log|2 pi P|.
    ``mean[T, n]``, ``cov[T, n, n]``.
    """
    T, n = mean.shape
    dtype = mean.dtype
    chol = cholesky(cov)
    eye = jnp.broadcast_to(jnp.eye(n, dtype=dtype), cov.shape)
    precision = symmetrize(_cho_solve_batched(chol, eye))
    Pm = jnp.einsum("tij,tj->ti", precision, mean)
    log_det = cholesky_log_det(chol)
    return QuadraticCost(
        Cxx=precision,
        Cuu=jnp.zeros((T, action_dim, action_dim), dtype),
        Cux=jnp.zeros((T, action_dim, n), dtype),
        cx=-Pm,
        cu=jnp.zeros((T, action_dim), dtype),
        c0=0.5 * jnp.einsum("ti,ti->t", mean, Pm) + 0.5 * (n * jnp.log(2 * jnp.pi) + log_det),
    )


def state_distribution_from_values(Vxx: jax.Array, vx: jax.Array, Vxx_hat: jax.Array,
                                   vx_hat: jax.Array, alpha: jax.Array):
    """Closed-form state distribution of the coordinate-descent step (thesis eq. 4.9), cost form.

    With the value V_t(x) = 1/2 x^T Vxx x + vx^T x + v0 held fixed and the alpha-dependent value
    V^_t(x) (thesis eq. 4.10, here the soft value *including* the -alpha log q_t(x) term),
    stationarity of the dual in mu_t gives log mu_t(x) = (V_t(x) - V^_t(x)) / alpha - 1, i.e.

        mu_t = N( (V^xx - Vxx)^-1 (vx - v^x),  alpha (V^xx - Vxx)^-1 ).

    Unbatched (one step). Returns ``(mean[n], cov[n, n], ok)``; ``ok`` is False when
    V^xx - Vxx is not positive definite (no Gaussian solution at this alpha).
    """
    D = symmetrize(Vxx_hat - Vxx)
    chol = jnp.linalg.cholesky(D)
    ok = jnp.all(jnp.isfinite(chol))
    eye = jnp.eye(D.shape[-1], dtype=D.dtype)
    D_inv = symmetrize(jax.scipy.linalg.cho_solve((chol, True), eye))
    mean = D_inv @ (vx - vx_hat)
    return mean, alpha * D_inv, ok
