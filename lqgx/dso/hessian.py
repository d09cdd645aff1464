"""Unbiased Hessian of J in the time-varying setting (Lemma 3, eq. 80).

For a path ``X = (x_0, ..., x_T)`` with cost ``𝓛(X, θ) = Σ_t L_t(x_t, θ)`` and log-probability
``𝓚(X, θ) = ln P_0(x_0) + Σ_{t<T} ln P_t(x_{t+1}|x_t, θ)`` (eq. 79),

    ∇²J = E[ (∇𝓚 ∇𝓚ᵀ + ∇²𝓚)(𝓛 - b) + ∇𝓚 ∇𝓛ᵀ + ∇𝓛 ∇𝓚ᵀ + ∇²𝓛 ]            (eq. 80)

The paper prints the last term as ``𝓚 ∇²𝓛``; differentiating ``∫ 𝓟 (∇𝓚 𝓛 + ∇𝓛) dX`` gives
``∇²𝓛`` (the proof's own steps), which is what is implemented. ``b`` is an optional constant
baseline: ``E[∇𝓚 ∇𝓚ᵀ + ∇²𝓚] = ∇² ∫ 𝓟 dX = 0``, so subtracting a constant fitted on independent
rollouts leaves the estimate unbiased and reduces its variance.

θ is flattened with ``jax.flatten_util.ravel_pytree``; the Hessian is ``[p, p]`` in that order.
Variance: eq. 80 verbatim multiplies the whole-path score by the whole-path cost and is very noisy
(the paper warns so). ``causal=True`` (default) applies the lemma to each cost term ``L_t`` over the
prefix path, ``∇²J = Σ_t E[(∇𝓚_t∇𝓚_tᵀ + ∇²𝓚_t)(L_t - b_t) + ∇𝓚_t∇L_tᵀ + ∇L_t∇𝓚_tᵀ + ∇²L_t]``
with ``𝓚_t = Σ_{s<t} ln P_s`` — the same identity (later scores have zero mean given the prefix).

Cost: per rollout two dense ``[p, p]`` Hessians, so meant for small ``p`` (tests, a few physical
parameters), not for neural-network policies.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from lqgx.dso.problem import Problem, check_theta
from lqgx.dso.rollout import Paths, batch_costs, check_rollouts, sample_paths


class HessianEstimate(NamedTuple):
    """Fields: ``hessian[p, p]`` and its elementwise ``stderr[p, p]`` over rollouts (θ flattened by
    ``ravel_pytree``); ``unravel``: ``[p] -> θ`` pytree; ``baseline``: the constant(s) ``b`` used
    (``[T+1]`` per-step means when causal, a scalar otherwise)."""

    hessian: jax.Array
    stderr: jax.Array
    unravel: Callable
    baseline: jax.Array


@partial(jax.jit, static_argnames=("problem", "causal"))
def _per_rollout_hessians(problem: Problem, theta, paths: Paths, b, causal: bool) -> jax.Array:
    """``[N, p, p]``: the eq.-80 summand of every path (``causal``: the per-cost-term form)."""
    flat_theta, unravel = ravel_pytree(theta)
    steps = jnp.arange(problem.horizon)

    def one(states, records):
        def log_prob(f, x, z, x_next, t):
            return problem.log_prob(unravel(f), x, z, x_next, t)

        def running(f, x, z, t):
            return problem.cost(unravel(f), x, z, t)

        def final(f, x):
            return problem.final_cost(unravel(f), x) + problem.total_parameter_cost(unravel(f))

        xs, xn = states[:-1], states[1:]
        g_log = jax.vmap(jax.grad(log_prob), (None, 0, 0, 0, 0))(flat_theta, xs, records, xn, steps)
        h_log = jax.vmap(jax.hessian(log_prob), (None, 0, 0, 0, 0))(flat_theta, xs, records, xn,
                                                                     steps)
        cost = jnp.concatenate([jax.vmap(running, (None, 0, 0, 0))(flat_theta, xs, records, steps),
                                final(flat_theta, states[-1])[None]])              # [T+1]
        g_cost = jnp.concatenate([
            jax.vmap(jax.grad(running), (None, 0, 0, 0))(flat_theta, xs, records, steps),
            jax.grad(final)(flat_theta, states[-1])[None]])                          # [T+1, p]
        h_cost = jnp.concatenate([
            jax.vmap(jax.hessian(running), (None, 0, 0, 0))(flat_theta, xs, records, steps),
            jax.hessian(final)(flat_theta, states[-1])[None]])                       # [T+1, p, p]
        if not causal:           # eq. 80 literally: whole-path 𝓚 and 𝓛
            gk, hk = jnp.sum(g_log, 0), jnp.sum(h_log, 0)
            gl, hl, total = jnp.sum(g_cost, 0), jnp.sum(h_cost, 0), jnp.sum(cost)
            return ((jnp.outer(gk, gk) + hk) * (total - b)
                    + jnp.outer(gk, gl) + jnp.outer(gl, gk) + hl)
        # eq. 80 applied to each cost term L_t with the prefix path (x_0..x_t): 𝓚_t = Σ_{s<t}
        zero_g = jnp.zeros_like(g_log[:1])
        zero_h = jnp.zeros_like(h_log[:1])
        gk = jnp.cumsum(jnp.concatenate([zero_g, g_log]), 0)                  # [T+1, p]
        hk = jnp.cumsum(jnp.concatenate([zero_h, h_log]), 0)                  # [T+1, p, p]
        outer = jnp.einsum("tp,tq->tpq", gk, gk)
        cross = jnp.einsum("tp,tq->tpq", gk, g_cost)
        per_t = ((outer + hk) * (cost - b)[:, None, None] + cross
                 + jnp.swapaxes(cross, 1, 2) + h_cost)
        return jnp.sum(per_t, 0)

    return jax.vmap(one)(paths.states, paths.records)


def hessian(problem: Problem, theta, key: jax.Array, rollouts: int = 1000, *,
            baseline: bool = True, baseline_rollouts: int | None = None,
            causal: bool = True) -> HessianEstimate:
    """Estimate ∇²J(θ) by Lemma 3 (eq. 80) from ``rollouts`` fresh paths.

    Args:
        problem: the DSO problem; its ``cost`` samples must be conditionally independent of
            ``x_{t+1}`` given ``x_t`` (true for ``from_policy``).
        theta: parameters (pytree), flattened with ``ravel_pytree``.
        key: PRNG key (same key, same estimate).
        rollouts: number of paths ``N >= 2``.
        baseline: subtract a baseline estimated on an independent pilot batch of
            ``baseline_rollouts`` (default ``max(N // 4, 32)``) paths: the mean path cost
            (``causal=False``) or the mean of each ``L_t`` (``causal=True``).
        causal: apply Lemma 3 to each cost term ``L_t`` with the path prefix ``(x_0..x_t)``
            (``𝓚_t = Σ_{s<t} ln P_s``) and sum over t — still unbiased (later transitions have
            zero-mean scores given the prefix) and much lower variance; False is eq. 80 verbatim.

    Returns:
        ``HessianEstimate`` with ``hessian[p, p]``, ``stderr[p, p]``.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be an lqgx.dso.Problem, got {type(problem).__name__}")
    check_theta(theta)
    rollouts = check_rollouts(rollouts)
    flat, unravel = ravel_pytree(theta)
    key_pilot, key_batch = jax.random.split(key)
    if baseline:
        pilot = check_rollouts(baseline_rollouts if baseline_rollouts is not None
                               else max(rollouts // 4, 32), "baseline_rollouts")
        pilot_paths = sample_paths(problem, theta, key_pilot, pilot)
        step_means = jnp.mean(batch_costs(problem, theta, pilot_paths), axis=0)     # [T+1]
        step_means = step_means.at[-1].add(problem.total_parameter_cost(theta))
        b = step_means if causal else jnp.sum(step_means)
    else:
        b = jnp.zeros((problem.horizon + 1,) if causal else (), flat.dtype)
    paths = sample_paths(problem, theta, key_batch, rollouts)
    per = _per_rollout_hessians(problem, theta, paths, b, causal)
    return HessianEstimate(hessian=jnp.mean(per, axis=0),
                           stderr=jnp.std(per, axis=0, ddof=1) / jnp.sqrt(rollouts),
                           unravel=unravel, baseline=b)
