"""The closed-form oracle of issue 5: a linear-Gaussian system with a linear policy
(``lqgx.dso.oracle``); J(θ), its jax.grad / jax.hessian and the eq.-74 Fisher metric are exact."""

import types

import jax
import jax.numpy as jnp
import pytest

from lqgx.dso.oracle import DEFAULT_THETAS, default_case


@pytest.fixture(scope="session")
def lq():
    case = default_case()
    return types.SimpleNamespace(case=case, system=case.system(), problem=case.problem(),
                                 policy=case.policy, cost=case.cost, fisher=case.fisher,
                                 thetas=[dict(t) for t in DEFAULT_THETAS],
                                 grad=jax.grad(case.cost), hessian=jax.hessian(case.cost))


def closed_form_fisher_reference(case, theta):
    """Independent check of ``case.fisher`` for m = 1: Σ_t E[[x;1][x;1]ᵀ] / σ_a²."""
    means, covs = case.state_moments(theta)
    total = jnp.zeros((3, 3))
    for m, S in zip(means[:-1], covs[:-1]):
        second = S + jnp.outer(m, m)
        block = jnp.block([[second, m[:, None]], [m[None, :], jnp.ones((1, 1))]])
        total = total + block / case.action_cov[0, 0]
    return total
