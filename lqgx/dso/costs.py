"""State-independent cost building blocks of §5.1, as ``(theta) -> scalar`` functions to pass as
``parameter_cost`` (or add with ``Problem.with_parameter_cost``).

Recorded data are constants in the multiple-rollout format of Algorithm 1: ``states[N, T+1, n]``,
``actions[N, T, m]``. γ = 1 (time-varying setting); sums are averaged over rollouts (1/N Σ_{n,t}).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from lqgx.lq.types import cholesky


def _check_data(states, actions):
    states = jnp.asarray(states)
    actions = jnp.asarray(actions)
    if states.ndim != 3:
        raise ValueError(f"states must have shape [N, T+1, n], got {states.shape}")
    if actions.ndim != 3 or actions.shape[:2] != (states.shape[0], states.shape[1] - 1):
        raise ValueError(f"actions must have shape [N, T, m] with states [N, T+1, n], got "
                         f"actions {actions.shape} and states {states.shape}")
    return states, actions


def gaussian_log_prior(mean, std, select: Callable = lambda theta: theta) -> Callable:
    """``L_prior(θ) = -ln N(select(θ); mean, diag(std²))`` up to a constant.

    ``select`` picks the prior-covered part of θ (a pytree matching ``mean`` and ``std``).
    """
    def cost(theta):
        part = select(theta)
        terms = jax.tree_util.tree_map(lambda p, m, s: jnp.sum(((p - m) / s) ** 2), part, mean,
                                       std)
        return 0.5 * sum(jax.tree_util.tree_leaves(terms))
    return cost


def clone_cost(policy_fn: Callable, states, actions, action_cov, weight: float = 1.0) -> Callable:
    """Behavioural cloning ``L_clone(θ) = -1/N Σ_{n,t} ln p_ε(ā_t^n - μ(x̄_t^n, θ))`` (Gaussian
    ``p_ε = N(0, Σ_a)``, constant dropped), times ``weight``.

    Args:
        policy_fn: ``(theta, x[n], t) -> u[m]``.
        states: ``[N, T+1, n]`` demonstration states (only ``x̄_0..x̄_{T-1}`` are used).
        actions: ``[N, T, m]`` demonstration actions.
        action_cov: ``[m, m]`` Σ_a.
    """
    states, actions = _check_data(states, actions)
    chol = cholesky(jnp.asarray(action_cov))
    steps = jnp.arange(actions.shape[1])

    def cost(theta):
        def per_step(x, a, t):
            r = jax.scipy.linalg.solve_triangular(chol, a - policy_fn(theta, x, t), lower=True)
            return 0.5 * jnp.sum(r**2)
        per = jax.vmap(jax.vmap(per_step, in_axes=(0, 0, 0)), in_axes=(0, 0, None))(
            states[:, :-1], actions, steps)
        return weight * jnp.sum(per) / states.shape[0]
    return cost


def sysid_cost(dynamics_fn: Callable, states, actions, weight: float = 1.0) -> Callable:
    """System identification ``L_sysid(θ) = 1/N Σ_{n,t} ‖x̄_{t+1} - f(x̄_t, ā_t, θ_f)‖²`` times
    ``weight``.

    Args:
        dynamics_fn: ``(theta, x[n], u[m]) -> x_next[n]``, the model with parameters in θ.
        states: ``[N, T+1, n]`` recorded states; actions: ``[N, T, m]`` recorded actions.
    """
    states, actions = _check_data(states, actions)

    def cost(theta):
        predicted = jax.vmap(jax.vmap(lambda x, u: dynamics_fn(theta, x, u)))(
            states[:, :-1], actions)
        return weight * jnp.sum((states[:, 1:] - predicted) ** 2) / states.shape[0]
    return cost
