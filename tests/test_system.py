"""System validation: every bad argument is named in the error."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx


def dyn(x, u):
    return x + 0.1 * jnp.concatenate([u, u])


def cost(x, u, t):
    return x @ x + u @ u


def final(x):
    return x @ x


def make(**kw):
    args = dict(dynamics=dyn, cost=cost, final_cost=final, x0=jnp.zeros(2), horizon=5)
    args.update(kw)
    return lqgx.System(**args)


def test_attributes_mirror_the_constructor():
    s = make(action_bounds=(-jnp.ones(1), jnp.ones(1)), name="toy")
    assert (s.state_dim, s.action_dim, s.horizon, s.name) == (2, 1, 5, "toy")
    assert s.x0_cov.shape == (2, 2) and s.noise_cov.shape == (2, 2)
    assert s.dynamics is dyn and s.cost is cost and s.final_cost is final


def test_action_dim_is_inferred_from_the_dynamics():
    assert make().action_dim == 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(x0=jnp.zeros((2, 1))), "x0"),
    (dict(x0=jnp.array([0.0, jnp.nan])), "x0"),
    (dict(horizon=0), "horizon"),
    (dict(horizon=2.5), "horizon"),
    (dict(x0_cov=jnp.eye(3)), "x0_cov"),
    (dict(x0_cov=jnp.array([[1.0, 2.0], [0.0, 1.0]])), "x0_cov"),
    (dict(noise_cov=-jnp.eye(2)), "noise_cov"),
    (dict(action_bounds=(jnp.ones(1), -jnp.ones(1))), "low <= high"),
    (dict(action_bounds=(jnp.ones(1), jnp.ones(2))), "action_bounds"),
    (dict(action_bounds=jnp.ones(1)), "action_bounds"),
])
def test_bad_arguments_raise_value_errors_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_bad_callables_are_reported_by_name():
    with pytest.raises(TypeError, match="dynamics"):
        make(dynamics="not a function")
    with pytest.raises(ValueError, match="cost"):
        make(cost=lambda x, u, t: x)  # not a scalar
    with pytest.raises(TypeError, match="final_cost"):
        make(final_cost=lambda x, y: x @ y)  # wrong signature
    with pytest.raises(ValueError, match="dynamics"):
        make(dynamics=lambda x, u: jnp.concatenate([x, u]), action_dim=1)


def test_system_is_an_immutable_pytree():
    s = make()
    with pytest.raises(Exception):
        s.horizon = 3
    leaves, treedef = jax.tree_util.tree_flatten(s)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.horizon == 5 and rebuilt.dynamics is dyn
    batched = jax.vmap(lambda x0: s.replace(x0=x0).rollout(jnp.ones((5, 1)))[-1])(jnp.eye(2))
    np.testing.assert_allclose(batched, jnp.eye(2) + 0.5)


def test_rollout_and_trajectory_cost():
    s = make()
    states = s.rollout(jnp.ones((5, 1)))
    assert states.shape == (6, 2)
    expected = sum(float(cost(states[t], jnp.ones(1), t)) for t in range(5)) + float(
        final(states[5]))
    np.testing.assert_allclose(s.trajectory_cost(states, jnp.ones((5, 1))), expected, rtol=1e-12)
