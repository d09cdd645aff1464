"""Projected-Newton box-constrained QP (Tassa, Mansard & Todorov 2014, "Control-limited DDP", §III).

    minimize 1/2 x^T H x + g^T x   subject to   lower <= x <= upper.

Each iteration: split the coordinates into *clamped* (at a bound with the gradient pushing
outward) and *free*; take a Newton step on the free subspace (Cholesky of H_ff); project onto the
box with an Armijo backtracking search. Terminates on a small free gradient, a small relative
improvement, all-clamped, or the iteration cap. Pure JAX (``lax.while_loop``), jit- and vmap-able.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx._pytree import pytree_dataclass, static_field


@pytree_dataclass
class BoxQPOptions:
    """Tolerances of ``box_qp`` (defaults follow Tassa et al. 2014)."""

    max_iterations: int = static_field(default=100)
    min_gradient: float = static_field(default=1e-8)
    min_relative_improvement: float = static_field(default=1e-8)
    step_decrease: float = static_field(default=0.6)
    min_step: float = static_field(default=1e-22)
    armijo: float = static_field(default=0.1)


@pytree_dataclass
class BoxQPSolution:
    """``x[m]`` the minimizer; ``free[m]`` True where x is not clamped; ``ok`` False if H_ff was
    not positive definite (the caller then raises its regularization)."""

    x: jax.Array
    free: jax.Array
    ok: jax.Array


def masked_hessian(H: jax.Array, free: jax.Array) -> jax.Array:
    """H restricted to the free set, with identity on the clamped coordinates (block-diagonal), so
    a fixed-shape Cholesky factors H_ff and leaves clamped rows decoupled."""
    f = free.astype(H.dtype)
    return H * f[:, None] * f[None, :] + jnp.diag(1.0 - f)


def box_qp(H: jax.Array, g: jax.Array, lower: jax.Array, upper: jax.Array, x0: jax.Array,
           options: BoxQPOptions = BoxQPOptions()) -> BoxQPSolution:
    """Solve the box QP from the warm start ``x0`` (clamped into the box first)."""
    dtype = H.dtype
    value = lambda x: 0.5 * x @ H @ x + g @ x  # noqa: E731

    def clamped_set(x, grad):
        return ((x <= lower) & (grad > 0)) | ((x >= upper) & (grad < 0))

    def body(state):
        x, _, _, iteration, _ = state
        grad = g + H @ x
        free = ~clamped_set(x, grad)
        chol = jnp.linalg.cholesky(masked_hessian(H, free))
        factor_ok = jnp.all(jnp.isfinite(chol))
        free_f = free.astype(dtype)
        grad_norm = jnp.linalg.norm(grad * free_f)
        # Newton step on the free set, holding the clamped coordinates fixed.
        grad_clamped = g + H @ (x * (1.0 - free_f))
        newton = -jax.scipy.linalg.cho_solve((chol, True), grad_clamped * free_f)
        direction = (newton - x) * free_f
        slope = direction @ grad
        old = value(x)

        def armijo_failed(ls):
            step, candidate = ls
            decrease = (value(candidate) - old) / (step * slope)
            return (decrease < options.armijo) & (step >= options.min_step)

        def shrink(ls):
            step, _ = ls
            step = step * options.step_decrease
            return step, jnp.clip(x + step * direction, lower, upper)

        step, candidate = jax.lax.while_loop(
            armijo_failed, shrink, (jnp.ones((), dtype), jnp.clip(x + direction, lower, upper)))
        improvement = old - value(candidate)
        done = ((~factor_ok) | jnp.all(~free) | (grad_norm < options.min_gradient)
                | (slope >= 0) | (step < options.min_step))
        x_new = jnp.where(done, x, candidate)
        done = done | (improvement < options.min_relative_improvement * jnp.abs(old))
        return x_new, free, factor_ok, iteration + 1, done

    def cond(state):
        _, _, _, iteration, done = state
        return (~done) & (iteration < options.max_iterations)

    x_start = jnp.clip(x0, lower, upper)
    init = (x_start, jnp.ones_like(x0, dtype=bool), jnp.array(True), jnp.array(0),
            jnp.array(False))
    x, _, factor_ok, _, _ = jax.lax.while_loop(cond, body, init)
    free = ~clamped_set(x, g + H @ x)
    ok = factor_ok & jnp.all(jnp.isfinite(jnp.linalg.cholesky(masked_hessian(H, free))))
    return BoxQPSolution(x=x, free=free, ok=ok)
