"""Short iLQG solves on the MJX systems reduce the cost and respect the action bounds.

Compiling a whole iLQG solve through MJX takes about a minute per system on CPU, so these are
marked slow (run with ``-m slow``); the fast suite checks the dynamics, Jacobians and rendering.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
from lqgx import systems

SHORT = {"pendulum": 30, "cartpole": 30, "acrobot": 30, "double_pendulum": 30,
         "quad_pendulum": 30, "reacher": 20, "ant": 10, "humanoid_standup": 10}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SHORT))
def test_short_ilqg_solve_reduces_cost_and_respects_bounds(name):
    options = {"tail": 10} if name == "double_pendulum" else {}
    system = systems.make(name, horizon=SHORT[name], **options)
    zeros = jnp.zeros((system.horizon, system.action_dim))
    initial = float(system.trajectory_cost(system.rollout(zeros), zeros))
    result = lqgx.ilqg(system, iterations=15)
    low, high = (np.asarray(b) for b in system.action_bounds)
    actions = np.asarray(result.actions)
    assert np.all(actions >= low - 1e-9) and np.all(actions <= high + 1e-9)
    assert np.isfinite(result.cost)
    assert result.cost < initial
    # The reported cost is the cost of the returned trajectory on the true (MJX) system.
    rollout = system.rollout(result.actions)
    np.testing.assert_allclose(result.states, rollout, atol=1e-8)
    np.testing.assert_allclose(result.cost,
                               float(system.trajectory_cost(rollout, result.actions)), rtol=1e-6)
