"""Closed-form state/state-action Gaussian algebra (lqgx.lq.state_action)."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import multivariate_normal

from lqgx.lq import LinearGaussianPolicy, gaussian_kl
from lqgx.lq.quadratic import negative_log_policy
from lqgx.lq.state_action import (joint_state_action, negative_log_gaussian, state_action_kl,
                                  state_distribution_from_values)


def _spd(rng, T, d, scale=1.0):
    L = rng.normal(size=(T, d, d))
    return jnp.array(scale * (L @ np.swapaxes(L, -1, -2) + d * np.eye(d)))


def _policy(rng, T, n, m):
    return LinearGaussianPolicy(K=jnp.array(rng.normal(size=(T, m, n))),
                                k=jnp.array(rng.normal(size=(T, m))), cov=_spd(rng, T, m, 0.3))


def test_state_action_kl_equals_kl_of_the_joint_gaussians():
    rng = np.random.default_rng(0)
    T, n, m = 4, 3, 2
    p, q = _policy(rng, T, n, m), _policy(rng, T, n, m)
    pm, qm = jnp.array(rng.normal(size=(T, n))), jnp.array(rng.normal(size=(T, n)))
    pc, qc = _spd(rng, T, n), _spd(rng, T, n)
    split = state_action_kl(p, pm, pc, q, qm, qc)
    jp, jq = joint_state_action(p, pm, pc), joint_state_action(q, qm, qc)
    np.testing.assert_allclose(split, gaussian_kl(jp[0], jp[1], jq[0], jq[1]), rtol=1e-8)
    assert np.all(np.asarray(split) > 0)


def test_negative_log_densities_match_scipy():
    rng = np.random.default_rng(1)
    T, n, m = 3, 3, 2
    mean, cov = jnp.array(rng.normal(size=(T, n))), _spd(rng, T, n)
    pol = _policy(rng, T, n, m)
    nlg, nlp = negative_log_gaussian(mean, cov, m), negative_log_policy(pol)
    x, u = jnp.array(rng.normal(size=(T, n))), jnp.array(rng.normal(size=(T, m)))
    for t in range(T):
        z = jnp.concatenate([x[t], u[t]])
        for c, ref in ((nlg, -multivariate_normal.logpdf(x[t], mean[t], cov[t])),
                       (nlp, -multivariate_normal.logpdf(u[t], pol.K[t] @ x[t] + pol.k[t],
                                                        pol.cov[t]))):
            C = jnp.block([[c.Cxx[t], c.Cux[t].T], [c.Cux[t], c.Cuu[t]]])
            value = 0.5 * z @ C @ z + c.cx[t] @ x[t] + c.cu[t] @ u[t] + c.c0[t]
            np.testing.assert_allclose(value, ref, rtol=1e-10)


def test_coordinate_descent_state_distribution_inverts_the_value_relation():
    # V_t = V^_t + alpha (log mu + 1) for mu = N(m, P): eq. 4.9 must return (m, P).
    rng = np.random.default_rng(2)
    n, alpha = 3, 0.7
    m, P = jnp.array(rng.normal(size=n)), _spd(rng, 1, n)[0]
    Vhat_xx, vhat = _spd(rng, 1, n)[0], jnp.array(rng.normal(size=n))
    Pinv = jnp.linalg.inv(P)
    Vxx, vx = Vhat_xx - alpha * Pinv, vhat + alpha * Pinv @ m
    mean, cov, ok = state_distribution_from_values(Vxx, vx, Vhat_xx, vhat, alpha)
    assert bool(ok)
    np.testing.assert_allclose(mean, m, rtol=1e-9)
    np.testing.assert_allclose(cov, P, rtol=1e-9)
    _, _, bad = state_distribution_from_values(Vhat_xx + Pinv, vx, Vhat_xx, vhat, alpha)
    assert not bool(bad)
