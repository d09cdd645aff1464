"""Fisher metric and natural-gradient steps for DSO (§4.4, eqs. 72–74).

    F(θ) = E_{x~ρ, x'~P}[ ∇_θ ln P(x'|x, θ) ∇_θ ln P(x'|x, θ)ᵀ ]                 (eq. 72)

and, for a Gaussian bottleneck ``P̃(x'|x, η) = N(·; η, Σ)`` with ``η = μ(x, θ)`` (eq. 74),

    F(θ) = E_{x~ρ}[ ∇_θ μ(x, θ)ᵀ Σ⁻¹ ∇_θ μ(x, θ) ]     (Jacobian ``∇_θ μ`` as ``[k, p]``).

In the time-varying setting ρ is the (unnormalized) visitation density Σ_t P(x_t = x), so F sums
over the ``T`` transitions of a path and averages over rollouts. The natural gradient is
``F⁻¹ ∇J`` (eq. 69 with M = F), solved by Cholesky with a relative damping ``λ·mean(diag F)``.
θ is flattened with ``ravel_pytree``; matrices are ``[p, p]``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from lqgx.dso.gradient import estimate_with_paths
from lqgx.dso.problem import Problem
from lqgx.dso.rollout import Paths
from lqgx.dso.value import ValueModel


class NaturalGradient(NamedTuple):
    """Fields: ``direction`` = F⁻¹∇̃J and ``grad`` = ∇̃J, ``stderr`` (pytrees like θ);
    ``fisher[p, p]``; ``cost`` the batch estimate of J(θ)."""

    direction: Any
    grad: Any
    stderr: Any
    fisher: jax.Array
    cost: jax.Array


@partial(jax.jit, static_argnames=("problem", "use_bottleneck"))
def _fisher(problem: Problem, theta, paths: Paths, use_bottleneck: bool) -> jax.Array:
    flat, unravel = ravel_pytree(theta)
    steps = jnp.arange(problem.horizon)

    def step_factor(x, record, x_next, t):
        """``W[k, p]`` with ``F_t = Wᵀ W`` for one transition."""
        if use_bottleneck:
            def eta(f):
                return problem.bottleneck(unravel(f), x, record, t)[0]
            jac = jax.jacrev(eta)(flat)                 # [k, p]; k (action dim) << p
            chol = problem.bottleneck(theta, x, record, t)[1]
            return jax.scipy.linalg.solve_triangular(chol, jac, lower=True)
        score = jax.grad(lambda f: problem.log_prob(unravel(f), x, record, x_next, t))(flat)
        return score[None, :]                                           # [1, p]

    def body(total, inputs):
        x, record, x_next, t = inputs                     # leading axis: rollouts [N]
        factors = jax.vmap(step_factor, in_axes=(0, 0, 0, None))(x, record, x_next, t)  # [N, k, p]
        return total + jnp.einsum("nkp,nkq->pq", factors, factors), None

    def time_major(a):
        return jnp.swapaxes(a, 0, 1)

    zero = jnp.zeros((flat.shape[0], flat.shape[0]), flat.dtype)
    total, _ = jax.lax.scan(body, zero, (time_major(paths.states[:, :-1]),
                                         jax.tree_util.tree_map(time_major, paths.records),
                                         time_major(paths.states[:, 1:]), steps))
    return total / paths.states.shape[0]


def fisher(problem: Problem, theta, paths: Paths, *, form: str = "auto") -> jax.Array:
    """The DSO Fisher metric ``F(θ)`` ``[p, p]`` estimated on ``paths`` sampled at θ.

    Args:
        form: ``"bottleneck"`` (eq. 74, needs ``problem.bottleneck``), ``"score"`` (eq. 72) or
            ``"auto"`` (eq. 74 when available).
    """
    if form not in ("auto", "bottleneck", "score"):
        raise ValueError(f"form must be 'auto', 'bottleneck' or 'score', got {form!r}")
    if form == "bottleneck" and problem.bottleneck is None:
        raise ValueError("form='bottleneck' needs a problem with a Gaussian bottleneck "
                         "(from_policy provides one)")
    use_bottleneck = problem.bottleneck is not None and form != "score"
    return _fisher(problem, theta, paths, use_bottleneck)


def solve_metric(metric: jax.Array, vector: jax.Array, damping: float) -> jax.Array:
    """``(M + λ·mean(diag M)·I)⁻¹ v`` by Cholesky (``M`` symmetric PSD ``[p, p]``, ``v[p]``)."""
    scale = jnp.mean(jnp.diagonal(metric)) + jnp.finfo(metric.dtype).tiny
    damped = metric + damping * scale * jnp.eye(metric.shape[0], dtype=metric.dtype)
    factor = jax.scipy.linalg.cho_factor(damped, lower=True)
    return jax.scipy.linalg.cho_solve(factor, vector)


def natural_gradient(problem: Problem, theta, key: jax.Array, rollouts: int = 1000, *,
                     damping: float = 1e-3, baseline: bool | ValueModel = True,
                     form: str = "auto") -> NaturalGradient:
    """Natural gradient ``F(θ)⁻¹ ∇̃J(θ)``: Algorithm 1 and the Fisher metric on the same batch.

    Args:
        damping: relative Tikhonov damping λ (> 0) of the metric.
        baseline, form: see ``gradient`` and ``fisher``.
    """
    if not damping > 0:
        raise ValueError(f"damping must be > 0, got {damping!r}")
    result, paths = estimate_with_paths(problem, theta, key, rollouts, baseline=baseline)
    metric = fisher(problem, theta, paths, form=form)
    flat_grad, unravel = ravel_pytree(result.grad)
    direction = unravel(solve_metric(metric, flat_grad, damping))
    return NaturalGradient(direction=direction, grad=result.grad, stderr=result.stderr,
                           fisher=metric, cost=result.cost)
