"""Environment steps per second of the multi-agent MuJoCo envs on MJX (``lqgx.ddpl.envs.mamujoco``).

For each env, physics setting and batch size: a jitted ``lax.scan`` of ``--steps`` env steps of
``vmap``ped environments with uniformly random actions (auto-reset included), float32. Compile
time is reported apart; throughput is the median over ``--repeats`` runs after one warm-up run.
The partitions of one robot share the physics, so ``ant-2x4`` stands for all three Ants.

    .venv/bin/python benchmarks/mamujoco_speed.py --envs ant-2x4,humanoid-standup-17x1 --batch 1,64
    -> results/benchmarks/mamujoco_speed.json
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

from lqgx.ddpl.envs import make


def measure(name, physics, batch, steps, repeats):
    env = make(name, physics=physics)

    def run(key):
        k_reset, k_run = jax.random.split(key)
        _, env_states = jax.vmap(env.reset)(jax.random.split(k_reset, batch))

        def body(es, k):
            k_act, k_env = jax.random.split(k)
            actions = jax.random.uniform(k_act, (batch, env.num_agents, env.action_dim),
                                         minval=env.action_low[0], maxval=env.action_high[0])
            _, es, reward, done = jax.vmap(env.step)(jax.random.split(k_env, batch), es, actions)
            return es, (reward, done)

        _, (rewards, dones) = jax.lax.scan(body, env_states, jax.random.split(k_run, steps))
        return rewards.mean(), dones.sum()

    t = time.perf_counter()
    compiled = jax.jit(run).lower(jax.random.PRNGKey(0)).compile()
    compile_s = time.perf_counter() - t
    jax.block_until_ready(compiled(jax.random.PRNGKey(0)))
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.PRNGKey(i + 1)))
        times.append(time.perf_counter() - t)
    rates = steps * batch / np.array(times)
    return dict(env=name, physics=physics, batch=batch, steps=steps, compile_s=compile_s,
                env_steps_per_s=float(np.median(rates)), spread=[float(rates.min()), float(rates.max())])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envs", default="ant-2x4,humanoid-standup-17x1")
    ap.add_argument("--physics", default="fast")
    ap.add_argument("--batch", default="1,64")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="results/benchmarks/mamujoco_speed.json")
    args = ap.parse_args()
    rows = []
    for name in args.envs.split(","):
        for physics in args.physics.split(","):
            for batch in (int(b) for b in args.batch.split(",")):
                row = measure(name, physics, batch, args.steps, args.repeats)
                print(f"{name:24s} {physics:9s} batch {batch:3d}: {row['env_steps_per_s']:8.1f} env-steps/s "
                      f"(compile {row['compile_s']:.0f} s)", flush=True)
                rows.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = dict(platform=platform.platform(), cpus=len(os.sched_getaffinity(0)),
                   jax=jax.__version__, device=str(jax.devices()[0]))
    out.write_text(json.dumps(dict(machine=machine, rows=rows), indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
