"""The ``lqgx`` command line (see DESIGN.md): systems, solve, compare, ddpl, bench."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="lqgx: linearize-then-optimize trajectory optimization in JAX.")
ddpl_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Decentralized diffusion policy learning.")
app.add_typer(ddpl_app, name="ddpl")

TRAJECTORY_OPTIMIZERS = ("ilqg", "ddp")
POLICY_SEARCH = ("gps", "saps", "esaps")


def _quiet_import_jax():
    """Enable float64 and import lqgx with MuJoCo's warp import messages silenced."""
    import jax

    jax.config.update("jax_enable_x64", True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import lqgx
        import lqgx.systems  # noqa: F401
    return lqgx


def _solve_trials(lqgx, system, algo: str, trials: int, seed: int, iterations: int,
                  eps: Optional[float], delta: Optional[float], samples: Optional[int]):
    """Run ``algo`` on ``trials`` independent trials with ``vmap``; returns a batched Result."""
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(seed)
    if algo in TRAJECTORY_OPTIMIZERS:
        solver = getattr(lqgx, algo)
        chol = jnp.linalg.cholesky(system.x0_cov + 1e-12 * jnp.eye(system.state_dim))
        x0s = system.x0 + jax.random.normal(key, (trials, system.state_dim)) @ chol.T
        return lqgx.solve_batch(solver, system, x0s, iterations=iterations)
    kwargs = {"iterations": iterations}
    if samples is not None:
        kwargs["samples"] = samples
    eps = 0.1 if eps is None else eps
    if algo == "esaps":
        args = (eps, -1.0 if delta is None else delta)
    else:
        args = (eps,)
    solver = getattr(lqgx, algo)
    keys = jax.random.split(key, trials)
    return jax.vmap(lambda k: solver(system, *args, key=k, **kwargs))(keys)


def _history_stats(result, name):
    import numpy as np

    if name not in result.history:
        return [], []
    values = np.asarray(result.history[name], dtype=float)
    values = values.reshape(-1, values.shape[-1])
    return np.nanmean(values, 0).tolist(), np.nanstd(values, 0).tolist()


@app.command()
def systems():
    """List the registered MJX systems."""
    lqgx = _quiet_import_jax()
    for name in lqgx.systems.names():
        typer.echo(name)


@app.command()
def solve(system: str,
          algo: str = typer.Option("ilqg", help="ilqg, ddp, gps, saps or esaps"),
          eps: Optional[float] = typer.Option(None, help="KL bound (GPS family)"),
          delta: Optional[float] = typer.Option(None, help="ESAPS entropy bound, thesis eq. 5.1d"),
          iterations: int = typer.Option(50, min=1),
          samples: Optional[int] = typer.Option(None, min=1, help="rollouts per iteration"),
          trials: int = typer.Option(1, min=1),
          seed: int = typer.Option(0),
          out: pathlib.Path = typer.Option(pathlib.Path("results/solve"))):
    """Solve SYSTEM with ALGO; writes result.json, policy.npz, curves.png, filmstrip.png."""
    import numpy as np

    if algo not in TRAJECTORY_OPTIMIZERS + POLICY_SEARCH:
        raise typer.BadParameter(f"--algo must be one of {TRAJECTORY_OPTIMIZERS + POLICY_SEARCH}")
    lqgx = _quiet_import_jax()
    plant = lqgx.systems.make(system)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = _solve_trials(lqgx, plant, algo, trials, seed, iterations, eps, delta, samples)
    wall = time.perf_counter() - start
    cost_mean, cost_std = _history_stats(result, "cost")
    kl_mean, _ = _history_stats(result, "kl")
    final_costs = np.asarray(result.cost, dtype=float).ravel()
    report = {"system": system, "algo": algo, "iterations": iterations,
              "cost_history": cost_mean, "cost_std": cost_std, "kl_history": kl_mean,
              "final_cost": float(final_costs.mean()),
              "converged": bool(np.all(np.asarray(result.converged))), "wall_s": wall}
    (out / "result.json").write_text(json.dumps(report, indent=2))
    np.savez(out / "policy.npz", K=np.asarray(result.policy.K)[0],
             k=np.asarray(result.policy.k)[0], cov=np.asarray(result.policy.cov)[0],
             states=np.asarray(result.states)[0], actions=np.asarray(result.actions)[0])
    from lqgx.plots import plot_curves

    plot_curves({algo: result}, out / "curves.png", title=f"{algo} on {system}")
    lqgx.render(plant, np.asarray(result.states)[0], out / "filmstrip.png")
    typer.echo(f"{algo} on {system}: final cost {report['final_cost']:.4g} "
               f"(converged={report['converged']}, {wall:.1f} s) -> {out}")


@app.command()
def compare(system: str,
            algos: str = typer.Option("gps,saps,esaps"),
            trials: int = typer.Option(10, min=1),
            iterations: int = typer.Option(25, min=1),
            eps: Optional[float] = typer.Option(None),
            delta: Optional[float] = typer.Option(None),
            samples: Optional[int] = typer.Option(None, min=1),
            seed: int = typer.Option(0),
            out: pathlib.Path = typer.Option(pathlib.Path("results/compare"))):
    """Compare algorithms on SYSTEM; writes compare.json and compare.png."""
    import numpy as np

    lqgx = _quiet_import_jax()
    plant = lqgx.systems.make(system)
    out.mkdir(parents=True, exist_ok=True)
    results, report = {}, {}
    for algo in [a.strip() for a in algos.split(",") if a.strip()]:
        if algo not in TRAJECTORY_OPTIMIZERS + POLICY_SEARCH:
            raise typer.BadParameter(f"unknown algorithm {algo!r}")
        result = _solve_trials(lqgx, plant, algo, trials, seed, iterations, eps, delta, samples)
        results[algo] = result
        cost_mean, cost_std = _history_stats(result, "cost")
        kl = np.asarray(result.history.get("kl", np.zeros((1, 0))), dtype=float)
        report[algo] = {"cost_mean": cost_mean, "cost_std": cost_std,
                        "kl_max": np.nanmax(kl.reshape(-1, kl.shape[-1]), 0).tolist()
                        if kl.size else []}
        typer.echo(f"{algo}: final mean cost {cost_mean[-1]:.4g}")
    (out / "compare.json").write_text(json.dumps(report, indent=2))
    from lqgx.plots import plot_curves

    plot_curves(results, out / "compare.png", title=f"{system}: {trials} trials")
    typer.echo(f"wrote {out / 'compare.json'} and {out / 'compare.png'}")


@ddpl_app.command("train")
def ddpl_train(env: str,
               policy: str = typer.Option("diffusion", help="diffusion or gaussian"),
               steps: Optional[int] = typer.Option(None, min=1),
               warm_start: Optional[str] = typer.Option(None),
               seed: int = typer.Option(0),
               out: Optional[pathlib.Path] = typer.Option(
                   None, help="default results/ddpl/ENV-POLICY-sSEED"),
               resume: bool = typer.Option(False),
               preset: str = typer.Option("cpu", help="cpu (minutes) or paper (GPU-scale)")):
    """Train DDPL on ENV (progress bar, atomic checkpoints, results.json, curve.png).

    Networks and buffers run in float32 for speed (the rest of the CLI uses float64).
    """
    from lqgx.ddpl import cli as ddpl_cli

    ddpl_cli.train(env, policy, steps, warm_start, seed, None if out is None else str(out),
                   resume, preset=preset)


@ddpl_app.command("eval")
def ddpl_eval(directory: pathlib.Path, episodes: int = typer.Option(50, min=1)):
    """Evaluate a trained DDPL run directory."""
    from lqgx.ddpl import cli as ddpl_cli

    ddpl_cli.evaluate(str(directory), episodes)


@app.command()
def bench(name: Optional[str] = typer.Argument(None, help="benchmark script name (no .py)")):
    """Run benchmarks/NAME.py (or list them)."""
    root = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
    scripts = sorted(p.stem for p in root.glob("*.py")) if root.is_dir() else []
    if name is None:
        for script in scripts:
            typer.echo(script)
        return
    if name not in scripts:
        raise typer.BadParameter(f"unknown benchmark {name!r}; available: {', '.join(scripts)}")
    raise typer.Exit(subprocess.call([sys.executable, str(root / f"{name}.py")],
                                     env=dict(os.environ)))


def main():
    app()


if __name__ == "__main__":
    main()
