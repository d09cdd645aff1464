"""The ``lqgx`` command line (see DESIGN.md): systems, solve, compare, ddpl, bench.

User mistakes end the command with one ``error: ...`` line on stderr and exit code 2: the
command-line parser's usage errors, and ``ValueError``/``TypeError`` raised by a ``raise``
statement in lqgx's own code (argument validation, here or in the library). Any other exception
is a bug and propagates with its traceback; ``lqgx --debug ...`` shows the traceback of user
mistakes as well.
"""

from __future__ import annotations

import contextlib
import io
import json
import linecache
import math
import os
import pathlib
import subprocess
import sys
import time
from typing import Optional

import typer
from typer.core import TyperGroup

TRAJECTORY_OPTIMIZERS = ("ilqg", "ddp")
POLICY_SEARCH = ("gps", "saps", "esaps")
ALGORITHMS = TRAJECTORY_OPTIMIZERS + POLICY_SEARCH
# Step bounds of examples/demo.py (the thesis double-pendulum comparison): GPS bounds the
# per-step policy KL, SAPS/ESAPS the state-action KL.
EPS_DEFAULTS = {"gps": 0.1, "saps": 4.0, "esaps": 4.0}
# Default ESAPS entropy floor: this many nats below the initial policy's entropy.
ENTROPY_DROP = 8.0

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
# typer >= 0.20 vendors click privately: reach its exception classes through the public one.
_CLICK_ERRORS = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
_ClickException = _CLICK_ERRORS["ClickException"]
_UsageError = _CLICK_ERRORS["UsageError"]


class UserError(_ClickException):
    """A user mistake reported by lqgx code (see ``is_user_mistake``)."""

    exit_code = 2


def is_user_mistake(err: BaseException) -> bool:
    """Whether ``err`` is a ``ValueError``/``TypeError`` raised by a ``raise`` statement in the
    lqgx package (argument validation); the same types raised by JAX, NumPy or Python itself
    underneath lqgx code are bugs."""
    if not isinstance(err, (ValueError, TypeError)) or err.__traceback__ is None:
        return False
    tb = err.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    try:
        inside = pathlib.Path(filename).resolve().is_relative_to(_PACKAGE_DIR)
    except (OSError, ValueError):
        return False
    return inside and linecache.getline(filename, tb.tb_lineno).lstrip().startswith("raise")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _Commands(TyperGroup):
    """The top-level command group: turns user mistakes into one ``error:`` line and exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (ValueError, TypeError) as err:
            if ctx.params.get("debug") or not is_user_mistake(err):
                raise
            raise UserError(str(err)) from err

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _ClickException as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # the help text (rich prints it itself)
                if err.format_message().strip():
                    typer.echo(err.format_message(), err=True)
                sys.exit(err.exit_code)
            message = _one_line(err.format_message())
            ctx = getattr(err, "ctx", None)
            if isinstance(err, _UsageError) and ctx is not None:
                message += f" (see '{ctx.command_path} --help')"
            typer.echo(f"error: {message}", err=True)
            sys.exit(2)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)  # commands return None or an exit code


app = typer.Typer(cls=_Commands, add_completion=False, no_args_is_help=True,
                  help="lqgx: linearize-then-optimize trajectory optimization in JAX.")
ddpl_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Decentralized diffusion policy learning.")
app.add_typer(ddpl_app, name="ddpl")


@app.callback()
def _global_options(debug: bool = typer.Option(
        False, "--debug", help="show the full traceback of an error instead of one line")):
    """lqgx: linearize-then-optimize trajectory optimization in JAX."""


def _bound(value, what: str, *, positive: bool = True) -> float:
    """``value`` (a number or its text) as a finite float, > 0 if ``positive``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected a number, got {value!r}") from None
    if not math.isfinite(number) or (positive and number <= 0):
        raise ValueError(f"{what} must be {'finite and > 0' if positive else 'finite'}, "
                         f"got {value!r}")
    return number


def parse_eps(text: Optional[str], algos=POLICY_SEARCH) -> dict:
    """Step bounds ``{algo: eps}`` for the policy-search algorithms among ``algos``.

    ``text`` is an ``--eps`` value: None gives ``EPS_DEFAULTS``; a number applies to all of
    them; comma-separated ``algo=value`` pairs (``gps=0.1,saps=4``) set those algorithms and
    leave the others at their defaults. Malformed text, a bound that is not finite and > 0, or a
    name that is not a policy-search algorithm in ``algos`` raises ``ValueError``.
    """
    targets = [a for a in algos if a in POLICY_SEARCH]
    bounds = {a: EPS_DEFAULTS[a] for a in targets}
    if text is None:
        return bounds
    if "=" not in text:
        value = _bound(text.strip(), "--eps")
        if not targets:
            raise ValueError(f"--eps: no policy-search algorithm ({', '.join(POLICY_SEARCH)}) "
                             f"among {', '.join(algos)}")
        return dict.fromkeys(targets, value)
    seen = set()
    for item in text.split(","):
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not name:
            raise ValueError(f"--eps: expected a number or ALGO=VALUE pairs such as "
                             f"'gps=0.1,saps=4', got {text!r}")
        if name not in POLICY_SEARCH:
            raise ValueError(f"--eps: {name!r} has no step bound; the policy-search "
                             f"algorithms are {', '.join(POLICY_SEARCH)}")
        if name not in targets:
            raise ValueError(f"--eps: {name} is not among the algorithms run "
                             f"({', '.join(algos)})")
        if name in seen:
            raise ValueError(f"--eps: {name} given twice in {text!r}")
        seen.add(name)
        bounds[name] = _bound(value, f"--eps {name}")
    return bounds


def _parse_algos(text: str) -> list:
    """The ``--algos`` list (order kept, duplicates dropped); unknown names raise ValueError."""
    algos = list(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
    if not algos:
        raise ValueError(f"--algos: no algorithm given; available: {', '.join(ALGORITHMS)}")
    for algo in algos:
        _check_algo(algo)
    return algos


def _check_algo(algo: str) -> None:
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; available: {', '.join(ALGORITHMS)}")


_EPS_HELP = ("policy step bound: a number for every policy-search algorithm, or ALGO=VALUE "
             "pairs (e.g. gps=0.1,saps=4); defaults "
             + ", ".join(f"{a}={v:g}" for a, v in EPS_DEFAULTS.items())
             + " (GPS bounds the policy KL, SAPS/ESAPS the state-action KL)")
_DELTA_HELP = (f"ESAPS entropy bound delta, thesis eq. 5.1d (entropy >= -delta); default: "
               f"{ENTROPY_DROP:g} nats below the initial policy's entropy")
_STEP_HELP = ("policy search: adapt eps's trust factor to predicted vs actual improvement and "
              "reject updates whose sampled cost doubles, or keep the thesis's fixed eps "
              "(default)")


def _quiet_import_jax():
    """Enable float64 and import lqgx with MuJoCo's warp import messages silenced."""
    import jax

    jax.config.update("jax_enable_x64", True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import lqgx
        import lqgx.systems  # noqa: F401
    return lqgx


def _default_delta(lqgx, system) -> float:
    """The ESAPS bound whose entropy floor is ``ENTROPY_DROP`` nats below the initial policy's
    entropy (as examples/demo.py)."""
    from lqgx.optimizers import default_policy

    entropy0 = float(lqgx.lq.policy_entropy(default_policy(system))[0])
    return -(entropy0 - ENTROPY_DROP)


def _solve_trials(lqgx, system, algo: str, trials: int, seed: int, iterations: int,
                  eps: Optional[float], delta: Optional[float], samples: Optional[int],
                  step_adaptation: bool = False):
    """Run ``algo`` on ``trials`` independent trials with ``vmap``; returns a batched Result.

    ``eps`` is the policy-search step bound and ``delta`` the ESAPS entropy bound (both
    resolved by the caller; unused by the trajectory optimizers, as ``step_adaptation``).
    """
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(seed)
    if algo in TRAJECTORY_OPTIMIZERS:
        solver = getattr(lqgx, algo)
        chol = jnp.linalg.cholesky(system.x0_cov + 1e-12 * jnp.eye(system.state_dim))
        x0s = system.x0 + jax.random.normal(key, (trials, system.state_dim)) @ chol.T
        return lqgx.solve_batch(solver, system, x0s, iterations=iterations)
    kwargs = {"iterations": iterations, "step_adaptation": step_adaptation}
    if samples is not None:
        kwargs["samples"] = samples
    args = (eps, delta) if algo == "esaps" else (eps,)
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
          eps: Optional[float] = typer.Option(
              None, help="policy step bound (gps, saps, esaps); default "
                         + ", ".join(f"{a} {v:g}" for a, v in EPS_DEFAULTS.items())
                         + " (GPS bounds the policy KL, SAPS/ESAPS the state-action KL)"),
          delta: Optional[float] = typer.Option(None, help=_DELTA_HELP),
          iterations: int = typer.Option(50, min=1),
          samples: Optional[int] = typer.Option(None, min=1, help="rollouts per iteration"),
          step_adaptation: bool = typer.Option(False, "--step-adaptation/--fixed-eps",
                                               help=_STEP_HELP),
          trials: int = typer.Option(1, min=1),
          seed: int = typer.Option(0),
          out: pathlib.Path = typer.Option(pathlib.Path("results/solve"))):
    """Solve SYSTEM with ALGO; writes result.json, policy.npz, curves.png, filmstrip.png."""
    import jax
    import numpy as np

    from lqgx.compilation import CompileClock

    _check_algo(algo)
    if eps is not None:
        if algo not in POLICY_SEARCH:
            raise ValueError(f"--eps: {algo} has no step bound (only {', '.join(POLICY_SEARCH)})")
        eps = _bound(eps, "--eps")
    if delta is not None:
        if algo != "esaps":
            raise ValueError(f"--delta applies to esaps only, not {algo}")
        delta = _bound(delta, "--delta", positive=False)
    lqgx = _quiet_import_jax()
    plant = lqgx.systems.make(system)
    if algo in POLICY_SEARCH and eps is None:
        eps = EPS_DEFAULTS[algo]
    if algo == "esaps" and delta is None:
        delta = _default_delta(lqgx, plant)
    out.mkdir(parents=True, exist_ok=True)
    typer.echo(f"{algo} on {system}: compiling and running {trials} trial(s) x {iterations} "
               "iterations ...")
    with CompileClock() as compile_clock:
        result = jax.block_until_ready(_solve_trials(
            lqgx, plant, algo, trials, seed, iterations, eps, delta, samples, step_adaptation))
    wall = compile_clock.wall
    cost_mean, cost_std = _history_stats(result, "cost")
    kl_mean, _ = _history_stats(result, "kl")
    final_costs = np.asarray(result.cost, dtype=float).ravel()
    report = {"system": system, "algo": algo, "iterations": iterations,
              "cost_history": cost_mean, "cost_std": cost_std, "kl_history": kl_mean,
              "final_cost": float(final_costs.mean()),
              "converged": bool(np.all(np.asarray(result.converged))), "wall_s": wall,
              "compile_s": compile_clock.seconds}
    if algo in POLICY_SEARCH:
        report["step_adaptation"] = step_adaptation
    (out / "result.json").write_text(json.dumps(report, indent=2))
    np.savez(out / "policy.npz", K=np.asarray(result.policy.K)[0],
             k=np.asarray(result.policy.k)[0], cov=np.asarray(result.policy.cov)[0],
             states=np.asarray(result.states)[0], actions=np.asarray(result.actions)[0])
    from lqgx.plots import plot_curves

    plot_curves({algo: result}, out / "curves.png", title=f"{algo} on {system}")
    lqgx.render(plant, np.asarray(result.states)[0], out / "filmstrip.png")
    typer.echo(f"{algo} on {system}: final cost {report['final_cost']:.4g} "
               f"(converged={report['converged']}, {wall:.1f} s of which compile "
               f"{compile_clock.seconds:.1f} s) -> {out}")


@app.command()
def compare(system: str,
            algos: str = typer.Option("gps,saps,esaps",
                                      help="comma-separated list from " + ", ".join(ALGORITHMS)),
            trials: int = typer.Option(10, min=1),
            iterations: int = typer.Option(25, min=1),
            eps: Optional[str] = typer.Option(None, help=_EPS_HELP),
            delta: Optional[float] = typer.Option(None, help=_DELTA_HELP),
            samples: Optional[int] = typer.Option(None, min=1, help="rollouts per iteration"),
            step_adaptation: bool = typer.Option(False, "--step-adaptation/--fixed-eps",
                                                 help=_STEP_HELP),
            seed: int = typer.Option(0),
            out: pathlib.Path = typer.Option(pathlib.Path("results/compare"))):
    """Compare algorithms on SYSTEM; writes compare.json and compare.png."""
    import jax
    import numpy as np

    from lqgx.compilation import CompileClock

    names = _parse_algos(algos)
    bounds = parse_eps(eps, names)
    if delta is not None:
        if "esaps" not in names:
            raise ValueError("--delta applies to esaps, which is not in --algos")
        delta = _bound(delta, "--delta", positive=False)
    lqgx = _quiet_import_jax()
    plant = lqgx.systems.make(system)
    if "esaps" in names and delta is None:
        delta = _default_delta(lqgx, plant)
    out.mkdir(parents=True, exist_ok=True)
    results, report = {}, {}
    for algo in names:
        typer.echo(f"{algo}: compiling and running {trials} trial(s) x {iterations} iterations ...")
        with CompileClock() as compile_clock:
            result = jax.block_until_ready(_solve_trials(
                lqgx, plant, algo, trials, seed, iterations, bounds.get(algo), delta, samples,
                step_adaptation))
        wall = compile_clock.wall
        results[algo] = result
        cost_mean, cost_std = _history_stats(result, "cost")
        kl = np.asarray(result.history.get("kl", np.zeros((1, 0))), dtype=float)
        report[algo] = {"cost_mean": cost_mean, "cost_std": cost_std,
                        "kl_max": np.nanmax(kl.reshape(-1, kl.shape[-1]), 0).tolist()
                        if kl.size else [], "wall_s": wall, "compile_s": compile_clock.seconds}
        if algo in POLICY_SEARCH:
            report[algo]["step_adaptation"] = step_adaptation
        typer.echo(f"{algo}: final mean cost {cost_mean[-1]:.4g} ({wall:.1f} s of which compile "
                   f"{compile_clock.seconds:.1f} s)")
    (out / "compare.json").write_text(json.dumps(report, indent=2))
    from lqgx.plots import plot_curves

    plot_curves(results, out / "compare.png", title=f"{system}: {trials} trials")
    typer.echo(f"wrote {out / 'compare.json'} and {out / 'compare.png'}")


MPC_SOLVERS = ("ilqg", "ddp", "cem", "mppi", "predictive_sampling") + POLICY_SEARCH


@app.command()
def mpc(system: str,
        solver: str = typer.Option("ilqg", help="planner: " + ", ".join(MPC_SOLVERS)),
        steps: Optional[int] = typer.Option(None, min=1, help="closed-loop steps (default T)"),
        horizon: Optional[int] = typer.Option(None, min=1,
                                              help="planning steps H (default T / 2)"),
        iterations: int = typer.Option(3, min=1, help="solver iterations per replan"),
        replan_every: int = typer.Option(1, min=1, help="replan every this many steps"),
        disturbance: float = typer.Option(0.0, help="push: velocity added to every joint "
                                                    "(rad/s or m/s) at --push-step"),
        push_step: Optional[int] = typer.Option(None, min=0,
                                                help="step of the push (default steps / 3)"),
        eps: Optional[float] = typer.Option(None, help="step bound of a policy-search planner"),
        seed: int = typer.Option(0),
        out: pathlib.Path = typer.Option(pathlib.Path("results/mpc"))):
    """Receding-horizon control of SYSTEM with a push: MPC vs the open-loop plan vs its TVLG
    feedback; writes result.json, curves.png, filmstrip.png (and .mp4)."""
    if solver not in MPC_SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; available: {', '.join(MPC_SOLVERS)}")
    if eps is not None and solver not in POLICY_SEARCH:
        raise ValueError(f"--eps: {solver} has no step bound (only {', '.join(POLICY_SEARCH)})")
    lqgx = _quiet_import_jax()
    import jax

    from lqgx.controllers import MPC, push
    from lqgx.controllers.mpc import compare_controllers, write_report

    plant = lqgx.systems.make(system)
    steps = plant.horizon if steps is None else steps
    horizon = max(plant.horizon // 2, 1) if horizon is None else horizon
    at = steps // 3 if push_step is None else push_step
    if not at < steps:
        raise ValueError(f"--push-step must be < steps = {steps}, got {at}")
    options = {}
    if solver in POLICY_SEARCH:
        options["eps"] = _bound(eps, "--eps") if eps is not None else EPS_DEFAULTS[solver]
        if solver == "esaps":
            options["delta"] = _default_delta(lqgx, plant)
    controller = MPC(plant, solver, horizon=horizon, iterations=iterations,
                     replan_every=replan_every, **options)
    typer.echo(f"{controller}: planning the reference and compiling the closed loop ...")
    start = time.perf_counter()
    runs = compare_controllers(controller, jax.random.PRNGKey(seed), steps,
                               push(plant, steps, at, disturbance))
    wall = time.perf_counter() - start
    report = write_report(system, controller, runs, out, disturbance=disturbance, push_step=at,
                          wall_s=wall)
    typer.echo(f"{'controller':16s} {'cost':>12s}\n{'MPC':16s} {report['closed_loop_cost']:12.5g}\n"
               f"{'open-loop plan':16s} {report['open_loop_cost']:12.5g}\n"
               f"{'TVLG feedback':16s} {report['tvlg_cost']:12.5g}\n"
               f"MPC at {report['control_hz']:.1f} Hz (compile {report['compile_s']:.0f} s, "
               f"total {wall:.0f} s) -> {out}")


@ddpl_app.command("train")
def ddpl_train(env: str,
               policy: str = typer.Option("diffusion", help="diffusion or gaussian"),
               steps: Optional[int] = typer.Option(None, min=1),
               warm_start: Optional[str] = typer.Option(
                   None, help="ilqg, gps or esaps: seed DDPL from that trajectory optimizer "
                              "(double-pendulum-2, quad-pendulum-4, ant-*, humanoid-standup-17x1; "
                              "past its horizon a teacher holds its last step's controller)"),
               guide_steps: Optional[int] = typer.Option(
                   None, min=0, help="keep the teacher in the loop for N env steps (annealed); default "
                                "with --warm-start: 2 x --steps; 0 = seed only"),
               teacher: Optional[pathlib.Path] = typer.Option(
                   None, help="reuse the teacher.npz of an earlier warm-started run"),
               seed: int = typer.Option(0),
               out: Optional[pathlib.Path] = typer.Option(
                   None, help="default results/ddpl/ENV-POLICY-sSEED"),
               resume: bool = typer.Option(False),
               preset: str = typer.Option("cpu", help="cpu (minutes) or paper (GPU-scale)"),
               env_option: Optional[list[str]] = typer.Option(
                   None, help="KEY=VALUE for the environment (repeatable), e.g. max_steps=40, "
                              "observation=local"),
               devices: Optional[int] = typer.Option(
                   None, min=1, help="split the environments over this many devices "
                                     "(lqgx.distributed; num_envs must divide by it)")):
    """Train DDPL on ENV (progress bar, atomic checkpoints, results.json, curve.png).

    Networks and buffers run in float32 for speed (the rest of the CLI uses float64).
    """
    from lqgx.ddpl import cli as ddpl_cli

    ddpl_cli.train(env, policy, steps, warm_start, seed, None if out is None else str(out),
                   resume, preset=preset, guide_steps=guide_steps,
                   teacher=None if teacher is None else str(teacher),
                   env_options=ddpl_cli.parse_key_values(env_option or []), devices=devices)


@ddpl_app.command("eval")
def ddpl_eval(directory: pathlib.Path, episodes: int = typer.Option(50, min=1)):
    """Evaluate a trained DDPL run directory."""
    from lqgx.ddpl import cli as ddpl_cli

    ddpl_cli.evaluate(str(directory), episodes)


@app.command()
def bench(name: Optional[str] = typer.Argument(None, help="benchmark script name (no .py)")):
    """Run benchmarks/NAME.py (or list them)."""
    root = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
    scripts = (sorted(p.stem for p in root.glob("*.py") if not p.stem.startswith("_"))
               if root.is_dir() else [])
    if name is None:
        for script in scripts:
            typer.echo(script)
        return
    if name not in scripts:
        raise ValueError(f"unknown benchmark {name!r}; available: {', '.join(scripts)}")
    raise typer.Exit(subprocess.call([sys.executable, str(root / f"{name}.py")],
                                     env=dict(os.environ)))


def main():
    """Entry point of the ``lqgx`` command and ``python -m lqgx``."""
    from lqgx.compilation import enable_compilation_cache

    enable_compilation_cache()   # LQGX_COMPILATION_CACHE=off to switch it off
    app()


if __name__ == "__main__":
    main()
