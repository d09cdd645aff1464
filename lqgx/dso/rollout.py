"""Batches of chain rollouts (the sampling loop of Algorithm 1) and per-path quantities.

``lax.scan`` over time, ``vmap`` over rollouts. Shapes: ``N`` rollouts, horizon ``T``, state ``n``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lqgx.dso.problem import Problem


class Paths(NamedTuple):
    """A batch of sampled paths ``X^n = (x_0, ..., x_T)`` with their transition records.

    Fields: ``states[N, T+1, n]``; ``records`` a pytree with leading axes ``[N, T]``.
    """

    states: jax.Array
    records: Any

    @property
    def rollouts(self) -> int:
        return self.states.shape[0]


class Path(NamedTuple):
    """One path: ``states[T+1, n]``, ``records`` with leading axis ``[T]``."""

    states: jax.Array
    records: Any


def check_rollouts(rollouts, arg: str = "rollouts", minimum: int = 2) -> int:
    if isinstance(rollouts, bool) or not isinstance(rollouts, int) or rollouts < minimum:
        raise ValueError(f"{arg} must be an integer >= {minimum} (standard errors need several "
                         f"rollouts), got {rollouts!r}")
    return rollouts


@partial(jax.jit, static_argnames=("problem", "rollouts"))
def sample_paths(problem: Problem, theta, key: jax.Array, rollouts: int) -> Paths:
    """Draw ``rollouts`` independent paths of the chain ``P_t(·|x, θ)`` (no gradient flows)."""
    theta = jax.lax.stop_gradient(theta)
    steps = jnp.arange(problem.horizon)

    def one_path(path_key):
        k0, k_steps = jax.random.split(path_key)
        x0 = problem.initial_state(k0)

        def step(x, inputs):
            t, k = inputs
            x_next, record = problem.sample_transition(theta, x, t, k)
            return x_next, (x, record)

        x_final, (xs, records) = jax.lax.scan(
            step, x0, (steps, jax.random.split(k_steps, problem.horizon)))
        return Paths(jnp.concatenate([xs, x_final[None]], axis=0), records)

    return jax.vmap(one_path)(jax.random.split(key, rollouts))


def step_costs(problem: Problem, theta, path: Path) -> jax.Array:
    """``[T+1]``: sampled ``L_t(x_t, θ)`` for ``t < T`` and ``L_T(x_T, θ)`` (no ``L_θ``)."""
    steps = jnp.arange(problem.horizon)
    running = jax.vmap(problem.cost, in_axes=(None, 0, 0, 0))(
        theta, path.states[:-1], path.records, steps)
    final = problem.final_cost(theta, path.states[-1])
    return jnp.concatenate([running, final[None]])


def step_log_probs(problem: Problem, theta, path: Path) -> jax.Array:
    """``[T]``: ``ln p(z_t, x_{t+1} | x_t, θ)``."""
    steps = jnp.arange(problem.horizon)
    return jax.vmap(problem.log_prob, in_axes=(None, 0, 0, 0, 0))(
        theta, path.states[:-1], path.records, path.states[1:], steps)


def costs_to_go(costs: jax.Array) -> jax.Array:
    """``R_t = Σ_{k>=t} L_k`` along the last axis (``[..., T+1] -> [..., T+1]``)."""
    return jnp.flip(jnp.cumsum(jnp.flip(costs, -1), axis=-1), -1)


@partial(jax.jit, static_argnames=("problem",))
def batch_costs(problem: Problem, theta, paths: Paths) -> jax.Array:
    """``[N, T+1]`` sampled step costs of every path."""
    return jax.vmap(lambda s, r: step_costs(problem, theta, Path(s, r)))(paths.states,
                                                                          paths.records)
