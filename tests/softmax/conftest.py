"""Small random problems for the softmax tests (float64 is enabled by tests/conftest.py)."""

import functools

import jax
import jax.numpy as jnp
import pytest

from lqgx.softmax.energy import init_particles
from lqgx.softmax.grid import action_grid
from lqgx.softmax.mdp import GridMDP


@functools.partial(jax.jit, static_argnames=("num_states", "num_actions", "dtype"))
def random_mdp(key, num_states=5, num_actions=7, discount=0.7, temperature=0.3, dtype=jnp.float64) -> GridMDP:
    """A dense random MDP: random transition kernel, reward, ϱ_0, state features (s, 1).

    Drawn in float64 and cast, so the float32 and float64 versions are the same problem."""
    k_p, k_r, k_0, k_s = jax.random.split(key, 4)
    points, weights = action_grid(-0.5, 1.0, num_actions, "trapezoid")
    transition = jax.nn.softmax(2.0 * jax.random.normal(k_p, (num_states, num_actions, num_states)), axis=-1)
    states = jax.random.uniform(k_s, (num_states,))
    return GridMDP(
        state_features=jnp.stack([states, jnp.ones_like(states)], axis=-1).astype(dtype),
        actions=points.astype(dtype),
        quadrature_weights=weights.astype(dtype),
        transition=transition.astype(dtype),
        reward=jax.random.normal(k_r, (num_states, num_actions), jnp.float64).astype(dtype),
        initial=jax.nn.softmax(jax.random.normal(k_0, (num_states,))).astype(dtype),
        discount=jnp.asarray(discount, dtype),
        temperature=jnp.asarray(temperature, dtype),
    ).validate()


def jitted(fn, **static):
    """jax.jit(fn) with keyword arguments bound: whole-function compilation keeps the tests fast."""
    return jax.jit(functools.partial(fn, **static))


@pytest.fixture
def small_mdp():
    return random_mdp(jax.random.PRNGKey(3))


@pytest.fixture
def small_particles():
    # Non-zero output weights so that both the ω_0 and the ω̄ components of the field are non-trivial.
    return init_particles(jax.random.PRNGKey(4), width=6, feature_dim=3, hidden_std=2.0, output_std=1.5)
