"""Fitting time-varying linear-Gaussian dynamics to sampled trajectories.

The GPS "unknown dynamics" setting (thesis §3.4: "linearization is done by sampling full
trajectories from the non-linear system under the current policy and fitting linear-Gaussian
dynamics at each time step"). Given ``N`` trajectories ``states[N, T+1, n]``, ``actions[N, T, m]``
we fit, independently at each step ``t``,

    x_{t+1} ~ N(A_t x_t + B_t u_t + c_t, cov_t),

by conditioning a joint Gaussian over ``z = (x_t, u_t, x_{t+1})`` (dimension ``d = 2n + m``) whose
mean and covariance are the normal-inverse-Wishart (NIW) posterior given the ``N`` samples at
``t``. With empirical mean ``z_bar`` and maximum-likelihood covariance ``S`` (divided by ``N``),
and a prior ``NIW(mu0, Phi, kappa, nu)``,

    mean = (kappa mu0 + N z_bar) / (kappa + N),
    cov  = (Phi + N S + (N kappa / (N + kappa)) (z_bar - mu0)(z_bar - mu0)^T) / (N + nu).

Then ``[A B] = cov_{y,xu} cov_{xu,xu}^{-1}`` (a Cholesky solve, never an explicit inverse),
``c = mean_y - [A B] mean_xu`` and ``cov_t = cov_{yy} - [A B] cov_{xu,y}``. Without a prior this is
ordinary least squares with the residual covariance (divided by ``N``).

**Global prior (our choice): a single Gaussian**, not a GMM. ``DynamicsPrior.fit`` pools all
``N * T`` transition tuples ``(x_t, u_t, x_{t+1})`` of the data (or of earlier iterations' data),
takes their mean ``mu0`` and covariance ``Sigma0``, and sets ``Phi = strength * Sigma0``,
``kappa = nu = strength`` (default ``strength = 1``: the prior is worth one sample per step). The
pooled covariance has full rank whenever the pooled data spread in every direction, so the
posterior is positive definite even with ``N < n + m`` samples per step, where least squares alone
is singular. A single Gaussian is exact for linear-Gaussian systems and a conservative pooling of
the time steps of a nonlinear trajectory; a GMM prior (Levine & Abbeel 2014) would sharpen the
prior on strongly multimodal data and can be passed as ``mu0/Phi`` per step if needed.

A ridge ``reg * I`` (default ``1e-6``) is added to ``cov_{xu,xu}`` before the solve (logged as the
only jitter in this module).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from lqgx._pytree import pytree_dataclass
from lqgx.lq.types import LinearDynamics, symmetrize


@pytree_dataclass
class DynamicsPrior:
    """Normal-inverse-Wishart prior over the joint ``z = (x_t, u_t, x_{t+1})``.

    Fields: ``mean[d]`` (mu0), ``scatter[d, d]`` (Phi), ``kappa`` (mean pseudo-count), ``nu``
    (covariance pseudo-count), with ``d = 2n + m``.
    """

    mean: jax.Array
    scatter: jax.Array
    kappa: jax.Array
    nu: jax.Array

    @staticmethod
    def fit(states: jax.Array, actions: jax.Array, strength: float = 1.0) -> "DynamicsPrior":
        """The global single-Gaussian prior from all transitions of ``states[N, T+1, n]``,
        ``actions[N, T, m]``: ``Phi = strength * Sigma0``, ``kappa = nu = strength``."""
        states, actions = _check(states, actions)
        if not strength > 0:
            raise ValueError(f"strength must be > 0, got {strength!r}")
        z = _tuples(states, actions).reshape(-1, _dim(states, actions))
        mean = jnp.mean(z, axis=0)
        dz = z - mean
        cov = symmetrize(dz.T @ dz / z.shape[0])
        s = jnp.asarray(strength, dtype=states.dtype)
        return DynamicsPrior(mean=mean, scatter=s * cov, kappa=s, nu=s)


def _check(states, actions):
    states = jnp.asarray(states)
    actions = jnp.asarray(actions)
    if states.ndim != 3:
        raise ValueError(f"states must have shape [N, T+1, n], got {states.shape}")
    if actions.ndim != 3:
        raise ValueError(f"actions must have shape [N, T, m], got {actions.shape}")
    N, T1, n = states.shape
    if actions.shape[:2] != (N, T1 - 1):
        raise ValueError(f"actions must have shape [N={N}, T={T1 - 1}, m] to match states "
                         f"[N, T+1, n] = {states.shape}, got {actions.shape}")
    if T1 < 2:
        raise ValueError(f"states need at least two time steps (T+1 >= 2), got {states.shape}")
    dtype = jnp.result_type(states.dtype, actions.dtype, float)
    return states.astype(dtype), actions.astype(dtype)


def _dim(states, actions):
    return 2 * states.shape[-1] + actions.shape[-1]


def _tuples(states, actions):
    """``z[N, T, 2n+m] = (x_t, u_t, x_{t+1})``."""
    return jnp.concatenate([states[:, :-1], actions, states[:, 1:]], axis=-1)


def _condition(mean, cov, n, m, reg):
    """Linear-Gaussian conditional of ``y = z[n+m:]`` on ``xu = z[:n+m]``."""
    k = n + m
    s_xx = cov[:k, :k] + reg * jnp.eye(k, dtype=cov.dtype)
    s_xy = cov[:k, k:]
    chol = jnp.linalg.cholesky(symmetrize(s_xx))
    gain = jsl.cho_solve((chol, True), s_xy).T          # [n, n+m] = S_yx S_xx^-1
    c = mean[k:] - gain @ mean[:k]
    noise = symmetrize(cov[k:, k:] - gain @ s_xy)
    return gain[:, :n], gain[:, n:], c, noise


def fit_dynamics(states, actions, prior=None, *, strength: float = 1.0,
                 reg: float = 1e-6) -> LinearDynamics:
    """Fit ``x_{t+1} ~ N(A_t x_t + B_t u_t + c_t, cov_t)`` at every step (see the module doc).

    Args:
        states: ``[N, T+1, n]`` sampled state trajectories.
        actions: ``[N, T, m]`` the actions taken.
        prior: ``None`` (default) — the global single-Gaussian prior fitted on these samples
            (``DynamicsPrior.fit(states, actions, strength)``); a ``DynamicsPrior`` (e.g. fitted on
            earlier iterations' samples); or ``"none"`` for plain least squares (needs
            ``N > n + m``).
        strength: pseudo-count of the default prior (ignored when ``prior`` is given).
        reg: ridge added to the ``(x, u)`` covariance before the solve.

    Returns:
        ``LinearDynamics`` with ``A[T, n, n]``, ``B[T, n, m]``, ``c[T, n]``, ``cov[T, n, n]``.
    """
    states, actions = _check(states, actions)
    N, _, n = states.shape
    m = actions.shape[-1]
    d = 2 * n + m
    if not reg >= 0:
        raise ValueError(f"reg must be >= 0, got {reg!r}")
    if isinstance(prior, str):
        if prior != "none":
            raise ValueError(f"prior must be None, a DynamicsPrior or 'none', got {prior!r}")
        if N <= n + m:
            raise ValueError(f"prior='none' needs more samples than n + m = {n + m} per step, "
                             f"got N = {N}; use the default prior")
        prior = DynamicsPrior(mean=jnp.zeros(d, states.dtype),
                              scatter=jnp.zeros((d, d), states.dtype),
                              kappa=jnp.zeros((), states.dtype), nu=jnp.zeros((), states.dtype))
    elif prior is None:
        prior = DynamicsPrior.fit(states, actions, strength)
    elif not isinstance(prior, DynamicsPrior):
        raise ValueError(f"prior must be None, a DynamicsPrior or 'none', got "
                         f"{type(prior).__name__}")
    elif prior.mean.shape != (d,) or prior.scatter.shape != (d, d):
        raise ValueError(f"prior must be over (x, u, x') of dimension {d}, got mean "
                         f"{prior.mean.shape} and scatter {prior.scatter.shape}")

    z = jnp.swapaxes(_tuples(states, actions), 0, 1)   # [T, N, d]
    dtype = states.dtype

    def per_step(zt):
        z_bar = jnp.mean(zt, axis=0)
        dz = zt - z_bar
        scatter = dz.T @ dz
        kappa, nu = prior.kappa.astype(dtype), prior.nu.astype(dtype)
        mean = (kappa * prior.mean + N * z_bar) / (kappa + N)
        dm = z_bar - prior.mean
        cov = (prior.scatter + scatter + (N * kappa / (N + kappa)) * jnp.outer(dm, dm)) / (N + nu)
        return _condition(mean, symmetrize(cov), n, m, jnp.asarray(reg, dtype))

    A, B, c, cov = jax.vmap(per_step)(z)
    return LinearDynamics(A=A, B=B, c=c, cov=cov)
