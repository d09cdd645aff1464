"""§5 applications at small size (the example scripts in ``examples/dso_*.py``).

The MJX-backed ones compile MuJoCo steps inside DSO's jitted estimators (minutes on a loaded
2-core machine), so they are ``slow``; run with ``pytest -m slow tests/dso``.
"""

import importlib.util
import math
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name):
    import sys
    sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_mechanism_design_moves_the_link_toward_the_target(tmp_path, monkeypatch):
    module = load("dso_mechanism_design")
    monkeypatch.setattr(module.common, "RESULTS", tmp_path)
    result = module.run(iterations=15, rollouts=64, horizon=20, plot=False)
    joint = result["runs"]["joint"]
    assert joint["final_length"] > 1.0            # target at 1.43 m: the design grows
    assert joint["final_length"] < math.exp(4 * module.PRIOR_STD)
    assert all(np.isfinite(joint["cost"]))


@pytest.mark.slow
def test_sysid_recovers_mass_and_damping_within_2_percent(tmp_path, monkeypatch):
    module = load("dso_sysid")
    monkeypatch.setattr(module.common, "RESULTS", tmp_path)
    result = module.run(rollouts=8, horizon=40, iterations=200, plot=False)
    assert result["relative_error"]["mass"] < 0.02
    assert result["relative_error"]["damping"] < 0.02


@pytest.mark.slow
def test_chain_and_gradient_both_improve_mlp_pendulum_policy(tmp_path, monkeypatch):
    module = load("dso_policy_optimization")
    monkeypatch.setattr(module.common, "RESULTS", tmp_path)
    result = module.run(iterations=8, rollouts=64, horizon=40, plot=False)
    for method in ("chain", "gradient"):
        cost = np.asarray(result["methods"][method]["cost"])
        assert cost[-1] < cost[0]


@pytest.mark.slow
def test_seeding_from_ilqg_runs(tmp_path, monkeypatch):
    module = load("dso_seeding")
    monkeypatch.setattr(module.common, "RESULTS", tmp_path)
    result = module.run(iterations=5, rollouts=64, horizon=60, demo_rollouts=8, plot=False)
    assert set(result["runs"]) == {"seeded", "unseeded"}
    seeded = np.asarray(result["runs"]["seeded"]["clone_cost"])
    assert seeded[-1] < seeded[0]                 # the clone term is being minimized
