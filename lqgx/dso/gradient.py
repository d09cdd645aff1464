"""DSO gradient estimation: Algorithm 1 with the state-space baseline of §4.1 (eqs. 57–59).

Theorem 3 (time-varying setting):

    ∇J(θ) = E[ Σ_{t<=T} ∇_θ L_t(x_t, θ) + Σ_{t<T} ∇_θ ln P_t(x_{t+1}|x_t, θ) V_{t+1}(x_{t+1}, θ) ],

and, with the baseline of eq. 57 (``f`` a deterministic model, V̂ fitted on other rollouts), each
rollout contributes (Algorithm 1, γ = 1, run backwards from ``G_T = ∇L_T``)

    G_t = G_{t+1} + ∇_θ L_t(x_t, θ) + ∇_θ ln P_t(x_{t+1}|x_t, θ) (R_{t+1} - V̂_{t+1}(f(x_t, θ))),
    R_t = R_{t+1} + L_t(x_t, θ),

and ∇̃J = mean_n G_0^n (+ ∇L_θ for a state-independent cost). The standard error is the sample
standard deviation of the per-rollout ``G_0^n`` over √N.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lqgx.dso.problem import Problem, check_theta
from lqgx.dso.rollout import (Path, Paths, batch_costs, check_rollouts, costs_to_go,
                              sample_paths, step_costs)
from lqgx.dso.value import ValueModel, fit_value

tree_map = jax.tree_util.tree_map


class GradientEstimate(NamedTuple):
    """``∇̃J`` and its standard error, both pytrees shaped like θ (unpacks as ``grad, stderr``)."""

    grad: Any
    stderr: Any


class BatchEstimate(NamedTuple):
    """Everything Algorithm 1 computes from one batch.

    Fields: ``grad``/``stderr`` pytrees like θ; ``per_rollout`` pytree with a leading ``[N]`` axis
    (the ``G_0^n``); ``cost``/``cost_stderr`` the sample estimate of ``J(θ)`` (scalars);
    ``returns[N, T+1]`` the costs to go ``R_t``; ``baseline[N, T]`` the values
    ``V̂_{t+1}(f(x_t, θ))`` that were subtracted.
    """

    grad: Any
    stderr: Any
    per_rollout: Any
    cost: jax.Array
    cost_stderr: jax.Array
    returns: jax.Array
    baseline: jax.Array


def baseline_values(problem: Problem, theta, paths: Paths, value: ValueModel) -> jax.Array:
    """``[N, T]``: ``V̂_{t+1}(f(x_t, θ))``, the baseline of eq. 59 (θ treated as a constant)."""
    theta = jax.lax.stop_gradient(theta)
    steps = jnp.arange(problem.horizon)

    def per_path(states):
        predicted = jax.vmap(problem.mean_transition, in_axes=(None, 0, 0))(
            theta, states[:-1], steps)
        return jax.vmap(value)(predicted, steps + 1)

    return jax.vmap(per_path)(paths.states)


def rollout_gradient(problem: Problem, theta, path: Path, baseline: jax.Array) -> Any:
    """``G_0`` of one rollout by the backward recursion of Algorithm 1 (θ-gradients of one step at
    a time; memory O(|θ|)). ``baseline[T]`` holds ``V̂_{t+1}(f(x_t, θ))``. Excludes ``∇L_θ``."""
    costs = jax.lax.stop_gradient(step_costs(problem, theta, path))
    returns = costs_to_go(costs)                        # R_t, [T+1]
    advantage = returns[1:] - baseline                  # R_{t+1} - V̂_{t+1}(f(x_t)), [T]
    grad_cost = jax.grad(problem.cost)
    grad_log_prob = jax.grad(problem.log_prob)
    g_final = jax.grad(problem.final_cost)(theta, path.states[-1])   # G_T = ∇L_T

    def backward(g_next, inputs):
        t, x, record, x_next, adv = inputs
        g_cost = grad_cost(theta, x, record, t)
        g_score = grad_log_prob(theta, x, record, x_next, t)
        g_t = tree_map(lambda g, gl, gp: g + gl + gp * adv, g_next, g_cost, g_score)
        return g_t, None

    steps = jnp.arange(problem.horizon)
    g0, _ = jax.lax.scan(backward, g_final,
                         (steps, path.states[:-1], path.records, path.states[1:], advantage),
                         reverse=True)
    return g0


@partial(jax.jit, static_argnames=("problem",))
def algorithm1(problem: Problem, theta, paths: Paths, value: ValueModel | None) -> BatchEstimate:
    """Algorithm 1 on a given batch of paths sampled at ``theta``.

    Args:
        problem: the DSO problem.
        theta: parameters (pytree) at which ``paths`` were sampled.
        paths: ``Paths`` with ``states[N, T+1, n]``.
        value: V̂ fitted on *other* rollouts, or None for no baseline.

    Returns:
        ``BatchEstimate``.
    """
    n_paths = paths.states.shape[0]
    if value is None:
        base = jnp.zeros((n_paths, problem.horizon), paths.states.dtype)
    else:
        base = baseline_values(problem, theta, paths, value)
    per_rollout = jax.vmap(lambda s, r, b: rollout_gradient(problem, theta, Path(s, r), b))(
        paths.states, paths.records, base)
    g_param = jax.grad(problem.total_parameter_cost)(theta)
    per_rollout = tree_map(lambda g, gp: g + gp, per_rollout, g_param)
    grad = tree_map(lambda g: jnp.mean(g, axis=0), per_rollout)
    stderr = tree_map(lambda g: jnp.std(g, axis=0, ddof=1) / jnp.sqrt(n_paths), per_rollout)
    returns = costs_to_go(batch_costs(problem, theta, paths))
    totals = returns[:, 0] + problem.total_parameter_cost(theta)
    return BatchEstimate(grad=grad, stderr=stderr, per_rollout=per_rollout,
                         cost=jnp.mean(totals),
                         cost_stderr=jnp.std(totals, ddof=1) / jnp.sqrt(n_paths),
                         returns=returns, baseline=base)


def fit_value_on(problem: Problem, theta, key: jax.Array, rollouts: int) -> ValueModel:
    """Fit V̂ on a fresh, independent batch of ``rollouts`` paths at ``theta``."""
    paths = sample_paths(problem, theta, key, rollouts)
    returns = costs_to_go(batch_costs(problem, theta, paths))
    return fit_value(paths.states, returns)


def resolve_baseline(problem: Problem, theta, key: jax.Array, rollouts: int,
                     baseline: bool | ValueModel | None,
                     baseline_rollouts: int | None = None) -> ValueModel | None:
    """The V̂ to use: given, fitted on an independent pilot batch, or None (no baseline)."""
    if isinstance(baseline, ValueModel):
        return baseline
    if baseline is True:
        pilot = baseline_rollouts if baseline_rollouts is not None else max(rollouts // 4, 32)
        return fit_value_on(problem, theta, key, check_rollouts(pilot, "baseline_rollouts"))
    if baseline is False or baseline is None:
        return None
    raise ValueError(f"baseline must be True, False or a ValueModel, got {baseline!r}")


def estimate_with_paths(problem: Problem, theta, key: jax.Array, rollouts: int = 1000, *,
                        baseline: bool | ValueModel = True,
                        baseline_rollouts: int | None = None) -> tuple[BatchEstimate, Paths]:
    """Algorithm 1 from fresh samples; returns the estimate and the batch it used."""
    _check_problem(problem)
    check_theta(theta)
    rollouts = check_rollouts(rollouts)
    key_fit, key_batch = jax.random.split(key)
    value = resolve_baseline(problem, theta, key_fit, rollouts, baseline, baseline_rollouts)
    paths = sample_paths(problem, theta, key_batch, rollouts)
    return algorithm1(problem, theta, paths, value), paths


def estimate(problem: Problem, theta, key: jax.Array, rollouts: int = 1000, *,
             baseline: bool | ValueModel = True,
             baseline_rollouts: int | None = None) -> BatchEstimate:
    """Algorithm 1 from fresh samples, with all by-products (see ``gradient``)."""
    return estimate_with_paths(problem, theta, key, rollouts, baseline=baseline,
                               baseline_rollouts=baseline_rollouts)[0]


def gradient(problem: Problem, theta, key: jax.Array, rollouts: int = 1000, *,
             baseline: bool | ValueModel = True,
             baseline_rollouts: int | None = None) -> GradientEstimate:
    """Estimate ∇J(θ) by Algorithm 1 (Theorem 3) with the baseline of eqs. 57–59.

    Args:
        problem: a ``Problem`` (e.g. from ``from_policy``).
        theta: parameters, any pytree of float arrays.
        key: PRNG key; the same key gives the same estimate.
        rollouts: ``N``, number of paths in the batch (>= 2).
        baseline: True: fit V̂ on an independent pilot batch of ``baseline_rollouts`` paths
            (default ``max(N // 4, 32)``; these extra samples keep the estimate unbiased);
            a ``ValueModel``: use it (fitted on earlier batches); False: no baseline.
        baseline_rollouts: size of the pilot batch.

    Returns:
        ``GradientEstimate(grad, stderr)``, pytrees shaped like ``theta``.
    """
    result = estimate(problem, theta, key, rollouts, baseline=baseline,
                      baseline_rollouts=baseline_rollouts)
    return GradientEstimate(result.grad, result.stderr)


def _check_problem(problem) -> None:
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be an lqgx.dso.Problem (see from_policy / from_chain), got "
                        f"{type(problem).__name__}")
