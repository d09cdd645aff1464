"""Receding-horizon control (MPC) over the lqgx trajectory optimizers.

At task step ``t``, from the measured state ``x``, the controller solves the H-step problem

    min  sum_{j<H} cost(x_j, u_j, min(t + j, T - 1)) + final_cost(x_H),   x_0 = x,

with the task's own running cost read on the task's clock (clamped to its last step ``T - 1``)
and its final cost as the terminal cost. Each solve gets a fixed iteration budget and is
warm-started from the previous plan shifted by the steps elapsed since it was made (its last step
repeated): iLQG/DDP and the sampling planners (CEM, MPPI, predictive sampling; a fresh PRNG key
per replan) from the shifted nominal actions, GPS/SAPS/ESAPS from the shifted TVLG policy.
Every ``replan_every`` steps it replans; in between it applies the plan's TVLG feedback
``u = k_j + K_j x`` (the plan's step ``j`` = steps since the plan was made), clipped to the box.

``init`` and ``step`` are pure and jitted (the solver's whole loop included), so a closed loop is
one ``lax.scan`` (``closed_loop``) and runs on a GPU unchanged. The first plan (``init``) is a cold
solve with ``init_iterations``.
"""

from __future__ import annotations

import functools
import json
import pathlib
import time

import jax
import jax.numpy as jnp

from lqgx._checks import positive_int
from lqgx._pytree import pytree_dataclass
from lqgx.lq.types import LinearGaussianPolicy
from lqgx.rollout import _noise_factor
from lqgx.system import System, replace_unchecked

SAMPLING_SOLVERS = ("cem", "mppi", "predictive_sampling")  # derivative-free, need a PRNG key
ACTION_SOLVERS = ("ilqg", "ddp") + SAMPLING_SOLVERS        # warm-started from nominal actions
POLICY_SOLVERS = ("gps", "saps", "esaps")  # warm-started from a TVLG policy, sample-based
SOLVERS = ACTION_SOLVERS + POLICY_SOLVERS


@pytree_dataclass
class Plan:
    """One solve's plan over H steps: ``policy`` (TVLG ``[H]``), nominal ``actions[H, m]`` and
    the solver's predicted ``cost`` from the state it was made at."""

    policy: LinearGaussianPolicy
    actions: jax.Array
    cost: jax.Array


@pytree_dataclass
class MPCState:
    """The controller's memory: task step ``t``, the current ``plan``, the task step it was made
    at (``plan_t``) and the PRNG ``key`` of the sample-based solvers."""

    t: jax.Array
    plan: Plan
    plan_t: jax.Array
    key: jax.Array


def horizon_problem(system: System, horizon: int, t, x) -> System:
    """The H-step problem from state ``x`` at task step ``t`` (module docstring); jittable in
    ``t`` and ``x`` (no validation: the arrays may be traced). Its initial state is known
    exactly (``x0_cov = 0``); the process noise is the task's. Path constraints, if any, are
    read on the task's clock like the cost; final constraints carry over unchanged."""
    T = system.horizon
    task_cost, task_constraints = system.cost, system.constraints

    def cost(x_, u, j):
        return task_cost(x_, u, jnp.minimum(t + j, T - 1))

    def constraints(x_, u, j):
        return task_constraints(x_, u, jnp.minimum(t + j, T - 1))

    return replace_unchecked(
        system, x0=jnp.asarray(x, system.x0.dtype), x0_cov=jnp.zeros_like(system.x0_cov),
        cost=cost, horizon=horizon, constraints=None if task_constraints is None else constraints)


def _shift(tree, steps):
    """Every ``[H, ...]`` leaf advanced by ``steps`` (traced), its last entry repeated."""
    def one(a):
        H = a.shape[0]
        return a[jnp.minimum(jnp.arange(H) + steps, H - 1)]

    return jax.tree_util.tree_map(one, tree)


class MPC:
    """Receding-horizon controller over an lqgx solver (module docstring).

    Args:
        system: the task (``lqgx.System``); its dynamics are the model the planner uses.
        solver: ``"ilqg"`` (default), ``"ddp"``, the sampling planners ``"cem"``, ``"mppi"``,
            ``"predictive_sampling"`` (open-loop plans: K = 0 between replans), or the
            sample-based ``"gps"``, ``"saps"``, ``"esaps"`` (these need ``eps`` — and ESAPS
            ``delta`` or ``entropy_drop`` — in ``solver_options``; ``samples`` defaults to 16).
        horizon: planning steps H (default: the task's horizon T).
        iterations: solver iterations per replan (the fixed budget).
        init_iterations: iterations of the first, cold solve in ``init``.
        replan_every: replan every this many steps; TVLG feedback of the plan in between.
        **solver_options: passed to the solver (e.g. ``mu_init`` for iLQG, ``eps`` for GPS).

    ``mpc.init(x0, key=None) -> MPCState`` and ``mpc.step(state, x) -> (u, state)`` are pure
    and jitted.
    """

    def __init__(self, system: System, solver: str = "ilqg", *, horizon: int | None = None,
                 iterations: int = 5, init_iterations: int = 50, replan_every: int = 1,
                 **solver_options):
        if not isinstance(system, System):
            raise TypeError(f"system must be an lqgx.System, got {type(system).__name__}")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        horizon = system.horizon if horizon is None else horizon
        for name, value in (("horizon", horizon), ("iterations", iterations),
                            ("init_iterations", init_iterations),
                            ("replan_every", replan_every)):
            positive_int(value, name)
        if replan_every > horizon:
            raise ValueError(f"replan_every={replan_every} exceeds the plan's horizon={horizon}")
        if solver in POLICY_SOLVERS:
            if "eps" not in solver_options:
                raise ValueError(f"solver {solver!r} needs eps=... in the solver options")
            if solver == "esaps" and not ({"delta", "entropy_drop"} & set(solver_options)):
                raise ValueError("solver 'esaps' needs delta=... or entropy_drop=...")
            solver_options.setdefault("samples", 16)
        self.system, self.solver, self.horizon = system, solver, horizon
        self.iterations, self.init_iterations = iterations, init_iterations
        self.replan_every = replan_every
        self.solver_options = dict(solver_options)
        self.init = jax.jit(self._init)
        self.step = jax.jit(self._step)

    def __repr__(self) -> str:
        return (f"MPC({self.system!r}, solver={self.solver!r}, horizon={self.horizon}, "
                f"iterations={self.iterations}, replan_every={self.replan_every})")

    # -- solves --------------------------------------------------------------------------------
    def solve(self, problem: System, warm: Plan | None, iterations: int, key):
        """The solver's ``Result`` on ``problem`` with this controller's options, warm-started
        from ``warm`` (None: the solver's cold start)."""
        import lqgx

        options = dict(self.solver_options)
        if self.solver in ACTION_SOLVERS:
            actions = None if warm is None else warm.actions
            if self.solver in SAMPLING_SOLVERS:
                options["key"] = key   # fresh samples at every replan
            return getattr(lqgx, self.solver)(problem, iterations=iterations, actions=actions,
                                              **options)
        policy = None if warm is None else warm.policy
        eps = options.pop("eps")
        return getattr(lqgx, self.solver)(problem, eps, iterations=iterations, policy=policy,
                                          key=key, **options)

    def _plan(self, t, x, warm: Plan | None, iterations: int, key) -> Plan:
        """A plan from state ``x`` at task step ``t``."""
        result = self.solve(horizon_problem(self.system, self.horizon, t, x), warm, iterations,
                            key)
        return Plan(policy=result.policy, actions=result.actions, cost=result.cost)

    def _init(self, x0, key=None) -> MPCState:
        key = jax.random.PRNGKey(0) if key is None else key
        key, k_solve = jax.random.split(key)
        t = jnp.zeros((), jnp.int32)
        plan = self._plan(t, x0, None, self.init_iterations, k_solve)
        return MPCState(t=t, plan=plan, plan_t=t, key=key)

    def _step(self, state: MPCState, x):
        x = jnp.asarray(x, self.system.x0.dtype)
        key, k_solve = jax.random.split(state.key)
        age = state.t - state.plan_t

        def replan(_):
            warm = Plan(policy=_shift(state.plan.policy, age),
                        actions=_shift(state.plan.actions, age), cost=state.plan.cost)
            return self._plan(state.t, x, warm, self.iterations, k_solve), state.t

        def keep(_):
            return state.plan, state.plan_t

        plan, plan_t = jax.lax.cond(state.t % self.replan_every == 0, replan, keep, None)
        j = jnp.minimum(state.t - plan_t, self.horizon - 1)
        u = self.system.clip_actions(plan.policy.mean(x, j))
        return u, MPCState(t=state.t + 1, plan=plan, plan_t=plan_t, key=key)


# -- closed loop -----------------------------------------------------------------------------------
@pytree_dataclass
class ClosedLoop:
    """A simulated closed loop: ``states[S+1, n]``, ``actions[S, m]``, running ``costs[S]`` (task
    clock clamped to T − 1) and ``cost`` = their sum + the final cost of the last state."""

    states: jax.Array
    actions: jax.Array
    costs: jax.Array
    cost: jax.Array


def _simulate(system: System, init, act, key, disturbance) -> ClosedLoop:
    """The closed loop as one scan: ``init(x0, key) -> memory``, ``act(memory, x, t) -> (u,
    memory)``."""
    n, T = system.state_dim, system.horizon
    steps = disturbance.shape[0]
    k0, k_ctrl, k_noise = jax.random.split(key, 3)
    dtype = system.x0.dtype
    x0 = system.x0 + _noise_factor(system.x0_cov) @ jax.random.normal(k0, (n,), dtype)
    noise = jax.random.normal(k_noise, (steps, n), dtype) @ _noise_factor(system.noise_cov).T

    def advance(carry, inputs):
        x, memory = carry
        t, w, push = inputs
        u, memory = act(memory, x, t)
        u = system.clip_actions(u)
        cost = system.cost(x, u, jnp.minimum(t, T - 1))
        x_next = system.dynamics(x, u) + w + push
        return (x_next, memory), (x, u, cost)

    (xS, _), (xs, us, costs) = jax.lax.scan(
        advance, (x0, init(x0, k_ctrl)), (jnp.arange(steps), noise, disturbance))
    return ClosedLoop(states=jnp.concatenate([xs, xS[None]]), actions=us, costs=costs,
                      cost=jnp.sum(costs) + system.final_cost(xS))


@functools.partial(jax.jit, static_argnames=("controller",))
def _run_mpc(system, controller: MPC, key, disturbance):
    return _simulate(system, controller._init, lambda memory, x, t: controller._step(memory, x),
                     key, disturbance)


@jax.jit
def _run_policy(system, policy: LinearGaussianPolicy, key, disturbance):
    last = policy.horizon - 1
    return _simulate(system, lambda x0, key: (),
                     lambda memory, x, t: (policy.mean(x, jnp.minimum(t, last)), memory),
                     key, disturbance)


def closed_loop(system: System, controller, key, steps: int | None = None,
                disturbance=None) -> ClosedLoop:
    """Simulate ``controller`` on ``system`` for ``steps`` (default T) steps, one jitted scan.

    x_0 ~ N(x0, x0_cov); x_{s+1} = dynamics(x_s, u_s) + w_s + d_s with w_s ~ N(0, noise_cov) and
    the disturbance d_s (``[steps, n]`` array, a function ``s -> d[n]``, or None). ``controller``:
    an ``MPC``; a ``LinearGaussianPolicy`` (its mean feedback law, the TVLG alone; steps past its
    horizon use its last step); or open-loop ``actions[S, m]`` (the last repeated). Actions are
    clipped to the box. The same key gives the same noise for every controller, so costs compare
    on common random numbers.
    """
    if not isinstance(system, System):
        raise TypeError(f"system must be an lqgx.System, got {type(system).__name__}")
    steps = system.horizon if steps is None else steps
    steps = positive_int(steps, "steps")
    n = system.state_dim
    if disturbance is None:
        disturbance = jnp.zeros((steps, n), system.x0.dtype)
    elif callable(disturbance):
        disturbance = jax.vmap(disturbance)(jnp.arange(steps))
    disturbance = jnp.asarray(disturbance, system.x0.dtype)
    if disturbance.shape != (steps, n):
        raise ValueError(f"disturbance must have shape [steps, n] = [{steps}, {n}], "
                         f"got {disturbance.shape}")
    if isinstance(controller, MPC):
        return _run_mpc(system, controller, key, disturbance)
    if isinstance(controller, LinearGaussianPolicy):
        return _run_policy(system, controller, key, disturbance)
    actions = jnp.asarray(controller, system.x0.dtype)
    if actions.ndim != 2 or actions.shape[1] != system.action_dim:
        raise ValueError(f"controller must be an MPC, a LinearGaussianPolicy or open-loop actions "
                         f"[S, {system.action_dim}], got shape {actions.shape}")
    # an open-loop plan is the TVLG without feedback: u_t = k_t
    S, m, n = actions.shape[0], system.action_dim, system.state_dim
    open_loop = LinearGaussianPolicy(K=jnp.zeros((S, m, n), actions.dtype), k=actions,
                                     cov=jnp.broadcast_to(jnp.eye(m, dtype=actions.dtype), (S, m, m)))
    return _run_policy(system, open_loop, key, disturbance)


def push(system: System, steps: int, at: int, velocity) -> jax.Array:
    """A disturbance ``[steps, n]`` for ``closed_loop``: a push that adds ``velocity`` (scalar or
    ``[nv]``; rad/s or m/s) to the velocity coordinates at step ``at``, zero elsewhere. The
    velocities are ``x[nq:]`` (MJX systems: ``x = concat(qpos, qvel)``; other systems: the second
    half of the state)."""
    n = system.state_dim
    nq = getattr(system.dynamics, "nq", n // 2)
    if not 0 <= at < steps:
        raise ValueError(f"at must be in [0, steps={steps}), got {at!r}")
    d = jnp.zeros((steps, n), system.x0.dtype)
    return d.at[at, nq:].set(jnp.broadcast_to(jnp.asarray(velocity, system.x0.dtype), (n - nq,)))


def compare_controllers(mpc: MPC, key, steps: int | None = None, disturbance=None,
                        plan_iterations: int = 100) -> dict:
    """MPC in closed loop against one full-horizon solve of its task (same solver and options,
    ``plan_iterations``) used two ways — its open-loop plan and its TVLG feedback law — on the
    same noise and disturbance.

    Returns ``{"closed_loop": ClosedLoop, "open_loop": ClosedLoop, "tvlg": ClosedLoop,
    "plan_cost", "compile_s", "run_s", "control_hz"}``: ``compile_s`` is the MPC loop's first
    call minus its second, ``run_s`` the second (so ``control_hz = steps / run_s``, replans
    included)."""
    system = mpc.system
    steps = system.horizon if steps is None else steps
    plan = mpc.solve(system, None, plan_iterations, key)   # the whole task from its x0
    out = {"plan_cost": float(plan.cost)}
    out["open_loop"] = closed_loop(system, plan.actions, key, steps, disturbance)
    out["tvlg"] = closed_loop(system, plan.policy, key, steps, disturbance)
    start = time.perf_counter()
    jax.block_until_ready(closed_loop(system, mpc, key, steps, disturbance))
    first = time.perf_counter() - start
    start = time.perf_counter()
    out["closed_loop"] = jax.block_until_ready(closed_loop(system, mpc, key, steps, disturbance))
    out["run_s"] = time.perf_counter() - start
    out["compile_s"] = max(first - out["run_s"], 0.0)
    out["control_hz"] = steps / out["run_s"]
    return out


def write_report(name: str, mpc: MPC, runs: dict, out, *, disturbance: float,
                 push_step: int, wall_s: float | None = None) -> dict:
    """Write ``compare_controllers``' ``runs`` to ``out``: ``result.json`` (the keys of
    ``lqgx mpc``), ``curves.png`` and the MPC loop's ``filmstrip.png`` (+ ``.mp4``, MJX systems
    only). Returns the JSON's dict."""
    import numpy as np

    from lqgx.plots import plot_closed_loop
    from lqgx.systems.render import render

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loop = runs["closed_loop"]
    report = {"system": name, "solver": mpc.solver, "steps": int(loop.actions.shape[0]),
              "horizon": mpc.horizon, "iterations": mpc.iterations,
              "replan_every": mpc.replan_every, "disturbance": disturbance,
              "push_step": push_step, "closed_loop_cost": float(loop.cost),
              "open_loop_cost": float(runs["open_loop"].cost),
              "tvlg_cost": float(runs["tvlg"].cost), "plan_cost": runs["plan_cost"],
              "control_hz": runs["control_hz"], "compile_s": runs["compile_s"],
              "final_state": np.asarray(loop.states[-1]).tolist()}
    if wall_s is not None:
        report["wall_s"] = wall_s
    (out / "result.json").write_text(json.dumps(report, indent=2))
    model = getattr(mpc.system.dynamics, "mj_model", None)
    plot_closed_loop({"MPC": loop, "open-loop plan": runs["open_loop"],
                      "TVLG feedback": runs["tvlg"]}, out / "curves.png",
                     dt=None if model is None else float(model.opt.timestep), push_step=push_step,
                     title=f"{name}: push of {disturbance:g} at step {push_step}")
    if model is not None:
        render(mpc.system, np.asarray(loop.states), out / "filmstrip.png")
    return report
