"""Sample-based linear-Gaussian dynamics fitting (lqgx.fit) against known linear-Gaussian systems."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
from lqgx.fit import DynamicsPrior, fit_dynamics

N_STATE, N_ACTION, HORIZON = 3, 2, 4


def _true_system(seed=0):
    rng = np.random.default_rng(seed)
    A = np.stack([np.eye(N_STATE) + 0.1 * rng.standard_normal((N_STATE, N_STATE))
                  for _ in range(HORIZON)])
    B = rng.standard_normal((HORIZON, N_STATE, N_ACTION))
    c = rng.standard_normal((HORIZON, N_STATE))
    L = 0.1 * np.tril(rng.standard_normal((N_STATE, N_STATE))) + 0.1 * np.eye(N_STATE)
    cov = np.stack([L @ L.T * (1 + t) for t in range(HORIZON)])
    return A, B, c, cov


def _sample(true, N, seed=1, dtype=np.float64):
    A, B, c, cov = true
    rng = np.random.default_rng(seed)
    x = np.zeros((N, HORIZON + 1, N_STATE))
    u = rng.standard_normal((N, HORIZON, N_ACTION))
    x[:, 0] = rng.standard_normal((N, N_STATE))
    for t in range(HORIZON):
        noise = rng.multivariate_normal(np.zeros(N_STATE), cov[t], size=N)
        x[:, t + 1] = x[:, t] @ A[t].T + u[:, t] @ B[t].T + c[t] + noise
    return jnp.asarray(x, dtype), jnp.asarray(u, dtype)


def test_fit_recovers_linear_gaussian_dynamics_within_sampling_error():
    true = _true_system()
    x, u = _sample(true, N=4000)
    fit = fit_dynamics(x, u)
    A, B, c, cov = true
    # Standard error of the coefficients ~ noise std / (input std sqrt(N)) ~ 0.3 / 63 ~ 5e-3.
    np.testing.assert_allclose(fit.A, A, atol=0.03)
    np.testing.assert_allclose(fit.B, B, atol=0.03)
    np.testing.assert_allclose(fit.c, c, atol=0.03)
    # Covariance: relative error ~ sqrt(2 / N) ~ 2 %.
    np.testing.assert_allclose(fit.cov, cov, atol=0.1 * np.abs(cov).max())
    assert fit.A.shape == (HORIZON, N_STATE, N_STATE)
    assert fit.B.shape == (HORIZON, N_STATE, N_ACTION)
    assert fit.cov.shape == (HORIZON, N_STATE, N_STATE)


def test_fit_without_prior_is_least_squares():
    true = _true_system()
    x, u = _sample(true, N=50)
    fit = fit_dynamics(x, u, prior="none", reg=0.0)
    t = 2
    design = np.concatenate([np.asarray(x[:, t]), np.asarray(u[:, t]), np.ones((50, 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.asarray(x[:, t + 1]), rcond=None)
    np.testing.assert_allclose(fit.A[t], coef[:N_STATE].T, atol=1e-9)
    np.testing.assert_allclose(fit.B[t], coef[N_STATE:N_STATE + N_ACTION].T, atol=1e-9)
    np.testing.assert_allclose(fit.c[t], coef[-1], atol=1e-9)
    residual = np.asarray(x[:, t + 1]) - design @ coef
    np.testing.assert_allclose(fit.cov[t], residual.T @ residual / 50, atol=1e-9)


def test_prior_keeps_fit_well_posed_with_fewer_samples_than_inputs():
    true = _true_system()
    N = 3  # < n + m = 5: per-step least squares is singular
    x, u = _sample(true, N=N)
    with pytest.raises(ValueError, match="prior='none'"):
        fit_dynamics(x, u, prior="none")
    fit = fit_dynamics(x, u)
    for field in (fit.A, fit.B, fit.c, fit.cov):
        assert np.all(np.isfinite(np.asarray(field)))
    eig = np.linalg.eigvalsh(np.asarray(fit.cov))
    assert np.all(eig > 0)
    # A strong prior fitted on plenty of data from the same (time-invariant in A, B) system
    # pulls the few-sample fit to the truth.
    A, B, c, cov = true
    A_const = (A[0], B[0], c[0], cov[0])
    many = _sample(tuple(np.broadcast_to(a, (HORIZON,) + a.shape) for a in A_const), N=2000,
                   seed=3)
    prior = DynamicsPrior.fit(*many, strength=1000.0)
    few = _sample(tuple(np.broadcast_to(a, (HORIZON,) + a.shape) for a in A_const), N=N, seed=4)
    fit = fit_dynamics(*few, prior=prior)
    np.testing.assert_allclose(fit.A, np.broadcast_to(A[0], fit.A.shape), atol=0.1)
    np.testing.assert_allclose(fit.B, np.broadcast_to(B[0], fit.B.shape), atol=0.1)


def test_fit_works_in_float32_and_is_jittable():
    true = _true_system()
    x, u = _sample(true, N=2000, dtype=np.float32)
    fit = jax.jit(fit_dynamics)(x, u)
    assert fit.A.dtype == jnp.float32
    np.testing.assert_allclose(fit.A, true[0], atol=0.05)
    np.testing.assert_allclose(fit.B, true[1], atol=0.05)


def test_public_entry_point_delegates_to_fit():
    x, u = _sample(_true_system(), N=20)
    a = lqgx.fit_dynamics(x, u)
    b = fit_dynamics(x, u)
    np.testing.assert_allclose(a.A, b.A)


@pytest.mark.parametrize("states_shape, actions_shape, match", [
    ((5, 4, 3), (5, 3), "actions must have shape"),
    ((5, 3), (5, 2, 2), "states must have shape"),
    ((5, 4, 3), (6, 3, 2), "actions must have shape"),
    ((5, 1, 3), (5, 0, 2), "at least two time steps"),
])
def test_bad_shapes_raise_value_error_naming_the_argument(states_shape, actions_shape, match):
    with pytest.raises(ValueError, match=match):
        fit_dynamics(jnp.zeros(states_shape), jnp.zeros(actions_shape))


def test_bad_prior_raises_value_error():
    x, u = _sample(_true_system(), N=10)
    with pytest.raises(ValueError, match="prior"):
        fit_dynamics(x, u, prior="gmm")
    wrong = DynamicsPrior.fit(x[..., :2], u)
    with pytest.raises(ValueError, match="prior must be over"):
        fit_dynamics(x, u, prior=wrong)
