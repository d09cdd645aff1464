"""A trajectory optimizer teaches decentralized diffusion policies: DDPL on ``double-pendulum-2``.

    .venv/bin/python examples/ddpl_warm_start.py [--steps N] [--algo ilqg] [--out results/examples/ddpl]

Two agents each drive one joint of the thesis double pendulum; their shared reward is minus the
system's cost, so a return of -C is a trajectory cost of C. iLQG (or GPS / ESAPS) solves the same
``lqgx.System`` once; its time-varying linear-Gaussian controller then

* seeds DDPL: demonstrations in the replay buffer, each agent's diffusion policy fitted to the
  teacher's action law, the critics fitted to the teacher's returns, and
* guides it: an annealed teacher term stays in Algorithm 2's policy step.

The same run from scratch ("cold") is trained next to it. Prints both evaluation curves and the
teacher's own return; each run writes results.json and curve.png under OUT.
"""

from __future__ import annotations

import argparse
import pathlib

import lqgx
from lqgx.ddpl.cli import parse_key_values
from lqgx.ddpl.train import train

lqgx.enable_compilation_cache()   # a second run loads its compiled solves from disk


def main(argv=None):
    ap = argparse.ArgumentParser(description="DDPL warm-started by a trajectory optimizer.")
    ap.add_argument("--steps", type=int, default=None,
                    help="env steps per run, demonstrations included (default: the cpu preset's)")
    ap.add_argument("--algo", default="ilqg", choices=("ilqg", "gps", "esaps"), help="the teacher")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/examples/ddpl")
    ap.add_argument("--config", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="DDPLConfig overrides (e.g. eval_every=2000)")
    args = ap.parse_args(argv)
    overrides = parse_key_values(args.config, "--config")   # train() rejects unknown fields

    out = pathlib.Path(args.out)
    warm = train("double-pendulum-2", "diffusion", steps=args.steps, warm_start=args.algo, seed=args.seed,
                 out=out / f"warm-{args.algo}", **overrides)
    cold = train("double-pendulum-2", "diffusion", steps=args.steps, seed=args.seed, out=out / "cold",
                 **overrides)
    print(f"teacher ({args.algo}) return with its exploration noise: {warm['teacher_return']:.1f}")
    for name, res in ((f"warm ({args.algo})", warm), ("cold", cold)):
        curve = ", ".join(f"{s}: {r:.1f}" for s, r in zip(res["env_steps"], res["eval_return"]))
        print(f"{name:12s} {curve}")
    return warm, cold


if __name__ == "__main__":
    main()
