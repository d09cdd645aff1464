"""Entropy State-Action bound Policy Search (thesis ch. 5, Alg. 5, App. C).

Cost form (the thesis maximizes reward R = -cost). SAPS plus a floor on the policy entropy
(eq. 5.1a-f):

    min_pi  sum_t E_{mu_t pi_t}[cost_t] + E_{mu_T}[final]
    s.t.    KL( mu_t pi_t || nu_t q_t ) <= eps                     for every t      (5.1c)
            E_{mu_t}[ ∫ pi_t log pi_t du ] <= delta                for every t      (5.1d)

(delta = minus the smallest allowed entropy, nats). A second multiplier beta_t joins the
temperature (eq. 5.2, 5.6):

    augmented cost   cost_t + alpha_t (-log q_t(u|x) - log nu_t(x) + log p_t(x) + 1)   (as SAPS)
    temperature      alpha_t + beta_t

The dual (eq. 5.5) is g = E[V_0] - sum_t alpha_t (eps + 1) - sum_t beta_t delta. For a linear-
Gaussian policy the entropy does not depend on the state, so with V_{t+1} fixed beta_t has a
closed form given alpha_t (``lqgx.optimizers.kl_update``); alpha_t is solved as in SAPS (Alg. 5).
As for SAPS the default ``method="newton"`` solves the update exactly (the entropy floor is one
more convex per-step constraint in moment space, with multiplier beta_t); ``"coordinate"`` and
``"block"`` are the thesis's schemes.
"""

from __future__ import annotations

from lqgx.optimizers.dual import DualOptions
from lqgx.optimizers.kl_update import (
    Formulation,
    LocalProblem,
    UpdateOptions,
    UpdateResult,
    constrained_update,
)
from lqgx.optimizers.policy_search import check_bound, run
from lqgx.optimizers.saps import augmented_cost  # eq. 5.4a = SAPS's; beta enters only tau
from lqgx.result import Result
from lqgx.system import System


def temperature(alpha, beta):
    """tau_t = alpha_t + beta_t (eq. 5.2, 5.6)."""
    return alpha + beta


ESAPS = Formulation(name="esaps", augmented_cost=augmented_cost, temperature=temperature,
                    state_action=True, entropy=True)


def esaps_update(problem: LocalProblem, eps, delta, *, log_alpha_init=None,
                 method: str = "newton", dual: DualOptions = DualOptions(),
                 **options) -> UpdateResult:
    """One ESAPS update from ``problem.prior`` (pure, jit/vmap-able); ``delta`` bounds
    E[log pi] (entropy >= -delta). Other keywords: ``UpdateOptions`` fields."""
    opts = UpdateOptions(method=method, dual=dual, **options).validate()
    return constrained_update(ESAPS, problem, eps, delta, log_alpha_init=log_alpha_init,
                              options=opts)


def esaps(system: System, eps, delta=None, *, entropy_drop=None, iterations: int = 25,
          samples: int = 25, policy=None, key=None, linearization: str = "autodiff",
          **options) -> Result:
    """ESAPS on ``system``; arguments as ``lqgx.saps`` plus the entropy floor, one or both of:

    delta: thesis eq. 5.1d, a fixed bound on E[∫ pi log pi] = minus the minimum policy entropy
        (nats; scalar or ``[T]``, finite).
    entropy_drop: a floor relative to the current policy (§5.1: "maintain ... the entropy of the
        last policy"): each update may lower every step's entropy by at most this many nats.
        With both, the higher floor holds. Under step adaptation (the default) the drop is
        scaled by the same trust factor as eps.

    History adds ``entropy`` (min_t) and ``beta`` ``[iterations, T]``."""
    if delta is None and entropy_drop is None:
        raise ValueError("esaps needs an entropy floor: delta (eq. 5.1d) and/or entropy_drop")
    if delta is not None:
        delta = check_bound(delta, "delta", positive=False)
        if delta.ndim not in (0, 1) or (delta.ndim == 1 and delta.shape[0] != system.horizon):
            raise ValueError(f"delta must be a scalar or have shape [T] = [{system.horizon}], "
                             f"got {delta.shape}")
    return run(ESAPS, system, eps, delta, iterations=iterations, samples=samples, policy=policy,
               key=key, linearization=linearization, entropy_drop=entropy_drop, **options)
