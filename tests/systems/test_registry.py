"""lqgx.systems registry: names, make, options, documented layouts and bounds."""

import math

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import lqgx
from lqgx import systems

EXPECTED = ["pendulum", "cartpole", "acrobot", "double_pendulum", "quad_pendulum", "reacher",
            "ant", "humanoid_standup", "ant_v5", "humanoid_standup_v5"]


def test_names_lists_every_system():
    assert systems.names() == EXPECTED


def test_unknown_name_raises_value_error_listing_the_names():
    with pytest.raises(ValueError, match="available: pendulum, cartpole") as err:
        systems.make("pendulumm")
    for name in EXPECTED:
        assert name in str(err.value)


@pytest.mark.parametrize("options, match", [
    ({"horizonn": 5}, "unknown option"),
    ({"horizon": 0}, "horizon"),
    ({"goal": [1.0, 2.0, 3.0]}, "goal must have shape"),
    ({"Q": np.ones((3, 3))}, "Q must be"),
    ({"R": -1.0}, "R must be positive semidefinite"),
    ({"dt": -0.1}, "dt must be"),
    ({"x0_cov": np.eye(3)}, "x0_cov must have shape"),
    ({"dtype": jnp.int32}, "dtype"),
])
def test_bad_options_raise_value_error_naming_the_option(options, match):
    with pytest.raises(ValueError, match=match):
        systems.make("pendulum", **options)


@pytest.mark.parametrize("name", EXPECTED)
def test_every_system_loads_with_documented_layout_and_ctrlrange_bounds(name):
    system = systems.make(name)
    dyn = system.dynamics
    model = dyn.mj_model
    assert isinstance(system, lqgx.System)
    assert system.name == name
    assert system.state_dim == model.nq + model.nv
    assert system.action_dim == model.nu
    np.testing.assert_array_equal(system.action_bounds[0], model.actuator_ctrlrange[:, 0])
    np.testing.assert_array_equal(system.action_bounds[1], model.actuator_ctrlrange[:, 1])
    assert dyn.dt == dyn.frame_skip * model.opt.timestep
    doc = getattr(systems, name).__doc__
    for word in ("State", "Action", "dt", "horizon", "Cost", "x0", "noise"):
        assert word in doc, (name, word)
    assert np.isfinite(float(system.cost(system.x0, jnp.zeros(system.action_dim), 0)))
    assert np.isfinite(float(system.final_cost(system.x0)))


def test_pendulum_torque_limit_is_below_the_static_hold_torque():
    system = systems.make("pendulum")
    model = system.dynamics.mj_model
    hold = model.body_mass[1] * 9.81 * 1.0   # bob at 1 m, horizontal
    assert system.action_bounds[1][0] < 0.5 * hold


def test_double_pendulum_matches_thesis_section_6_1_setup():
    system = systems.make("double_pendulum")
    model = system.dynamics.mj_model
    assert model.nu == 2 and model.nv == 2                  # fully actuated two-link arm
    assert np.all(model.dof_damping > 0)                     # joint friction
    link2 = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "link2")
    assert -model.body_ipos[link2][2] > 0.5                  # CoM shifted toward the end
    assert np.all(model.actuator_ctrllimited)                # sharp torque limits
    np.testing.assert_allclose(system.x0, 0.0)              # hanging down
    goal = jnp.array([math.pi, 0.0, 0.0, 0.0])
    u = jnp.zeros(2)
    x = jnp.zeros(4)
    T = system.horizon
    # State cost only on the tail of the horizon (stabilize the tail upright).
    assert float(system.cost(x, u, 0)) == 0.0
    assert float(system.cost(x, u, T - 1)) > 0.0
    assert float(system.cost(goal, u, T - 1)) == 0.0
    assert float(system.final_cost(goal)) == 0.0


def test_quad_pendulum_costs_only_the_end_state_plus_control():
    system = systems.make("quad_pendulum")
    assert system.action_dim == 4 and system.state_dim == 8
    x = jnp.ones(8)
    assert float(system.cost(x, jnp.zeros(4), 3)) == 0.0
    assert float(system.cost(x, jnp.ones(4), 3)) > 0.0
    assert float(system.final_cost(x)) > 0.0


def test_quad_pendulum_stays_finite_under_maximal_power_torques():
    """Torque along every joint's velocity at the limits pumps energy as fast as the actuators
    can: the damping saturates the speeds (~100 rad/s, 2 rad per RK4 step). Semi-implicit Euler
    at dt 0.02 diverged to inf within 40-110 steps of this at damping 0.05-0.5, RK4 with damping
    0.2 in float32 after 170 (see ``systems.quad_pendulum``)."""
    system = systems.make("quad_pendulum")
    high = system.action_bounds[1]

    def step(x, _):
        x = system.dynamics(x, high * jnp.sign(x[4:]))
        return x, x

    _, states = jax.jit(lambda x0: jax.lax.scan(step, x0, None, length=300))(
        system.x0.at[4].set(0.1))
    states = np.asarray(states)
    assert np.all(np.isfinite(states))
    assert np.abs(states[:, 4:]).max() < 120.0


def test_options_override_horizon_goal_weights_dt_and_noise():
    system = systems.make("pendulum", horizon=7, goal=[1.0, 0.0], Q=0.0, R=2.0, Qf=[4.0, 0.0],
                          dt=0.01, noise_cov=np.zeros((2, 2)))
    assert system.horizon == 7
    assert system.dynamics.dt == 0.01
    assert not np.any(np.asarray(system.noise_cov))
    np.testing.assert_allclose(system.cost(jnp.zeros(2), jnp.ones(1), 0), 1.0)
    np.testing.assert_allclose(system.final_cost(jnp.zeros(2)), 2.0)


def test_reacher_fingertip_matches_mujoco_site():
    system = systems.make("reacher")
    model = system.dynamics.mj_model
    data = mujoco.MjData(model)
    q = np.array([0.7, -1.3])
    data.qpos[:] = q
    mujoco.mj_kinematics(model, data)
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "fingertip")
    from lqgx.systems.catalog import fingertip

    np.testing.assert_allclose(fingertip(jnp.asarray(q)), data.site_xpos[site][:2], atol=1e-12)


def test_float32_system_steps_in_float32_close_to_mujoco():
    s32 = systems.make("pendulum", dtype=jnp.float32)
    assert s32.x0.dtype == jnp.float32 and s32.action_bounds[0].dtype == jnp.float32
    x, u = jnp.array([0.3, -0.2], jnp.float32), jnp.array([2.0], jnp.float32)
    x_next = jax.jit(s32.dynamics)(x, u)
    assert x_next.dtype == jnp.float32
    reference = s32.dynamics.step_c(np.asarray(x, np.float64), np.asarray(u, np.float64))
    np.testing.assert_allclose(x_next, reference, atol=1e-5)
    assert s32.cost(x, u, 0).dtype == jnp.float32
