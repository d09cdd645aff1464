"""Every example in ``examples/`` runs, with a tiny budget, so none of them rots.

Each is loaded as a module and its ``main(argv)`` called in-process (the compiled functions are
shared with the rest of the worker's tests). What is checked is what the example claims. The MJX-
heavy ones are ``slow``: ``pytest -m slow tests/test_examples.py``.
"""

import importlib.util
import json
import math
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pendulum_ilqg_respects_the_torque_limit(capsys):
    result = load("pendulum_ilqg").main(["--limit", "2.5", "--iterations", "5", "--horizon", "30",
                                         "--no-render"])
    assert float(np.max(np.abs(result.actions))) <= 2.5 + 1e-9
    costs = np.asarray(result.history["cost"])
    assert np.isfinite(costs).all() and costs[-1] < costs[0]
    assert "largest |torque|" in capsys.readouterr().out


def test_custom_system_is_solved_by_ilqg_and_saps():
    example = load("custom_system")
    planned, learned = example.main(["--iterations", "3", "--samples", "6", "--horizon", "15"])
    zero_actions_cost = float(example.final_cost(np.zeros(3)))      # standing still: 50 |goal|^2
    assert float(planned.cost) < zero_actions_cost
    assert math.isfinite(float(learned.cost))
    assert learned.states.shape == (16, 3)


@pytest.mark.slow   # an iLQG teacher on MJX and two DDPL compiles: minutes (tests/ddpl/test_warm_start.py covers the path)
def test_ddpl_warm_start_example(tmp_path):
    warm, cold = load("ddpl_warm_start").main([
        "--steps", "64", "--out", str(tmp_path), "--config", "num_envs=4", "batch_size=8",
        "eval_every=32", "eval_episodes=2", "learning_starts=8", "demo_episodes=2", "pretrain_steps=4",
        "diffusion_steps=3"])
    assert warm["warm_start"] == "ilqg" and cold["warm_start"] is None
    assert math.isfinite(warm["teacher_return"])
    assert warm["env_steps"][-1] >= 64 and cold["env_steps"][-1] >= 64
    assert (tmp_path / "warm-ilqg" / "results.json").exists() and (tmp_path / "cold" / "curve.png").exists()


@pytest.mark.slow   # the 4-link MJX model's compile alone takes minutes on 2 cores
def test_quad_pendulum_esaps_example():
    result = load("quad_pendulum_esaps").main(["--iterations", "2", "--samples", "8", "--no-render"])
    assert np.isfinite(np.asarray(result.history["cost"])).all()
    assert np.asarray(result.history["entropy"]).shape == (2,)


@pytest.mark.slow   # GPS, SAPS and ESAPS each compile on the MJX double pendulum: minutes
def test_demo_prints_the_table_and_writes_its_files(tmp_path, capsys):
    load("demo").main(["--out", str(tmp_path), "--trials", "2", "--iterations", "2",
                       "--samples", "4"])
    out = capsys.readouterr().out
    assert "compile [s]" in out and all(name in out for name in ("gps", "saps", "esaps", "ilqg"))
    rows = json.loads((tmp_path / "results.json").read_text())["results"]
    assert all(0.0 <= row["compile_s"] <= row["wall_s"] for row in rows.values())
    assert (tmp_path / "curves.png").exists() and (tmp_path / "filmstrip.png").exists()
