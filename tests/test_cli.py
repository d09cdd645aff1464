"""The ``lqgx`` command line on user mistakes: one ``error:`` line, exit code 2, no solver run;
``--debug`` shows the traceback; ``python -m lqgx``; ``--eps`` parsing; a tiny ``lqgx solve``."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from lqgx import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def run(tmp_path, monkeypatch):
    """``run(*args)`` invokes the CLI in a temporary directory; restores JAX's float64 flag
    (``ddpl train`` switches it off)."""
    monkeypatch.chdir(tmp_path)
    x64 = jax.config.jax_enable_x64
    yield lambda *args: CliRunner().invoke(cli.app, list(args))
    jax.config.update("jax_enable_x64", x64)


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_system(run):
    assert_user_error(run("solve", "pendulm"), "'pendulm'", "pendulum, cartpole")


def test_unknown_algorithm(run, tmp_path):
    assert_user_error(run("solve", "pendulum", "--algo", "gsp"), "'gsp'", "esaps")
    assert_user_error(run("compare", "pendulum", "--algos", "gps,sap"), "'sap'")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("env", ["toy-game-3x", "no-such-env"])
def test_unknown_ddpl_env(run, tmp_path, env):
    assert_user_error(run("ddpl", "train", env, "--out", str(tmp_path / "run")), repr(env))
    assert not (tmp_path / "run").exists()


def test_bad_env_options(run, tmp_path):
    out = str(tmp_path / "run")
    assert_user_error(run("ddpl", "train", "toy-game-2", "--env-option", "max_steps", "--out", out),
                      "KEY=VALUE")
    assert_user_error(run("ddpl", "train", "toy-game-2", "--env-option", "max_steps=40", "--out", out),
                      "takes no options")
    assert not (tmp_path / "run").exists()


def test_ddpl_eval_missing_dir(run, tmp_path):
    assert_user_error(run("ddpl", "eval", str(tmp_path / "missing")), "checkpoint.npz")


def test_corrupt_checkpoint(run, tmp_path):
    (tmp_path / "checkpoint.npz").write_bytes(b"not a checkpoint" * 20)
    path = str(tmp_path / "checkpoint.npz")
    assert_user_error(run("ddpl", "eval", str(tmp_path)), path, "unreadable")
    assert_user_error(run("ddpl", "train", "toy-game-2", "--out", str(tmp_path), "--resume"),
                      path, "unreadable")


@pytest.mark.parametrize("args, fragment", [
    (["compare", "pendulum", "--eps", "gps=abc"], "expected a number"),
    (["compare", "pendulum", "--eps", "gps:0.1"], "expected a number"),
    (["compare", "pendulum", "--eps", "gps=0.1,"], "ALGO=VALUE"),
    (["compare", "pendulum", "--eps", "ilqg=1"], "'ilqg'"),
    (["compare", "pendulum", "--eps", "-1"], "> 0"),
    (["compare", "pendulum", "--algos", "ilqg", "--delta", "1"], "--delta"),
    (["solve", "pendulum", "--algo", "gps", "--eps", "nan"], "> 0"),
    (["solve", "pendulum", "--algo", "ilqg", "--eps", "0.1"], "ilqg"),
    (["solve", "pendulum", "--algo", "esaps", "--delta", "inf"], "finite"),
])
def test_bad_step_bounds(run, args, fragment):
    assert_user_error(run(*args), fragment)


def test_usage_errors_are_one_line(run):
    assert_user_error(run("solve"), "Missing argument")
    assert_user_error(run("solve", "pendulum", "--iterations", "many"), "--iterations")
    assert_user_error(run("frobnicate"), "frobnicate")
    assert_user_error(run("bench", "no_such_benchmark"), "no_such_benchmark")


def test_bugs_keep_their_traceback(run, monkeypatch):
    """A ValueError not raised by lqgx's own validation propagates (exit 1, exception kept)."""
    def broken(text):
        return int("x")  # ValueError raised by Python, outside lqgx

    monkeypatch.setattr(cli, "_parse_algos", broken)
    result = run("compare", "pendulum")
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)


def test_is_user_mistake():
    with pytest.raises(ValueError) as mine:
        cli.parse_eps("gps=x")
    assert cli.is_user_mistake(mine.value)
    with pytest.raises(ValueError) as numpys:
        np.zeros(3).reshape(2)
    assert not cli.is_user_mistake(numpys.value)
    assert not cli.is_user_mistake(RuntimeError("lqgx"))


def test_parse_eps():
    assert cli.parse_eps(None) == {"gps": 0.1, "saps": 4.0, "esaps": 4.0}
    assert cli.parse_eps("0.5") == {"gps": 0.5, "saps": 0.5, "esaps": 0.5}
    assert cli.parse_eps(" saps = 2 ,gps=0.2") == {"gps": 0.2, "saps": 2.0, "esaps": 4.0}
    assert cli.parse_eps("1", ["ilqg", "esaps"]) == {"esaps": 1.0}
    assert cli.parse_eps(None, ["ilqg"]) == {}
    for text, algos in [("", cli.POLICY_SEARCH), ("gps=", cli.POLICY_SEARCH),
                        ("gps=1,gps=2", cli.POLICY_SEARCH), ("gps=0", cli.POLICY_SEARCH),
                        ("saps=1", ["gps"]), ("1", ["ilqg"]), ("ddp=1", cli.ALGORITHMS),
                        ("inf", cli.POLICY_SEARCH)]:
        with pytest.raises(ValueError):
            cli.parse_eps(text, algos)


def _python_m(*args):
    return subprocess.run([sys.executable, "-m", "lqgx", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_debug_shows_traceback():
    plain = _python_m("solve", "pendulum", "--algo", "gsp")
    assert plain.returncode == 2 and plain.stderr.strip().startswith("error: ")
    assert len(plain.stderr.strip().splitlines()) == 1
    debug = _python_m("--debug", "solve", "pendulum", "--algo", "gsp")
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "ValueError" in debug.stderr


def test_python_m_lists_systems():
    proc = _python_m("systems")
    assert proc.returncode == 0, proc.stderr
    assert {"pendulum", "cartpole", "double_pendulum"} <= set(proc.stdout.split())


def test_jaxmarl_environments_are_made_without_import_noise():
    # jaxmarl prints "Importing submoduled environments..." on import, and its MABrax module
    # resets sys.stdout to sys.__stdout__ (undoing a plain redirect); a fresh interpreter shows
    # whether any of it reaches the user
    code = ("from lqgx.ddpl.envs import make; "
            "print(make('mpe-simple-reference').num_agents, make('smax-3s_vs_5z').num_agents); "
            "import sys; assert sys.stdout is sys.__stdout__")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2", "3"]
    assert "ubmoduled" not in proc.stdout + proc.stderr


def test_mpc_user_mistakes(run, tmp_path):
    assert_user_error(run("mpc", "pendulum", "--solver", "lqr"), "'lqr'", "ilqg")
    assert_user_error(run("mpc", "pendulum", "--eps", "0.1"), "--eps", "ilqg")
    assert_user_error(run("mpc", "pendulm"), "'pendulm'")
    assert_user_error(run("mpc", "pendulum", "--steps", "10", "--push-step", "10"), "--push-step")
    assert_user_error(run("mpc", "pendulum", "--replan-every", "80", "--horizon", "20"),
                      "replan_every=80")
    assert not (tmp_path / "results").exists()


def test_solve_writes_its_report_with_the_compile_time(run):
    result = run("solve", "pendulum", "--iterations", "2", "--out", "solved")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "compiling and running" in result.output and "of which compile" in result.output
    report = json.loads(pathlib.Path("solved/result.json").read_text())
    expected = {"system", "algo", "iterations", "cost_history", "cost_std", "kl_history",
                "final_cost", "converged", "wall_s", "compile_s"}   # DESIGN.md's, plus compile_s
    assert set(report) == expected and report["algo"] == "ilqg" and report["iterations"] == 2
    assert 0.0 < report["compile_s"] <= report["wall_s"]
    assert all(pathlib.Path("solved", name).exists()
               for name in ("policy.npz", "curves.png", "filmstrip.png"))
