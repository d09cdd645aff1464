"""lqgx.render: filmstrip PNGs from MuJoCo's offscreen renderer (matplotlib fallback), MP4s."""

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
    out = lqgx.render(system, states, tmp_path / "fallback.png", frames=3, width=64, height=48,
                      video=False)
    assert out["backend"] == "matplotlib"
    assert out["mp4"] is None
    _check_png(out["png"], 3)
    with pytest.raises(RuntimeError, match="offscreen rendering failed"):
        lqgx.render(system, states, tmp_path / "x.png", backend="mujoco")


def test_render_writes_an_mp4_of_every_state(tmp_path, pendulum_states):
    import imageio.v2 as imageio

    system, states = pendulum_states
    # Odd frame sizes are padded to even ones for H.264.
    out = lqgx.render(system, states, tmp_path / "clip.png", frames=2, width=65, height=49)
    assert out["mp4"] == tmp_path / "clip.mp4"
    with imageio.get_reader(str(out["mp4"])) as reader:  # len(reader) is inf for ffmpeg
        video = np.stack(list(reader.iter_data()))
    assert video.shape == (len(states), 50, 66, 3)
    # Decoded frames are not blank and the pendulum moves between the first and the last.
    assert video[0].std() > 5 and np.abs(video[0].astype(int) - video[-1]).max() > 50


def test_render_without_a_video_writer_warns_and_writes_the_png(tmp_path, pendulum_states,
                                                                monkeypatch):
    monkeypatch.setattr(rendering, "_video_writer", lambda: None)
    system, states = pendulum_states
    with pytest.warns(RuntimeWarning, match="pip install imageio imageio-ffmpeg"):
        out = lqgx.render(system, states, tmp_path / "novideo.png", frames=3, width=64,
                          height=48)
    assert out["mp4"] is None and not (tmp_path / "novideo.mp4").exists()
    _check_png(out["png"], 3)


def test_render_draws_free_joint_systems(tmp_path):
    system = systems.make("ant")
    states = np.stack([np.asarray(system.x0)] * 2)
    states[1, 0] = 0.5
    out = lqgx.render(system, states, tmp_path / "ant.png", frames=2, width=64, height=48,
                      backend="matplotlib", video=False)
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
