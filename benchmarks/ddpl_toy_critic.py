"""Can Algorithm 2's critic see the n = 2 toy game's high-reward mode? (policy evaluation only)

In the §3 toy game the averaged critic of agent i at the start state is

    Q_i(−1, a) = r_start(a) + E[r_start(a_−i)] + γ [p_start(a) V_succ + (1 − p_start(a)) V_fail],

whose high-reward feature is a bump of height γ · c_p · c1 ≈ 10 and width ≈ 0.05 at a = −β, carried
by successes that occur with probability ≤ 0.005 per agent and step and are worth γ · c1 = 2000 each.
Algorithm 1 (``lqgx.ddpl.toy``, Fig. 2) gets V_succ exactly and p_start from binned counts; Algorithm
2 must learn it with an MLP critic by TD. This script isolates that: a fixed behavior policy
N(μ, sd²) for both agents (default: the start-state policy the diffusion runs reach after ≈ 10k
steps, mean −0.1, std 0.26), a replay buffer of M transitions made with ``ToyGameEnv.step``, and
the critic update of Algorithm 2 line 5 exactly as in training (``critics.td_targets``,
``critic_loss``, Polyak ξ, Adam with the linear schedule, minibatch B, N next-action samples from
the behavior policy) for ``iters`` iterations. It prints the learned Q_i(−1, a) next to the true one
(closed form above) and the learned values of the success states (true: c1 = 20000).

    .venv/bin/python benchmarks/ddpl_toy_critic.py [--reward-scale 0.1] [--lr 1e-3,5e-4] [--iters 15000]
Writes results/benchmarks/ddpl_toy_critic.json.
"""

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lqgx.ddpl.critics import critic_apply, critic_init, critic_loss, polyak, td_targets
from lqgx.ddpl.envs import ToyGameEnv
from lqgx.ddpl.toy import PAPER, next_value_terms, p_start, r_start

GRID = (-0.7, -0.6, -0.55, -0.5, -0.45, -0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.3, 0.5)


def make_buffer(env, key, transitions, mu, sd):
    """``transitions`` (= 2 per episode) env transitions under the behavior policy N(mu, sd²)."""
    def episode(k):
        k1, k2, k3, k4, k5 = jax.random.split(k, 5)
        s0, es = env.reset(k1)
        a0 = mu + sd * jax.random.normal(k2, (env.num_agents, 1))
        s1, es, r0, d0 = env.step(k3, es, a0)
        a1 = mu + sd * jax.random.normal(k4, (env.num_agents, 1))
        s2, _, r1, d1 = env.step(k5, es, a1)
        return (jnp.stack([s0, s1]), jnp.stack([a0, a1]), jnp.stack([r0, r1]), jnp.stack([s1, s2]),
                jnp.stack([d0, d1]).astype(jnp.float32))

    out = jax.jit(jax.vmap(episode))(jax.random.split(key, transitions // 2))
    return [x.reshape((-1,) + x.shape[2:]) for x in out]


def true_start_q(grid, mu, sd, key, k=PAPER):
    """Exact averaged Q_i(−1, a) of the behavior policy (both agents alike), actions clipped to the box."""
    xs = jnp.clip(mu + sd * jax.random.normal(key, (400_000,)), -2.0, 2.0)
    q = jnp.full(2, jnp.mean(p_start(xs, k)))
    gain = jnp.full(2, jnp.mean(jnp.exp(-xs**2)))
    v_succ, v_fail, _ = next_value_terms(q, gain, 2, k)
    return r_start(grid, k) + jnp.mean(r_start(xs, k)) + k.gamma * (p_start(grid, k) * v_succ[0] + (1 - p_start(grid, k)) * v_fail[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reward-scale", type=float, default=0.1)
    ap.add_argument("--lr", default="1e-3,5e-4", help="linear schedule start,end (toy CPU preset)")
    ap.add_argument("--iters", type=int, default=15_000, help="critic steps (300k env steps / B_r = 20)")
    ap.add_argument("--transitions", type=int, default=100_000, help="buffer size of the toy CPU preset")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--num-action-samples", type=int, default=4)
    ap.add_argument("--hidden", default="64,64")
    ap.add_argument("--mu", type=float, default=-0.1)
    ap.add_argument("--sd", type=float, default=0.26)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="results/benchmarks/ddpl_toy_critic.json")
    args = ap.parse_args()
    hidden = tuple(int(h) for h in args.hidden.split(","))
    lr0, lr1 = (float(x) for x in args.lr.split(","))
    env = ToyGameEnv(2)
    key = jax.random.PRNGKey(args.seed)
    S, A, R, S2, D = make_buffer(env, jax.random.fold_in(key, 0), args.transitions, args.mu, args.sd)
    successes = int(jnp.sum((S[:, :1] == -1) & (S2 == 1)))
    opt = optax.adam(optax.linear_schedule(lr0, lr1, args.iters))

    def step(carry, k, i):
        p, t, o = carry
        kb, kn = jax.random.split(k)
        idx = jax.random.randint(kb, (args.batch,), 0, S.shape[0])
        na = args.mu + args.sd * jax.random.normal(kn, (args.batch, args.num_action_samples, 1))
        y = td_targets(hidden, t, args.reward_scale * R[idx], S2[idx], jnp.clip(na, -2.0, 2.0), D[idx], PAPER.gamma)
        g = jax.grad(lambda pp: critic_loss(hidden, pp, S[idx], A[idx, i], y))(p)
        u, o = opt.update(g, o, p)
        p = optax.apply_updates(p, u)
        return (p, polyak(t, p, 0.005), o), None

    @jax.jit
    def fit(k):
        params = []
        for i in range(env.num_agents):
            p = critic_init(jax.random.fold_in(k, i), hidden, env.state_dim, env.action_dim)
            (p, _, _), _ = jax.lax.scan(lambda c, kk: step(c, kk, i), (p, p, opt.init(p)),
                                        jax.random.split(jax.random.fold_in(k, 100 + i), args.iters))
            params.append(p)
        return params

    t0 = time.time()
    params = jax.block_until_ready(fit(jax.random.fold_in(key, 1)))
    wall = time.time() - t0
    grid = jnp.array(GRID)
    res = {"args": vars(args), "agent_successes_in_buffer": successes, "wall_s": wall, "a": list(GRID),
           "true_q_start": np.round(np.asarray(true_start_q(grid, args.mu, args.sd, jax.random.fold_in(key, 2))), 3).tolist(),
           "learned": []}
    for i, p in enumerate(params):
        f = lambda s, a: critic_apply(hidden, p, jnp.asarray(s, jnp.float32), jnp.array([a])) / args.reward_scale
        res["learned"].append({"q_start": np.round(np.asarray(jax.vmap(lambda a: f([-1.0, -1.0], a))(grid)), 3).tolist(),
                               "q_success_states": {str(s): round(float(f(s, 0.0)), 1) for s in ([1.0, 0.0], [0.0, 1.0])}})
    print(f"{successes} agent-successes in {S.shape[0]} transitions; {args.iters} critic steps in {wall:.0f}s")
    print("a       ", list(GRID))
    print("true Q  ", res["true_q_start"])
    for i, l in enumerate(res["learned"]):
        print(f"Q_{i}(-1) ", l["q_start"], "success states", l["q_success_states"], "(true 20000)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
