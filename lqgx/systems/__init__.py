"""MJX-backed systems: MuJoCo models shipped as MJCF package data, stepped with MJX.

``names()`` lists the systems, ``make(name, **options)`` builds an ``lqgx.System`` whose dynamics
is an ``MjxDynamics`` (``(x, u) -> x_next``, one MuJoCo step, differentiable through MJX, with
``linearize_fd`` for ``lqgx.linearize(..., method="fd")``), and ``make_env(name)`` wraps the same
model as a ``gymnasium.Env``. Each system's builder (``lqgx.systems.pendulum`` etc.) documents its
state layout, action bounds, ``dt``, horizon, cost, initial distribution and noise; the shared
conventions and options are in ``lqgx.systems.catalog``.
"""

from __future__ import annotations

from lqgx.systems._mjx import MjxDynamics
from lqgx.systems.catalog import (BUILDERS, CONTACT_FREE, acrobot, ant, ant_v5, cartpole,
                                  double_pendulum, humanoid_standup, humanoid_standup_v5,
                                  load_model, pendulum, quad_pendulum, reacher)

__all__ = ["names", "make", "make_env", "MjxDynamics", "load_model", "pendulum", "cartpole",
           "acrobot", "double_pendulum", "quad_pendulum", "reacher", "ant", "humanoid_standup",
           "ant_v5", "humanoid_standup_v5", "CONTACT_FREE"]


def names() -> list[str]:
    """The registered system names, in a fixed order."""
    return list(BUILDERS)


def _builder(name):
    if not isinstance(name, str) or name not in BUILDERS:
        raise ValueError(f"unknown system name {name!r}; available: {', '.join(BUILDERS)}")
    return BUILDERS[name]


def make(name: str, **options):
    """Build the ``lqgx.System`` called ``name`` (see ``names()``).

    Options override the defaults documented on each builder: ``horizon``, ``dt``, ``goal``,
    ``Q``, ``R``, ``Qf``, ``x0``, ``x0_cov``, ``noise_cov``, ``dtype`` (and ``tail`` for the
    double pendulum). Unknown names or options raise ``ValueError``.
    """
    return _builder(name)(**options)


def make_env(name: str, **options):
    """A ``gymnasium.Env`` over the same MJX model (see ``lqgx.systems.env.SystemEnv``)."""
    from lqgx.systems.env import SystemEnv

    return SystemEnv(make(name, **options))
