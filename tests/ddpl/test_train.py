import json
import shutil

import numpy as np
import pytest

from lqgx.ddpl.train import evaluate, train

KW = dict(steps=96, num_envs=4, batch_size=8, num_action_samples=2, hidden=(8,), diffusion_steps=3,
          buffer_size=128, learning_starts=8, eval_every=32, eval_episodes=4, progress=False)


def test_resume_continues_bit_identically(tmp_path):
    full = train("toy-game-2", "gaussian", seed=3, out=tmp_path / "a", **KW)
    train("toy-game-2", "gaussian", seed=3, out=tmp_path / "b", max_chunks=1, **KW)
    part = json.loads((tmp_path / "b" / "results.json").read_text())
    assert part["env_steps"] == [0, 32]
    kw = {k: v for k, v in KW.items() if k in ("progress",)}
    resumed = train("toy-game-2", "gaussian", seed=3, out=tmp_path / "b", resume=True, steps=96, **kw)
    assert resumed["env_steps"] == full["env_steps"] == [0, 32, 64, 96]
    assert resumed["eval_return"] == full["eval_return"]
    za, zb = np.load(tmp_path / "a" / "checkpoint.npz"), np.load(tmp_path / "b" / "checkpoint.npz")
    for k in za.files:
        if k != "meta":
            np.testing.assert_array_equal(za[k], zb[k])
    assert (tmp_path / "a" / "curve.png").exists()
    ev = evaluate(tmp_path / "a", episodes=5)
    assert ev["env_steps"] == 96 and np.isfinite(ev["return_mean"])


def test_train_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="policy"):
        train("toy-game-2", "flow", out=tmp_path)
    with pytest.raises(ValueError, match="env"):
        train("cartpole", out=tmp_path)
    with pytest.raises(ValueError, match="resume"):
        train("toy-game-2", out=tmp_path / "none", resume=True)
    with pytest.raises(ValueError, match="warm_start"):
        train("toy-game-2", warm_start="gps", out=tmp_path)


def test_env_options_are_stored_with_the_run(tmp_path):
    """``env_options`` reach ``envs.make``, are saved in the checkpoint and rebuild the same
    environment on resume and in ``load_run``; a resume with other options is refused."""
    from lqgx.ddpl.cli import parse_key_values
    from lqgx.ddpl.train import load_run

    options = parse_key_values(["horizon=10"])
    assert options == {"horizon": 10}
    kw = dict(KW, steps=40, eval_every=20, learning_starts=4)
    res = train("double-pendulum-2", "gaussian", out=tmp_path, env_options=options, max_chunks=1, **kw)
    assert res["env_options"] == {"horizon": 10} and res["env_steps"] == [0, 20]
    assert load_run(tmp_path).environment.max_steps == 10
    snapshot = tmp_path / "checkpoint-20.npz"   # load_run also takes a checkpoint file (a snapshot)
    shutil.copy(tmp_path / "checkpoint.npz", snapshot)
    with pytest.raises(ValueError, match="env_options"):
        train("double-pendulum-2", "gaussian", out=tmp_path, resume=True, env_options={"horizon": 11},
              progress=False)
    resumed = train("double-pendulum-2", "gaussian", out=tmp_path, resume=True, progress=False)
    assert resumed["env_steps"] == [0, 20, 40]
    assert int(load_run(snapshot).state.env_steps) == 20 and int(load_run(tmp_path).state.env_steps) == 40
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_key_values(["horizon"])
