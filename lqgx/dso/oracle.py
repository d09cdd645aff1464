"""Closed-form oracle: a linear-Gaussian system driven by a linear policy (tests, benchmarks).

    x_{t+1} = A x_t + B u_t + w_t,   u_t = K x_t + k + ε_t,   ε ~ N(0, Σ_a),  w ~ N(0, Σ_w),
    x_0 ~ N(x̄_0, Σ_0),   cost_t = (x - r)ᵀQ(x - r) + uᵀRu,   final (x_T - r)ᵀQ_f(x_T - r),

with θ = {"K": [m, n], "k": [m]}. Propagating the state mean ``m_t`` and covariance ``S_t``
(``m' = (A + BK) m + Bk``, ``S' = (A + BK) S (A + BK)ᵀ + B Σ_a Bᵀ + Σ_w``) gives J(θ) exactly, so
``jax.grad``/``jax.hessian`` of ``cost`` are exact references for the DSO estimators, and the Fisher
metric of eq. 74 is ``Σ_t E[[x_t; 1][x_t; 1]ᵀ] ⊗ Σ_a⁻¹`` in closed form.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lqgx.dso.problem import Problem, from_policy
from lqgx.system import System


@dataclasses.dataclass(frozen=True, eq=False)
class LinearGaussianCase:
    """Fields: ``A[n, n]``, ``B[n, m]``, ``Q[n, n]``, ``R[m, m]``, ``Qf[n, n]``, ``ref[n]``,
    ``x0[n]``, ``x0_cov[n, n]``, ``noise_cov[n, n]``, ``action_cov[m, m]``, ``horizon``."""

    A: jax.Array
    B: jax.Array
    Q: jax.Array
    R: jax.Array
    Qf: jax.Array
    ref: jax.Array
    x0: jax.Array
    x0_cov: jax.Array
    noise_cov: jax.Array
    action_cov: jax.Array
    horizon: int

    def running_cost(self, x, u, t):
        d = x - self.ref
        return d @ self.Q @ d + u @ self.R @ u

    def final_cost(self, x):
        d = x - self.ref
        return d @ self.Qf @ d

    @staticmethod
    def policy(theta, x, t):
        """μ(θ, x, t) = K x + k."""
        return theta["K"] @ x + theta["k"]

    def system(self) -> System:
        return System(lambda x, u: self.A @ x + self.B @ u, self.running_cost, self.final_cost,
                      self.x0, self.horizon, x0_cov=self.x0_cov, noise_cov=self.noise_cov,
                      name="linear-gaussian-oracle")

    def problem(self) -> Problem:
        return from_policy(self.system(), self.policy, self.action_cov)

    def state_moments(self, theta):
        """Lists of ``m_t[n]`` and ``S_t[n, n]`` for ``t = 0..T``."""
        K, k = theta["K"], theta["k"]
        F = self.A + self.B @ K
        m, S = self.x0, self.x0_cov
        means, covs = [m], [S]
        for _ in range(self.horizon):
            m = self.A @ m + self.B @ (K @ m + k)
            S = F @ S @ F.T + self.B @ self.action_cov @ self.B.T + self.noise_cov
            means.append(m)
            covs.append(S)
        return means, covs

    def cost(self, theta) -> jax.Array:
        """Exact J(θ)."""
        K, k = theta["K"], theta["k"]
        means, covs = self.state_moments(theta)
        total = jnp.zeros(())
        for m, S in zip(means[:-1], covs[:-1]):
            um = K @ m + k
            cu = K @ S @ K.T + self.action_cov
            d = m - self.ref
            total = total + jnp.trace(self.Q @ S) + d @ self.Q @ d + jnp.trace(self.R @ cu) \
                + um @ self.R @ um
        d = means[-1] - self.ref
        return total + jnp.trace(self.Qf @ covs[-1]) + d @ self.Qf @ d

    def fisher(self, theta) -> jax.Array:
        """Exact eq.-74 metric ``[p, p]`` in ``ravel_pytree`` order (vec(K) row-major, then k).

        ``∇_θ μ = [I ⊗ xᵀ, I]``, so ``E[∇μᵀ Σ_a⁻¹ ∇μ] = [[P ⊗ E[xxᵀ], P ⊗ E[x]], [P ⊗ E[x]ᵀ, P]]``
        with ``P = Σ_a⁻¹``, summed over ``t < T``.
        """
        precision = jnp.linalg.inv(self.action_cov)
        means, covs = self.state_moments(theta)
        total = 0.0
        for m, S in zip(means[:-1], covs[:-1]):
            total = total + jnp.block([
                [jnp.kron(precision, S + jnp.outer(m, m)), jnp.kron(precision, m[:, None])],
                [jnp.kron(precision, m[None, :]), precision]])
        return total


def default_case() -> LinearGaussianCase:
    """A 2-state, 1-action, 5-step case used by the DSO tests and benchmarks."""
    return LinearGaussianCase(
        A=jnp.array([[1.0, 0.1], [-0.2, 0.95]]), B=jnp.array([[0.0], [0.1]]),
        Q=jnp.diag(jnp.array([1.0, 0.2])), R=jnp.array([[0.1]]),
        Qf=jnp.diag(jnp.array([2.0, 0.5])), ref=jnp.array([0.5, 0.0]),
        x0=jnp.array([1.0, -0.5]), x0_cov=0.05 * jnp.eye(2), noise_cov=0.01 * jnp.eye(2),
        action_cov=jnp.array([[0.25]]), horizon=5)


DEFAULT_THETAS = (
    {"K": jnp.array([[-0.5, -0.3]]), "k": jnp.array([0.2])},
    {"K": jnp.array([[0.0, 0.0]]), "k": jnp.array([0.0])},
    {"K": jnp.array([[-2.0, 0.5]]), "k": jnp.array([-1.0])},
)
