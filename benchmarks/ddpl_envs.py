"""Short-budget CPU runs of DDPL / DDPL-Gaussian on the benchmark envs + Table 2-style timing.

For each ENV and POLICY: train with the "cpu" preset (budget = --steps env steps; NOT the paper's
5e6 / 5e7-step runs), then measure on this CPU
  - throughput: environment steps per second of training (rollout + update, jitted chunks),
  - train (ms): one Algorithm-2 epoch (B_r-step rollout + critic + ISSM update, all agents),
  - inf. (ms): one joint action for one state (all agents, H-step reverse process).
Writes results/ddpl/<env>-<policy>/ (results.json, curve.png, checkpoint) and
results/ddpl/envs.json.

    .venv/bin/python benchmarks/ddpl_envs.py --envs mpe-simple-reference,smax-3s_vs_5z --policies diffusion,gaussian --steps 10000
"""

import argparse
import json
import time
from pathlib import Path

import jax

from lqgx.ddpl.algorithm import init_state, joint_action, make_policy
from lqgx.ddpl.envs import make
from lqgx.ddpl.train import make_config, train


def timing(cfg, env, res):
    """train ms per epoch from the measured training throughput (jitted chunks of epochs, so
    this is rollout + critic + ISSM update of all agents); inference ms per joint action from a
    separately jitted sampler, averaged over 100 calls."""
    train_ms = 1e3 * cfg.steps_per_iteration / res["env_steps_per_s"]
    st = init_state(cfg, env, jax.random.PRNGKey(0))
    pol = make_policy(cfg, env)
    act = jax.jit(lambda p, k, s: joint_action(pol, p, k, s, env.num_agents))
    s0 = st.obs[0]
    jax.block_until_ready(act(st.policy_params, jax.random.PRNGKey(0), s0))
    t = time.perf_counter()
    for i in range(100):
        a = act(st.policy_params, jax.random.PRNGKey(i), s0)
    jax.block_until_ready(a)
    inf_ms = (time.perf_counter() - t) / 100 * 1e3
    return train_ms, inf_ms


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
            res = train(env_name, pol, steps=args.steps, seed=args.seed, out=Path(args.out) / f"{env_name}-{pol}",
                        progress=False)
            train_ms, inf_ms = timing(cfg, env, res)
            summary[f"{env_name}/{pol}"] = {
                "budget_env_steps": res["env_steps"][-1], "eval_return": res["eval_return"],
                "best_eval_return": max(res["eval_return"]), "env_steps_per_s": res["env_steps_per_s"],
                "train_ms_per_epoch": train_ms, "inference_ms_per_joint_action": inf_ms,
                "wall_s": res["wall_s"], "steps_per_epoch": cfg.steps_per_iteration,
                "diffusion_steps": cfg.diffusion_steps, "hidden": list(cfg.hidden)}
            print(env_name, pol, json.dumps(summary[f"{env_name}/{pol}"]), flush=True)
            summary_path.parent.mkdir(parents=True, exist_ok=True)
            summary_path.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
