"""Lemma 3 (eq. 80) against jax.hessian of the closed-form J(θ)."""

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

import lqgx.dso as dso


def _true_hessian(lq, theta):
    flat, unravel = ravel_pytree(theta)
    return np.asarray(jax.hessian(lambda f: lq.cost(unravel(f)))(flat))


def test_hessian_matches_closed_form_within_4_standard_errors(lq):
    theta = lq.thetas[0]
    true = _true_hessian(lq, theta)
    # 5 batches of 2000 (one compiled shape, shared with the other DSO tests) = 10000 paths
    batches = [dso.hessian(lq.problem, theta, jax.random.PRNGKey(k), rollouts=2000,
                           baseline_rollouts=500) for k in range(5)]
    hess = np.mean([np.asarray(b.hessian) for b in batches], axis=0)
    stderr = np.sqrt(np.sum([np.asarray(b.stderr) ** 2 for b in batches], axis=0)) / 5
    z = (hess - true) / stderr
    print(f"Hessian (causal form) z-scores:\n{np.round(z, 2)}\nrelative error "
          f"{np.linalg.norm(hess - true) / np.linalg.norm(true):.3f}")
    assert np.all(np.abs(z) < 4.0), z
    np.testing.assert_allclose(hess, hess.T, atol=1e-10)
    # the test has power: it would reject H = 0 (Lemma 3 is high-variance, as the paper warns)
    assert np.max(np.abs(true) / stderr) > 4.0


def test_verbatim_eq80_is_unbiased_but_noisier(lq):
    theta = lq.thetas[0]
    true = _true_hessian(lq, theta)
    key = jax.random.PRNGKey(11)
    verbatim = dso.hessian(lq.problem, theta, key, rollouts=2000, baseline_rollouts=500,
                           causal=False)
    causal = dso.hessian(lq.problem, theta, key, rollouts=2000, baseline_rollouts=500)
    z = (np.asarray(verbatim.hessian) - true) / np.asarray(verbatim.stderr)
    assert np.all(np.abs(z) < 4.0), z
    ratio = np.mean((np.asarray(verbatim.stderr) / np.asarray(causal.stderr)) ** 2)
    print(f"Hessian variance, eq. 80 verbatim / causal form: {ratio:.1f}")
    assert ratio > 1.5
