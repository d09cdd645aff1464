"""Sample-based linear-Gaussian dynamics fitting (lqgx.fit) against known linear-Gaussian systems."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
from lqgx.fit import (DynamicsPrior, GaussianMixture, fit_dynamics, fit_mixture, mixture_clusters,
                      transitions)

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


# ---- Gaussian-mixture prior (lqgx.fit.GaussianMixture, DynamicsPrior.from_mixture) ----------

def _three_clusters(points_each=150):
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 6.0, 6.0]])
    rng = np.random.default_rng(7)
    z = np.concatenate([c + 0.3 * rng.standard_normal((points_each, 3)) for c in centres])
    return jnp.asarray(z), centres


def test_em_recovers_separated_clusters_and_never_decreases_its_objective():
    z, centres = _three_clusters()
    fit = fit_mixture(z, 3, key=jax.random.PRNGKey(0), iterations=60, reg=0.0)
    means = np.asarray(fit.mixture.means)
    order = [int(np.argmin(np.linalg.norm(means - c, axis=1))) for c in centres]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(means[order], centres, atol=0.1)
    np.testing.assert_allclose(fit.mixture.weights, 1 / 3, atol=0.01)
    pooled = np.cov(np.asarray(z).T, bias=True)
    for i, k in enumerate(order):  # each cluster's own covariance, pulled by 1 pseudo-point
        points = np.asarray(z[150 * i:150 * (i + 1)])
        own, spread = np.cov(points.T, bias=True), points.mean(0) - np.asarray(z).mean(0)
        np.testing.assert_allclose(fit.mixture.covs[k], (150 * own + pooled + np.outer(
            spread, spread)) / 151, atol=2e-3)
    objective = np.asarray(fit.objective)
    assert np.all(np.diff(objective) >= -1e-10 * np.abs(objective[1:]))
    assert objective[-1] > objective[0] + 1.0
    # the mixture is a density: its log-likelihood beats the pooled Gaussian's on these data
    pooled = fit_mixture(z, 1, key=jax.random.PRNGKey(0), iterations=2).mixture
    assert float(jnp.mean(fit.mixture.log_likelihood(z))) > float(
        jnp.mean(pooled.log_likelihood(z))) + 2.0
    np.testing.assert_allclose(jnp.sum(fit.mixture.responsibilities(z), axis=1), 1.0, atol=1e-12)


def test_one_component_mixture_prior_is_the_single_gaussian_prior():
    x, u = _sample(_true_system(), N=40)
    single = DynamicsPrior.fit(x, u, strength=2.0)
    mixture = GaussianMixture.fit(transitions(x, u), 1, key=jax.random.PRNGKey(3), reg=0.0,
                                  iterations=3)
    per_step = DynamicsPrior.from_mixture(mixture, x[:5], u[:5], strength=2.0)
    assert per_step.mean.shape == (HORIZON, 2 * N_STATE + N_ACTION)
    np.testing.assert_allclose(per_step.mean, np.broadcast_to(single.mean, per_step.mean.shape),
                               atol=1e-12)
    np.testing.assert_allclose(per_step.scatter,
                               np.broadcast_to(single.scatter, per_step.scatter.shape),
                               atol=1e-12)
    a = fit_dynamics(x[:5], u[:5], prior=per_step)
    b = fit_dynamics(x[:5], u[:5], prior=single)
    for field in ("A", "B", "c", "cov"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), atol=1e-10)


def test_mixture_prior_is_the_moment_match_of_step_t_responsibilities():
    x, u = _sample(_true_system(), N=60)
    mixture = GaussianMixture.fit(transitions(x, u), 3, key=jax.random.PRNGKey(1))
    prior = DynamicsPrior.from_mixture(mixture, x[:4], u[:4], strength=3.0)
    means, covs = np.asarray(mixture.means), np.asarray(mixture.covs)
    for t in range(HORIZON):
        zt = np.concatenate([x[:4, t], u[:4, t], x[:4, t + 1]], axis=1)
        w = np.asarray(mixture.responsibilities(jnp.asarray(zt))).mean(axis=0)
        mu0 = w @ means
        phi = sum(w[k] * (covs[k] + np.outer(means[k] - mu0, means[k] - mu0)) for k in range(3))
        np.testing.assert_allclose(prior.mean[t], mu0, atol=1e-12)
        np.testing.assert_allclose(prior.scatter[t], 3.0 * phi, rtol=1e-10, atol=1e-12)
    assert float(prior.kappa) == float(prior.nu) == 3.0


def test_masked_points_do_not_move_the_fit():
    z, _ = _three_clusters(40)
    junk = jnp.full((30, 3), 1e3)
    weights = jnp.concatenate([jnp.ones(z.shape[0]), jnp.zeros(30)])
    masked = fit_mixture(jnp.concatenate([z, junk]), 2, key=jax.random.PRNGKey(0),
                         weights=weights, iterations=20).mixture
    plain = fit_mixture(z, 2, key=jax.random.PRNGKey(0), iterations=20).mixture
    np.testing.assert_allclose(masked.means, plain.means, atol=1e-10)
    np.testing.assert_allclose(masked.covs, plain.covs, atol=1e-10)


def test_cluster_count_follows_the_cbfinn_rule():
    assert mixture_clusters(3000) == 20
    assert mixture_clusters(200) == 5
    assert mixture_clusters(10) == 1
    assert mixture_clusters(3000, min_samples_per_cluster=20, max_clusters=50) == 50


@pytest.mark.parametrize("kwargs, match", [
    (dict(clusters=0), "clusters must be an integer"),
    (dict(clusters=500), "clusters must be at most"),
    (dict(iterations=0), "iterations must be an integer"),
    (dict(weights=jnp.ones(3)), "weights must have shape"),
    (dict(reg=-1.0), "reg must be >= 0"),
    (dict(shrinkage=0.0), "shrinkage must be > 0"),
])
def test_bad_mixture_arguments_raise_naming_the_argument(kwargs, match):
    z, _ = _three_clusters(20)
    with pytest.raises(ValueError, match=match):
        fit_mixture(z, key=jax.random.PRNGKey(0), **kwargs)


def test_bad_mixture_prior_arguments_raise():
    x, u = _sample(_true_system(), N=10)
    mixture = GaussianMixture.fit(transitions(x[..., :2], u), 2, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="mixture must be over"):
        DynamicsPrior.from_mixture(mixture, x, u)
    with pytest.raises(TypeError, match="mixture must be"):
        DynamicsPrior.from_mixture("gmm", x, u)
    with pytest.raises(ValueError, match="z must have shape"):
        fit_mixture(jnp.zeros(5), key=jax.random.PRNGKey(0))


def _swing(system, amplitude, phase):
    """Open-loop swing on the quad pendulum: per-joint sines scaled to the torque limits
    (20, 12, 6, 3 N m), std 0.3 N m, no feedback."""
    T, n, m = system.horizon, system.state_dim, system.action_dim
    time = jnp.arange(T) * 0.02                       # the quad pendulum's dt
    scale = jnp.array([1.0, 0.6, 0.3, 0.15])
    k = amplitude * scale * jnp.sin(2 * jnp.pi * time[:, None] / 1.5 + phase + 0.5 * jnp.arange(m))
    return lqgx.LinearGaussianPolicy(K=jnp.zeros((T, m, n)), k=k,
                                     cov=jnp.broadcast_to(0.09 * jnp.eye(m), (T, m, m)))


def quad_prior_data(seed, current=5, held_out=100, past_each=8):
    """The GPS setting of the prior on the quad pendulum: ``past_each`` rollouts of each of five
    swings of growing amplitude (2 to 10) and ``current`` + ``held_out`` rollouts of a sixth,
    in between (amplitude 5 + seed / 2). Returns ``(past_states, past_actions, states, actions,
    held_states, held_actions)``."""
    return _quad_sampler(current, held_out, past_each)(seed)


@functools.lru_cache(maxsize=None)
def _quad_sampler(current, held_out, past_each):
    """``quad_prior_data`` jitted once per sizes (``seed`` traced)."""
    from lqgx.rollout import sample_rollouts
    from lqgx.systems import quad_pendulum

    system = quad_pendulum()
    T, n, m = system.horizon, system.state_dim, system.action_dim

    @jax.jit
    def sample(seed):
        key_past, key_now = jax.random.split(jax.random.PRNGKey(seed))
        past = jax.vmap(lambda a, p, key: sample_rollouts(system, _swing(system, a, p), key,
                                                          past_each))(
            jnp.array([2.0, 4.0, 6.0, 8.0, 10.0]), 0.3 * jnp.arange(5.0),
            jax.random.split(key_past, 5))
        now = sample_rollouts(system, _swing(system, 5.0 + 0.5 * seed, 0.5 + 0.2 * seed),
                              key_now, current + held_out)
        return (past.states.reshape(-1, T + 1, n), past.actions.reshape(-1, T, m),
                now.states[:current], now.actions[:current],
                now.states[current:], now.actions[current:])

    return sample


def held_out_log_likelihood(dyn, states, actions) -> float:
    """Mean log N(x_{t+1}; A_t x_t + B_t u_t + c_t, cov_t) over held-out rollouts and steps."""
    mean = (jnp.einsum("tij,ktj->kti", dyn.A, states[:, :-1])
            + jnp.einsum("tij,ktj->kti", dyn.B, actions) + dyn.c)
    log_p = jax.vmap(jax.vmap(jax.scipy.stats.multivariate_normal.logpdf, (0, 0, 0)),
                     (0, 0, None))(states[:, 1:], mean, dyn.cov)
    return float(jnp.mean(log_p))


@pytest.mark.slow
def test_mixture_prior_beats_the_single_gaussian_on_held_out_quad_pendulum_transitions():
    """Past rollouts of five different policies, N = 5 < n + m = 12 samples per step of the
    current one: the mixture picks the region of the past data the current samples are in,
    the single Gaussian pools all of it (benchmarks/dynamics_prior.py, docs/dynamics-prior.md).
    Slow: ~4 min, mostly compiling the quad pendulum's rollouts."""
    past_x, past_u, x, u, held_x, held_u = quad_prior_data(seed=3)
    all_x, all_u = jnp.concatenate([past_x, x]), jnp.concatenate([past_u, u])
    mixture = GaussianMixture.fit(transitions(all_x, all_u), key=jax.random.PRNGKey(0))
    assert mixture.weights.shape == (20,)                 # 6750 points: cbfinn's 20 clusters
    single = held_out_log_likelihood(
        fit_dynamics(x, u, prior=DynamicsPrior.fit(all_x, all_u, 10.0)), held_x, held_u)
    gmm = held_out_log_likelihood(
        fit_dynamics(x, u, prior=DynamicsPrior.from_mixture(mixture, x, u, 10.0)), held_x, held_u)
    assert np.isfinite(single)
    assert gmm > single + 0.5, (gmm, single)              # measured: +1.3 to +1.9 nats
