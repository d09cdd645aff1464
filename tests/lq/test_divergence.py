"""Closed-form KL, entropy and forward moments against Monte-Carlo estimates (5-sigma)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lqgx import lq


def _random_policy(rng, T, n, m):
    L = rng.normal(size=(T, m, m)) * 0.3
    return lq.LinearGaussianPolicy(K=jnp.asarray(rng.normal(size=(T, m, n)) * 0.5),
                                   k=jnp.asarray(rng.normal(size=(T, m))),
                                   cov=jnp.asarray(L @ np.swapaxes(L, 1, 2) + 0.2 * np.eye(m)))


def _log_density(policy, t, x, u):
    mean = x @ policy.K[t].T + policy.k[t]
    chol = np.linalg.cholesky(np.asarray(policy.cov[t]))
    z = np.linalg.solve(chol, (u - mean).T).T
    m = u.shape[1]
    return -0.5 * np.sum(z**2, 1) - np.sum(np.log(np.diag(chol))) - 0.5 * m * np.log(2 * np.pi)


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(1)
    T, n, m = 3, 3, 2
    p, q = _random_policy(rng, T, n, m), _random_policy(rng, T, n, m)
    mean = jnp.asarray(rng.normal(size=(T, n)))
    L = rng.normal(size=(T, n, n)) * 0.5
    cov = jnp.asarray(L @ np.swapaxes(L, 1, 2) + 0.1 * np.eye(n))
    return p, q, mean, cov


def test_policy_kl_matches_monte_carlo(setup):
    p, q, mean, cov = setup
    closed = np.asarray(lq.policy_kl(p, q, mean, cov))
    rng = np.random.default_rng(2)
    N = 200_000
    for t in range(p.horizon):
        x = rng.multivariate_normal(np.asarray(mean[t]), np.asarray(cov[t]), size=N)
        u = x @ np.asarray(p.K[t]).T + np.asarray(p.k[t]) + rng.multivariate_normal(
            np.zeros(2), np.asarray(p.cov[t]), size=N)
        ratio = _log_density(p, t, x, u) - _log_density(q, t, x, u)
        assert abs(ratio.mean() - closed[t]) < 5 * ratio.std() / np.sqrt(N), t


def test_policy_kl_is_zero_for_identical_policies(setup):
    p, _, mean, cov = setup
    np.testing.assert_allclose(lq.policy_kl(p, p, mean, cov), 0.0, atol=1e-12)


def test_entropy_matches_monte_carlo(setup):
    p, _, _, _ = setup
    rng = np.random.default_rng(3)
    N = 200_000
    closed = np.asarray(lq.policy_entropy(p))
    for t in range(p.horizon):
        u = np.asarray(p.k[t]) + rng.multivariate_normal(np.zeros(2), np.asarray(p.cov[t]), N)
        minus_log = -_log_density(p, t, np.zeros((N, 3)), u)
        assert abs(minus_log.mean() - closed[t]) < 5 * minus_log.std() / np.sqrt(N)


def test_gaussian_kl_matches_policy_kl_for_constant_policies(setup):
    p, q, mean, cov = setup
    p0 = lq.LinearGaussianPolicy(K=jnp.zeros_like(p.K), k=p.k, cov=p.cov)
    q0 = lq.LinearGaussianPolicy(K=jnp.zeros_like(q.K), k=q.k, cov=q.cov)
    np.testing.assert_allclose(lq.gaussian_kl(p.k, p.cov, q.k, q.cov),
                               lq.policy_kl(p0, q0, mean, cov), rtol=1e-12)


def test_propagate_and_expected_cost_match_monte_carlo(setup):
    p, _, _, _ = setup
    rng = np.random.default_rng(4)
    T, n, m = 3, 3, 2
    dyn = lq.LinearDynamics(A=jnp.asarray(np.eye(n) + 0.2 * rng.normal(size=(T, n, n))),
                            B=jnp.asarray(rng.normal(size=(T, n, m))),
                            c=jnp.asarray(rng.normal(size=(T, n))),
                            cov=jnp.broadcast_to(0.05 * jnp.eye(n), (T, n, n)))
    cost = lq.QuadraticCost(Cxx=jnp.broadcast_to(jnp.eye(n), (T, n, n)),
                            Cuu=jnp.broadcast_to(0.5 * jnp.eye(m), (T, m, m)),
                            Cux=jnp.broadcast_to(0.1 * jnp.ones((m, n)), (T, m, n)),
                            cx=jnp.ones((T, n)), cu=jnp.ones((T, m)), c0=jnp.ones(T))
    final = lq.QuadraticFinalCost(Cxx=2 * jnp.eye(n), cx=jnp.zeros(n), c0=jnp.array(0.0))
    x0_mean, x0_cov = jnp.ones(n), 0.1 * jnp.eye(n)
    traj = lq.propagate(dyn, p, x0_mean, x0_cov)
    closed_cost = float(jnp.sum(lq.expected_cost(cost, final, traj)))

    N = 100_000
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = x0_mean + jax.random.multivariate_normal(keys[0], jnp.zeros(n), x0_cov, (N,))
    total = jnp.zeros(N)
    for t in range(T):
        u = jax.vmap(lambda key, xi: p.sample(key, xi, t))(jax.random.split(keys[1], N), x)
        z = jnp.concatenate([x, u], 1)
        C = jnp.block([[cost.Cxx[t], cost.Cux[t].T], [cost.Cux[t], cost.Cuu[t]]])
        total += 0.5 * jnp.einsum("ni,ij,nj->n", z, C, z) + x @ cost.cx[t] + u @ cost.cu[t] \
            + cost.c0[t]
        noise = jax.random.multivariate_normal(jax.random.fold_in(keys[2], t), jnp.zeros(n),
                                               dyn.cov[t], (N,))
        x = x @ dyn.A[t].T + u @ dyn.B[t].T + dyn.c[t] + noise
        keys = keys.at[1].set(jax.random.fold_in(keys[1], t))
    total += jnp.einsum("ni,ij,nj->n", x, final.Cxx, x) * 0.5
    mean_error = np.asarray(x.mean(0) - traj.mean[-1])
    assert np.all(np.abs(mean_error) < 5 * np.sqrt(np.diag(traj.cov[-1]) / N))
    np.testing.assert_allclose(np.cov(np.asarray(x).T), traj.cov[-1], rtol=0.03, atol=0.03)
    assert abs(float(total.mean()) - closed_cost) < 5 * float(total.std()) / np.sqrt(N)
