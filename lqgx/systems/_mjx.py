"""MJX-backed dynamics ``(x[n], u[m]) -> x_next[n]`` with MuJoCo finite differences on the side.

State layout: ``x = concat(qpos[nq], qvel[nv])``, so ``n = nq + nv``. For hinge and slide joints
qpos and the tangent space coincide (``nq == nv``); a free joint stores its orientation as a unit
quaternion ``(w, x, y, z)`` in qpos (7 numbers: position, quaternion) against 6 velocity/tangent
coordinates, so ``n = nq + nv > 2 nv`` for the ant and the humanoid.

One call of the dynamics is one ``mjx.step`` (one MuJoCo time step, ``dt = model.opt.timestep``);
the control is clamped to ``ctrlrange`` by MuJoCo itself. RK4 models without quaternion joints
(the quad pendulum) step through ``MjxDynamics._rk4_step`` instead: the same classical RK4 with
its four stages in a ``lax.scan`` of one ``mjx.forward``, so XLA compiles the forward dynamics
once rather than four times (``mjx.step`` runs an initial forward, then a 3-stage scan unrolled
3 times).

Finite differences (``MjxDynamics.linearize_fd``) use ``mujoco.mjd_transitionFD`` (centered) on
the C model, Richardson-extrapolated over two step sizes (see ``linearize_fd``). MuJoCo returns Jacobians in tangent coordinates ``(dq[nv], dv[nv])``. We map them to
our coordinates with the chain rule at the current and the next state:

    A = E(x_next) A_tan P(x),   B = E(x_next) B_tan,

where, per joint, ``E`` and ``P`` are identities for hinge/slide joints (and for the position part
of free joints), and for a quaternion ``q`` with tangent rotation ``w`` (MuJoCo integrates
``q <- q * exp(w / 2)``, body frame)

    E_q = dq/dw = 1/2 L(q)[:, 1:]        (4 x 3),
    P_q = dw/dq = 2 L(q)^T[1:, :]        (3 x 4),

``L(q)`` being the left quaternion-multiplication matrix. ``P`` has ``q`` in its null space: a
change of the quaternion's norm has no effect on the next state (MuJoCo normalizes quaternions), so
autodiff (which differentiates MJX's normalization) and FD agree on that direction too.

Derivatives through elliptic friction cones (``tangent_model``): MJX 3.17's constraint solver has
NaN tangents with elliptic cones wherever a contact row exists with zero tangential force (the
cone's norm ‖u‖ differentiated at 0; measured on Gymnasium's Ant at rest: every entry of the
step's Jacobian NaN, the pyramidal twin's all finite). ``MjxDynamics(model,
tangent_model=twin)`` steps ``model`` but differentiates ``twin`` (the same model with
pyramidal cones) at the same point: ``jax.custom_jvp`` with the primal of ``model`` and the
tangent of ``twin``. ``lqgx.systems.ant_v5`` is built that way.
"""

from __future__ import annotations

import contextlib
import io
from functools import cached_property

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from lqgx._checks import positive_int


def import_mjx():
    """``mujoco.mjx``, imported with its optional-backend (warp) messages silenced."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from mujoco import mjx
    return mjx


def _quat_left(q: np.ndarray) -> np.ndarray:
    """L(q) with L(q) p = q * p (Hamilton product, (w, x, y, z))."""
    w, x, y, z = q
    return np.array([[w, -x, -y, -z],
                     [x, w, -z, y],
                     [y, z, w, -x],
                     [z, -y, x, w]])


def _primal_with_tangent_of(primal, surrogate):
    """``primal`` whose JVP is ``surrogate``'s at the same point (module docstring)."""

    @jax.custom_jvp
    def f(x, u):
        return primal(x, u)

    @f.defjvp
    def f_jvp(primals, tangents):
        _, tangent_out = jax.jvp(surrogate, primals, tangents)
        return primal(*primals), tangent_out

    return f


class MjxDynamics:
    """Callable ``(x[n], u[m]) -> x_next[n]``: one MJX step of a MuJoCo model.

    Closes over an ``mjx.Model`` and a template ``mjx.Data`` (built once), so a call only writes
    ``qpos``, ``qvel`` and ``ctrl`` into the template and steps. Hashable by identity, so it can be
    a static field of ``lqgx.System``.

    Attributes:
        mj_model: the C ``mujoco.MjModel`` (used for FD, rendering, the gymnasium env).
        mjx_model: the ``mjx.Model`` on the device, in the default JAX float dtype at construction
            (float64 when x64 is enabled). Inputs are cast to it and outputs cast back to the
            dtype of ``x``, so float32 systems work in an x64 session too.
        nq, nv, nu: MuJoCo dimensions; ``state_dim = nq + nv``.
        dt: the duration of one call (s): ``frame_skip`` MuJoCo time steps.
        frame_skip: MuJoCo steps per call (Gymnasium's tasks take 5).
    """

    def __init__(self, mj_model: mujoco.MjModel, frame_skip: int = 1,
                 tangent_model: mujoco.MjModel | None = None):
        mjx = import_mjx()
        self.frame_skip = positive_int(frame_skip, "frame_skip")
        if mj_model.na:
            raise ValueError("models with actuator activations (na > 0) are not supported")
        self.mj_model = mj_model
        self.mjx_model = mjx.put_model(mj_model)
        self.template = mjx.make_data(self.mjx_model)
        self._forward = mjx.forward
        self.nq, self.nv, self.nu = mj_model.nq, mj_model.nv, mj_model.nu
        self.dt = self.frame_skip * float(mj_model.opt.timestep)
        self.has_contact = bool(mj_model.ngeom and not (mj_model.opt.disableflags
                                                        & mujoco.mjtDisableBit.mjDSBL_CONTACT))
        self._quat_joints = []  # (qpos index of the quaternion w, dof index of the rotation)
        for j in range(mj_model.njnt):
            jtype = mj_model.jnt_type[j]
            qadr, dadr = mj_model.jnt_qposadr[j], mj_model.jnt_dofadr[j]
            if jtype == mujoco.mjtJoint.mjJNT_FREE:
                self._quat_joints.append((qadr + 3, dadr + 3))
            elif jtype == mujoco.mjtJoint.mjJNT_BALL:
                self._quat_joints.append((qadr, dadr))
        rk4 = mj_model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
        self._step = self._rk4_step if rk4 and not self._quat_joints else mjx.step
        self.tangent_model = tangent_model
        self._call = self._evaluate
        if tangent_model is not None:
            if (tangent_model.nq, tangent_model.nv, tangent_model.nu) != (self.nq, self.nv, self.nu):
                raise ValueError("tangent_model must have the sizes (nq, nv, nu) of mj_model")
            self._call = _primal_with_tangent_of(
                self._evaluate, MjxDynamics(tangent_model, frame_skip)._evaluate)

    @property
    def state_dim(self) -> int:
        return self.nq + self.nv

    @property
    def has_quaternions(self) -> bool:
        return bool(self._quat_joints)

    # -- JAX dynamics -----------------------------------------------------------------------------
    def __call__(self, x: jax.Array, u: jax.Array) -> jax.Array:
        """``x_next = concat(qpos', qvel')`` after one ``mjx.step`` from ``x`` with ``ctrl = u``
        (differentiated through ``tangent_model`` when given; module docstring)."""
        return self._call(x, u)

    def _evaluate(self, x, u):
        dtype = self.template.qpos.dtype
        xc = jnp.asarray(x).astype(dtype)
        data = self.template.replace(qpos=xc[: self.nq], qvel=xc[self.nq:],
                                     ctrl=jnp.asarray(u).astype(dtype))
        data = self.step_data(data)
        return jnp.concatenate([data.qpos, data.qvel]).astype(jnp.result_type(x))

    def step_data(self, data):
        """The ``mjx.Data`` after one call (``frame_skip`` MuJoCo steps) from ``data``, whose
        ``ctrl`` is held: what environments that read more than (qpos, qvel) step."""
        # the first step outside the scan: under x64 a step turns some of the template's int32
        # index fields (tendon wraps) into int64, and a scan carry must keep its types
        data = self._step(self.mjx_model, data)
        if self.frame_skip > 1:
            data, _ = jax.lax.scan(lambda d, _: (self._step(self.mjx_model, d), None), data, None,
                                   length=self.frame_skip - 1)
        return data

    def _rk4_step(self, model, data):
        """One classical RK4 step of (qpos, qvel) as MuJoCo's ``mj_RungeKutta`` takes it (Butcher
        nodes 0, 1/2, 1/2, 1; weights 1/6, 1/3, 1/3, 1/6), for hinge/slide joints, where qpos'
        = qvel. The stages are a scan over one ``mjx.forward`` (see the module docstring)."""
        dt = model.opt.timestep
        q0, v0 = data.qpos, data.qvel
        dtype = q0.dtype
        nodes = jnp.array([0.0, 0.5, 0.5, 1.0], dtype)
        weights = jnp.array([1.0, 2.0, 2.0, 1.0], dtype) / 6.0

        def stage(carry, coefficients):
            (dq, dv), (sum_q, sum_v) = carry
            node, weight = coefficients
            d = self._forward(model, data.replace(qpos=q0 + node * dt * dq,
                                                  qvel=v0 + node * dt * dv))
            slope = (d.qvel, d.qacc)
            return (slope, (sum_q + weight * slope[0], sum_v + weight * slope[1])), None

        zeros = (jnp.zeros_like(q0), jnp.zeros_like(v0))
        (_, (sum_q, sum_v)), _ = jax.lax.scan(stage, (zeros, zeros), (nodes, weights))
        return data.replace(qpos=q0 + dt * sum_q, qvel=v0 + dt * sum_v)

    # -- C MuJoCo helpers -------------------------------------------------------------------------
    @cached_property
    def _data(self) -> mujoco.MjData:
        return mujoco.MjData(self.mj_model)

    def _set(self, data: mujoco.MjData, x: np.ndarray, u: np.ndarray | None = None) -> None:
        mujoco.mj_resetData(self.mj_model, data)
        data.qpos[:] = x[: self.nq]
        data.qvel[:] = x[self.nq:]
        if u is not None:
            data.ctrl[:] = u

    def step_c(self, x, u) -> np.ndarray:
        """One call of the C model (``frame_skip`` ``mujoco.mj_step``s, float64 numpy), the reference
        for MJX."""
        data = self._data
        self._set(data, np.asarray(x, np.float64), np.asarray(u, np.float64))
        mujoco.mj_step(self.mj_model, data, nstep=self.frame_skip)
        return np.concatenate([data.qpos, data.qvel])

    def rollout_c(self, x0, actions) -> np.ndarray:
        """``states[T+1, n]`` from repeated ``mj_step`` (warm starts carried as in MuJoCo)."""
        data = self._data
        self._set(data, np.asarray(x0, np.float64))
        out = [np.concatenate([data.qpos, data.qvel])]
        for u in np.asarray(actions, np.float64):
            data.ctrl[:] = u
            mujoco.mj_step(self.mj_model, data, nstep=self.frame_skip)
            out.append(np.concatenate([data.qpos, data.qvel]))
        return np.stack(out)

    def _tangent_maps(self, x: np.ndarray):
        """``E[n, 2nv]`` (tangent -> ours) and ``P[2nv, n]`` (ours -> tangent) at state ``x``."""
        nq, nv = self.nq, self.nv
        E = np.zeros((nq + nv, 2 * nv))
        P = np.zeros((2 * nv, nq + nv))
        E[nq:, nv:] = np.eye(nv)
        P[nv:, nq:] = np.eye(nv)
        covered_q, covered_d = set(), set()
        for qa, da in self._quat_joints:
            L = _quat_left(x[qa: qa + 4])
            E[qa: qa + 4, da: da + 3] = 0.5 * L[:, 1:]
            P[da: da + 3, qa: qa + 4] = 2.0 * L.T[1:, :]
            covered_q.update(range(qa, qa + 4))
            covered_d.update(range(da, da + 3))
        # Remaining qpos coordinates map one-to-one, in order, onto the remaining dofs.
        rest_q = [i for i in range(nq) if i not in covered_q]
        rest_d = [i for i in range(nv) if i not in covered_d]
        for i, d in zip(rest_q, rest_d):
            E[i, d] = 1.0
            P[d, i] = 1.0
        return E, P

    def _transition_fd(self, data, x, u, eps, At, Bt) -> None:
        """Centered-difference ``At``/``Bt`` (tangent coordinates) of one ``mj_step`` at (x, u).

        ``mjd_transitionFD`` does not support the RK4 integrator, so for RK4 models without
        quaternion joints (tangent = our coordinates) the same centered differences are taken
        with ``mj_step`` directly.
        """
        m = self.mj_model
        if m.opt.integrator != mujoco.mjtIntegrator.mjINT_RK4:
            self._set(data, x, u)
            mujoco.mj_forward(m, data)
            mujoco.mjd_transitionFD(m, data, eps, True, At, Bt, None, None)
            return
        if self._quat_joints:
            raise NotImplementedError("finite differences of RK4 models with free/ball joints")
        n = x.size
        z = np.concatenate([x, u])
        columns = []
        for i in range(z.size):
            d = np.zeros_like(z)
            d[i] = eps
            up, down = z + d, z - d
            columns.append(self.step_c(up[:n], up[n:]) - self.step_c(down[:n], down[n:]))
        jacobian = np.stack(columns, axis=1) / (2 * eps)
        At[:], Bt[:] = jacobian[:, :n], jacobian[:, n:]

    def linearize_fd(self, states, actions, eps: float = 2e-4, richardson: bool = True):
        """Centered finite-difference Jacobians of the C model along a trajectory.

        ``mjd_transitionFD`` (centered) at steps ``eps`` and ``eps / 2``, combined by Richardson
        extrapolation ``(4 J(eps/2) - J(eps)) / 3``, which cancels the ``O(eps^2)`` truncation
        error. Plain centered differences floor at ~3e-8 on the quad pendulum (truncation above
        eps ~ 3e-5, round-off of the ill-conditioned mass matrix below); the extrapolated ones
        agree with MJX autodiff to ~1e-9. Where a control sits on its ``ctrlrange`` limit MuJoCo
        falls back to a one-sided difference (first-order accurate) for that column; the RK4
        fallback (``_transition_fd``) stays centered there.

        Args:
            states: ``[T, n]``; actions: ``[T, m]``.
            eps: the finite-difference step (MuJoCo's ``mjd_transitionFD`` ``eps``).
            richardson: extrapolate as above (default); False = one centered difference at
                ``eps``.

        Returns:
            ``(A[T, n, n], B[T, n, m], f[T, n])`` with ``f[t] = mj_step(states[t], actions[t])``,
            in our coordinates (see the module docstring), dtype of ``states``.
        """
        if self.frame_skip != 1:
            raise NotImplementedError("finite differences with frame_skip > 1; use "
                                      "linearize(method='autodiff')")
        dtype = jnp.result_type(states)
        xs = np.asarray(states, np.float64)
        us = np.asarray(actions, np.float64)
        if xs.ndim != 2 or xs.shape[1] != self.state_dim:
            raise ValueError(f"states must have shape [T, {self.state_dim}], got {xs.shape}")
        if us.ndim != 2 or us.shape != (xs.shape[0], self.nu):
            raise ValueError(f"actions must have shape [{xs.shape[0]}, {self.nu}], got {us.shape}")
        m, data = self.mj_model, mujoco.MjData(self.mj_model)
        nx = 2 * self.nv
        At, Bt = np.zeros((nx, nx)), np.zeros((nx, self.nu))
        A_out, B_out, f_out = [], [], []
        for x, u in zip(xs, us):
            self._transition_fd(data, x, u, eps, At, Bt)
            if richardson:
                At2, Bt2 = np.zeros_like(At), np.zeros_like(Bt)
                self._transition_fd(data, x, u, eps / 2, At2, Bt2)
                At[:] = (4.0 * At2 - At) / 3.0
                Bt[:] = (4.0 * Bt2 - Bt) / 3.0
            self._set(data, x, u)
            mujoco.mj_step(m, data)
            x_next = np.concatenate([data.qpos, data.qvel])
            if self._quat_joints:
                E_next, _ = self._tangent_maps(x_next)
                _, P_now = self._tangent_maps(x)
                A_out.append(E_next @ At @ P_now)
                B_out.append(E_next @ Bt)
            else:
                A_out.append(At.copy())
                B_out.append(Bt.copy())
            f_out.append(x_next)
        cast = lambda a: jnp.asarray(np.stack(a), dtype=dtype)  # noqa: E731
        return cast(A_out), cast(B_out), cast(f_out)

    def __repr__(self) -> str:
        skip = f", frame_skip={self.frame_skip}" if self.frame_skip != 1 else ""
        return f"MjxDynamics(nq={self.nq}, nv={self.nv}, nu={self.nu}, dt={self.dt}{skip})"
