"""Constraint satisfaction of one GPS / SAPS / ESAPS update on exact linear-Gaussian problems.

For several random problems (``tests/optimizers/lq_problems.random_problem``: T = 10, n = 3,
m = 2) and bounds, one update with each algorithm's default method; reported per algorithm, over
problems and time steps:

* ``max_rel_violation``: max_t (D_t - eps) / eps (<= 0: within the bound); D_t is E_mu KL(pi||q)
  for GPS and KL(mu pi || nu q) for SAPS/ESAPS, closed form;
* ``max_rel_gap_active``: max |D_t - eps| / eps over the steps whose multiplier is active
  (alpha_t > 1e-6): complementary slackness;
* ``max_mc_rel_error``: |Monte-Carlo estimate - closed form| / closed form of the summed bound
  (200k model rollouts, E[log pi - log q] resp. E[log mu pi - log nu q] with the state densities
  of the propagated Gaussians), and the MC standard error;
* ESAPS: ``min_entropy_slack`` = min_t (H_t + delta) (>= 0) and the entropy's Monte-Carlo check.

    python benchmarks/thesis_constraints.py [--problems 4] [--out results/benchmarks/constraints.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import multivariate_normal as mvn

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from lqgx.lq import propagate  # noqa: E402
from lqgx.optimizers.esaps import esaps_update  # noqa: E402
from lqgx.optimizers.gps import gps_update  # noqa: E402
from lqgx.optimizers.saps import saps_update  # noqa: E402
from tests.optimizers.lq_problems import log_policy, random_problem, simulate  # noqa: E402

SAMPLES = 200_000


def _log_state(traj, t, x):
    return mvn.logpdf(x, traj.mean[t], traj.cov[t])


def monte_carlo(problem, res, state_action: bool, key):
    """Per-sample sums over t >= 0 of log pi - log q (+ log mu - log nu for t >= 1), and -log pi."""
    xs, us = simulate(problem, res.policy, key, SAMPLES)
    T = us.shape[1]
    prior_states = propagate(problem.dynamics, problem.prior, problem.x0_mean, problem.x0_cov)
    new_states = res.trajectory
    div = jnp.zeros(SAMPLES)
    neg_log_pi = jnp.zeros(SAMPLES)
    for t in range(T):
        lp = log_policy(res.policy, t, xs[:, t], us[:, t])
        div = div + lp - log_policy(problem.prior, t, xs[:, t], us[:, t])
        neg_log_pi = neg_log_pi - lp
        if state_action and t >= 1:
            div = div + _log_state(new_states, t, xs[:, t]) - _log_state(prior_states, t, xs[:, t])
    return div, neg_log_pi


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("--out", default="results/benchmarks/constraints.json")
    args = ap.parse_args()
    updates = {
        "gps": (jax.jit(lambda pb, e: gps_update(pb, e)), False),
        "saps": (jax.jit(lambda pb, e: saps_update(pb, e)), True),
        "esaps": (jax.jit(lambda pb, e, d: esaps_update(pb, e, d)), True),
    }
    rows = {}
    for name, (update, state_action) in updates.items():
        viol, gap, mc_err, mc_se, ent_slack, ent_err, active = [], [], [], [], [], [], 0
        for seed in range(args.problems):
            problem = random_problem(T=10, n=3, m=2, seed=seed)
            for eps in (0.05, 0.5):
                # ESAPS: q's entropy is log(2 pi e) = 2.84 nats; demand 3.0 so the floor binds
                delta = -3.0
                res = update(problem, eps, delta) if name == "esaps" else update(problem, eps)
                D = np.asarray(res.kl_state_action if state_action else res.kl)
                on = np.asarray(res.alpha) > 1e-6
                active += int(on.sum())
                viol.append(float(np.max((D - eps) / eps)))
                gap.append(float(np.max(np.abs(D[on] - eps) / eps)) if on.any() else 0.0)
                div, neg_log_pi = monte_carlo(problem, res, state_action,
                                              jax.random.PRNGKey(seed))
                total = float(D.sum())
                mc_err.append(abs(float(div.mean()) - total) / total)
                mc_se.append(float(div.std()) / np.sqrt(SAMPLES) / total)
                if name == "esaps":
                    H = np.asarray(res.entropy)
                    ent_slack.append(float(np.min(H + delta)))
                    ent_err.append(abs(float(neg_log_pi.mean()) - float(H.sum())) / float(H.sum()))
        rows[name] = {"cases": len(viol), "active_steps": active,
                      "max_rel_violation": max(viol), "max_rel_gap_active": max(gap),
                      "max_mc_rel_error": max(mc_err), "mc_rel_standard_error": max(mc_se)}
        if name == "esaps":
            rows[name].update(min_entropy_slack=min(ent_slack),
                              max_entropy_mc_rel_error=max(ent_err))
        print(name, rows[name], flush=True)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"samples": SAMPLES, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
