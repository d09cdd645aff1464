"""The exact constrained update (``method="newton"``) against a cvxpy oracle and the thesis's
soft backward pass, on small linear-Gaussian problems."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lqgx.lq import soft_backward_pass
from lqgx.optimizers.esaps import esaps_update
from lqgx.optimizers.gps import gps_update
from lqgx.optimizers.kl_update import full_pass, prepare, thesis_dual
from lqgx.optimizers.saps import SAPS, saps_update

from . import convex_oracle
from .lq_problems import random_problem

EPS = 0.1


@pytest.fixture(scope="module")
def problem():
    return random_problem(seed=3)


@pytest.fixture(scope="module")
def saps_newton():
    return jax.jit(lambda pb, eps: saps_update(pb, eps, method="newton"))


@pytest.fixture(scope="module")
def esaps_newton():
    return jax.jit(lambda pb, eps, delta: esaps_update(pb, eps, delta, method="newton"))


def _check_against_oracle(res, oracle, divergence):
    assert bool(res.ok) and bool(res.converged)
    np.testing.assert_allclose(float(res.expected_cost), oracle["cost"], rtol=1e-7)
    np.testing.assert_allclose(np.asarray(divergence), oracle["kl"], atol=1e-6)
    # multipliers: the interior-point method's vs Clarabel's duals (Clarabel's ~1e-4 accurate)
    np.testing.assert_allclose(np.asarray(res.alpha), oracle["alpha"], rtol=2e-3, atol=1e-6)


def test_saps_matches_the_convex_program(problem, saps_newton):
    res = saps_newton(problem, EPS)
    _check_against_oracle(res, convex_oracle.solve(problem, EPS, kind="saps"),
                          res.kl_state_action)
    # every bound met, active ones (alpha > 0) with equality: complementary slackness
    kl = np.asarray(res.kl_state_action)
    assert np.all(kl <= EPS * (1 + 1e-9))
    active = np.asarray(res.alpha) > 1e-6
    np.testing.assert_allclose(kl[active], EPS, rtol=1e-6)


def test_esaps_with_an_active_entropy_floor_matches_the_convex_program(problem, esaps_newton):
    delta = -1.3  # entropy >= 1.3 nats: binds at some steps, not at others
    res = esaps_newton(problem, EPS, delta)
    oracle = convex_oracle.solve(problem, EPS, kind="saps", delta=delta)
    _check_against_oracle(res, oracle, res.kl_state_action)
    beta = np.asarray(res.beta)
    np.testing.assert_allclose(beta, oracle["beta"], rtol=2e-3, atol=1e-6)
    entropy = np.asarray(res.entropy)
    assert np.all(entropy >= -delta - 1e-9)
    # inactive floors: beta_t (H_t + delta_t) is at most the duality gap, whose tolerance
    # 1e-10 (1 + |cost|) = 2e-9 puts those multipliers at ~1e-8 (active ones: 0.13-0.67)
    assert (beta > 1e-6).any() and (beta < 1e-7).any()
    np.testing.assert_allclose(entropy[beta > 1e-6], -delta, atol=1e-8)


def test_gps_newton_equals_the_exact_gps_dual_and_the_oracle(problem):
    newton = jax.jit(lambda pb: gps_update(pb, EPS, method="newton"))(problem)
    dual = jax.jit(lambda pb: gps_update(pb, EPS))(problem)
    _check_against_oracle(newton, convex_oracle.solve(problem, EPS, kind="gps"), newton.kl)
    for field in ("K", "k", "cov"):
        np.testing.assert_allclose(np.asarray(getattr(newton.policy, field)),
                                   np.asarray(getattr(dual.policy, field)), atol=1e-4)


def test_soft_backward_pass_at_the_multipliers_reproduces_the_policy(problem, saps_newton):
    """The thesis's optimality conditions (eq. 4.5a, 4.7): the soft pass on the augmented cost
    with temperature alpha_t and p_t = mu_t returns the same policy: the fixed point of Alg. 2."""
    res = saps_newton(problem, EPS)
    T = problem.prior.k.shape[0]
    traj = res.trajectory
    sol, _, _ = full_pass(SAPS, prepare(problem), res.alpha, 0 * res.alpha, traj.mean[:T],
                          traj.cov[:T])
    # t >= 1 only, to 1e-3: the policy is very sensitive to alpha (at t = 0, alpha_0 = 0.025, a
    # 1e-3 relative change of alpha_0 moves K_0 by 37 %), and the interior-point multipliers are
    # accurate to ~1e-5 relative (they vary with XLA's optimization level at that size).
    for field in ("K", "k", "cov"):
        np.testing.assert_allclose(np.asarray(getattr(sol.policy, field))[1:],
                                   np.asarray(getattr(res.policy, field))[1:], rtol=2e-3,
                                   atol=1e-3)
    # strong duality: the thesis's dual (eq. 4.6) at these multipliers equals the cost, and so
    # does the interior-point dual bound that the update reports
    np.testing.assert_allclose(float(thesis_dual(SAPS, problem, res, EPS)),
                               float(res.expected_cost), rtol=1e-6)
    np.testing.assert_allclose(float(res.dual), float(res.expected_cost), rtol=1e-8)
    assert float(res.dual) <= float(res.expected_cost)


def test_phase_one_lifts_a_prior_below_the_entropy_floor(problem, esaps_newton):
    # q has entropy 1/2 log(2 pi e) = 1.42 nats at every step; demand 1.6
    res = esaps_newton(problem, EPS, -1.6)
    assert bool(res.ok) and bool(res.converged)
    assert np.all(np.asarray(res.entropy) >= 1.6 - 1e-9)
    assert np.all(np.asarray(res.kl_state_action) <= EPS * (1 + 1e-9))


def test_infeasible_bounds_are_reported_not_returned(problem, esaps_newton):
    # 5 nats more entropy than q within a 1e-3 nat KL budget cannot be done
    res = esaps_newton(problem, 1e-3, -(1.42 + 5.0))
    assert not bool(res.ok)


def test_vmap_over_eight_eps_equals_eight_calls(problem, saps_newton):
    eps = jnp.linspace(0.02, 0.5, 8)
    batched = jax.vmap(lambda e: saps_newton(problem, e))(eps)
    for i in (0, 7):
        single = saps_newton(problem, eps[i])
        np.testing.assert_allclose(np.asarray(batched.policy.K[i]), np.asarray(single.policy.K),
                                   atol=1e-8)
        np.testing.assert_allclose(float(batched.expected_cost[i]),
                                   float(single.expected_cost), rtol=1e-10)


def test_huge_eps_gives_the_max_entropy_lqg_optimum_at_temperature_beta(problem, esaps_newton):
    res = esaps_newton(problem, 1e4, -2.0)
    assert np.all(np.asarray(res.alpha) < 1e-6)
    soft = soft_backward_pass(problem.cost, problem.final, problem.dynamics, res.beta)
    # beta is the primal-dual method's own multiplier (measured: K to 4e-14, the covariance to
    # 3e-14 relative; the barrier method's mu / slack estimate was 1.1e-4 off)
    np.testing.assert_allclose(np.asarray(res.policy.K), np.asarray(soft.policy.K), atol=1e-9)
    np.testing.assert_allclose(np.asarray(res.policy.cov), np.asarray(soft.policy.cov),
                               rtol=1e-9)


@pytest.mark.parametrize("reference", ["joint", "conditional"])
@pytest.mark.parametrize("entropy_floor", [False, True])
def test_closed_form_stage_derivatives_equal_autodiff(reference, entropy_floor):
    """``_stage_derivatives`` (the Newton system) against jax.grad / jax.hessian of the barrier
    stage value at a random strictly feasible point (n=3, m=2: every coordinate kind occurs),
    and its primal-dual form against the Lagrangian's."""
    from lqgx.optimizers import moment_newton as mn

    pb = random_problem(T=2, n=3, m=2, seed=7)
    pk = mn._Packing(3, 2)
    r = np.random.default_rng(0)
    A = r.normal(size=(5, 5))
    S, mean = A @ A.T + 0.5 * np.eye(5), r.normal(size=5)
    B = r.normal(size=(5, 5))
    ref_cov, ref_mean = B @ B.T + np.eye(5), r.normal(size=5)
    s = pk.state(jnp.asarray(mean[:3]), jnp.asarray(S[:3, :3]))
    w = pk.control(jnp.asarray(mean[3:]), jnp.asarray(S[3:, :3]), jnp.asarray(S[3:, 3:]))
    step = lambda tree: jax.tree_util.tree_map(lambda x: x[0], tree)  # noqa: E731
    data = (step(pb.dynamics), step(pb.cost), step(pb.prior), jnp.asarray(ref_mean),
            jnp.asarray(ref_cov), reference)
    _, div, entropy = mn._stage_terms(pk, data, s, w)
    eps = float(div) + 0.7                                   # slack 0.7
    delta = 0.4 - float(entropy) if entropy_floor else None  # slack 0.4
    weight, mu = 1.3, 0.2
    value = lambda z: mn._barrier_stage(pk, data, eps, delta, weight, mu,  # noqa: E731
                                        z[:pk.state_size], z[pk.state_size:])
    z = jnp.concatenate([s, w])
    derivatives = mn._stage_derivatives(pk, data, eps, delta, weight, mu, s, w)
    grad, hess = derivatives.grad, derivatives.hess
    np.testing.assert_allclose(np.asarray(grad), np.asarray(jax.grad(value)(z)),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(hess), np.asarray(jax.hessian(value)(z)),
                               rtol=1e-9, atol=1e-9)

    # The primal-dual model at multipliers off the central path: the barrier's gradient, and the
    # Hessian of the Lagrangian weight * E[cost] + alpha D - beta H plus the condensed
    # complementarity (alpha / slack) grad D grad D^T + (beta / slack) grad H grad H^T.
    alpha, beta = 0.9, (0.35 if entropy_floor else None)
    primal_dual = mn._stage_derivatives(pk, data, eps, delta, weight, mu, s, w, alpha, beta)
    terms = lambda z: mn._stage_terms(pk, data, z[:pk.state_size], z[pk.state_size:])  # noqa: E731
    lagrangian = lambda z: (weight * terms(z)[0] + alpha * terms(z)[1]  # noqa: E731
                            - (beta * terms(z)[2] if entropy_floor else 0.0))
    grad_div = jax.grad(lambda z: terms(z)[1])(z)
    expected_hess = jax.hessian(lagrangian)(z) + alpha / 0.7 * jnp.outer(grad_div, grad_div)
    if entropy_floor:
        grad_ent = jax.grad(lambda z: terms(z)[2])(z)
        expected_hess = expected_hess + beta / 0.4 * jnp.outer(grad_ent, grad_ent)
        np.testing.assert_allclose(np.asarray(primal_dual.ent_grad), np.asarray(grad_ent),
                                   rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(primal_dual.grad), np.asarray(grad), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(np.asarray(primal_dual.div_grad), np.asarray(grad_div),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(primal_dual.hess), np.asarray(expected_hess),
                               rtol=1e-9, atol=1e-9)
