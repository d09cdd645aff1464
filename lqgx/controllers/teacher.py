"""Teachers: TVLG controllers from lqgx's trajectory optimizers acting for the agents of a
cooperative control environment (``lqgx.ddpl.envs.control.ControlEnv``).

``make_teacher(env, algo, key, **solver_options)`` (public as ``lqgx.ddpl.teacher``) solves the
environment's single-agent ``System`` and wraps the resulting time-varying linear-Gaussian policy
u_t ~ N(k_t + K_t x, Σ_t) so that it acts in the environment:

* ``"ilqg"``: iLQG from ``starts`` initial states x0^(j) ~ N(x0, x0_cov) in one vmapped solve
  (``lqgx.solve_batch``); every solution's controller u = ū_t + K_t (x − x̄_t) is evaluated on the
  environment and the best one is kept. iLQG's own covariance Q_uu⁻¹ belongs to its LQ
  subproblem and is no exploration noise (≈ 100 N² m² on the double pendulum, R = 0.01), so an
  iLQG teacher acts with Σ_t = diag((exploration · half_range)²) instead;
* ``"gps"`` / ``"esaps"``: the stochastic TVLG policy of GPS (thesis Alg. 1, §3) / ESAPS (§5)
  with its own covariance, to which ``exploration`` adds independent noise (default 0).

The teacher acts on a *teacher state* z = ``env.teacher_state(state, env_state)``: what a
TVLG controller needs, the plant's state x and the step t (``env.system_state(z) -> (x, t)``),
beside the global state ``env.state_of(z)`` that the learner observes. For the control
environments z is the global state itself ([x / scale, t / T]); the MaMuJoCo robots' global state
(Gymnasium's observation) lacks the torso's x, y and the step, which z appends.

``teacher.act(key, z, t)`` samples u ~ policy(x, t), clips it into the action box and returns
``actions[n, d]`` in the environment's action units, each agent its slice
(``env.agent_actions``). ``evaluated_return`` is the mean
undiscounted return of ``act`` on the environment (the behaviour a student clones);
``mean_return`` the same for the noise-free mean controller.

Solves run in float64 when the system can be rebuilt in it (``ControlEnv.make_system``), whatever
the environment's dtype; the policy is then cast to the environment's dtype.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._checks import positive_int
from lqgx.lq.types import LinearGaussianPolicy, cholesky
from lqgx.result import Result
from lqgx.rollout import _noise_factor

ALGORITHMS = ("ilqg", "gps", "esaps")

# Solver settings per environment: the thesis benchmarks' best settings (GPS eps; ESAPS eps and
# an entropy floor ``entropy_drop0`` nats below the initial policy's entropy, see
# examples/demo.py and benchmarks/thesis_*.py). ``exploration`` is in normalized action units.
DEFAULTS = {
    "double-pendulum-2": {
        "ilqg": dict(iterations=100, starts=4, exploration=0.1),
        "gps": dict(eps=0.1, iterations=25, samples=25, exploration=0.0),
        "esaps": dict(eps=4.0, entropy_drop0=8.0, iterations=25, samples=25, exploration=0.0),
    },
    "quad-pendulum-4": {
        # one start: the vmapped 4-start solve of the RK4 quad compiles for ~10 min on 2 cores
        "ilqg": dict(iterations=100, starts=1, exploration=0.05),
        "gps": dict(eps=0.5, iterations=12, samples=100, initial_std=2.0, exploration=0.0),
        "esaps": dict(eps=32.0, entropy_drop0=12.0, iterations=25, samples=100, initial_std=2.0,
                      exploration=0.0),
    },
    # MaMuJoCo Ant (float32; ant_v5's walking cost over the system's horizon, 40 steps = 2 s):
    # one start, since the MJX linearization dominates (5.3 s per iLQG iteration on one core),
    # and 15 iterations: the cost reaches -10.10 by iteration 9 and -10.13 by 30
    # (docs/mamujoco.md, "Warm start on ant-2x4").
    **{name: {"ilqg": dict(iterations=15, starts=1, exploration=0.1)}
       for name in ("ant-2x4", "ant-4x2", "ant-8x1")},
}
_GENERIC = {
    "ilqg": dict(iterations=100, starts=4, exploration=0.1),
    "gps": dict(eps=0.1, iterations=25, samples=25, exploration=0.0),
    "esaps": dict(eps=4.0, entropy_drop0=8.0, iterations=25, samples=25, exploration=0.0),
}
_TEACHER_KEYS = ("exploration", "starts", "eval_episodes")


def teacher_actions(env, policy: LinearGaussianPolicy, key, state):
    """actions[n, d]: u ~ ``policy`` at the system state and step of the teacher state
    ``state`` (module docstring), clipped, in the env's action units (pure; jit/vmap-able;
    ``policy`` in system units)."""
    x, t = env.system_state(state)
    t = jnp.clip(t, 0, policy.horizon - 1)
    x = x.astype(policy.k.dtype)
    u = policy.mean(x, t) + cholesky(policy.cov[t]) @ jax.random.normal(
        key, policy.k.shape[-1:], policy.k.dtype)
    return env.from_system_action(env.system.clip_actions(u.astype(env.system.x0.dtype)))


def teacher_moments(env, policy: LinearGaussianPolicy, state):
    """The teacher's per-agent action law before clipping at the teacher state ``state``, in the
    env's action units: (mean[n, d], cov[n, d, d]) (each agent its marginal)."""
    x, t = env.system_state(state)
    t = jnp.clip(t, 0, policy.horizon - 1)
    dtype = env.system.x0.dtype
    mean = policy.mean(x.astype(policy.k.dtype), t).astype(dtype)
    return env.from_system_moments(mean, policy.cov[t].astype(dtype))


def mean_actions(env, policy: LinearGaussianPolicy, state):
    """The noise-free actions[n, d] of ``policy`` at the teacher state ``state``."""
    x, t = env.system_state(state)
    t = jnp.clip(t, 0, policy.horizon - 1)
    u = policy.mean(x.astype(policy.k.dtype), t).astype(env.system.x0.dtype)
    return env.from_system_action(env.system.clip_actions(u))


@dataclasses.dataclass(frozen=True, eq=False)
class Teacher:
    """A solved TVLG controller acting for the agents of ``env`` (module docstring).

    Fields: ``env``, ``algo``, ``policy`` (``LinearGaussianPolicy`` in system units, the env's
    dtype; its ``cov`` is the action noise ``act`` uses), ``evaluated_return`` / ``mean_return``
    (floats, mean episode return of ``act`` / of the noise-free mean), ``result`` (the solver's
    ``Result``, float64 when solved in it), ``solve_s`` (wall time incl. compilation),
    ``solver_env_steps`` (transitions of the true system the solver sampled: GPS/ESAPS
    iterations × samples × T; 0 for model-based iLQG), ``options`` (the settings used).
    """

    env: object
    algo: str
    policy: LinearGaussianPolicy
    evaluated_return: float
    mean_return: float
    result: Result | None
    solve_s: float
    solver_env_steps: int
    options: dict

    def act(self, key, state, t=None):
        """actions[n, d] at the teacher state ``state`` (``t`` overrides the step read from it;
        control environments only)."""
        if t is not None:
            if not hasattr(self.env, "make_state"):
                raise ValueError(f"t: {self.env.name} reads the step from the teacher state; "
                                 f"pass t=None")
            x, _ = self.env.system_state(state)
            state = self.env.make_state(x, jnp.asarray(t))
        return teacher_actions(self.env, self.policy, key, state)

    def mean_act(self, state):
        return mean_actions(self.env, self.policy, state)

    def summary(self) -> dict:
        return {"algo": self.algo, "evaluated_return": self.evaluated_return,
                "mean_return": self.mean_return, "solve_s": self.solve_s,
                "solver_env_steps": self.solver_env_steps,
                "solver_cost": None if self.result is None else float(np.mean(self.result.cost)),
                "options": {k: v for k, v in self.options.items()}}


def evaluate_teacher(env, policy: LinearGaussianPolicy, key, episodes: int, noise: bool = True):
    """(mean, per-episode returns) of ``policy`` acting on ``env`` over ``episodes`` episodes
    (``noise=False``: the mean controller). ``policy`` may carry a leading batch axis of
    candidates; then both outputs gain it. Compiled once per (env, episodes, noise)."""
    batched = policy.k.ndim == 3
    fn = _evaluator(env, int(episodes), bool(noise), batched)
    mean, returns = fn(policy, key)
    return (np.asarray(mean) if batched else float(mean)), np.asarray(returns)


@functools.lru_cache(maxsize=16)
def _evaluator(env, episodes: int, noise: bool, batched: bool):
    from lqgx.ddpl.envs.base import rollout_episode_returns

    def run(policy, key):
        def act(k, s, es):
            z = env.teacher_state(s, es)
            return teacher_actions(env, policy, k, z) if noise else mean_actions(env, policy, z)

        return rollout_episode_returns(env, act, key, episodes, with_env_state=True)

    return jax.jit(jax.vmap(run, in_axes=(0, None)) if batched else run)


def _exploration_cov(env, exploration: float, dtype):
    low, high = env.system.action_bounds
    half = 0.5 * (np.asarray(high, np.float64) - np.asarray(low, np.float64))
    return jnp.asarray(np.diag((exploration * half) ** 2), dtype)


def _solve_ilqg(system, key, iterations: int, starts: int, **options):
    import lqgx

    chol = _noise_factor(system.x0_cov)          # exactly zero for a deterministic start
    x0s = system.x0 + jax.random.normal(key, (starts, system.state_dim), system.x0.dtype) @ chol.T
    return lqgx.solve_batch(lqgx.ilqg, system, x0s, iterations=iterations, **options)


def _solve_policy_search(algo, system, key, options):
    import lqgx
    from lqgx.lq.divergence import policy_entropy
    from lqgx.optimizers.policy_search import default_policy

    options = dict(options)
    eps = options.pop("eps")
    if algo == "gps":
        return lqgx.gps(system, eps, key=key, **options)
    drop0 = options.pop("entropy_drop0", None)
    delta = options.pop("delta", None)
    if delta is None and drop0 is not None:
        h0 = policy_entropy(default_policy(system, options.get("initial_std")))
        delta = -(h0[0] - drop0)
    return lqgx.esaps(system, eps, delta, key=key, **options)


def make_teacher(env, algo: str = "ilqg", key=None, *, eval_episodes: int = 64,
                 **solver_options) -> Teacher:
    """Solve ``env``'s system with ``algo`` and return the ``Teacher`` (module docstring).

    Args:
      env: a ``ControlEnv`` (``lqgx.ddpl.envs.make("double-pendulum-2")``, ...).
      algo: "ilqg", "gps" or "esaps".
      key: PRNG key (initial states, GPS/ESAPS samples, evaluation); default ``PRNGKey(0)``.
      eval_episodes: episodes for ``evaluated_return`` / ``mean_return``.
      **solver_options: override ``DEFAULTS[env.name][algo]``: ``exploration`` (extra action noise
        std, normalized units), ``starts`` (iLQG initial states), ``entropy_drop0`` (ESAPS floor
        below the initial entropy, nats) and the solver's own keywords (``iterations``, ``eps``,
        ``samples``, ``delta``, ``initial_std``, ...).
    """
    if algo not in ALGORITHMS:
        raise ValueError(f"algo must be one of {ALGORITHMS}, got {algo!r}")
    for attr in ("system", "agent_actions", "teacher_state", "system_state", "from_system_action"):
        if not hasattr(env, attr):
            raise TypeError(f"env must be an environment over an lqgx.System (control or MaMuJoCo; it has "
                            f"no {attr!r}); got {type(env).__name__}")
    positive_int(eval_episodes, "eval_episodes")
    key = jax.random.PRNGKey(0) if key is None else key
    options = dict(DEFAULTS.get(env.name, {}).get(algo, _GENERIC[algo]))
    options.update(solver_options)
    exploration = float(options.pop("exploration"))
    if not exploration >= 0:
        raise ValueError(f"exploration must be >= 0, got {exploration!r}")
    starts = int(options.pop("starts", 1))
    if starts < 1:
        raise ValueError(f"starts must be >= 1, got {starts}")
    k_solve, k_eval = jax.random.split(key)
    dtype = env.system.x0.dtype
    start = time.perf_counter()
    x64 = getattr(env, "make_system", None) is not None
    with jax.enable_x64(True) if x64 else contextlib.nullcontext():
        system = env.make_system(jnp.float64) if x64 else env.system
        if algo == "ilqg":
            result = _solve_ilqg(system, k_solve, starts=starts, **options)
            jax.block_until_ready(result.cost)
            candidates = [jax.tree.map(lambda a, j=j: np.asarray(a[j]), result.policy)
                          for j in range(starts)]
            solver_env_steps = 0
        else:
            result = _solve_policy_search(algo, system, k_solve, options)
            jax.block_until_ready(result.cost)
            candidates = [jax.tree.map(np.asarray, result.policy)]
            solver_env_steps = int(result.iterations + 1) * int(options.get("samples", 25)) \
                * system.horizon
        result = jax.tree.map(np.asarray, result)
    solve_s = time.perf_counter() - start
    extra = _exploration_cov(env, exploration, dtype)

    def cast(p):
        cov = jnp.asarray(p.cov, dtype) if algo != "ilqg" else jnp.zeros(p.cov.shape, dtype)
        return LinearGaussianPolicy(K=jnp.asarray(p.K, dtype), k=jnp.asarray(p.k, dtype),
                                    cov=cov + extra)

    candidates = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[cast(c) for c in candidates])
    returns, _ = evaluate_teacher(env, candidates, k_eval, eval_episodes)
    best = int(np.argmax(returns))
    policy = jax.tree.map(lambda a: a[best], candidates)
    best_return = float(returns[best])
    mean_return, _ = evaluate_teacher(env, policy, k_eval, eval_episodes, noise=False)
    options.update(exploration=exploration, starts=starts, eval_episodes=eval_episodes)
    return Teacher(env=env, algo=algo, policy=policy, evaluated_return=best_return,
                   mean_return=mean_return, result=result, solve_s=solve_s,
                   solver_env_steps=solver_env_steps, options=options)


def save_teacher(path, teacher: Teacher):
    """Write the teacher's policy and summary to ``path`` (npz, atomic)."""
    import json
    import os

    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, K=np.asarray(teacher.policy.K), k=np.asarray(teacher.policy.k),
                 cov=np.asarray(teacher.policy.cov),
                 meta=np.frombuffer(json.dumps(teacher.summary()).encode(), np.uint8))
    os.replace(tmp, path)


def load_teacher(path, env) -> Teacher:
    """The ``Teacher`` saved by ``save_teacher`` (without the solver's ``Result``)."""
    import json

    dtype = env.system.x0.dtype
    with np.load(path) as z:
        policy = LinearGaussianPolicy(K=jnp.asarray(z["K"], dtype), k=jnp.asarray(z["k"], dtype),
                                      cov=jnp.asarray(z["cov"], dtype))
        meta = json.loads(bytes(z["meta"]).decode())
    want = (env.system.horizon, env.system.action_dim, env.system.state_dim)
    if policy.K.shape != want:
        raise ValueError(f"teacher: {path} holds gains K{list(policy.K.shape)} but {env.name}'s system "
                         f"needs [T, m, n] = {list(want)} (another horizon or environment)")
    return Teacher(env=env, algo=meta["algo"], policy=policy,
                   evaluated_return=meta["evaluated_return"], mean_return=meta["mean_return"],
                   result=None, solve_s=meta["solve_s"],
                   solver_env_steps=meta["solver_env_steps"], options=meta["options"])
