"""Short-budget CPU runs of DDPL / DDPL-Gaussian on the benchmark envs + Table 2-style timing.

For each ENV and POLICY: train with the "cpu" preset (budget = --steps env steps; NOT the paper's
5e6 / 5e7-step runs), then measure on this CPU
  - throughput: environment steps per second of training (rollout + update, jitted chunks),
  - train (ms): one Algorithm-2 epoch (B_r-step rollout + critic + ISSM update, all agents),
  - inf. (ms): one joint action for one state (all agents, H-step reverse process),
  - action spread of the trained policy (``action_spread``), since Algorithm 2 refits the policy to
    its own samples every epoch and a contracting sampler collapses it (``schedules.gaussian_sampler_std``),
  - mean ± std of the final policy's return over ``eval_episodes`` fresh episodes (``train.evaluate``).
Writes results/ddpl/<env>-<policy>/ (results.json, curve.png, checkpoint) and
results/ddpl/envs.json.

    .venv/bin/python benchmarks/ddpl_envs.py --envs mpe-simple-reference,smax-3s_vs_5z --policies diffusion,gaussian --steps 10000
"""

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lqgx.ddpl.algorithm import init_state, joint_action, make_policy
from lqgx.ddpl.buffer import buffer_sample
from lqgx.ddpl.envs import make
from lqgx.ddpl.train import evaluate, load_run, make_config, train


def timing(cfg, env, res):
    """train ms per epoch from the measured training throughput (jitted chunks of epochs, so
    this is rollout + critic + ISSM update of all agents); inference ms per joint action from a
    separately jitted sampler, averaged over 100 calls."""
    train_ms = 1e3 * cfg.steps_per_iteration / res["env_steps_per_s"]
    st = init_state(cfg, env, jax.random.PRNGKey(0))
    pol = make_policy(cfg, env)
    act = jax.jit(lambda p, k, s: joint_action(pol, p, k, env.observe(s)))
    s0 = st.obs[0]
    jax.block_until_ready(act(st.policy_params, jax.random.PRNGKey(0), s0))
    t = time.perf_counter()
    for i in range(100):
        a = act(st.policy_params, jax.random.PRNGKey(i), s0)
    jax.block_until_ready(a)
    inf_ms = (time.perf_counter() - t) / 100 * 1e3
    return train_ms, inf_ms


def action_spread(out, num_states=16, num_samples=256, seed=0):
    """Spread of the policy in ``out/checkpoint.npz`` on ``num_states`` replay-buffer states:
    std over ``num_samples`` joint actions per state, averaged over states, agents and action
    coordinates, of the projected action (what the environment receives) and of the raw sample
    (before the box clip), plus the fraction of projected coordinates on the box boundary (mass
    piling up on the edges is how an expanding sampler shows)."""
    run = load_run(out)
    cfg, env, st = run.config, run.environment, run.state
    pol = make_policy(cfg, env)
    k_s, k_a = jax.random.split(jax.random.PRNGKey(seed))
    states = buffer_sample(st.buffer, k_s, num_states).state

    def raw(p, k, s):  # [num_samples, n, d] unprojected joint actions for one state
        per_agent = lambda pp, kk, o: jax.vmap(lambda k1: pol.sample_raw(pp, k1, o))(jax.random.split(kk, num_samples))
        return jnp.swapaxes(jax.vmap(per_agent)(p, jax.random.split(k, env.num_agents), env.observe(s)), 0, 1)

    a_raw = jax.jit(jax.vmap(raw, in_axes=(None, 0, 0)))(st.policy_params, jax.random.split(k_a, num_states), states)
    a = jax.vmap(pol.project)(a_raw.reshape(-1, env.action_dim)).reshape(a_raw.shape)
    lo, hi = np.asarray(env.action_low), np.asarray(env.action_high)
    return {"action_std": float(jnp.std(a, axis=1).mean()), "raw_action_std": float(jnp.std(a_raw, axis=1).mean()),
            "boundary_fraction": float(np.mean((np.asarray(a) <= lo) | (np.asarray(a) >= hi)))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envs", default="mpe-simple-reference,smax-3s_vs_5z,smax-6h_vs_8z")
    ap.add_argument("--policies", default="diffusion,gaussian")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/ddpl")
    args = ap.parse_args()
    summary_path = Path(args.out) / "envs.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for env_name in args.envs.split(","):
        env = make(env_name)
        for pol in args.policies.split(","):
            cfg = make_config(env_name, pol, "cpu", total_env_steps=args.steps)
            out = Path(args.out) / f"{env_name}-{pol}"
            res = train(env_name, pol, steps=args.steps, seed=args.seed, out=out, progress=False)
            train_ms, inf_ms = timing(cfg, env, res)
            final = evaluate(out, episodes=cfg.eval_episodes, seed=args.seed)
            summary[f"{env_name}/{pol}"] = {
                "budget_env_steps": res["env_steps"][-1], "eval_return": res["eval_return"],
                "best_eval_return": max(res["eval_return"]), "env_steps_per_s": res["env_steps_per_s"],
                "train_ms_per_epoch": train_ms, "inference_ms_per_joint_action": inf_ms,
                "wall_s": res["wall_s"], "steps_per_epoch": cfg.steps_per_iteration,
                "diffusion_steps": cfg.diffusion_steps, "schedule": cfg.schedule,
                "reverse_variance": cfg.reverse_variance, "hidden": list(cfg.hidden),
                "final_return_mean": final["return_mean"], "final_return_std": final["return_std"],
                **action_spread(out, seed=args.seed)}
            print(env_name, pol, json.dumps(summary[f"{env_name}/{pol}"]), flush=True)
            summary_path.parent.mkdir(parents=True, exist_ok=True)
            summary_path.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
