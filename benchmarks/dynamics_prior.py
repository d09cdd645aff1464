"""Held-out likelihood of sample-fitted dynamics: Gaussian-mixture vs single-Gaussian prior.

The GPS setting of the prior on the quad pendulum (``tests/test_fit.quad_prior_data``): past
rollouts of five open-loop swings of growing amplitude (8 each, 6000 transitions), ``N`` rollouts of
a sixth swing in between, and 100 held-out rollouts of it. Per step, ``lqgx.fit_dynamics`` fits
the ``N`` current rollouts with a prior over the past and current transitions: the single Gaussian
(``DynamicsPrior.fit``) or the per-step mixture moment match (``DynamicsPrior.from_mixture`` of a
``GaussianMixture.fit`` with cbfinn's cluster count, 20 here), both worth ``strength`` samples.
Reported: the mean held-out log-likelihood of x_{t+1} (nats per transition, 8-D) for each prior,
N and strength over seeds, the difference mixture - single, and the EM fit's time (median over
repeats after warm-up, compile apart).

    python benchmarks/dynamics_prior.py [--seeds 4] [--samples 5,10,20] [--strengths 1,3,10,30]
        [--out results/benchmarks/dynamics_prior.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from lqgx.fit import DynamicsPrior, GaussianMixture, fit_dynamics, transitions  # noqa: E402
from tests.test_fit import held_out_log_likelihood, quad_prior_data  # noqa: E402


def _ints(text):
    return [int(v) for v in text.split(",") if v]


def _floats(text):
    return [float(v) for v in text.split(",") if v]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--samples", default="5,10,20", help="current rollouts N per fit")
    p.add_argument("--strengths", default="1,3,10,30", help="prior pseudo-counts per step")
    p.add_argument("--em-iterations", type=int, default=50)
    p.add_argument("--out", default="results/benchmarks/dynamics_prior.json")
    args = p.parse_args()
    samples, strengths = _ints(args.samples), _floats(args.strengths)
    rows = {(n, s): {"single": [], "gmm": []} for n in samples for s in strengths}
    fit = jax.jit(lambda z, key: GaussianMixture.fit(z, key=key, iterations=args.em_iterations))
    em_times, compile_s = [], None
    for seed in range(args.seeds):
        started = time.perf_counter()
        data = quad_prior_data(seed, current=max(samples))
        past_x, past_u, now_x, now_u, held_x, held_u = jax.block_until_ready(data)
        for n in samples:
            x, u = now_x[:n], now_u[:n]
            all_x, all_u = jnp.concatenate([past_x, x]), jnp.concatenate([past_u, u])
            z = transitions(all_x, all_u)
            tick = time.perf_counter()
            mixture = jax.block_until_ready(fit(z, jax.random.PRNGKey(seed)))
            if compile_s is None:
                compile_s = time.perf_counter() - tick
                tick = time.perf_counter()
                mixture = jax.block_until_ready(fit(z, jax.random.PRNGKey(seed)))
            em_times.append(time.perf_counter() - tick)
            for s in strengths:
                single = DynamicsPrior.fit(all_x, all_u, s)
                gmm = DynamicsPrior.from_mixture(mixture, x, u, s)
                for name, prior in (("single", single), ("gmm", gmm)):
                    rows[n, s][name].append(held_out_log_likelihood(
                        fit_dynamics(x, u, prior=prior), held_x, held_u))
        print(f"seed {seed + 1}/{args.seeds} done in {time.perf_counter() - started:.0f} s",
              flush=True)
    table = []
    for (n, s), r in rows.items():
        single, gmm = np.array(r["single"]), np.array(r["gmm"])
        diff = gmm - single
        table.append({"samples": n, "strength": s, "single_mean": single.mean(),
                      "single_std": single.std(), "gmm_mean": gmm.mean(), "gmm_std": gmm.std(),
                      "diff_mean": diff.mean(), "diff_min": diff.min(), "diff_max": diff.max(),
                      "gmm_better_fraction": float(np.mean(diff > 0)),
                      "single": single.tolist(), "gmm": gmm.tolist()})
        print(f"N {n:3d} strength {s:5g}: single {single.mean():6.2f} ± {single.std():.2f}  "
              f"gmm {gmm.mean():6.2f} ± {gmm.std():.2f}  gmm - single {diff.mean():+.2f} "
              f"[{diff.min():+.2f}, {diff.max():+.2f}]")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "meta": {"system": "quad_pendulum", "seeds": args.seeds, "past_rollouts": 40,
                 "held_out_rollouts": 100, "clusters": 20, "em_iterations": args.em_iterations,
                 "em_fit_median_s": float(np.median(em_times)), "em_fit_compile_s": compile_s,
                 "machine": platform.machine(), "jax": jax.__version__,
                 "devices": [str(d) for d in jax.devices()]},
        "rows": table}, indent=1))
    print(f"EM fit (6000+ points, 20 clusters, {args.em_iterations} iterations): median "
          f"{np.median(em_times) * 1e3:.0f} ms after a {compile_s:.1f} s compile; wrote {out}")


if __name__ == "__main__":
    main()
