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

Reverse process of the CPU presets. In Algorithm 2 the ISSM proposal is the current policy, so the
sampler's bias is applied to the policy's own samples once per epoch and compounds
(``schedules.gaussian_sampler_std``: std of the H-step sampler with the exact score of N(0, sd²)
data). The DDPM posterior variance contracts (linear schedule, H = 20: sd 0.2 → 0.125,
0.1 → 0.047), and on toy-game-2 a diffusion policy trained with η = 0 (uniform weights, target =
itself) collapsed from std 1.0 to 0.03 within 16k steps, removing exactly the exploration the
diffusion class is meant to add. Table 3's linear schedule with the paper's σ² = β/α explodes
instead (σ_H² ≈ 51; sd 1 → 1.99, policy mass piles up on the box edges). All CPU presets therefore
use the paper's σ² = β/α with the VP schedule and Table 3's H = 20 (VP at H = 20 is one of the
schedules of Fig. 5, on 3s_vs_5z): mild expansion (sd 1 → 1.10, 0.5 → 0.57, 0.1 → 0.16), i.e. a
small exploration floor and no collapse. The MPE/SMAX CPU presets formerly used the posterior
variance with the linear schedule and H = 10, which contracts harder (sd 0.2 → 0.099,
0.1 → 0.039 per pass); VP/σ² = β/α at H = 10 does not contract but its last step alone injects
σ_1 = √(β_1/α_1) ≈ 0.25 (sd 0.05 → 0.25, 0.2 → 0.32), close to the std 0.29 of a uniform action on
these envs' [0, 1] boxes, while H = 20 halves that floor (σ_1 ≈ 0.13). Measured with
``benchmarks/ddpl_envs.py`` at the presets' budgets (seed 0; MPE 20k, SMAX 10k env steps), the
former preset did *not* collapse: its trained diffusion policies were the broadest (raw-sample std
2.5 on MPE, 19 on SMAX; 81 % resp. 98 % of the projected coordinates on the box boundary). The
exact-score map leaves out the learned score's error, which the linear schedule's last step
multiplies by 1/√α_H ≈ 10.6 (VP: 1.6 at H = 10, 1.3 at H = 20): the likely cause, not isolated
by an experiment. With VP/σ² = β/α the raw std fell to 0.6-0.8 on MPE (39-49 % on the boundary)
and ≈ 7 on SMAX (94 %), at H = 10 and H = 20 alike; final returns of all three agreed within the
evaluation noise at these budgets. The "paper" presets keep Table 3 (linear, σ² = β/α).

Reward scale of the toy CPU preset (0.1; the weights divide it out again, so η keeps its meaning).
Adam's step is scale-free, so the critic's output jitter per update is set by the learning rate in
*scaled* units. With 1e-3 the whole start-state signal (r_start spans ≈ 40 → 0.04) sat at that
jitter level: after 20k steps (former preset) Q̂_1(−1, 0.6) − Q̂_1(−1, 0) was +15 against the true
−3.4, and the policies followed such spurious maxima (VP, σ² = β/α, scale 1e-3: final J −2.2 ± 1.4
over 3 seeds); with 0.1 the learned start-state shape follows r_start and the diffusion runs settle
at J ≈ −0.3.

Toy preset vs the paper (issue 6). The paper's toy-game result (§3.2.2, Fig. 2 right) is
Algorithm 1 with exact energy-based updates (B = 200, η = 0.01(1−γ), π⁰ = N(0, 0.1)), reproduced
by ``lqgx.ddpl.toy.run_decspg``; the paper runs Algorithm 2 only on the §5 benchmarks, so there
are no paper settings of Algorithm 2 for the toys. Relative to Table 3 the toy CPU preset uses
2×64 instead of 3×256 nets, B_u = 128 instead of 256, Adam 1e-3 → 5e-4 instead of 1e-4 → 5e-5, VP
instead of linear, N = 4 (not in the paper) and Table 3's η = 1 (c = η/(1−γ) = 1.11, not §3's 0.01).
None of these is what keeps DDPL-diffusion from the high-reward equilibrium at −β: the reverse
process itself is. With σ² = β/α the last denoising step adds independent N(0, β_1/α_1) noise
(VP, H = 20: std 0.132) to every action, so each agent's policy is some law convolved with
N(0, 0.132²), and over all such policies J ≤ 3.23 (J is multilinear in the two agents' laws, so
the bound is attained by point masses before the noise, both at −0.454; by quadrature), against
J* = 20.4 and ≈ 10.2 for one agent exactly at −β — whatever the training length, η or critic.
Measured (seed 0, 300k steps: final J 1.13, one agent's mean −0.47 with std 0.15; seed 1, 500k:
J 2.01, both agents at means −0.44/−0.39 with std 0.16/0.18 — the floor-capped version of the
equilibrium). Removing the floor (``reverse_variance="paper_noiseless_last"``, Ho et al.'s z = 0
at t = 1) makes narrow policies contract under self-distillation (exact-score map 0.1 → 0.091,
0.03 → 0.011); on toy-game-2 every seed ended as point masses (per-agent std ≤ 0.015): seeds 0
and 1 collapsed after ≈ 30–36k steps and then followed the critic's extrapolation to the box
edge a ≈ −2 (J −80 at 94k, −71 at 60k), seed 2 froze at +β and −0.22 (J −0.44 at 60k).
DDPL-Gaussian (500k steps, seeds
0–2) collapses to std ≈ 0.007 per agent; 2 of 3 seeds end with exactly one agent at −β
(J ≈ 9.2–9.8), none with both. See ``benchmarks/ddpl_toy_game.py`` and
``benchmarks/ddpl_toy_critic.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lqgx.ddpl.algorithm import DDPLConfig, evaluate_policy, init_state, train_iterations
from lqgx.ddpl.envs import make as make_env

_TOY_PAPER = dict(gamma=0.1, eta=1.0, reward_scale=1e-3, total_env_steps=1_000_000, learning_starts=1000)
_TOY_CPU = dict(_TOY_PAPER, total_env_steps=20_000, schedule="vp", reverse_variance="paper", reward_scale=0.1,
                hidden=(64, 64), batch_size=128, num_action_samples=4,
                buffer_size=100_000, learning_starts=200, lr_start=1e-3, lr_end=5e-4, eval_every=2_000,
                eval_episodes=2000, checkpoint_every=2_000)
_CPU_COMMON = dict(hidden=(64, 64), batch_size=128, num_action_samples=4, buffer_size=50_000,
                   learning_starts=1_000, lr_start=3e-4, lr_end=1e-4, schedule="vp", reverse_variance="paper")

PRESETS = {
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


def make_config(env: str, policy: str = "diffusion", preset: str = "cpu", **overrides) -> DDPLConfig:
    """DDPLConfig from a preset (``PRESETS``) plus keyword overrides (``None`` values ignored)."""
    base = PRESETS.get(env) or (PRESETS["toy-game-2"] if env.startswith("toy-game-") else None)
    if base is None:
        raise ValueError(f"env must be one of {sorted(PRESETS)} (or toy-game-N), got {env!r}")
    if preset not in base:
        raise ValueError(f"preset must be one of {sorted(base)}, got {preset!r}")
    kw = dict(base[preset], policy=policy)
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return DDPLConfig(**kw)


def _config_to_json(cfg: DDPLConfig) -> dict:
    return dataclasses.asdict(cfg)


def _config_from_json(config: dict) -> DDPLConfig:
    """Inverse of ``_config_to_json`` (JSON turns the tuple fields into lists)."""
    return DDPLConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})


def _read_meta(path: Path) -> dict:
    with np.load(path) as z:
        return json.loads(bytes(z["meta"]).decode())


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
    """(state, meta) from ``path``; ``template`` gives the pytree structure (a fresh TrainState)."""
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        leaves = [z[f"leaf_{i:05d}"] for i in range(len(z.files) - 1)]
    treedef = jax.tree.structure(template)
    ref = jax.tree.leaves(template)
    if len(ref) != len(leaves):
        raise ValueError(f"checkpoint {path} does not match the configuration ({len(leaves)} vs {len(ref)} arrays)")
    leaves = [jnp.asarray(x, dtype=r.dtype) for x, r in zip(leaves, ref)]
    return jax.tree.unflatten(treedef, leaves), meta


def _write_results(out: Path, results: dict):
    _atomic_write_bytes(out / "results.json", lambda f: f.write(json.dumps(results, indent=1).encode()))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(results["env_steps"], results["eval_return"], marker="o", ms=3)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("mean episode return")
        ax.set_title(f"DDPL ({results['policy']}) on {results['env']}")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "curve.png", dpi=110)
        plt.close(fig)
    except Exception:  # plotting must never kill a training run
        pass


@functools.lru_cache(maxsize=8)
def _compiled(cfg: DDPLConfig, env_name: str):
    """Jitted (chunk, eval) functions, cached per (config, env) so repeated/resumed runs in one
    process compile once."""
    environment = make_env(env_name)
    run_chunk = jax.jit(lambda s, n: train_iterations(cfg, environment, s, n), static_argnums=1)
    run_eval = jax.jit(lambda p, k: evaluate_policy(cfg, environment, p, k, cfg.eval_episodes)[0])
    return run_chunk, run_eval


def _eval_key(seed: int, env_steps: int):
    return jax.random.fold_in(jax.random.PRNGKey(seed + 10_007), env_steps)


def train(env: str, policy: str = "diffusion", steps: int | None = None, warm_start: str | None = None,
          seed: int = 0, out: str | os.PathLike = "results/ddpl", resume: bool = False, preset: str = "cpu",
          progress: bool = True, max_chunks: int | None = None, **overrides) -> dict:
    """Train DDPL (Algorithm 2) on ``env`` and write results to ``out``.

    Args:
      env: environment name (``lqgx.ddpl.envs.NAMES`` / ``toy-game-N``).
      policy: "diffusion" or "gaussian" (DDPL-Gaussian ablation).
      steps: total environment steps (default: the preset's).
      warm_start: trajectory-optimization warm start — not implemented in this issue (ValueError).
      seed: PRNG seed (same seed ⇒ same run).
      out: output directory (checkpoint.npz, results.json, curve.png).
      resume: continue from ``out/checkpoint.npz`` (bit-identical continuation).
      preset: "cpu" (minutes) or "paper" (Table 3, GPU-scale budgets).
      max_chunks: stop after this many evaluation chunks (testing interruption/resume).
      overrides: DDPLConfig fields.
    Returns the results dict (also written to ``out/results.json``).
    """
    if warm_start is not None:
        raise ValueError("warm_start: warm starts from trajectory optimization are a separate issue; pass None")
    if policy not in ("diffusion", "gaussian"):
        raise ValueError(f"policy must be 'diffusion' or 'gaussian', got {policy!r}")
    if steps is not None and int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    out = Path(out)
    ckpt = out / "checkpoint.npz"
    environment = make_env(env)
    if resume:
        if not ckpt.exists():
            raise ValueError(f"resume: no checkpoint at {ckpt}")
        meta = _read_meta(ckpt)
        cfg = _config_from_json(meta["config"])
        if steps is not None and int(steps) != cfg.total_env_steps:
            raise ValueError(f"steps: the checkpoint was made for {cfg.total_env_steps} steps, got {steps}")
        if meta["env"] != env or meta["policy"] != policy or meta["seed"] != seed:
            raise ValueError(f"resume: checkpoint is for env={meta['env']} policy={meta['policy']} "
                             f"seed={meta['seed']}, got env={env} policy={policy} seed={seed}")
        state, meta = load_checkpoint(ckpt, init_state(cfg, environment, jax.random.PRNGKey(seed)))
        results = meta["results"]
    else:
        cfg = make_config(env, policy, preset, total_env_steps=steps, **overrides)
        state = init_state(cfg, environment, jax.random.PRNGKey(seed))
        results = {"env": env, "policy": policy, "preset": preset, "seed": seed, "env_steps": [],
                   "eval_return": [], "wall_s": 0.0, "train_wall_s": 0.0, "config": _config_to_json(cfg)}
    out.mkdir(parents=True, exist_ok=True)

    per_it = cfg.steps_per_iteration
    chunk_its = max(1, cfg.eval_every // per_it)
    total_its = cfg.total_iterations
    run_chunk, run_eval = _compiled(cfg, env)

    def evaluate_now(st):
        steps_now = int(st.env_steps)
        ret = float(run_eval(st.policy_params, _eval_key(seed, steps_now)))
        results["env_steps"].append(steps_now)
        results["eval_return"].append(ret)

    t_start = time.time()
    if not results["env_steps"]:
        evaluate_now(state)

    bar_ctx = contextlib.nullcontext(None)
    if progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar_ctx = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                           TextColumn("return {task.fields[ret]:.3g}"), TimeRemainingColumn())
    chunks_done = 0
    with bar_ctx as bar:
        task = bar.add_task(f"DDPL {policy} {env}", total=total_its * per_it, completed=int(state.env_steps),
                            ret=results["eval_return"][-1]) if bar else None
        while int(state.iteration) < total_its:
            if max_chunks is not None and chunks_done >= max_chunks:
                break
            n = min(chunk_its - int(state.iteration) % chunk_its, total_its - int(state.iteration))
            t0 = time.time()
            state, _ = run_chunk(state, n)
            jax.block_until_ready(state)
            results["train_wall_s"] += time.time() - t0
            evaluate_now(state)
            chunks_done += 1
            results["wall_s"] += time.time() - t_start
            t_start = time.time()
            results["env_steps_per_s"] = int(state.env_steps) / max(results["train_wall_s"], 1e-9)
            meta = {"env": env, "policy": policy, "seed": seed, "config": _config_to_json(cfg), "results": results}
            save_checkpoint(ckpt, state, meta)
            _write_results(out, results)
            if bar:
                bar.update(task, completed=int(state.env_steps), ret=results["eval_return"][-1])
    results["wall_s"] += time.time() - t_start
    _write_results(out, results)
    return results


@dataclasses.dataclass(frozen=True)
class Run:
    """A training run restored from its checkpoint."""

    config: DDPLConfig
    environment: object
    state: object
    meta: dict


def load_run(dir: str | os.PathLike) -> Run:
    """The training run whose checkpoint is in ``dir``."""
    path = Path(dir) / "checkpoint.npz"
    if not path.exists():
        raise ValueError(f"dir: no checkpoint.npz in {dir}")
    meta = _read_meta(path)
    cfg = _config_from_json(meta["config"])
    environment = make_env(meta["env"])
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
