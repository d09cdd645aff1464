"""Checks behind the Ant warm start (docs/mamujoco.md, "Warm start on ant-2x4").

1. ``jacobians``: ``lqgx.systems.ant_v5``'s Jacobians (the pyramidal-cone twin's tangents,
   ``MjxDynamics(tangent_model=...)``) against central differences of the elliptic-cone step it
   simulates, float64, along ``--steps`` steps of a random-action fall from Gymnasium's pose:
   relative Frobenius errors of A and B per step.
2. ``teacher``: the return of a saved iLQG teacher (``--teacher``, a ``teacher.npz``) on
   ``ant-2x4`` from Gymnasium's reset distribution, noise-free, with its feedback gains scaled by
   0, 1/4, 1/2, 1 about its nominal replayed from the mean pose, next to zero actions.

    taskset -c 0 .venv/bin/python benchmarks/ant_teacher_check.py jacobians
    taskset -c 0 .venv/bin/python benchmarks/ant_teacher_check.py teacher \
        --teacher results/benchmarks/ddpl_warm_start_ant/teachers/ant-2x4-ilqg.npz --max-steps 40
    -> results/benchmarks/ant_teacher_check_{jacobians,teacher}.json
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def jacobians(args) -> dict:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    import lqgx.systems

    system = lqgx.systems.ant_v5(dtype=jnp.float64)
    n, m = system.state_dim, system.action_dim
    actions = 0.5 * jax.random.uniform(jax.random.PRNGKey(args.seed), (args.steps, m), jnp.float64, -1, 1)

    def rollout(x0, us):
        return jax.lax.scan(lambda x, u: (system.dynamics(x, u), x), x0, us)[1]

    states = jax.jit(rollout)(system.x0, actions)
    A, B = jax.jit(jax.vmap(jax.jacfwd(system.dynamics, argnums=(0, 1))))(states, actions)
    simulate = system.dynamics._evaluate   # the elliptic plant, without the twin's tangents

    def central(x, u):
        z, eye = jnp.concatenate([x, u]), args.eps * jnp.eye(n + m)
        cols = jax.vmap(lambda e: (simulate((z + e)[:n], (z + e)[n:])
                                   - simulate((z - e)[:n], (z - e)[n:])) / (2 * args.eps))(eye)
        return cols.T[:, :n], cols.T[:, n:]

    A_fd, B_fd = jax.jit(jax.vmap(central))(states, actions)
    rel = lambda a, b: [float(jnp.linalg.norm(a[t] - b[t]) / jnp.linalg.norm(b[t]))  # noqa: E731
                        for t in range(args.steps)]
    out = {"eps": args.eps, "torso_z": [float(z) for z in states[:, 2]],
           "rel_error_A": rel(A, A_fd), "rel_error_B": rel(B, B_fd)}
    for t in range(args.steps):
        print(f"step {t:2d}  z {out['torso_z'][t]:.3f}  A {out['rel_error_A'][t]:.2g}  "
              f"B {out['rel_error_B'][t]:.2g}")
    return out


def teacher(args) -> dict:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", False)
    from lqgx.controllers.teacher import evaluate_teacher, load_teacher
    from lqgx.ddpl.envs import make
    from lqgx.lq.types import LinearGaussianPolicy

    env = make("ant-2x4", max_steps=args.max_steps)
    policy = load_teacher(args.teacher, env).policy
    system = env.system
    T = policy.horizon

    def replay(p):
        def step(x, t):
            u = system.clip_actions(p.mean(x, t))
            return system.dynamics(x, u), (x, u)
        return jax.lax.scan(step, system.x0, jnp.arange(T))[1]

    xs, us = jax.jit(replay)(policy)
    scales = (0.0, 0.25, 0.5, 1.0)
    candidates = [LinearGaussianPolicy(K=s * policy.K, k=us - jnp.einsum("tij,tj->ti", s * policy.K, xs),
                                       cov=policy.cov) for s in scales]
    candidates.append(LinearGaussianPolicy(K=0 * policy.K, k=0 * policy.k, cov=policy.cov))
    stack = jax.tree.map(lambda *leaves: jnp.stack(leaves), *candidates)
    means, _ = evaluate_teacher(env, stack, jax.random.PRNGKey(args.seed), args.episodes, noise=False)
    out = {"episodes": args.episodes, "max_steps": args.max_steps,
           "gain_scales": list(scales), "returns": [float(r) for r in means[:-1]],
           "zero_action_return": float(means[-1])}
    print(json.dumps(out))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check", choices=("jacobians", "teacher"))
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--eps", type=float, default=1e-6)
    parser.add_argument("--teacher", default="results/benchmarks/ddpl_warm_start_ant/teachers/ant-2x4-ilqg.npz")
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args(argv)
    out = (jacobians if args.check == "jacobians" else teacher)(args)
    path = Path(args.out) / f"ant_teacher_check_{args.check}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
