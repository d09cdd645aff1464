"""DDPL vs DDPL-Gaussian (Algorithm 2) on the §3 n = 2 toy game (the Fig. 2 right claim, learned).

Same preset for both policy classes ("cpu": 20 000 env steps, 2×64 nets, γ = 0.1, η = 1, N = 4;
diffusion: VP schedule, H = 20, σ² = β/α — see ``lqgx.ddpl.train``) and several seeds; the
evaluation is the exact expected return J (success events integrated out, 2000 action samples).

A seed "reaches the high-reward equilibrium" when its final J ≥ 10, half of the optimum
J* ≈ 20.4 (both agents at a = −β: 2·0.2 + γ·E[V] with E[V] ≈ 200); without successes J ≤ 0.4.

    .venv/bin/python benchmarks/ddpl_toy_game.py [--seeds 0,1,2] [--steps 20000]
Writes results/benchmarks/ddpl_toy_game.json (per-seed curves and a per-policy summary) and the
run directories results/ddpl/toy-game-2-<policy>-s<seed>/.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from lqgx.ddpl.train import train

EQUILIBRIUM_J = 10.0


def summarize(runs: dict, policy: str) -> dict:
    """Final-J mean ± std over seeds and the fraction of seeds with final J ≥ ``EQUILIBRIUM_J``."""
    finals = np.array([r["final"] for k, r in runs.items() if k.startswith(policy + "/")])
    return {"seeds": int(finals.size), "final_mean": float(finals.mean()), "final_std": float(finals.std()),
            "frac_high_equilibrium": float(np.mean(finals >= EQUILIBRIUM_J))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--policies", default="diffusion,gaussian")
    ap.add_argument("--out", default="results/ddpl")
    ap.add_argument("--json", default="results/benchmarks/ddpl_toy_game.json")
    args = ap.parse_args()
    path = Path(args.json)
    res = {"runs": {}, "summary": {}, "equilibrium_threshold_J": EQUILIBRIUM_J}
    policies = args.policies.split(",")
    for pol in policies:
        for seed in (int(s) for s in args.seeds.split(",")):
            r = train("toy-game-2", pol, steps=args.steps, seed=seed,
                      out=Path(args.out) / f"toy-game-2-{pol}-s{seed}", progress=False)
            res["config_" + pol] = r["config"]
            res["runs"][f"{pol}/s{seed}"] = {"env_steps": r["env_steps"], "eval_return": r["eval_return"],
                                             "final": r["eval_return"][-1], "best": max(r["eval_return"]),
                                             "env_steps_per_s": r["env_steps_per_s"]}
            res["summary"][pol] = summarize(res["runs"], pol)
            print(pol, seed, "final J", round(r["eval_return"][-1], 3), "best", round(max(r["eval_return"]), 3),
                  "curve", np.round(r["eval_return"], 2).tolist(), flush=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(res, indent=1))
    for pol in policies:
        s = res["summary"][pol]
        print(f"{pol}: final J {s['final_mean']:.2f} ± {s['final_std']:.2f} over {s['seeds']} seeds, "
              f"high-equilibrium fraction {s['frac_high_equilibrium']:.2f}")


if __name__ == "__main__":
    main()
