"""A ``gymnasium.Env`` over an MJX-backed ``lqgx.System`` (``lqgx.systems.make_env(name)``).

* Observation: the full state ``x[n] = concat(qpos, qvel)`` (``Box(-inf, inf, (n,))``).
* Action: ``u[m]`` in ``Box(low, high)`` = the system's ``action_bounds`` (MJCF ``ctrlrange``);
  actions outside are clipped.
* Dynamics: ``x' = system.dynamics(x, u) + w``, ``w ~ N(0, noise_cov)``; reset samples
  ``x0 ~ N(x0, x0_cov)``. All randomness comes from ``env.np_random`` (seeded by ``reset(seed=)``).
* Reward ``= -cost(x_t, u_t, t)``; on the last step (``t = T - 1``) also ``-final_cost(x_T)``, so
  an episode's return is ``-(sum_t cost + final_cost)``, the negative of lqgx's objective.
* ``terminated`` is always False; ``truncated`` is True after ``T = system.horizon`` steps.
* ``render_mode="rgb_array"`` renders the current state (MuJoCo OpenGL, else matplotlib).

A TVLG controller acts with ``policy.act(obs, t)``, e.g.::

    env = lqgx.systems.make_env("pendulum")
    obs, _ = env.reset(seed=0)
    for t in range(env.horizon):
        obs, reward, terminated, truncated, _ = env.step(result.policy.act(obs, t))
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from lqgx.system import System


class SystemEnv(gym.Env):
    """Gymnasium environment over ``system`` (an MJX-backed ``lqgx.System``)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, system: System, render_mode: str | None = None):
        if not isinstance(system, System):
            raise ValueError(f"system must be an lqgx.System, got {type(system).__name__}")
        if system.action_bounds is None:
            raise ValueError("system must have action_bounds to define the action space")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.system = system
        self.render_mode = render_mode
        self.horizon = system.horizon
        dtype = np.dtype(system.x0.dtype)
        n = system.state_dim
        low, high = (np.asarray(b, dtype=dtype) for b in system.action_bounds)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(n,), dtype=dtype)
        self.action_space = gym.spaces.Box(low, high, dtype=dtype)
        dt = getattr(system.dynamics, "dt", None)
        if dt:
            self.metadata = dict(self.metadata, render_fps=int(round(1.0 / dt)))
        self._x0 = np.asarray(system.x0, dtype=np.float64)
        self._x0_chol = _psd_sqrt(np.asarray(system.x0_cov, dtype=np.float64))
        self._noise_chol = _psd_sqrt(np.asarray(system.noise_cov, dtype=np.float64))
        self._low, self._high = low, high
        dyn, cost, final_cost = system.dynamics, system.cost, system.final_cost

        @jax.jit
        def transition(x, u, t):
            return dyn(x, u), cost(x, u, t)

        self._transition = transition
        self._final_cost = jax.jit(final_cost)
        self._x = None
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        noise = self.np_random.standard_normal(self._x0.shape)
        self._x = self._x0 + self._x0_chol @ noise
        self._t = 0
        return self._obs(), {"t": 0}

    def step(self, action):
        if self._x is None:
            raise RuntimeError("call reset() before step()")
        u = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        u = np.clip(u, self._low, self._high)
        dtype = self.system.x0.dtype
        x_next, cost = self._transition(jnp.asarray(self._x, dtype), jnp.asarray(u, dtype),
                                        self._t)
        x_next = np.asarray(x_next, dtype=np.float64)
        x_next = x_next + self._noise_chol @ self.np_random.standard_normal(x_next.shape)
        self._t += 1
        truncated = self._t >= self.horizon
        reward = -float(cost)
        if truncated:
            reward -= float(self._final_cost(jnp.asarray(x_next, dtype)))
        self._x = x_next
        return self._obs(), reward, False, truncated, {"t": self._t}

    def _obs(self):
        return np.asarray(self._x, dtype=self.observation_space.dtype)

    def render(self):
        if self.render_mode != "rgb_array" or self._x is None:
            return None
        from lqgx.systems import render as rendering

        dyn = self.system.dynamics
        qpos = self._x[None, : dyn.nq]
        try:
            images, _ = rendering._frames_mujoco(dyn.mj_model, qpos, 320, 240, None)
        except Exception:  # noqa: BLE001 - no usable GL: draw with matplotlib
            images, _ = rendering._frames_matplotlib(dyn.mj_model, qpos, 320, 240, None)
        return images[0]


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """A square root ``L`` with ``L L^T = cov`` for a PSD (possibly singular) covariance."""
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    return vecs * np.sqrt(np.clip(vals, 0.0, None))
