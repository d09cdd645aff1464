"""State-Action bound Policy Search (thesis ch. 4, Alg. 2-4, App. B).

Cost form (the thesis maximizes reward R = -cost). The GPS problem with the policy bound replaced
by a bound on the state-action distribution against the last one, q_t(s, a) = nu_t(s) q_t(a|s)
(eq. 4.1a-e):

    min_pi  sum_t E_{mu_t pi_t}[cost_t] + E_{mu_T}[final]
    s.t.    KL( mu_t pi_t || nu_t q_t ) <= eps                     for every t      (4.1c)

The optimal policy (eq. 4.2) is again a soft-min policy, but the augmented cost now also carries
state terms that depend on the new state distribution mu_t itself (eq. 4.7/4.8, cost form):

    augmented cost   cost_t + alpha_t (-log q_t(u|x) - log nu_t(x) + log p_t(x) + 1)
    temperature      alpha_t

where p_t is the block-descent guess of mu_t (Alg. 2; the circular dependency of §4.4.1). The dual
(eq. 4.6) is g = E[V_0] - sum_t alpha_t (eps + 1); dg/dalpha_t = KL_t - eps (eq. 4.4c).

Methods. The default ``method="newton"`` solves the update exactly as the convex program over
state-action moments that it is (``lqgx.optimizers.moment_newton``: primal-dual interior-point
method, Newton steps by Riccati passes) and returns the KKT multipliers alpha_t; the soft backward pass at those
multipliers with p = mu reproduces its policy, so it is the fixed point the thesis's schemes look
for. The thesis's own schemes remain selectable: ``method="coordinate"`` is Alg. 4 (V held fixed,
mu_t in closed form, eq. 4.9/4.10, one Newton/bisection solve per step) and ``method="block"`` is
Alg. 3 (block descent, Alg. 2, after every multiplier step). On small exact problems they stop
short of the KKT point (a few percent duality gap; tests/optimizers/test_saps.py measures it),
which is why they are not the default.
"""

from __future__ import annotations

from lqgx.optimizers.dual import DualOptions
from lqgx.optimizers.kl_update import (
    Formulation,
    LocalProblem,
    UpdateOptions,
    UpdateResult,
    constrained_update,
    state_action_part,
)
from lqgx.optimizers.policy_search import run
from lqgx.result import Result
from lqgx.system import System


def augmented_cost(prep, alpha, beta, p_mean, p_cov):
    """cost + alpha (-log q(u|x) - log nu(x) + log p(x) + 1) (eq. 4.7/4.8 in cost form)."""
    return state_action_part(prep, alpha, p_mean, p_cov)


def temperature(alpha, beta):
    """tau_t = alpha_t (eq. 4.2)."""
    return alpha


SAPS = Formulation(name="saps", augmented_cost=augmented_cost, temperature=temperature,
                   state_action=True)


def saps_update(problem: LocalProblem, eps, *, log_alpha_init=None, method: str = "newton",
                dual: DualOptions = DualOptions(), **options) -> UpdateResult:
    """One SAPS update from ``problem.prior`` (pure, jit/vmap-able). ``method``: ``"newton"``
    (exact, default), ``"coordinate"`` (Alg. 4) or ``"block"`` (Alg. 3). Other keywords:
    ``UpdateOptions`` fields."""
    opts = UpdateOptions(method=method, dual=dual, **options).validate()
    return constrained_update(SAPS, problem, eps, log_alpha_init=log_alpha_init, options=opts)


def saps(system: System, eps, *, iterations: int = 25, samples: int = 25, policy=None, key=None,
         linearization: str = "autodiff", **options) -> Result:
    """SAPS on ``system``; arguments as ``lqgx.gps`` (``eps`` bounds the state-action KL).
    History adds ``kl_state_action`` (max_t)."""
    return run(SAPS, system, eps, None, iterations=iterations, samples=samples, policy=policy,
               key=key, linearization=linearization, **options)
