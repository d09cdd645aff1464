"""DSO — dynamical system optimization (Todorov 2025), the first implementation.

A policy (or any parameter vector θ: physical parameters, estimator weights) is optimized as the
parameter of a Markov chain ``P_t(x'|x, θ)`` with cost ``L_t(x, θ)`` (time-varying setting, eqs.
9–11). Costs are minimized.

    prob = lqgx.dso.from_policy(sys, policy_fn, action_cov)        # eq. 96, Corollary 2
    grad, stderr = lqgx.dso.gradient(prob, theta, key, rollouts=1000)   # Algorithm 1, eqs. 57–59
    theta, info = lqgx.dso.chain_iteration(prob, theta, key)        # eq. 63 with PCO clip
    res = lqgx.dso.optimize(prob, theta0, key, iterations=50, method="chain")
    H = lqgx.dso.hessian(prob, theta, key).hessian                  # Lemma 3, eq. 80
    nat = lqgx.dso.natural_gradient(prob, theta, key)               # eqs. 72–74

Modules: ``problem`` (chain construction), ``rollout`` (sampling), ``value`` (V̂ for the baseline),
``gradient`` (Algorithm 1), ``surrogate`` (S̃, eqs. 65–68), ``chain`` (eq. 63), ``natural``
(Fisher), ``hessian`` (Lemma 3), ``optimize``, ``costs`` (§5.1 building blocks), ``oracle``
(closed-form linear-Gaussian J(θ) for tests and benchmarks).
"""

from lqgx.dso.chain import ChainConfig, ChainInfo, chain_iteration, minimize_surrogate
from lqgx.dso.costs import clone_cost, gaussian_log_prior, sysid_cost
from lqgx.dso.gradient import (BatchEstimate, GradientEstimate, algorithm1, estimate, gradient)
from lqgx.dso.hessian import HessianEstimate, hessian
from lqgx.dso.natural import NaturalGradient, fisher, natural_gradient
from lqgx.dso.optimize import OptimizeResult, optimize
from lqgx.dso.problem import PolicyStep, Problem, check_theta, from_chain, from_policy
from lqgx.dso.rollout import Paths, sample_paths
from lqgx.dso.surrogate import SurrogateBatch, surrogate, surrogate_batch, surrogate_gradient
from lqgx.dso.value import ValueModel, fit_value, zero_value

__all__ = [
    "Problem", "PolicyStep", "from_policy", "from_chain", "check_theta",
    "Paths", "sample_paths",
    "ValueModel", "fit_value", "zero_value",
    "GradientEstimate", "BatchEstimate", "gradient", "estimate", "algorithm1",
    "SurrogateBatch", "surrogate", "surrogate_batch", "surrogate_gradient",
    "ChainConfig", "ChainInfo", "chain_iteration", "minimize_surrogate",
    "NaturalGradient", "fisher", "natural_gradient",
    "HessianEstimate", "hessian",
    "OptimizeResult", "optimize",
    "clone_cost", "sysid_cost", "gaussian_log_prior",
]
