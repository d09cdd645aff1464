"""A DSO problem: a parametric, time-varying Markov chain with a cost (Todorov 2025, §2).

Notation: a state is ``x[n]``, ``t`` an integer step, ``T`` the horizon, ``θ`` an arbitrary
pytree of parameters. The chain and its cost are

    x_0 ~ P_0,   x_{t+1} ~ P_t(· | x_t, θ),   L_t(x, θ) for t < T,   L_T(x, θ),

and the objective is the time-varying expected total cost (eqs. 9–11)

    J(θ) = E[ Σ_{t<T} L_t(x_t, θ) + L_T(x_T, θ) ] + L_θ(θ),

where ``L_θ`` is an optional state-independent cost (log-prior, behavioural cloning, system
identification — the data-driven blocks of §5.1), counted once.

Estimators only ever need, per transition, a *record* ``z_t`` of the randomness that produced
``x_{t+1}`` (for a policy-driven system: the sampled action), its log-density
``log p(z_t, x_{t+1} | x_t, θ)`` and an unbiased sample of ``L_t(x_t, θ)``. When ``x_{t+1}`` is a
deterministic, θ-free function of ``(x_t, z_t)`` the score of the record equals, in expectation, the
score of the marginal transition density (Fisher's identity), so Theorem 3 and Algorithm 1 stay
unbiased when ``∇ ln P`` is replaced with ``∇ ln p(z | x, θ)`` — the "bottleneck" of Corollary 2.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._checks import positive_int
from lqgx.lq.types import cholesky

Theta = Any  # a pytree of arrays


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """A DSO problem in the time-varying setting (eqs. 9–11). Immutable; hashed by identity so it
    can be a static argument of ``jax.jit``.

    Fields (``theta`` is any pytree, ``x[n]`` a state, ``z`` a transition record pytree):
        initial_state: ``(key) -> x_0[n]``, a draw from ``P_0``.
        sample_transition: ``(theta, x, t, key) -> (x_next[n], z)``, a draw from ``P_t(·|x, θ)``
            together with the record ``z`` of the randomness that produced it.
        log_prob: ``(theta, x, z, x_next, t) -> scalar``, ``ln p(z, x_next | x, θ)`` up to a
            θ-independent constant; differentiated with respect to ``theta``.
        cost: ``(theta, x, z, t) -> scalar``, an unbiased sample of ``L_t(x, θ)`` that is
            conditionally independent of ``x_next`` given ``x`` (Lemma 3 needs this; the policy
            construction uses a separate noise draw stored in ``z``).
        final_cost: ``(theta, x) -> scalar``, ``L_T(x, θ)``.
        mean_transition: ``(theta, x, t) -> x_next[n]``, a deterministic model ``f(x, θ)`` close
            to the mean transition; used only by the baseline of eqs. 57–59.
        horizon: ``T >= 1``.
        state_dim: ``n``.
        parameter_cost: optional ``(theta) -> scalar`` state-independent cost ``L_θ``.
        bottleneck: optional ``(theta, x, z, t) -> (eta[k], chol[k, k])``, the Gaussian bottleneck
            ``ln p(z | x, θ) = ln N(·; eta(x, θ), chol chol^T)`` used by the Fisher metric of
            eq. 74. Without it ``fisher`` falls back to the score outer product of eq. 72.
        name: a label.
    """

    initial_state: Callable[[jax.Array], jax.Array]
    sample_transition: Callable[..., tuple[jax.Array, Any]]
    log_prob: Callable[..., jax.Array]
    cost: Callable[..., jax.Array]
    final_cost: Callable[..., jax.Array]
    mean_transition: Callable[..., jax.Array]
    horizon: int
    state_dim: int
    parameter_cost: Callable[[Theta], jax.Array] | None = None
    bottleneck: Callable[..., tuple[jax.Array, jax.Array]] | None = None
    name: str | None = None

    def __post_init__(self):
        for arg in ("initial_state", "sample_transition", "log_prob", "cost", "final_cost",
                    "mean_transition"):
            if not callable(getattr(self, arg)):
                raise TypeError(f"{arg} must be callable, got {type(getattr(self, arg)).__name__}")
        for arg in ("parameter_cost", "bottleneck"):
            value = getattr(self, arg)
            if value is not None and not callable(value):
                raise TypeError(f"{arg} must be callable or None, got {type(value).__name__}")
        positive_int(self.horizon, "horizon")
        positive_int(self.state_dim, "state_dim")

    def total_parameter_cost(self, theta: Theta) -> jax.Array:
        """``L_θ(θ)`` (zero when the problem has none)."""
        if self.parameter_cost is None:
            leaves = jax.tree_util.tree_leaves(theta)
            dtype = leaves[0].dtype if leaves else jnp.result_type(float)
            return jnp.zeros((), dtype=dtype)
        return jnp.asarray(self.parameter_cost(theta))

    def with_parameter_cost(self, parameter_cost: Callable[[Theta], jax.Array]) -> "Problem":
        """A copy whose state-independent cost is ``parameter_cost`` added to the existing one
        (the composite costs of §5.2: ``L = L_task + L_clone + L_prior + ...``)."""
        old = self.parameter_cost
        if old is None:
            combined = parameter_cost
        else:
            def combined(theta):
                return old(theta) + parameter_cost(theta)
        return dataclasses.replace(self, parameter_cost=combined)


def check_theta(theta, arg: str = "theta"):
    """θ must be a non-empty pytree of floating-point arrays (gradients are taken through it)."""
    leaves = jax.tree_util.tree_leaves(theta)
    if not leaves:
        raise ValueError(f"{arg} must be a non-empty pytree of float arrays, got {theta!r}")
    for leaf in leaves:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"{arg} leaves must be float arrays (jnp.asarray(..., float)), got "
                            f"{type(leaf).__name__} with dtype {dtype}")
    return theta


def from_chain(initial_state, sample_transition, log_prob, cost, final_cost, mean_transition,
               horizon, state_dim, *, parameter_cost=None, bottleneck=None, name=None) -> Problem:
    """The generic constructor: a user-given chain sampler, record log-density and cost.

    See ``Problem`` for the signatures. Nothing is assumed about the chain beyond them.
    """
    return Problem(initial_state=initial_state, sample_transition=sample_transition,
                   log_prob=log_prob, cost=cost, final_cost=final_cost,
                   mean_transition=mean_transition, horizon=int(horizon),
                   state_dim=int(state_dim), parameter_cost=parameter_cost,
                   bottleneck=bottleneck, name=name)


class PolicyStep(NamedTuple):
    """Record of one transition of a policy-driven chain (eq. 96).

    Fields: ``action[m]`` the applied (pre-clip) action ``a = μ(x, θ) + ε``; ``cost_noise[m]`` an
    independent draw ``ε'`` used for the cost sample ``L_t ≈ cost(x, μ(x, θ) + ε', t)``;
    ``process_noise[n]`` the additive state noise ``w``.
    """

    action: jax.Array
    cost_noise: jax.Array
    process_noise: jax.Array


def from_policy(system, policy_fn, action_cov, *, dynamics_fn=None, cost_fn=None,
                final_cost_fn=None, parameter_cost=None, name=None) -> Problem:
    """The DSO chain of a system driven by a parametric policy with action noise (§5, eq. 96):

        x_{t+1} = f(x_t, clip(μ(θ, x_t, t) + ε_t)) + w_t,   ε_t ~ N(0, Σ_a),  w_t ~ N(0, Σ_w),

    with ``f = system.dynamics``, ``Σ_w = system.noise_cov`` and ``x_0 ~ N(system.x0,
    system.x0_cov)``. The policy mean μ is the bottleneck of Corollary 2: the transition score is
    the action score ``∇_θ ln N(a_t; μ(θ, x_t, t), Σ_a)``. The cost ``L_t(x, θ) = E_ε[cost(x,
    clip(μ + ε), t)]`` (the D-MDP cost of the S-MDP ↔ D-MDP equivalence, eqs. 26–27) is sampled with
    an independent draw ``ε'``, so its θ-gradient is a pathwise one.

    Args:
        system: an ``lqgx.System``; supplies dynamics, costs, horizon, initial distribution,
            process noise and action bounds (actions are clipped to the bounds after sampling).
        policy_fn: ``(theta, x[n], t) -> u[m]``, the policy mean μ; ``theta`` any pytree.
        action_cov: Σ_a; a scalar (times I), a vector ``[m]`` (diagonal), ``[m, m]`` or a
            time-varying ``[T, m, m]`` symmetric positive-definite covariance.
        dynamics_fn: optional ``(theta, x[n], u[m]) -> x_next[n]`` replacing ``system.dynamics``
            when physical parameters ``θ_f`` are optimized (mechanism design). The transition
            density then includes ``ln N(x_next; f(x, a, θ), Σ_w)``, so ``system.noise_cov`` must be
            positive definite.
        cost_fn: optional ``(theta, x, u, t) -> scalar`` replacing ``system.cost``.
        final_cost_fn: optional ``(theta, x) -> scalar`` replacing ``system.final_cost``.
        parameter_cost: optional ``(theta) -> scalar`` state-independent cost (§5.1 blocks).
        name: label; defaults to the system name.

    Returns:
        A ``Problem`` with a Gaussian ``bottleneck`` (for the Fisher metric of eq. 74).
    """
    if not callable(policy_fn):
        raise TypeError(f"policy_fn must be callable (theta, x, t) -> u, got "
                        f"{type(policy_fn).__name__}")
    for arg, fn in (("dynamics_fn", dynamics_fn), ("cost_fn", cost_fn),
                    ("final_cost_fn", final_cost_fn), ("parameter_cost", parameter_cost)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{arg} must be callable or None, got {type(fn).__name__}")
    n, m, horizon = system.state_dim, system.action_dim, system.horizon
    dtype = system.x0.dtype
    action_chol = _action_cov_cholesky(action_cov, m, horizon, dtype)  # [T, m, m]
    x0_chol = _chol_or_zeros(system.x0_cov)
    noise_chol = _chol_or_zeros(system.noise_cov)
    has_process_noise = bool(np.any(np.asarray(system.noise_cov) != 0))
    if dynamics_fn is not None:
        eig = np.linalg.eigvalsh(np.asarray(system.noise_cov, dtype=np.float64))
        if eig.min() <= 1e-12 * max(1.0, eig.max()):
            raise ValueError("system.noise_cov must be positive definite when dynamics_fn depends "
                             "on theta: the transition density N(x'; f(x, a, θ), Σ_w) carries the "
                             "θ_f score")
    low, high = system.bounds_or_inf()

    def clip(u):
        return jnp.clip(u, low, high)

    def dynamics(theta, x, u):
        if dynamics_fn is None:
            return system.dynamics(x, clip(u))
        return dynamics_fn(theta, x, clip(u))

    def initial_state(key):
        z = jax.random.normal(key, (n,), dtype=dtype)
        return system.x0 + x0_chol @ z

    def sample_transition(theta, x, t, key):
        white = jax.random.normal(key, (2 * m + n,), dtype=dtype)   # one draw: ε, ε', w
        chol = action_chol[t]
        eps, eps_cost = chol @ white[:m], chol @ white[m:2 * m]
        action = policy_fn(theta, x, t) + eps
        if has_process_noise:
            w = noise_chol @ white[2 * m:]
        else:
            w = jnp.zeros((n,), dtype=dtype)
        x_next = dynamics(theta, x, action) + w
        return x_next, PolicyStep(action=action, cost_noise=eps_cost, process_noise=w)

    def bottleneck(theta, x, z, t):
        mean = policy_fn(theta, x, t)
        if dynamics_fn is None:
            return mean, action_chol[t]
        eta = jnp.concatenate([mean, dynamics(theta, x, z.action)])
        chol = jax.scipy.linalg.block_diag(action_chol[t], noise_chol)
        return eta, chol

    def log_prob(theta, x, z, x_next, t):
        if dynamics_fn is None:
            return _gaussian_log_density(z.action, policy_fn(theta, x, t), action_chol[t])
        value = jnp.concatenate([z.action, x_next])
        eta, chol = bottleneck(theta, x, z, t)
        return _gaussian_log_density(value, eta, chol)

    def cost(theta, x, z, t):
        u = clip(policy_fn(theta, x, t) + z.cost_noise)
        if cost_fn is None:
            return system.cost(x, u, t)
        return cost_fn(theta, x, u, t)

    def final_cost(theta, x):
        if final_cost_fn is None:
            return system.final_cost(x)
        return final_cost_fn(theta, x)

    def mean_transition(theta, x, t):
        return dynamics(theta, x, policy_fn(theta, x, t))

    return Problem(initial_state=initial_state, sample_transition=sample_transition,
                   log_prob=log_prob, cost=cost, final_cost=final_cost,
                   mean_transition=mean_transition, horizon=horizon, state_dim=n,
                   parameter_cost=parameter_cost, bottleneck=bottleneck,
                   name=name if name is not None else system.name)


def _chol_or_zeros(cov: jax.Array) -> jax.Array:
    """Cholesky factor (with the logged jitter of ``lq.cholesky``), exactly zero for a zero cov."""
    if not np.any(np.asarray(cov) != 0):
        return jnp.zeros_like(cov)
    return cholesky(cov)


def _gaussian_log_density(value: jax.Array, mean: jax.Array, chol: jax.Array) -> jax.Array:
    """``ln N(value; mean, chol chol^T)`` without the θ-free normalizer (chol is θ-free)."""
    white = jax.scipy.linalg.solve_triangular(chol, value - mean, lower=True)
    return -0.5 * jnp.sum(white**2)


def _action_cov_cholesky(action_cov, m: int, horizon: int, dtype) -> jax.Array:
    """Validate Σ_a and return its Cholesky factor broadcast to ``[T, m, m]``."""
    try:
        cov = np.asarray(action_cov, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"action_cov must be array-like, got {type(action_cov).__name__}") from err
    if cov.ndim == 0:
        cov = cov * np.eye(m)
    elif cov.ndim == 1:
        if cov.shape != (m,):
            raise ValueError(f"action_cov as a vector must have shape [{m}] (m = action_dim), "
                             f"got {cov.shape}")
        cov = np.diag(cov)
    if cov.shape == (m, m):
        cov = np.broadcast_to(cov, (horizon, m, m))
    if cov.shape != (horizon, m, m):
        raise ValueError(f"action_cov must be a scalar, [{m}], [{m}, {m}] or [{horizon}, {m}, "
                         f"{m}] (T = horizon), got shape {cov.shape}")
    if not np.all(np.isfinite(cov)):
        raise ValueError("action_cov must be finite")
    if not np.allclose(cov, np.swapaxes(cov, -1, -2), atol=1e-10 * max(1.0, np.abs(cov).max())):
        raise ValueError("action_cov must be symmetric")
    eig = np.linalg.eigvalsh(cov)
    if eig.min() <= 0:
        raise ValueError(f"action_cov must be positive definite (the action density is the "
                         f"bottleneck of the score), smallest eigenvalue {eig.min():.3g}")
    return cholesky(jnp.asarray(cov, dtype=dtype))
