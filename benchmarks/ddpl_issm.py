"""ISSM toy benchmark (DDPL eq. 2, Theorem 4.1): TV distance to a known bimodal target vs N.

Proposal p̃ = uniform on A = [−1, 1]^d; target π* = Gaussian mixture restricted to A (1-D: modes
±0.5, weights 0.3/0.7, std 0.2; 2-D: four modes (±0.5, ±0.5), weights 0.1/0.2/0.3/0.4, std 0.2).
For each N the score net (2×64, mish, H = 20, linear schedule) is fitted by ISSM on N proposal
samples with self-normalized weights; TV is measured on a grid of bins (20 in 1-D, 10×10 in 2-D)
from 20 000 samples. "floor" is the same sampler driven by the *exact* score of the target
mixture (no learning error): the discretization term of Theorem 4.1.

    .venv/bin/python benchmarks/ddpl_issm.py [--steps 1500]
Writes results/ddpl/issm.json.
"""

import argparse
import itertools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lqgx.ddpl.diffusion import DiffusionPolicy
from lqgx.ddpl.issm import fit_issm
from lqgx.ddpl.schedules import make_schedule

TARGETS = {
    1: (np.array([[-0.5], [0.5]]), np.array([0.3, 0.7]), 0.2, 20),
    2: (np.array(list(itertools.product([-0.5, 0.5], repeat=2))), np.array([0.1, 0.2, 0.3, 0.4]), 0.2, 10),
}


def log_target(a, d):
    mus, w, sd, _ = TARGETS[d]
    lp = jnp.log(w) - 0.5 * jnp.sum((a[..., None, :] - mus) ** 2, -1) / sd**2
    return jax.nn.logsumexp(lp, -1)


def tv(samples, d):
    mus, w, sd, bins = TARGETS[d]
    edges = np.linspace(-1, 1, bins + 1)
    h, _ = np.histogramdd(np.asarray(samples), bins=[edges] * d)
    h = h / h.sum()
    g1 = np.linspace(-1, 1, 401 if d == 2 else 20001)
    g = np.stack(np.meshgrid(*([g1] * d), indexing="ij"), -1).reshape(-1, d)
    p = np.exp(np.asarray(log_target(jnp.asarray(g), d)))
    t, _ = np.histogramdd(g, bins=[edges] * d, weights=p)
    return 0.5 * np.abs(h - t / t.sum()).sum()


def exact_score_samples(d, schedule, rv, key, m=20000, H=20):
    mus, w, sd, _ = TARGETS[d]
    s = make_schedule(schedule, H, reverse_variance=rv)

    def score(a, ab):
        var = ab * sd**2 + 1 - ab
        diff = a - jnp.sqrt(ab) * mus
        lp = jnp.log(w) - 0.5 * jnp.sum(diff**2, -1) / var
        return jnp.sum(jax.nn.softmax(lp)[:, None] * (-diff / var), 0)

    def samp(k):
        k0, k1 = jax.random.split(k)
        a = jax.random.normal(k0, (d,))
        for i, kk in zip(range(H - 1, -1, -1), jax.random.split(k1, H)):
            a = (a + s.betas[i] * score(a, s.alpha_bars[i])) / np.sqrt(s.alphas[i]) + s.sigmas[i] * jax.random.normal(kk, (d,))
        return jnp.clip(a, -1, 1)

    return jax.jit(jax.vmap(samp))(jax.random.split(key, m))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--ns", default="8,64,512,4096")
    ap.add_argument("--out", default="results/ddpl")
    args = ap.parse_args()
    ns = [int(x) for x in args.ns.split(",")]
    res = {"floor": {}, "learned": {}}
    for d in (1, 2):
        for rv in ("paper", "posterior"):
            f = tv(exact_score_samples(d, "linear", rv, jax.random.PRNGKey(9)), d)
            res["floor"][f"d{d}/{rv}"] = f
            print(f"d={d} {rv:9s} exact-score floor TV = {f:.3f}", flush=True)
    for d, rv in ((1, "posterior"), (2, "posterior"), (1, "paper")):
        pol = DiffusionPolicy(d, steps=20, hidden=(64, 64), tau_samples=None, reverse_variance=rv)
        for n in ns:
            t = time.time()
            a = jax.random.uniform(jax.random.PRNGKey(0), (n, d), minval=-1, maxval=1)
            p0 = pol.init(jax.random.PRNGKey(1), 1)
            params, _ = jax.jit(lambda p, k: fit_issm(pol, p, k, a, log_target(a, d), steps=args.steps, batch_size=64,
                                                      learning_rate=3e-3))(p0, jax.random.PRNGKey(2))
            smp = jax.jit(jax.vmap(lambda k: pol.sample(params, k, jnp.ones(1))))(jax.random.split(jax.random.PRNGKey(3), 20000))
            v = tv(smp, d)
            res["learned"][f"d{d}/{rv}/N{n}"] = v
            print(f"d={d} {rv:9s} N={n:5d} TV = {v:.3f} ({time.time() - t:.0f}s)", flush=True)
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "issm.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
