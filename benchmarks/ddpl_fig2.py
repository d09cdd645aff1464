"""Fig. 2 of the DDPL paper: Algorithm 1 (exact DecSPG) with all policies vs Gaussian policies.

Single-agent MDP (Fig. 2 left) and the n = 2 game (Fig. 2 right), B = 200, η/(1−γ) = 0.01,
π^0 = N(0, 0.1). Writes results/ddpl/fig2.json and fig2.png (mean ± std over seeds of the exact
expected return J(π^k)).

    .venv/bin/python benchmarks/ddpl_fig2.py [--epochs 300] [--seeds 4] [--grid 1001]
"""

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from lqgx.ddpl.toy import DecSPGConfig, run_decspg  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--grid", type=int, default=1001)
    ap.add_argument("--out", default="results/ddpl")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {}
    for name, n, single in (("single_agent", 1, True), ("n2", 2, False)):
        for pc in ("all", "gaussian"):
            cfg = DecSPGConfig(n_agents=n, single_agent=single, policy_class=pc, epochs=args.epochs,
                               grid_size=args.grid)
            t = time.time()
            o = jax.jit(jax.vmap(lambda k: run_decspg(cfg, k)))(jax.random.split(jax.random.PRNGKey(0), args.seeds))
            r = np.asarray(o["return"])
            res[f"{name}/{pc}"] = {"mean": r.mean(0).tolist(), "std": r.std(0).tolist(),
                                  "final_per_seed": r[:, -1].tolist(),
                                  "final_mean_action": np.asarray(o["mean_start"][:, -1]).tolist(),
                                  "successes": np.asarray(o["successes"][:, -1]).tolist(),
                                  "wall_s": time.time() - t}
            print(f"{name:13s} {pc:9s} J(π^0)={r[:, 0].mean():.3f}  J(π^{args.epochs})={r[:, -1].mean():.2f} "
                  f"± {r[:, -1].std():.2f}  per seed {np.round(r[:, -1], 2).tolist()}  ({time.time() - t:.0f}s)",
                  flush=True)
    (out / "fig2.json").write_text(json.dumps(res))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, name, title in zip(axes, ("single_agent", "n2"), ("single agent", "n = 2 agents")):
        for pc, lab in (("all", "all policies"), ("gaussian", "Gaussian")):
            m, s = np.array(res[f"{name}/{pc}"]["mean"]), np.array(res[f"{name}/{pc}"]["std"])
            ax.plot(m, label=lab)
            ax.fill_between(np.arange(len(m)), m - s, m + s, alpha=0.2)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel("expected return J")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "fig2.png", dpi=110)


if __name__ == "__main__":
    main()
