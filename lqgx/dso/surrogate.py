"""The sampled surrogate objective S̃(θ, α) of §4.2–4.3 (eqs. 64–67).

With ``N`` paths sampled at θ, the shortcut notation of eq. 65 (γ = 1, time-varying setting)

    L̂_t^n(θ, α)     = L_t(x_t^n, θ + α),
    P̂_{t,t+1}^n(θ, α) = P_t(x_{t+1}^n | x_t^n, θ + α) / P_t(x_{t+1}^n | x_t^n, θ),
    R̂_{t,t+1}^n(θ)   = R_{t+1}^n - V̂_{t+1}(f(x_t^n, θ)),

gives the surrogate (eq. 66)

    S̃(θ, α) = 1/N Σ_n [ Σ_{t<=T} L̂_t^n(θ, α) + Σ_{t<T} P̂_{t,t+1}^n(θ, α) R̂_{t,t+1}^n(θ) ]
              + L_θ(θ + α),

whose α-gradient at α = 0 is the Algorithm-1 estimate on the same samples (eq. 67). α perturbs only
``P`` and ``L``; the samples, returns and baseline stay those of θ.

Proximal Chain Optimization (PCO, §4.3): with ``clip = c`` the ratio term is replaced by the
pessimistic (for a cost being minimized) PPO-style term ``max(P̂ R̂, clip(P̂, 1-c, 1+c) R̂)``, so a
step gains nothing from moving a ratio beyond ``[1-c, 1+c]``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lqgx.dso.gradient import baseline_values
from lqgx.dso.problem import Problem
from lqgx.dso.rollout import Path, Paths, batch_costs, costs_to_go, step_costs, step_log_probs
from lqgx.dso.value import ValueModel

tree_map = jax.tree_util.tree_map


class SurrogateBatch(NamedTuple):
    """The constants of S̃(θ, ·) from one batch sampled at θ.

    Fields: ``paths``; ``log_probs[N, T]`` ``ln P_t(x_{t+1}|x_t, θ)``; ``advantages[N, T]``
    ``R̂_{t,t+1}^n(θ)``; ``returns[N, T+1]`` the costs to go ``R_t``.
    """

    paths: Paths
    log_probs: jax.Array
    advantages: jax.Array
    returns: jax.Array


@partial(jax.jit, static_argnames=("problem",))
def surrogate_batch(problem: Problem, theta, paths: Paths,
                    value: ValueModel | None) -> SurrogateBatch:
    """Evaluate the θ-constants of eq. 65 on ``paths`` (sampled at ``theta``)."""
    theta = jax.lax.stop_gradient(theta)
    returns = costs_to_go(batch_costs(problem, theta, paths))
    if value is None:
        base = jnp.zeros(returns[:, 1:].shape, returns.dtype)
    else:
        base = baseline_values(problem, theta, paths, value)
    log_probs = jax.vmap(lambda s, r: step_log_probs(problem, theta, Path(s, r)))(
        paths.states, paths.records)
    return SurrogateBatch(paths=paths, log_probs=log_probs, advantages=returns[:, 1:] - base,
                          returns=returns)


def surrogate(problem: Problem, theta, alpha, batch: SurrogateBatch,
              clip: float | None = None) -> jax.Array:
    """S̃(θ, α) of eq. 66 (scalar); differentiable in ``alpha`` (a pytree like ``theta``).

    Args:
        problem: the DSO problem.
        theta: the parameters the batch was sampled at.
        alpha: perturbation α, same pytree structure as ``theta``.
        batch: ``surrogate_batch(problem, theta, paths, value)``.
        clip: PCO clip ``c`` in (0, 1), or None for the plain surrogate.
    """
    shifted = tree_map(lambda a, b: a + b, theta, alpha)

    def per_path(states, records, old_log_probs, advantages):
        path = Path(states, records)
        costs = step_costs(problem, shifted, path)                   # L̂_t^n(θ, α), [T+1]
        ratios = jnp.exp(step_log_probs(problem, shifted, path) - old_log_probs)   # P̂, [T]
        terms = ratios * advantages
        if clip is not None:
            clipped = jnp.clip(ratios, 1.0 - clip, 1.0 + clip) * advantages
            terms = jnp.maximum(terms, clipped)
        return jnp.sum(costs) + jnp.sum(terms)

    totals = jax.vmap(per_path)(batch.paths.states, batch.paths.records, batch.log_probs,
                                batch.advantages)
    return jnp.mean(totals) + problem.total_parameter_cost(shifted)


@partial(jax.jit, static_argnames=("problem",))
def surrogate_gradient(problem: Problem, theta, batch: SurrogateBatch) -> Any:
    """``∇_α S̃(θ, α)|_{α=0}`` (eqs. 67–68), a pytree like ``theta``."""
    zeros = tree_map(jnp.zeros_like, theta)
    return jax.grad(lambda a: surrogate(problem, theta, a, batch))(zeros)
