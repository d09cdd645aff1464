"""DSO Chain Iteration (eq. 63) on the sampled surrogate, with Proximal Chain Optimization.

    α_k* = argmin_α S̃(θ_k, α),      θ_{k+1} = θ_k + κ α_k*                       (eq. 63)

``κ < 1`` is the conservative variant (cf. Conservative Policy Iteration). S̃ (eq. 66) is linear in
the importance ratios, so its unconstrained minimum is usually at infinity; the minimization is made
well-posed by the PCO clip (§4.3) and a fixed budget of inner optimizer steps (Adam or L-BFGS from
optax), as in PPO. The inner loop is one jitted ``lax.scan``.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from lqgx._checks import positive_int
from lqgx.dso.gradient import resolve_baseline, _check_problem
from lqgx.dso.problem import Problem, check_theta
from lqgx.dso.rollout import check_rollouts, sample_paths
from lqgx.dso.surrogate import SurrogateBatch, surrogate, surrogate_batch
from lqgx.dso.value import ValueModel, fit_value

tree_map = jax.tree_util.tree_map


@dataclasses.dataclass(frozen=True)
class ChainConfig:
    """Settings of one chain-iteration step.

    Fields:
        rollouts: paths per iteration ``N`` (>= 2). Default 256.
        kappa: step fraction κ in (0, 1] (eq. 63; κ < 1 is the conservative variant). Default 1.
        clip: PCO ratio clip ``c`` in (0, 1), or None for the plain surrogate. Default 0.2.
        inner_steps: optimizer steps on S̃(θ, ·) (>= 1). Default 50.
        learning_rate: inner Adam step size (ignored by L-BFGS, which line-searches). Default 1e-2.
        optimizer: ``"adam"`` or ``"lbfgs"``.
    """

    rollouts: int = 256
    kappa: float = 1.0
    clip: float | None = 0.2
    inner_steps: int = 50
    learning_rate: float = 1e-2
    optimizer: str = "adam"

    def __post_init__(self):
        check_rollouts(self.rollouts)
        if not 0.0 < self.kappa <= 1.0:
            raise ValueError(f"kappa must be in (0, 1], got {self.kappa!r}")
        if self.clip is not None and not 0.0 < self.clip < 1.0:
            raise ValueError(f"clip must be in (0, 1) or None, got {self.clip!r}")
        positive_int(self.inner_steps, "inner_steps")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.optimizer not in ("adam", "lbfgs"):
            raise ValueError(f"optimizer must be 'adam' or 'lbfgs', got {self.optimizer!r}")


class ChainInfo(NamedTuple):
    """What one chain iteration measured.

    Fields: ``cost``/``cost_stderr`` the batch estimate of J(θ_k); ``grad`` the Algorithm-1 estimate
    ``∇_α S̃|_{α=0}`` (pytree like θ); ``step`` the applied ``κ α*`` (pytree); ``step_norm``;
    ``surrogate_decrease`` ``S̃(θ_k, 0) - S̃(θ_k, α*)`` (>= 0 when the inner solve made progress);
    ``value`` V̂ refitted on this batch (pass it to the next iteration as ``baseline``).
    """

    cost: jax.Array
    cost_stderr: jax.Array
    grad: Any
    step: Any
    step_norm: jax.Array
    surrogate_decrease: jax.Array
    value: ValueModel


@partial(jax.jit, static_argnames=("problem", "config"))
def minimize_surrogate(problem: Problem, theta, batch: SurrogateBatch, config: ChainConfig):
    """``α* ≈ argmin_α S̃(θ, α)`` by ``config.inner_steps`` optax steps from α = 0.

    Returns ``(alpha, s_start, s_end, grad_at_zero)``.
    """
    zeros = tree_map(jnp.zeros_like, theta)

    def objective(alpha):
        return surrogate(problem, theta, alpha, batch, config.clip)

    value_and_grad = jax.value_and_grad(objective)
    s_start, grad0 = value_and_grad(zeros)
    if config.optimizer == "adam":
        opt = optax.adam(config.learning_rate)
        state = opt.init(zeros)

        def body(carry, _):
            alpha, state = carry
            g = jax.grad(objective)(alpha)
            updates, state = opt.update(g, state, alpha)
            return (optax.apply_updates(alpha, updates), state), None
    else:
        opt = optax.lbfgs()
        state = opt.init(zeros)
        cached = optax.value_and_grad_from_state(objective)

        def body(carry, _):
            alpha, state = carry
            value, g = cached(alpha, state=state)
            updates, state = opt.update(g, state, alpha, value=value, grad=g,
                                        value_fn=objective)
            return (optax.apply_updates(alpha, updates), state), None

    (alpha, _), _ = jax.lax.scan(body, (zeros, state), None, length=config.inner_steps)
    s_end = objective(alpha)
    # Never take a step that made the sampled surrogate worse.
    better = jnp.isfinite(s_end) & (s_end <= s_start)
    alpha = tree_map(lambda a: jnp.where(better, a, jnp.zeros_like(a)), alpha)
    return alpha, s_start, jnp.where(better, s_end, s_start), grad0


def chain_iteration(problem: Problem, theta, key: jax.Array, *,
                    config: ChainConfig | None = None,
                    baseline: bool | ValueModel = True, **options) -> tuple[Any, ChainInfo]:
    """One step of DSO Chain Iteration (eq. 63): sample N paths at θ, build S̃ (eq. 66), minimize
    it over α with optax, and return ``θ + κ α*``.

    Args:
        problem: the DSO problem.
        theta: current parameters (pytree).
        key: PRNG key (same key, same step).
        config: a ``ChainConfig``; or pass its fields as keywords (``rollouts=``, ``kappa=``,
            ``clip=``, ``inner_steps=``, ``learning_rate=``, ``optimizer=``).
        baseline: V̂ for the advantages ``R̂`` (a ``ValueModel`` from an earlier batch), True to fit
            one on an independent pilot batch, False for none.

    Returns:
        ``(theta_next, ChainInfo)``.
    """
    _check_problem(problem)
    check_theta(theta)
    if config is None:
        config = ChainConfig(**options)
    elif options:
        raise ValueError(f"pass either config or keyword options, not both: {sorted(options)}")
    key_fit, key_batch = jax.random.split(key)
    value = resolve_baseline(problem, theta, key_fit, config.rollouts, baseline)
    paths = sample_paths(problem, theta, key_batch, config.rollouts)
    batch = surrogate_batch(problem, theta, paths, value)
    alpha, s_start, s_end, grad0 = minimize_surrogate(problem, theta, batch, config)
    step = tree_map(lambda a: config.kappa * a, alpha)
    theta_next = tree_map(lambda th, s: th + s, theta, step)
    totals = batch.returns[:, 0] + problem.total_parameter_cost(theta)
    info = ChainInfo(cost=jnp.mean(totals),
                     cost_stderr=jnp.std(totals, ddof=1) / jnp.sqrt(config.rollouts),
                     grad=grad0, step=step, step_norm=jnp.linalg.norm(ravel_pytree(step)[0]),
                     surrogate_decrease=s_start - s_end,
                     value=fit_value(paths.states, batch.returns))
    return theta_next, info
