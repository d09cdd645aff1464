"""Outer loop shared by GPS, SAPS and ESAPS: sample, linearize, constrained update, repeat.

Iteration i (thesis §1 / §3.4, "linearize, then optimize"):

1. draw ``samples`` rollouts of the current policy pi_i on the true system (``lqgx.rollout``):
   their mean total cost is the sample estimate of pi_i's expected cost;
2. local model: ``"autodiff"`` linearizes the dynamics (``lqgx.linearize``) and expands the cost
   (``lqgx.quadratize``) about the noise-free closed-loop rollout of pi_i's mean; ``"samples"``
   fits the dynamics to the rollouts (``lqgx.fit_dynamics``) and expands the cost about the
   sample means. The fit's prior (``dynamics_prior``) is ``"gaussian"`` (default: the single
   Gaussian of this iteration's samples, ``DynamicsPrior.fit``) or ``"gmm"`` (the Gaussian
   mixture prior of Levine et al. and cbfinn/gps, ``DynamicsPrior.from_mixture``): a mixture
   fitted by EM to the transitions of the last ``prior_buffer`` sampled rollouts (a ring buffer
   in the loop's carry that every finite evaluation feeds, rejected updates' samples included:
   they are true-system data), with ``lqgx.fit.mixture_clusters`` components and
   ``prior_em_iterations`` EM steps. The prior is worth ``prior_strength`` samples per step,
   by default 1 for the single Gaussian (as before) and 10 for the mixture: a mixture component
   is much sharper than the pooled Gaussian, and at strength 1 it regularizes a fit with
   fewer samples than n + m too little (held-out likelihood on the quad pendulum,
   docs/dynamics-prior.md: mixture - single = -2.0 to -2.9 nats at strength 1 and N = 10,
   +1.2 to +1.6 at strength 10). The model's noise is the system's ``noise_cov`` plus
   ``min_noise`` * I (state-action bounds need non-singular state marginals);
3. ``constrained_update`` with the algorithm's ``Formulation``, warm-started with the last
   multipliers, with the bound eps scaled by a trust factor s_i (1 at the start). ESAPS's
   entropy floor is the fixed ``delta`` (eq. 5.1d) and/or, with ``entropy_drop`` d, relative
   to the current policy: H(pi_{i+1,t}) >= H(pi_{i,t}) - d (the thesis's "maintain the entropy
   of the last policy q_t", §5.1), i.e. delta_{i,t} = min(delta, d - H(pi_{i,t}));
4. safeguard: the update is rejected (pi_i and its samples kept) when it is non-finite or
   when the new policy's noise-free rollout or any of its ``samples`` rollouts on the *true*
   system is non-finite (a finite but extreme update of the local model can blow a simulator
   up). Those rollouts, drawn right after the update, are the next iteration's samples and
   linearization point, so the check costs no extra rollouts. With step adaptation (below) an
   update is also rejected when its sampled cost exceeds the best accepted sampled cost so far
   by more than the factor ``max_cost_rise`` (best + (max_cost_rise - 1) |best|). After a
   rejection s halves (at least), so the next (re-sampled) update is more conservative.
   Status 3 when some updates were rejected, 104 when the last update was non-finite;
5. step adaptation (opt-in, ``step_adaptation=True``; the rule of MDGPS, Montgomery & Levine
   2016, and of cbfinn/gps ``_update_step_size``, which the thesis does not use): the trust
   factor s on eps (and on ESAPS's ``entropy_drop``) follows the ratio of the improvement the
   local model predicted to the one it got. With J_i(pi) the expected cost of pi under the local
   model about pi_i (closed form),

       predicted = J_i(pi_i) - J_i(pi_{i+1}),     actual = J_i(pi_i) - J_{i+1}(pi_{i+1}),

   (J_{i+1} is the next iteration's own model, so the comparison is made there, before its
   update, at no extra linearization), and the factor becomes
   s * clip(predicted / (2 max(predicted - actual, tiny)), 0.1, 5), clipped to ``step_bounds``:
   if the cost were exactly quadratic in the step with the model's slope, this is the step that
   maximizes the actual improvement. A predicted improvement below rounding (converged) leaves s
   unchanged; a rejection by cost multiplies it by 0.1 (the rule's lower clip: a doubled sampled
   cost is a large negative actual improvement), a non-finite update halves it (neither below
   the lower bound). With ``step_adaptation=False`` (the default) eps is the thesis's fixed
   bound: s only halves after a (non-finite) rejection and doubles back toward 1 after an
   acceptance. Adaptation is not the default because on the quad pendulum it trades the fixed
   bound's mid-run blow-ups for slower progress (docs/step-adaptation.md). History:
   ``accepted``, ``eps_scale``, ``eps`` (the bound used), ``predicted_improvement``,
   ``actual_improvement`` (NaN for rejected updates, whose policy never got a model, and for the
   last update). The ``cost`` history stays the sampled one.

The whole loop is one jitted ``lax.scan``; ``jax.vmap`` over keys runs independent trials.
Costs are minimized (the thesis reports reward = -cost).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._checks import positive_int
from lqgx._pytree import all_finite, pytree_dataclass, static_field, tree_select
from lqgx.fit import DynamicsPrior, GaussianMixture, fit_dynamics, mixture_clusters, transitions
from lqgx.linearize import linearize, quadratize
from lqgx.lq.divergence import policy_entropy
from lqgx.lq.forward import propagate
from lqgx.lq.quadratic import expected_cost, shift_cost, shift_final_cost
from lqgx.lq.types import LinearDynamics, LinearGaussianPolicy
from lqgx.optimizers.kl_update import Formulation, LocalProblem, UpdateOptions, constrained_update
from lqgx.result import Result
from lqgx.rollout import Rollouts, mean_rollout, sample_rollouts
from lqgx.system import System

FINISHED, FINISHED_WITH_REJECTIONS, NONFINITE_UPDATE = 2, 3, 104
LINEARIZATIONS = ("autodiff", "samples")
DYNAMICS_PRIORS = ("gaussian", "gmm")


@pytree_dataclass
class SearchOptions:
    """Outer-loop settings (static). ``initial_std``: standard deviation of the default initial
    policy (None: 1/4 of the action range when bounded, else 1). ``min_noise``: variance added to
    the model's process noise. ``step_adaptation``, ``step_bounds`` (low, high bounds on the trust
    factor s) and ``max_cost_rise``: module docstring, items 4-5."""

    iterations: int = static_field(default=25)
    samples: int = static_field(default=25)
    linearization: str = static_field(default="autodiff")
    initial_std: float | None = static_field(default=None)
    min_noise: float = static_field(default=1e-6)
    update: UpdateOptions = static_field(default=UpdateOptions())
    step_adaptation: bool = static_field(default=False)
    step_bounds: tuple[float, float] = static_field(default=(1e-2, 1.0))
    max_cost_rise: float = static_field(default=2.0)
    dynamics_prior: str = static_field(default="gaussian")
    prior_strength: float = static_field(default=1.0)
    prior_buffer: int = static_field(default=20)
    prior_em_iterations: int = static_field(default=30)


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


@pytree_dataclass
class SampleBuffer:
    """Ring buffer of the last sampled rollouts for the mixture prior: ``states[B, T+1, n]``,
    ``actions[B, T, m]`` and ``count``, the number written so far (slot ``count % B`` is next)."""

    states: jax.Array
    actions: jax.Array
    count: jax.Array

    @staticmethod
    def empty(system: System, capacity: int) -> "SampleBuffer":
        T, n, m = system.horizon, system.state_dim, system.action_dim
        dtype = system.x0.dtype
        return SampleBuffer(states=jnp.zeros((capacity, T + 1, n), dtype),
                            actions=jnp.zeros((capacity, T, m), dtype),
                            count=jnp.zeros((), jnp.int32))

    def add(self, rollouts: Rollouts) -> "SampleBuffer":
        capacity = self.states.shape[0]
        new = min(capacity, rollouts.states.shape[0])
        slots = (self.count + jnp.arange(new)) % capacity
        return SampleBuffer(states=self.states.at[slots].set(rollouts.states[:new]),
                            actions=self.actions.at[slots].set(rollouts.actions[:new]),
                            count=self.count + new)

    def mixture(self, key, em_iterations: int) -> GaussianMixture:
        """The EM-fitted Gaussian mixture over the buffered transitions (empty slots masked)."""
        capacity, T = self.actions.shape[:2]
        filled = jnp.arange(capacity) < self.count
        return GaussianMixture.fit(transitions(self.states, self.actions),
                                   mixture_clusters(capacity * T), key=key,
                                   iterations=em_iterations, weights=jnp.repeat(filled, T))


def _local_problem(system: System, policy: LinearGaussianPolicy, evaluation: Evaluation,
                   o: SearchOptions, buffer: SampleBuffer | None = None,
                   key=None) -> LocalProblem:
    n = system.state_dim
    T = system.horizon
    if o.linearization == "autodiff":
        states, actions = evaluation.states, evaluation.actions
        dyn = linearize(system, states, actions)
    else:
        rollouts = evaluation.rollouts
        states = jnp.mean(rollouts.states, axis=0)
        actions = jnp.mean(rollouts.actions, axis=0)
        prior = None
        if o.dynamics_prior == "gmm":
            prior = DynamicsPrior.from_mixture(buffer.mixture(key, o.prior_em_iterations),
                                               rollouts.states, rollouts.actions,
                                               o.prior_strength)
        dyn = fit_dynamics(rollouts.states, rollouts.actions, prior=prior,
                           strength=o.prior_strength)
    eye = jnp.eye(n, dtype=system.x0.dtype)
    dyn = LinearDynamics(A=dyn.A, B=dyn.B, c=dyn.c, cov=dyn.cov + o.min_noise * eye)
    cost, final = quadratize(system, states, actions)
    return LocalProblem(dynamics=dyn, cost=shift_cost(cost, states[:T], actions),
                        final=shift_final_cost(final, states[T]), x0_mean=system.x0,
                        x0_cov=system.x0_cov, prior=policy)


@pytree_dataclass
class _SearchState:
    """Carry of the outer loop: the current policy and its evaluation on the true system, the last
    multipliers (warm start), the trust factor on eps, the best accepted sampled cost, whether
    any update was rejected and whether the last one was non-finite, and for step adaptation the
    last update's pending comparison: ``pending`` (it was accepted), the model cost
    J_{i-1}(pi_{i-1}) before it and its predicted improvement; with the mixture prior, the
    ``buffer`` of past samples (else None)."""

    policy: LinearGaussianPolicy
    evaluation: Evaluation
    log_alpha: jax.Array
    eps_scale: jax.Array
    best_cost: jax.Array
    rejected: jax.Array
    nonfinite: jax.Array
    pending: jax.Array
    model_cost_before: jax.Array
    predicted: jax.Array
    buffer: SampleBuffer | None = None


def entropy_bound(delta, entropy_drop, policy: LinearGaussianPolicy):
    """This iteration's ESAPS bound on E[log pi_t] (``[T]``): the fixed ``delta`` and/or the
    relative floor ``entropy_drop`` nats below ``policy``'s entropy (None: not used)."""
    if entropy_drop is None:
        return delta
    relative = entropy_drop - policy_entropy(policy)
    return relative if delta is None else jnp.minimum(delta, relative)


def model_cost(problem: LocalProblem, policy: LinearGaussianPolicy) -> jax.Array:
    """Expected total cost of ``policy`` under the local model ``problem`` (closed form)."""
    traj = propagate(problem.dynamics, policy, problem.x0_mean, problem.x0_cov)
    return jnp.sum(expected_cost(problem.cost, problem.final, traj))


def step_multiplier(predicted, actual, reference):
    """Factor on the trust region from the predicted and the actual improvement (module
    docstring, item 5); 1 when the prediction is below rounding. ``reference``: a cost that sets
    the rounding scale."""
    tiny = 1e-6 * (1.0 + jnp.abs(reference))
    ratio = predicted / (2.0 * jnp.maximum(predicted - actual, tiny))
    return jnp.where(predicted > tiny, jnp.clip(ratio, 0.1, 5.0), 1.0)


@functools.partial(jax.jit, static_argnames=("form", "options"))
def _search(form: Formulation, system: System, eps, delta, entropy_drop, key,
            policy: LinearGaussianPolicy, options: SearchOptions) -> Result:
    T = system.horizon
    dtype = system.x0.dtype
    adapt = options.step_adaptation
    low, high = options.step_bounds
    nan = jnp.full((), jnp.nan, dtype)

    gmm = options.linearization == "samples" and options.dynamics_prior == "gmm"

    def iteration(carry: _SearchState, key):
        policy, evaluation = carry.policy, carry.evaluation
        prior_key = None
        if gmm:  # only then: the default keeps its random stream (and results) unchanged
            key, prior_key = jax.random.split(key)
        problem = _local_problem(system, policy, evaluation, options, carry.buffer, prior_key)
        cost_before = model_cost(problem, policy)
        # The last update's actual improvement needs this model (about its policy): compare it
        # now, before this update's bound is set (the last update's row gets it after the scan).
        actual_last = jnp.where(carry.pending, carry.model_cost_before - cost_before, nan)
        eps_scale = carry.eps_scale
        if adapt:
            multiplier = step_multiplier(carry.predicted, actual_last, carry.model_cost_before)
            eps_scale = jnp.where(carry.pending, jnp.clip(eps_scale * multiplier, low, high),
                                  eps_scale)
        drop = entropy_drop if entropy_drop is None or not adapt else eps_scale * entropy_drop
        upd = constrained_update(form, problem, eps_scale * eps,
                                 entropy_bound(delta, drop, policy),
                                 log_alpha_init=carry.log_alpha, options=options.update)
        # The new policy is evaluated now: its rollouts test the update on the true system and,
        # if it is accepted, are the next iteration's samples and linearization point.
        new_evaluation = evaluate(system, upd.policy, key, options.samples)
        finite = upd.ok & all_finite(new_evaluation)
        sampled = jnp.mean(new_evaluation.rollouts.costs)
        if adapt:
            accept = finite
            if np.isfinite(options.max_cost_rise):
                rise = (options.max_cost_rise - 1.0) * jnp.abs(carry.best_cost)
                accept = accept & (sampled <= carry.best_cost + rise)
            # a doubled sampled cost is the rule's worst case (its 0.1 clip); non-finite: halve
            rejected_scale = jnp.maximum(jnp.where(finite, 0.1, 0.5) * eps_scale, low)
            next_scale = jnp.where(accept, eps_scale, rejected_scale)  # accepted: set next time
        else:
            accept = finite
            next_scale = jnp.where(accept, jnp.minimum(1.0, 2.0 * eps_scale), 0.5 * eps_scale)
        predicted = cost_before - upd.expected_cost
        next_state = _SearchState(
            policy=tree_select(accept, upd.policy, policy),
            evaluation=tree_select(accept, new_evaluation, evaluation),
            log_alpha=jnp.where(accept, jnp.log(upd.alpha), carry.log_alpha),
            eps_scale=next_scale, best_cost=jnp.where(accept, jnp.minimum(carry.best_cost,
                                                                          sampled),
                                                      carry.best_cost),
            rejected=carry.rejected | ~accept, nonfinite=~finite, pending=accept,
            model_cost_before=cost_before,
            predicted=predicted,
            buffer=None if not gmm else tree_select(finite, carry.buffer.add(
                new_evaluation.rollouts), carry.buffer))
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
            "eps": eps_scale * eps,
            "predicted_improvement": predicted,
            "actual_improvement_of_last": actual_last,
        }
        return next_state, row

    keys = jax.random.split(key, options.iterations + 1)
    evaluation = evaluate(system, policy, keys[0], options.samples)
    init = _SearchState(policy=policy, evaluation=evaluation, log_alpha=jnp.zeros((T,), dtype),
                        eps_scale=jnp.ones((), dtype),
                        best_cost=jnp.mean(evaluation.rollouts.costs), rejected=jnp.array(False),
                        nonfinite=jnp.array(False), pending=jnp.array(False),
                        model_cost_before=nan, predicted=nan,
                        buffer=SampleBuffer.empty(system, options.prior_buffer).add(
                            evaluation.rollouts) if gmm else None)
    last, rows = jax.lax.scan(iteration, init, keys[1:])
    policy, rejected = last.policy, last.rejected
    final_cost = jnp.mean(last.evaluation.rollouts.costs)
    history = dict(rows)
    # update i's actual improvement was measured in iteration i + 1 (NaN for rejected updates,
    # whose policy never got a model, and for the last one)
    history["actual_improvement"] = jnp.concatenate(
        [history.pop("actual_improvement_of_last")[1:], nan[None]])
    if not form.state_action:
        history.pop("kl_state_action")
    if not form.entropy:
        history.pop("entropy")
        history.pop("beta")
    states, actions = last.evaluation.states, last.evaluation.actions
    status = jnp.where(last.nonfinite, NONFINITE_UPDATE,
                       jnp.where(rejected, FINISHED_WITH_REJECTIONS, FINISHED))
    return Result(states=states, actions=actions, policy=policy, cost=final_cost,
                  history=history, converged=status < 100,
                  iterations=jnp.asarray(options.iterations), status=status)


def accepted_rises(initial_cost, costs, accepted) -> np.ndarray:
    """Host-side blow-up measure of one run: the sampled cost of each accepted update over the
    best sampled cost before it (``initial_cost``, the initial policy's, included), from the
    history's ``cost_sampled[0]``, ``cost`` and ``accepted``. With step adaptation every ratio is
    at most ``max_cost_rise``."""
    best = float(initial_cost)
    rises = []
    for cost, ok in zip(np.asarray(costs, dtype=float), np.asarray(accepted)):
        if ok:
            rises.append(cost / best)
            best = min(best, cost)
    return np.array(rises)


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


def check_step_options(step_adaptation, step_bounds, max_cost_rise) -> tuple[float, float]:
    """Validate the step-adaptation keywords; returns ``step_bounds`` as two floats."""
    if not isinstance(step_adaptation, (bool, np.bool_)):
        raise TypeError(f"step_adaptation must be True or False, got {step_adaptation!r}")
    try:
        low, high = (float(b) for b in step_bounds)
    except (TypeError, ValueError):
        raise ValueError(f"step_bounds must be two numbers (low, high), got {step_bounds!r}"
                         ) from None
    if not 0 < low <= 1 <= high < np.inf:
        raise ValueError(f"step_bounds must satisfy 0 < low <= 1 <= high < inf, "
                         f"got {step_bounds!r}")
    if isinstance(max_cost_rise, bool) or not max_cost_rise >= 1:
        raise ValueError(f"max_cost_rise must be a number >= 1 (inf: never reject by cost), "
                         f"got {max_cost_rise!r}")
    return low, high


def run(form: Formulation, system: System, eps, delta, *, iterations: int, samples: int,
        policy, key, linearization: str, initial_std=None, min_noise: float = 1e-6,
        entropy_drop=None, step_adaptation: bool = False, step_bounds=(1e-2, 1.0),
        max_cost_rise: float = 2.0, dynamics_prior: str = "gaussian",
        prior_strength: float | None = None, prior_buffer: int = 20,
        prior_em_iterations: int = 30,
        **update_options) -> Result:
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
    if dynamics_prior not in DYNAMICS_PRIORS:
        raise ValueError(f"dynamics_prior must be one of {DYNAMICS_PRIORS}, got "
                         f"{dynamics_prior!r}")
    if dynamics_prior == "gmm" and linearization != "samples":
        raise ValueError("dynamics_prior='gmm' is the prior of linearization='samples', got "
                         f"linearization={linearization!r}")
    if prior_strength is None:
        prior_strength = 10.0 if dynamics_prior == "gmm" else 1.0
    if isinstance(prior_strength, bool) or not (0 < prior_strength < np.inf):
        raise ValueError(f"prior_strength must be a number > 0, got {prior_strength!r}")
    prior_buffer = positive_int(prior_buffer, "prior_buffer")
    prior_em_iterations = positive_int(prior_em_iterations, "prior_em_iterations")
    if not min_noise >= 0:
        raise ValueError(f"min_noise must be >= 0, got {min_noise!r}")
    if initial_std is not None and not initial_std > 0:
        raise ValueError(f"initial_std must be > 0, got {initial_std!r}")
    step_bounds = check_step_options(step_adaptation, step_bounds, max_cost_rise)
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
                            min_noise=float(min_noise), update=update,
                            step_adaptation=step_adaptation, step_bounds=step_bounds,
                            max_cost_rise=float(max_cost_rise), dynamics_prior=dynamics_prior,
                            prior_strength=float(prior_strength),
                            prior_buffer=prior_buffer, prior_em_iterations=prior_em_iterations)
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
