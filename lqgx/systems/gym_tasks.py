"""Gymnasium's MuJoCo tasks ``Ant-v5`` and ``HumanoidStandup-v5``: their models and settings on MJX.

The MJCF files are the ones the installed ``gymnasium`` package ships
(``gymnasium/envs/mujoco/assets``), with Gymnasium's frame skip of 5. MJX cannot run everything C
MuJoCo does, so two settings differ from Gymnasium's files, each chosen so that MJX and C MuJoCo
step alike (``tests/ddpl/test_mamujoco.py`` drives Gymnasium's own environments with them):

* Ant: elliptic friction cones instead of pyramidal. With pyramidal cones MJX 3.17 and C MuJoCo
  build different contact tangent frames, and a pyramid's edges follow them: once a foot slides,
  one env step differs by up to ~0.9 rad/s in a joint rate (median 6e-4). Elliptic cones are
  rotation invariant: ~2e-3 rad/s worst case, 3e-5 median (float64, 100 random-action steps).
* HumanoidStandup: the Newton solver instead of PGS, which MJX does not have.

MJX's RK4 also differs from C MuJoCo 4.0's by ~2e-6 per step in the free joint's quaternion
(contact-free; Euler steps agree to 1e-13).

``physics="gymnasium"`` keeps the models' solver iteration limits (Ant 100 Newton / 50
line-search iterations, HumanoidStandup 50 / 50). float32 never reaches their 1e-8 tolerance, so
every solve then runs all of them; ``"fast"`` (the default) caps them at 4 / 8, ~4.5× faster on
CPU, at the cost of a larger per-step difference from C MuJoCo (Ant, float64: median 7e-5,
worst 1e-2 rad/s in a joint rate).
"""

from __future__ import annotations

import dataclasses
import importlib.resources

import mujoco

EPISODE_STEPS = 1000
FRAME_SKIP = 5
PHYSICS = ("fast", "gymnasium")
_FAST_ITERATIONS, _FAST_LS_ITERATIONS = 4, 8


# -- base tasks -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BaseTask:
    """One of Gymnasium's MuJoCo tasks, as its v5 source defines it."""

    gym_id: str
    xml: str
    reset_noise: float
    normal_velocity_noise: bool       # Ant: qvel + scale·N(0, 1); HumanoidStandup: U(−s, s)
    body_categories: tuple            # observation blocks after qpos[2:], qvel (Gymnasium order)
    local_categories: tuple           # MaMuJoCo depth-0 categories


ANT = BaseTask("Ant-v5", "ant.xml", 0.1, True, ("cfrc_ext",), ("qpos", "qvel", "cfrc_ext"))
HUMANOID_STANDUP = BaseTask("HumanoidStandup-v5", "humanoidstandup.xml", 1e-2, False,
                            ("cinert", "cvel", "qfrc_actuator", "cfrc_ext"),
                            ("qpos", "qvel", "cinert", "cvel", "qfrc_actuator", "cfrc_ext"))


def gymnasium_model_path(xml: str) -> str:
    """Path of an MJCF file shipped inside the installed ``gymnasium`` package."""
    files = importlib.resources.files("gymnasium.envs.mujoco") / "assets" / xml
    return str(files)


def load_model(task: BaseTask, physics: str = "fast") -> mujoco.MjModel:
    """Gymnasium's C model of ``task`` with the MJX-compatible settings (module docstring)."""
    if physics not in PHYSICS:
        raise ValueError(f"physics must be one of {PHYSICS}, got {physics!r}")
    model = mujoco.MjModel.from_xml_path(gymnasium_model_path(task.xml))
    apply_mjx_settings(model, task)
    if physics == "fast":
        model.opt.iterations = min(int(model.opt.iterations), _FAST_ITERATIONS)
        model.opt.ls_iterations = min(int(model.opt.ls_iterations), _FAST_LS_ITERATIONS)
    return model


def apply_mjx_settings(model: mujoco.MjModel, task: BaseTask) -> None:
    """The two changes from Gymnasium's files that MJX needs (module docstring), in place; the
    parity tests apply them to Gymnasium's own environment's model too."""
    if task is ANT:
        model.opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    else:
        model.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
