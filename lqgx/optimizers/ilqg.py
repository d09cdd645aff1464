"""iLQG / iLQR with box control limits (Tassa, Erez & Todorov 2012; Tassa, Mansard & Todorov 2014).

Problem (thesis §2.1, in cost form): minimize over actions u_{0..T-1}

    J(u) = sum_{t<T} cost(x_t, u_t, t) + final_cost(x_T),   x_{t+1} = f(x_t, u_t),   low <= u <= high.

Each iteration (thesis §2.1.2):

1. expand along the nominal rollout: A_t = f_x, B_t = f_u (autodiff), cost gradients/Hessians;
2. regularized backward pass (``lqgx.lq.riccati_backward_pass``): gains du = k + K dx, limits
   through the projected-Newton box QP, the regularization mu raised until every Q_uu is PD;
3. backtracking line search on u = clip(u_bar + a k + K (x - x_bar)) over a in {1, ..., 1e-3},
   accepting when the actual/expected reduction ratio exceeds ``min_reduction_ratio``;
4. mu schedule (Tassa 2012 §II-F): on success d = min(d / f, 1 / f), mu = mu * d (0 below
   ``mu_min``); on failure d = max(f, d * f), mu = max(mu_min, mu * d); stop if mu > ``mu_max``.

It stops on a relative cost change below ``tol``, on a small step (Tassa's normalized gradient
mean_t max_i |k_ti| / (|u_ti| + 1) below ``gradient_tol``) or at the iteration cap. DDP
(``lqgx.ddp``) is this loop plus the second-order dynamics terms. The whole solve is one jitted
``lax.while_loop``; ``solve_batch`` vmaps it over initial states.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._pytree import all_finite, pytree_dataclass, static_field, tree_select
from lqgx.distributed import vmap_sharded
from lqgx.linearize import dynamics_curvature, expand
from lqgx.lq.backward import (
    CONTROL_REGULARIZATION,
    STATE_REGULARIZATION,
    RiccatiSolution,
    riccati_backward_pass,
)
from lqgx.lq.types import LinearGaussianPolicy
from lqgx.optimizers import implicit
from lqgx.result import Result
from lqgx.system import System

# Status codes (see lqgx.result.STATUS_MESSAGES).
CONVERGED_COST, CONVERGED_STEP, ITERATION_LIMIT = 0, 1, 100
REGULARIZATION_LIMIT, NONFINITE_DERIVATIVES, NONFINITE_ROLLOUT = 101, 102, 103


@pytree_dataclass
class ILQGOptions:
    """Settings of ``ilqg``/``ddp`` (all static; defaults follow Tassa et al. 2012).

    iterations: cap on outer iterations. tol: stop when the relative cost change of an accepted
    step is below tol (raised to 10 machine epsilons in float32). gradient_tol: stop when Tassa's
    normalized step mean_t max_i |k| / (|u| + 1) is below it. regularization: "state" or
    "control". mu_init/mu_min/mu_max/mu_factor: the Levenberg-Marquardt schedule.
    line_search: step sizes tried in order. min_reduction_ratio: accept a step when
    actual / expected reduction exceeds it. second_order: include f_xx terms (DDP).
    """

    iterations: int = static_field(default=100)
    tol: float = static_field(default=1e-6)
    gradient_tol: float = static_field(default=1e-5)
    regularization: str = static_field(default=STATE_REGULARIZATION)
    mu_init: float = static_field(default=0.0)
    mu_min: float = static_field(default=1e-6)
    mu_max: float = static_field(default=1e10)
    mu_factor: float = static_field(default=1.6)
    line_search: tuple[float, ...] = static_field(
        default=tuple(float(a) for a in 10.0 ** np.linspace(0.0, -3.0, 11)))
    min_reduction_ratio: float = static_field(default=0.0)
    second_order: bool = static_field(default=False)

    def validate(self) -> "ILQGOptions":
        if not isinstance(self.iterations, (int, np.integer)) or self.iterations < 1:
            raise ValueError(f"iterations must be an integer >= 1, got {self.iterations!r}")
        for name in ("tol", "gradient_tol", "mu_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.regularization not in (STATE_REGULARIZATION, CONTROL_REGULARIZATION):
            raise ValueError(f"regularization must be 'state' or 'control', got "
                             f"{self.regularization!r}")
        if not (self.mu_init >= 0 and self.mu_min > 0 and self.mu_factor > 1):
            raise ValueError("need mu_init >= 0, mu_min > 0 and mu_factor > 1")
        if not self.line_search or not all(0 < a <= 1 for a in self.line_search):
            raise ValueError(f"line_search steps must lie in (0, 1], got {self.line_search}")
        return self


@pytree_dataclass
class _Schedule:
    """Levenberg-Marquardt regularization mu and its multiplicative momentum d."""

    mu: jax.Array
    d: jax.Array


def _increase(s: _Schedule, o: ILQGOptions) -> _Schedule:
    d = jnp.maximum(o.mu_factor, s.d * o.mu_factor)
    return _Schedule(mu=jnp.maximum(o.mu_min, s.mu * d), d=d)


def _decrease(s: _Schedule, o: ILQGOptions) -> _Schedule:
    d = jnp.minimum(s.d / o.mu_factor, 1.0 / o.mu_factor)
    mu = s.mu * d
    return _Schedule(mu=jnp.where(mu > o.mu_min, mu, 0.0), d=d)


@pytree_dataclass
class _Nominal:
    """A rollout: ``states[T+1, n]``, ``actions[T, m]`` and its total ``cost``."""

    states: jax.Array
    actions: jax.Array
    cost: jax.Array


def _rollout(system: System, actions: jax.Array) -> _Nominal:
    states = system.rollout(actions)
    return _Nominal(states=states, actions=actions, cost=system.trajectory_cost(states, actions))


def _feedback_rollout(system: System, nominal: _Nominal, K: jax.Array, k: jax.Array,
                      step: jax.Array) -> _Nominal:
    """Closed-loop rollout of u_t = clip(u_bar_t + step k_t + K_t (x_t - x_bar_t))."""

    def advance(x, inputs):
        x_bar, u_bar, K_t, k_t = inputs
        u = system.clip_actions(u_bar + step * k_t + K_t @ (x - x_bar))
        return system.dynamics(x, u), (x, u)

    x_final, (xs, us) = jax.lax.scan(advance, system.x0,
                                     (nominal.states[:-1], nominal.actions, K, k))
    states = jnp.concatenate([xs, x_final[None]])
    return _Nominal(states=states, actions=us, cost=system.trajectory_cost(states, us))


def _backward(system: System, nominal: _Nominal, schedule: _Schedule, warm_start: jax.Array,
              o: ILQGOptions):
    """Expand along ``nominal`` and run the Riccati pass, raising mu until it succeeds.

    Returns (solution, schedule, derivatives_finite).
    """
    dyn, cost, final = expand(system, nominal.states, nominal.actions)
    finite = all_finite((dyn, cost, final))
    bounds = None
    if system.action_bounds is not None:
        low, high = system.action_bounds
        bounds = (low - nominal.actions, high - nominal.actions)
    second_order = (dynamics_curvature(system.dynamics, nominal.states, nominal.actions)
                    if o.second_order else None)

    def solve(mu):
        return riccati_backward_pass(cost, final, dyn, mu, scheme=o.regularization,
                                     bounds=bounds, warm_start=warm_start,
                                     second_order=second_order)

    def failed(carry):
        solution, s = carry
        return (~solution.ok) & (s.mu <= o.mu_max) & finite

    def retry(carry):
        _, s = carry
        s = _increase(s, o)
        return solve(s.mu), s

    solution, schedule = jax.lax.while_loop(failed, retry, (solve(schedule.mu), schedule))
    return solution, schedule, finite


def _line_search(system: System, nominal: _Nominal, solution: RiccatiSolution, o: ILQGOptions):
    """First step size whose actual/expected reduction ratio passes; returns (accepted, rollout)."""
    steps = jnp.asarray(o.line_search, nominal.cost.dtype)
    d1, d2 = solution.expected_reduction[0], solution.expected_reduction[1]

    def evaluate(i):
        step = steps[i]
        candidate = _feedback_rollout(system, nominal, solution.K, solution.k, step)
        expected = -(step * d1 + step**2 * d2)
        actual = nominal.cost - candidate.cost
        ratio = actual / jnp.where(expected > 0, expected, jnp.inf)
        ok = (jnp.isfinite(candidate.cost) & (actual > 0) & (ratio > o.min_reduction_ratio)
              & jnp.all(jnp.isfinite(candidate.states)))
        return ok, candidate

    def keep_searching(carry):
        i, ok, _ = carry
        return (~ok) & (i < steps.shape[0])

    def next_step(carry):
        i, _, _ = carry
        ok, candidate = evaluate(i)
        return i + 1, ok, candidate

    _, accepted, candidate = jax.lax.while_loop(keep_searching, next_step,
                                                (jnp.array(0), jnp.array(False), nominal))
    return accepted, tree_select(accepted, candidate, nominal)


@pytree_dataclass
class _LoopState:
    nominal: _Nominal
    schedule: _Schedule
    warm_start: jax.Array
    history: jax.Array
    iteration: jax.Array
    status: jax.Array
    done: jax.Array


def _iterate(system: System, o: ILQGOptions, s: _LoopState) -> _LoopState:
    dtype = s.nominal.cost.dtype
    tol = max(o.tol, 10 * float(jnp.finfo(dtype).eps))
    solution, schedule, finite = _backward(system, s.nominal, s.schedule, s.warm_start, o)
    normalized_step = jnp.mean(jnp.max(jnp.abs(solution.k) / (jnp.abs(s.nominal.actions) + 1.0),
                                       axis=1))
    small_step = normalized_step < o.gradient_tol
    expected = -(solution.expected_reduction[0] + solution.expected_reduction[1])
    negligible = expected < tol * jnp.abs(s.nominal.cost)
    # Small steps or changes only mean convergence where the local model needed (almost) no
    # regularization (Tassa's iLQG.m: lambda < 1e-5). Otherwise mu, not stationarity, made the
    # step small: a saddle or a maximum of the cost, e.g. starting at the hanging equilibrium of
    # a swing-up whose terminal cost is largest there.
    convex = schedule.mu <= 10 * o.mu_min
    accepted, nominal = _line_search(system, s.nominal, solution, o)
    accepted = accepted & solution.ok & finite
    relative_change = (s.nominal.cost - nominal.cost) / jnp.maximum(jnp.abs(s.nominal.cost),
                                                                     jnp.finfo(dtype).tiny)
    schedule = tree_select(accepted, _decrease(schedule, o), _increase(schedule, o))
    # Priority of outcomes: bad derivatives > converged > failed regularization > continue.
    status = jnp.where(
        ~finite, NONFINITE_DERIVATIVES,
        jnp.where(solution.ok & convex & (small_step | negligible), CONVERGED_STEP,
                  jnp.where(accepted & convex & (relative_change < tol), CONVERGED_COST,
                            jnp.where(schedule.mu > o.mu_max, REGULARIZATION_LIMIT,
                                      ITERATION_LIMIT))))
    done = status != ITERATION_LIMIT
    history = s.history.at[s.iteration].set(nominal.cost)
    warm_start = jnp.where(accepted, solution.k, s.warm_start)
    return _LoopState(nominal=nominal, schedule=schedule, warm_start=warm_start, history=history,
                      iteration=s.iteration + 1, status=status, done=done)


def _final_policy(system: System, nominal: _Nominal, schedule: _Schedule,
                  o: ILQGOptions) -> tuple[LinearGaussianPolicy, jax.Array]:
    """Feedback gains and LQG covariance of a backward pass at the returned trajectory, and the
    regularization mu that pass used.

    The mean reproduces the nominal actions exactly (offset k is not applied). Should the pass
    fail at mu_max, the gains fall back to open loop (K = 0, cov = I) so the policy is never NaN.
    """
    solution, used, finite = _backward(system, nominal, schedule,
                                       jnp.zeros_like(nominal.actions), o)
    usable = solution.ok & finite & jnp.all(jnp.isfinite(nominal.states))
    closed_loop = LinearGaussianPolicy.around(solution.K, nominal.states, nominal.actions,
                                              solution.cov)
    m = nominal.actions.shape[1]
    open_loop = LinearGaussianPolicy(
        K=jnp.zeros_like(solution.K), k=nominal.actions,
        cov=jnp.broadcast_to(jnp.eye(m, dtype=nominal.cost.dtype), solution.cov.shape))
    return tree_select(usable, closed_loop, open_loop), used.mu


def policy_at(system: System, states: jax.Array, actions: jax.Array, mu: jax.Array,
              free: jax.Array, o: ILQGOptions) -> LinearGaussianPolicy:
    """``_final_policy``'s gains at a solution, with its clamped set fixed to ``~free[T, m]`` and
    its regularization ``mu``: the same pass without the box QP's while loop, so it can be
    reverse-differentiated (``lqgx.optimizers.implicit``)."""
    dyn, cost, final = expand(system, states, actions)
    second_order = dynamics_curvature(system.dynamics, states, actions) if o.second_order else None
    solution = riccati_backward_pass(cost, final, dyn, mu, scheme=o.regularization, free=free,
                                     second_order=second_order)
    return LinearGaussianPolicy.around(solution.K, states, actions, solution.cov)


def iterate(system: System, actions: jax.Array, options: ILQGOptions) -> _LoopState:
    """The iLQG loop from ``actions[T, m]`` (clipped into the bounds) with a fresh regularization
    schedule, to convergence or the iteration cap (also the inner solve of
    ``lqgx.optimizers.constrained``)."""
    nominal = _rollout(system, system.clip_actions(actions))
    dtype = nominal.cost.dtype
    rollout_ok = jnp.isfinite(nominal.cost) & jnp.all(jnp.isfinite(nominal.states))
    init = _LoopState(
        nominal=nominal,
        schedule=_Schedule(mu=jnp.asarray(options.mu_init, dtype), d=jnp.ones((), dtype)),
        warm_start=jnp.zeros_like(actions),
        history=jnp.full((options.iterations,), jnp.nan, dtype),
        iteration=jnp.array(0),
        status=jnp.where(rollout_ok, ITERATION_LIMIT, NONFINITE_ROLLOUT),
        done=~rollout_ok,
    )
    return jax.lax.while_loop(
        lambda s: (~s.done) & (s.iteration < options.iterations),
        lambda s: _iterate(system, options, s), init)


def _solution(system: System, actions: jax.Array, options: ILQGOptions):
    """The whole solve: ``(Result, mu)`` with mu the final policy's regularization."""
    final = iterate(system, actions, options)
    policy, mu = _final_policy(system, final.nominal, final.schedule, options)
    result = Result(states=final.nominal.states, actions=final.nominal.actions, policy=policy,
                    cost=final.nominal.cost, history={"cost": final.history},
                    converged=final.status < 100, iterations=final.iteration, status=final.status)
    return result, mu


_solve_with_regularization = jax.jit(_solution, static_argnames=("options",))


@functools.partial(jax.jit, static_argnames=("options",))
def _solve(system: System, actions: jax.Array, options: ILQGOptions) -> Result:
    return _solution(system, actions, options)[0]


def _initial_actions(system: System, actions) -> jax.Array:
    T, m = system.horizon, system.action_dim
    if actions is None:
        return jnp.zeros((T, m), system.x0.dtype)
    actions = jnp.asarray(actions, system.x0.dtype)
    if actions.shape != (T, m):
        raise ValueError(f"actions must have shape [T, m] = [{T}, {m}], got {actions.shape}")
    if not isinstance(actions, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(actions))):
        raise ValueError("actions must be finite")
    return actions


def ilqg(system: System, *, iterations: int = 100, actions=None, tol: float = 1e-6,
         **options) -> Result:
    """Solve ``system`` by iLQG with box limits (see the module docstring).

    Args:
        system: ``lqgx.System`` (its ``noise_cov``/``x0_cov`` are ignored: iLQG optimizes the
            mean dynamics; the returned policy's covariance is the LQG one, inverse Q_uu).
        iterations: maximum number of iterations.
        actions: ``[T, m]`` initial actions (default zeros, clipped into the bounds).
        tol: relative cost change that counts as converged.
        **options: further ``ILQGOptions`` fields (``gradient_tol``, ``regularization``,
            ``mu_init``, ``mu_min``, ``mu_max``, ``mu_factor``, ``line_search``,
            ``min_reduction_ratio``); for a system with ``constraints``/``final_constraints``
            the augmented-Lagrangian ones (``lqgx.optimizers.constrained.ALOptions``:
            ``al_iterations=20``, ``constraint_tol=1e-4`` absolute, ``penalty_init=1``,
            ``penalty_factor=10``, ``penalty_max=1e8``, ``violation_reduction=0.25``;
            validated, ignored without constraints). ``iterations``/``tol`` then apply to each
            inner iLQG solve.

    Returns:
        ``Result``: ``states[T+1, n]``, ``actions[T, m]``, ``policy`` (gains of the final backward
        pass about the returned trajectory), ``cost``, ``history["cost"]`` (cost after each
        iteration), ``converged``, ``iterations``, ``message``. With constraints, per outer
        iteration: ``iterations``, ``history["cost"]``, ``"constraint_violation"``
        (max_t max(g, 0)), ``"penalty"``, ``"inner_iterations"``; status 105 when the
        constraints are still violated beyond ``constraint_tol``.
    """
    return _run(system, iterations, actions, tol, options, second_order=False)


def _run(system, iterations, actions, tol, options, *, second_order: bool) -> Result:
    if not isinstance(system, System):
        raise TypeError(f"system must be an lqgx.System, got {type(system).__name__}")
    from lqgx.optimizers import constrained  # imports this module

    options, al_options = constrained.split_options(options)
    allowed = {f.name for f in dataclasses.fields(ILQGOptions)} - {"second_order", "iterations",
                                                                    "tol"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; allowed: "
                        f"{sorted(allowed | set(constrained.OPTION_NAMES))}")
    config = ILQGOptions(iterations=iterations, tol=tol, second_order=second_order,
                         **options).validate()
    if system.has_constraints:  # augmented-Lagrangian outer loop (lqgx.optimizers.constrained)
        return constrained.solve_constrained(system, _initial_actions(system, actions), config,
                                             al_options).trimmed()
    actions = _initial_actions(system, actions)
    if not _under_transformation():
        return _solve(system, actions, config).trimmed()
    # Under jax.grad/jit/vmap: a custom VJP by implicit differentiation at the optimum.
    return implicit.differentiable_solve(
        system, actions, functools.partial(_solve_with_regularization, options=config),
        functools.partial(policy_at, o=config)).trimmed()


def _under_transformation() -> bool:
    """True inside jit/vmap/grad tracing (the system's functions may close over tracers)."""
    try:
        from jax._src.core import trace_state_clean
    except ImportError:  # private API moved: always take the differentiable path
        return True
    return not trace_state_clean()


def solve_batch(solver: Callable[..., Result], system: System, x0s: jax.Array, *,
                mesh=None, **kwargs) -> Result:
    """Run ``solver`` (``lqgx.ilqg``/``lqgx.ddp``) from each initial state in ``x0s[B, n]`` with
    ``jax.vmap``; every field of the returned ``Result`` gains a leading batch axis (history is
    NaN-padded past each solve's last iteration). With ``mesh`` (``lqgx.distributed.batch_mesh()``)
    the batch is split over its devices, each solving its own shard."""
    x0s = jnp.asarray(x0s, system.x0.dtype)
    if x0s.ndim != 2 or x0s.shape[1] != system.state_dim:
        raise ValueError(f"x0s must have shape [B, {system.state_dim}], got {x0s.shape}")

    def solve(x0):
        return solver(system.replace(x0=x0), **kwargs)

    return jax.vmap(solve)(x0s) if mesh is None else vmap_sharded(solve, mesh)(x0s)
