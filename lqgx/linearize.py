"""Local models along a trajectory: dynamics Jacobians and cost expansions.

``linearize`` gives the first-order dynamics model x' ~= A x + B u + c (absolute coordinates:
c = f(x_bar, u_bar) - A x_bar - B u_bar) with ``cov`` the system's process noise; ``quadratize``
gives the second-order expansion of the running and final costs *in deviations* from the
trajectory (the form the Riccati passes use).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx.lq.types import LinearDynamics, QuadraticCost, QuadraticFinalCost
from lqgx.system import System

_METHODS = ("autodiff", "fd")


def dynamics_jacobians(dynamics, states: jax.Array, actions: jax.Array):
    """``(A[T, n, n], B[T, n, m])`` of ``dynamics`` at each ``(states[t], actions[t])``."""
    jac = jax.vmap(jax.jacfwd(dynamics, argnums=(0, 1)))
    return jac(states, actions)


def expand(system: System, states: jax.Array, actions: jax.Array):
    """The LQ subproblem about a rollout ``states[T+1, n]``, ``actions[T, m]`` in deviation
    coordinates (what the Riccati passes take): ``(LinearDynamics, QuadraticCost,
    QuadraticFinalCost)`` with dx' = A dx + B du (c = 0, cov = 0) and ``quadratize``'s costs."""
    A, B = dynamics_jacobians(system.dynamics, states[:-1], actions)
    cost, final = quadratize(system, states, actions)
    T, n = A.shape[0], A.shape[1]
    dyn = LinearDynamics(A=A, B=B, c=jnp.zeros((T, n), A.dtype), cov=jnp.zeros_like(A))
    return dyn, cost, final


def dynamics_curvature(dynamics, states: jax.Array, actions: jax.Array):
    """DDP's second-order terms at the nominal steps (thesis §2.1.1): a function
    ``(t, w[n]) -> (f_xx [n, n], f_uu [m, m], f_ux [m, n])`` of sum_i w[i] * Hessian(f_i) at
    ``(states[t], actions[t])`` — one Hessian of the scalar w . f instead of n Hessians."""

    def curvature(t, weights):
        contracted = lambda x, u: weights @ dynamics(x, u)  # noqa: E731
        (fxx, _), (fux, fuu) = jax.hessian(contracted, argnums=(0, 1))(states[t], actions[t])
        return fxx, fuu, fux

    return curvature


def linearize(system: System, states: jax.Array, actions: jax.Array,
              method: str = "autodiff") -> LinearDynamics:
    """Linearize the dynamics along ``states[T(+1), n]``, ``actions[T, m]``.

    Args:
        system: the ``System``.
        states: ``[T+1, n]`` or ``[T, n]``; only the first ``T`` rows are used.
        actions: ``[T, m]``.
        method: ``"autodiff"`` (``vmap(jacfwd)`` of the JAX dynamics, e.g. through MJX) or ``"fd"``
            (centered finite differences of the C MuJoCo model, ``mujoco.mjd_transitionFD``;
            only for MuJoCo-backed systems).

    Returns:
        ``LinearDynamics`` with ``A[T,n,n]``, ``B[T,n,m]``, ``c[T,n]`` (absolute coordinates) and
        ``cov[T,n,n]`` = the system's ``noise_cov`` at every step.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    states = jnp.asarray(states)
    actions = jnp.asarray(actions)
    T = actions.shape[0]
    n, m = system.state_dim, system.action_dim
    if actions.ndim != 2 or actions.shape[1] != m:
        raise ValueError(f"actions must have shape [T, {m}], got {actions.shape}")
    if states.ndim != 2 or states.shape[1] != n or states.shape[0] not in (T, T + 1):
        raise ValueError(f"states must have shape [T+1, {n}] or [T, {n}] with T={T}, "
                         f"got {states.shape}")
    states = states[:T]
    if method == "autodiff":
        A, B = dynamics_jacobians(system.dynamics, states, actions)
        f = jax.vmap(system.dynamics)(states, actions)
    else:
        fd = getattr(system.dynamics, "linearize_fd", None)
        if fd is None:
            raise ValueError("method='fd' needs a MuJoCo-backed system (lqgx.systems.make); "
                             f"{system!r} has plain JAX dynamics")
        A, B, f = fd(states, actions)
    c = f - jnp.einsum("tij,tj->ti", A, states) - jnp.einsum("tij,tj->ti", B, actions)
    cov = jnp.broadcast_to(system.noise_cov, (T, n, n))
    return LinearDynamics(A=A, B=B, c=c, cov=cov)


def quadratize(system: System, states: jax.Array, actions: jax.Array):
    """Second-order cost expansion in deviations (dx, du) from the trajectory.

    Returns ``(QuadraticCost, QuadraticFinalCost)``: running terms with ``Cxx[T,n,n]``,
    ``Cuu[T,m,m]``, ``Cux[T,m,n]``, gradients ``cx[T,n]``, ``cu[T,m]`` and values ``c0[T]``;
    the final term expanded at ``states[T]``.
    """
    T = actions.shape[0]
    steps = jnp.arange(T)

    def expand(x, u, t):
        value = system.cost(x, u, t)
        grad_x, grad_u = jax.grad(system.cost, argnums=(0, 1))(x, u, t)
        (hxx, hxu), (hux, huu) = jax.hessian(system.cost, argnums=(0, 1))(x, u, t)
        return value, grad_x, grad_u, hxx, huu, hux

    c0, cx, cu, Cxx, Cuu, Cux = jax.vmap(expand)(states[:T], actions, steps)
    xT = states[T]
    final = QuadraticFinalCost(Cxx=jax.hessian(system.final_cost)(xT),
                               cx=jax.grad(system.final_cost)(xT),
                               c0=system.final_cost(xT))
    running = QuadraticCost(Cxx=Cxx, Cuu=Cuu, Cux=Cux, cx=cx, cu=cu, c0=c0)
    return running, final


def fit_dynamics(states, actions, prior=None, **kwargs) -> LinearDynamics:
    """Fit linear-Gaussian dynamics to sampled trajectories (see ``lqgx.fit``)."""
    from lqgx.fit import fit_dynamics as _fit

    return _fit(states, actions, prior=prior, **kwargs)
