"""Exact policy evaluation (eqs. 1, 2, 6, 11) against truncated Neumann series."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lqgx.softmax.evaluation import evaluate_energy
from lqgx.softmax.mdp import GridMDP

from .conftest import random_mdp


def test_value_and_state_measure_equal_truncated_discounted_sums():
    # V = Σ_t γ^t P_π^t R_π (eq. 1) and ϱ_π = Σ_t γ^t ϱ_0 P_π^t (eq. 6), summed to γ^400 ≈ 1e-62;
    # the improper state measure has mass 1/(1-γ).
    mdp = random_mdp(jax.random.PRNGKey(0), discount=0.7)
    energy = jax.random.normal(jax.random.PRNGKey(1), (5, 7))
    ev = jax.jit(evaluate_energy)(mdp, energy)
    kernel = jnp.einsum("sa,sat->st", ev.probs, mdp.transition)
    reward = jnp.sum(ev.probs * (mdp.reward - mdp.temperature * ev.log_density), axis=-1)

    def accumulate(carry, _):
        value, measure, power_r, power_m = carry
        return (value + power_r, measure + power_m, mdp.discount * kernel @ power_r,
                mdp.discount * power_m @ kernel), None

    zeros = jnp.zeros(5)
    (value, measure, _, _), _ = jax.lax.scan(accumulate, (zeros, zeros, reward, mdp.initial), None, length=400)
    np.testing.assert_allclose(ev.value, value, atol=1e-13)
    np.testing.assert_allclose(ev.state_measure, measure, atol=1e-13)
    assert float(jnp.sum(ev.state_measure)) == pytest.approx(1.0 / (1.0 - 0.7), abs=1e-12)
    assert float(ev.objective) == pytest.approx(float(mdp.initial @ value), abs=1e-13)


def test_q_function_satisfies_the_regularized_bellman_identities():
    # eq. 2 and the identity below it: V(s) = E_π[Q(s, a)] - τ KL(π(s, ·); Lebesgue).
    mdp = random_mdp(jax.random.PRNGKey(2))
    ev = jax.jit(evaluate_energy)(mdp, jax.random.normal(jax.random.PRNGKey(3), (5, 7)))
    np.testing.assert_allclose(jnp.sum(ev.probs * (ev.q - mdp.temperature * ev.log_density), -1), ev.value,
                               atol=1e-13)
    np.testing.assert_allclose(ev.q, mdp.reward + mdp.discount * mdp.transition @ ev.value, atol=1e-13)


def test_mdp_validation_names_the_bad_argument():
    mdp = random_mdp(jax.random.PRNGKey(4))
    bad = GridMDP(**{**mdp.__dict__, "initial": jnp.ones(4) / 4})
    with pytest.raises(ValueError, match="initial"):
        bad.validate()
