"""Shared pieces of the DSO examples (``examples/dso_*.py``): an MLP policy, the pendulum, I/O.

Every example runs as a script with x64 enabled, writes ``results/dso/<name>.json`` and ``.png``.
"""

from __future__ import annotations

import argparse

import json
import math
import os
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

RESULTS = pathlib.Path(__file__).resolve().parents[1] / "results" / "dso"


def enable_x64():
    """float64 for the DSO examples, and the persistent compilation cache (see lqgx.compilation)."""
    import lqgx

    jax.config.update("jax_enable_x64", True)
    lqgx.enable_compilation_cache()


def pendulum_features(x: jax.Array) -> jax.Array:
    """``[q, qdot] -> [cos q, sin q, qdot / 4]`` (angle-wrap invariant)."""
    return jnp.stack([jnp.cos(x[0]), jnp.sin(x[0]), x[1] / 4.0])


def init_mlp(key: jax.Array, sizes: list[int], out_scale: float = 0.01) -> list[dict]:
    """Tanh MLP parameters as a list of ``{"w": [in, out], "b": [out]}`` (a pytree θ)."""
    params = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        scale = (out_scale if i == len(sizes) - 2 else 1.0) / math.sqrt(n_in)
        params.append({"w": scale * jax.random.normal(k, (n_in, n_out)), "b": jnp.zeros(n_out)})
    return params


def mlp(params: list[dict], inputs: jax.Array) -> jax.Array:
    h = inputs
    for layer in params[:-1]:
        h = jnp.tanh(h @ layer["w"] + layer["b"])
    return h @ params[-1]["w"] + params[-1]["b"]


def make_mlp_policy(features, action_scale: float):
    """``policy_fn(theta, x, t) = action_scale * MLP_θ(features(x))`` (time-invariant)."""
    def policy_fn(theta, x, t):
        return action_scale * mlp(theta, features(x))
    return policy_fn


def pendulum_system(horizon: int = 100):
    """The MJX pendulum of ``lqgx.systems`` (swing-up, torque limit 3 N m)."""
    import lqgx
    return lqgx.systems.make("pendulum", horizon=horizon)


def samples_to_threshold(samples: np.ndarray, costs: np.ndarray, threshold: float,
                         window: int = 3) -> int | None:
    """First sample count at which the running mean (``window`` iterations) of the batch cost
    estimate is below ``threshold``; None if never."""
    costs = np.asarray(costs, dtype=float)
    window = max(1, min(window, costs.size))  # short runs: fewer iterations than the window
    if costs.size == 0:
        return None
    smooth = np.convolve(costs, np.ones(window) / window, mode="valid")
    hits = np.nonzero(smooth < threshold)[0]
    return None if hits.size == 0 else int(samples[hits[0] + window - 1])


def argument_parser(description: str, iterations: int, rollouts: int) -> argparse.ArgumentParser:
    """The options every DSO example takes: --iterations, --rollouts (per iteration), --seed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--iterations", type=int, default=iterations)
    parser.add_argument("--rollouts", type=int, default=rollouts)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def finish(name: str, result: dict, plot_fn, plot: bool) -> dict:
    """Write ``results/dso/<name>.json`` (and the figure via ``plot_fn``), report, return it."""
    path = save(name, result)
    if plot:
        plot_fn(result)
    print(f"wrote {path}")
    return result


def save(name: str, payload: dict) -> pathlib.Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=_jsonable))
    return path


def _jsonable(value):
    if isinstance(value, (np.ndarray, jax.Array)):
        return np.asarray(value).tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(type(value))


class Timer:
    def __enter__(self):
        self.start = time.time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.time() - self.start


def threads_note() -> str:
    return os.environ.get("XLA_FLAGS", "")
