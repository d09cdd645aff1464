"""Warm vs cold DDPL on the cooperative pendulums: environment steps to a return threshold.

    python benchmarks/ddpl_warm_start.py --envs double-pendulum-2 --runs cold,ilqg,ilqg+guide \
        --policies diffusion --seeds 0,1,2
    python benchmarks/ddpl_warm_start.py --envs double-pendulum-2 --summarize   # tables + figures
    python benchmarks/ddpl_warm_start.py --envs ant-2x4 --env-option max_steps=40 --steps 10000 \
        --runs cold,ilqg+guide2x --config eval_every=2000 \
        --out results/benchmarks/ddpl_warm_start_ant   # docs/mamujoco.md

A run spec is ``cold`` (Algorithm 2 from scratch), ``ALGO`` (seeded from the ALGO teacher:
demonstrations, pretrained policies and critics; ``lqgx.ddpl.warm_start``), ``ALGO+guide``
(seeded and guided for the whole budget, the teacher term of Algorithm 2 line 6 annealed to zero
at the budget's end) or ``ALGO+guideKx`` (annealed over K budgets: with K = 2 the weight ends at
half its start). Each
teacher (``lqgx.ddpl.teacher``) is solved once per environment and shared by all seeds
(``OUT/teachers/ENV-ALGO.npz``); each run writes ``OUT/runs/ENV-POLICY-SPEC-sSEED/results.json``
and is skipped when that file is complete, so the benchmark can be split over processes (one per
core: ``taskset -c 0 ... --runs cold`` and ``taskset -c 1 ... --runs ilqg+guide``) and resumed.

Threshold (returns are minus costs, so "80 % of the teacher's return" is read as closing 80 % of
the gap): R_thr = R_0 + 0.8 (R_T − R_0), with R_0 the mean return of the untrained policies (the
cold runs' first evaluation) and R_T the teacher's evaluated return (with its exploration noise,
the behaviour the students clone). Steps to threshold count every environment step of the
learner, the teacher's demonstrations included; the JSON also has the count plus the transitions
the teacher's solver sampled from the true system (GPS/ESAPS; iLQG uses the model only). A
stricter second threshold: within 2× the teacher's cost (R ≥ 2 R_T) where returns are costs
(R_T < 0), the teacher's own return where they are rewards (R_T > 0, the robots). The ``--summarize`` step
writes ``OUT/ENV.json`` and ``OUT/ENV.png`` (mean ± std over seeds per spec and policy).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
FRACTION = 0.8


def parse_spec(spec: str):
    """'cold' -> (None, 0); 'ilqg' -> ('ilqg', 0); 'gps+guide' -> ('gps', 1);
    'ilqg+guide2x' -> ('ilqg', 2): the guide is annealed over that many budgets."""
    if spec == "cold":
        return None, 0
    algo, _, rest = spec.partition("+")
    if rest == "":
        return algo, 0
    if rest == "guide":
        return algo, 1
    if rest.startswith("guide") and rest.endswith("x") and rest[5:-1].isdigit() and int(rest[5:-1]) > 0:
        return algo, int(rest[5:-1])
    raise SystemExit(f"unknown run spec {spec!r}: cold, ALGO, ALGO+guide or ALGO+guideKx")


def solve_teacher(env_name: str, algo: str, out: pathlib.Path, env_options: dict) -> pathlib.Path:
    from lqgx.controllers.teacher import make_teacher, save_teacher
    from lqgx.ddpl.envs import make

    path = out / "teachers" / f"{env_name}-{algo}.npz"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"[{env_name}] solving the {algo} teacher ...", flush=True)
    teacher = make_teacher(make(env_name, **env_options), algo)
    save_teacher(path, teacher)
    print(f"[{env_name}] {algo} teacher: return {teacher.evaluated_return:.4g} (noise-free "
          f"{teacher.mean_return:.4g}), {teacher.solve_s:.0f} s", flush=True)
    return path


def run_dir(out, env_name, policy, spec, seed) -> pathlib.Path:
    return out / "runs" / f"{env_name}-{policy}-{spec}-s{seed}"


def complete(directory: pathlib.Path, steps: int | None) -> bool:
    path = directory / "results.json"
    if not path.exists():
        return False
    res = json.loads(path.read_text())
    target = steps if steps is not None else res["config"]["total_env_steps"]
    return bool(res["env_steps"]) and res["env_steps"][-1] >= target - res["config"]["num_envs"]


def run(args) -> None:
    import jax

    jax.config.update("jax_enable_x64", False)
    from lqgx.ddpl.train import train

    out = pathlib.Path(args.out)
    for env_name in args.envs:
        for spec in args.runs:
            algo, guide_budgets = parse_spec(spec)
            teacher = solve_teacher(env_name, algo, out, args.env_options) if algo else None
            for policy in args.policies:
                for seed in args.seeds:
                    directory = run_dir(out, env_name, policy, spec, seed)
                    if complete(directory, args.steps):
                        continue
                    resume = (directory / "checkpoint.npz").exists()
                    print(f"[{env_name}] {policy} {spec} seed {seed}{' (resuming)' if resume else ''}", flush=True)
                    start = time.time()
                    kw = {}
                    if not resume:
                        kw = dict(warm_start=algo, teacher=teacher, steps=args.steps, **args.config)
                        if algo:
                            kw["guide_steps"] = guide_budgets * (args.steps or _preset_steps(env_name))
                    res = train(env_name, policy, seed=seed, out=directory, resume=resume,
                                progress=args.progress, env_options=args.env_options, **kw)
                    print(f"[{env_name}] {policy} {spec} seed {seed}: final {res['eval_return'][-1]:.4g}, "
                          f"best {max(res['eval_return']):.4g} ({time.time() - start:.0f} s)", flush=True)


def _preset_steps(env_name: str) -> int:
    from lqgx.ddpl.train import PRESETS

    return PRESETS[env_name]["cpu"]["total_env_steps"]


def first_crossing(steps, returns, threshold):
    for s, r in zip(steps, returns):
        if r >= threshold:
            return int(s)
    return None


def summarize(args) -> None:
    out = pathlib.Path(args.out)
    for env_name in args.envs:
        runs = {}
        for directory in sorted((out / "runs").glob(f"{env_name}-*")):
            path = directory / "results.json"
            if not path.exists():
                continue
            res = json.loads(path.read_text())
            spec = directory.name[len(env_name) + 1:].split("-", 1)[1].rsplit("-s", 1)[0]
            runs.setdefault((res["policy"], spec), []).append(res)
        if not runs:
            print(f"[{env_name}] no runs under {out / 'runs'}")
            continue
        teachers = {}
        for path in sorted((out / "teachers").glob(f"{env_name}-*.npz")):
            with np.load(path) as z:
                teachers[path.stem.split("-")[-1]] = json.loads(bytes(z["meta"]).decode())
        # R_0 per policy class: the untrained diffusion and Gaussian policies differ by 10x here
        initial = {p: float(np.mean([r["eval_return"][0] for (pp, _), rs in runs.items() if pp == p for r in rs]))
                   for p, _ in runs}
        table = {"env": env_name, "fraction": FRACTION, "initial_return": initial, "teachers": teachers, "rows": []}
        for (policy, spec), rs in sorted(runs.items()):
            r0 = initial[policy]
            algo, _ = parse_spec(spec)
            ref = teachers.get(algo or "ilqg") or next(iter(teachers.values()), None)
            r_teacher = ref["evaluated_return"] if ref else None
            thr = r0 + FRACTION * (r_teacher - r0) if r_teacher is not None else None
            strict = None if r_teacher is None else (2.0 * r_teacher if r_teacher < 0 else r_teacher)
            solver_steps = teachers[algo]["solver_env_steps"] if algo in teachers else 0
            hits = [first_crossing(r["env_steps"], r["eval_return"], thr) for r in rs]
            strict_hits = [first_crossing(r["env_steps"], r["eval_return"], strict) for r in rs]
            finals = [r["eval_return"][-1] for r in rs]
            row = {"policy": policy, "spec": spec, "seeds": [r["seed"] for r in rs],
                   "teacher_return": r_teacher, "threshold": thr, "strict_threshold": strict,
                   "steps_to_threshold": hits, "steps_to_strict_threshold": strict_hits,
                   "teacher_solver_env_steps": solver_steps,
                   "final_return_mean": float(np.mean(finals)), "final_return_std": float(np.std(finals)),
                   "final_returns": finals, "best_returns": [max(r["eval_return"]) for r in rs],
                   "budget_env_steps": [r["env_steps"][-1] for r in rs],
                   "pretrain_s": [r.get("pretrain_s", 0.0) for r in rs],
                   "teacher_solve_s": ref.get("solve_s") if (ref and algo) else None,
                   "wall_s": [r["wall_s"] for r in rs], "env_steps_per_s": [r.get("env_steps_per_s") for r in rs],
                   "curves": [{"env_steps": r["env_steps"], "eval_return": r["eval_return"]} for r in rs]}
            table["rows"].append(row)
            print(f"[{env_name}] {policy:9s} {spec:11s} seeds {row['seeds']}: steps to {thr:.4g}: {hits}; "
                  f"to {strict:.4g}: {strict_hits}; final {row['final_return_mean']:.4g} ± {row['final_return_std']:.3g}")
        (out / f"{env_name}.json").write_text(json.dumps(table, indent=1))
        (out / f"{env_name}.md").write_text(markdown(table))
        plot(table, out / f"{env_name}.png")
        print(f"wrote {out / f'{env_name}.json'}, .md and .png")


def markdown(table) -> str:
    """The summary as a markdown table (one row per policy class and run spec)."""
    def steps(hits):
        return ", ".join("—" if h is None else f"{h / 1000:g}k" for h in hits)

    lines = [f"{table['env']}: R_0 (untrained) "
             + ", ".join(f"{p} {r:.4g}" for p, r in table["initial_return"].items())
             + "; teachers " + ", ".join(f"{a} {t['evaluated_return']:.4g}"
                                         for a, t in table["teachers"].items()), "",
             "| policy | run | threshold | steps to it (per seed) | steps to 2·R_T | final return "
             "(mean ± std) | best return (per seed) | pretrain s |",
             "|---|---|---|---|---|---|---|---|"]
    for row in table["rows"]:
        best = ", ".join(f"{b:.4g}" for b in row["best_returns"])
        pre = np.mean(row["pretrain_s"]) if any(row["pretrain_s"]) else 0.0
        lines.append(f"| {row['policy']} | {row['spec']} | {row['threshold']:.4g} | "
                     f"{steps(row['steps_to_threshold'])} | {steps(row['steps_to_strict_threshold'])} | "
                     f"{row['final_return_mean']:.4g} ± {row['final_return_std']:.3g} | {best} | "
                     f"{pre:.0f} |")
    return "\n".join(lines) + "\n"


def plot(table, path) -> None:
    """One panel per policy class: the median episode return over seeds, shaded min..max (as a
    cost on a log axis where returns are minus costs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policies = sorted({row["policy"] for row in table["rows"]})
    costs = all(max(c["eval_return"]) < 0 for row in table["rows"] for c in row["curves"])
    sign = -1.0 if costs else 1.0   # pendulum returns span -1e5 .. -1e1: cost on a log axis
    fig, axes = plt.subplots(1, len(policies), figsize=(5.5 * len(policies), 4.2), squeeze=False,
                             sharey=True)
    for ax, policy in zip(axes[0], policies):
        rows = [row for row in table["rows"] if row["policy"] == policy]
        for row in rows:
            grid = np.unique(np.concatenate([c["env_steps"] for c in row["curves"]]))
            values = np.array([np.interp(grid, c["env_steps"], c["eval_return"]) for c in row["curves"]])
            shown = sign * values
            line, = ax.plot(grid, np.median(shown, 0), label=f"{row['spec']} (n={len(row['curves'])})")
            ax.fill_between(grid, shown.min(0), shown.max(0), color=line.get_color(), alpha=0.15)
        for i, (name, teacher) in enumerate(sorted(table["teachers"].items(),
                                                  key=lambda kv: -kv[1]["evaluated_return"])):
            ax.axhline(sign * teacher["evaluated_return"], ls=":", lw=1, color="k")
            ax.text(grid[-1], sign * teacher["evaluated_return"], f"{name} teacher ", fontsize=7,
                    va="top" if i == 0 else "bottom", ha="right")  # the lowest cost labelled below
        thr = rows[0]["threshold"]
        if thr is not None:
            ax.axhline(sign * thr, ls="--", lw=0.8, color="gray",
                       label=f"threshold ({int(FRACTION * 100)} % of the gap)")
        if costs:
            ax.set_yscale("log")
        ax.set_xlabel("environment steps (teacher demonstrations included)")
        ax.set_title(f"DDPL-{policy}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper right" if costs else "lower left")
    axes[0][0].set_ylabel("episode cost = −return (log)" if costs else "episode return")
    fig.suptitle(f"{table['env']}: warm vs cold (median over seeds, shaded min..max)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default="double-pendulum-2")
    parser.add_argument("--runs", default="cold,ilqg,ilqg+guide")
    parser.add_argument("--policies", default="diffusion")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default: the CPU preset)")
    parser.add_argument("--out", default="results/benchmarks/ddpl_warm_start")
    parser.add_argument("--summarize", action="store_true", help="only tabulate and plot existing runs")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--env-option", action="append", default=[], metavar="KEY=VALUE",
                        help="environment option (repeatable), e.g. max_steps=40")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="DDPLConfig override of new runs (repeatable), e.g. eval_every=2000")
    args = parser.parse_args(argv)
    args.envs = [e for e in args.envs.split(",") if e]
    args.runs = [r for r in args.runs.split(",") if r]
    args.policies = [p for p in args.policies.split(",") if p]
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    from lqgx.ddpl.cli import parse_key_values

    args.env_options = parse_key_values(args.env_option)
    args.config = parse_key_values(args.config)
    if not args.summarize:
        run(args)
    summarize(args)


if __name__ == "__main__":
    sys.exit(main())
