"""MJX dynamics against the C MuJoCo model: rollouts (mj_step) and Jacobians (mjd_transitionFD)."""

import functools
import zlib

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import lqgx
from lqgx import systems

T = 6
CONTACT_FREE = list(systems.CONTACT_FREE)
# Compiling MJX through jacfwd dominates these tests; XLA's cheap CPU pipeline halves it and the
# numbers are the same (runtime speed is irrelevant here).
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _compile(fn, *args):
    return jax.jit(fn).lower(*args).compile(FAST_COMPILE)


@functools.lru_cache(maxsize=None)
def _case(name):
    """System, a random in-bounds trajectory, its MJX rollout and autodiff linearization."""
    system = systems.make(name, horizon=T)
    # crc32, not hash(): str hashes are salted per process, which made the case (and at the
    # 1e-8 tolerance the FD comparison's outcome) change from run to run
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    low, high = (np.asarray(b) for b in system.action_bounds)
    actions = jnp.asarray(rng.uniform(0.8 * low, 0.8 * high, size=(T, system.action_dim)))
    x0 = np.asarray(system.x0).copy()
    dyn = system.dynamics
    if not dyn.has_quaternions:
        x0 = x0 + rng.normal(0.0, 0.5, size=x0.shape)
    x0 = jnp.asarray(x0)

    def rollout_and_linearize(actions, x0):
        states = system.rollout(actions, x0)
        return states, lqgx.linearize(system, states, actions, method="autodiff")

    states, linear = _compile(rollout_and_linearize, actions, x0)(actions, x0)
    return system, states, actions, linear


@pytest.mark.parametrize("name", CONTACT_FREE)
def test_mjx_rollout_matches_mj_step_to_1e_10(name):
    system, states, actions, _ = _case(name)
    reference = system.dynamics.rollout_c(states[0], actions)
    np.testing.assert_allclose(np.asarray(states), reference, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", CONTACT_FREE)
def test_autodiff_and_centered_fd_jacobians_agree_to_1e_8(name):
    system, states, actions, linear = _case(name)
    fd = lqgx.linearize(system, states, actions, method="fd")
    np.testing.assert_allclose(linear.A, fd.A, rtol=0, atol=1e-8)
    np.testing.assert_allclose(linear.B, fd.B, rtol=0, atol=1e-8)
    # c = f - A x - B u inherits the Jacobians' FD error times |x|, |u| (an entry of 4.4 missed
    # 1e-8 by 4 % on CI's machine), so its tolerance is 1e-8 at that scale
    scale = 1.0 + np.abs(np.asarray(states[:-1])).sum(-1) + np.abs(np.asarray(actions)).sum(-1)
    assert np.all(np.abs(np.asarray(linear.c) - np.asarray(fd.c)) <= 1e-8 * scale[:, None])
    assert linear.cov.shape == (T, system.state_dim, system.state_dim)


def test_fd_of_a_plain_jax_system_raises_value_error():
    system = lqgx.System(lambda x, u: x + u, lambda x, u, t: x @ x, lambda x: x @ x,
                         jnp.zeros(1), 3)
    with pytest.raises(ValueError, match="fd"):
        lqgx.linearize(system, jnp.zeros((4, 1)), jnp.zeros((3, 1)), method="fd")


def test_linearize_fd_validates_shapes():
    system, states, actions, _ = _case("pendulum")
    with pytest.raises(ValueError, match="actions must have shape"):
        system.dynamics.linearize_fd(states[:T], actions[:, :0])


def test_actions_are_clamped_to_ctrlrange_by_the_dynamics():
    system, states, actions, _ = _case("pendulum")
    high = system.action_bounds[1]
    x = states[0]
    step = _compile(system.dynamics, x, high)
    np.testing.assert_allclose(step(x, 10 * high), step(x, high), atol=1e-14)


def test_quaternion_tangent_maps_are_consistent():
    """E (tangent -> quaternion coordinates) and P (back) satisfy P E = I on the tangent space."""
    dyn = systems.make("ant").dynamics
    x = np.asarray(systems.make("ant").x0, dtype=np.float64).copy()
    q = np.array([0.9, 0.1, -0.3, 0.2])
    x[3:7] = q / np.linalg.norm(q)
    E, P = dyn._tangent_maps(x)
    np.testing.assert_allclose(P @ E, np.eye(2 * dyn.nv), atol=1e-12)
    # P ignores changes of the quaternion's norm (MuJoCo renormalizes).
    radial = np.zeros(dyn.state_dim)
    radial[3:7] = x[3:7]
    np.testing.assert_allclose(P @ radial, 0.0, atol=1e-12)


# Steps of the contact check: the ant drops from 0.75 m and touches the floor at step 10.
CONTACT_T = 20


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ant", "humanoid_standup"])
def test_contact_systems_step_like_mujoco_and_linearize_finitely(name):
    """MJX and C MuJoCo agree in contact while nothing slides (zero actions).

    With the MJCF's pyramidal friction cones they differ once contacts slide: the pyramid's edges
    follow each contact's tangent frame, and for capsule-plane contacts C MuJoCo aligns the first
    tangent with the capsule axis while MJX 3.17 uses a fixed world axis, so the friction forces
    differ (measured on the ant with random actions: up to 0.33 rad/s in a joint rate in one
    step, same contacts and penetrations). With elliptic cones (rotation invariant, ``opt.cone``)
    the same steps agree to ~1e-5 (solver tolerance); solver iterations and tolerances make no
    difference.
    """
    system = systems.make(name, horizon=CONTACT_T)
    actions = jnp.zeros((CONTACT_T, system.action_dim))
    states = _compile(system.rollout, actions)(actions)
    reference = system.dynamics.rollout_c(system.x0, actions)
    data = mujoco.MjData(system.dynamics.mj_model)
    in_contact = 0
    for x in reference:
        system.dynamics._set(data, x)
        mujoco.mj_forward(system.dynamics.mj_model, data)
        in_contact += data.ncon > 0
    assert in_contact >= 5
    # Measured: 3e-15 (ant, 10 steps in contact), 3e-12 (humanoid, all 21 states in contact).
    np.testing.assert_allclose(np.asarray(states), reference, rtol=0, atol=1e-8)
    linear = _compile(functools.partial(lqgx.linearize, system), states, actions)(states, actions)
    fd = lqgx.linearize(system, states, actions, method="fd")
    assert np.all(np.isfinite(np.asarray(linear.A))) and np.all(np.isfinite(np.asarray(fd.A)))
