"""DDPL on the §3 two-agent toy game, diffusion vs Gaussian policies (a few minutes on CPU).

    .venv/bin/python examples/ddpl_toy_game.py [--steps 20000] [--out results/ddpl/example]

Equivalent CLI: ``lqgx ddpl train toy-game-2 --policy diffusion|gaussian``.
"""

import argparse
from pathlib import Path

import lqgx
from lqgx.ddpl.train import evaluate, train

lqgx.enable_compilation_cache()   # a second run loads its compiled solves from disk

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=None)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", default="results/ddpl/example")
args = ap.parse_args()
for policy in ("diffusion", "gaussian"):
    out = Path(args.out) / f"toy-game-2-{policy}"
    res = train("toy-game-2", policy, steps=args.steps, seed=args.seed, out=out)
    ev = evaluate(out, episodes=5000)
    print(f"{policy:9s}: learning curve {[round(x, 2) for x in res['eval_return']]}")
    print(f"{policy:9s}: final J = {ev['return_mean']:.3f} ± {ev['return_stderr']:.3f}  ({out}/curve.png)")
