"""Forward passes: Gaussian state propagation under a TVLG policy (thesis eq. 3.7b in closed form).

    u_t | x_t ~ N(K_t x_t + k_t, S_t),  x_{t+1} | x_t, u_t ~ N(A_t x_t + B_t u_t + c_t, W_t)

gives Gaussian marginals x_t ~ N(m_t, P_t) and joint action moments, computed with ``lax.scan``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx.lq.types import GaussianTrajectory, LinearDynamics, LinearGaussianPolicy, symmetrize


def propagate(dyn: LinearDynamics, policy: LinearGaussianPolicy, x0_mean: jax.Array,
              x0_cov: jax.Array) -> GaussianTrajectory:
    """State/action moments under ``policy`` on the linear-Gaussian model ``dyn``.

    Args:
        dyn: ``LinearDynamics`` ``[T, ...]`` (absolute coordinates, like ``policy``).
        policy: ``LinearGaussianPolicy`` ``[T, ...]``.
        x0_mean: ``[n]``; x0_cov: ``[n, n]``.

    Returns:
        ``GaussianTrajectory`` with ``mean[T+1, n]``, ``cov[T+1, n, n]``, ``action_mean[T, m]``,
        ``action_cov[T, m, m]``, ``cross_cov[T, m, n]``.
    """

    def step(carry, inputs):
        mean, cov = carry
        dyn_t, K, k, S = inputs
        u_mean = K @ mean + k
        cross = K @ cov  # Cov(u, x)
        u_cov = symmetrize(cross @ K.T + S)
        next_mean = dyn_t.A @ mean + dyn_t.B @ u_mean + dyn_t.c
        action_state = dyn_t.B @ cross @ dyn_t.A.T  # B Cov(u, x) A^T
        next_cov = symmetrize(dyn_t.A @ cov @ dyn_t.A.T + action_state + action_state.T
                              + dyn_t.B @ u_cov @ dyn_t.B.T + dyn_t.cov)
        return (next_mean, next_cov), (next_mean, next_cov, u_mean, u_cov, cross)

    _, (means, covs, u_means, u_covs, crosses) = jax.lax.scan(
        step, (x0_mean, x0_cov), (dyn, policy.K, policy.k, policy.cov))
    return GaussianTrajectory(mean=jnp.concatenate([x0_mean[None], means]),
                              cov=jnp.concatenate([x0_cov[None], covs]),
                              action_mean=u_means, action_cov=u_covs, cross_cov=crosses)
