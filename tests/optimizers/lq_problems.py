"""Small exact linear-Gaussian problems shared by the GPS/SAPS/ESAPS tests."""

import jax
import jax.numpy as jnp
import numpy as np

from lqgx.lq import (LinearDynamics, LinearGaussianPolicy, QuadraticCost, QuadraticFinalCost)
from lqgx.optimizers.kl_update import LocalProblem


def random_problem(T=5, n=2, m=1, seed=0) -> LocalProblem:
    """A random stable-ish TVLG model, PD quadratic costs and a random prior policy q."""
    r = np.random.default_rng(seed)
    A = np.eye(n) + 0.1 * r.normal(size=(T, n, n))
    B = 0.5 * r.normal(size=(T, n, m))
    dyn = LinearDynamics(A=jnp.array(A), B=jnp.array(B), c=jnp.array(0.1 * r.normal(size=(T, n))),
                         cov=jnp.broadcast_to(0.01 * jnp.eye(n), (T, n, n)))
    cost = QuadraticCost(Cxx=jnp.broadcast_to(jnp.eye(n), (T, n, n)),
                         Cuu=jnp.broadcast_to(0.1 * jnp.eye(m), (T, m, m)),
                         Cux=jnp.zeros((T, m, n)), cx=jnp.array(r.normal(size=(T, n))),
                         cu=jnp.zeros((T, m)), c0=jnp.zeros(T))
    final = QuadraticFinalCost(Cxx=10 * jnp.eye(n), cx=jnp.zeros(n), c0=jnp.array(0.0))
    q = LinearGaussianPolicy(K=jnp.array(0.1 * r.normal(size=(T, m, n))),
                             k=jnp.array(0.1 * r.normal(size=(T, m))),
                             cov=jnp.broadcast_to(jnp.eye(m), (T, m, m)))
    return LocalProblem(dynamics=dyn, cost=cost, final=final,
                        x0_mean=jnp.array(r.normal(size=n)), x0_cov=0.01 * jnp.eye(n), prior=q)


def simulate(problem: LocalProblem, policy: LinearGaussianPolicy, key, samples: int):
    """Monte-Carlo states ``[N, T, n]`` and actions ``[N, T, m]`` of ``policy`` on the model."""
    dyn = problem.dynamics
    T, n, m = dyn.B.shape
    k0, ku, kw = jax.random.split(key, 3)
    x0 = jax.random.multivariate_normal(k0, problem.x0_mean, problem.x0_cov, (samples,))
    eu = jax.random.normal(ku, (T, samples, m))
    ew = jax.random.normal(kw, (T, samples, n))

    def step(x, inp):
        t, e_u, e_w = inp
        u = x @ policy.K[t].T + policy.k[t] + e_u @ jnp.linalg.cholesky(policy.cov[t]).T
        x_next = (x @ dyn.A[t].T + u @ dyn.B[t].T + dyn.c[t]
                  + e_w @ jnp.linalg.cholesky(dyn.cov[t]).T)
        return x_next, (x, u)

    _, (xs, us) = jax.lax.scan(step, x0, (jnp.arange(T), eu, ew))
    return jnp.swapaxes(xs, 0, 1), jnp.swapaxes(us, 0, 1)


def log_policy(policy, t, x, u):
    mean = x @ policy.K[t].T + policy.k[t]
    return jax.scipy.stats.multivariate_normal.logpdf(u, mean, policy.cov[t])
