"""Soft backward pass with a per-step entropy floor (thesis eq. 5.1d, 5.4d; ESAPS), cost form.

pi_t(u|x) ∝ exp(-Q_t(x, u) / tau_t) with tau_t = alpha_t + beta_t has the state-independent
entropy 1/2 log|2 pi e tau_t Q_uu^-1|. Given alpha_t and Q_t (which depends on V_{t+1} only), the
smallest beta_t >= 0 with entropy >= -delta is closed-form,

    beta_t = max(0, tau_min - alpha_t),   tau_min = exp((log|Q_uu| - 2 delta) / m) / (2 pi e),

so the floor and its complementary slackness hold exactly in every pass; the temperature is chosen
inside the ``lax.scan`` right after Q_t is formed. Otherwise identical to ``soft_backward_pass``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx.lq.backward import SoftSolution, entropy_floor_temperature, soft_backward_pass
from lqgx.lq.types import LinearDynamics, QuadraticCost, QuadraticFinalCost

__all__ = ["entropy_floor_temperature", "soft_backward_pass_entropy_floor"]


def soft_backward_pass_entropy_floor(cost: QuadraticCost, final: QuadraticFinalCost,
                                     dyn: LinearDynamics, alpha: jax.Array,
                                     delta: jax.Array) -> tuple[SoftSolution, jax.Array]:
    """Returns ``(SoftSolution, beta[T])`` with temperature alpha_t + beta_t (module docstring).

    ``alpha[T]`` > 0, ``delta`` scalar or ``[T]`` (E[log pi_t] <= delta).
    """
    solution = soft_backward_pass(cost, final, dyn, alpha, entropy_floor=delta)
    alpha = jnp.broadcast_to(jnp.asarray(alpha, solution.temperature.dtype),
                             solution.temperature.shape)
    return solution, solution.temperature - alpha
