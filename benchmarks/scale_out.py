"""Batched iLQG solves and DDPL's environments split over devices (lqgx.distributed): wall time
and agreement with the unsharded run, for 1, 2 and 4 devices.

The batch is ilqr_cartpole.py's cart-pole swing-up from B perturbed initial states
(``lqgx.solve_batch(lqgx.ilqg, system, x0s, iterations=300, mesh=...)``). Each device count runs
in its own interpreter with ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (the CPU split
into N devices: on this 2-core machine more than 2 devices share cores, so the 4-device row shows
the overhead of sharding, not a speed-up). Medians after a warm-up call, compile time apart; the
unsharded vmap runs in the same process as the reference. DDPL: ``train_iterations`` epochs of
the CPU preset with ``shard_environments`` (rollouts split by device, learner replicated) against
the same epochs unsplit; the gap of the policy parameters afterwards (reductions may run in
another order, so equal to rounding, not bit for bit).

    python benchmarks/scale_out.py [--batch 32] [--repeats 3] [--quick] [--out results/benchmarks]
                                                                  -> scale_out.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import machine, median_seconds, write_report  # noqa: E402


def worker(batch: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    import lqgx
    from ilqr_cartpole import make_system, perturbed_x0s
    from lqgx.distributed import batch_mesh

    system = make_system(jnp.float64)
    x0s = perturbed_x0s(system, batch)
    mesh = batch_mesh()

    def solve(mesh):
        # jitted as a whole, as a user repeating the call would
        @jax.jit
        def run(x0s):
            return lqgx.solve_batch(lqgx.ilqg, system, x0s, iterations=300, mesh=mesh)
        return lambda: jax.block_until_ready(run(x0s))

    plain, plain_times = median_seconds(solve(None), repeats)
    sharded, sharded_times = median_seconds(solve(mesh), repeats)
    # XLA's CPU kernels round differently for different batch sizes, and this swing-up's
    # iterations amplify that; a shard's solves equal the unsharded vmap over a batch of the
    # shard's size, which is the like-for-like reference.
    shard = -(-batch // len(jax.devices()))
    local = jax.jit(jax.vmap(lambda x0: lqgx.ilqg(system.replace(x0=x0), iterations=300)))
    per_shard = [local(x0s[start:start + shard]) for start in range(0, batch, shard)]
    per_shard = jax.tree.map(lambda *parts: jnp.concatenate(parts), *per_shard)

    def max_difference(a, b):
        return max(float(jnp.nanmax(jnp.abs(x - y)))
                   for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
                   if jnp.issubdtype(x.dtype, jnp.floating))

    return {"devices": len(jax.devices()), "batch": batch, "unsharded": plain_times,
            "sharded": sharded_times,
            "speedup": plain_times["solve_s"] / sharded_times["solve_s"],
            "max_abs_difference_vs_per_shard_vmap": max_difference(per_shard, sharded),
            "max_abs_difference_vs_whole_batch_vmap": max_difference(plain, sharded),
            "cost_max_abs_difference_vs_whole_batch_vmap": float(
                jnp.max(jnp.abs(plain.cost - sharded.cost))),
            "converged": int(np.sum(np.asarray(sharded.converged))),
            "iterations_max": int(np.max(np.asarray(sharded.iterations))),
            "iterations_max_unsharded": int(np.max(np.asarray(plain.iterations)))}


def ddpl_worker(env_name: str, iterations: int, repeats: int) -> dict:
    """DDPL epochs (``train_iterations``, jitted) with the environments split over the devices
    (``shard_environments``) against the same epochs unsplit: wall time and parameter gap."""
    import jax
    import numpy as np

    import lqgx.ddpl.envs
    from lqgx.ddpl.algorithm import init_state, shard_environments, train_iterations
    from lqgx.ddpl.train import make_config
    from lqgx.distributed import batch_mesh

    mesh = batch_mesh()
    config = make_config(env_name, preset="cpu")
    env = lqgx.ddpl.envs.make(env_name)
    state = init_state(config, env, jax.random.PRNGKey(0))
    run = jax.jit(lambda s: train_iterations(config, env, s, iterations))
    plain, plain_times = median_seconds(lambda: jax.block_until_ready(run(state)), repeats)
    split = shard_environments(state, mesh)
    sharded, sharded_times = median_seconds(lambda: jax.block_until_ready(run(split)), repeats)
    gaps = [float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / (np.max(np.abs(a)) + 1e-30))
            for a, b in zip(jax.tree.leaves(plain[0].policy_params),
                            jax.tree.leaves(sharded[0].policy_params))]
    steps = iterations * config.steps_per_iteration
    return {"devices": len(jax.devices()), "env": env_name, "num_envs": config.num_envs,
            "epochs": iterations, "unsharded": plain_times, "sharded": sharded_times,
            "env_steps_per_s_sharded": steps / sharded_times["solve_s"],
            "env_steps_per_s_unsharded": steps / plain_times["solve_s"],
            "policy_params_max_rel_gap": max(gaps),
            "env_obs_devices": len(sharded[0].obs.sharding.device_set)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--devices", default="1,2,4")
    parser.add_argument("--quick", action="store_true", help="batch 8, 1 repeat, 1 and 2 devices")
    parser.add_argument("--ddpl-env", default="mpe-simple-reference",
                        help="DDPL environment for the sharded-rollout rows ('' to skip)")
    parser.add_argument("--ddpl-epochs", type=int, default=20)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.repeats, args.devices, args.ddpl_epochs = 8, 1, "1,2", 2
    if args.batch < 1 or args.repeats < 1:
        parser.error("--batch and --repeats must be at least 1")
    if args.worker == "ilqg":
        print(json.dumps(worker(args.batch, args.repeats)))
        return
    if args.worker == "ddpl":
        print(json.dumps(ddpl_worker(args.ddpl_env, args.ddpl_epochs, args.repeats)))
        return

    def run_worker(kind: str, count: int) -> dict:
        env = dict(os.environ)
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "")
                            + f" --xla_force_host_platform_device_count={count}").strip()
        done = subprocess.run([sys.executable, __file__, "--worker", kind, "--batch",
                               str(args.batch), "--repeats", str(args.repeats), "--ddpl-env",
                               args.ddpl_env, "--ddpl-epochs", str(args.ddpl_epochs)],
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"the {count}-device {kind} run failed:\n{done.stderr[-3000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        return row

    counts = [int(c) for c in args.devices.split(",")]
    report = {"problem": "ilqr_cartpole.py cart-pole, iLQG 300 iterations, float64; DDPL "
                         f"{args.ddpl_env or '(skipped)'} CPU preset, {args.ddpl_epochs} epochs",
              "machine": machine(),
              "ilqg": [], "ddpl": []}
    for count in counts:
        print(f"{count} device(s): iLQG on {args.batch} cart-poles ...", flush=True)
        report["ilqg"].append(run_worker("ilqg", count))
    for count in counts if args.ddpl_env else []:
        print(f"{count} device(s): DDPL epochs on {args.ddpl_env} ...", flush=True)
        report["ddpl"].append(run_worker("ddpl", count))
    write_report(args.out, "scale_out", report)


if __name__ == "__main__":
    main()
