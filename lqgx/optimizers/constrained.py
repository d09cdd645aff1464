"""Path and final constraints for iLQG/DDP by an augmented-Lagrangian (AL) outer loop.

Problem: minimize over actions u_{0..T-1}

    J(u) = sum_{t<T} cost(x_t, u_t, t) + final_cost(x_T),   x_{t+1} = f(x_t, u_t),
    low <= u <= high,
    subject to   g_t = constraints(x_t, u_t, t) <= 0  (g_t[k], every t < T),
                 g_T = final_constraints(x_T) <= 0     (g_T[k_T]).

Each constraint i (a step t and a component) has a multiplier lambda_i >= 0 and a penalty
rho_i > 0. The inner problem is iLQG (``lqgx.optimizers.ilqg``, box limits unchanged) on the
augmented cost

    L(u; lambda, rho) = J(u) + sum_i psi(g_i; lambda_i, rho_i),
    psi(g; lambda, rho) = (max(0, lambda + rho g)^2 - lambda^2) / (2 rho)

(the Powell-Hestenes-Rockafellar term; Nocedal & Wright 2006 ch. 17, Birgin & Martinez 2014).
Where lambda + rho g > 0 it is lambda g + rho g^2 / 2, the active-set-masked term of ALTRO
(Howell, Jackson & Manchester 2019) and trajax's ``constrained_ilqr``; elsewhere it is constant,
so it is C^1 and a satisfied constraint with lambda = 0 costs nothing. Outer iteration k:

1. inner solve: iLQG on L(.; lambda, rho), warm-started from the previous outer iterate's actions;
2. multipliers: lambda <- max(0, lambda + rho g) (= d psi / d g, the first-order estimate);
3. progress V_i = |max(g_i, -lambda_i / rho_i)| (old lambda; zero iff g_i is feasible and
   complementary, as in Birgin & Martinez 2014): where V_i did not drop below
   ``violation_reduction`` times its previous value, rho_i <- min(penalty_factor rho_i,
   penalty_max);
4. stop when max_i max(g_i, 0) <= ``constraint_tol``, max_i V_i <= ``constraint_tol`` (absolute,
   in the constraints' own units) and the inner solve converged; or stop early as infeasible when
   the violation stalls with every violated constraint at ``penalty_max``.

Why an AL outer loop (and not a constrained backward pass, a barrier, or a pure penalty): the
constraints enter only through the cost, so the inner solver is the unchanged iLQG/DDP loop (its
Riccati/box-QP pass, regularization schedule, line search, MJX derivatives, ``vmap``); the state
constraints need no per-step QP in the backward pass (constrained DDP); no strictly feasible
initial trajectory is needed (an interior-point/barrier method does); and the multipliers make
the solution exactly feasible at finite penalty, unlike a quadratic penalty that needs rho -> inf
and ill-conditions Q_uu. ALTRO and trajax make the same choice (ALTRO's defaults: constraint tolerance 1e-4, penalty
cap 1e8, factor 10); ALTRO's final projected-Newton polish is not implemented (precision comes
from a tighter ``constraint_tol``). Penalties are per constraint, raised only where progress
stalls (one global rho raised every outer iteration, the ALTRO paper's schedule, drove the
cart-pole rail swing-up into costlier local optima; docs/path-constraints.md).

The whole solve is one jitted ``lax.while_loop`` (outer) around the iLQG ``lax.while_loop``
(inner), so ``solve_batch`` vmaps it. ``Result.iterations`` counts outer iterations;
``history`` has per outer iteration ``"cost"`` (J, without the AL terms),
``"constraint_violation"`` (max_i max(g_i, 0)), ``"penalty"`` (max_i rho_i used) and
``"inner_iterations"``.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._pytree import pytree_dataclass, static_field
from lqgx.optimizers.ilqg import (
    ITERATION_LIMIT,
    NONFINITE_DERIVATIVES,
    NONFINITE_ROLLOUT,
    ILQGOptions,
    _final_policy,
    _LoopState,
    _rollout,
    _Schedule,
    iterate,
)
from lqgx.result import Result
from lqgx.system import System, replace_unchecked

# Status code (see lqgx.result.STATUS_MESSAGES).
CONSTRAINTS_VIOLATED = 105


@pytree_dataclass
class ALOptions:
    """Settings of the augmented-Lagrangian outer loop (all static).

    al_iterations: cap on outer iterations. constraint_tol: absolute tolerance on the constraint
    values (their own units) for the violation max(g, 0) and the complementarity measure V.
    penalty_init: rho of every constraint at the start. penalty_factor: rho's growth when a
    constraint's V did not drop below violation_reduction times its previous value.
    penalty_max: cap on rho (ill-conditioning beyond it).
    """

    al_iterations: int = static_field(default=20)
    constraint_tol: float = static_field(default=1e-4)
    penalty_init: float = static_field(default=1.0)
    penalty_factor: float = static_field(default=10.0)
    penalty_max: float = static_field(default=1e8)
    violation_reduction: float = static_field(default=0.25)

    def validate(self) -> "ALOptions":
        if (isinstance(self.al_iterations, bool)
                or not isinstance(self.al_iterations, (int, np.integer)) or self.al_iterations < 1):
            raise ValueError(f"al_iterations must be an integer >= 1, got {self.al_iterations!r}")
        for name in ("constraint_tol", "penalty_init"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.floating)) and np.isfinite(value)
                    and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not self.penalty_factor > 1:
            raise ValueError(f"penalty_factor must be > 1, got {self.penalty_factor!r}")
        if not self.penalty_max >= self.penalty_init:
            raise ValueError(f"penalty_max must be >= penalty_init={self.penalty_init}, got "
                             f"{self.penalty_max!r}")
        if not 0 < self.violation_reduction < 1:
            raise ValueError(f"violation_reduction must lie in (0, 1), got "
                             f"{self.violation_reduction!r}")
        return self


OPTION_NAMES = tuple(f.name for f in dataclasses.fields(ALOptions))


def split_options(options: dict) -> tuple[dict, ALOptions]:
    """``options`` of ``lqgx.ilqg`` -> (the iLQG ones, validated ``ALOptions``)."""
    inner = {k: v for k, v in options.items() if k not in OPTION_NAMES}
    outer = ALOptions(**{k: v for k, v in options.items() if k in OPTION_NAMES}).validate()
    return inner, outer


@pytree_dataclass
class PerConstraint:
    """One value per constraint: ``running[T, k]`` (path) and ``final[k_T]``; the shape of the
    constraint values g, the multipliers lambda and the penalties rho. A missing kind has k = 0."""

    running: jax.Array
    final: jax.Array


@pytree_dataclass
class ALWeights:
    """The augmented terms' parameters: ``multipliers`` lambda >= 0, ``penalties`` rho > 0."""

    multipliers: PerConstraint
    penalties: PerConstraint


def constraint_values(system: System, states: jax.Array, actions: jax.Array) -> PerConstraint:
    """g along a trajectory ``states[T+1, n]``, ``actions[T, m]``."""
    T, dtype = actions.shape[0], states.dtype
    running = (jnp.zeros((T, 0), dtype) if system.constraints is None else
               jax.vmap(system.constraints)(states[:-1], actions, jnp.arange(T)))
    final = (jnp.zeros((0,), dtype) if system.final_constraints is None else
             system.final_constraints(states[-1]))
    return PerConstraint(running=running, final=final)


def tree_max(tree: PerConstraint) -> jax.Array:
    """max(0, max_i tree_i): for g the violation max_i max(g_i, 0) (0 with no constraints)."""
    return jnp.max(jnp.stack([jnp.max(leaf, initial=0.0) for leaf in
                              jax.tree_util.tree_leaves(tree)]))


def phr_penalty(g, multiplier, penalty):
    """psi(g; lambda, rho) = (max(0, lambda + rho g)^2 - lambda^2) / (2 rho), elementwise."""
    return (jnp.square(jnp.maximum(0.0, multiplier + penalty * g)) - jnp.square(multiplier)) / (
        2.0 * penalty)


def augmented_system(system: System, weights: ALWeights) -> System:
    """The unconstrained system whose costs are the augmented Lagrangian L(.; lambda, rho)."""
    lam, rho = weights.multipliers, weights.penalties
    cost, final_cost = system.cost, system.final_cost
    constraints, final_constraints = system.constraints, system.final_constraints

    def al_cost(x, u, t):
        if constraints is None:
            return cost(x, u, t)
        return cost(x, u, t) + jnp.sum(phr_penalty(constraints(x, u, t), lam.running[t],
                                                   rho.running[t]))

    def al_final_cost(x):
        if final_constraints is None:
            return final_cost(x)
        return final_cost(x) + jnp.sum(phr_penalty(final_constraints(x), lam.final, rho.final))

    return replace_unchecked(system, cost=al_cost, final_cost=al_final_cost, constraints=None,
                             final_constraints=None)


def update_weights(weights: ALWeights, g: PerConstraint, previous_progress: PerConstraint,
                   o: ALOptions) -> tuple[ALWeights, PerConstraint]:
    """Steps 2-3 of the module docstring: new (lambda, rho) and this iterate's progress V."""
    lam, rho = weights.multipliers, weights.penalties
    tree = jax.tree_util.tree_map
    progress = tree(lambda g_, l_, r_: jnp.abs(jnp.maximum(g_, -l_ / r_)), g, lam, rho)
    multipliers = tree(lambda g_, l_, r_: jnp.maximum(0.0, l_ + r_ * g_), g, lam, rho)
    slow = tree(lambda v, v_old: (v > o.violation_reduction * v_old) & (v > o.constraint_tol),
                progress, previous_progress)
    penalties = tree(lambda r_, s: jnp.where(s, jnp.minimum(o.penalty_factor * r_,
                                                            o.penalty_max), r_), rho, slow)
    return ALWeights(multipliers=multipliers, penalties=penalties), progress


@pytree_dataclass
class _History:
    """Per outer iteration (``[al_iterations]``, NaN / -1 past the last one)."""

    cost: jax.Array
    constraint_violation: jax.Array
    penalty: jax.Array
    inner_iterations: jax.Array


@pytree_dataclass
class _OuterState:
    """The AL loop's carry: the latest inner solve (``inner``, solved with ``solved_with``), the
    weights of the next solve, each constraint's last progress V, and the history."""

    inner: _LoopState
    solved_with: ALWeights
    weights: ALWeights
    progress: PerConstraint
    violation: jax.Array
    history: _History
    iteration: jax.Array
    status: jax.Array
    done: jax.Array


def _outer_iterate(system: System, o: ILQGOptions, al: ALOptions, s: _OuterState) -> _OuterState:
    # inner solve (fresh regularization schedule: the augmented cost changed)
    inner = iterate(augmented_system(system, s.weights), s.inner.nominal.actions, o)
    states, actions = inner.nominal.states, inner.nominal.actions
    g = constraint_values(system, states, actions)
    violation = tree_max(g)
    weights, progress = update_weights(s.weights, g, s.progress, al)
    inner_ok = inner.status < 100
    broken = (inner.status == NONFINITE_DERIVATIVES) | (inner.status == NONFINITE_ROLLOUT)
    feasible = violation <= al.constraint_tol
    converged = inner_ok & feasible & (tree_max(progress) <= al.constraint_tol)
    # Infeasible (or hopelessly hard): violated constraints all at the penalty cap, no progress.
    capped = jax.tree_util.tree_map(
        lambda g_, r_: (g_ <= al.constraint_tol) | (r_ >= al.penalty_max), g, s.weights.penalties)
    stalled = ((~feasible) & (violation > al.violation_reduction * s.violation)
               & jnp.all(jnp.stack([jnp.all(c) for c in jax.tree_util.tree_leaves(capped)])))
    # What the solve reports if it stops here: broken > converged > violated > inner's reason.
    status = jnp.where(broken, inner.status,
                       jnp.where(converged, inner.status,
                                 jnp.where(~feasible, CONSTRAINTS_VIOLATED,
                                           jnp.where(inner_ok, ITERATION_LIMIT, inner.status))))
    i = s.iteration
    history = _History(
        cost=s.history.cost.at[i].set(system.trajectory_cost(states, actions)),
        constraint_violation=s.history.constraint_violation.at[i].set(violation),
        penalty=s.history.penalty.at[i].set(tree_max(s.weights.penalties)),
        inner_iterations=s.history.inner_iterations.at[i].set(inner.iteration))
    return _OuterState(inner=inner, solved_with=s.weights, weights=weights, progress=progress,
                       violation=violation, history=history, iteration=i + 1, status=status,
                       done=broken | converged | stalled)


@functools.partial(jax.jit, static_argnames=("options", "al"))
def solve_constrained(system: System, actions: jax.Array, options: ILQGOptions,
                      al: ALOptions) -> Result:
    """The AL solve of the module docstring from ``actions[T, m]``; a ``Result`` like
    ``lqgx.ilqg``'s (cost J without the AL terms; policy = the last inner problem's gains)."""
    actions = system.clip_actions(actions)
    nominal = _rollout(system, actions)
    dtype = nominal.cost.dtype
    g = constraint_values(system, nominal.states, actions)
    full = lambda value, like: jnp.full_like(like, value)  # noqa: E731
    weights = ALWeights(multipliers=jax.tree_util.tree_map(lambda a: full(0.0, a), g),
                        penalties=jax.tree_util.tree_map(lambda a: full(al.penalty_init, a), g))
    # A placeholder inner state: the first outer iteration overwrites it (only its actions and
    # shapes are read).
    placeholder = _LoopState(
        nominal=nominal, schedule=_Schedule(mu=jnp.zeros((), dtype), d=jnp.ones((), dtype)),
        warm_start=jnp.zeros_like(actions), history=jnp.full((options.iterations,), jnp.nan, dtype),
        iteration=jnp.array(0), status=jnp.array(ITERATION_LIMIT), done=jnp.array(False))
    nan = jnp.full((al.al_iterations,), jnp.nan, dtype)
    init = _OuterState(
        inner=placeholder, solved_with=weights, weights=weights,
        progress=jax.tree_util.tree_map(lambda a: full(jnp.inf, a), g),
        violation=jnp.asarray(jnp.inf, dtype),
        history=_History(cost=nan, constraint_violation=nan, penalty=nan,
                         inner_iterations=jnp.full((al.al_iterations,), -1)),
        iteration=jnp.array(0), status=jnp.array(ITERATION_LIMIT), done=jnp.array(False))
    final = jax.lax.while_loop(lambda s: (~s.done) & (s.iteration < al.al_iterations),
                               lambda s: _outer_iterate(system, options, al, s), init)
    nominal = final.inner.nominal
    policy, _ = _final_policy(augmented_system(system, final.solved_with), nominal,
                           final.inner.schedule, options)
    history = {f.name: getattr(final.history, f.name) for f in dataclasses.fields(_History)}
    return Result(states=nominal.states, actions=nominal.actions, policy=policy,
                  cost=system.trajectory_cost(nominal.states, nominal.actions), history=history,
                  converged=final.status < 100, iterations=final.iteration, status=final.status)
