"""Time-indexed linear-quadratic-Gaussian objects (all arrays have a leading time axis ``T``).

Notation: ``x[n]`` state, ``u[m]`` action. A time-varying linear-Gaussian (TVLG) model is

    x_{t+1} ~ N(A_t x_t + B_t u_t + c_t, cov_t),                     (LinearDynamics)
    u_t     ~ N(K_t x_t + k_t, cov_t),                               (LinearGaussianPolicy)
    cost_t(x, u) ~= 1/2 [x;u]^T [[Cxx, Cxu],[Cux, Cuu]] [x;u] + [cx;cu]^T [x;u] + c0   (QuadraticCost)

Quadratic expansions are stored about the origin of the *deviation* coordinates the caller chose
(iLQG uses deviations from the nominal trajectory, GPS-family solvers absolute coordinates).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx._pytree import pytree_dataclass


@pytree_dataclass
class LinearDynamics:
    """x_{t+1} ~ N(A[t] x + B[t] u + c[t], cov[t]).

    Fields: ``A[T, n, n]``, ``B[T, n, m]``, ``c[T, n]``, ``cov[T, n, n]``.
    """

    A: jax.Array
    B: jax.Array
    c: jax.Array
    cov: jax.Array

    @property
    def horizon(self) -> int:
        return self.A.shape[0]


@pytree_dataclass
class QuadraticCost:
    """Second-order expansion of the running cost at each step.

    Fields: ``Cxx[T, n, n]``, ``Cuu[T, m, m]``, ``Cux[T, m, n]``, ``cx[T, n]``, ``cu[T, m]``,
    ``c0[T]``.
    """

    Cxx: jax.Array
    Cuu: jax.Array
    Cux: jax.Array
    cx: jax.Array
    cu: jax.Array
    c0: jax.Array


@pytree_dataclass
class QuadraticFinalCost:
    """Terminal cost 1/2 x^T Cxx x + cx^T x + c0. Fields: ``Cxx[n, n]``, ``cx[n]``, ``c0[]``."""

    Cxx: jax.Array
    cx: jax.Array
    c0: jax.Array


@pytree_dataclass
class QuadraticValue:
    """Value function V_t(x) = 1/2 x^T Vxx x + vx^T x + v0 for t = 0..T.

    Fields: ``Vxx[T+1, n, n]``, ``vx[T+1, n]``, ``v0[T+1]``.
    """

    Vxx: jax.Array
    vx: jax.Array
    v0: jax.Array


@pytree_dataclass
class GaussianTrajectory:
    """Marginal state distributions N(mean[t], cov[t]) for t = 0..T and the joint action moments.

    Fields: ``mean[T+1, n]``, ``cov[T+1, n, n]``, ``action_mean[T, m]``, ``action_cov[T, m, m]``,
    ``cross_cov[T, m, n]`` (Cov(u_t, x_t)).
    """

    mean: jax.Array
    cov: jax.Array
    action_mean: jax.Array
    action_cov: jax.Array
    cross_cov: jax.Array


@pytree_dataclass
class LinearGaussianPolicy:
    """Time-varying linear-Gaussian policy u_t ~ N(k[t] + K[t] @ x, cov[t]).

    Fields: ``K[T, m, n]`` feedback gains, ``k[T, m]`` offsets, ``cov[T, m, m]`` covariances.
    Offsets are in absolute coordinates; ``LinearGaussianPolicy.around`` builds one from a
    feedback law about a nominal trajectory, ``u = u_bar + K (x - x_bar)``.
    """

    K: jax.Array
    k: jax.Array
    cov: jax.Array

    @staticmethod
    def around(K: jax.Array, states: jax.Array, actions: jax.Array,
               cov: jax.Array) -> "LinearGaussianPolicy":
        """Policy ``u ~ N(actions[t] + K[t] (x - states[t]), cov[t])``."""
        k = actions - jnp.einsum("tmn,tn->tm", K, states[: actions.shape[0]])
        return LinearGaussianPolicy(K=K, k=k, cov=cov)

    @property
    def horizon(self) -> int:
        return self.K.shape[0]

    def mean(self, x: jax.Array, t) -> jax.Array:
        """Mean action ``k[t] + K[t] @ x`` (``x[n]`` -> ``u[m]``)."""
        return self.k[t] + self.K[t] @ x

    def sample(self, key: jax.Array, x: jax.Array, t) -> jax.Array:
        """One draw ``u ~ N(mean(x, t), cov[t])``."""
        chol = cholesky(self.cov[t])
        noise = jax.random.normal(key, self.k.shape[-1:], dtype=self.k.dtype)
        return self.mean(x, t) + chol @ noise

    def act(self, obs, t: int):
        """Mean action for a gymnasium-style observation (numpy in, numpy out)."""
        import numpy as np

        t = min(int(t), self.horizon - 1)
        return np.asarray(self.mean(jnp.asarray(obs, dtype=self.k.dtype), t))


def symmetrize(matrix: jax.Array) -> jax.Array:
    """(M + M^T) / 2 over the last two axes."""
    return 0.5 * (matrix + jnp.swapaxes(matrix, -1, -2))


def jitter_for(dtype) -> float:
    """Relative diagonal jitter added before Cholesky of a covariance (logged in docs)."""
    return 1e-12 if jnp.finfo(dtype).bits == 64 else 1e-6


def cholesky(cov: jax.Array) -> jax.Array:
    """Lower Cholesky factor of a covariance with a relative diagonal jitter.

    The jitter is ``jitter_for(dtype) * (1 + max|diag|)``: 1e-12 in float64, 1e-6 in float32,
    enough to factor a PSD matrix that is singular in exact arithmetic. Never inverts ``cov``.
    """
    scale = 1.0 + jnp.max(jnp.abs(jnp.diagonal(cov, axis1=-2, axis2=-1)), axis=-1)
    eye = jnp.eye(cov.shape[-1], dtype=cov.dtype)
    jitter = jitter_for(cov.dtype) * scale[..., None, None] * eye
    return jnp.linalg.cholesky(symmetrize(cov) + jitter)


def cholesky_log_det(chol: jax.Array) -> jax.Array:
    """log|M| = 2 sum_i log L_ii from M's lower Cholesky factor L (batched over leading axes)."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)


def cholesky_inverse(chol: jax.Array) -> jax.Array:
    """M^-1 from the lower Cholesky factor of M (batched over leading axes), symmetrized."""
    eye = jnp.broadcast_to(jnp.eye(chol.shape[-1], dtype=chol.dtype), chol.shape)
    solve = lambda c, b: jax.scipy.linalg.cho_solve((c, True), b)  # noqa: E731
    for _ in range(chol.ndim - 2):
        solve = jax.vmap(solve)
    return symmetrize(solve(chol, eye))
