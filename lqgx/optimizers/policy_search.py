"""Outer loop shared by GPS, SAPS and ESAPS: sample, linearize, constrained update, repeat.

Iteration i (thesis §1 / §3.4, "linearize, then optimize"):

1. draw ``samples`` rollouts of the current policy pi_i on the true system (``lqgx.rollout``):
   their mean total cost is the sample estimate of pi_i's expected cost;
2. local model: ``"autodiff"`` linearizes the dynamics (``lqgx.linearize``) and expands the cost
   (``lqgx.quadratize``) about the noise-free closed-loop rollout of pi_i's mean; ``"samples"``
   fits the dynamics to the rollouts (``lqgx.fit_dynamics``) and expands the cost about the
   sample means. The model's noise is the system's ``noise_cov`` plus ``min_noise`` * I (state-
   action bounds need non-singular state marginals);
3. ``constrained_update`` with the algorithm's ``Formulation``, warm-started with the last
   multipliers, with the bound eps scaled by a trust factor s_i (1 at the start). ESAPS's
   entropy floor is the fixed ``delta`` (eq. 5.1d) and/or, with ``entropy_drop`` d, relative
   to the current policy: H(pi_{i+1,t}) >= H(pi_{i,t}) - d (the thesis's "maintain the entropy
   of the last policy q_t", §5.1), i.e. delta_{i,t} = min(delta, d - H(pi_{i,t}));
4. safeguard: the update is rejected (pi_i and its samples kept) when it is non-finite or
   when the new policy's noise-free rollout or any of its ``samples`` rollouts on the *true*
   system is non-finite (a finite but extreme update of the local model can blow a simulator
   up). Those rollouts, drawn right after the update, are the next iteration's samples and
   linearization point, so the check costs no extra rollouts. After a
   rejection s halves, so the next (re-sampled) update is more conservative; after an acceptance
   it doubles back toward 1. History: ``accepted``, ``eps_scale``. Status 3 when some updates
   were rejected, 104 (not converged) when the last one was.

The whole loop is one jitted ``lax.scan``; ``jax.vmap`` over keys runs independent trials.
Costs are minimized (the thesis reports reward = -cost).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._pytree import all_finite, pytree_dataclass, static_field
from lqgx.linearize import linearize, quadratize
from lqgx.lq.divergence import policy_entropy
from lqgx.lq.quadratic import shift_cost, shift_final_cost
from lqgx.lq.types import LinearDynamics, LinearGaussianPolicy
from lqgx.optimizers.kl_update import Formulation, LocalProblem, UpdateOptions, constrained_update
from lqgx.result import Result
from lqgx.rollout import Rollouts, mean_rollout, sample_rollouts
from lqgx.system import System

FINISHED, FINISHED_WITH_REJECTIONS, NONFINITE_UPDATE = 2, 3, 104
LINEARIZATIONS = ("autodiff", "samples")


@pytree_dataclass
class SearchOptions:
    """Outer-loop settings (static). ``initial_std``: standard deviation of the default initial
    policy (None: 1/4 of the action range when bounded, else 1). ``min_noise``: variance added to
    the model's process noise."""

    iterations: int = static_field(default=25)
    samples: int = static_field(default=25)
    linearization: str = static_field(default="autodiff")
    initial_std: float | None = static_field(default=None)
    min_noise: float = static_field(default=1e-6)
    update: UpdateOptions = static_field(default=UpdateOptions())


def default_policy(system: System, initial_std: float | None = None) -> LinearGaussianPolicy:
    """The default initial policy: u_t ~ N(0, s^2 I), no feedback, with s = ``initial_std`` or,
    if None, 1/4 of the action range per dimension for bounded systems (1 for unbounded ones)."""
    T, n, m = system.horizon, system.state_dim, system.action_dim
    dtype = system.x0.dtype
    if initial_std is not None:
        std = jnp.full((m,), initial_std, dtype)
    elif system.action_bounds is not None:
        low, high = system.action_bounds
        std = jnp.where(jnp.isfinite(high - low), 0.25 * (high - low), 1.0).astype(dtype)
    else:
        std = jnp.ones((m,), dtype)
    cov = jnp.broadcast_to(jnp.diag(std**2), (T, m, m))
    return LinearGaussianPolicy(K=jnp.zeros((T, m, n), dtype), k=jnp.zeros((T, m), dtype),
                                cov=cov)


@pytree_dataclass
class Evaluation:
    """A policy on the true system: its noise-free closed-loop rollout (``states[T+1, n]``,
    ``actions[T, m]``) and its sampled ``rollouts``."""

    states: jax.Array
    actions: jax.Array
    rollouts: Rollouts


def evaluate(system: System, policy: LinearGaussianPolicy, key, samples: int) -> Evaluation:
    """``policy``'s noise-free rollout and ``samples`` sampled rollouts on ``system``."""
    states, actions = mean_rollout(system, policy)
    return Evaluation(states=states, actions=actions,
                      rollouts=sample_rollouts(system, policy, key, samples))


def _local_problem(system: System, policy: LinearGaussianPolicy, evaluation: Evaluation,
                   o: SearchOptions) -> LocalProblem:
    n = system.state_dim
    T = system.horizon
    if o.linearization == "autodiff":
        states, actions = evaluation.states, evaluation.actions
        dyn = linearize(system, states, actions)
    else:
        from lqgx.linearize import fit_dynamics

        rollouts = evaluation.rollouts
        states = jnp.mean(rollouts.states, axis=0)
        actions = jnp.mean(rollouts.actions, axis=0)
        dyn = fit_dynamics(rollouts.states, rollouts.actions)
    eye = jnp.eye(n, dtype=system.x0.dtype)
    dyn = LinearDynamics(A=dyn.A, B=dyn.B, c=dyn.c, cov=dyn.cov + o.min_noise * eye)
    cost, final = quadratize(system, states, actions)
    return LocalProblem(dynamics=dyn, cost=shift_cost(cost, states[:T], actions),
                        final=shift_final_cost(final, states[T]), x0_mean=system.x0,
                        x0_cov=system.x0_cov, prior=policy)


@pytree_dataclass
class _SearchState:
    """Carry of the outer loop: the current policy, its evaluation on the true system, the last
    multipliers (warm start), the trust factor on eps and whether any update was rejected."""

    policy: LinearGaussianPolicy
    evaluation: Evaluation
    log_alpha: jax.Array
    eps_scale: jax.Array
    rejected: jax.Array


def entropy_bound(delta, entropy_drop, policy: LinearGaussianPolicy):
    """This iteration's ESAPS bound on E[log pi_t] (``[T]``): the fixed ``delta`` and/or the
    relative floor ``entropy_drop`` nats below ``policy``'s entropy (None: not used)."""
    if entropy_drop is None:
        return delta
    relative = entropy_drop - policy_entropy(policy)
    return relative if delta is None else jnp.minimum(delta, relative)


@functools.partial(jax.jit, static_argnames=("form", "options"))
def _search(form: Formulation, system: System, eps, delta, entropy_drop, key,
            policy: LinearGaussianPolicy, options: SearchOptions) -> Result:
    T = system.horizon
    dtype = system.x0.dtype

    def iteration(carry: _SearchState, key):
        policy, evaluation, eps_scale = carry.policy, carry.evaluation, carry.eps_scale
        problem = _local_problem(system, policy, evaluation, options)
        upd = constrained_update(form, problem, eps_scale * eps,
                                 entropy_bound(delta, entropy_drop, policy),
                                 log_alpha_init=carry.log_alpha, options=options.update)
        # The new policy is evaluated now: its rollouts test the update on the true system and,
        # if it is accepted, are the next iteration's samples and linearization point.
        new_evaluation = evaluate(system, upd.policy, key, options.samples)
        accept = upd.ok & all_finite(new_evaluation)
        keep = lambda new, old: jax.tree_util.tree_map(  # noqa: E731
            lambda a, b: jnp.where(accept, a, b), new, old)
        next_state = _SearchState(
            policy=keep(upd.policy, policy), evaluation=keep(new_evaluation, evaluation),
            log_alpha=jnp.where(accept, jnp.log(upd.alpha), carry.log_alpha),
            eps_scale=jnp.where(accept, jnp.minimum(1.0, 2.0 * eps_scale), 0.5 * eps_scale),
            rejected=carry.rejected | ~accept)
        row = {
            "cost": jnp.mean(next_state.evaluation.rollouts.costs),  # policy after this update
            "cost_sampled": jnp.mean(evaluation.rollouts.costs),     # policy *before* it
            "cost_model": upd.expected_cost,
            "kl": jnp.max(upd.kl),
            "kl_state_action": jnp.max(upd.kl_state_action),
            "entropy": jnp.min(upd.entropy),
            "alpha": upd.alpha,
            "beta": upd.beta,
            "dual": upd.dual,
            "dual_converged": upd.converged,
            "dual_iterations": upd.iterations,
            "accepted": accept,
            "eps_scale": eps_scale,
        }
        return next_state, row

    keys = jax.random.split(key, options.iterations + 1)
    init = _SearchState(policy=policy, evaluation=evaluate(system, policy, keys[0],
                                                           options.samples),
                        log_alpha=jnp.zeros((T,), dtype), eps_scale=jnp.ones((), dtype),
                        rejected=jnp.array(False))
    last, rows = jax.lax.scan(iteration, init, keys[1:])
    policy, rejected = last.policy, last.rejected
    final_cost = jnp.mean(last.evaluation.rollouts.costs)
    history = dict(rows)
    if not form.state_action:
        history.pop("kl_state_action")
    if not form.entropy:
        history.pop("entropy")
        history.pop("beta")
    states, actions = last.evaluation.states, last.evaluation.actions
    status = jnp.where(~rows["accepted"][-1], NONFINITE_UPDATE,
                       jnp.where(rejected, FINISHED_WITH_REJECTIONS, FINISHED))
    return Result(states=states, actions=actions, policy=policy, cost=final_cost,
                  history=history, converged=status < 100,
                  iterations=jnp.asarray(options.iterations), status=status)


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_bound(value, name: str, *, positive: bool):
    """Validate eps/delta when concrete: finite (and > 0 if ``positive``)."""
    if value is None:
        raise ValueError(f"{name} is required")
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.floating) and not jnp.issubdtype(arr.dtype, jnp.integer):
        raise TypeError(f"{name} must be a number or array of numbers, got {arr.dtype}")
    if _concrete(value) and _concrete(arr):
        host = np.asarray(arr, dtype=float)
        if not np.all(np.isfinite(host)):
            raise ValueError(f"{name} must be finite, got {host}")
        if positive and not np.all(host > 0):
            raise ValueError(f"{name} must be > 0, got {host}")
    return arr


def run(form: Formulation, system: System, eps, delta, *, iterations: int, samples: int,
        policy, key, linearization: str, initial_std=None, min_noise: float = 1e-6,
        entropy_drop=None, **update_options) -> Result:
    """Validate arguments, build the options, run the jitted search (see the algorithm modules)."""
    if not isinstance(system, System):
        raise TypeError(f"system must be an lqgx.System, got {type(system).__name__}")
    for name, value in (("iterations", iterations), ("samples", samples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if linearization not in LINEARIZATIONS:
        raise ValueError(f"linearization must be one of {LINEARIZATIONS}, got {linearization!r}")
    if linearization == "samples" and samples < 2:
        raise ValueError("linearization='samples' needs samples >= 2")
    if not min_noise >= 0:
        raise ValueError(f"min_noise must be >= 0, got {min_noise!r}")
    if initial_std is not None and not initial_std > 0:
        raise ValueError(f"initial_std must be > 0, got {initial_std!r}")
    dtype = system.x0.dtype
    eps = check_bound(eps, "eps", positive=True).astype(dtype)
    T = system.horizon
    if eps.ndim not in (0, 1) or (eps.ndim == 1 and eps.shape[0] != T):
        raise ValueError(f"eps must be a scalar or have shape [T] = [{T}], got {eps.shape}")
    if delta is not None:
        delta = jnp.asarray(delta, dtype)
    if entropy_drop is not None:
        if not form.entropy:
            raise TypeError(f"entropy_drop is an ESAPS option, not {form.name.upper()}'s")
        entropy_drop = check_bound(entropy_drop, "entropy_drop", positive=False).astype(dtype)
        if entropy_drop.ndim != 0:
            raise ValueError(f"entropy_drop must be a scalar, got shape {entropy_drop.shape}")
    if key is None:
        key = jax.random.PRNGKey(0)
    if policy is None:
        policy = default_policy(system, initial_std)
    else:
        policy = validate_policy(policy, system)
    dual_fields = {"alpha_min", "alpha_max", "dual_rtol", "dual_max_iter"}
    dual_kwargs = {k.removeprefix("dual_") if k.startswith("dual_") else k: update_options.pop(k)
                   for k in list(update_options) if k in dual_fields}
    from lqgx.optimizers.dual import DualOptions

    allowed = {"method", "multiplier", "rtol", "max_outer", "max_block", "block_tol",
               "max_log_step"}
    unknown = sorted(set(update_options) - allowed)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; allowed: {sorted(allowed | dual_fields)}")
    dual = DualOptions(**dual_kwargs)
    update = UpdateOptions(dual=dual, **update_options).validate()
    options = SearchOptions(iterations=int(iterations), samples=int(samples),
                            linearization=linearization, initial_std=initial_std,
                            min_noise=float(min_noise), update=update)
    return _search(form, system, eps, delta, entropy_drop, key, policy, options).trimmed()


def validate_policy(policy, system: System) -> LinearGaussianPolicy:
    """Check a user-supplied initial policy's type and shapes."""
    if not isinstance(policy, LinearGaussianPolicy):
        raise TypeError(f"policy must be an lqgx.LinearGaussianPolicy, got {type(policy).__name__}")
    T, n, m = system.horizon, system.state_dim, system.action_dim
    shapes = {"policy.K": (policy.K, (T, m, n)), "policy.k": (policy.k, (T, m)),
              "policy.cov": (policy.cov, (T, m, m))}
    for name, (arr, shape) in shapes.items():
        if tuple(jnp.shape(arr)) != shape:
            raise ValueError(f"{name} must have shape {list(shape)}, got {list(jnp.shape(arr))}")
    dtype = system.x0.dtype
    return LinearGaussianPolicy(K=jnp.asarray(policy.K, dtype), k=jnp.asarray(policy.k, dtype),
                                cov=jnp.asarray(policy.cov, dtype))
