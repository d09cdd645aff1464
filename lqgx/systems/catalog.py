"""The MJX-backed systems: one builder per system, ``builder(**options) -> lqgx.System``.

Common conventions (every system):

* State ``x = concat(qpos, qvel)`` (see ``lqgx.systems._mjx``); for hinge joints the angle is in
  radians, ``q = 0`` is the MJCF rest pose (pendulums hang straight down).
* Action ``u = ctrl`` of the MJCF motors, clamped by MuJoCo to ``ctrlrange``; ``System.action_bounds``
  is the same ``ctrlrange``. Torque = ``gear * ctrl``.
* One dynamics call is one MuJoCo step of ``dt = model.opt.timestep`` (semi-implicit Euler with
  implicit joint damping).
* Costs are minimized. Unless a system says otherwise the running cost is
  ``1/2 w_t (x - goal)^T Q (x - goal) + 1/2 u^T R u`` and the final cost
  ``1/2 (x_T - goal)^T Qf (x_T - goal)``.
* Initial state ``x0 ~ N(x0, x0_cov)``, additive process noise ``w_t ~ N(0, noise_cov)``.

Options accepted by every builder (all optional):

``horizon`` (int T), ``dt`` (float, overrides ``opt.timestep``), ``goal`` (see each system),
``Q``, ``R``, ``Qf`` (``[n]``/``[m]`` diagonals or full matrices; for the ant and humanoid
``Q``/``R`` are scalar weights, see there), ``x0`` ``[n]``, ``x0_cov`` ``[n, n]``,
``noise_cov`` ``[n, n]``, ``dtype`` (``jnp.float32``/``jnp.float64``; default: JAX's default
float, float64 under x64). Plus system-specific ones (``tail`` for the double pendulum).
"""

from __future__ import annotations

import copy
import importlib.resources
import math

import jax.numpy as jnp
import mujoco
import numpy as np

from lqgx._checks import positive_int
from lqgx.system import System
from lqgx.systems import gym_tasks
from lqgx.systems._mjx import MjxDynamics

_COMMON = ("horizon", "dt", "goal", "Q", "R", "Qf", "x0", "x0_cov", "noise_cov", "dtype")


def load_model(asset: str, dt: float | None = None) -> mujoco.MjModel:
    """The C model of ``lqgx/systems/assets/<asset>.xml`` (with ``opt.timestep = dt`` if given)."""
    path = importlib.resources.files("lqgx.systems") / "assets" / f"{asset}.xml"
    with importlib.resources.as_file(path) as file:
        model = mujoco.MjModel.from_xml_path(str(file))
    if dt is not None:
        dt = float(dt)
        if not dt > 0 or not math.isfinite(dt):
            raise ValueError(f"dt must be a positive float, got {dt!r}")
        model.opt.timestep = dt
    return model


# -- option helpers ---------------------------------------------------------------------------------
def _check_options(name: str, options: dict, extra: tuple[str, ...] = ()) -> None:
    allowed = _COMMON + extra
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for system {name!r}; "
                         f"allowed: {sorted(allowed)}")


def _dtype(options):
    dtype = options.get("dtype")
    if dtype is None:
        return jnp.result_type(float)
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _vector(value, size: int, arg: str, dtype):
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = np.full((size,), float(array))
    if array.shape != (size,):
        raise ValueError(f"{arg} must have shape [{size}], got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{arg} must be finite")
    return jnp.asarray(array, dtype=dtype)


def _weight(value, size: int, arg: str, dtype):
    """A PSD weight matrix from a scalar, a diagonal ``[size]`` or a matrix ``[size, size]``."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = np.full((size,), float(array))
    if array.shape == (size,):
        array = np.diag(array)
    if array.shape != (size, size):
        raise ValueError(f"{arg} must be a scalar, a diagonal [{size}] or a matrix "
                         f"[{size}, {size}], got shape {np.shape(value)}")
    if not np.all(np.isfinite(array)) or not np.allclose(array, array.T):
        raise ValueError(f"{arg} must be a finite symmetric matrix")
    if np.min(np.linalg.eigvalsh(array)) < -1e-12 * max(1.0, np.abs(array).max()):
        raise ValueError(f"{arg} must be positive semidefinite")
    return jnp.asarray(array, dtype=dtype)


def _horizon(options, default: int) -> int:
    return positive_int(options.get("horizon", default), "horizon")


def _bounds(model: mujoco.MjModel, dtype):
    low = jnp.asarray(model.actuator_ctrlrange[:, 0], dtype=dtype)
    high = jnp.asarray(model.actuator_ctrlrange[:, 1], dtype=dtype)
    return low, high


def _quadratic_costs(goal, Q, R, Qf, active=None):
    """Running ``1/2 w_t (x-goal)^T Q (x-goal) + 1/2 u^T R u`` and final ``1/2 d^T Qf d``.

    ``active(t) -> 0/1`` switches the state term on (``None``: always on).
    """

    def cost(x, u, t):
        d = x - goal.astype(x.dtype)
        state = 0.5 * d @ Q.astype(x.dtype) @ d
        if active is not None:
            state = jnp.where(active(t), state, jnp.zeros_like(state))
        return state + 0.5 * u @ R.astype(u.dtype) @ u

    def final_cost(x):
        d = x - goal.astype(x.dtype)
        return 0.5 * d @ Qf.astype(x.dtype) @ d

    return cost, final_cost


def _angle_system(name: str, options: dict, *, horizon: int, goal, Q, R, Qf, x0_std=1e-2,
                  qvel_noise=1e-2, qpos_noise=1e-3, active_tail=None) -> System:
    """Shared builder of the contact-free hinge/slide systems with quadratic costs."""
    dtype = _dtype(options)
    model = load_model(name, options.get("dt"))
    dyn = MjxDynamics(model)
    n, m = dyn.state_dim, dyn.nu
    T = _horizon(options, horizon)
    goal = _vector(options.get("goal", goal), n, "goal", dtype)
    Q = _weight(options.get("Q", Q), n, "Q", dtype)
    R = _weight(options.get("R", R), m, "R", dtype)
    Qf = _weight(options.get("Qf", Qf), n, "Qf", dtype)
    active = None
    if active_tail is not None:
        tail = options.get("tail", min(active_tail, T))
        if isinstance(tail, bool) or not isinstance(tail, (int, np.integer)) or not 0 < tail <= T:
            raise ValueError(f"tail must be an integer in [1, horizon={T}], got {tail!r}")
        start = T - int(tail)
        active = lambda t: t >= start  # noqa: E731
    cost, final_cost = _quadratic_costs(goal, Q, R, Qf, active)
    x0 = _vector(options.get("x0", np.zeros(n)), n, "x0", dtype)
    nq = dyn.nq
    x0_cov = options.get("x0_cov", np.eye(n) * x0_std**2)
    noise_cov = options.get("noise_cov",
                            np.diag([qpos_noise**2] * nq + [qvel_noise**2] * (n - nq)))
    return System(dyn, cost, final_cost, x0, T, x0_cov=_cov(x0_cov, n, "x0_cov", dtype),
                  noise_cov=_cov(noise_cov, n, "noise_cov", dtype),
                  action_bounds=_bounds(model, dtype), name=name)


def _cov(value, n, arg, dtype):
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (n, n):
        raise ValueError(f"{arg} must have shape [{n}, {n}], got {array.shape}")
    return jnp.asarray(array, dtype=dtype)


# -- the systems ------------------------------------------------------------------------------------
def pendulum(**options) -> System:
    """Torque-limited pendulum swing-up (``assets/pendulum.xml``).

    * State ``x[2] = (q, qdot)``: hinge angle about the world y axis (``q = 0`` hanging down,
      ``q = pi`` upright) and its rate.
    * Action ``u[1]``: shoulder torque, bounds ``[-3, 3]`` N m. The bob (1 kg at 1 m) needs
      ~9.8 N m to be held horizontal, so the controller must pump energy.
    * ``dt = 0.05`` s, default horizon ``T = 100`` (5 s); viscous joint damping 0.05 N m s.
    * Cost: ``goal = (pi, 0)``, ``Q = diag(1, 0.1)``, ``R = 0.01``, ``Qf = diag(100, 10)``.
    * ``x0 = 0`` (hanging at rest), ``x0_cov = 1e-4 I``; process noise ``diag(1e-6, 1e-4)``.
    """
    _check_options("pendulum", options)
    return _angle_system("pendulum", options, horizon=100, goal=[math.pi, 0.0], Q=[1.0, 0.1],
                         R=[0.01], Qf=[100.0, 10.0])


def cartpole(**options) -> System:
    """Cart-pole swing-up (``assets/cartpole.xml``).

    * State ``x[4] = (p, q, pdot, qdot)``: cart position along the rail (m, unbounded), pole angle
      (``q = 0`` hanging down, ``q = pi`` upright), and their rates.
    * Action ``u[1]``: force on the cart, bounds ``[-10, 10]`` N. Cart 1 kg, pole 0.3 kg, 0.8 m.
    * ``dt = 0.05`` s, default horizon ``T = 80`` (4 s).
    * Cost: ``goal = (0, pi, 0, 0)``, ``Q = diag(1, 1, 0.1, 0.1)``, ``R = 0.01``,
      ``Qf = diag(100, 100, 10, 10)``.
    * ``x0 = 0``, ``x0_cov = 1e-4 I``; process noise ``diag(1e-6, 1e-6, 1e-4, 1e-4)``.
    """
    _check_options("cartpole", options)
    return _angle_system("cartpole", options, horizon=80, goal=[0.0, math.pi, 0.0, 0.0],
                         Q=[1.0, 1.0, 0.1, 0.1], R=[0.01], Qf=[100.0, 100.0, 10.0, 10.0])


def acrobot(**options) -> System:
    """Acrobot swing-up: a double pendulum actuated only at the elbow (``assets/acrobot.xml``).

    * State ``x[4] = (q1, q2, q1dot, q2dot)``: shoulder angle (absolute, ``0`` = down) and elbow
      angle (relative to link 1), rates. Links: 1 m, 1 kg uniform capsules.
    * Action ``u[1]``: elbow torque, bounds ``[-8, 8]`` N m (the shoulder is passive).
    * ``dt = 0.05`` s, default horizon ``T = 100`` (5 s).
    * Cost: ``goal = (pi, 0, 0, 0)``, ``Q = diag(1, 1, 0.1, 0.1)``, ``R = 0.01``,
      ``Qf = diag(100, 100, 10, 10)``.
    * ``x0 = 0``, ``x0_cov = 1e-4 I``; process noise ``diag(1e-6, 1e-6, 1e-4, 1e-4)``.
    """
    _check_options("acrobot", options)
    return _angle_system("acrobot", options, horizon=100, goal=[math.pi, 0.0, 0.0, 0.0],
                         Q=[1.0, 1.0, 0.1, 0.1], R=[0.01], Qf=[100.0, 100.0, 10.0, 10.0])


def double_pendulum(**options) -> System:
    """Double pendulum swing-up of thesis section 6.1 (``assets/double_pendulum.xml``).

    Thesis §6.1: "a fully actuated two link arm under the influence of gravity ... a full swing up
    of the pendulum starting from the down-right position and try to stabilize the tail of the
    trajectory around the up-right posture ... friction to the joints and shift the center of mass
    towards the end of the second link ... sharp non-linear constraints" on the torque. The thesis
    gives no numbers; ours:

    * Links of 1 m and 1 kg; link 1 uniform (centre of mass at 0.5 m), link 2 with its centre of
      mass at 0.75 m. Joint friction: viscous damping 0.1 N m s per joint.
    * State ``x[4] = (q1, q2, q1dot, q2dot)``: shoulder angle (absolute, ``0`` = hanging down,
      ``pi`` = upright), elbow angle relative to link 1, rates.
    * Action ``u[2]``: joint torques, hard-clamped by MuJoCo to ``[-15, 15] x [-8, 8]`` N m (the
      "sharp" limits; ``action_bounds`` are the same box).
    * ``dt = 0.05`` s, default horizon ``T = 100`` (5 s).
    * Cost: the state term is active only on the last ``tail = 20`` steps (1 s) —
      ``goal = (pi, 0, 0, 0)``, ``Q = diag(10, 10, 1, 1)`` there —, control ``R = 0.01 I`` at all
      steps, ``Qf = diag(100, 100, 10, 10)``. Option ``tail`` changes the window.
    * ``x0 = 0`` (hanging at rest), ``x0_cov = 1e-4 I``; process noise
      ``diag(1e-6, 1e-6, 1e-4, 1e-4)`` (thesis: "to account for the stochasticity of the setup").
      The thesis uses 25 samples per iteration for linearization.
    """
    _check_options("double_pendulum", options, extra=("tail",))
    return _angle_system("double_pendulum", options, horizon=100,
                         goal=[math.pi, 0.0, 0.0, 0.0], Q=[10.0, 10.0, 1.0, 1.0], R=[0.01, 0.01],
                         Qf=[100.0, 100.0, 10.0, 10.0], active_tail=20)


def quad_pendulum(**options) -> System:
    """Quad pendulum swing-up of thesis section 6.2 (``assets/quad_pendulum.xml``).

    Thesis §6.2: like the double pendulum "with much higher complexity in the dynamics. The
    pendulum is fully actuated and has to be swung-up and stabilized in the up-right position. We
    only specify the end-points of the trajectory ... and forgo the specification of any other
    via-points." Ours:

    * Four uniform links of 0.5 m and 0.5 kg; viscous joint damping 0.3 N m s.
    * Integrator RK4. MuJoCo's semi-implicit Euler at this step is not a usable "true system":
      a swing-up reaches ~30 rad/s (0.6 rad per step) and Euler's rotational error grows every
      step; samples of a policy update with saturated, chattering torques blew up to inf at
      100+ rad/s in 4-34% of the rollouts, and torques along the joint velocities diverge within
      ~50 steps at any damping up to 0.5. RK4 is stable up to ~2.8 rad per step; the damping keeps
      the speeds bounded torques can reach below ~100 rad/s (2 rad per step), see
      ``tests/systems/test_registry.py``.
    * State ``x[8] = (q1..q4, q1dot..q4dot)``: ``q1`` absolute (``0`` = down, ``pi`` = up), the
      others relative to the previous link.
    * Action ``u[4]``: joint torques, clamped to ``[-20, 20], [-12, 12], [-6, 6], [-3, 3]`` N m
      (shoulder to tip).
    * ``dt = 0.02`` s, default horizon ``T = 150`` (3 s).
    * Cost on the end state only plus control: running ``1/2 u^T R u`` with ``R = 1e-3 I``
      (``Q = 0``), final ``Qf = diag(1000 x4, 10 x4)`` about ``goal = (pi, 0, 0, 0, 0, 0, 0, 0)``.
    * ``x0 = 0``, ``x0_cov = 1e-4 I``; process noise ``diag(1e-6 x4, 1e-4 x4)``. The thesis uses
      100 samples per iteration for linearization.
    """
    _check_options("quad_pendulum", options)
    return _angle_system("quad_pendulum", options, horizon=150,
                         goal=[math.pi] + [0.0] * 7, Q=[0.0] * 8, R=[1e-3] * 4,
                         Qf=[1000.0] * 4 + [10.0] * 4)


REACHER_LINKS = (0.1, 0.11)


def fingertip(x):
    """Reacher fingertip ``(x, y)`` in metres from ``x[:2]`` (planar forward kinematics)."""
    l1, l2 = REACHER_LINKS
    q1, q2 = x[0], x[0] + x[1]
    return jnp.stack([l1 * jnp.cos(q1) + l2 * jnp.cos(q2), l1 * jnp.sin(q1) + l2 * jnp.sin(q2)])


def reacher(**options) -> System:
    """Planar two-link arm reaching a target (``assets/reacher.xml``).

    * State ``x[4] = (q1, q2, q1dot, q2dot)``: shoulder and elbow angles about the vertical axis
      (``0`` = arm stretched along +x), rates. Links of 0.1 m and 0.11 m, 0.05 kg each.
    * Action ``u[2]``: joint commands in ``[-1, 1]``, torque = 0.01 N m x command.
    * ``dt = 0.02`` s, default horizon ``T = 50`` (1 s).
    * Cost: ``goal = (0.1, 0.1)`` is the target point (m) in the plane;
      running ``1/2 Q |tip(x) - goal|^2 + 1/2 1e-3 |qdot|^2 + 1/2 u^T R u`` with ``Q = 10``,
      ``R = 1e-3 I``; final ``1/2 Qf |tip - goal|^2 + 1/2 0.1 |qdot|^2`` with ``Qf = 1000``.
      ``Q`` and ``Qf`` are scalars here. ``tip`` is ``lqgx.systems.catalog.fingertip``.
    * ``x0 = 0``, ``x0_cov = 1e-4 I``; process noise ``diag(1e-6, 1e-6, 1e-4, 1e-4)``.
    """
    _check_options("reacher", options)
    dtype = _dtype(options)
    model = load_model("reacher", options.get("dt"))
    dyn = MjxDynamics(model)
    n, m = 4, 2
    T = _horizon(options, 50)
    goal = _vector(options.get("goal", [0.1, 0.1]), 2, "goal", dtype)
    q_w = _scalar(options.get("Q", 10.0), "Q")
    qf_w = _scalar(options.get("Qf", 1000.0), "Qf")
    R = _weight(options.get("R", [1e-3, 1e-3]), m, "R", dtype)

    def cost(x, u, t):
        d = fingertip(x) - goal.astype(x.dtype)
        return 0.5 * q_w * d @ d + 0.5e-3 * x[2:] @ x[2:] + 0.5 * u @ R.astype(u.dtype) @ u

    def final_cost(x):
        d = fingertip(x) - goal.astype(x.dtype)
        return 0.5 * qf_w * d @ d + 0.05 * x[2:] @ x[2:]

    x0 = _vector(options.get("x0", np.zeros(n)), n, "x0", dtype)
    return System(dyn, cost, final_cost, x0, T,
                  x0_cov=_cov(options.get("x0_cov", 1e-4 * np.eye(n)), n, "x0_cov", dtype),
                  noise_cov=_cov(options.get("noise_cov", np.diag([1e-6, 1e-6, 1e-4, 1e-4])), n,
                                 "noise_cov", dtype),
                  action_bounds=_bounds(model, dtype), name="reacher")


def _scalar(value, arg):
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{arg} must be a non-negative scalar here, got {value!r}") from err
    if not value >= 0 or not math.isfinite(value):
        raise ValueError(f"{arg} must be a non-negative finite scalar, got {value!r}")
    return value


def _free_body_system(name: str, options: dict, *, horizon: int, qpos0, cost_terms) -> System:
    dtype = _dtype(options)
    model = load_model(name, options.get("dt"))
    dyn = MjxDynamics(model)
    n, nq = dyn.state_dim, dyn.nq
    T = _horizon(options, horizon)
    cost, final_cost = cost_terms(options)
    x0_default = np.concatenate([qpos0, np.zeros(dyn.nv)])
    x0 = _vector(options.get("x0", x0_default), n, "x0", dtype)
    # Noise and initial spread only on the joint angles and velocities (not on the quaternion).
    spread = np.zeros(n)
    spread[7:nq] = 1e-2
    spread[nq:] = 1e-2
    noise = np.zeros(n)
    noise[nq:] = 1e-2
    return System(dyn, cost, final_cost, x0, T,
                  x0_cov=_cov(options.get("x0_cov", np.diag(spread**2)), n, "x0_cov", dtype),
                  noise_cov=_cov(options.get("noise_cov", np.diag(noise**2)), n, "noise_cov",
                                 dtype),
                  action_bounds=_bounds(model, dtype), name=name)


def ant(**options) -> System:
    """Ant quadruped walking forward, contacts on (``assets/ant.xml``).

    * State ``x[29] = (qpos[15], qvel[14])``: qpos = torso position (3), torso orientation as a
      unit quaternion ``(w, x, y, z)`` (4), 8 leg hinge angles (hip, ankle per leg);
      qvel = torso linear velocity (world frame, 3), angular velocity (body frame, 3), 8 joint
      rates. The quaternion is part of the state; MuJoCo renormalizes it every step, and
      ``linearize(method="fd")`` maps MuJoCo's 28-dim tangent Jacobians onto these 29 coordinates
      (see ``lqgx.systems._mjx``).
    * Contacts (pyramidal friction cones, as in the MJCF): MJX and C MuJoCo step identically
      (~1e-15) while contacts stick, but differ once they slide (up to ~0.3 rad/s in a joint rate
      per step): capsule-plane contacts get different tangent frames in MJX 3.17 and C MuJoCo,
      and a pyramid's friction edges follow that frame. ``opt.cone = mjCONE_ELLIPTIC`` (rotation
      invariant) brings them to ~1e-5. FD and autodiff Jacobians also differ where the centered
      FD stencil (``eps = 2e-4``) makes or breaks a contact; autodiff gives the derivative of the
      current contact set.
    * Action ``u[8]`` in ``[-1, 1]``, torque = 15 N m x command, order
      hip_1 ankle_1 hip_2 ankle_2 hip_3 ankle_3 hip_4 ankle_4.
    * ``dt = 0.02`` s, default horizon ``T = 50`` (1 s).
    * Cost: ``goal`` = target forward speed (default 1 m/s);
      running ``1/2 Q [(vx - goal)^2 + 10 (z - 0.55)^2] + 1/2 R |u|^2``, ``Q = 1``, ``R = 0.05``;
      final the same state term times ``Qf = 10``.
    * ``x0``: torso at 0.75 m, upright, ankles at +-50 deg, at rest; ``x0_cov`` 1e-4 on joint
      angles and velocities; process noise ``1e-4`` on the velocities only.
    """
    _check_options("ant", options)

    def terms(opts):
        target = _scalar_goal(opts.get("goal", 1.0), "ant")
        q_w, r_w = _scalar(opts.get("Q", 1.0), "Q"), _scalar(opts.get("R", 0.05), "R")
        qf_w = _scalar(opts.get("Qf", 10.0), "Qf")

        def state_term(x):
            return (x[15] - target) ** 2 + 10.0 * (x[2] - 0.55) ** 2

        def cost(x, u, t):
            return 0.5 * q_w * state_term(x) + 0.5 * r_w * u @ u

        def final_cost(x):
            return 0.5 * qf_w * state_term(x)

        return cost, final_cost

    ankle = math.radians(50.0)
    qpos0 = np.array([0, 0, 0.75, 1, 0, 0, 0, 0, ankle, 0, -ankle, 0, -ankle, 0, ankle])
    return _free_body_system("ant", options, horizon=50, qpos0=qpos0, cost_terms=terms)


def _scalar_goal(value, name):
    if np.ndim(value) != 0:
        raise ValueError(f"goal must be a scalar for {name}, got shape {np.shape(value)}")
    return _scalar(value, "goal")


def humanoid_standup(**options) -> System:
    """Humanoid getting up from lying on its back, contacts on (``assets/humanoid_standup.xml``).

    * State ``x[47] = (qpos[24], qvel[23])``: torso position (3), torso quaternion (4), 17 hinge
      angles in MJCF joint order (abdomen_z, abdomen_y, abdomen_x, right_hip_x, right_hip_z,
      right_hip_y, right_knee, left_hip_x, left_hip_z, left_hip_y, left_knee, right_shoulder1,
      right_shoulder2, right_elbow, left_shoulder1, left_shoulder2, left_elbow); torso linear
      (world) and angular (body) velocity (6), 17 joint rates. Quaternion handling as for
      ``ant``. Contacts: see ``ant`` on how MJX and C MuJoCo (and FD and autodiff) differ.
    * Action ``u[17]`` in ``[-0.4, 0.4]``, torque = gear x command (gear 100; hips_y 300,
      knees 200, arms 25), order as in the MJCF actuator list (abdomen_y, abdomen_z, abdomen_x,
      right leg x z y knee, left leg x z y knee, right arm s1 s2 elbow, left arm s1 s2 elbow).
    * ``dt = 0.01`` s, default horizon ``T = 100`` (1 s).
    * Cost: ``goal`` = target torso height (default 1.4 m);
      running ``1/2 Q (z - goal)^2 + 1/2 R |u|^2``, ``Q = 10``, ``R = 0.1``; final
      ``1/2 Qf (z - goal)^2``, ``Qf = 100``.
    * ``x0``: lying on the back (torso at 0.12 m, rotated -90 deg about y), knees at -0.2 rad,
      other joints 0, at rest;
      ``x0_cov`` 1e-4 on joint angles and velocities; process noise ``1e-4`` on the velocities.
    """
    _check_options("humanoid_standup", options)

    def terms(opts):
        target = _scalar_goal(opts.get("goal", 1.4), "humanoid_standup")
        q_w, r_w = _scalar(opts.get("Q", 10.0), "Q"), _scalar(opts.get("R", 0.1), "R")
        qf_w = _scalar(opts.get("Qf", 100.0), "Qf")

        def cost(x, u, t):
            return 0.5 * q_w * (x[2] - target) ** 2 + 0.5 * r_w * u @ u

        def final_cost(x):
            return 0.5 * qf_w * (x[2] - target) ** 2

        return cost, final_cost

    s = math.sqrt(0.5)
    joints = np.zeros(17)
    joints[[6, 10]] = -0.2   # knees slightly bent: their range is [-160, -2] deg
    qpos0 = np.concatenate([[0.0, 0.0, 0.12, s, 0.0, -s, 0.0], joints])
    return _free_body_system("humanoid_standup", options, horizon=100, qpos0=qpos0,
                             cost_terms=terms)


# -- Gymnasium's own robots (the plants of the multi-agent MuJoCo environments) ---------------------
def _gymnasium_system(name, task, options, *, horizon, costs, x0_cov) -> System:
    _check_options(name, options, ("physics",))
    if "dt" in options:
        raise ValueError(f"{name} keeps Gymnasium's dt (frame skip 5); the dt option is not accepted")
    dtype = _dtype(options)
    model = gym_tasks.load_model(task, options.get("physics", "fast"))
    twin = None
    if model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC:   # NaN tangents in MJX (see _mjx)
        twin = copy.deepcopy(model)
        twin.opt.cone = mujoco.mjtCone.mjCONE_PYRAMIDAL
    dyn = MjxDynamics(model, frame_skip=gym_tasks.FRAME_SKIP, tangent_model=twin)
    n = dyn.state_dim
    T = _horizon(options, horizon)
    cost, final_cost = costs(model)
    x0 = _vector(options.get("x0", np.concatenate([model.qpos0, np.zeros(dyn.nv)])), n, "x0", dtype)
    return System(dyn, cost, final_cost, x0, T,
                  x0_cov=_cov(options.get("x0_cov", x0_cov), n, "x0_cov", dtype),
                  noise_cov=_cov(options.get("noise_cov"), n, "noise_cov", dtype),
                  action_bounds=_bounds(model, dtype), name=name)


def _healthy_barrier(z, low, high, margin=0.05):
    """Quadratic walls inside the healthy height range [low, high] (zero in between)."""
    return jnp.square(jnp.maximum(low + margin - z, 0.0)) + jnp.square(jnp.maximum(z - high + margin, 0.0))


def ant_v5(**options) -> System:
    """Gymnasium's ``Ant-v5`` plant: its ``ant.xml`` (from the installed ``gymnasium`` package),
    one dynamics call = its 5-step frame skip (``dt = 0.05`` s), MJX settings as in
    ``lqgx.systems.gym_tasks`` (elliptic cones; ``physics="fast"|"gymnasium"`` solver limits).

    * State ``x[29] = (qpos[15], qvel[14])``, Gymnasium's layout: torso position, quaternion,
      then hip_1 ankle_1 hip_2 ankle_2 hip_3 ankle_3 hip_4 ankle_4.
    * Action ``u[8]`` in [−1, 1] in the MJCF's actuator order (hip_4 ankle_4 hip_1 ankle_1 hip_2
      ankle_2 hip_3 ankle_3).
    * Cost: the differentiable part of ``Ant-v5``'s reward, negated, with the torso's forward
      velocity ``qvel[0]`` for Gymnasium's Δx/dt: ``−vx + 0.5 |u|^2 + W barrier(z)``, where the
      barrier (``W = Q``, default 100) is a quadratic wall 5 cm inside the healthy height range
      [0.2, 1.0] m that stands in for the healthy reward's step. The contact cost
      (5e-4 |clip(cfrc_ext)|^2) is left out: it needs the post-constraint forces. Final cost 0.
      Default horizon ``T = 40`` (2 s).
    * ``x0``: Gymnasium's initial pose (torso at 0.75 m, joints at 0); ``x0_cov``: the variance of
      its reset noise (uniform ±0.1 on qpos, 0.1·N(0, 1) on qvel); no process noise by default.
    * Linearize with ``method="autodiff"``: finite differences of RK4 with a free joint and a
      frame skip are not implemented. MJX's elliptic-cone solver has NaN derivatives at
      contacts without tangential force, so the dynamics are differentiated through the same
      model with pyramidal cones (``MjxDynamics(tangent_model=...)``); simulation stays elliptic.
    """
    w = _scalar(options.get("Q", 100.0), "Q")
    r = _scalar(options.get("R", 0.5), "R")

    def cost(x, u, t):
        return -x[15] + r * u @ u + w * _healthy_barrier(x[2], 0.2, 1.0)

    def final_cost(x):
        return jnp.zeros((), x.dtype)

    cov = np.diag(np.concatenate([np.full(15, 0.1**2 / 3), np.full(14, 0.1**2)]))
    return _gymnasium_system("ant_v5", gym_tasks.ANT, options, horizon=40,
                             costs=lambda model: (cost, final_cost), x0_cov=cov)


def humanoid_standup_v5(**options) -> System:
    """Gymnasium's ``HumanoidStandup-v5`` plant: its ``humanoidstandup.xml``, 5-step frame skip
    (``dt = 0.015`` s), Newton solver (MJX has no PGS), ``physics`` as for ``ant_v5``.

    * State ``x[47] = (qpos[24], qvel[23])`` in the MJCF's joint order.
    * Action ``u[17]`` in [−0.4, 0.4] in its actuator order.
    * Cost: ``HumanoidStandup-v5``'s reward negated without its impact term (it needs the
      post-constraint forces): ``−z / timestep + 0.1 |u|^2 − 1`` (Gymnasium divides the height by
      the MuJoCo timestep 0.003, not by dt). ``Q`` scales the height term (default 1), ``R`` the
      control cost (default 0.1). Final cost 0. Default horizon ``T = 100`` (1.5 s).
    * ``x0``: Gymnasium's initial pose (lying on the back); ``x0_cov``: its reset noise
      (uniform ±0.01 on qpos and qvel).
    """
    w = _scalar(options.get("Q", 1.0), "Q")
    r = _scalar(options.get("R", 0.1), "R")

    def costs(model):
        timestep = float(model.opt.timestep)

        def cost(x, u, t):
            return -w * x[2] / timestep + r * u @ u - 1.0

        def final_cost(x):
            return jnp.zeros((), x.dtype)

        return cost, final_cost

    cov = np.eye(47) * (0.01**2 / 3)
    return _gymnasium_system("humanoid_standup_v5", gym_tasks.HUMANOID_STANDUP, options, horizon=100,
                             costs=costs, x0_cov=cov)


BUILDERS = {
    "pendulum": pendulum,
    "cartpole": cartpole,
    "acrobot": acrobot,
    "double_pendulum": double_pendulum,
    "quad_pendulum": quad_pendulum,
    "reacher": reacher,
    "ant": ant,
    "humanoid_standup": humanoid_standup,
    "ant_v5": ant_v5,
    "humanoid_standup_v5": humanoid_standup_v5,
}
CONTACT_FREE = ("pendulum", "cartpole", "acrobot", "double_pendulum", "quad_pendulum", "reacher")
