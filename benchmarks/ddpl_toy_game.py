"""DDPL vs DDPL-Gaussian (Algorithm 2) on the §3 n = 2 toy game (Fig. 2 / Fig. 4 analogue).

Same preset ("cpu": 20 000 env steps, 2×64 nets, γ = 0.1, η = 1) for both policy classes and
several seeds; the evaluation is the exact expected return J (success events integrated out).

    .venv/bin/python benchmarks/ddpl_toy_game.py [--seeds 0,1,2] [--steps 20000]
Writes results/ddpl/toy_game.json and results/ddpl/toy-game-2-<policy>-s<seed>/.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from lqgx.ddpl.train import train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--policies", default="diffusion,gaussian")
    ap.add_argument("--out", default="results/ddpl")
    args = ap.parse_args()
    path = Path(args.out) / "toy_game.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    for pol in args.policies.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            r = train("toy-game-2", pol, steps=args.steps, seed=seed,
                      out=Path(args.out) / f"toy-game-2-{pol}-s{seed}", progress=False)
            res[f"{pol}/s{seed}"] = {"env_steps": r["env_steps"], "eval_return": r["eval_return"],
                                     "final": r["eval_return"][-1], "best": max(r["eval_return"]),
                                     "env_steps_per_s": r["env_steps_per_s"]}
            print(pol, seed, "final J", round(r["eval_return"][-1], 3), "best", round(max(r["eval_return"]), 3),
                  "curve", np.round(r["eval_return"], 2).tolist(), flush=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
