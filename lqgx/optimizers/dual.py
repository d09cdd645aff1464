"""Per-time-step Lagrange multipliers by safeguarded Newton/bisection in log-space.

The GPS-family duals (thesis eq. 3.8, 4.6, 5.5) are convex in each multiplier alpha_t and their
derivative in alpha_t is (bound - constraint value) (eq. 3.6c, 4.4c, 5.4c). Holding the other
blocks of the dual fixed (the coordinate-descent view of Alg. 1 and Alg. 4), every time step gives
an independent scalar problem

    find alpha_t in [alpha_min, alpha_max] with   c_t(alpha_t) = bound_t            (active), or
    alpha_t = alpha_min                      if   c_t(alpha_min) <= bound_t          (inactive),

where c_t (a KL divergence) decreases as alpha_t grows. The thesis used plain gradient steps; here
all T scalar problems are solved at once inside one ``lax.while_loop``: Newton steps on
r_t(eta) = log c_t(e^eta) - log bound_t in eta = log alpha (nearly linear in eta for both small
and large alpha), kept inside a per-step bracket [lo_t, hi_t] that every evaluation shrinks, with
bisection whenever Newton leaves the bracket or an evaluation is not finite. The slope comes from
one forward-mode derivative (``jax.jvp`` with an all-ones tangent, exact because the problems are
decoupled). A step is done when |c_t - bound_t| <= rtol * bound_t (to first order |r_t| <= rtol),
when it is inactive at alpha_min, or when its bracket is narrower than ``xtol``.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from lqgx._pytree import pytree_dataclass, static_field


@pytree_dataclass
class DualOptions:
    """Settings of ``solve_log_multipliers`` (static).

    alpha_min/alpha_max: the search interval (alpha_min stands for "zero", an inactive bound);
    rtol: relative tolerance on the constraint value; xtol: bracket width in log(alpha) below which
    a step stops; max_iter: evaluations of the constraint (all steps at once).
    """

    alpha_min: float = static_field(default=1e-8)
    alpha_max: float = static_field(default=1e10)
    rtol: float = static_field(default=1e-6)
    xtol: float = static_field(default=1e-10)
    max_iter: int = static_field(default=60)


@pytree_dataclass
class MultiplierSolution:
    """``log_alpha[T]``, constraint ``value[T]`` there, per-step ``converged[T]``, ``iterations``."""

    log_alpha: jax.Array
    value: jax.Array
    converged: jax.Array
    iterations: jax.Array


def solve_log_multipliers(constraint: Callable[[jax.Array], jax.Array], bound: jax.Array,
                          log_init: jax.Array, options: DualOptions = DualOptions()
                          ) -> MultiplierSolution:
    """Solve the decoupled per-step problems of the module docstring.

    Args:
        constraint: ``eta[T] -> c[T]`` with c_t depending on eta_t = log alpha_t only,
            non-increasing in eta_t; NaN/inf marks an invalid alpha (treated as "alpha too small").
        bound: ``[T]`` (or scalar) right-hand sides > 0.
        log_init: ``[T]`` starting log alpha (warm start), clipped into the interval.

    Returns:
        ``MultiplierSolution``.
    """
    dtype = log_init.dtype
    log_min = jnp.asarray(jnp.log(options.alpha_min), dtype)
    log_max = jnp.asarray(jnp.log(options.alpha_max), dtype)
    bound = jnp.broadcast_to(jnp.asarray(bound, dtype), log_init.shape)
    log_bound = jnp.log(bound)
    tol = jnp.asarray(options.rtol, dtype)

    def residual(eta):
        c = constraint(eta)
        return jnp.log(jnp.maximum(c, 0.0)) - log_bound, c

    def evaluate(eta):
        (r, c), (dr, _) = jax.jvp(residual, (eta,), (jnp.ones_like(eta),))
        return r, dr, c

    def body(state):
        eta, lo, hi, _, done, it = state
        r, dr, c = evaluate(eta)
        valid = ~jnp.isnan(r)
        violated = (~valid) | (r > tol)
        slack = valid & (r < -tol)
        lo = jnp.where(done, lo, jnp.where(violated, eta, lo))
        hi = jnp.where(done, hi, jnp.where(slack, eta, hi))
        at_min = eta <= log_min + 1e-12
        finished = (done | (valid & (jnp.abs(r) <= tol)) | (slack & at_min)
                    | (hi - lo < options.xtol))
        newton = eta - r / dr
        newton_ok = jnp.isfinite(newton) & (dr < 0) & (newton > lo) & (newton < hi) & valid
        below = jnp.isfinite(newton) & (newton <= lo)
        # While the lower end is still alpha_min, try it directly: an inactive bound ends there.
        try_min = slack & (lo <= log_min) & (below | ~jnp.isfinite(r))
        bisect = 0.5 * (lo + hi)
        proposal = jnp.where(newton_ok, newton, jnp.where(try_min, log_min, bisect))
        eta = jnp.where(finished, eta, proposal)
        return eta, lo, hi, jnp.where(done, state[3], c), finished, it + 1

    def cond(state):
        return (~jnp.all(state[4])) & (state[5] < options.max_iter)

    eta0 = jnp.clip(log_init, log_min, log_max)
    init = (eta0, jnp.full_like(eta0, log_min), jnp.full_like(eta0, log_max),
            jnp.full_like(eta0, jnp.nan), jnp.zeros(eta0.shape, bool), jnp.array(0))
    eta, lo, hi, value, done, it = jax.lax.while_loop(cond, body, init)
    return MultiplierSolution(log_alpha=eta, value=value, converged=done, iterations=it)
