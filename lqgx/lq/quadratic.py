"""Quadratic algebra shared by every backward pass.

The state-action value of one step under linear-Gaussian dynamics and a quadratic next value,

    Q_t(x, u) = cost_t(x, u) + E[V_{t+1}(A_t x + B_t u + c_t + w)],   w ~ N(0, cov_t),

is quadratic; ``q_function`` returns its coefficients (thesis §2.1.1, the Q_s, Q_a, Q_ss, Q_aa,
Q_as expressions, without the second-order dynamics terms that DDP adds). Everything is per time
step; callers ``lax.scan`` over t.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx._pytree import pytree_dataclass
from lqgx.lq.types import (
    GaussianTrajectory,
    LinearDynamics,
    LinearGaussianPolicy,
    QuadraticCost,
    QuadraticFinalCost,
    cholesky,
    cholesky_inverse,
    cholesky_log_det,
    symmetrize,
)


@pytree_dataclass
class QFunction:
    """Q(x, u) = 1/2 [x;u]^T [[Qxx, Qux^T],[Qux, Quu]] [x;u] + qx^T x + qu^T u + q0 at one step."""

    Qxx: jax.Array
    Quu: jax.Array
    Qux: jax.Array
    qx: jax.Array
    qu: jax.Array
    q0: jax.Array


def q_function(cost_t: QuadraticCost, dyn_t: LinearDynamics, Vxx_next: jax.Array,
               vx_next: jax.Array, v0_next: jax.Array) -> QFunction:
    """Coefficients of Q_t for one step (unbatched ``cost_t``/``dyn_t`` slices)."""
    A, B, c = dyn_t.A, dyn_t.B, dyn_t.c
    Vc = Vxx_next @ c + vx_next  # gradient of V_{t+1} at the offset c
    VA = Vxx_next @ A
    VB = Vxx_next @ B
    return QFunction(
        Qxx=symmetrize(cost_t.Cxx + A.T @ VA),
        Quu=symmetrize(cost_t.Cuu + B.T @ VB),
        Qux=cost_t.Cux + B.T @ VA,
        qx=cost_t.cx + A.T @ Vc,
        qu=cost_t.cu + B.T @ Vc,
        q0=(cost_t.c0 + v0_next + vx_next @ c + 0.5 * c @ Vxx_next @ c
            + 0.5 * jnp.sum(Vxx_next * dyn_t.cov)),
    )


def negative_log_policy(policy: LinearGaussianPolicy) -> QuadraticCost:
    """-log q_t(u|x) as a ``QuadraticCost`` (the policy-dependent term of thesis eq. 3.9-3.11).

    -log N(u | K x + k, S) = 1/2 (u - K x - k)^T S^-1 (u - K x - k) + 1/2 log|2 pi S|.
    """
    m = policy.k.shape[-1]
    chol = cholesky(policy.cov)
    precision = cholesky_inverse(chol)
    PK = precision @ policy.K
    Pk = jnp.einsum("tij,tj->ti", precision, policy.k)
    log_det = cholesky_log_det(chol)
    return QuadraticCost(
        Cxx=symmetrize(jnp.swapaxes(policy.K, -1, -2) @ PK),
        Cuu=precision,
        Cux=-PK,
        cx=jnp.einsum("tmn,tm->tn", policy.K, Pk),
        cu=-Pk,
        c0=0.5 * jnp.einsum("tm,tm->t", policy.k, Pk) + 0.5 * (m * jnp.log(2 * jnp.pi) + log_det),
    )


def weighted_sum(terms: list[QuadraticCost], weights: list[jax.Array]) -> QuadraticCost:
    """sum_i weights[i][t] * terms[i] (weights are scalars or ``[T]`` arrays)."""

    def combine(*leaves):
        total = 0.0
        for leaf, weight in zip(leaves, weights):
            weight = jnp.asarray(weight)
            weight = weight.reshape(weight.shape + (1,) * (leaf.ndim - weight.ndim))
            total = total + weight * leaf
        return total

    return jax.tree_util.tree_map(combine, *terms)


def expected_cost(cost: QuadraticCost, final: QuadraticFinalCost,
                  traj: GaussianTrajectory) -> jax.Array:
    """E[sum_t cost_t(x_t, u_t) + final(x_T)] under a Gaussian trajectory, in closed form.

    E[1/2 z^T C z + c^T z] = 1/2 mu^T C mu + c^T mu + 1/2 tr(C Sigma) for z = [x; u].
    Returns the per-step expected costs ``[T+1]`` (the last entry is the final cost).
    """
    mx, mu = traj.mean[:-1], traj.action_mean
    Sxx, Suu, Sux = traj.cov[:-1], traj.action_cov, traj.cross_cov
    quad = (0.5 * jnp.einsum("ti,tij,tj->t", mx, cost.Cxx, mx)
            + 0.5 * jnp.einsum("ti,tij,tj->t", mu, cost.Cuu, mu)
            + jnp.einsum("ti,tij,tj->t", mu, cost.Cux, mx))
    trace = (0.5 * jnp.sum(cost.Cxx * Sxx, axis=(-1, -2)) + 0.5 * jnp.sum(cost.Cuu * Suu, axis=(-1, -2))
             + jnp.sum(cost.Cux * Sux, axis=(-1, -2)))
    linear = jnp.einsum("ti,ti->t", cost.cx, mx) + jnp.einsum("ti,ti->t", cost.cu, mu)
    running = quad + trace + linear + cost.c0
    xT, ST = traj.mean[-1], traj.cov[-1]
    terminal = 0.5 * xT @ final.Cxx @ xT + 0.5 * jnp.sum(final.Cxx * ST) + final.cx @ xT + final.c0
    return jnp.concatenate([running, terminal[None]])


def shift_cost(cost: QuadraticCost, x_ref: jax.Array, u_ref: jax.Array) -> QuadraticCost:
    """Re-express a cost in deviations (dx, du) as a cost in absolute (x, u).

    ``cost`` is an expansion in dx = x - x_ref[t], du = u - u_ref[t]; the result takes absolute
    coordinates (the form GPS-family passes use on ``linearize``'s absolute dynamics).
    """
    Cxx, Cuu, Cux = cost.Cxx, cost.Cuu, cost.Cux
    Cx_ref = jnp.einsum("tij,tj->ti", Cxx, x_ref)
    Cu_ref = jnp.einsum("tij,tj->ti", Cuu, u_ref)
    Cux_x = jnp.einsum("tij,tj->ti", Cux, x_ref)
    Cxu_u = jnp.einsum("tji,tj->ti", Cux, u_ref)
    cx = cost.cx - Cx_ref - Cxu_u
    cu = cost.cu - Cu_ref - Cux_x
    c0 = (cost.c0 - jnp.einsum("ti,ti->t", cost.cx, x_ref) - jnp.einsum("ti,ti->t", cost.cu, u_ref)
          + 0.5 * jnp.einsum("ti,ti->t", x_ref, Cx_ref) + 0.5 * jnp.einsum("ti,ti->t", u_ref, Cu_ref)
          + jnp.einsum("ti,ti->t", u_ref, Cux_x))
    return QuadraticCost(Cxx=Cxx, Cuu=Cuu, Cux=Cux, cx=cx, cu=cu, c0=c0)


def shift_final_cost(final: QuadraticFinalCost, x_ref: jax.Array) -> QuadraticFinalCost:
    """``shift_cost`` for the terminal term expanded at ``x_ref[n]``."""
    Cx_ref = final.Cxx @ x_ref
    return QuadraticFinalCost(Cxx=final.Cxx, cx=final.cx - Cx_ref,
                              c0=final.c0 - final.cx @ x_ref + 0.5 * x_ref @ Cx_ref)
