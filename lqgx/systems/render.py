"""Render state trajectories of MJX-backed systems to a filmstrip PNG (and MP4 when possible).

``render(system, states, path)`` picks frames evenly along ``states[T+1, n]``, sets
``qpos = x[:nq]`` on the C model, and draws them with

1. MuJoCo's offscreen OpenGL renderer, headless: an EGL context first (needs the OS packages
   ``libegl1`` + ``libegl-mesa0``/``libgl1-mesa-dri`` on Debian), then OSMesa (``libosmesa6``),
   then GLFW when a ``DISPLAY`` exists; or, if none of these works,
2. a matplotlib drawing of the geoms (capsules, spheres, boxes, cylinders) placed by MuJoCo's
   kinematics (``mj_kinematics``), projected orthographically onto the model's first camera
   (or the x-z plane).

With ``video=True`` (the default) an MP4 of every state (real time, ``fps = 1 / dt``) is written
next to the PNG through ``imageio`` and the ffmpeg binary bundled by ``imageio-ffmpeg`` (no system
ffmpeg needed); without those packages the MP4 is skipped with a ``RuntimeWarning``.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import mujoco
import numpy as np

log = logging.getLogger(__name__)

_BACKENDS = ("auto", "mujoco", "matplotlib")


def _dynamics(system):
    dyn = getattr(system, "dynamics", None)
    if not hasattr(dyn, "mj_model"):
        raise ValueError("system must be an MJX-backed lqgx.System (lqgx.systems.make); "
                         f"got dynamics of type {type(dyn).__name__}")
    return dyn


def _gl_context(width: int, height: int):
    """An offscreen GL context, trying EGL, OSMesa, then GLFW (if a display exists)."""
    errors = []
    candidates = ["egl", "osmesa"] + (["glfw"] if os.environ.get("DISPLAY") else [])
    preferred = os.environ.get("MUJOCO_GL", "").lower()
    if preferred in candidates:
        candidates.remove(preferred)
        candidates.insert(0, preferred)
    for name in candidates:
        try:
            if name == "egl":
                from mujoco.egl import GLContext
            elif name == "osmesa":
                from mujoco.osmesa import GLContext
            else:
                from mujoco.glfw import GLContext
            ctx = GLContext(width, height)
            ctx.make_current()
            return ctx, name
        except Exception as err:  # noqa: BLE001 - any failure means "try the next backend"
            errors.append(f"{name}: {type(err).__name__}: {err}")
    raise RuntimeError("no OpenGL backend available (" + "; ".join(errors) + ")")


def _camera(model: mujoco.MjModel, data: mujoco.MjData, camera):
    cam = mujoco.MjvCamera()
    if camera is None and model.ncam > 0:
        camera = 0
    if camera is None:
        mujoco.mjv_defaultFreeCamera(model, cam)
    else:
        cam_id = camera if isinstance(camera, int) else mujoco.mj_name2id(
            model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        if not 0 <= cam_id < model.ncam:
            raise ValueError(f"camera {camera!r} not found in the model")
        cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
        cam.fixedcamid = cam_id
    return cam


def _frames_mujoco(model, qposes, width, height, camera):
    ctx, backend = _gl_context(width, height)
    try:
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        data = mujoco.MjData(model)
        scene = mujoco.MjvScene(model, maxgeom=1000)
        option = mujoco.MjvOption()
        context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, context)
        viewport = mujoco.MjrRect(0, 0, width, height)
        images = []
        for qpos in qposes:
            data.qpos[:] = qpos
            mujoco.mj_forward(model, data)
            cam = _camera(model, data, camera)
            mujoco.mjv_updateScene(model, data, option, None, cam,
                                   mujoco.mjtCatBit.mjCAT_ALL, scene)
            mujoco.mjr_render(viewport, scene, context)
            rgb = np.empty((height, width, 3), dtype=np.uint8)
            mujoco.mjr_readPixels(rgb, None, viewport, context)
            images.append(np.flipud(rgb))
        context.free()
    finally:
        ctx.free()
    return images, backend


def _projection(model, data, camera):
    """World -> image-plane map ``p -> R (p - origin)`` (rows: image x, image y)."""
    if camera is None and model.ncam > 0:
        camera = 0
    if camera is None:
        return np.array([[1.0, 0, 0], [0, 0, 1.0]]), np.zeros(3)
    cam_id = camera if isinstance(camera, int) else mujoco.mj_name2id(
        model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
    if not 0 <= cam_id < model.ncam:
        raise ValueError(f"camera {camera!r} not found in the model")
    R = data.cam_xmat[cam_id].reshape(3, 3).T  # rows: camera x, y, z axes in world frame
    return R[:2], data.cam_xpos[cam_id]


class _GeomTypes:
    """``mujoco.mjtGeom`` values as plain ints (the enum does not compare inside ``in``)."""

    mjGEOM_PLANE = int(mujoco.mjtGeom.mjGEOM_PLANE)
    mjGEOM_SPHERE = int(mujoco.mjtGeom.mjGEOM_SPHERE)
    mjGEOM_CAPSULE = int(mujoco.mjtGeom.mjGEOM_CAPSULE)
    mjGEOM_CYLINDER = int(mujoco.mjtGeom.mjGEOM_CYLINDER)
    mjGEOM_BOX = int(mujoco.mjtGeom.mjGEOM_BOX)
    mjGEOM_ELLIPSOID = int(mujoco.mjtGeom.mjGEOM_ELLIPSOID)


def _draw_geoms(ax, model, data, camera):
    from matplotlib.patches import Circle, Polygon

    proj, origin = _projection(model, data, camera)
    to2d = lambda p: proj @ (np.asarray(p) - origin)  # noqa: E731
    G = _GeomTypes
    points = []
    for g in range(model.ngeom):
        gtype, size = int(model.geom_type[g]), model.geom_size[g]
        if gtype == G.mjGEOM_PLANE or model.geom_rgba[g][3] == 0:
            continue
        pos, mat = data.geom_xpos[g], data.geom_xmat[g].reshape(3, 3)
        color = np.clip(model.geom_rgba[g][:3], 0, 1)
        if gtype == G.mjGEOM_SPHERE:
            ax.add_patch(Circle(to2d(pos), size[0], color=color))
            points += [to2d(pos) + size[0], to2d(pos) - size[0]]
        elif gtype in (G.mjGEOM_CAPSULE, G.mjGEOM_CYLINDER):
            a, b = to2d(pos - size[1] * mat[:, 2]), to2d(pos + size[1] * mat[:, 2])
            r = size[0]
            axis = b - a
            normal = np.array([-axis[1], axis[0]])
            normal = r * normal / (np.linalg.norm(normal) + 1e-12)
            ax.add_patch(Polygon([a + normal, b + normal, b - normal, a - normal], color=color))
            if gtype == G.mjGEOM_CAPSULE:
                ax.add_patch(Circle(a, r, color=color))
                ax.add_patch(Circle(b, r, color=color))
            points += [a + r, a - r, b + r, b - r]
        elif gtype in (G.mjGEOM_BOX, G.mjGEOM_ELLIPSOID):
            corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
            world = pos + (corners * size) @ mat.T
            flat = np.array([to2d(p) for p in world])
            hull = _convex_hull(flat)
            ax.add_patch(Polygon(hull, color=color))
            points += list(flat)
    return np.array(points) if points else np.zeros((1, 2))


def _convex_hull(points):
    """Monotone-chain convex hull of 2-D points (counter-clockwise)."""
    pts = sorted(map(tuple, np.round(points, 12)))
    if len(pts) <= 2:
        return np.array(pts)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def _frames_matplotlib(model, qposes, width, height, camera):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    data = mujoco.MjData(model)
    images = []
    # One common extent for all frames, so the filmstrip is comparable frame to frame.
    extents = []
    for qpos in qposes:
        data.qpos[:] = qpos
        mujoco.mj_kinematics(model, data)
        mujoco.mj_camlight(model, data)
        fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        pts = _draw_geoms(ax, model, data, camera)
        extents.append((pts.min(axis=0), pts.max(axis=0)))
        plt.close(fig)
    lo = np.min([e[0] for e in extents], axis=0)
    hi = np.max([e[1] for e in extents], axis=0)
    center, half = (lo + hi) / 2, (hi - lo) / 2 * 1.15 + 0.05
    aspect = width / height
    half = np.array([max(half[0], half[1] * aspect), max(half[1], half[0] / aspect)])
    for qpos in qposes:
        data.qpos[:] = qpos
        mujoco.mj_kinematics(model, data)
        mujoco.mj_camlight(model, data)
        fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_facecolor((0.12, 0.16, 0.22))
        _draw_geoms(ax, model, data, camera)
        ax.set_xlim(center[0] - half[0], center[0] + half[0])
        ax.set_ylim(center[1] - half[1], center[1] + half[1])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())
        images.append(rgba[..., :3].copy())
        plt.close(fig)
    return images, "matplotlib"


def _write_png(path: Path, strip: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.image

    matplotlib.image.imsave(str(path), strip)


def _video_writer():
    """``imageio.v2.get_writer`` when imageio and its bundled ffmpeg (imageio-ffmpeg) import."""
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401 - provides the ffmpeg binary imageio runs
    except ImportError:
        return None
    return imageio.get_writer


def _even(image: np.ndarray) -> np.ndarray:
    """``image[h, w, 3]`` edge-padded to even ``h`` and ``w`` (H.264 with yuv420p needs them)."""
    h, w = image.shape[:2]
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _write_mp4(get_writer, path: Path, images, fps: float) -> None:
    """Encode ``images`` (each ``[h, w, 3]`` uint8) as an H.264 MP4 at ``fps`` frames/s."""
    # imageio-ffmpeg starts ffmpeg with preexec_fn=os.setpgrp (to shield it from Ctrl-C), which
    # forces a plain fork() and JAX's "fork is incompatible with multithreaded code" warning;
    # without it the subprocess is spawned directly (Ctrl-C then also stops the encoder).
    os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")
    with get_writer(str(path), fps=fps, codec="libx264", macro_block_size=2,
                    ffmpeg_log_level="error") as writer:
        for image in images:
            writer.append_data(_even(image))


def render(system, states, path, *, frames: int = 8, width: int = 320, height: int = 240,
           camera=None, backend: str = "auto", video: bool = True) -> dict:
    """Draw ``states[T+1, n]`` (or ``[n]``) of an MJX-backed system as a filmstrip PNG.

    Args:
        system: an ``lqgx.System`` from ``lqgx.systems.make``.
        states: ``[T+1, n]`` state trajectory (``x = concat(qpos, qvel)``) or one state ``[n]``.
        path: the PNG file to write (parent directories are created).
        frames: number of frames, evenly spaced over the trajectory (first and last included).
        width, height: pixels per frame.
        camera: a camera name or index of the MJCF (default: its first camera).
        backend: ``"auto"`` (MuJoCo OpenGL, falling back to matplotlib), ``"mujoco"`` (error if
            no GL) or ``"matplotlib"``.
        video: also write ``path`` with suffix ``.mp4`` (every state, real time) when imageio
            and imageio-ffmpeg are installed; otherwise warn and skip it.

    Returns:
        ``{"png": Path, "mp4": Path | None, "backend": "egl" | "osmesa" | "glfw" | "matplotlib",
        "frames": [indices]}``.
    """
    dyn = _dynamics(system)
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    states = np.asarray(states, dtype=np.float64)
    if states.ndim == 1:
        states = states[None]
    if states.ndim != 2 or states.shape[1] != dyn.state_dim:
        raise ValueError(f"states must have shape [T+1, {dyn.state_dim}] or [{dyn.state_dim}], "
                         f"got {states.shape}")
    if not np.all(np.isfinite(states)):
        raise ValueError("states must be finite")
    if not isinstance(frames, (int, np.integer)) or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    if width < 16 or height < 16:
        raise ValueError(f"width and height must be >= 16 pixels, got {width}x{height}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    index = np.unique(np.round(np.linspace(0, len(states) - 1, frames)).astype(int))
    model = dyn.mj_model
    qposes = states[:, : dyn.nq]

    get_writer = _video_writer() if video else None
    if video and get_writer is None:
        warnings.warn("lqgx.render: MP4 skipped, no video writer; install it with "
                      "`pip install imageio imageio-ffmpeg` (or pass video=False)",
                      RuntimeWarning, stacklevel=2)
    video = get_writer is not None and len(states) > 1
    drawn = qposes if video else qposes[index]
    images = None
    if backend in ("auto", "mujoco"):
        try:
            images, used = _frames_mujoco(model, drawn, width, height, camera)
        except Exception as err:  # noqa: BLE001 - any GL failure means "fall back"
            if backend == "mujoco":
                raise RuntimeError(f"MuJoCo offscreen rendering failed: {err}") from err
            log.info("MuJoCo offscreen rendering unavailable (%s); using matplotlib", err)
    if images is None:
        images, used = _frames_matplotlib(model, drawn, width, height, camera)
    strip_images = [images[i] for i in index] if video else images
    sep = np.full((height, 4, 3), 255, dtype=np.uint8)
    strip = np.concatenate(sum(([im, sep] for im in strip_images), [])[:-1], axis=1)
    _write_png(path, strip)
    mp4 = None
    if video:
        mp4 = path.with_suffix(".mp4")
        _write_mp4(get_writer, mp4, images, fps=1.0 / dyn.dt)
    return {"png": path, "mp4": mp4, "backend": used, "frames": index.tolist()}
