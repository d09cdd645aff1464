"""lqgx.render: filmstrip PNGs from MuJoCo's offscreen renderer, with a matplotlib fallback."""

import matplotlib.image
import numpy as np
import pytest

import lqgx
from lqgx import systems
from lqgx.systems import render as rendering


@pytest.fixture(scope="module")
def pendulum_states():
    system = systems.make("pendulum", horizon=4)
    states = np.zeros((5, 2))
    states[:, 0] = np.linspace(0.0, np.pi, 5)
    return system, states


def _check_png(path, frames, width=64, height=48):
    image = matplotlib.image.imread(str(path))
    assert image.shape[0] == height
    assert image.shape[1] == frames * width + (frames - 1) * 4
    # Frames differ (the pendulum moves) and are not blank.
    first, last = image[:, :width], image[:, -width:]
    assert np.std(first) > 0.01 and np.abs(first - last).max() > 0.1


def test_render_writes_a_filmstrip_png(tmp_path, pendulum_states):
    system, states = pendulum_states
    out = lqgx.render(system, states, tmp_path / "strip.png", frames=3, width=64, height=48,
                      video=False)
    assert out["png"].exists()
    assert out["backend"] in ("egl", "osmesa", "glfw", "matplotlib")
    assert out["frames"] == [0, 2, 4]
    _check_png(out["png"], 3)


def test_render_falls_back_to_matplotlib_without_gl(tmp_path, pendulum_states, monkeypatch):
    def no_gl(*args, **kwargs):
        raise RuntimeError("no OpenGL backend available (test)")

    monkeypatch.setattr(rendering, "_gl_context", no_gl)
    system, states = pendulum_states
    out = lqgx.render(system, states, tmp_path / "fallback.png", frames=3, width=64, height=48)
    assert out["backend"] == "matplotlib"
    assert out["mp4"] is None
    _check_png(out["png"], 3)
    with pytest.raises(RuntimeError, match="offscreen rendering failed"):
        lqgx.render(system, states, tmp_path / "x.png", backend="mujoco")


def test_render_draws_free_joint_systems(tmp_path):
    system = systems.make("ant")
    states = np.stack([np.asarray(system.x0)] * 2)
    states[1, 0] = 0.5
    out = lqgx.render(system, states, tmp_path / "ant.png", frames=2, width=64, height=48,
                      backend="matplotlib")
    assert out["png"].exists()


@pytest.mark.parametrize("kwargs, match", [
    ({"states": np.zeros((3, 5))}, "states must have shape"),
    ({"states": np.full((3, 2), np.nan)}, "finite"),
    ({"frames": 0}, "frames"),
    ({"backend": "opengl"}, "backend"),
])
def test_bad_render_arguments_raise_value_error(tmp_path, pendulum_states, kwargs, match):
    system, states = pendulum_states
    args = {"states": states, **kwargs}
    with pytest.raises(ValueError, match=match):
        lqgx.render(system, args.pop("states"), tmp_path / "bad.png", **args)


def test_render_rejects_plain_jax_systems(tmp_path):
    import jax.numpy as jnp

    plain = lqgx.System(lambda x, u: x + u, lambda x, u, t: x @ x, lambda x: x @ x,
                        jnp.zeros(1), 2)
    with pytest.raises(ValueError, match="MJX-backed"):
        lqgx.render(plain, np.zeros((3, 1)), tmp_path / "p.png")
