"""Shared driver of the thesis chapter-6 reproductions (GPS vs SAPS vs ESAPS, Fig. 6.1-6.4).

For every algorithm and every hyperparameter setting of its sweep, ``trials`` independent runs are
batched with ``jax.vmap`` over PRNG keys in one call; the setting with the lowest final mean cost
is kept (thesis: "hyperparameters of each learner were optimized separately"). Costs are minimized
(the thesis plots reward = -cost). Writes ``<out>/<name>-<linearization>.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import lqgx  # noqa: E402
from lqgx.optimizers.policy_search import accepted_rises, default_policy  # noqa: E402


def parse(defaults: dict):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=defaults["trials"])
    p.add_argument("--iterations", type=int, default=defaults["iterations"])
    p.add_argument("--samples", type=int, default=defaults["samples"])
    p.add_argument("--horizon", type=int, default=None)
    p.add_argument("--algos", default=defaults["algos"])
    p.add_argument("--gps-eps", default=defaults["gps_eps"])
    p.add_argument("--saps-eps", default=defaults["saps_eps"])
    p.add_argument("--esaps-eps", default=defaults["esaps_eps"])
    p.add_argument("--esaps-entropy-drop", default=defaults["esaps_drop"],
                   help="with --esaps-floor initial: delta = -(H(q_0) - drop) per step, entropy "
                        "kept within drop nats of the initial policy's; with relative: each "
                        "update may lower the entropy by drop nats (lqgx.esaps entropy_drop)")
    p.add_argument("--esaps-floor", choices=["initial", "relative"],
                   default=defaults.get("esaps_floor", "initial"),
                   help="ESAPS entropy floor: fixed below the initial policy's entropy (eq. "
                        "5.1d with a constant delta) or relative to the current policy's (§5.1)")
    p.add_argument("--initial-std", type=float, default=defaults.get("initial_std"),
                   help="std of the initial zero-mean policy (default: lqgx's, 1/4 of the "
                        "action range)")
    p.add_argument("--max-outer", type=int, default=10)
    p.add_argument("--linearization", choices=["autodiff", "samples"], default="samples",
                   help="local model: fitted to the iteration's samples (the thesis's setting, "
                        "§3.4; trials then differ) or autodiff about the mean rollout (nearly "
                        "deterministic: trials differ only in their cost estimates)")
    p.add_argument("--dynamics-prior", choices=["gaussian", "gmm"], default="gaussian",
                   help="with --linearization samples: the fit's prior, the single Gaussian of "
                        "the iteration's samples or a Gaussian mixture over the last rollouts "
                        "(lqgx dynamics_prior); gmm outputs get the suffix -gmm")
    p.add_argument("--prior-strength", type=float, default=None,
                   help="with --linearization samples: the prior's pseudo-count per step "
                        "(default lqgx's: 1 for gaussian, 10 for gmm)")
    p.add_argument("--step-adaptation", action="store_true",
                   help="adapt eps to predicted vs actual improvement and reject sampled-cost "
                        "rises above 2x the best so far (lqgx step_adaptation=True; default: "
                        "the thesis's fixed bounds); outputs get the suffix -adaptive")
    p.add_argument("--step-bounds", default="0.01,1",
                   help="with --step-adaptation: low,high bounds on eps's trust factor")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--merge", action="store_true",
                   help="keep the other algorithms' results of an existing JSON with the same "
                        "system, horizon, iterations, samples, linearization and initial std "
                        "(e.g. GPS at 10 trials, then ESAPS in a second run)")
    p.add_argument("--out", default="results/benchmarks")
    return p.parse_args()


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def run_algo(system, algo, hyper, args):
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.trials)
    common = dict(iterations=args.iterations, samples=args.samples, max_outer=args.max_outer,
                  linearization=args.linearization, initial_std=args.initial_std,
                  step_adaptation=args.step_adaptation,
                  step_bounds=tuple(_floats(args.step_bounds)))
    if args.linearization == "samples":
        common.update(dynamics_prior=args.dynamics_prior, prior_strength=args.prior_strength)
    if algo == "gps":
        solve = lambda k: lqgx.gps(system, hyper["eps"], key=k, **common)  # noqa: E731
    elif algo == "saps":
        solve = lambda k: lqgx.saps(system, hyper["eps"], key=k, **common)  # noqa: E731
    else:
        solve = lambda k: lqgx.esaps(system, hyper["eps"], hyper.get("delta"),  # noqa: E731
                                     entropy_drop=hyper.get("entropy_drop"), key=k, **common)
    t0 = time.time()
    res = jax.vmap(solve)(keys)
    jax.block_until_ready(res.cost)
    wall = time.time() - t0
    cost = np.asarray(res.history["cost"])          # [trials, iterations]
    initial = np.asarray(res.history["cost_sampled"][:, 0])
    curve = np.concatenate([initial[:, None], cost], axis=1)   # iteration 0 = initial policy
    extra = {}
    if "entropy" in res.history:   # ESAPS: min_t policy entropy after each update
        extra["entropy_min_mean"] = np.asarray(res.history["entropy"]).mean(0).tolist()
    return {
        "hyper": hyper,
        "cost_mean": curve.mean(0).tolist(),
        "cost_std": curve.std(0).tolist(),
        # the local model's prediction of each update's expected cost: where it falls far below
        # the sampled cost, the model about the mean rollout no longer describes the samples
        "cost_model_mean": np.asarray(res.history["cost_model"]).mean(0).tolist(),
        **extra,
        "kl_max": np.asarray(res.history["kl"]).max(0).tolist(),
        "kl_mean": np.asarray(res.history["kl"]).mean(0).tolist(),
        "dual_converged_fraction": float(np.mean(np.asarray(res.history["dual_converged"]))),
        "accepted_fraction": float(np.mean(np.asarray(res.history["accepted"]))),
        "max_accepted_rise": max_accepted_rise(initial, cost,
                                               np.asarray(res.history["accepted"])),
        "eps_scale_mean": np.asarray(res.history["eps_scale"]).mean(0).tolist(),
        "final_cost_mean": float(curve[:, -1].mean()),
        "final_cost_std": float(curve[:, -1].std()),
        "wall_s": wall,
    }


def max_accepted_rise(initial, cost, accepted) -> float:
    """Largest ``accepted_rises`` ratio over trials (0 if no update was accepted): the blow-up
    measure of the outer loop (step adaptation rejects ratios above its max_cost_rise)."""
    rises = [accepted_rises(i, c, a) for i, c, a in zip(initial, cost, accepted)]
    return max((float(r.max()) for r in rises if r.size), default=0.0)


def iterations_to_reach(curve, level):
    hits = [i for i, c in enumerate(curve) if c <= level]
    return hits[0] if hits else None


def main(name: str, defaults: dict):
    args = parse(defaults)
    options = {} if args.horizon is None else {"horizon": args.horizon}
    system = lqgx.systems.make(name, **options)
    q0 = default_policy(system, args.initial_std)
    h0 = float(lqgx.lq.policy_entropy(q0)[0])
    sweeps = {
        "gps": [{"eps": e} for e in _floats(args.gps_eps)],
        "saps": [{"eps": e} for e in _floats(args.saps_eps)],
        "esaps": [{"eps": e, "delta": -(h0 - d)} if args.esaps_floor == "initial"
                  else {"eps": e, "entropy_drop": d}
                  for e in _floats(args.esaps_eps) for d in _floats(args.esaps_entropy_drop)],
    }
    algos = args.algos.split(",")
    results = {}
    for algo in algos:
        runs = []
        for hyper in sweeps[algo]:
            r = run_algo(system, algo, hyper, args)
            print(f"{name} {algo} {hyper}: final {r['final_cost_mean']:.4g} ± "
                  f"{r['final_cost_std']:.3g}, max KL {max(r['kl_max']):.3g}, "
                  f"dual conv {r['dual_converged_fraction']:.2f}, {r['wall_s']:.0f} s", flush=True)
            runs.append(r)
        best = min(runs, key=lambda r: r["final_cost_mean"])
        results[algo] = {**best, "trials": args.trials, "sweep": [{"hyper": r["hyper"],
                                            "final_cost_mean": r["final_cost_mean"],
                                            "final_cost_std": r["final_cost_std"],
                                            "wall_s": r["wall_s"]} for r in runs]}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"system": name, "horizon": system.horizon,
            "iterations": args.iterations, "samples": args.samples,
            "initial_entropy_per_step": h0, "initial_std": args.initial_std,
            "max_outer": args.max_outer,
            "linearization": args.linearization, "step_adaptation": args.step_adaptation,
            "dynamics_prior": args.dynamics_prior if args.linearization == "samples" else None,
            "prior_strength": args.prior_strength if args.linearization == "samples" else None,
            "step_bounds": _floats(args.step_bounds) if args.step_adaptation else None,
            "note": "costs (minimized); iteration 0 is the initial policy; trials per algorithm "
                    "in results[algo]['trials']"}
    stem = f"{name}-{args.linearization}"
    if args.linearization == "samples" and args.dynamics_prior == "gmm":
        stem += "-gmm"
    if args.linearization == "samples" and args.prior_strength is not None:
        stem += f"-strength{args.prior_strength:g}"
    if args.step_adaptation:
        stem += "-adaptive" + ("" if args.step_bounds == "0.01,1" else f"-{args.step_bounds}")
    if args.merge:
        results = {**_mergeable(out / f"{stem}.json", meta), **results}
    if "gps" in results:
        level = results["gps"]["cost_mean"][-1]
        for algo in results:
            results[algo]["iterations_to_gps_final"] = iterations_to_reach(
                results[algo]["cost_mean"], level)
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    plot(name, results, out / f"{stem}.png")
    for algo, r in results.items():
        print(f"{algo}: final {r['final_cost_mean']:.4g} ± {r['final_cost_std']:.3g}; "
              f"iterations to GPS final: {r.get('iterations_to_gps_final')}; "
              f"max KL step {max(r['kl_max']):.3g}; largest accepted rise over the best so "
              f"far {r['max_accepted_rise']:.3g}x; hyper {r['hyper']}")


def _mergeable(path: pathlib.Path, meta: dict) -> dict:
    """The results stored at ``path`` if its setup matches ``meta`` (else an error)."""
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    keys = ("system", "horizon", "iterations", "samples", "linearization", "initial_std",
            "step_adaptation", "step_bounds", "dynamics_prior", "prior_strength")
    differ = {k: (old["meta"].get(k), meta[k]) for k in keys if old["meta"].get(k) != meta[k]}
    if differ:
        raise SystemExit(f"--merge: {path} has a different setup (old, new): {differ}")
    return old["results"]


def plot(name, results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for algo, r in results.items():
        m, s = np.asarray(r["cost_mean"]), np.asarray(r["cost_std"])
        it = np.arange(len(m))
        a.plot(it, m, label=f"{algo.upper()} {r['hyper']}")
        a.fill_between(it, m - s, m + s, alpha=0.2)
        b.plot(np.arange(1, len(r["kl_max"]) + 1), r["kl_max"], marker="o", ms=3,
               label=algo.upper())
    a.set_xlabel("iteration")
    a.set_ylabel("expected cost (mean ± std over trials)")
    a.set_yscale("log")
    a.set_title(f"{name}: expected cost (thesis Fig. 6.1/6.3 plot reward = -cost)")
    a.legend(fontsize=7)
    b.set_xlabel("iteration")
    b.set_ylabel("max_t policy KL step (max over trials)")
    b.set_yscale("log")
    b.set_title("largest policy step (Fig. 6.2/6.4)")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
