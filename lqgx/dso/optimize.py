"""``optimize``: iterate DSO updates — chain iteration (eq. 63), gradient descent on the
Algorithm-1 estimate, or natural gradient (eqs. 69, 74) — and record a history.

Each iteration samples a fresh batch at the current θ. The baseline V̂ used at iteration k is fitted
on the batch of iteration k-1 ("fitted to data up to the previous batch", §4.1), so estimates stay
unbiased without extra rollouts; the first iteration fits V̂ on a pilot batch, counted in
``history["samples"]``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from lqgx._checks import positive_int
from lqgx.dso.chain import ChainConfig, chain_iteration
from lqgx.dso.gradient import _check_problem, algorithm1, fit_value_on
from lqgx.dso.natural import fisher, solve_metric
from lqgx.dso.problem import Problem, check_theta
from lqgx.dso.rollout import check_rollouts, sample_paths
from lqgx.dso.value import fit_value

METHODS = ("chain", "gradient", "natural")


@dataclasses.dataclass(frozen=True)
class OptimizeResult:
    """What ``optimize`` returns.

    Fields:
        theta: final parameters (pytree).
        cost: the last batch estimate of J (at the iterate before the final update).
        history: dict name -> ``np.ndarray[iterations]``: ``"cost"`` (batch estimate of J(θ_k)),
            ``"cost_stderr"``, ``"step_norm"`` (‖θ_{k+1} - θ_k‖), ``"grad_norm"`` (‖∇̃J(θ_k)‖),
            ``"samples"`` (cumulative rollouts including the pilot batch).
        iterations: number of iterations run.
        method: ``"chain"``, ``"gradient"`` or ``"natural"``.
        converged: False if a non-finite estimate stopped the run early.
        message: why the run stopped.
    """

    theta: Any
    cost: float
    history: dict[str, np.ndarray]
    iterations: int
    method: str
    converged: bool
    message: str


def optimize(problem: Problem, theta0, key: jax.Array, *, iterations: int = 50,
             method: str = "chain", rollouts: int = 256, learning_rate: float | None = None,
             kappa: float = 1.0, clip: float | None = 0.2, inner_steps: int = 50,
             inner_optimizer: str = "adam", optimizer: optax.GradientTransformation | None = None,
             damping: float = 1e-3, kl_bound: float | None = None, baseline: bool = True,
             callback: Callable[[int, Any, dict], None] | None = None) -> OptimizeResult:
    """Minimize J(θ) by DSO.

    Args:
        problem: the DSO problem.
        theta0: initial parameters (pytree).
        key: PRNG key; the run is a deterministic function of it.
        iterations: number of updates (>= 1).
        method: ``"chain"`` (eq. 63 with PCO), ``"gradient"`` (optax on the Algorithm-1
            estimate) or ``"natural"`` (θ ← θ - lr F⁻¹∇̃J, eq. 74).
        rollouts: paths per iteration.
        learning_rate: inner Adam rate for ``chain`` (default 1e-2), Adam rate for ``gradient``
            (default 1e-2), step size for ``natural`` (default 0.5; ignored with ``kl_bound``).
        kappa, clip, inner_steps, inner_optimizer: chain-iteration settings (``ChainConfig``).
        optimizer: optax transformation for ``gradient`` (default ``adam(learning_rate)``).
        damping: relative damping of the Fisher metric (``natural``).
        kl_bound: if set, ``natural`` steps have Fisher length ``sqrt(2 δ)`` (a trust region).
        baseline: use the fitted state-space baseline of §4.1.
        callback: ``(iteration, theta, record) -> None`` after each iteration.

    Returns:
        ``OptimizeResult``.
    """
    _check_problem(problem)
    check_theta(theta0, "theta0")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    iterations = positive_int(iterations, "iterations")
    check_rollouts(rollouts)
    if learning_rate is not None and not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if kl_bound is not None and not kl_bound > 0:
        raise ValueError(f"kl_bound must be > 0, got {kl_bound!r}")

    key_pilot, key = jax.random.split(key)
    samples = 0
    value = None
    if baseline:
        pilot = max(rollouts // 4, 32)
        value = fit_value_on(problem, theta0, key_pilot, pilot)
        samples += pilot

    if method == "chain":
        config = ChainConfig(rollouts=rollouts, kappa=kappa, clip=clip, inner_steps=inner_steps,
                             learning_rate=1e-2 if learning_rate is None else learning_rate,
                             optimizer=inner_optimizer)
    elif method == "gradient":
        opt = optimizer if optimizer is not None else optax.adam(
            1e-2 if learning_rate is None else learning_rate)
        opt_state = opt.init(theta0)
    natural_rate = 0.5 if learning_rate is None else learning_rate

    theta = theta0
    history = {name: [] for name in ("cost", "cost_stderr", "step_norm", "grad_norm", "samples")}
    converged, message = True, "finished the requested number of iterations"
    for it in range(iterations):
        key, sub = jax.random.split(key)
        if method == "chain":
            theta_next, info = chain_iteration(problem, theta, sub, config=config,
                                               baseline=value if baseline else False)
            record = dict(cost=info.cost, cost_stderr=info.cost_stderr, step_norm=info.step_norm,
                          grad_norm=_norm(info.grad))
            next_value = info.value
        else:
            paths = sample_paths(problem, theta, sub, rollouts)
            est = algorithm1(problem, theta, paths, value)
            if method == "gradient":
                updates, opt_state = opt.update(est.grad, opt_state, theta)
                step = updates
            else:
                metric = fisher(problem, theta, paths)
                flat_grad, unravel = ravel_pytree(est.grad)
                direction = solve_metric(metric, flat_grad, damping)
                if kl_bound is not None:
                    scale = jnp.sqrt(2.0 * kl_bound / jnp.maximum(flat_grad @ direction, 1e-300))
                else:
                    scale = natural_rate
                step = unravel(-scale * direction)
            theta_next = optax.apply_updates(theta, step)
            record = dict(cost=est.cost, cost_stderr=est.cost_stderr, step_norm=_norm(step),
                          grad_norm=_norm(est.grad))
            next_value = fit_value(paths.states, est.returns)
        samples += rollouts
        record = {k: float(v) for k, v in record.items()}
        record["samples"] = samples
        for name, v in record.items():
            history[name].append(v)
        if callback is not None:
            callback(it, theta, record)
        if not all(np.isfinite(v) for v in record.values()) or not _finite(theta_next):
            converged, message = False, f"non-finite estimate at iteration {it}; kept last finite θ"
            break
        theta = theta_next
        if baseline:
            value = next_value
    hist = {k: np.asarray(v) for k, v in history.items()}
    return OptimizeResult(theta=theta, cost=float(hist["cost"][-1]), history=hist,
                          iterations=len(hist["cost"]), method=method, converged=converged,
                          message=message)


def _norm(tree) -> jax.Array:
    return jnp.linalg.norm(ravel_pytree(tree)[0])


def _finite(tree) -> bool:
    return bool(jnp.all(jnp.isfinite(ravel_pytree(tree)[0])))
