"""What the sampling-based planners (``cem``, ``mppi``, ``predictive_sampling``) share.

Each planner searches over open-loop action sequences ``u[T, m]`` of the mean dynamics,

    minimize  J(u) = sum_{t<T} cost(x_t, u_t, t) + final_cost(x_T),
              x_0 = x0,  x_{t+1} = dynamics(x_t, u_t),  low <= u_t <= high,

with a Gaussian ``N(mean[T, m], diag(std[T, m]^2))`` over sequences. Iteration k is the same for
all of them except the update rule:

1. draw ``N`` sequences ``u_i = clip(mean_k + std_k * eps_i)``, ``eps_i ~ N(0, I)`` (``draw``);
2. roll out the mean and the samples together (one ``vmap`` over N + 1 sequences,
   ``evaluate_batch``) and total their costs; a non-finite rollout costs +inf, so a diverging
   sample is never selected and gets zero weight;
3. the planner's ``update(distribution, samples, mean_cost) -> Distribution`` (CEM: refit to
   the elites; MPPI: exponentially weighted average; predictive sampling: the best of nominal
   and samples);
4. keep the lowest-cost sequence evaluated so far.

The returned plan is that best sequence: the lowest-cost one among the means ``mean_0`` (the
initial actions) .. ``mean_{K-1}`` and every sample, so ``history["cost"]`` is non-increasing
and the actions reported are exactly the ones whose cost and states are reported. The last
update's mean ``mean_K`` is not rolled out (only its std enters the returned policy's
covariance): every sequence is evaluated at one place in the program, the batched rollout of
step 2, because compiling a rollout of an MJX system takes a minute or more and a second call
site would double it. ``run`` is one jitted ``lax.scan`` over iterations with ``jax.vmap`` over
samples: no host round-trips, ``vmap``-able over keys.
"""

from __future__ import annotations

import functools
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._checks import positive_int
from lqgx._pytree import pytree_dataclass, tree_select
from lqgx.lq.types import LinearGaussianPolicy
from lqgx.optimizers.ilqg import _initial_actions
from lqgx.result import Result
from lqgx.system import System

# Status codes (see lqgx.result.STATUS_MESSAGES).
FINISHED, NONFINITE_ROLLOUT = 2, 103


@pytree_dataclass
class Distribution:
    """The sampling distribution ``N(mean, diag(std^2))`` over sequences: ``mean[T, m]``,
    ``std[T, m]``."""

    mean: jax.Array
    std: jax.Array


@pytree_dataclass
class Samples:
    """One iteration's draws: ``actions[N, T, m]`` (clipped) and their ``costs[N]``."""

    actions: jax.Array
    costs: jax.Array


@pytree_dataclass
class Plan:
    """An evaluated open-loop plan: ``actions[T, m]``, ``states[T+1, n]`` and its total ``cost``
    (+inf if the rollout or cost is not finite)."""

    actions: jax.Array
    states: jax.Array
    cost: jax.Array


@pytree_dataclass
class SearchState:
    """What the scan carries: the sampling ``distribution`` and the ``best`` plan so far."""

    distribution: Distribution
    best: Plan


class Planner(Protocol):
    """A planner's settings: static ``iterations`` and ``samples``, and its update rule."""

    iterations: int
    samples: int

    def update(self, distribution: Distribution, samples: Samples,
               mean_cost: jax.Array) -> Distribution: ...


# -- the pieces of one iteration ---------------------------------------------------------------
def rollout_cost(system: System, actions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(states[T+1, n], cost)`` of ``actions[T, m]``; a non-finite rollout costs +inf."""
    states = system.rollout(actions)
    cost = system.trajectory_cost(states, actions)
    finite = jnp.isfinite(cost) & jnp.all(jnp.isfinite(states))
    return states, jnp.where(finite, cost, jnp.inf)


def evaluate_batch(system: System, actions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(states[N, T+1, n], costs[N])`` of ``actions[N, T, m]`` (``rollout_cost`` vmapped)."""
    return jax.vmap(functools.partial(rollout_cost, system))(actions)


def draw(system: System, key: jax.Array, distribution: Distribution, samples: int) -> jax.Array:
    """``samples`` sequences ``clip(mean + std * eps)``: ``actions[N, T, m]`` inside the box."""
    mean, std = distribution.mean, distribution.std
    eps = jax.random.normal(key, (samples, *mean.shape), mean.dtype)
    return system.clip_actions(mean + std * eps)


def best_index(costs: jax.Array) -> jax.Array:
    """Index of the lowest cost (costs are never NaN here: non-finite ones are +inf)."""
    return jnp.argmin(costs)


@pytree_dataclass
class _Record:
    """One row of the history: best-so-far ``cost``, ``best_sample_cost`` and ``mean_cost``
    (the cost of the mean the iteration sampled around)."""

    cost: jax.Array
    best_sample_cost: jax.Array
    mean_cost: jax.Array


def _iteration(system: System, planner: Planner, state: SearchState,
               key) -> tuple[SearchState, _Record]:
    """Steps 1-4 of the module docstring."""
    drawn = draw(system, key, state.distribution, planner.samples)
    batch = jnp.concatenate([state.distribution.mean[None], drawn])   # [N + 1, T, m]
    states, costs = evaluate_batch(system, batch)
    samples = Samples(actions=drawn, costs=costs[1:])
    distribution = planner.update(state.distribution, samples, costs[0])
    i = best_index(costs)
    candidate = Plan(actions=batch[i], states=states[i], cost=costs[i])
    best = tree_select(candidate.cost < state.best.cost, candidate, state.best)
    record = _Record(cost=best.cost, best_sample_cost=jnp.min(samples.costs),
                     mean_cost=costs[0])
    return SearchState(distribution=distribution, best=best), record


@jax.jit
def _run(system: System, planner: Planner, actions: jax.Array, std: jax.Array,
         key: jax.Array) -> Result:
    actions = system.clip_actions(actions)
    # Nothing evaluated yet: an infinitely bad placeholder, replaced by the first finite plan.
    nothing = Plan(actions=actions,
                   states=jnp.full((actions.shape[0] + 1, system.state_dim), jnp.nan,
                                   actions.dtype),
                   cost=jnp.asarray(jnp.inf, actions.dtype))
    init = SearchState(distribution=Distribution(mean=actions, std=std), best=nothing)
    final, history = jax.lax.scan(functools.partial(_iteration, system, planner), init,
                                  jax.random.split(key, planner.iterations))
    return _result(final, history, planner.iterations)


def _result(final: SearchState, history: _Record, iterations: int) -> Result:
    """The best plan as a ``Result``: open-loop policy (K = 0, k = actions) whose covariance is
    the final sampling covariance ``diag(std^2)``."""
    best = final.best
    T, m = best.actions.shape
    n = best.states.shape[1]
    cov = jax.vmap(jnp.diag)(final.distribution.std ** 2)
    policy = LinearGaussianPolicy(K=jnp.zeros((T, m, n), best.actions.dtype), k=best.actions,
                                  cov=cov)
    status = jnp.where(jnp.isfinite(best.cost), FINISHED, NONFINITE_ROLLOUT)
    return Result(states=best.states, actions=best.actions, policy=policy, cost=best.cost,
                  history={"cost": history.cost, "best_sample_cost": history.best_sample_cost,
                           "mean_cost": history.mean_cost},
                  converged=status < 100, iterations=jnp.asarray(iterations), status=status)


def run(system: System, planner: Planner, *, actions, std, key, std_arg: str = "std") -> Result:
    """Validate the common arguments and run ``planner`` on ``system`` (module docstring).

    Args:
        system: ``lqgx.System`` (its noise and initial-state covariances are ignored).
        planner: a planner's settings (``CEM``, ``MPPI``, ``PredictiveSampling``).
        actions: ``[T, m]`` initial mean (default zeros; clipped into the bounds).
        std: initial sampling std, a scalar, ``[m]`` or ``[T, m]`` (None: ``default_std``).
        key: PRNG key (default ``PRNGKey(0)``).
        std_arg: the planner's name for ``std`` (for error messages).
    """
    if not isinstance(system, System):
        raise TypeError(f"system must be an lqgx.System, got {type(system).__name__}")
    if (getattr(system, "constraints", None) is not None
            or getattr(system, "final_constraints", None) is not None):
        raise ValueError("system has constraints; the sampling planners enforce only "
                         "action_bounds (use lqgx.ilqg)")
    actions = _initial_actions(system, actions)
    std = action_std(system, std, std_arg)
    key = jax.random.PRNGKey(0) if key is None else key
    return _run(system, planner, actions, std, key)


# -- argument checks shared by the planners ----------------------------------------------------
def default_std(system: System) -> jax.Array:
    """``[T, m]``: a quarter of the action range where the box is finite, 1 elsewhere."""
    low, high = system.bounds_or_inf()
    width = high - low
    per_action = jnp.where(jnp.isfinite(width) & (width > 0), 0.25 * width, 1.0)
    return jnp.broadcast_to(per_action, (system.horizon, system.action_dim))


def action_std(system: System, value, arg: str) -> jax.Array:
    """``value`` (scalar, ``[m]`` or ``[T, m]``, > 0) broadcast to ``[T, m]``; None gives
    ``default_std``. Raises ``ValueError`` naming ``arg``."""
    if value is None:
        return default_std(system)
    T, m = system.horizon, system.action_dim
    std = jnp.asarray(value, system.x0.dtype)
    if std.shape not in ((), (m,), (T, m)):
        raise ValueError(f"{arg} must be a scalar, [m] = [{m}] or [T, m] = [{T}, {m}], got shape "
                         f"{std.shape}")
    if not isinstance(std, jax.core.Tracer) and not bool(jnp.all(std > 0) & jnp.all(
            jnp.isfinite(std))):
        raise ValueError(f"{arg} must be finite and > 0, got {np.asarray(value)!r}")
    return jnp.broadcast_to(std, (T, m))


def check_counts(iterations, samples) -> tuple[int, int]:
    return positive_int(iterations, "iterations"), positive_int(samples, "samples")


def check_count(value, arg: str, *, low: int, high: int, high_name: str) -> int:
    """An integer ``value`` in ``[low, high]`` (``high`` is the value of ``high_name``)."""
    if positive_int(value, arg) < low or value > high:
        raise ValueError(f"{arg} must be an integer in [{low}, {high_name} = {high}], "
                         f"got {value!r}")
    return int(value)


def check_number(value, arg: str, *, low: float, high: float = np.inf,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A real ``value`` in the interval ``[low, high]`` (ends open as flagged), else a
    ``ValueError`` naming ``arg``. Traced values (``vmap`` over a setting) pass unchecked."""
    if isinstance(value, jax.core.Tracer):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{arg} must be a real number, got {value!r}") from err
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if not (above and below and np.isfinite(number)):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{arg} must lie in {interval}, got {value!r}")
    return number
