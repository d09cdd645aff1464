"""Step adaptation of the policy-search outer loop (``lqgx.optimizers.policy_search``, item 5)."""

import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
from lqgx.optimizers.policy_search import accepted_rises, step_multiplier


@pytest.mark.parametrize("actual, factor", [(5.0, 1.0), (7.5, 2.0), (0.0, 0.5), (10.0, 5.0),
                                            (-1e3, 0.1)])
def test_step_multiplier_follows_actual_over_predicted_improvement(actual, factor):
    """rho = actual / predicted: 1/2 keeps the step, 3/4 doubles it, 0 halves it (the step that
    maximizes a quadratic in the step with the model's slope), clipped to [0.1, 5]."""
    assert float(step_multiplier(10.0, actual, 0.0)) == pytest.approx(factor)


def test_step_multiplier_leaves_the_step_when_nothing_was_predicted():
    assert float(step_multiplier(0.0, -5.0, 100.0)) == 1.0


def cubic_system():
    """x' = x + u - u^3 / 3 (one step): linear near u = 0, so the local model sends u to the goal
    x = 3 in one large update, where the true plant overshoots to x = -6 (cost 810 vs ~85)."""
    return lqgx.System(lambda x, u: x + u - u ** 3 / 3, lambda x, u, t: 0.01 * u @ u,
                       lambda x: 10.0 * (x[0] - 3.0) ** 2, x0=jnp.zeros(1), horizon=1,
                       x0_cov=1e-4 * jnp.eye(1), noise_cov=1e-4 * jnp.eye(1))


@pytest.fixture(scope="module")
def runs():
    system = cubic_system()
    return {adapt: lqgx.gps(system, 10.0, iterations=8, samples=16, initial_std=1.0,
                            step_adaptation=adapt) for adapt in (False, True)}


def _accepted_rises(result):
    h = result.history
    return accepted_rises(np.asarray(h["cost_sampled"])[0], h["cost"], h["accepted"])


def test_fixed_bound_accepts_the_overshoot(runs):
    """The scenario is real: with the thesis's fixed eps the first update is accepted at ~10x
    the initial cost and the run never recovers within 8 iterations."""
    fixed = runs[False]
    assert np.all(np.asarray(fixed.history["accepted"]))
    assert _accepted_rises(fixed).max() > 5.0
    assert np.all(np.asarray(fixed.history["eps_scale"]) == 1.0)


def test_step_adaptation_rejects_the_overshoot_and_keeps_every_accepted_cost_bounded(runs):
    adaptive, fixed = runs[True], runs[False]
    h = adaptive.history
    accepted = np.asarray(h["accepted"])
    assert not accepted[0] and accepted[1:].any()
    assert _accepted_rises(adaptive).max() <= 2.0          # max_cost_rise
    assert int(adaptive.status) == 3 and "rejected" in adaptive.message
    assert float(adaptive.cost) < 0.5 * float(fixed.cost)
    # the rejection shrinks the bound; the history reports what was used and why
    scale = np.asarray(h["eps_scale"])
    assert scale[0] == 1.0 and scale[1] <= 0.5
    np.testing.assert_allclose(np.asarray(h["eps"]), 10.0 * scale)
    # the model promised an improvement, the next model (about the overshoot) says it got worse;
    # a rejected update's policy never gets a model of its own: NaN
    fixed_actual = np.asarray(fixed.history["actual_improvement"])
    assert fixed_actual[0] < 0 < float(np.asarray(h["predicted_improvement"])[0])
    actual = np.asarray(h["actual_improvement"])
    assert np.all(np.isnan(actual[~accepted])) and np.isnan(actual[-1])
    assert np.all(np.isfinite(actual[accepted][:-1]))


def test_an_infinite_max_cost_rise_switches_the_cost_test_off():
    res = lqgx.gps(cubic_system(), 10.0, iterations=2, samples=16, initial_std=1.0,
                   step_adaptation=True, max_cost_rise=float("inf"))
    assert np.all(np.asarray(res.history["accepted"])) and int(res.status) == 2
    assert float(np.asarray(res.history["cost"])[0]) > 5 * float(
        np.asarray(res.history["cost_sampled"])[0])


def test_predicted_improvement_is_the_model_cost_drop(runs):
    """predicted = J_i(pi_i) - J_i(pi_{i+1}); J_i(pi_{i+1}) is the update's model cost."""
    h = runs[False].history
    predicted, model = np.asarray(h["predicted_improvement"]), np.asarray(h["cost_model"])
    # J_i(pi_i) = J_{i-1}(pi_{i-1}) - actual_{i-1} for accepted updates (all are, here)
    before = model + predicted
    np.testing.assert_allclose(before[1:], before[:-1] - np.asarray(h["actual_improvement"])[:-1],
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"step_adaptation": 1}, TypeError, "step_adaptation must be True or False"),
    ({"step_bounds": (0.5,)}, ValueError, "step_bounds must be two numbers"),
    ({"step_bounds": (2.0, 10.0)}, ValueError, "0 < low <= 1 <= high"),
    ({"step_bounds": (0.1, float("inf"))}, ValueError, "0 < low <= 1 <= high"),
    ({"max_cost_rise": 0.5}, ValueError, "max_cost_rise must be a number >= 1"),
])
def test_bad_step_options_raise_naming_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        lqgx.gps(cubic_system(), 1.0, iterations=1, samples=2, **kwargs)
