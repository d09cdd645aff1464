"""Backward passes: hard (Riccati, iLQG/DDP) and soft (maximum-entropy, the GPS family).

Both run ``lax.scan`` backwards over t on top of ``q_function`` (thesis §2.1.1):

* ``riccati_backward_pass`` — the regularized iLQG/DDP pass of Tassa, Erez & Todorov 2012
  (thesis §2.1.2): Levenberg-Marquardt regularization mu on the state (``V_xx + mu I`` inside
  Q_uu, Q_ux) or on the control (``Q_uu + mu I``), the improved value update that uses the
  unregularized Q (Tassa 2012 eq. 11), the expected-improvement coefficients for the line search,
  optional second-order dynamics terms (DDP) and box limits through ``box_qp``.
* ``soft_backward_pass`` — the maximum-entropy pass with a per-step temperature tau_t:
  pi_t(u|x) ∝ exp(-Q_t(x, u)/tau_t) and V_t(x) = -tau_t log ∫ exp(-Q_t(x, u)/tau_t) du
  (thesis eq. 3.7a and 3.4 in cost form; GPS/SAPS/ESAPS pass their augmented costs and
  temperatures). As tau -> 0 it reduces to the hard pass without regularization.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from lqgx._pytree import pytree_dataclass
from lqgx.lq.boxqp import BoxQPOptions, box_qp, masked_hessian
from lqgx.lq.quadratic import q_function
from lqgx.lq.types import (
    LinearDynamics,
    LinearGaussianPolicy,
    QuadraticCost,
    QuadraticFinalCost,
    QuadraticValue,
    cholesky_inverse,
    cholesky_log_det,
    symmetrize,
)

STATE_REGULARIZATION = "state"
CONTROL_REGULARIZATION = "control"

# (t, V_x at t+1) -> (f_xx term [n,n], f_uu term [m,m], f_ux term [m,n]): sum_i V_x[i] * d2 f_i.
SecondOrderDynamics = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]


@pytree_dataclass
class RiccatiSolution:
    """Output of ``riccati_backward_pass`` (deviation coordinates).

    Fields: ``K[T, m, n]``, ``k[T, m]`` (du = k + K dx), ``cov[T, m, m]`` = inverse regularized
    Q_uu (the LQG policy covariance), ``value`` (``QuadraticValue``, deviation coordinates),
    ``expected_reduction[2]`` = (sum_t k^T Q_u, sum_t 1/2 k^T Q_uu k) so that a step of size a
    predicts a cost change a*d1 + a^2*d2 (Tassa 2012 §II-F), ``ok`` False if some regularized Q_uu
    was not positive definite or a value became non-finite.
    """

    K: jax.Array
    k: jax.Array
    cov: jax.Array
    value: QuadraticValue
    expected_reduction: jax.Array
    ok: jax.Array


def riccati_backward_pass(cost: QuadraticCost, final: QuadraticFinalCost, dyn: LinearDynamics,
                          regularization: jax.Array, *, scheme: str = STATE_REGULARIZATION,
                          bounds: tuple[jax.Array, jax.Array] | None = None,
                          warm_start: jax.Array | None = None,
                          second_order: SecondOrderDynamics | None = None,
                          box_options: BoxQPOptions = BoxQPOptions(),
                          free: jax.Array | None = None) -> RiccatiSolution:
    """Regularized Riccati recursion in deviation coordinates.

    Args:
        cost: running-cost expansion in (dx, du) (``QuadraticCost`` with ``[T, ...]`` fields).
        final: terminal-cost expansion in dx.
        dyn: deviation dynamics dx' = A dx + B du + c (c = 0 about a rollout).
        regularization: mu >= 0 (scalar).
        scheme: ``"state"`` (Tassa 2012, V_xx + mu I) or ``"control"`` (Q_uu + mu I).
        bounds: ``(lower[T, m], upper[T, m])`` on du (box limits minus nominal actions), or None.
        warm_start: ``[T, m]`` initial du for the box QP (the previous k).
        second_order: DDP curvature terms, see ``SecondOrderDynamics``.
        free: ``[T, m]`` bool, a fixed free set instead of ``bounds``: the clamped controls are
            held at du = 0 (k and K rows zero) and the free ones solve the restricted Newton
            system, as the box QP does once its clamped set is known. Without while loops, so
            the pass can be reverse-differentiated (implicit differentiation at an optimum).
    """
    if bounds is not None and free is not None:
        raise ValueError("give bounds or a fixed free set, not both")
    if scheme not in (STATE_REGULARIZATION, CONTROL_REGULARIZATION):
        raise ValueError(f"scheme must be 'state' or 'control', got {scheme!r}")
    T, n, m = dyn.B.shape
    dtype = dyn.A.dtype
    mu = jnp.asarray(regularization, dtype)
    if warm_start is None:
        warm_start = jnp.zeros((T, m), dtype)

    def step(carry, inputs):
        Vxx, vx, v0, ok = carry
        t, cost_t, dyn_t, du_warm, low_t, high_t, free_t = inputs
        Q = q_function(cost_t, dyn_t, Vxx, vx, v0)
        Qxx, Quu, Qux = Q.Qxx, Q.Quu, Q.Qux
        if second_order is not None:
            fxx, fuu, fux = second_order(t, vx)
            Qxx, Quu, Qux = Qxx + symmetrize(fxx), Quu + symmetrize(fuu), Qux + fux
        if scheme == STATE_REGULARIZATION:
            Quu_reg = Quu + mu * dyn_t.B.T @ dyn_t.B
            Qux_reg = Qux + mu * dyn_t.B.T @ dyn_t.A
        else:
            Quu_reg = Quu + mu * jnp.eye(m, dtype=dtype)
            Qux_reg = Qux
        if free is not None:
            k, K, chol_free = _restricted_newton(Quu_reg, Q.qu, Qux_reg, free_t)
            chol = jnp.linalg.cholesky(Quu_reg)
            step_ok = jnp.all(jnp.isfinite(chol_free))
        elif bounds is None:
            chol = jnp.linalg.cholesky(Quu_reg)
            k = -jax.scipy.linalg.cho_solve((chol, True), Q.qu)
            K = -jax.scipy.linalg.cho_solve((chol, True), Qux_reg)
            step_ok = jnp.all(jnp.isfinite(chol))
        else:
            sol = box_qp(Quu_reg, Q.qu, low_t, high_t, du_warm, box_options)
            k = sol.x
            _, K, chol_free = _restricted_newton(Quu_reg, Q.qu, Qux_reg, sol.free)
            chol = jnp.linalg.cholesky(Quu_reg)
            step_ok = sol.ok & jnp.all(jnp.isfinite(chol_free))
        cov = cholesky_inverse(chol)
        # Improved value update (Tassa 2012 eq. 11): unregularized Q with the regularized gains.
        vx_new = Q.qx + K.T @ Quu @ k + K.T @ Q.qu + Qux.T @ k
        Vxx_new = symmetrize(Qxx + K.T @ Quu @ K + K.T @ Qux + Qux.T @ K)
        v0_new = Q.q0 + k @ Q.qu + 0.5 * k @ Quu @ k
        reduction = jnp.stack([k @ Q.qu, 0.5 * k @ Quu @ k])
        step_ok = step_ok & jnp.all(jnp.isfinite(Vxx_new)) & jnp.all(jnp.isfinite(vx_new))
        ok = ok & step_ok
        return (Vxx_new, vx_new, v0_new, ok), (K, k, cov, Vxx_new, vx_new, v0_new, reduction)

    if bounds is None:
        inf = jnp.full((T, m), jnp.inf, dtype)
        lows, highs = -inf, inf
    else:
        lows, highs = bounds
    free_set = jnp.ones((T, m), bool) if free is None else jnp.asarray(free, bool)
    init = (final.Cxx, final.cx, final.c0, jnp.array(True))
    xs = (jnp.arange(T), cost, dyn, warm_start, lows, highs, free_set)
    (_, _, _, ok), (K, k, cov, Vxx, vx, v0, reduction) = jax.lax.scan(step, init, xs, reverse=True)
    value = QuadraticValue(Vxx=jnp.concatenate([Vxx, final.Cxx[None]]),
                           vx=jnp.concatenate([vx, final.cx[None]]),
                           v0=jnp.concatenate([v0, final.c0[None]]))
    return RiccatiSolution(K=K, k=k, cov=cov, value=value,
                           expected_reduction=jnp.sum(reduction, axis=0), ok=ok)


def _restricted_newton(Quu, qu, Qux, free):
    """(k, K, Cholesky factor) of the Newton step restricted to the ``free`` controls: clamped
    rows of k and K are zero (the clamped controls stay put)."""
    f = free.astype(Quu.dtype)
    chol_free = jnp.linalg.cholesky(masked_hessian(Quu, free))
    k = -jax.scipy.linalg.cho_solve((chol_free, True), qu * f) * f
    K = -jax.scipy.linalg.cho_solve((chol_free, True), Qux) * f[:, None]
    return k, K, chol_free


@pytree_dataclass
class SoftSolution:
    """Output of ``soft_backward_pass``: the policy pi_t(u|x) ∝ exp(-Q_t/tau_t), the soft value
    V_t (t = 0..T), the temperatures ``temperature[T]`` actually used (raised by an entropy floor)
    and ``ok`` (False if some Q_uu was not positive definite)."""

    policy: LinearGaussianPolicy
    value: QuadraticValue
    temperature: jax.Array
    ok: jax.Array


def entropy_floor_temperature(log_det_Quu: jax.Array, m: int, delta: jax.Array) -> jax.Array:
    """tau_min: the smallest temperature whose policy N(., tau Quu^-1) has entropy >= -delta,
    i.e. 1/2 log|2 pi e tau Quu^-1| = -delta solved for tau (thesis eq. 5.1d, ESAPS)."""
    return jnp.exp((log_det_Quu - 2.0 * delta) / m) / (2 * jnp.pi * jnp.e)


def soft_backward_pass(cost: QuadraticCost, final: QuadraticFinalCost, dyn: LinearDynamics,
                       temperature: jax.Array, *,
                       entropy_floor: jax.Array | None = None) -> SoftSolution:
    """Maximum-entropy LQG backward pass (thesis eq. 3.7a / 3.4, Appendix A, in cost form).

    With Q_t(x, u) from ``q_function``:

        pi_t(u|x) = N(u | -Quu^-1 (qu + Qux x), tau_t Quu^-1)
        V_t(x)    = min_u Q_t(x, u) - tau_t/2 log|2 pi tau_t Quu^-1|

    Args:
        cost: running cost in the coordinates of ``dyn`` (absolute for ``linearize`` output).
        final: terminal cost.
        dyn: linear-Gaussian dynamics ``[T, ...]``.
        temperature: tau_t >= 0, scalar or ``[T]``; tau = 0 gives the deterministic LQR policy
            (covariance 0) and the hard value.
        entropy_floor: optional delta (scalar or ``[T]``): each tau_t is raised, right after Q_t
            is formed, to the smallest value with policy entropy >= -delta_t (ESAPS, thesis
            eq. 5.1d: tau_t = alpha_t + beta_t with beta_t = max(0, tau_min - alpha_t) in closed
            form, so the floor and its complementary slackness hold exactly).
    """
    T, n, m = dyn.B.shape
    dtype = dyn.A.dtype
    tau = jnp.broadcast_to(jnp.asarray(temperature, dtype), (T,))
    has_floor = entropy_floor is not None
    delta = jnp.broadcast_to(jnp.asarray(entropy_floor if has_floor else 0.0, dtype), (T,))

    def step(carry, inputs):
        Vxx, vx, v0, ok = carry
        cost_t, dyn_t, tau_t, delta_t = inputs
        Q = q_function(cost_t, dyn_t, Vxx, vx, v0)
        chol = jnp.linalg.cholesky(Q.Quu)
        k = -jax.scipy.linalg.cho_solve((chol, True), Q.qu)
        K = -jax.scipy.linalg.cho_solve((chol, True), Q.Qux)
        Quu_inv = cholesky_inverse(chol)
        log_det_Quu = cholesky_log_det(chol)
        if has_floor:
            tau_t = jnp.maximum(tau_t, entropy_floor_temperature(log_det_Quu, m, delta_t))
        safe_tau = jnp.where(tau_t > 0, tau_t, 1.0)
        entropy_term = jnp.where(
            tau_t > 0, 0.5 * tau_t * (m * jnp.log(2 * jnp.pi * safe_tau) - log_det_Quu), 0.0)
        Vxx_new = symmetrize(Q.Qxx + Q.Qux.T @ K)
        vx_new = Q.qx + Q.Qux.T @ k
        v0_new = Q.q0 + 0.5 * Q.qu @ k - entropy_term
        ok = ok & jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.isfinite(Vxx_new))
        return (Vxx_new, vx_new, v0_new, ok), (K, k, tau_t * Quu_inv, Vxx_new, vx_new, v0_new,
                                               tau_t)

    init = (final.Cxx, final.cx, final.c0, jnp.array(True))
    (_, _, _, ok), (K, k, cov, Vxx, vx, v0, used) = jax.lax.scan(
        step, init, (cost, dyn, tau, delta), reverse=True)
    value = QuadraticValue(Vxx=jnp.concatenate([Vxx, final.Cxx[None]]),
                           vx=jnp.concatenate([vx, final.cx[None]]),
                           v0=jnp.concatenate([v0, final.c0[None]]))
    return SoftSolution(policy=LinearGaussianPolicy(K=K, k=k, cov=cov), value=value,
                        temperature=used, ok=ok)
