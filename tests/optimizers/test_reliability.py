"""A 50-problem slice of the reliability sweep (``benchmarks/reliability_sweep.py``): GPS, SAPS
and ESAPS updates on random hard problems (near-singular covariances, ill-conditioned costs,
unstable dynamics, eps from 1e-4 to 1e2, entropy floors above q's) end finite, and every update
that reports convergence meets its bounds to 1e-3 relative."""

import importlib.util
import pathlib

import numpy as np
import pytest

_PATH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "reliability_sweep.py"
_spec = importlib.util.spec_from_file_location("reliability_sweep", _PATH)
reliability_sweep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reliability_sweep)


@pytest.fixture(scope="module")
def report():
    return reliability_sweep.sweep(["gps", "saps", "esaps"], 50, seed=7, rtol=1e-3,
                                   shapes=((8, 2, 2),), progress=lambda *_: None)


@pytest.mark.parametrize("algo", ["gps", "saps", "esaps"])
def test_every_update_is_finite_and_every_converged_one_meets_its_bounds(report, algo):
    r = report[algo]
    assert r["problems"] == 50
    assert r["nonfinite"] == 0
    assert r["violated_unflagged"] == 0
    assert r["worst_relative_violation_converged"] <= 1e-3
    # the flag is not a blanket: most of these problems converge
    assert r["flagged"] <= 20, r


def test_the_check_counts_a_bound_exceeded_by_ten_percent_as_violated():
    """The check can fail: flags of a made-up batch whose KL is 10% above eps."""
    import types

    import jax.numpy as jnp

    from lqgx.lq import LinearGaussianPolicy

    P, T = 2, 3
    policy = LinearGaussianPolicy(K=jnp.zeros((P, T, 1, 1)), k=jnp.zeros((P, T, 1)),
                                  cov=jnp.ones((P, T, 1, 1)))
    fake = types.SimpleNamespace(policy=policy, alpha=jnp.ones((P, T)),
                                 beta=jnp.zeros((P, T)).at[1, 0].set(jnp.nan),
                                 kl=jnp.full((P, T), 0.11), converged=jnp.array([True, False]),
                                 ok=jnp.array([True, False]))
    flags = reliability_sweep.outcome("gps", fake, jnp.full((P,), 0.1), jnp.zeros((P, T)))
    np.testing.assert_allclose(flags["excess"][0], 0.1)
    assert list(flags["finite"]) == [True, False] and flags["excess"][1] == np.inf


def test_a_failed_update_returns_the_prior_unchanged_and_nothing_non_finite():
    """A sweep problem (seed 300003: T = 30, unstable 5-state dynamics, eps 4.7e-4) on which
    GPS's soft backward pass breaks down: the update reports the failure (ok and converged
    False) and returns q with its marginals, KL 0 and finite multipliers, not NaNs."""
    import jax

    from lqgx._pytree import all_finite
    from tests.optimizers.lq_problems import hard_problem

    problem, eps, delta = hard_problem(300003, 30, 5, 3)
    res = jax.jit(reliability_sweep.UPDATES["gps"])(problem, eps, delta)
    assert not bool(res.ok) and not bool(res.converged)
    fields = (res.policy, res.trajectory, res.alpha, res.beta, res.kl, res.kl_state_action,
              res.entropy, res.expected_cost)
    assert bool(all_finite(fields))
    for new, prior in zip(jax.tree_util.tree_leaves(res.policy),
                          jax.tree_util.tree_leaves(problem.prior)):
        np.testing.assert_array_equal(np.asarray(new), np.asarray(prior))
    assert np.all(np.asarray(res.kl) == 0.0)
