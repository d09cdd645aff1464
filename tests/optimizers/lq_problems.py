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


def _spd(r, d, low, high):
    """A random symmetric positive-definite [d, d] matrix with eigenvalues log-uniform in
    [low, high] (condition number up to high / low)."""
    Q, _ = np.linalg.qr(r.normal(size=(d, d)))
    return (Q * np.exp(r.uniform(np.log(low), np.log(high), d))) @ Q.T


def hard_problem(seed: int, T: int, n: int, m: int):
    """A random update problem for the reliability sweep: ``(LocalProblem, eps, delta)``.

    Drawn to be hard: dynamics that may be unstable (A = I + 0.3 N(0, 1)), process noise, prior
    and initial-state covariances with eigenvalues down to 1e-8 / 1e-6 (near-singular), state
    costs with condition numbers up to 1e6, prior gains of scale up to ~3, eps log-uniform in
    [1e-4, 1e2] (tiny to loose), and an ESAPS entropy bound delta that puts the floor between 2
    nats below and 0.5 nats above q's entropy (above: q violates it, phase I has to lift it).
    """
    r = np.random.default_rng(seed)
    A = np.eye(n) + 0.3 * r.normal(size=(T, n, n))
    B = r.normal(size=(T, n, m))
    noise = np.stack([_spd(r, n, 1e-8, 1e-1) for _ in range(T)])
    Cxx = np.stack([_spd(r, n, 1e-4, 1e2) for _ in range(T)])
    Cuu = np.stack([_spd(r, m, 1e-3, 1e1) for _ in range(T)])
    prior_cov = np.stack([_spd(r, m, 1e-6, 1e1) for _ in range(T)])
    gain_scale = np.exp(r.uniform(np.log(0.01), np.log(3.0)))
    dyn = LinearDynamics(A=jnp.array(A), B=jnp.array(B), c=jnp.array(0.1 * r.normal(size=(T, n))),
                         cov=jnp.array(noise))
    cost = QuadraticCost(Cxx=jnp.array(Cxx), Cuu=jnp.array(Cuu), Cux=jnp.zeros((T, m, n)),
                         cx=jnp.array(r.normal(size=(T, n))), cu=jnp.array(r.normal(size=(T, m))),
                         c0=jnp.zeros(T))
    final = QuadraticFinalCost(Cxx=jnp.array(_spd(r, n, 1e-2, 1e2)), cx=jnp.zeros(n),
                               c0=jnp.array(0.0))
    q = LinearGaussianPolicy(K=jnp.array(gain_scale * r.normal(size=(T, m, n)) / np.sqrt(n)),
                             k=jnp.array(r.normal(size=(T, m))), cov=jnp.array(prior_cov))
    problem = LocalProblem(dynamics=dyn, cost=cost, final=final,
                           x0_mean=jnp.array(r.normal(size=n)),
                           x0_cov=jnp.array(_spd(r, n, 1e-8, 1.0)), prior=q)
    eps = float(np.exp(r.uniform(np.log(1e-4), np.log(1e2))))
    entropy_q = 0.5 * np.linalg.slogdet(prior_cov)[1] + 0.5 * m * np.log(2 * np.pi * np.e)
    delta = jnp.array(-(entropy_q - r.uniform(-0.5, 2.0)))
    return problem, eps, delta


def hard_problems(seeds, T: int, n: int, m: int):
    """``hard_problem`` for each seed, stacked along a leading axis (for ``jax.vmap``)."""
    drawn = [hard_problem(int(s), T, n, m) for s in seeds]
    stack = lambda *xs: jnp.stack([jnp.asarray(x) for x in xs])  # noqa: E731
    problems = jax.tree_util.tree_map(stack, *[d[0] for d in drawn])
    return problems, jnp.array([d[1] for d in drawn]), jnp.stack([d[2] for d in drawn])


def tracking_costs(goal, Q, R, Qf):
    """``(cost, final_cost)`` of an LQ tracking problem: 1/2 (x - goal)^T Q (x - goal)
    + 1/2 u^T R u per step and 1/2 (x - goal)^T Qf (x - goal) at the end."""
    goal, Q, R, Qf = (jnp.asarray(a) for a in (goal, Q, R, Qf))

    def cost(x, u, t):
        d = x - goal
        return 0.5 * d @ Q @ d + 0.5 * u @ R @ u

    def final_cost(x):
        d = x - goal
        return 0.5 * d @ Qf @ d

    return cost, final_cost
