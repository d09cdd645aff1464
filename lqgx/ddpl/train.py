"""Training product for DDPL: presets, a resumable training loop, evaluation, results and plots.

``train(env, policy=..., steps=..., seed=..., out=..., resume=...)`` runs Algorithm 2
(``algorithm.train_iteration``) in jitted chunks of ``lax.scan``; every ``eval_every`` environment
steps it evaluates the stochastic joint policy (mean return over ``eval_episodes`` episodes, §5),
writes an atomic checkpoint (``checkpoint.npz``: the whole TrainState — parameters, optimizer
states, replay buffer, environment states, PRNG key — plus the results so far; written to a
temporary file and ``os.replace``d) and refreshes ``results.json`` and ``curve.png``.

Resume is bit-identical: the chunk boundaries are fixed multiples of ``eval_every`` from step 0,
every chunk is a pure function of the stored state, and evaluation keys are derived from
``(seed, env_steps)``; so an interrupted-and-resumed run performs exactly the same computation.

Presets (``PRESETS[env][preset]``): "paper" uses Table 3 and the paper's budgets (GPU-scale: 5e6
steps MPE, 5e7 SMAX); "cpu" shrinks networks, N and budgets so a run finishes in minutes on this
CPU. The toy games use the §3 discount γ = 0.1.

Presets are documented where they are defined (``PRESETS``); the measurements behind them are in
``docs/ddpl-cpu-presets.md`` (toys, MPE, SMAX) and ``docs/ddpl-warm-start.md`` (control envs).

Warm start (``warm_start="ilqg"|"gps"|"esaps"``, control and MaMuJoCo environments): a teacher is solved
(``lqgx.ddpl.teacher``) or loaded (``teacher=``), saved to ``teacher.npz``; its demonstrations go
into the replay buffer and the policies and critics are pretrained (``lqgx.ddpl.warm_start``);
it stays in the loop for ``guide_steps`` env steps (``lqgx.ddpl.algorithm``; by default
``GUIDE_BUDGETS`` run budgets, 0 = seed only). Environment steps count the
demonstrations, and the run's budget includes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import time
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lqgx.ddpl.algorithm import (DDPLConfig, evaluate_policy, init_state, shard_environments,
                                  train_iterations)
from lqgx.ddpl.envs import make as make_env
from lqgx.ddpl.warm_start import seed_state

_TOY_PAPER = dict(gamma=0.1, eta=1.0, reward_scale=1e-3, total_env_steps=1_000_000, learning_starts=1000)
_TOY_CPU = dict(_TOY_PAPER, total_env_steps=20_000, schedule="vp", reverse_variance="paper", reward_scale=0.1,
                hidden=(64, 64), batch_size=128, num_action_samples=4,
                buffer_size=100_000, learning_starts=200, lr_start=1e-3, lr_end=5e-4, eval_every=2_000,
                eval_episodes=2000, checkpoint_every=2_000)
_CPU_COMMON = dict(hidden=(64, 64), batch_size=128, num_action_samples=4, buffer_size=50_000,
                   learning_starts=1_000, lr_start=3e-4, lr_end=1e-4, schedule="vp", reverse_variance="paper")

# Cooperative control (envs.control). Returns are minus trajectory costs (double pendulum: ~−6e3
# for the untrained policy, ~−5 for iLQG), so rewards are scaled by 1e-2 for the critics, and
# η = 0.01 (c = η/(1−γ) = 1 on raw-cost Q̂ values, whose spread over a state's N action samples
# is O(1–10) raw units; η = 0.1–1 turned ISSM into a best-of-N step on an inaccurate critic and
# eroded a cloned swing-up within 4k steps). Table 3's learning rate. Reverse process
# "paper_noiseless_last": with the paper's σ_1 the VP/H = 20 sampler widens a std-0.1 action law
# to 0.16 (``schedules.gaussian_sampler_std``), and an iLQG swing-up executed with torque noise
# 0.13 (normalized) costs 21 instead of 4.6, at 0.2 it costs 58; noiseless-last gives 0.091.
# 128×128 networks: a cloned 64×64 student fell over (return −850 vs −51). See
# docs/ddpl-warm-start.md for the measurements.
_CONTROL_CPU = dict(_CPU_COMMON, hidden=(128, 128), batch_size=64, gamma=0.99, reward_scale=0.01, eta=0.01,
                    lr_start=1e-4, lr_end=5e-5, reverse_variance="paper_noiseless_last", buffer_size=100_000,
                    learning_starts=2_000, eval_episodes=20, demo_episodes=32, pretrain_steps=5_000,
                    pretrain_lr=3e-3, pretrain_state_noise=0.1, guide_weight=10.0)
_CONTROL_PAPER = dict(gamma=0.99, reward_scale=0.01, eta=0.01, reverse_variance="paper_noiseless_last",
                      demo_episodes=100, pretrain_steps=20_000, pretrain_lr=1e-3, pretrain_state_noise=0.1,
                      guide_weight=10.0)
# Applied on top of a preset when a run is warm-started: the critics first learn the seeded
# policies' own values on their own rollouts (policies frozen), then Algorithm 2 starts.
WARM_START = dict(critic_warmup_steps=4_000)
# Without an explicit guide_steps a warm start is guided over this many run budgets, so the
# teacher's weight ends at half its start: with guidance annealed to zero within the run, or none,
# Algorithm 2 erodes the seeded swing-up (docs/ddpl-warm-start.md, sections 3 and 5).
GUIDE_BUDGETS = 2

# Multi-agent MuJoCo (envs.mamujoco). "paper": Table 3 with the 1e7 steps of the paper's MaMuJoCo
# runs (GPU). "cpu": MJX steps the Ant at ~1e2–1e3 env-steps/s on this CPU (benchmarks/
# mamujoco_speed.py), so the budget is 2e4 steps, 4 evaluation episodes of 1000 steps; an
# untuned short run that shows the pipeline, not Table 1's returns. HumanoidStandup rewards are
# O(50) per step (height / 0.003 s), hence the reward scale. Warm starts (guide_weight, used only
# with a teacher): λ_0 = 10 as for the control envs; with 1.0 Algorithm 2 erased a seeded Ant
# policy within 4000 steps of the critic warm-up's end (3 seeds, docs/mamujoco.md).
_MAMUJOCO_PAPER = dict(total_env_steps=10_000_000, gamma=0.99, eval_every=100_000, eval_episodes=10,
                       checkpoint_every=100_000, guide_weight=10.0)
_MAMUJOCO_CPU = dict(_CPU_COMMON, total_env_steps=20_000, gamma=0.99, eval_every=10_000, eval_episodes=4,
                     checkpoint_every=10_000, num_envs=16, guide_weight=10.0)

PRESETS = {
    **{name: {"paper": _MAMUJOCO_PAPER, "cpu": _MAMUJOCO_CPU} for name in ("ant-2x4", "ant-4x2", "ant-8x1")},
    "humanoid-standup-17x1": {"paper": dict(_MAMUJOCO_PAPER, reward_scale=0.01),
                              "cpu": dict(_MAMUJOCO_CPU, reward_scale=0.01)},
    "double-pendulum-2": {
        "paper": dict(_CONTROL_PAPER, total_env_steps=2_000_000, eval_every=50_000, checkpoint_every=50_000),
        "cpu": dict(_CONTROL_CPU, total_env_steps=80_000, eval_every=8_000, checkpoint_every=8_000),
    },
    "quad-pendulum-4": {
        "paper": dict(_CONTROL_PAPER, total_env_steps=5_000_000, eval_every=100_000, checkpoint_every=100_000),
        "cpu": dict(_CONTROL_CPU, total_env_steps=60_000, eval_every=6_000, checkpoint_every=6_000),
    },
    "toy-game-2": {"paper": _TOY_PAPER, "cpu": _TOY_CPU},
    "toy-mdp": {"paper": _TOY_PAPER, "cpu": _TOY_CPU},
    "mpe-simple-reference": {
        "paper": dict(total_env_steps=5_000_000, gamma=0.99, eval_every=50_000, checkpoint_every=50_000),
        "cpu": dict(_CPU_COMMON, total_env_steps=20_000, gamma=0.95, eval_every=5_000, eval_episodes=50,
                    checkpoint_every=5_000),
    },
    "smax-3s_vs_5z": {
        "paper": dict(total_env_steps=50_000_000, gamma=0.99, eval_every=500_000, checkpoint_every=500_000),
        "cpu": dict(_CPU_COMMON, total_env_steps=10_000, gamma=0.99, eval_every=5_000, eval_episodes=20,
                    checkpoint_every=5_000),
    },
    "smax-6h_vs_8z": {
        "paper": dict(total_env_steps=50_000_000, gamma=0.99, eval_every=500_000, checkpoint_every=500_000),
        "cpu": dict(_CPU_COMMON, total_env_steps=10_000, gamma=0.99, eval_every=5_000, eval_episodes=20,
                    checkpoint_every=5_000),
    },
}


def make_config(env: str, policy: str = "diffusion", preset: str = "cpu", warm_start: bool = False,
                **overrides) -> DDPLConfig:
    """DDPLConfig from a preset (``PRESETS``; with ``warm_start`` also ``WARM_START``) plus keyword
    overrides (``None`` values ignored)."""
    base = PRESETS.get(env) or (PRESETS["toy-game-2"] if env.startswith("toy-game-") else None)
    if base is None:
        raise ValueError(f"env must be one of {sorted(PRESETS)} (or toy-game-N), got {env!r}")
    if preset not in base:
        raise ValueError(f"preset must be one of {sorted(base)}, got {preset!r}")
    kw = dict(base[preset], policy=policy)
    if warm_start:
        kw.update(WARM_START)
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return DDPLConfig(**kw)


def run_config(env: str, policy: str, preset: str, warm_start: str | None, steps: int | None,
               guide_steps: int | None, **overrides) -> DDPLConfig:
    """The config of a new ``train`` run: ``make_config`` plus the default guidance of a warm
    start (``GUIDE_BUDGETS`` × the run's steps when ``guide_steps`` is None)."""
    cfg = make_config(env, policy, preset, warm_start=warm_start is not None, total_env_steps=steps,
                      guide_steps=guide_steps, **overrides)
    if warm_start is not None and guide_steps is None:
        cfg = dataclasses.replace(cfg, guide_steps=GUIDE_BUDGETS * cfg.total_env_steps)
    return cfg


def _config_to_json(cfg: DDPLConfig) -> dict:
    return dataclasses.asdict(cfg)


def _config_from_json(config: dict) -> DDPLConfig:
    """Inverse of ``_config_to_json`` (JSON turns the tuple fields into lists)."""
    return DDPLConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})


def _read_meta(path: Path) -> dict:
    """The JSON metadata of the checkpoint ``path``; a damaged file raises ``ValueError``."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"checkpoint {path} is unreadable (not an npz archive); delete it or "
                         f"train into another --out")
    try:
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
        missing = [k for k in ("env", "policy", "seed", "config") if k not in meta]
    except Exception as err:  # noqa: BLE001 - zip/CRC/JSON errors all mean "unreadable"
        raise ValueError(f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); "
                         f"delete it or train into another --out") from None
    if missing:
        raise ValueError(f"checkpoint {path} has no {', '.join(missing)} in its metadata; "
                         f"delete it or train into another --out")
    return meta


def _atomic_write_bytes(path: Path, write):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(path: Path, state, meta: dict):
    """Atomically write TrainState leaves + JSON metadata to ``path`` (npz)."""
    leaves = jax.tree.leaves(jax.device_get(state))
    arrays = {f"leaf_{i:05d}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    _atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path: Path, template):
    """(state, meta) from ``path``; ``template`` gives the pytree structure (a fresh TrainState).

    A damaged file or one written for another configuration raises one ``ValueError`` that names
    the file and what to do."""
    treedef = jax.tree.structure(template)
    ref = jax.tree.leaves(template)
    try:
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            leaves = [z[f"leaf_{i:05d}"] for i in range(len(z.files) - 1)]
    except Exception as err:  # noqa: BLE001 - zip/CRC/JSON errors all mean "unreadable"
        raise ValueError(f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); delete it "
                         f"or train into another --out") from None
    shapes_ok = len(ref) == len(leaves) and all(np.shape(x) == np.shape(r) for x, r in zip(leaves, ref))
    if not shapes_ok:
        raise ValueError(f"checkpoint {path} was written for a different configuration or environment "
                         f"({len(leaves)} arrays, expected {len(ref)} of other shapes); delete it or "
                         f"train into another --out")
    leaves = [jnp.asarray(x, dtype=r.dtype) for x, r in zip(leaves, ref)]
    return jax.tree.unflatten(treedef, leaves), meta


def _write_results(out: Path, results: dict):
    _atomic_write_bytes(out / "results.json", lambda f: f.write(json.dumps(results, indent=1).encode()))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        ax.plot(results["env_steps"], results["eval_return"], marker="o", ms=3, label="DDPL evaluation")
        if results.get("teacher_return") is not None:
            ax.axhline(results["teacher_return"], color="g", ls="--", lw=1,
                       label=f"teacher ({results['warm_start']}) with its noise")
        ax.set_xlabel("environment steps (demonstrations included)")
        ax.set_ylabel("mean episode return")
        warm = f", warm start {results['warm_start']}" if results.get("warm_start") else ""
        ax.set_title(f"DDPL ({results['policy']}) on {results['env']}{warm}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "curve.png", dpi=110)
        plt.close(fig)
    except Exception:  # plotting must never kill a training run
        pass


@functools.lru_cache(maxsize=8)
def _compiled(cfg: DDPLConfig, env_name: str, env_options: tuple = ()):
    """Jitted (chunk, eval, seed) functions, cached per (config, env, env options) so
    repeated/resumed runs in one process compile once."""
    environment = make_env(env_name, **dict(env_options))
    run_chunk = jax.jit(lambda s, guide, n: train_iterations(cfg, environment, s, n, guide),
                        static_argnums=2)
    run_eval = jax.jit(lambda p, k: evaluate_policy(cfg, environment, p, k, cfg.eval_episodes)[0])
    run_seed = jax.jit(lambda s, teacher, k: seed_state(cfg, environment, s, teacher, k))
    return environment, run_chunk, run_eval, run_seed


def _eval_key(seed: int, env_steps: int):
    return jax.random.fold_in(jax.random.PRNGKey(seed + 10_007), env_steps)


def _teacher_key(seed: int):
    return jax.random.PRNGKey(seed + 20_011)


def _check_warm_start(env: str, warm_start, guide_steps) -> None:
    from lqgx.controllers.teacher import ALGORITHMS
    from lqgx.ddpl.envs import CONTROL, MAMUJOCO

    if warm_start is not None:
        if warm_start not in ALGORITHMS:
            raise ValueError(f"warm_start must be one of {ALGORITHMS} or None, got {warm_start!r}")
        if env not in CONTROL + MAMUJOCO:
            raise ValueError(f"warm_start: warm starts run on the environments over an lqgx.System "
                             f"({', '.join(CONTROL + MAMUJOCO)}); env {env!r} has none")
    if guide_steps and warm_start is None:
        raise ValueError("guide_steps: guidance needs a teacher; pass warm_start as well")


def train(env: str, policy: str = "diffusion", steps: int | None = None, warm_start: str | None = None,
          seed: int = 0, out: str | os.PathLike = "results/ddpl", resume: bool = False, preset: str = "cpu",
          progress: bool = True, max_chunks: int | None = None, guide_steps: int | None = None,
          teacher_options: dict | None = None, teacher: str | os.PathLike | None = None,
          env_options: dict | None = None, mesh=None, **overrides) -> dict:
    """Train DDPL (Algorithm 2) on ``env`` and write results to ``out``.

    Args:
      env: environment name (``lqgx.ddpl.envs.NAMES`` / ``toy-game-N``).
      policy: "diffusion" or "gaussian" (DDPL-Gaussian ablation).
      steps: total environment steps, teacher demonstrations included (default: the preset's).
        With ``resume``, a larger value extends a run.
      warm_start: None, or "ilqg" / "gps" / "esaps": solve the env's system with that
        trajectory optimizer (``lqgx.ddpl.teacher``) and seed the learner from it
        (``lqgx.ddpl.warm_start``); control and MaMuJoCo environments.
      seed: PRNG seed (same seed ⇒ same run).
      out: output directory (checkpoint.npz, results.json, curve.png, teacher.npz).
      resume: continue from ``out/checkpoint.npz`` (bit-identical continuation).
      preset: "cpu" (minutes) or "paper" (Table 3, GPU-scale budgets).
      max_chunks: stop after this many evaluation chunks (testing interruption/resume).
      guide_steps: keep the teacher in the loop for this many env steps (annealed teacher term of
        Algorithm 2 line 6, see ``lqgx.ddpl.algorithm``); needs ``warm_start``. Default with a
        warm start: ``GUIDE_BUDGETS`` × the run's steps (the weight ends at half its start);
        0 seeds only.
      teacher_options: keywords for ``lqgx.ddpl.teacher`` (solver settings, ``exploration``).
      teacher: a ``teacher.npz`` of an earlier run (``controllers.teacher.save_teacher``) to reuse
        instead of solving again (seeds of one study can share one teacher).
      env_options: keywords for ``lqgx.ddpl.envs.make`` (e.g. ``max_steps``, ``observation``);
        stored with the run, so resume and ``load_run`` rebuild the same environment.
      mesh: split the ``num_envs`` environments over this mesh's devices
        (``lqgx.distributed.batch_mesh()``; ``algorithm.shard_environments``).
      overrides: DDPLConfig fields.
    Returns the results dict (also written to ``out/results.json``).
    """
    if policy not in ("diffusion", "gaussian"):
        raise ValueError(f"policy must be 'diffusion' or 'gaussian', got {policy!r}")
    if steps is not None and int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    _check_warm_start(env, warm_start, guide_steps)
    if env_options is not None and not isinstance(env_options, dict):
        raise TypeError(f"env_options must be a dict of lqgx.ddpl.envs.make keywords, got "
                        f"{type(env_options).__name__}")
    env_options = dict(env_options or {})
    out = Path(out)
    ckpt = out / "checkpoint.npz"
    if resume:
        if not ckpt.exists():
            raise ValueError(f"resume: no checkpoint at {ckpt}")
        meta = _read_meta(ckpt)
        cfg = _config_from_json(meta["config"])
        if meta["env"] != env or meta["policy"] != policy or meta["seed"] != seed:
            raise ValueError(f"resume: checkpoint is for env={meta['env']} policy={meta['policy']} "
                             f"seed={meta['seed']}, got env={env} policy={policy} seed={seed}")
        if warm_start is not None and warm_start != meta.get("warm_start"):
            raise ValueError(f"resume: checkpoint was warm-started with {meta.get('warm_start')}, "
                             f"got warm_start={warm_start}")
        warm_start = meta.get("warm_start")
        if env_options and env_options != meta.get("env_options", {}):
            raise ValueError(f"resume: checkpoint was made with env_options={meta.get('env_options', {})}, "
                             f"got {env_options}")
        env_options = meta.get("env_options", {})
        environment = make_env(env, **env_options)
        state, meta = load_checkpoint(ckpt, init_state(cfg, environment, jax.random.PRNGKey(seed)))
        results = meta["results"]
        if steps is not None and int(steps) != cfg.total_env_steps:
            if int(steps) < int(state.env_steps):
                raise ValueError(f"steps: the run already has {int(state.env_steps)} env steps, got {steps}")
            cfg = dataclasses.replace(cfg, total_env_steps=int(steps))  # extend (LR schedule follows)
            results["config"] = _config_to_json(cfg)
    else:
        cfg = run_config(env, policy, preset, warm_start, steps, guide_steps, **overrides)
        try:
            environment = make_env(env, **env_options)
        except TypeError as err:  # an unknown keyword
            raise ValueError(f"env_options {env_options} for {env!r}: {err}") from None
        state = init_state(cfg, environment, jax.random.PRNGKey(seed))
        results = {"env": env, "policy": policy, "preset": preset, "seed": seed, "env_steps": [],
                   "eval_return": [], "wall_s": 0.0, "train_wall_s": 0.0, "warm_start": warm_start,
                   "teacher_return": None, "pretrain_s": 0.0, "config": _config_to_json(cfg),
                   "env_options": env_options}
    out.mkdir(parents=True, exist_ok=True)

    environment, run_chunk, run_eval, run_seed = _compiled(cfg, env, tuple(sorted(env_options.items())))
    per_it = cfg.steps_per_iteration
    chunk_its = max(1, cfg.eval_every // per_it)

    def evaluate_now(st):
        steps_now = int(st.env_steps)
        ret = float(run_eval(st.policy_params, _eval_key(seed, steps_now)))
        results["env_steps"].append(steps_now)
        results["eval_return"].append(ret)

    def checkpoint(st):
        meta = {"env": env, "policy": policy, "seed": seed, "warm_start": warm_start,
                "env_options": env_options, "config": _config_to_json(cfg), "results": results}
        save_checkpoint(ckpt, st, meta)
        _write_results(out, results)

    t_start = time.time()
    guide = None
    if not results["env_steps"]:
        evaluate_now(state)
        if warm_start is not None:
            state, guide = _seed(cfg, environment, state, warm_start, seed, out, results,
                                 teacher_options or {}, teacher, run_seed, progress)
            evaluate_now(state)
            checkpoint(state)
    elif warm_start is not None:
        guide = _load_guide(out, environment)
    if mesh is not None:   # after seeding, which builds a new state
        state = shard_environments(state, mesh)
    if cfg.guide_steps <= 0:
        guide = None  # the chunk does not use it
    # Algorithm 2 gets the budget the demonstrations left (env steps count all interaction).
    demo_steps = int(results.get("demo_env_steps", 0))
    total_its = max(0, (cfg.total_env_steps - demo_steps) // per_it)

    bar_ctx = contextlib.nullcontext(None)
    if progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar_ctx = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                           TextColumn("return {task.fields[ret]:.3g}"), TimeRemainingColumn())
    chunks_done = 0
    with bar_ctx as bar:
        task = bar.add_task(f"DDPL {policy} {env}", total=demo_steps + total_its * per_it,
                            completed=int(state.env_steps), ret=results["eval_return"][-1]) if bar else None
        while int(state.iteration) < total_its:
            if max_chunks is not None and chunks_done >= max_chunks:
                break
            n = min(chunk_its - int(state.iteration) % chunk_its, total_its - int(state.iteration))
            t0 = time.time()
            state, _ = run_chunk(state, guide, n)
            jax.block_until_ready(state)
            results["train_wall_s"] += time.time() - t0
            evaluate_now(state)
            chunks_done += 1
            results["wall_s"] += time.time() - t_start
            t_start = time.time()
            results["env_steps_per_s"] = (int(state.env_steps) - demo_steps) / max(results["train_wall_s"], 1e-9)
            checkpoint(state)
            if bar:
                bar.update(task, completed=int(state.env_steps), ret=results["eval_return"][-1])
    results["wall_s"] += time.time() - t_start
    _write_results(out, results)
    return results


def _seed(cfg, environment, state, warm_start, seed, out, results, teacher_options, teacher_file, run_seed,
          progress):
    """Solve (or load) the teacher, save it, seed ``state`` (demonstrations, pretraining); fills
    ``results``."""
    from lqgx.controllers.teacher import load_teacher, make_teacher, save_teacher

    if cfg.demo_episodes * environment.max_steps > cfg.buffer_size:
        raise ValueError(f"demo_episodes: {cfg.demo_episodes} episodes of {environment.max_steps} steps do "
                         f"not fit the replay buffer of {cfg.buffer_size}")
    if teacher_file is not None:
        teacher = load_teacher(teacher_file, environment)
        if teacher.algo != warm_start:
            raise ValueError(f"teacher: {teacher_file} holds a {teacher.algo} teacher, not {warm_start}")
    else:
        if progress:
            print(f"solving the {warm_start} teacher on {environment.name} (compiles on first use) ...", flush=True)
        teacher = make_teacher(environment, warm_start, key=_teacher_key(seed), **teacher_options)
    save_teacher(out / "teacher.npz", teacher)
    if progress:
        print(f"teacher: return {teacher.evaluated_return:.4g} with its noise, {teacher.mean_return:.4g} "
              f"noise-free ({teacher.solve_s:.0f} s)", flush=True)
    t0 = time.time()
    state, guide, info, demos = run_seed(state, teacher.policy, jax.random.fold_in(_teacher_key(seed), 1))
    jax.block_until_ready(state)
    _atomic_write_bytes(out / "guide_states.npy", lambda f: np.save(f, np.asarray(guide.states)))
    results.update(teacher=teacher.summary(), teacher_return=teacher.evaluated_return,
                   teacher_mean_return=teacher.mean_return, teacher_solve_s=teacher.solve_s,
                   teacher_env_steps=teacher.solver_env_steps, pretrain_s=time.time() - t0,
                   demo_env_steps=int(demos.returns.shape[0]),
                   demo_return=float(jnp.mean(demos.episode_returns)),
                   pretrain_policy_loss=[float(info.policy_loss[0]), float(info.policy_loss[-1])],
                   pretrain_critic_loss=[float(info.critic_loss[0]), float(info.critic_loss[-1])])
    return state, guide


def _load_guide(out: Path, environment):
    """The ``Guide`` of a warm-started run directory (teacher.npz, guide_states.npy)."""
    from lqgx.controllers.teacher import load_teacher
    from lqgx.ddpl.guide import Guide

    try:
        teacher = load_teacher(out / "teacher.npz", environment)
        states = jnp.asarray(np.load(out / "guide_states.npy"))   # the dtype they were saved in
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"resume: the warm start's teacher files in {out} are missing or unreadable "
                         f"({type(err).__name__}: {err}); start a new run") from None
    return Guide(teacher.policy, states)


@dataclasses.dataclass(frozen=True)
class Run:
    """A training run restored from its checkpoint."""

    config: DDPLConfig
    environment: object
    state: object
    meta: dict


def load_run(dir: str | os.PathLike) -> Run:
    """The training run whose checkpoint is in ``dir``; ``dir`` may also name a checkpoint file
    itself (e.g. a snapshot copied from ``checkpoint.npz`` during training)."""
    path = Path(dir) if Path(dir).is_file() else Path(dir) / "checkpoint.npz"
    if not path.exists():
        raise ValueError(f"dir: no checkpoint.npz in {dir}")
    meta = _read_meta(path)
    cfg = _config_from_json(meta["config"])
    environment = make_env(meta["env"], **meta.get("env_options", {}))
    state, meta = load_checkpoint(path, init_state(cfg, environment, jax.random.PRNGKey(meta["seed"])))
    return Run(config=cfg, environment=environment, state=state, meta=meta)


def evaluate(dir: str | os.PathLike, episodes: int = 50, seed: int = 0) -> dict:
    """Evaluate the checkpoint in ``dir``: mean/std of the episode return over ``episodes``."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    run = load_run(dir)
    state, meta = run.state, run.meta
    mean, rets = jax.jit(lambda p, k: evaluate_policy(run.config, run.environment, p, k, episodes))(
        state.policy_params, jax.random.PRNGKey(seed))
    rets = np.asarray(rets)
    return {"env": meta["env"], "policy": meta["policy"], "env_steps": int(state.env_steps), "episodes": episodes,
            "return_mean": float(mean), "return_std": float(rets.std()),
            "return_stderr": float(rets.std() / np.sqrt(episodes))}
