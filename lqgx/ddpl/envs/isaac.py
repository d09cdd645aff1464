"""Isaac Lab adapter: ``Isaac-Shadow-Hand-Over-Direct-v0`` (a ``DirectMARLEnv``) for DDPL.

``make("isaac-shadow-hand-over", num_envs=None, device="cuda:0", seed=None)`` launches Isaac Sim
headless, builds the task with Isaac Lab's default config (2048 sub-environments unless
``num_envs`` says otherwise) and wraps it in ``IsaacMARLEnv``. It needs Python >= 3.12, the
``isaaclab`` package (with torch and Isaac Sim), a CUDA GPU, a CUDA build of jax and the Isaac
assets that Isaac Sim downloads on first use; when any is missing, ``make`` raises one
``IsaacLabUnavailableError`` (a ``RuntimeError``: the call is valid, the machine is not) whose
one-line message lists what is missing and how to get it. This module imports neither isaaclab
nor torch until then.

The task (read from Isaac Lab's ``shadow_hand_over`` sources): agents ``right_hand`` and
``left_hand``; per agent a 20-dim action in [-1, 1] (joint position targets scaled to the joint
limits) and a 157-dim observation; a 290-dim global state; the same reward
2·exp(−20‖object − goal‖) for both hands; termination when the object falls (z ≤ 0.24); a
time-out once an episode reaches ``max_episode_length − 1`` = 449 steps of 1/60 s (7.5 s
rounded up is 450, which is ``max_steps``).

Batched and stateful, unlike the other lqgx environments. Isaac Lab simulates all ``num_envs``
sub-environments at once on the GPU and keeps the simulator state itself, so the adapter follows
the ``MultiAgentEnv`` interface (``envs.base``) with a leading env axis E = ``num_envs``:

    reset(key) -> (state[E, S], env_state)
    step(key, env_state, actions[E, n, d]) -> (state'[E, S], env_state', reward[E], done[E])
    observe(state[..., S]) -> obs[..., n, O]

``reset`` seeds Isaac Lab's torch generators from ``key`` and resets every sub-environment (call
it once; Isaac Lab resets finished sub-environments inside ``step``, so after ``done[e]`` the
returned ``state[e]`` is the first state of the next episode). ``step`` ignores ``key`` (Isaac
Lab draws its own noise) and cannot rewind: ``env_state`` (an ``IsaacEnvState``) must be the one
returned by the latest ``reset``/``step``. Conventions at the boundary:

- Agents are ordered as the env's ``possible_agents`` (``agents`` keeps that order); dicts are
  read and written by agent name, never by dict order.
- reward = mean over agents of the per-agent rewards (here both hands get the same reward, so it
  is that shared reward).
- done = (every agent terminated) | (every agent timed out): exactly the rule by which
  ``DirectMARLEnv.step`` resets a sub-environment. ``env_state`` keeps the two parts apart.
- ``observe`` slices the state into each hand's observation (own hand block + shared object and
  goal block), the layout of the task's ``_get_observations``/``_get_states``; ``reset`` checks
  it against the observations the env returns.
- torch → JAX goes through DLPack (``jax.dlpack.from_dlpack``); the state is copied, everything
  else is written to new arrays by the stacking, and ``reset``/``step`` block until their outputs
  are ready, so no output aliases a buffer Isaac Lab rewrites later. JAX → torch goes through
  ``torch.utils.dlpack``. numpy arrays (test stand-ins) are converted by copying.

What remains: lqgx's DDPL training (``lqgx.ddpl.train``, Algorithm 2) jits a loop that ``vmap``s
pure ``reset``/``step`` functions over environments, and ``rollout_episode_returns`` does the
same; neither can drive this stateful, host-side batched env yet, and ``lqgx ddpl train
isaac-shadow-hand-over`` says so and exits with code 2. Driving it needs a host-side collection
loop (one batched ``step`` per env step feeding the replay buffer, jitted updates in between),
bootstrapping through time-outs, and running JAX next to Isaac Sim on one GPU (``make`` sets
``XLA_PYTHON_CLIENT_PREALLOCATE=false`` unless already set, so JAX does not claim most of the
GPU's memory). The adapter is tested against a numpy stand-in of the ``DirectMARLEnv`` contract
(``tests/ddpl/test_isaac.py``), not against Isaac Lab itself.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import sys
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

NAME = "isaac-shadow-hand-over"
TASK_ID = "Isaac-Shadow-Hand-Over-Direct-v0"
AGENTS = ("right_hand", "left_hand")
ACTION_DIM, OBS_DIM, STATE_DIM = 20, 157, 290
HAND_DIM = 133    # per hand: joint pos 24, vel 24; fingertip pos 15, rot 20, vel 30; actions 20
SHARED_DIM = 24   # object pos 3, rot 4, lin vel 3, ang vel 3; goal pos 3, rot 4; object-goal rot 4
_HAND_OFFSET = {"right_hand": 0, "left_hand": HAND_DIM}   # state = [right, left, shared]

INSTALL_GUIDE = "https://isaac-sim.github.io/IsaacLab"
TRAINING_NOT_WIRED = (
    f"lqgx ddpl train cannot drive {NAME} yet: the Isaac Lab env is stateful and batched "
    "host-side (step takes and returns a leading env axis), while DDPL's jitted Algorithm 2 loop "
    f"vmaps pure env functions; use lqgx.ddpl.envs.make({NAME!r}) from Python (see README.md, "
    "\"Isaac Lab (GPU machines)\")")


class IsaacLabUnavailableError(RuntimeError):
    """Isaac Lab cannot run in this process; the one-line message says what is missing."""


# ---------------------------------------------------------------- requirements


def _has_cuda_gpu() -> bool:
    if importlib.util.find_spec("torch") is not None:
        import torch

        return bool(torch.cuda.is_available())
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def _has_cuda_jax() -> bool:
    # Looks for the plugin instead of asking jax for its backend: initializing a GPU backend here
    # would preallocate GPU memory before Isaac Sim starts.
    return any(importlib.util.find_spec(m) is not None
               for m in ("jax_cuda12_plugin", "jax_cuda13_plugin"))


def missing_requirements() -> list[str]:
    """What this process lacks to run Isaac Lab, each with how to get it (empty: nothing known).

    The Isaac assets cannot be checked without Isaac Sim; they are listed while isaaclab is
    missing and otherwise surface as Isaac Sim's own error when the task is built.
    """
    missing = []
    has_isaaclab = importlib.util.find_spec("isaaclab") is not None
    if sys.version_info < (3, 12):
        missing.append(f"Python >= 3.12 (this is {platform.python_version()}: create a Python 3.12 "
                       "venv)")
    if not has_isaaclab:
        missing.append("the isaaclab package with torch and Isaac Sim (pip install it into that "
                       f"venv as Isaac Lab's installation guide says, {INSTALL_GUIDE})")
    if not _has_cuda_gpu():
        missing.append("a CUDA GPU (no NVIDIA GPU or driver found: use a machine with an "
                       "NVIDIA RTX GPU and its driver)")
    if not _has_cuda_jax():
        missing.append("a CUDA build of jax (pip install 'jax[cuda12]' or 'jax[cuda13]' to match "
                       "torch's CUDA)")
    if not has_isaaclab:
        missing.append("Isaac assets (Isaac Sim downloads the Shadow Hand assets from NVIDIA's "
                       "asset server on first use: needs network access)")
    return missing


def require() -> None:
    """Raise ``IsaacLabUnavailableError`` listing ``missing_requirements()``, if any."""
    missing = missing_requirements()
    if missing:
        raise IsaacLabUnavailableError(
            f"{NAME} ({TASK_ID}) needs Isaac Lab on a GPU machine; missing here: "
            + "; ".join(missing) + ". See README.md, \"Isaac Lab (GPU machines)\".")


# ---------------------------------------------------------------- pure array mapping


def to_jax(x, copy: bool = False) -> jax.Array:
    """A torch tensor (or any DLPack producer) as a JAX array via DLPack; numpy arrays are copied.

    Without ``copy`` the result shares the producer's memory where DLPack can (e.g. a CUDA tensor
    on JAX's GPU). With ``copy`` it is a new JAX buffer: written by a JAX copy of the shared one,
    because ``jax.dlpack.from_dlpack(..., copy=True)`` still shares a 64-byte aligned CPU buffer
    (jax 0.10.2); the copy has run once the result is ready (``jax.block_until_ready``).
    """
    if isinstance(x, np.ndarray):
        return jnp.array(x)
    if hasattr(x, "__dlpack__"):
        shared = jax.dlpack.from_dlpack(x)
        return jnp.array(shared, copy=True) if copy else shared
    raise TypeError(f"x: expected a torch tensor (DLPack) or a numpy array, got {type(x).__name__}")


def torch_from_jax(x: jax.Array):
    """A JAX array as a torch tensor on the same device via DLPack (shares memory)."""
    import torch.utils.dlpack

    return torch.utils.dlpack.from_dlpack(x)


def stack_agents(agents, values) -> jax.Array:
    """{agent: [E, ...]} → [E, n, ...], agent i = ``agents[i]`` (looked up by name)."""
    missing = [a for a in agents if a not in values]
    if missing:
        raise ValueError(f"values: no entry for agents {missing} (has {sorted(values)})")
    return jnp.stack([to_jax(values[a]) for a in agents], axis=1)


def split_agents(agents, actions, convert: Callable[[jax.Array], Any] = torch_from_jax) -> dict:
    """actions[E, n, d] → {agents[i]: convert(actions[:, i])}."""
    if actions.ndim != 3 or actions.shape[1] != len(agents):
        raise ValueError(f"actions: expected shape [E, {len(agents)}, d], got {actions.shape}")
    return {a: convert(actions[:, i]) for i, a in enumerate(agents)}


def shadow_hand_over_observations(state, agents=AGENTS) -> jax.Array:
    """state[..., 290] → obs[..., n, 157]: each agent's own hand block, then the shared block."""
    if state.shape[-1] != STATE_DIM:
        raise ValueError(f"state: expected last axis {STATE_DIM}, got shape {state.shape}")
    unknown = [a for a in agents if a not in _HAND_OFFSET]
    if unknown:
        raise ValueError(f"agents: {unknown} are not Shadow-Hand-Over agents {AGENTS}")
    shared = state[..., 2 * HAND_DIM:]
    return jnp.stack([jnp.concatenate([state[..., _HAND_OFFSET[a]:_HAND_OFFSET[a] + HAND_DIM],
                                       shared], axis=-1) for a in agents], axis=-2)


# ---------------------------------------------------------------- adapter


class IsaacEnvState(NamedTuple):
    """What ``reset``/``step`` saw; the simulator state itself stays inside Isaac Lab.

    obs: [E, n, O] the env's own per-agent observations; terminated, truncated: [E] every agent
    terminated / timed out at this step; step: the adapter's step counter (0 after ``reset``).
    """

    obs: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    step: int


def _agent_dim(what: str, shapes: dict) -> int:
    dims = {a: int(s[-1]) for a, s in shapes.items()}
    if len(set(dims.values())) != 1:
        raise ValueError(f"env: agents need equal {what} sizes, got {dims}")
    return next(iter(dims.values()))


def _check_shape(what: str, x, shape) -> None:
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"env returned {what} of shape {tuple(x.shape)}, expected {tuple(shape)}")


class IsaacMARLEnv:
    """A ``DirectMARLEnv`` (or a wrapper of one) behind the batched interface described above.

    Args:
      name: lqgx environment name.
      env: the Isaac Lab env (``gym.make`` result); ``env.unwrapped`` provides ``possible_agents``,
        ``num_envs``, ``action_space(a)``, ``observation_space(a)``, ``state_space``, ``state()``
        and ``max_episode_length``.
      observe: observe(state[..., S], agents) -> obs[..., n, O], the per-agent observations as a
        function of the global state.
      action_low, action_high: the action box (scalars or [d]); actions are clipped to it.
      actions_to_env: converts one agent's actions [E, d] (JAX) for ``env.step``; default
        ``torch_from_jax`` (DLPack), ``np.asarray`` for numpy stand-ins.
    """

    eval_discount = 1.0

    def __init__(self, name: str, env, *, observe: Callable, action_low, action_high,
                 actions_to_env: Callable | None = None):
        base = getattr(env, "unwrapped", env)
        self.name = name
        self._env, self._base = env, base
        self.agents = tuple(base.possible_agents)
        self.num_agents = len(self.agents)
        self.num_envs = int(base.num_envs)
        self.action_dim = _agent_dim("action", {a: base.action_space(a).shape for a in self.agents})
        env_obs_dim = _agent_dim("observation",
                                 {a: base.observation_space(a).shape for a in self.agents})
        if base.state_space is None:
            raise ValueError("env: has no global state (state_space is None)")
        self.state_dim = int(base.state_space.shape[-1])
        self._observe = observe
        obs_shape = observe(jnp.zeros(self.state_dim), self.agents).shape
        if obs_shape != (self.num_agents, env_obs_dim):
            raise ValueError(f"observe: maps a state to shape {obs_shape}, the env's observations "
                             f"are {(self.num_agents, env_obs_dim)}")
        self.obs_dim = env_obs_dim
        d = self.action_dim
        self.action_low = tuple(float(x) for x in np.broadcast_to(action_low, (d,)))
        self.action_high = tuple(float(x) for x in np.broadcast_to(action_high, (d,)))
        self.max_steps = int(base.max_episode_length)
        self._to_env = torch_from_jax if actions_to_env is None else actions_to_env
        self._step = None

    def observe(self, state):
        """state[..., S] → obs[..., n, O]."""
        return self._observe(state, self.agents)

    def _state(self):
        state = to_jax(self._base.state(), copy=True)
        _check_shape("state()", state, (self.num_envs, self.state_dim))
        return state

    def _obs(self, obs):
        obs = stack_agents(self.agents, obs)
        _check_shape("observations", obs, (self.num_envs, self.num_agents, self.obs_dim))
        return obs

    def reset(self, key):
        """Reset every sub-environment; Isaac Lab's generators are seeded from ``key``."""
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        obs, _ = self._env.reset(seed=seed)
        state, obs = self._state(), self._obs(obs)
        if not bool(jnp.allclose(self.observe(state), obs, atol=1e-5)):
            raise RuntimeError(f"{self.name}: the env's observations are not the slices of its "
                               "state that observe() assumes (changed task layout?)")
        self._step = 0
        no = jnp.zeros(self.num_envs, bool)
        return jax.block_until_ready((state, IsaacEnvState(obs, no, no, 0)))

    def step(self, key, env_state, actions):
        """One batched step (``key`` unused); sub-environments that finish restart inside."""
        del key
        if self._step is None:
            raise ValueError("env_state: call reset first")
        if not isinstance(env_state, IsaacEnvState) or env_state.step != self._step:
            raise ValueError("env_state: must be the one returned by the latest reset/step "
                             "(an Isaac Lab env cannot be rewound)")
        actions = jnp.asarray(actions)
        shape = (self.num_envs, self.num_agents, self.action_dim)
        if actions.shape != shape:
            raise ValueError(f"actions: expected shape {list(shape)}, got {list(actions.shape)}")
        actions = jnp.clip(actions, jnp.asarray(self.action_low), jnp.asarray(self.action_high))
        obs, rewards, terminated, truncated, _ = self._env.step(
            split_agents(self.agents, actions.astype(jnp.float32), self._to_env))
        state, obs = self._state(), self._obs(obs)
        reward = jnp.mean(stack_agents(self.agents, rewards).astype(jnp.float32), axis=1)
        terminated = jnp.all(stack_agents(self.agents, terminated).astype(bool), axis=1)
        truncated = jnp.all(stack_agents(self.agents, truncated).astype(bool), axis=1)
        done = terminated | truncated
        _check_shape("rewards", reward, (self.num_envs,))
        _check_shape("dones", done, (self.num_envs,))
        self._step += 1
        result = state, IsaacEnvState(obs, terminated, truncated, self._step), reward, done
        return jax.block_until_ready(result)


# ---------------------------------------------------------------- factory

_APP = None  # the Isaac Sim application; one per process, kept alive while envs exist


def _create_isaac_env(num_envs, device, seed):
    """Launch Isaac Sim headless (once) and ``gym.make`` the task with its default config."""
    global _APP
    from isaaclab.app import AppLauncher  # Isaac Sim must run before other isaaclab imports

    if _APP is None:
        _APP = AppLauncher(headless=True, device=device).app
    import gymnasium as gym
    import isaaclab_tasks  # noqa: F401  (registers the Isaac-* gym ids)
    from isaaclab_tasks.utils import parse_env_cfg

    cfg = parse_env_cfg(TASK_ID, device=device, num_envs=num_envs)
    if seed is not None:
        cfg.seed = seed
    return gym.make(TASK_ID, cfg=cfg)


def make_shadow_hand_over(num_envs: int | None = None, device: str = "cuda:0",
                          seed: int | None = None) -> IsaacMARLEnv:
    """``Isaac-Shadow-Hand-Over-Direct-v0`` as an ``IsaacMARLEnv`` (see the module docstring).

    Args:
      num_envs: sub-environments simulated in parallel (default: Isaac Lab's, 2048).
      device: CUDA device for the simulation, e.g. ``"cuda:0"``.
      seed: Isaac Lab config seed (``None``: Isaac Lab's default).

    Raises:
      IsaacLabUnavailableError: this machine lacks a requirement (listed in the message).
    """
    if num_envs is not None and (isinstance(num_envs, bool) or not isinstance(num_envs, int)
                                 or num_envs < 1):
        raise ValueError(f"num_envs must be a positive int or None, got {num_envs!r}")
    if not isinstance(device, str) or not device.startswith("cuda"):
        raise ValueError(f"device must be a CUDA device such as 'cuda:0', got {device!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    require()
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env = _create_isaac_env(num_envs, device, seed)
    return IsaacMARLEnv(NAME, env, observe=shadow_hand_over_observations,
                        action_low=-1.0, action_high=1.0)
