"""Implicit differentiation of iLQG solutions: accuracy, cost, and system identification
through the optimizer (lqgx.optimizers.implicit).

1. Accuracy: jax.jacrev of four summaries of an iLQG solution (cost, states, actions, policy
   gains) of the test pendulum (tests/optimizers/test_implicit.py: mass, control weight, x0 and
   torque bound as parameters), unbounded and with active bounds, against central finite
   differences of the re-solved problem and against autodiff through two dense projected-Newton
   steps on the shooting objective (jax.hessian, no Riccati pass). Errors are scaled by each
   summary's largest derivative.
2. Cost: median wall time of a jitted solve, of jitted gradients (of the cost alone: envelope, no
   extra solve; of the states: one more LQ solve; of the policy gains too), after warm-up, compile
   time apart; on the test pendulum (T = 30) and the MJX pendulum (T = 100) with its bob mass and
   joint damping as parameters.
3. Application: recover the MJX pendulum's mass and damping, 30 % off at the start, from a
   demonstrated optimal swing-up — its states only (noise 1e-3) — by Adam on
   L(θ) = mean ||x*(θ) − x_demo||², x*(θ) the iLQG solution (warm-started from the previous
   step's actions); and by DSO's system identification (lqgx.dso.sysid_cost: one-step prediction
   error) on the same demonstration, which also needs its actions.

    python benchmarks/implicit_gradients.py [--quick] [--out results/benchmarks]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optax  # noqa: E402
from mujoco import mjx  # noqa: E402

import lqgx  # noqa: E402
from lqgx.systems.catalog import load_model  # noqa: E402
from tests.optimizers.test_implicit import (  # noqa: E402
    P0,
    SETTINGS,
    make_system,
    newton_oracle,
    summary,
)

TRUE = {"log_mass": float(np.log(1.0)), "log_damping": float(np.log(0.05))}


def timed(fn, *args, repeats: int):
    """(compile + first run seconds, median seconds of ``repeats`` further runs, spread)."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return first, float(np.median(times)), [float(np.min(times)), float(np.max(times))]


# -- 1. accuracy ----------------------------------------------------------------------------------
def accuracy() -> dict:
    out = {}
    p0 = jnp.asarray(P0)
    for bounded in (False, True):
        solve = jax.jit(lambda p, b=bounded: lqgx.ilqg(make_system(p, b), **SETTINGS))
        implicit = np.asarray(jax.jit(jax.jacrev(
            lambda p, b=bounded: summary(lqgx.ilqg(make_system(p, b), **SETTINGS))))(p0))
        result = solve(p0)
        h = 1e-3
        fd = np.stack([(np.asarray(summary(solve(p0.at[i].add(h))))
                        - np.asarray(summary(solve(p0.at[i].add(-h))))) / (2 * h)
                       for i in range(4)], axis=1)
        oracle = np.asarray(jax.jacrev(newton_oracle)(p0, bounded, result.actions))
        free = int(jnp.sum(jnp.abs(result.actions) < P0[3] - 1e-9)) if bounded else None
        scale = np.max(np.abs(fd), axis=1, keepdims=True)
        out["bounded" if bounded else "unbounded"] = {
            "free_controls": free, "horizon": int(result.actions.shape[0]),
            "fd_error": np.max(np.abs(implicit - fd) / scale, axis=1).tolist(),
            "newton_error": np.max(np.abs(implicit[:3] - oracle) / scale[:3], axis=1).tolist(),
            "rows": ["cost", "states", "actions", "policy"]}
        print(f"accuracy {'bounded' if bounded else 'unbounded'}: vs FD "
              f"{np.max(out['bounded' if bounded else 'unbounded']['fd_error']):.1e}, vs Newton "
              f"{np.max(out['bounded' if bounded else 'unbounded']['newton_error']):.1e}")
    return out


# -- the MJX pendulum with parameters --------------------------------------------------------------
def mjx_pendulum(theta: dict, horizon: int) -> lqgx.System:
    """A lift of the MJX pendulum (``assets/pendulum.xml``, dt = 0.05 s, its torque limit lifted)
    whose bob mass and joint damping are exp(theta[...]): from hanging at rest to upright in
    ``horizon`` steps, running cost 0.01 qdot^2 + 0.05 u^2, final cost 50 (q - pi)^2 + 5 qdot^2.
    Unconstrained torques give a smooth optimum; the catalog's swing-up at +-3 N m is bang-bang,
    its switching times jump with the mass and the demonstration's states are not a smooth
    function of it."""
    step = mjx_step_fn()

    def cost(x, u, t):
        return 0.01 * x[1] ** 2 + 0.05 * u[0] ** 2

    def final_cost(x):
        return 50.0 * (x[0] - jnp.pi) ** 2 + 5.0 * x[1] ** 2

    return lqgx.System(lambda x, u: step(theta, x, u), cost, final_cost, jnp.zeros(2), horizon,
                       name="pendulum(theta)")


def mjx_step_fn():
    """``(theta, x, u) -> x_next``: one MJX step of the pendulum with mass and damping from θ
    (also DSO's model for its sysid cost)."""
    mj_model = load_model("pendulum")
    mj_model.actuator_ctrllimited[:] = 0  # MuJoCo would clamp ctrl to +-3 N m inside the step
    base = mjx.put_model(mj_model)
    template = mjx.make_data(base)

    def dynamics(theta, x, u):
        model = base.replace(body_mass=base.body_mass.at[1].set(jnp.exp(theta["log_mass"])),
                             dof_damping=base.dof_damping.at[0].set(jnp.exp(theta["log_damping"])))
        data = mjx.step(model, template.replace(qpos=x[:1], qvel=x[1:], ctrl=u))
        return jnp.concatenate([data.qpos, data.qvel])

    return dynamics


# -- 2. cost of a gradient ------------------------------------------------------------------------
def costs(repeats: int, horizon: int) -> dict:
    out = {}
    cases = {
        "test_pendulum_T30_bounded": (lambda p: make_system(p, True), jnp.asarray(P0),
                                      SETTINGS),
        f"mjx_pendulum_T{horizon}": (lambda th: mjx_pendulum(th, horizon),
                                     {k: jnp.asarray(v) for k, v in TRUE.items()},
                                     dict(iterations=100)),
    }
    for name, (build, params, settings) in cases.items():
        solve = jax.jit(lambda p, b=build, s=settings: lqgx.ilqg(b(p), **s).cost)
        grads = {
            "cost": jax.jit(jax.grad(lambda p, b=build, s=settings: lqgx.ilqg(b(p), **s).cost)),
            "states": jax.jit(jax.grad(
                lambda p, b=build, s=settings: jnp.sum(lqgx.ilqg(b(p), **s).states))),
            "states_and_policy": jax.jit(jax.grad(
                lambda p, b=build, s=settings: jnp.sum(lqgx.ilqg(b(p), **s).states)
                + jnp.sum(lqgx.ilqg(b(p), **s).policy.K))),
        }
        first, median, spread = timed(solve, params, repeats=repeats)
        row = {"solve": {"first_s": first, "median_s": median, "spread_s": spread}}
        for label, fn in grads.items():
            g_first, g_median, g_spread = timed(fn, params, repeats=repeats)
            row[f"grad_{label}"] = {"first_s": g_first, "median_s": g_median,
                                    "spread_s": g_spread, "relative_to_solve": g_median / median}
        out[name] = row
        print(name, {k: round(v["median_s"] * 1e3, 2) for k, v in row.items()}, "ms")
    return out


# -- 3. system identification through the optimizer ------------------------------------------------
def identification(steps: int, horizon: int, noise: float = 1e-3, offset: float = 0.3) -> dict:
    truth = {k: jnp.asarray(v) for k, v in TRUE.items()}
    demo = lqgx.ilqg(mjx_pendulum(truth, horizon), iterations=200)
    observed = demo.states + noise * jax.random.normal(jax.random.PRNGKey(0), demo.states.shape)
    start = {"log_mass": jnp.asarray(TRUE["log_mass"] + np.log(1 + offset)),
             "log_damping": jnp.asarray(TRUE["log_damping"] + np.log(1 - offset))}

    def through_optimizer(theta, warm):
        result = lqgx.ilqg(mjx_pendulum(theta, horizon), iterations=100, actions=warm)
        return jnp.mean((result.states - observed) ** 2), result.actions

    def sysid(theta):
        return lqgx.dso.sysid_cost(mjx_step_fn(), observed[None], demo.actions[None],
                                   weight=1.0 / horizon)(theta)

    out = {"demo": {"cost": float(demo.cost), "converged": bool(demo.converged),
                    "state_noise_std": noise, "horizon": horizon},
           "true": {"mass": 1.0, "damping": 0.05},
           "start": {"mass": 1.0 + offset, "damping": 0.05 * (1 - offset)}}
    for label, loss, has_aux in (("through_optimizer", through_optimizer, True),
                                 ("dso_sysid", sysid, False)):
        opt = optax.adam(optax.cosine_decay_schedule(0.05, steps, alpha=0.02))
        step_fn = jax.jit(jax.value_and_grad(loss, has_aux=has_aux))
        theta, state, warm = dict(start), opt.init(start), demo.actions * 0
        trace = []
        begin = time.perf_counter()
        for i in range(steps):
            if has_aux:
                (value, warm), grad = step_fn(theta, warm)
            else:
                value, grad = step_fn(theta)
            updates, state = opt.update(grad, state, theta)
            theta = optax.apply_updates(theta, updates)
            trace.append([float(value), float(jnp.exp(theta["log_mass"])),
                          float(jnp.exp(theta["log_damping"]))])
        wall = time.perf_counter() - begin
        mass, damping = trace[-1][1], trace[-1][2]
        out[label] = {"mass": mass, "damping": damping,
                      "mass_error": abs(mass - 1.0), "damping_relative_error": abs(damping / 0.05
                                                                                   - 1),
                      "final_loss": trace[-1][0], "steps": steps, "wall_s": wall,
                      "trace": trace}
        print(f"{label}: mass {mass:.4f}, damping {damping:.5f} "
              f"({100 * abs(damping / 0.05 - 1):.1f} % off) in {wall:.1f} s")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps")
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    args = parser.parse_args()
    repeats, steps = (3, 60) if args.quick else (10, 150)
    report = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "jax": jax.__version__, "date": time.strftime("%Y-%m-%d")},
              "accuracy": accuracy(), "cost": costs(repeats, horizon=100),
              "identification": identification(steps, horizon=40)}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "implicit_gradients.json"
    path.write_text(json.dumps(report, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
