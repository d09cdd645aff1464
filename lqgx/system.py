"""The optimal-control problem every solver in lqgx takes.

Notation (used across the package): a state is ``x[n]``, an action ``u[m]``, ``t`` an integer step
index, ``T`` the horizon (number of actions). A trajectory is ``states[T+1, n]``, ``actions[T, m]``.

The problem is to minimize the expected total cost

    J = E[ sum_{t<T} cost(x_t, u_t, t) + final_cost(x_T) ],
    x_{t+1} = dynamics(x_t, u_t) + w_t,   w_t ~ N(0, noise_cov),   x_0 ~ N(x0, x0_cov),
    low <= u_t <= high,
    constraints(x_t, u_t, t) <= 0 (t < T),   final_constraints(x_T) <= 0   (optional).

Costs are minimized throughout (the thesis maximizes reward = -cost).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._checks import positive_int

Dynamics = Callable[[jax.Array, jax.Array], jax.Array]
RunningCost = Callable[[jax.Array, jax.Array, Any], jax.Array]
FinalCost = Callable[[jax.Array], jax.Array]
PathConstraints = Callable[[jax.Array, jax.Array, Any], jax.Array]
FinalConstraints = Callable[[jax.Array], jax.Array]

_ARRAY_FIELDS = ("x0", "x0_cov", "noise_cov", "action_bounds")
_STATIC_FIELDS = ("dynamics", "cost", "final_cost", "horizon", "action_dim", "name",
                  "constraints", "final_constraints")
_CONSTRUCTOR_FIELDS = tuple(f for f in _ARRAY_FIELDS + _STATIC_FIELDS if f != "action_dim")


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False, init=False)
class System:
    """A finite-horizon stochastic optimal-control problem.

    Args:
        dynamics: ``(x[n], u[m]) -> x_next[n]``, the JAX-traceable mean dynamics.
        cost: ``(x[n], u[m], t) -> scalar`` running cost, ``t`` the step index.
        final_cost: ``(x[n]) -> scalar`` terminal cost.
        x0: ``[n]`` initial-state mean.
        horizon: ``T >= 1``, the number of actions.
        x0_cov: ``[n, n]`` initial-state covariance (symmetric PSD); zeros if omitted.
        noise_cov: ``[n, n]`` additive process-noise covariance (symmetric PSD); zeros if omitted.
        action_bounds: ``(low[m], high[m])`` box on the actions, ``low <= high``; None = unbounded.
        name: a label for reports.
        action_dim: ``m``; needed only when it cannot be read off ``action_bounds``.
        constraints: ``(x[n], u[m], t) -> g[k]`` path constraints, feasible where ``g <= 0``
            (elementwise, every step ``t < T``); None = none. Handled by ``lqgx.ilqg``/``ddp``
            (augmented Lagrangian, ``lqgx.optimizers.constrained``).
        final_constraints: ``(x[n]) -> g_T[k_T]``, feasible where ``g_T <= 0``; None = none.

    ``System`` is an immutable JAX pytree: the arrays (``x0``, covariances, bounds) are leaves and
    the callables (constraints included), horizon and name are static, so ``jax.vmap`` over a
    batch of ``x0`` works::

        jax.vmap(lambda x0: lqgx.ilqg(system.replace(x0=x0)))(x0s)

    (``lqgx.solve_batch`` wraps exactly that.)
    """

    dynamics: Dynamics
    cost: RunningCost
    final_cost: FinalCost
    x0: jax.Array
    horizon: int
    x0_cov: jax.Array
    noise_cov: jax.Array
    action_bounds: tuple[jax.Array, jax.Array] | None
    name: str | None
    action_dim: int
    constraints: PathConstraints | None
    final_constraints: FinalConstraints | None

    def __init__(self, dynamics, cost, final_cost, x0, horizon, x0_cov=None, noise_cov=None,
                 action_bounds=None, name=None, *, action_dim=None, constraints=None,
                 final_constraints=None):
        for arg, fn in (("dynamics", dynamics), ("cost", cost), ("final_cost", final_cost)):
            if not callable(fn):
                raise TypeError(f"{arg} must be callable, got {type(fn).__name__}")
        for arg, fn in (("constraints", constraints), ("final_constraints", final_constraints)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{arg} must be callable or None, got {type(fn).__name__}")
        positive_int(horizon, "horizon")
        x0 = _as_float_array(x0, "x0")
        if x0.ndim != 1:
            raise ValueError(f"x0 must have shape [n], got shape {x0.shape}")
        if _concrete(x0) and not np.all(np.isfinite(x0)):
            raise ValueError(f"x0 must be finite, got {np.asarray(x0)}")
        n = x0.shape[0]
        x0_cov = _psd_matrix(x0_cov, n, "x0_cov", x0.dtype)
        noise_cov = _psd_matrix(noise_cov, n, "noise_cov", x0.dtype)
        action_bounds, m_bounds = _bounds(action_bounds, x0.dtype)
        if action_dim is None and m_bounds is None:
            action_dim = _infer_action_dim(dynamics, x0)
        if action_dim is not None and m_bounds is not None and action_dim != m_bounds:
            raise ValueError(f"action_dim={action_dim} but action_bounds have length {m_bounds}")
        m = int(action_dim if action_dim is not None else m_bounds)
        if m < 1:
            raise ValueError(f"action_dim must be >= 1, got {m}")
        values = dict(dynamics=dynamics, cost=cost, final_cost=final_cost, x0=x0,
                      horizon=int(horizon), x0_cov=x0_cov, noise_cov=noise_cov,
                      action_bounds=action_bounds, name=name, action_dim=m,
                      constraints=constraints, final_constraints=final_constraints)
        for key, value in values.items():
            object.__setattr__(self, key, value)
        _probe_callables(self)
        _probe_constraints(self)

    # -- derived attributes --------------------------------------------------------------------
    @property
    def state_dim(self) -> int:
        """n, the state dimension."""
        return self.x0.shape[-1]

    @property
    def has_constraints(self) -> bool:
        """True when the system has path or final constraints."""
        return self.constraints is not None or self.final_constraints is not None

    @property
    def is_stochastic(self) -> bool:
        return bool(np.any(np.asarray(self.noise_cov) != 0) or np.any(np.asarray(self.x0_cov) != 0))

    def replace(self, **changes) -> "System":
        """A copy with some constructor arguments changed (validated again unless traced)."""
        if any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(changes)):
            # Inside jit/vmap: swap leaves without validation (values are abstract).
            for key in changes:
                if key not in _ARRAY_FIELDS:
                    raise ValueError(f"only {_ARRAY_FIELDS} can be traced, got {key}")
            return replace_unchecked(self, **changes)
        kwargs = {f: getattr(self, f) for f in _CONSTRUCTOR_FIELDS}
        kwargs.update(changes)
        return System(**kwargs, action_dim=self.action_dim)

    def bounds_or_inf(self) -> tuple[jax.Array, jax.Array]:
        """``(low[m], high[m])``, with +-inf where the system has no bounds."""
        if self.action_bounds is None:
            inf = jnp.full((self.action_dim,), jnp.inf, dtype=self.x0.dtype)
            return -inf, inf
        return self.action_bounds

    def clip_actions(self, u: jax.Array) -> jax.Array:
        low, high = self.bounds_or_inf()
        return jnp.clip(u, low, high)

    def rollout(self, actions: jax.Array, x0: jax.Array | None = None) -> jax.Array:
        """Mean-dynamics open-loop rollout: ``actions[T, m] -> states[T+1, n]``."""
        x0 = self.x0 if x0 is None else x0

        def step(x, u):
            x_next = self.dynamics(x, u)
            return x_next, x_next

        _, xs = jax.lax.scan(step, x0, actions)
        return jnp.concatenate([x0[None], xs], axis=0)

    def trajectory_cost(self, states: jax.Array, actions: jax.Array) -> jax.Array:
        """``sum_t cost(x_t, u_t, t) + final_cost(x_T)`` of one trajectory."""
        steps = jnp.arange(actions.shape[0])
        running = jax.vmap(self.cost)(states[:-1], actions, steps)
        return jnp.sum(running) + self.final_cost(states[-1])

    # -- pytree protocol -------------------------------------------------------------------------
    def tree_flatten(self):
        leaves = tuple(getattr(self, f) for f in _ARRAY_FIELDS)
        aux = tuple(getattr(self, f) for f in _STATIC_FIELDS)
        return leaves, aux

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        obj = object.__new__(cls)
        for key, value in zip(_ARRAY_FIELDS, leaves):
            object.__setattr__(obj, key, value)
        for key, value in zip(_STATIC_FIELDS, aux):
            object.__setattr__(obj, key, value)
        return obj

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        bounds = "bounded" if self.action_bounds is not None else "unbounded"
        constrained = ", constrained" if self.has_constraints else ""
        return (f"System({label}n={self.state_dim}, m={self.action_dim}, T={self.horizon}, "
                f"{bounds}{constrained})")


def replace_unchecked(system: System, **changes) -> System:
    """A copy of ``system`` with any fields (arrays or static: ``cost``, ``horizon``,
    ``constraints``, ...) changed by name, without validation, so it works on traced arrays and
    on functions that close over them (e.g. inside ``jit``/``vmap``). Prefer ``System.replace``
    outside traces."""
    unknown = sorted(set(changes) - set(_ARRAY_FIELDS) - set(_STATIC_FIELDS))
    if unknown:
        raise ValueError(f"unknown System field(s) {unknown}")
    leaves, aux = system.tree_flatten()
    arrays = dict(zip(_ARRAY_FIELDS, leaves))
    static = dict(zip(_STATIC_FIELDS, aux))
    for key, value in changes.items():
        (arrays if key in _ARRAY_FIELDS else static)[key] = value
    return System.tree_unflatten(tuple(static[f] for f in _STATIC_FIELDS),
                                 tuple(arrays[f] for f in _ARRAY_FIELDS))


def _concrete(array) -> bool:
    """False for traced arrays (inside jit/vmap/grad), whose values cannot be checked."""
    return not isinstance(array, jax.core.Tracer)


def _as_float_array(value, arg: str) -> jax.Array:
    try:
        array = jnp.asarray(value)
    except TypeError as err:
        raise TypeError(f"{arg} must be array-like, got {type(value).__name__}") from err
    if not jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(jnp.result_type(float))
    return array


def _psd_matrix(value, n: int, arg: str, dtype) -> jax.Array:
    if value is None:
        return jnp.zeros((n, n), dtype=dtype)
    matrix = _as_float_array(value, arg).astype(dtype)
    if matrix.shape != (n, n):
        raise ValueError(f"{arg} must have shape [{n}, {n}] (n = len(x0)), got {matrix.shape}")
    if not _concrete(matrix):  # traced (e.g. under jax.grad): values are checked where concrete
        return matrix
    host = np.asarray(matrix, dtype=np.float64)
    if not np.all(np.isfinite(host)):
        raise ValueError(f"{arg} must be finite")
    scale = max(1.0, float(np.max(np.abs(host))))
    if not np.allclose(host, host.T, atol=1e-8 * scale):
        raise ValueError(f"{arg} must be symmetric")
    min_eig = float(np.min(np.linalg.eigvalsh(0.5 * (host + host.T))))
    if min_eig < -1e-8 * scale:
        raise ValueError(f"{arg} must be positive semidefinite, smallest eigenvalue {min_eig:.3g}")
    return matrix


def _bounds(value, dtype):
    if value is None:
        return None, None
    try:
        low, high = value
    except (TypeError, ValueError) as err:
        raise ValueError("action_bounds must be a pair (low[m], high[m])") from err
    low = _as_float_array(low, "action_bounds[0]").astype(dtype)
    high = _as_float_array(high, "action_bounds[1]").astype(dtype)
    if low.ndim != 1 or high.ndim != 1 or low.shape != high.shape:
        raise ValueError(f"action_bounds must be (low[m], high[m]) of equal length, got shapes "
                         f"{low.shape} and {high.shape}")
    if not (_concrete(low) and _concrete(high)):
        return (low, high), low.shape[0]
    if np.any(np.isnan(np.asarray(low))) or np.any(np.isnan(np.asarray(high))):
        raise ValueError("action_bounds must not contain NaN")
    if np.any(np.asarray(low) > np.asarray(high)):
        raise ValueError(f"action_bounds need low <= high, got low={np.asarray(low)} "
                         f"high={np.asarray(high)}")
    return (low, high), low.shape[0]


def _infer_action_dim(dynamics, x0) -> int:
    """Find m by probing ``dynamics`` with actions of increasing size (abstractly, no FLOPs)."""
    for m in range(1, 65):
        try:
            jax.eval_shape(dynamics, x0, jnp.zeros((m,), x0.dtype))
        except Exception:  # noqa: BLE001 - any failure means "not this m"
            continue
        return m
    raise ValueError("could not infer the action dimension from dynamics; pass action_bounds "
                     "or action_dim=m")


def _probe_callables(system: System) -> None:
    """Call each function once, abstractly, and check the shapes it returns."""
    n, m = system.state_dim, system.action_dim
    x = jax.ShapeDtypeStruct((n,), system.x0.dtype)
    u = jax.ShapeDtypeStruct((m,), system.x0.dtype)
    checks = (
        ("dynamics", lambda: jax.eval_shape(system.dynamics, x, u), (n,),
         f"(x[{n}], u[{m}]) -> x_next[{n}]"),
        ("cost", lambda: jax.eval_shape(system.cost, x, u, 0), (),
         f"(x[{n}], u[{m}], t) -> scalar"),
        ("final_cost", lambda: jax.eval_shape(system.final_cost, x), (), f"(x[{n}]) -> scalar"),
    )
    for arg, probe, shape, signature in checks:
        try:
            out = probe()
        except Exception as err:  # noqa: BLE001 - re-raised with the argument named
            raise TypeError(f"{arg} must be a JAX-traceable function {signature}; calling it "
                            f"failed: {type(err).__name__}: {err}") from err
        if not hasattr(out, "shape") or tuple(out.shape) != shape:
            got = getattr(out, "shape", type(out).__name__)
            raise ValueError(f"{arg} must be {signature}; it returned shape {got}")


def _probe_constraints(system: System) -> None:
    """Check ``constraints``/``final_constraints``: traceable (with a traced step ``t``), a 1-D
    non-empty float array, and finite at the initial state with the action closest to zero in
    the bounds (a concrete call, so a NaN at the start is caught here, not mid-solve)."""
    n, m = system.state_dim, system.action_dim
    dtype = system.x0.dtype
    x, u = jax.ShapeDtypeStruct((n,), dtype), jax.ShapeDtypeStruct((m,), dtype)
    t = jax.ShapeDtypeStruct((), jnp.int32)
    u0 = system.clip_actions(jnp.zeros((m,), dtype))
    checks = (
        ("constraints", system.constraints, (x, u, t), (system.x0, u0, 0),
         f"(x[{n}], u[{m}], t) -> g[k]"),
        ("final_constraints", system.final_constraints, (x,), (system.x0,),
         f"(x[{n}]) -> g_T[k_T]"),
    )
    for arg, fn, abstract, concrete, signature in checks:
        if fn is None:
            continue
        try:
            out = jax.eval_shape(fn, *abstract)
        except Exception as err:  # noqa: BLE001 - re-raised with the argument named
            raise TypeError(f"{arg} must be a JAX-traceable function {signature} (t may be "
                            f"traced); calling it failed: {type(err).__name__}: {err}") from err
        if not hasattr(out, "shape") or len(out.shape) != 1 or out.shape[0] < 1:
            got = getattr(out, "shape", type(out).__name__)
            raise ValueError(f"{arg} must be {signature}, a 1-D array with at least one entry; "
                             f"it returned shape {got}")
        if not jnp.issubdtype(out.dtype, jnp.floating):
            raise TypeError(f"{arg} must return a float array, got dtype {out.dtype}")
        value = fn(*concrete)
        if isinstance(value, jax.core.Tracer):  # x0 or the function's data traced: unknowable
            continue
        value = np.asarray(value)
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{arg} returned non-finite values {value} at the initial state x0")
