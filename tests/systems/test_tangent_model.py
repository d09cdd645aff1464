"""``MjxDynamics(model, tangent_model=twin)``: steps ``model``, differentiates ``twin``.

The Ant's system relies on it (MJX's elliptic-cone solver has NaN tangents at contacts without
tangential force, ``lqgx/systems/_mjx.py``); checked here on a one-joint pendulum whose twin has
another damping, so the two Jacobians differ and the test can tell which one is returned.
"""

import copy

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from lqgx.systems._mjx import MjxDynamics

XML = """
<mujoco>
  <option timestep="0.01"/>
  <worldbody>
    <body pos="0 0 1">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.1"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.05" mass="1"/>
    </body>
  </worldbody>
  <actuator><motor joint="hinge" ctrlrange="-2 2"/></actuator>
</mujoco>
"""


def test_the_primal_is_the_models_and_the_jacobian_the_twins():
    model = mujoco.MjModel.from_xml_string(XML)
    twin = copy.deepcopy(model)
    twin.dof_damping[:] = 5.0
    plain, other = MjxDynamics(model, frame_skip=2), MjxDynamics(twin, frame_skip=2)
    mixed = MjxDynamics(model, frame_skip=2, tangent_model=twin)
    x, u = jnp.array([0.4, -1.0]), jnp.array([0.7])
    jac = jax.jit(jax.jacfwd(lambda d, x, u: d(x, u), argnums=(1, 2)), static_argnums=0)
    np.testing.assert_array_equal(np.asarray(jax.jit(mixed)(x, u)), np.asarray(jax.jit(plain)(x, u)))
    for got, want, wrong in zip(jac(mixed, x, u), jac(other, x, u), jac(plain, x, u)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
        assert np.max(np.abs(np.asarray(want) - np.asarray(wrong))) > 1e-3
    with pytest.raises(ValueError, match="tangent_model"):
        MjxDynamics(model, tangent_model=mujoco.MjModel.from_xml_string(XML.replace(
            '<actuator><motor joint="hinge" ctrlrange="-2 2"/></actuator>', "")))
