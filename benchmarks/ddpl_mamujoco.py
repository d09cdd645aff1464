"""DDPL and DDPL-Gaussian on the multi-agent MuJoCo tasks (``lqgx.ddpl.envs.mamujoco``), CPU preset.

For each ENV × POLICY × SEED: ``lqgx.ddpl.train`` with the "cpu" preset and ``--steps`` env steps
(NOT the paper's 1e7-step GPU runs), into OUT/ENV-POLICY-sSEED/ (results.json, curve.png,
checkpoint). Then OUT/mamujoco.json (per run: evaluation curve, final and best return, training
throughput, wall time) and OUT/mamujoco.png (return vs env steps, one panel per env), next to the
paper's Table 1 DDPL numbers (Ant-v2 / HumanoidStandup-v2 on mujoco-py, 1e7 steps: comparable
only roughly, see the module docstring of ``envs.mamujoco``).

    .venv/bin/python benchmarks/ddpl_mamujoco.py --envs ant-2x4,ant-4x2 --policies diffusion,gaussian --seeds 0 --steps 10000
    .venv/bin/python benchmarks/ddpl_mamujoco.py --summarize
"""

import argparse
import json
from pathlib import Path

import numpy as np

from lqgx.ddpl.envs import MAMUJOCO
from lqgx.ddpl.train import train

TABLE_1_DDPL = {"ant-2x4": 6650, "ant-4x2": 6460, "ant-8x1": 6633, "humanoid-standup-17x1": 172374}


def summarize(out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {}
    for path in sorted(out.glob("*-s*/results.json")):
        res = json.loads(path.read_text())
        runs[path.parent.name] = dict(
            env=res["env"], policy=res["policy"], seed=res["seed"], env_steps=res["env_steps"],
            eval_return=res["eval_return"], final_return=res["eval_return"][-1],
            best_return=max(res["eval_return"]), env_steps_per_s=res.get("env_steps_per_s"),
            wall_s=res.get("wall_s"), table_1_ddpl=TABLE_1_DDPL.get(res["env"]))
    (out / "mamujoco.json").write_text(json.dumps(runs, indent=1))
    envs = sorted({r["env"] for r in runs.values()})
    if envs:
        fig, axes = plt.subplots(1, len(envs), figsize=(4 * len(envs), 3.2), squeeze=False)
        for ax, env in zip(axes[0], envs):
            for name, r in sorted(runs.items()):
                if r["env"] == env:
                    ax.plot(r["env_steps"], r["eval_return"], marker="o",
                            label=f"{r['policy']} s{r['seed']}")
            ax.set_title(env)
            ax.set_xlabel("env steps")
            ax.set_ylabel("eval return")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "mamujoco.png", dpi=110)
    for name, r in sorted(runs.items()):
        print(f"{name:40s} final {r['final_return']:10.1f}  best {r['best_return']:10.1f}  "
              f"{r['env_steps_per_s'] or float('nan'):6.1f} env-steps/s  wall {r['wall_s'] or np.nan:6.0f} s")
    return runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envs", default=",".join(MAMUJOCO))
    ap.add_argument("--policies", default="diffusion,gaussian")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=None, help="default: the cpu preset's budget")
    ap.add_argument("--out", default="results/ddpl_mamujoco")
    ap.add_argument("--summarize", action="store_true", help="only rebuild mamujoco.json/png")
    args = ap.parse_args()
    out = Path(args.out)
    if not args.summarize:
        for env in args.envs.split(","):
            for policy in args.policies.split(","):
                for seed in (int(s) for s in args.seeds.split(",")):
                    res = train(env, policy, steps=args.steps, seed=seed, out=out / f"{env}-{policy}-s{seed}",
                                progress=False)
                    print(env, policy, seed, "final", res["eval_return"][-1], "wall", res["wall_s"], flush=True)
    summarize(out)


if __name__ == "__main__":
    main()
