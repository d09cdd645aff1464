"""Plain functions behind ``lqgx ddpl train`` / ``lqgx ddpl eval`` (wired by ``lqgx/cli.py``).

    lqgx ddpl train ENV [--policy diffusion|gaussian] [--steps N] [--warm-start ilqg|gps|esaps]
               [--guide-steps N] [--teacher FILE] [--preset cpu|paper] [--seed S] [--out DIR] [--resume]
               [--env-option KEY=VALUE ...]
        -> DIR/results.json {"env","policy","env_steps":[..],"eval_return":[..],"wall_s",
                             "warm_start","teacher_return","pretrain_s", ...},
           DIR/checkpoint.npz, DIR/curve.png (+ teacher.npz, guide_states.npy when warm-started)
    lqgx ddpl eval DIR [--episodes 50]   -> prints JSON {"return_mean","return_std",...}
"""

from __future__ import annotations

import json
import os
import sys


def _quiet_env():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _refuse_isaac():
    """Isaac Lab envs cannot be trained by this command: one line on stderr, exit code 2.

    The line lists what this machine lacks to run Isaac Lab (``envs.isaac.require``) or, where
    Isaac Lab is available, says that the jitted training loop does not drive it yet.
    """
    from lqgx.ddpl.envs import isaac

    try:
        isaac.require()
    except isaac.IsaacLabUnavailableError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"error: {isaac.TRAINING_NOT_WIRED}", file=sys.stderr)
    raise SystemExit(2)


def parse_key_values(items, what: str = "env-option") -> dict:
    """``["max_steps=40", "observation=local"]`` → ``{"max_steps": 40, "observation": "local"}``
    (``--env-option``, the benchmarks' ``--config``): integers (``40``; ``1e3`` is a float),
    floats, true/false and none are converted, anything else stays a string."""
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what}: expected KEY=VALUE, got {item!r}")
        value = text.strip()
        for convert in (int, float):
            try:
                value = convert(value)
                break
            except ValueError:
                pass
        if value in ("true", "false", "True", "False"):
            value = value in ("true", "True")
        elif value in ("none", "None"):
            value = None
        options[key.strip()] = value
    return options


def train(env: str, policy: str = "diffusion", steps: int | None = None, warm_start: str | None = None,
          seed: int = 0, out: str | None = None, resume: bool = False, preset: str = "cpu",
          guide_steps: int | None = None, teacher: str | None = None,
          env_options: dict | None = None, devices: int | None = None) -> dict:
    """Train DDPL on ENV with a CPU-sized preset; prints a one-line summary; returns results.
    ``devices``: split the environments over the first that many of ``jax.devices()``.

    ``isaac-shadow-hand-over`` is refused with a one-line reason and exit code 2 (``SystemExit``).
    """
    if env == "isaac-shadow-hand-over":
        _refuse_isaac()
    _quiet_env()
    import jax

    jax.config.update("jax_enable_x64", False)  # networks and buffers in float32 (CPU speed)
    from lqgx.ddpl.train import train as _train
    from lqgx.distributed import batch_mesh

    mesh = None
    if devices is not None:
        if devices > len(jax.devices()):
            raise ValueError(f"devices: {devices} asked for, {len(jax.devices())} available "
                             "(on a CPU: XLA_FLAGS=--xla_force_host_platform_device_count=N)")
        mesh = batch_mesh(jax.devices()[:devices])
    out = out or os.path.join("results", "ddpl", f"{env}-{policy}-s{seed}")
    res = _train(env, policy=policy, steps=steps, warm_start=warm_start, seed=seed, out=out,
                 resume=resume, preset=preset, progress=True, guide_steps=guide_steps, teacher=teacher,
                 env_options=env_options, mesh=mesh)
    summary = {"out": str(out), "final_eval_return": res["eval_return"][-1],
               "best_eval_return": max(res["eval_return"]), "env_steps": res["env_steps"][-1],
               "wall_s": round(res["wall_s"], 1)}
    if res.get("warm_start"):
        summary.update(warm_start=res["warm_start"], teacher_return=res["teacher_return"],
                       pretrain_s=round(res["pretrain_s"], 1))
    print(json.dumps(summary))
    return res


def evaluate(dir: str, episodes: int = 50) -> dict:
    """Evaluate the checkpoint in DIR over EPISODES episodes; prints and returns a JSON dict."""
    _quiet_env()
    from lqgx.ddpl.train import evaluate as _evaluate

    res = _evaluate(dir, episodes)
    print(json.dumps(res))
    return res
