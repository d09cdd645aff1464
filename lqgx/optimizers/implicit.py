"""Implicit differentiation of iLQG/DDP solutions at the optimum (reverse mode).

The solvers minimize the shooting objective over the actions u = u_{0..T-1},

    J(u, θ) = sum_{t<T} cost(x_t, u_t, t) + final_cost(x_T),   x_{t+1} = f(x_t, u_t),  x_0 = x0,

where θ is everything the problem depends on: ``x0``, the action bounds and every array that
``dynamics``, ``cost`` and ``final_cost`` close over while being traced by ``jax.grad`` (found
by ``jax.closure_convert``). At a local solution u* the controls split into a clamped set A
(at a bound: u*_A = b_A) and a free set F where the gradient vanishes, ∇_{u_F} J(u*, θ) = 0.
The implicit function theorem (with the active set held fixed) gives

    du*_F = −H_FF⁻¹ (∂²J/∂u_F∂θ dθ + H_FA db_A),   du*_A = db_A,   H = ∇²_u J(u*, θ).

For outputs y = G(u*, θ) — states (the rollout), actions, cost and the TVLG policy of the final
backward pass — and a cotangent ȳ, the vector-Jacobian product is

    g = (∂G/∂u)ᵀ ȳ,   λ_F = H_FF⁻¹ g_F,  λ_A = 0,   θ̄ = (∂G/∂θ)ᵀ ȳ − ∂/∂θ [λ · ∇_u J(u*, θ)],

the bound entries of θ entering through u_A = b_A. λ is one more LQ solve at the optimum: the
exact Hessian H is the reduced Hessian of the LQ problem with dynamics dx' = A dx + B du (A, B the
Jacobians at the solution, dx_0 = 0) and stage Hessians ∇²cost_t + sum_i p_{t+1,i} ∇²f_i, p the
costates (p_T = ∇final_cost, p_t = ∇_x cost_t + A_tᵀ p_{t+1}) — DDP's backward pass at the
optimum with the clamped set fixed and the linear term −g on du, run forward from dx_0 = 0.

The cost alone needs no solve (envelope theorem: ∇_{u_F} J = 0 and du*_A/dθ only moves the
bounds): when only the cost has a cotangent, θ̄ = ∂J/∂θ at u*. Costs of a gradient: one reverse
pass through the rollout and the expansions, one LQ solve and, when the policy is differentiated,
a reverse pass through the final backward pass. The derivatives are those of the solution the
solver converged to; an unconverged solve (``Result.converged`` False) gets the derivative of
the stationarity conditions at its last iterate, which is only an approximation. Forward mode
(``jax.jvp``/``jacfwd``) is not supported (a ``jax.custom_vjp``); use ``jax.grad``/``jacrev``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from lqgx._pytree import pytree_dataclass
from lqgx.linearize import dynamics_curvature, expand
from lqgx.lq.backward import riccati_backward_pass
from lqgx.lq.types import LinearGaussianPolicy
from lqgx.result import Result
from lqgx.system import _ARRAY_FIELDS, System, replace_unchecked

# solve(system, actions) -> (Result, mu): the solver, mu the regularization of its final pass.
Solve = Callable[[System, jax.Array], tuple[Result, jax.Array]]
# policy_at(system, states, actions, mu, free) -> the final pass's policy, reverse-differentiable.
PolicyAt = Callable[[System, jax.Array, jax.Array, jax.Array, jax.Array], LinearGaussianPolicy]


@pytree_dataclass
class Parameters:
    """θ: the system's array fields (``arrays``, ordered as ``System``'s) and the values its
    ``dynamics``, ``cost`` and ``final_cost`` close over (tuples from ``jax.closure_convert``)."""

    arrays: tuple
    dynamics: tuple
    cost: tuple
    final_cost: tuple


@pytree_dataclass
class Outputs:
    """The differentiated part of a ``Result``."""

    states: jax.Array
    actions: jax.Array
    cost: jax.Array
    policy: LinearGaussianPolicy


_FUNCTIONS = ("dynamics", "cost", "final_cost")


@dataclasses.dataclass(frozen=True)
class _Closed:
    """The system with its functions' closed-over arrays made explicit: ``converted[name]`` takes
    them as trailing arguments (``jax.closure_convert``)."""

    base: System
    converted: dict

    def system(self, theta: Parameters) -> System:
        """The system at parameters θ."""
        changes = dict(zip(_ARRAY_FIELDS, theta.arrays))
        for name in _FUNCTIONS:
            args = getattr(theta, name)
            if args:  # else keep the original function: jit caches keyed on it still hit
                changes[name] = functools.partial(_call_with_trailing, self.converted[name], args)
        return replace_unchecked(self.base, **changes)


def _call_with_trailing(converted, args, *inputs):
    return converted(*inputs, *args)


def _close(system: System) -> tuple[_Closed, Parameters]:
    x, u = system.x0, jnp.zeros((system.action_dim,), system.x0.dtype)
    examples = {"dynamics": (x, u), "cost": (x, u, jnp.arange(1)[0]), "final_cost": (x,)}
    converted, args = {}, {}
    for name in _FUNCTIONS:
        converted[name], hoisted = jax.closure_convert(getattr(system, name), *examples[name])
        args[name] = tuple(hoisted)
    theta = Parameters(arrays=tuple(getattr(system, f) for f in _ARRAY_FIELDS), **args)
    return _Closed(base=system, converted=converted), theta


def _effective_actions(system: System, actions: jax.Array, at_low: jax.Array,
                       at_high: jax.Array) -> jax.Array:
    """u with its clamped entries replaced by the bounds, so that the bounds carry their
    cotangents (du*_A = db_A)."""
    if system.action_bounds is None:
        return actions
    low, high = system.action_bounds
    return jnp.where(at_low, low, jnp.where(at_high, high, actions))


def _clamped(system: System, actions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Masks ``[T, m]`` of the controls at their lower / upper bound (to rounding)."""
    if system.action_bounds is None:
        none = jnp.zeros(actions.shape, bool)
        return none, none
    low, high = system.action_bounds
    slack = 100 * jnp.finfo(actions.dtype).eps * (1 + jnp.abs(actions))
    return actions <= low + slack, actions >= high - slack


def _costates(A: jax.Array, cx: jax.Array, final_cx: jax.Array) -> jax.Array:
    """p[T+1, n]: p_T = ∇final_cost, p_t = ∇_x cost_t + A_tᵀ p_{t+1} (p_0 unused)."""

    def back(p_next, inputs):
        A_t, cx_t = inputs
        p = cx_t + A_t.T @ p_next
        return p, p

    _, p = jax.lax.scan(back, final_cx, (A, cx), reverse=True)
    return jnp.concatenate([p, final_cx[None]])


def hessian_solve(system: System, states: jax.Array, actions: jax.Array, free: jax.Array,
                  g: jax.Array) -> jax.Array:
    """λ[T, m] = H_FF⁻¹ g_F (zero on the clamped set), H the exact Hessian of J(u) at
    ``actions``: the LQ problem min 1/2 duᵀ H du − gᵀ du by a Riccati pass (module docstring)."""
    dyn, cost, final = expand(system, states, actions)
    costates = _costates(dyn.A, cost.cx, final.cx)
    curvature = dynamics_curvature(system.dynamics, states, actions)
    # the same Hessians, linear term -g on du only
    lq_cost = dataclasses.replace(cost, cx=jnp.zeros_like(cost.cx), cu=-g,
                                  c0=jnp.zeros_like(cost.c0))
    lq_final = dataclasses.replace(final, cx=jnp.zeros_like(final.cx),
                                   c0=jnp.zeros_like(final.c0))
    solution = riccati_backward_pass(lq_cost, lq_final, dyn, 0.0, free=free,
                                     second_order=lambda t, _: curvature(t, costates[t + 1]))

    def forward(dx, inputs):
        A_t, B_t, K_t, k_t = inputs
        du = k_t + K_t @ dx
        return A_t @ dx + B_t @ du, du

    _, du = jax.lax.scan(forward, jnp.zeros_like(states[0]),
                         (dyn.A, dyn.B, solution.K, solution.k))
    return du


def _is_zero(cotangent) -> bool:
    return all(isinstance(leaf, SymbolicZero) for leaf in
               jax.tree_util.tree_leaves(cotangent, is_leaf=lambda x: isinstance(x, SymbolicZero)))


def _instantiate(cotangent, like):
    return jax.tree_util.tree_map(
        lambda c, x: jnp.zeros_like(x) if isinstance(c, SymbolicZero) else c, cotangent, like,
        is_leaf=lambda x: isinstance(x, SymbolicZero))


def differentiable_solve(system: System, actions: jax.Array, solve: Solve,
                         policy_at: PolicyAt) -> Result:
    """``solve(system, actions)[0]``, reverse-differentiable in θ (module docstring) by
    ``jax.grad`` of ``Result.states``, ``actions``, ``cost`` and ``policy``; the other fields
    (history, status, ...) carry no derivatives, nor does the initial guess ``actions``."""
    closed, theta = _close(system)

    def outputs(theta: Parameters, u: jax.Array, mu, at_low, at_high, with_policy) -> Outputs:
        sys_theta = closed.system(theta)
        u = _effective_actions(sys_theta, u, at_low, at_high)
        states = sys_theta.rollout(u)
        policy = (policy_at(sys_theta, states, u, mu, ~(at_low | at_high)) if with_policy
                  else None)
        return Outputs(states=states, actions=u, cost=sys_theta.trajectory_cost(states, u),
                       policy=policy)

    def directional_cost(theta: Parameters, u, at_low, at_high, direction):
        """∇_u J(u, θ) · direction (for −∂/∂θ [λ · ∇_u J])."""
        sys_theta = closed.system(theta)

        def J(u_):
            u_ = _effective_actions(sys_theta, u_, at_low, at_high)
            return sys_theta.trajectory_cost(sys_theta.rollout(u_), u_)

        return jax.jvp(J, (u,), (direction,))[1]

    @jax.custom_vjp
    def run(theta: Parameters, initial: jax.Array) -> Result:
        return solve(closed.system(theta), initial)[0]

    def run_fwd(theta, initial):
        theta, initial = jax.tree_util.tree_map(lambda p: p.value, (theta, initial))
        result, mu = solve(closed.system(theta), initial)
        at_low, at_high = _clamped(closed.system(theta), result.actions)
        return result, (theta, initial, result.actions, mu, at_low, at_high)

    def run_bwd(residuals, cotangent: Result):
        theta, initial, u, mu, at_low, at_high = residuals
        with_policy = not _is_zero(cotangent.policy)
        wanted = Outputs(states=cotangent.states, actions=cotangent.actions,
                         cost=cotangent.cost, policy=cotangent.policy if with_policy else None)
        zero_initial = jnp.zeros_like(initial)
        if _is_zero(wanted):
            return jax.tree_util.tree_map(jnp.zeros_like, theta), zero_initial
        primal, vjp = jax.vjp(
            lambda th, u_: outputs(th, u_, mu, at_low, at_high, with_policy), theta, u)
        theta_bar, g = vjp(_instantiate(wanted, primal))
        if _is_zero((wanted.states, wanted.actions, wanted.policy)):
            return theta_bar, zero_initial  # envelope theorem: the cost needs no solve
        sys_theta = closed.system(theta)
        free = ~(at_low | at_high)
        lam = hessian_solve(sys_theta, primal.states, primal.actions, free, g * free)
        coupling = jax.grad(directional_cost)(theta, u, at_low, at_high, lam)
        theta_bar = jax.tree_util.tree_map(lambda a, b: a - b, theta_bar, coupling)
        return theta_bar, zero_initial

    run.defvjp(run_fwd, run_bwd, symbolic_zeros=True)
    return run(theta, actions)
