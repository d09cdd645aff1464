"""Linearization timings per MJX system: autodiff (``vmap(jacfwd)`` through MJX) vs MuJoCo FD.

For each system: a ``T``-step trajectory (default 100) and a ``B x T`` batch (default 64 x 100)
of random in-bounds actions from perturbed initial states. Reported per system (seconds):

* ``autodiff_compile_s`` / ``autodiff_batch_compile_s``: ``jit`` lowering + XLA compilation,
* ``autodiff_s`` / ``autodiff_batch_s``: median wall time of the compiled call,
* ``fd_s`` / ``fd_batch_s``: ``mujoco.mjd_transitionFD`` (centered, Richardson, C model; the
  batch loops over trajectories on one thread),
* ``max_abs_diff``: max |A_autodiff - A_fd| and |B_autodiff - B_fd| on the single trajectory.

Usage::

    python benchmarks/linearization.py [--systems pendulum,ant] [--horizon 100] [--batch 64]
        [--repeats 3] [--out results/benchmarks/linearization.json]

On a 2-core CPU the contact systems' autodiff run can deadlock inside jaxlib's batched LAPACK
kernels (both intra-op pool threads block in ``ParallelBatchMap`` waiting for sub-tasks queued on
the same, fully blocked pool; seen with jaxlib 0.10.2 on the ant); pinning the process to one core
(``taskset -c 0 python benchmarks/linearization.py ...``) avoids it. ``cpus`` in the JSON is the
number of cores the process may run on.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import lqgx  # noqa: E402
from lqgx import systems  # noqa: E402


def _trajectories(system, horizon, batch, seed=0):
    rng = np.random.default_rng(seed)
    low, high = (np.asarray(b) for b in system.action_bounds)
    actions = rng.uniform(0.5 * low, 0.5 * high, size=(batch, horizon, system.action_dim))
    x0 = np.broadcast_to(np.asarray(system.x0), (batch, system.state_dim)).copy()
    nq = system.dynamics.nq
    free = 7 if system.dynamics.has_quaternions else 0
    x0[:, free:nq] += rng.normal(0.0, 0.1, size=(batch, nq - free))
    actions, x0 = jnp.asarray(actions), jnp.asarray(x0)
    states = jax.jit(jax.vmap(system.rollout))(actions, x0)
    return states, actions


def _timed(fn, *args, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_system(name, horizon, batch, repeats):
    system = systems.make(name, horizon=horizon)
    states, actions = _trajectories(system, horizon, batch)
    one = functools.partial(lqgx.linearize, system, method="autodiff")
    row = {"state_dim": system.state_dim, "action_dim": system.action_dim,
           "dt": system.dynamics.dt, "contact": name not in systems.CONTACT_FREE}

    start = time.perf_counter()
    single = jax.jit(one).lower(states[0], actions[0]).compile()
    row["autodiff_compile_s"] = time.perf_counter() - start
    row["autodiff_s"] = _timed(single, states[0], actions[0], repeats=repeats)

    start = time.perf_counter()
    batched = jax.jit(jax.vmap(one)).lower(states, actions).compile()
    row["autodiff_batch_compile_s"] = time.perf_counter() - start
    row["autodiff_batch_s"] = _timed(batched, states, actions, repeats=repeats)

    fd = functools.partial(lqgx.linearize, system, method="fd")
    row["fd_s"] = _timed(fd, states[0], actions[0], repeats=repeats)
    start = time.perf_counter()
    for b in range(batch):
        fd(states[b], actions[b])
    row["fd_batch_s"] = time.perf_counter() - start

    ad, ref = single(states[0], actions[0]), fd(states[0], actions[0])
    row["max_abs_diff_A"] = float(jnp.max(jnp.abs(ad.A - ref.A)))
    row["max_abs_diff_B"] = float(jnp.max(jnp.abs(ad.B - ref.B)))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(systems.names()))
    parser.add_argument("--horizon", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="results/benchmarks/linearization.json")
    args = parser.parse_args(argv)
    names = [n for n in args.systems.split(",") if n]
    for name in names:
        if name not in systems.names():
            raise SystemExit(f"unknown system {name!r}; available: {', '.join(systems.names())}")
    report = {"horizon": args.horizon, "batch": args.batch, "repeats": args.repeats,
              "device": str(jax.devices()[0]), "machine": platform.machine(),
              "jax": jax.__version__, "load_average_at_start": os.getloadavg()[0],
              "cpus": len(os.sched_getaffinity(0)), "systems": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        row = bench_system(name, args.horizon, args.batch, args.repeats)
        report["systems"][name] = row
        print(name, json.dumps({k: float(f"{v:.4g}") if isinstance(v, float) else v
                                for k, v in row.items()}), flush=True)
        out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
