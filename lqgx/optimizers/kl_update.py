"""One KL-constrained LQG update, shared by GPS, SAPS and ESAPS (thesis ch. 3-5, App. A-C).

Cost form throughout: the thesis maximizes reward R = -cost; here every expected cost is
minimized, so its dual (a lower bound) is maximized and the soft value is a soft *minimum*
V_t(x) = -tau_t log ∫ exp(-Q_t(x, u) / tau_t) du (``lqgx.lq.soft_backward_pass``).

Given a linear-Gaussian model (``LocalProblem``: dynamics, quadratic costs, initial state
distribution) and the previous policy q_t(u|x) with its state marginals nu_t(x) under the model,
one update solves

    min_pi  E[ sum_t cost_t(x_t, u_t) + final(x_T) ]
    s.t.    D_t(pi) <= eps_t           for every t (GPS: E_mu KL(pi||q), eq. 3.3c;
                                         SAPS/ESAPS: KL(mu pi || nu q), eq. 4.1c / 5.1c)
            E_mu[log pi_t] <= delta     for every t (ESAPS only, eq. 5.1d)

The three algorithms are one soft backward pass (eq. 3.7a / 4.5a / 5.6) on an *augmented cost*
with a *temperature*, and a forward pass (eq. 3.7b); each module supplies only those two pieces
(``Formulation``):

    GPS    cost + alpha (-log q(u|x)),                                         tau = alpha
    SAPS   cost + alpha (-log q(u|x) - log nu(x) + log p(x) + 1),              tau = alpha
    ESAPS  as SAPS,                                                            tau = alpha + beta

p_t(x) is the current guess of the new state distribution mu_t (the circular dependency of
§4.4.1), resolved by block descent (Alg. 2): backward pass with p, forward pass for mu, move p
toward mu by a step gamma, halve gamma when the fixed-point residual max_t KL(p_t || mu_t) does not
decrease (the thesis compares dual values; the residual is the quantity that must vanish).

Multipliers (``UpdateOptions.method``):

* ``"coordinate"`` (default; Alg. 1 for GPS, Alg. 4/5): hold V_{t+1} (and for SAPS V_t, through
  the closed-form mu_t of eq. 4.9) fixed; every alpha_t then solves an independent scalar problem,
  done for all t at once by ``solve_log_multipliers`` (Newton/bisection in log alpha). ESAPS's
  beta_t is closed-form given alpha_t: the entropy of pi_t = N(., tau Quu^-1) is
  1/2 log|2 pi e tau Quu^-1| so beta_t = max(0, tau_min - alpha_t) with
  tau_min = exp((log|Quu| - 2 delta) / m) / (2 pi e). Then the passes are redone and repeated
  until the bounds hold with complementary slackness (true, closed-form KLs).
* ``"block"`` (Alg. 3): after every block descent, one Newton step per alpha_t on the *true*
  constraint residual (slope from the local model), clipped to a trust region in log alpha.

Both stop at the same KKT point (tests compare their dual values).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._pytree import all_finite, pytree_dataclass, static_field, tree_select
from lqgx.lq.backward import SoftSolution, entropy_floor_temperature, soft_backward_pass
from lqgx.lq.entropy_floor import soft_backward_pass_entropy_floor
from lqgx.lq.divergence import gaussian_kl, policy_entropy, policy_kl
from lqgx.lq.forward import propagate
from lqgx.lq.quadratic import expected_cost, negative_log_policy, q_function, weighted_sum
from lqgx.lq.state_action import (
    joint_state_action,
    negative_log_gaussian,
    state_distribution_from_values,
)
from lqgx.lq.types import (
    GaussianTrajectory,
    LinearDynamics,
    LinearGaussianPolicy,
    QuadraticCost,
    QuadraticFinalCost,
    cholesky,
    cholesky_inverse,
    cholesky_log_det,
    symmetrize,
)
from lqgx.optimizers import moment_newton
from lqgx.optimizers.dual import DualOptions, solve_log_multipliers
from lqgx.optimizers.moment_newton import NewtonOptions

AUTO, NEWTON, COORDINATE, BLOCK = "auto", "newton", "coordinate", "block"
PER_STEP, SINGLE = "per_step", "single"


@pytree_dataclass
class LocalProblem:
    """Data of one update (absolute coordinates, leading time axis ``T``).

    Fields: ``dynamics`` (``LinearDynamics``; ``cov[T, n, n]`` must be positive definite for the
    state-action bounds), ``cost`` (``QuadraticCost``), ``final`` (``QuadraticFinalCost``),
    ``x0_mean[n]``, ``x0_cov[n, n]`` and ``prior`` = q, the previous ``LinearGaussianPolicy``.
    """

    dynamics: LinearDynamics
    cost: QuadraticCost
    final: QuadraticFinalCost
    x0_mean: jax.Array
    x0_cov: jax.Array
    prior: LinearGaussianPolicy


@pytree_dataclass
class Prepared:
    """``LocalProblem`` plus the q-dependent cost terms: -log q(u|x) and -log nu(x) (state
    marginals ``prior_states`` of q under the model), and ``state_mask[T]`` (0 at t = 0, where
    mu_0 = nu_0 = p(x_0) is fixed and the state terms vanish)."""

    problem: LocalProblem
    neg_log_prior: QuadraticCost
    neg_log_prior_state: QuadraticCost
    prior_states: GaussianTrajectory
    state_mask: jax.Array
    delta: jax.Array


@pytree_dataclass
class Formulation:
    """What distinguishes GPS, SAPS and ESAPS (static; supplied by each algorithm module).

    augmented_cost: ``(Prepared, alpha[T], beta[T], p_mean[T, n], p_cov[T, n, n]) -> QuadraticCost``.
    temperature: ``(alpha[T], beta[T]) -> tau[T]``.
    state_action: the bound is on KL(mu pi || nu q) (else on E_mu KL(pi || q)).
    entropy: an entropy floor with multiplier beta (ESAPS).
    """

    name: str = static_field()
    augmented_cost: Callable = static_field()
    temperature: Callable = static_field()
    state_action: bool = static_field(default=False)
    entropy: bool = static_field(default=False)


@pytree_dataclass
class UpdateOptions:
    """Settings of ``constrained_update`` (static).

    method: ``"newton"``, ``"coordinate"`` or ``"block"`` (module docstring); ``"auto"`` picks
    ``"coordinate"`` for GPS (exact there) and ``"newton"`` for the state-action bounds. newton:
    ``NewtonOptions`` of the ``"newton"`` method. multiplier: ``"per_step"``
    (alpha_t per step, the thesis) or ``"single"`` (GPS only: one alpha bounding the summed KL,
    Levine & Abbeel 2014). rtol: relative tolerance of the bounds at exit. max_outer: passes of
    the coordinate/block scheme. max_block/block_tol: block-descent iterations and the fixed-point
    tolerance max_t KL(p_t || mu_t) (nats; raised to 1e-7 in float32). max_log_step: trust region of
    a ``"block"`` Newton step in log alpha. damping: fraction of the coordinate step taken in log
    alpha for the state-action bounds (the per-step solves ignore the coupling between steps through
    mu, and full steps oscillate). dual: ``DualOptions`` of the per-step solves.
    """

    method: str = static_field(default=AUTO)
    multiplier: str = static_field(default=PER_STEP)
    rtol: float = static_field(default=1e-4)
    max_outer: int = static_field(default=25)
    max_block: int = static_field(default=300)
    block_tol: float = static_field(default=1e-11)
    max_log_step: float = static_field(default=2.0)
    damping: float = static_field(default=0.5)
    dual: DualOptions = static_field(default=DualOptions())
    newton: NewtonOptions = static_field(default=NewtonOptions())

    def validate(self) -> "UpdateOptions":
        if self.method not in (AUTO, NEWTON, COORDINATE, BLOCK):
            raise ValueError(f"method must be 'auto', 'newton', 'coordinate' or 'block', "
                             f"got {self.method!r}")
        if self.method == NEWTON and self.multiplier == SINGLE:
            raise ValueError("multiplier='single' needs method='coordinate' (one alpha couples "
                             "all steps)")
        if self.multiplier not in (PER_STEP, SINGLE):
            raise ValueError(f"multiplier must be 'per_step' or 'single', got {self.multiplier!r}")
        if not (self.rtol > 0 and self.max_outer >= 1 and self.max_block >= 1):
            raise ValueError("need rtol > 0, max_outer >= 1 and max_block >= 1")
        if not 0 < self.dual.alpha_min < self.dual.alpha_max:
            raise ValueError("need 0 < alpha_min < alpha_max")
        return self


@pytree_dataclass
class UpdateResult:
    """Outcome of ``constrained_update``.

    Fields: ``policy`` (new pi), ``trajectory`` (its ``GaussianTrajectory`` under the model),
    ``alpha[T]``, ``beta[T]`` (zeros unless ESAPS), ``kl[T]`` (E_mu KL(pi || q)),
    ``kl_state_action[T]`` (KL(mu pi || nu q)), ``entropy[T]`` (nats), ``dual`` (dual value, cost
    form), ``expected_cost`` (model-predicted), ``converged`` (bounds met with complementary
    slackness to ``rtol``), ``ok`` (all passes finite and every Q_uu positive definite),
    ``iterations`` (outer passes).

    A failed update (``ok`` False, e.g. a local model so unstable that its Riccati pass
    overflows) returns the prior q unchanged: ``policy`` q, ``trajectory`` and ``expected_cost``
    q's under the model, ``kl`` and ``kl_state_action`` 0, ``entropy`` q's, multipliers where
    finite (else 0). Only ``dual``, and q's marginals if the model overflows even those, can be
    non-finite.
    """

    policy: LinearGaussianPolicy
    trajectory: GaussianTrajectory
    alpha: jax.Array
    beta: jax.Array
    kl: jax.Array
    kl_state_action: jax.Array
    entropy: jax.Array
    dual: jax.Array
    expected_cost: jax.Array
    converged: jax.Array
    ok: jax.Array
    iterations: jax.Array


# -- the pieces the algorithm modules combine -------------------------------------------------

def prepare(problem: LocalProblem, delta=0.0) -> Prepared:
    """Precompute -log q(u|x), the prior's state marginals nu_t and -log nu_t(x)."""
    dyn = problem.dynamics
    T, n, m = dyn.B.shape
    prior_states = propagate(dyn, problem.prior, problem.x0_mean, problem.x0_cov)
    mask = jnp.ones((T,), dyn.A.dtype).at[0].set(0.0)
    # At t = 0 the state marginal is fixed; use a unit covariance there so nothing is singular.
    eye = jnp.eye(n, dtype=dyn.A.dtype)
    state_cov = prior_states.cov[:T].at[0].set(eye)
    return Prepared(problem=problem, neg_log_prior=negative_log_policy(problem.prior),
                    neg_log_prior_state=negative_log_gaussian(prior_states.mean[:T], state_cov, m),
                    prior_states=prior_states, state_mask=mask,
                    delta=jnp.broadcast_to(jnp.asarray(delta, dyn.A.dtype), (T,)))


def policy_part(prep: Prepared, alpha: jax.Array) -> QuadraticCost:
    """cost + alpha (-log q(u|x)): the GPS augmentation (thesis eq. 3.9-3.11, cost form)."""
    return weighted_sum([prep.problem.cost, prep.neg_log_prior], [1.0, alpha])


def state_action_part(prep: Prepared, alpha: jax.Array, p_mean: jax.Array,
                      p_cov: jax.Array) -> QuadraticCost:
    """cost + alpha (-log q(u|x) - log nu(x) + log p(x) + 1): thesis eq. 4.7/4.8, cost form."""
    T, n = p_mean.shape
    m = prep.problem.prior.k.shape[-1]
    p_cov = p_cov.at[0].set(jnp.eye(n, dtype=p_cov.dtype))
    neg_log_p = negative_log_gaussian(p_mean, p_cov, m)
    w = alpha * prep.state_mask
    total = weighted_sum([prep.problem.cost, prep.neg_log_prior, prep.neg_log_prior_state,
                          neg_log_p], [1.0, alpha, w, -w])
    return QuadraticCost(Cxx=total.Cxx, Cuu=total.Cuu, Cux=total.Cux, cx=total.cx, cu=total.cu,
                         c0=total.c0 + alpha)


def full_pass(form: Formulation, prep: Prepared, alpha, beta, p_mean, p_cov):
    """Backward pass on the augmented cost, then the forward pass: ``(SoftSolution, traj, beta)``."""
    pb = prep.problem
    cost = form.augmented_cost(prep, alpha, beta, p_mean, p_cov)
    if form.entropy:
        # beta_t solved exactly inside the pass (``lqgx.lq.entropy_floor``); ``beta`` is ignored
        sol, beta = soft_backward_pass_entropy_floor(cost, pb.final, pb.dynamics, alpha,
                                                     prep.delta)
        assert form.temperature(1.0, 2.0) == 3.0  # tau = alpha + beta, as the module states
    else:
        sol = soft_backward_pass(cost, pb.final, pb.dynamics, form.temperature(alpha, beta))
    traj = propagate(pb.dynamics, sol.policy, pb.x0_mean, pb.x0_cov)
    return sol, traj, beta


def _state_kl(prep: Prepared, traj: GaussianTrajectory) -> jax.Array:
    """KL(mu_t || nu_t) per step, 0 at t = 0."""
    T = prep.state_mask.shape[0]
    n = traj.mean.shape[-1]
    eye = jnp.eye(n, dtype=traj.mean.dtype)
    kl = gaussian_kl(traj.mean[:T], traj.cov[:T].at[0].set(eye), prep.prior_states.mean[:T],
                     prep.prior_states.cov[:T].at[0].set(eye))
    return kl * prep.state_mask


def constraint_values(prep: Prepared, policy: LinearGaussianPolicy, traj: GaussianTrajectory):
    """Closed-form (policy KL[T], state-action KL[T], entropy[T]) of ``policy`` with its
    state marginals ``traj``."""
    kl = policy_kl(policy, prep.problem.prior, traj.mean, traj.cov)
    return kl, _state_kl(prep, traj) + kl, policy_entropy(policy)


def _fixed_point_residual(prep: Prepared, traj, p_mean, p_cov):
    T = p_mean.shape[0]
    n = p_mean.shape[-1]
    eye = jnp.eye(n, dtype=p_mean.dtype)
    kl = gaussian_kl(p_mean, p_cov.at[0].set(eye), traj.mean[:T], traj.cov[:T].at[0].set(eye))
    return jnp.max(kl * prep.state_mask)


def block_descent(form: Formulation, prep: Prepared, alpha, beta, p_mean, p_cov,
                  options: UpdateOptions, gamma=1.0):
    """Alg. 2: find p_t = mu_t(p) for fixed multipliers by p <- p + gamma (mu(p) - p), halving
    gamma whenever the residual max_t KL(p_t || mu_t) does not decrease (the map is expansive with
    negative-real eigenvalues, so plain iteration diverges and a damped one converges).
    Returns (p_mean, p_cov, sol, traj, res, gamma, beta)."""
    dtype = p_mean.dtype
    tol = max(options.block_tol, 1e-7 if jnp.finfo(dtype).bits < 64 else 0.0)

    def evaluate(pm, pc):
        sol, traj, b = full_pass(form, prep, alpha, beta, pm, pc)
        res = _fixed_point_residual(prep, traj, pm, pc)
        good = sol.ok & jnp.isfinite(res) & all_finite((sol.policy, traj))
        return sol, traj, b, jnp.where(good, res, jnp.inf)

    sol, traj, b, res = evaluate(p_mean, p_cov)

    def cond(s):
        res, gamma, it = s[-3:]
        return (res > tol) & (it < options.max_block) & (gamma > 1e-4)

    def body(s):
        pm, pc, sol, traj, b, res, gamma, it = s
        T = pm.shape[0]
        pm_new = pm + gamma * (traj.mean[:T] - pm)
        pc_new = symmetrize(pc + gamma * (traj.cov[:T] - pc))
        new = (pm_new, pc_new) + evaluate(pm_new, pc_new)
        accept = new[-1] < res
        pm, pc, sol, traj, b, res = tree_select(accept, new, (pm, pc, sol, traj, b, res))
        gamma = jnp.where(accept, gamma, 0.5 * gamma)
        return pm, pc, sol, traj, b, res, gamma, it + 1

    init = (p_mean, p_cov, sol, traj, b, res, jnp.asarray(gamma, dtype), jnp.array(0))
    p_mean, p_cov, sol, traj, b, res, gamma, _ = jax.lax.while_loop(cond, body, init)
    return p_mean, p_cov, sol, traj, res, gamma, b


@pytree_dataclass
class _StepContext:
    """What one coordinate-descent step t holds fixed (every field has a leading ``T`` axis).

    cost / neg_log_prior / neg_log_prior_state: the three cost terms (-log q(u|x) and, for the
    state-action bounds, -log nu(x)); state_mask: 0 at t = 0 (x0 fixed), else 1; dynamics; the
    value V_{t+1} (``next_Vxx``, ``next_vx``, ``next_v0``) and V_t (``Vxx``, ``vx``); the current
    state marginal mu_t (``state_mean``, ``state_cov``); the prior policy q_t and its marginal
    nu_t (``prior_policy``, ``prior_mean``, ``prior_cov``); the entropy bound ``delta``.
    """

    cost: QuadraticCost
    neg_log_prior: QuadraticCost
    neg_log_prior_state: QuadraticCost
    state_mask: jax.Array
    dynamics: LinearDynamics
    next_Vxx: jax.Array
    next_vx: jax.Array
    next_v0: jax.Array
    Vxx: jax.Array
    vx: jax.Array
    state_mean: jax.Array
    state_cov: jax.Array
    prior_policy: LinearGaussianPolicy
    prior_mean: jax.Array
    prior_cov: jax.Array
    delta: jax.Array


def _local_step(form: Formulation, eta, ctx: _StepContext):
    """Constraint value of one step as a function of eta = log alpha with V_{t+1} (and V_t, mu_t)
    fixed: the decoupled problem of the coordinate-descent step. Returns (value, beta)."""
    alpha = jnp.exp(eta)
    terms = [ctx.cost, ctx.neg_log_prior] + ([ctx.neg_log_prior_state] if form.state_action
                                              else [])
    weights = [1.0, alpha] + ([alpha * ctx.state_mask] if form.state_action else [])
    Q = q_function(weighted_sum(terms, weights), ctx.dynamics, ctx.next_Vxx, ctx.next_vx,
                   ctx.next_v0)
    chol = jnp.linalg.cholesky(Q.Quu)
    m = Q.qu.shape[0]
    K = -jax.scipy.linalg.cho_solve((chol, True), Q.Qux)
    k = -jax.scipy.linalg.cho_solve((chol, True), Q.qu)
    if form.entropy:
        log_det = cholesky_log_det(chol)
        beta = jnp.maximum(0.0, entropy_floor_temperature(log_det, m, ctx.delta) - alpha)
    else:
        beta = jnp.zeros_like(alpha)
    pi = LinearGaussianPolicy(K=K[None], k=k[None],
                              cov=((alpha + beta) * cholesky_inverse(chol))[None])
    q = jax.tree_util.tree_map(lambda a: a[None], ctx.prior_policy)
    ok = jnp.all(jnp.isfinite(chol))
    if form.state_action:
        Vhat_xx = symmetrize(Q.Qxx + Q.Qux.T @ K)
        vhat_x = Q.qx + Q.Qux.T @ k
        mean, cov, mu_ok = state_distribution_from_values(ctx.Vxx, ctx.vx, Vhat_xx, vhat_x,
                                                          alpha)
        first = ctx.state_mask == 0
        mean = jnp.where(first, ctx.state_mean, mean)
        cov = jnp.where(first, ctx.state_cov, cov)
        ok = ok & (mu_ok | first)
        eye = jnp.eye(mean.shape[0], dtype=mean.dtype)  # x0 is fixed: no state term at t = 0
        state_kl = gaussian_kl(mean, jnp.where(first, eye, cov), ctx.prior_mean,
                               jnp.where(first, eye, ctx.prior_cov)) * ctx.state_mask
        value = state_kl + policy_kl(pi, q, mean[None], cov[None])[0]
    else:
        value = policy_kl(pi, q, ctx.state_mean[None], ctx.state_cov[None])[0]
    return jnp.where(ok, value, jnp.nan), beta


def _context(prep: Prepared, sol: SoftSolution, traj: GaussianTrajectory,
             delta) -> _StepContext:
    pb = prep.problem
    T = prep.state_mask.shape[0]
    V = sol.value
    return _StepContext(
        cost=pb.cost, neg_log_prior=prep.neg_log_prior,
        neg_log_prior_state=prep.neg_log_prior_state, state_mask=prep.state_mask,
        dynamics=pb.dynamics, next_Vxx=V.Vxx[1:], next_vx=V.vx[1:], next_v0=V.v0[1:],
        Vxx=V.Vxx[:T], vx=V.vx[:T], state_mean=traj.mean[:T], state_cov=traj.cov[:T],
        prior_policy=pb.prior, prior_mean=prep.prior_states.mean[:T],
        prior_cov=prep.prior_states.cov[:T], delta=jnp.broadcast_to(delta, (T,)))


def _local(form, eta, ctx):
    return jax.vmap(lambda e, c: _local_step(form, e, c))(eta, ctx)


def _dual_value(prep: Prepared, form: Formulation, sol: SoftSolution, alpha, beta, eps, delta):
    """g = E_{x0}[V_0] - sum alpha (eps [+ 1]) [- sum beta delta]: eq. 3.8 / 4.6 / 5.5, cost form."""
    pb = prep.problem
    V = sol.value
    m0, P0 = pb.x0_mean, pb.x0_cov
    ev0 = 0.5 * m0 @ V.Vxx[0] @ m0 + 0.5 * jnp.sum(V.Vxx[0] * P0) + V.vx[0] @ m0 + V.v0[0]
    g = ev0 - jnp.sum(alpha * (eps + (1.0 if form.state_action else 0.0)))
    if form.entropy:
        g = g - jnp.sum(beta * delta)
    return g


def thesis_dual(form: Formulation, problem: LocalProblem, result: "UpdateResult", eps,
                delta=None) -> jax.Array:
    """The thesis's dual (eq. 3.8 / 4.6 / 5.5, cost form) at ``result``'s multipliers, with the
    state-distribution guess p_t = the result's state marginals: the soft backward pass on the
    augmented cost, then E[V_0] - sum alpha (eps [+ 1]) [- sum beta delta]. At a KKT point it
    equals the expected cost (strong duality); NaN where that pass's Q_uu is indefinite."""
    T = problem.dynamics.A.shape[0]
    dtype = problem.dynamics.A.dtype
    eps = jnp.broadcast_to(jnp.asarray(eps, dtype), (T,))
    delta_t = jnp.broadcast_to(jnp.asarray(0.0 if delta is None else delta, dtype), (T,))
    prep = prepare(problem, delta_t)
    traj = result.trajectory
    # (ESAPS: the pass solves beta_t given alpha_t in closed form; the dual takes that beta)
    sol, _, beta = full_pass(form, prep, result.alpha, result.beta, traj.mean[:T], traj.cov[:T])
    return _dual_value(prep, form, sol, result.alpha, beta, eps, delta_t)


def _kkt(form, options, prep, sol, traj, alpha, beta, eps, delta, block_res):
    """Bounds met, active ones at equality (complementary slackness), to ``options.rtol``."""
    kl, kl_sa, entropy = constraint_values(prep, sol.policy, traj)
    value = kl_sa if form.state_action else kl
    rtol = options.rtol
    at_min = alpha <= options.dual.alpha_min * (1 + 1e-6)
    ok_alpha = (jnp.abs(value - eps) <= rtol * eps) | ((value <= eps * (1 + rtol)) & at_min)
    good = jnp.all(ok_alpha)
    if form.entropy:
        tol = rtol * jnp.maximum(1.0, jnp.abs(delta))
        floor_ok = (entropy >= -delta - tol) & ((beta <= 1e-12 * (1 + alpha))
                                                 | (jnp.abs(entropy + delta) <= tol))
        good = good & jnp.all(floor_ok)
    if form.state_action:
        good = good & (block_res <= max(options.block_tol, 1e-7) * 10)
    return good & sol.ok & all_finite((sol.policy, traj))


def constrained_update(form: Formulation, problem: LocalProblem, eps, delta=None, *,
                       log_alpha_init=None, options: UpdateOptions = UpdateOptions()
                       ) -> UpdateResult:
    """One constrained update (module docstring). Pure; jit/vmap-able (``form``, ``options``
    static).

    Args:
        form: the algorithm's ``Formulation``.
        problem: ``LocalProblem``.
        eps: bound, scalar or ``[T]`` (> 0; for ``multiplier="single"`` the bound on the sum).
        delta: ESAPS entropy bound (E[log pi] <= delta, i.e. entropy >= -delta), scalar or ``[T]``.
        log_alpha_init: ``[T]`` warm start (default log 1).
    """
    pb = problem
    T = pb.dynamics.A.shape[0]
    n = pb.x0_mean.shape[0]
    dtype = pb.dynamics.A.dtype
    eps = jnp.broadcast_to(jnp.asarray(eps, dtype), (T,))
    delta = jnp.asarray(0.0 if delta is None else delta, dtype)
    delta_t = jnp.broadcast_to(delta, (T,))
    prep = prepare(pb, delta_t)
    method = options.method
    if method == AUTO:
        method = NEWTON if form.state_action else COORDINATE
    if method == NEWTON:
        return _newton_update(form, prep, eps, delta_t, options)
    eta = (jnp.zeros((T,), dtype) if log_alpha_init is None
           else jnp.broadcast_to(jnp.asarray(log_alpha_init, dtype), (T,)))
    log_min = float(np.log(options.dual.alpha_min))
    log_max = float(np.log(options.dual.alpha_max))

    if options.multiplier == SINGLE:
        if form.state_action or form.entropy:
            raise ValueError("multiplier='single' is the GPS variant of Levine & Abbeel 2014")

        def total_kl(e):
            sol, traj, _ = full_pass(form, prep, jnp.broadcast_to(jnp.exp(e[0]), (T,)), 0 * eps,
                                  None, None)
            value = jnp.sum(constraint_values(prep, sol.policy, traj)[0])
            return jnp.where(sol.ok, value, jnp.nan)[None]

        ms = solve_log_multipliers(total_kl, eps[:1], eta[:1], options.dual)
        alpha = jnp.broadcast_to(jnp.exp(ms.log_alpha[0]), (T,))
        sol, traj, _ = full_pass(form, prep, alpha, 0 * alpha, None, None)
        kl, kl_sa, entropy = constraint_values(prep, sol.policy, traj)
        total = jnp.sum(kl)
        at_min = ms.log_alpha[0] <= log_min + 1e-9
        converged = ((jnp.abs(total - eps[0]) <= options.rtol * eps[0])
                     | (at_min & (total <= eps[0]))) & sol.ok
        return _result(form, prep, sol, traj, alpha, 0 * alpha, eps, delta_t, converged,
                       ms.iterations)

    state_action = form.state_action
    p_mean = prep.prior_states.mean[:T]
    p_cov = prep.prior_states.cov[:T]

    def evaluate(eta, beta, p_mean, p_cov, gamma):
        alpha = jnp.exp(eta)
        if state_action:
            # Restart from the broad guess nu_t (the last fixed point is often invalid at the new
            # multipliers); keep the step gamma that worked last time.
            p_mean, p_cov, sol, traj, res, gamma, beta = block_descent(
                form, prep, alpha, beta, prep.prior_states.mean[:T], prep.prior_states.cov[:T],
                options, jnp.maximum(2.0 * gamma, 1e-3))
        else:
            sol, traj, beta = full_pass(form, prep, alpha, beta, p_mean, p_cov)
            res = jnp.zeros((), dtype)
        return p_mean, p_cov, sol, traj, res, gamma, beta

    beta0 = jnp.zeros((T,), dtype)
    p_mean, p_cov, sol, traj, res, gamma, beta0 = evaluate(eta, beta0, p_mean, p_cov,
                                                           jnp.asarray(1.0, dtype))
    done = _kkt(form, options, prep, sol, traj, jnp.exp(eta), beta0, eps, delta_t, res)

    def cond(s):
        return (~s[-2]) & (s[-1] < options.max_outer)

    def body(s):
        eta, beta, p_mean, p_cov, gamma, sol, traj, res, _, it = s
        ctx = _context(prep, sol, traj, delta_t)
        if method == COORDINATE:
            ms = solve_log_multipliers(lambda e: _local(form, e, ctx)[0], eps, eta, options.dual)
            damping = options.damping if state_action else 1.0
            eta_new = eta + damping * (ms.log_alpha - eta)
            if state_action:
                # The closed-form mu_t (eq. 4.9) stops existing for alpha far below the current
                # one, which caps the local step; slack bounds move down by at least e^2.
                value = constraint_values(prep, sol.policy, traj)[1]
                slack = value < eps * (1 - options.rtol)
                eta_new = jnp.where(slack, jnp.minimum(eta_new, eta - options.max_log_step),
                                    eta_new)
                eta_new = jnp.maximum(eta_new, log_min)
        else:
            value = (constraint_values(prep, sol.policy, traj)[1 if state_action else 0])
            r_true = jnp.log(value) - jnp.log(eps)
            log_local = lambda e: jnp.log(_local(form, e, ctx)[0])  # noqa: E731
            _, slope = jax.jvp(log_local, (eta,), (jnp.ones_like(eta),))
            step = jnp.clip(-options.damping * r_true / slope, -options.max_log_step,
                            options.max_log_step)
            step = jnp.where(jnp.isfinite(step) & (slope < 0), step,
                             jnp.where(r_true > 0, options.max_log_step, -options.max_log_step))
            eta_new = jnp.clip(eta + step, log_min, log_max)
        eta_new = jnp.where(jnp.isfinite(eta_new), eta_new, eta)
        p_mean, p_cov, sol, traj, res, gamma, beta_new = evaluate(eta_new, beta, p_mean, p_cov,
                                                                  gamma)
        done = _kkt(form, options, prep, sol, traj, jnp.exp(eta_new), beta_new, eps, delta_t,
                    res)
        return eta_new, beta_new, p_mean, p_cov, gamma, sol, traj, res, done, it + 1

    init = (eta, beta0, p_mean, p_cov, gamma, sol, traj, res, done, jnp.array(0))
    eta, beta, p_mean, p_cov, gamma, sol, traj, res, done, it = jax.lax.while_loop(cond, body,
                                                                                   init)
    which = 1 if state_action else 0

    # Feasibility restoration: if the coupled iteration stopped short of the KKT point, raise
    # all alpha_t by one common factor e^s (s >= 0) until max_t KL_t / eps_t <= 1.
    def worst_ratio(shift):
        out = evaluate(eta + shift[0], beta, p_mean, p_cov, gamma)
        ratio = jnp.max(constraint_values(prep, out[2].policy, out[3])[which] / eps)
        return jnp.where(out[2].ok & jnp.isfinite(out[4]), ratio, jnp.nan)[None]

    def restore(_):
        target = 1.0 - options.rtol
        ms = solve_log_multipliers(
            worst_ratio, jnp.asarray(target, dtype), jnp.zeros((1,), dtype),
            DualOptions(alpha_min=1.0, alpha_max=1e8, rtol=0.5 * options.rtol, max_iter=30))
        return eta + ms.log_alpha[0]

    feasible = jnp.all(constraint_values(prep, sol.policy, traj)[which]
                       <= eps * (1 + options.rtol))
    eta_f = jax.lax.cond(done | feasible, lambda _: eta, restore, None)
    out = evaluate(eta_f, beta, p_mean, p_cov, gamma)
    restored = ~(done | feasible)
    eta = eta_f
    p_mean, p_cov, sol, traj, res, gamma, beta = jax.tree_util.tree_map(
        lambda a, b: jnp.where(restored, a, b), out,
        (p_mean, p_cov, sol, traj, res, gamma, beta))
    return _result(form, prep, sol, traj, jnp.exp(eta), beta, eps, delta_t, done, it)


def _result(form, prep, sol, traj, alpha, beta, eps, delta, converged, iterations):
    """``UpdateResult`` of the soft pass ``sol``; the dual value is the thesis's (eq. 3.8 / 4.6 /
    5.5) at the multipliers."""
    return _update_result(prep, sol.policy, traj, alpha, beta, converged, iterations, sol.ok,
                          _dual_value(prep, form, sol, alpha, beta, eps, delta))


def _update_result(prep, policy, traj, alpha, beta, converged, iterations, ok, dual):
    """The ``UpdateResult``; a failed update (not ``ok``) returns q unchanged (see there)."""
    kl, kl_sa, entropy = constraint_values(prep, policy, traj)
    pb = prep.problem
    ok = ok & all_finite((policy, traj, kl_sa))
    # On a failure the caller gets q, its marginals and its own bound values: KL(q || q) = 0.
    zeros = jnp.zeros_like(kl)
    kl, kl_sa, entropy = tree_select(ok, (kl, kl_sa, entropy),
                                     (zeros, zeros, policy_entropy(pb.prior)))
    policy, traj = tree_select(ok, (policy, traj), (pb.prior, prep.prior_states))
    alpha, beta = (jnp.where(jnp.isfinite(a), a, 0.0) for a in (alpha, beta))
    cost = jnp.sum(expected_cost(pb.cost, pb.final, traj))
    return UpdateResult(policy=policy, trajectory=traj, alpha=alpha, beta=beta, kl=kl,
                        kl_state_action=kl_sa, entropy=entropy, dual=dual,
                        expected_cost=cost, converged=converged & ok, ok=ok,
                        iterations=iterations)


def _newton_update(form: Formulation, prep: Prepared, eps, delta, options: UpdateOptions):
    """``method="newton"``: the exact update of ``moment_newton``. Its dual value is the
    interior-point method's (the Lagrange dual function of the moment program at the returned
    multipliers, exact where the Lagrangian's gradient vanishes). The thesis's dual at the same multipliers agrees where its soft pass is
    defined (tests), but it is not always: with a non-convex local cost (an indefinite
    quadratization) and a multiplier near zero, Q_uu of that pass can be indefinite."""
    pb = prep.problem
    ref_mean, ref_cov = joint_state_action(pb.prior, prep.prior_states.mean,
                                           prep.prior_states.cov)
    moments = moment_newton.solve(moment_newton.MomentProblem(
        dynamics=pb.dynamics, cost=pb.cost, final=pb.final, x0_mean=pb.x0_mean,
        x0_cov=pb.x0_cov, prior=pb.prior, ref_mean=ref_mean, ref_cov=ref_cov, eps=eps,
        delta=delta if form.entropy else None,
        reference=moment_newton.JOINT if form.state_action else moment_newton.CONDITIONAL),
        options.newton)
    traj = propagate(pb.dynamics, moments.policy, pb.x0_mean, pb.x0_cov)
    return _update_result(prep, moments.policy, traj, moments.alpha, moments.beta,
                          moments.converged, moments.iterations, moments.ok, moments.dual)
