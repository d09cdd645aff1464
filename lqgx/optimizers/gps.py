"""Guided Policy Search as a KL-constrained LQG update (thesis ch. 3, Alg. 1, App. A).

Cost form (the thesis maximizes reward R = -cost). Given the previous policy q_t(u|x), each
iteration solves on the local linear-Gaussian model (eq. 3.3a-e)

    min_pi  sum_t E_{mu_t pi_t}[cost_t] + E_{mu_T}[final]
    s.t.    E_{mu_t}[ KL(pi_t(.|x) || q_t(.|x)) ] <= eps          for every t      (3.3c)

The dual (eq. 3.5, 3.8) has one multiplier alpha_t >= 0 per step; the optimal policy is the
normalized exponential of the augmented Q-function (eq. 3.4, 3.9-3.11), in cost form

    augmented cost   cost_t(x, u) + alpha_t (-log q_t(u|x))          (eq. 3.10/3.11)
    temperature      alpha_t                                        pi_t ∝ exp(-Q_t / alpha_t)

with V_t the soft minimum (eq. 3.7a) and mu_t the forward pass (eq. 3.7b). dg/dalpha_t =
E_mu KL_t - eps (eq. 3.6c). The multipliers are solved by ``lqgx.optimizers.dual`` (Newton/
bisection in log alpha per step) instead of Alg. 1's gradient steps. ``multiplier="single"``
is the Levine & Abbeel (2014) variant: one alpha bounding the trajectory KL sum_t KL_t <= eps.
"""

from __future__ import annotations

from lqgx.optimizers.kl_update import (
    Formulation,
    LocalProblem,
    UpdateOptions,
    UpdateResult,
    constrained_update,
    policy_part,
)
from lqgx.optimizers.dual import DualOptions
from lqgx.optimizers.policy_search import run
from lqgx.result import Result
from lqgx.system import System


def augmented_cost(prep, alpha, beta, p_mean, p_cov):
    """cost + alpha (-log q(u|x)) (eq. 3.10/3.11 in cost form)."""
    return policy_part(prep, alpha)


def temperature(alpha, beta):
    """tau_t = alpha_t (eq. 3.4)."""
    return alpha


GPS = Formulation(name="gps", augmented_cost=augmented_cost, temperature=temperature)


def gps_update(problem: LocalProblem, eps, *, log_alpha_init=None, method: str = "coordinate",
               multiplier: str = "per_step", dual: DualOptions = DualOptions(),
               **options) -> UpdateResult:
    """One GPS update from ``problem.prior`` (pure, jit/vmap-able over ``problem``/``eps``).

    ``eps``: scalar or ``[T]`` bound (for ``multiplier="single"`` the bound on the summed KL).
    Other keywords: ``UpdateOptions`` fields. Returns ``UpdateResult``.
    """
    opts = UpdateOptions(method=method, multiplier=multiplier, dual=dual, **options).validate()
    return constrained_update(GPS, problem, eps, log_alpha_init=log_alpha_init, options=opts)


def gps(system: System, eps, *, iterations: int = 25, samples: int = 25, policy=None, key=None,
        linearization: str = "autodiff", **options) -> Result:
    """Guided Policy Search on ``system`` (module docstring; outer loop in
    ``lqgx.optimizers.policy_search``).

    Args:
        system: ``lqgx.System``.
        eps: per-step KL bound (nats), > 0, scalar or ``[T]``.
        iterations: outer iterations (sample, linearize, update).
        samples: rollouts per iteration (cost estimate; the fit for ``"samples"``).
        policy: initial ``LinearGaussianPolicy`` q (default ``default_policy``: zero mean, no
            feedback, std 1/4 of the action range, or 1 if unbounded).
        key: PRNG key (default ``PRNGKey(0)``); ``jax.vmap`` over keys runs trials in one call.
        linearization: ``"autodiff"`` or ``"samples"``.
        **options: ``initial_std``, ``min_noise``, ``step_adaptation`` (default False: the
            thesis's fixed eps; True: the trust region on eps follows predicted vs actual
            improvement, and updates whose sampled cost rises above ``max_cost_rise`` (2) times
            the best so far are rejected), ``step_bounds`` (bounds on eps's factor, (0.01, 1)),
            with ``"samples"``: ``dynamics_prior`` (``"gaussian"`` or ``"gmm"``),
            ``prior_strength`` (default 1 / 10), ``prior_buffer`` (rollouts the mixture is
            fitted on, 20), ``prior_em_iterations`` (30),
            ``method``, ``multiplier``, ``rtol``, ``max_outer``, ``alpha_min``, ``alpha_max``,
            ``dual_rtol``, ``dual_max_iter``.

    Returns:
        ``Result``; history: ``cost`` (sample estimate after each update), ``cost_model``,
        ``cost_sampled`` (before each update), ``kl`` (max_t policy KL of each step), ``alpha``
        ``[iterations, T]``, ``dual``, ``dual_converged``, ``dual_iterations``, ``accepted``,
        ``eps_scale``, ``eps`` (the bound used), ``predicted_improvement`` and
        ``actual_improvement`` (of the local models; ``lqgx.optimizers.policy_search``, item 5).
    """
    return run(GPS, system, eps, None, iterations=iterations, samples=samples, policy=policy,
               key=key, linearization=linearization, **options)
