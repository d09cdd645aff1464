"""DSO estimator accuracy on the closed-form linear-Gaussian oracle (``lqgx.dso.oracle``).

    .venv/bin/python benchmarks/dso_estimators.py [--seeds 20] [--rollouts 2000]

For each θ in ``DEFAULT_THETAS`` and each seed: Algorithm-1 gradient with and without the fitted
baseline (z-scores against ``jax.grad`` of the closed form, variance ratio on the same samples),
the eq.-67 identity ``∇_α S̃|_0 = Algorithm 1`` (max abs difference), the Lemma-3 Hessian (z-scores
against ``jax.hessian``), and the eq.-74 / eq.-72 Fisher metric (relative error against the exact
metric). Writes ``results/dso/estimators.{json,png}``.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import lqgx.dso as dso  # noqa: E402
from lqgx.dso.gradient import fit_value_on  # noqa: E402
from lqgx.dso.oracle import DEFAULT_THETAS, default_case  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[1] / "results" / "dso"


def flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


def run(seeds: int = 20, rollouts: int = 2000) -> dict:
    case = default_case()
    problem = case.problem()
    z_plain, z_base, ratios, identity, z_hess, fisher_err = [], [], [], [], [], []
    for i, theta in enumerate(DEFAULT_THETAS):
        true_g = flat(jax.grad(case.cost)(theta))
        f, unravel = ravel_pytree(theta)
        true_h = np.asarray(jax.hessian(lambda v: case.cost(unravel(v)))(f))
        true_f = np.asarray(case.fisher(theta))
        for s in range(seeds):
            key = jax.random.PRNGKey(1000 * i + s)
            k_fit, k_batch, k_hess = jax.random.split(key, 3)
            value = fit_value_on(problem, theta, k_fit, rollouts // 4)
            paths = dso.sample_paths(problem, theta, k_batch, rollouts)
            plain = dso.algorithm1(problem, theta, paths, None)
            based = dso.algorithm1(problem, theta, paths, value)
            z_plain.append((flat(plain.grad) - true_g) / flat(plain.stderr))
            z_base.append((flat(based.grad) - true_g) / flat(based.stderr))
            ratios.append((flat(plain.stderr) / flat(based.stderr)) ** 2)
            batch = dso.surrogate_batch(problem, theta, paths, value)
            identity.append(float(np.max(np.abs(
                flat(dso.surrogate_gradient(problem, theta, batch)) - flat(based.grad)))))
            fisher_err.append([
                np.linalg.norm(np.asarray(dso.fisher(problem, theta, paths, form=form)) - true_f)
                / np.linalg.norm(true_f) for form in ("bottleneck", "score")])
            if s < max(1, seeds // 4):
                h = dso.hessian(problem, theta, k_hess, rollouts, baseline_rollouts=rollouts // 4)
                z_hess.append(((np.asarray(h.hessian) - true_h) / np.asarray(h.stderr)).ravel())
        print(f"theta {i}: done")
    z_plain, z_base, z_hess = map(np.asarray, (z_plain, z_base, z_hess))
    ratios, fisher_err = np.asarray(ratios), np.asarray(fisher_err)
    result = {
        "rollouts": rollouts, "seeds": seeds, "thetas": len(DEFAULT_THETAS),
        "gradient_z_no_baseline": {"mean": z_plain.mean(), "std": z_plain.std(),
                                   "max_abs": np.abs(z_plain).max(),
                                   "frac_abs_gt_3": np.mean(np.abs(z_plain) > 3)},
        "gradient_z_baseline": {"mean": z_base.mean(), "std": z_base.std(),
                                "max_abs": np.abs(z_base).max(),
                                "frac_abs_gt_3": np.mean(np.abs(z_base) > 3)},
        "variance_reduction_factor": {"median": np.median(ratios), "min": ratios.min(),
                                      "max": ratios.max()},
        "surrogate_gradient_identity_max_abs_diff": max(identity),
        "hessian_z": {"mean": z_hess.mean(), "std": z_hess.std(), "max_abs": np.abs(z_hess).max(),
                      "n": int(z_hess.size)},
        "fisher_relative_error": {"eq74_bottleneck_mean": fisher_err[:, 0].mean(),
                                  "eq72_score_mean": fisher_err[:, 1].mean()},
    }
    result = json.loads(json.dumps(result, default=lambda v: np.asarray(v).tolist()))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "estimators.json").write_text(json.dumps(result, indent=2))
    _plot(z_plain, z_base, z_hess)
    print(json.dumps(result, indent=2))
    return result


def _plot(z_plain, z_base, z_hess):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(-5, 5, 41)
    ax.hist(z_plain.ravel(), bins, density=True, alpha=0.5, label="gradient, no baseline")
    ax.hist(z_base.ravel(), bins, density=True, alpha=0.5, label="gradient, fitted baseline")
    ax.hist(z_hess.ravel(), bins, density=True, histtype="step", lw=2, label="Hessian (Lemma 3)")
    grid = np.linspace(-5, 5, 200)
    ax.plot(grid, np.exp(-grid**2 / 2) / np.sqrt(2 * np.pi), "k--", label="N(0, 1)")
    ax.set_xlabel("z = (estimate - closed form) / stderr")
    ax.legend()
    ax.set_title("DSO estimators vs closed form (linear-Gaussian oracle)")
    fig.tight_layout()
    fig.savefig(OUT / "estimators.png", dpi=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--rollouts", type=int, default=2000)
    args = parser.parse_args()
    run(seeds=args.seeds, rollouts=args.rollouts)
