"""The exact constrained update: interior-point Newton on state-action moments.

Why this works. Under linear-Gaussian dynamics every quantity in the GPS-family problems is a
function of the joint moments (m_t, S_t) of rho_t(x, u) = mu_t(x) pi_t(u|x), with
S_t = [[X_t, Y_t^T], [Y_t, Z_t]]:

    E[cost_t]              = 1/2 tr(C_t S_t) + 1/2 m_t^T C_t m_t + c_t^T m_t + c0_t      (linear in S)
    KL(rho_t || nu_t q_t)  (SAPS/ESAPS eq. 4.1c, 5.1c)        jointly convex in (m_t, S_t)
    E_mu KL(pi_t || q_t)   (GPS eq. 3.3c; conditional relative entropy)   convex in (m_t, S_t)
    -H(pi_t | x)           = -1/2 log|S_t| + 1/2 log|X_t| - m/2 log(2 pi e)   convex (eq. 5.1d)

and the dynamics are *linear* in them (F = [A B]):

    m^x_{t+1} = A m^x_t + B m^u_t + c,        X_{t+1} = F S_t F^T + W.

So one update is a convex program: an optimal-control problem with linear dynamics in the state
s_t = (m^x_t, vech X_t), control w_t = (m^u_t, vec Y_t, vech Z_t), convex stage costs and per-step
convex constraints. We solve it with the primal-dual interior-point method (Boyd & Vandenberghe
2004, §11.7) on the barrier problems

    sum_t E[cost_t] + E[final] - mu sum_t log(eps_t - D_t) [- mu sum_t log(H_t + delta_t)]

with multipliers alpha_t (the divergence bounds) and beta_t (the entropy floors) as variables
of their own. A step solves the linearized KKT conditions with the multiplier steps eliminated:
a Newton system with the barrier's gradient and the Lagrangian's curvature plus the condensed
complementarity terms, solved by one Riccati pass (``riccati_backward_pass``) over the moment
coordinates (the Newton system of a linear-dynamics problem is banded in time). mu follows the
duality gap after every step instead of being held fixed through a centering; that took the
double pendulum's SAPS update from 81 Newton steps (barrier method) to 18. The start, the previous
policy q, is strictly feasible for the KL bounds (D_t = 0); where q lies below an ESAPS entropy
floor, a phase I (a barrier method on the constraints alone) raises the entropy first
(``solve``).

At the end alpha_t and beta_t are the KKT multipliers of the thesis's dual (eq. 3.8, 4.6, 5.5):
the soft backward pass with those temperatures and p_t = mu_t reproduces the policy. Here there
is no circular dependency between V_t and mu_t to iterate (§4.4.1): the moments are the
variables.
The policy is read off the joint: K = Y X^-1, k = m^u - K m^x, Sigma = Z - Y X^-1 Y^T.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._pytree import all_finite, pytree_dataclass, static_field
from lqgx.lq.backward import CONTROL_REGULARIZATION, riccati_backward_pass
from lqgx.lq.types import (
    LinearDynamics,
    LinearGaussianPolicy,
    QuadraticCost,
    QuadraticFinalCost,
    cholesky_inverse,
    cholesky_log_det,
    symmetrize,
)

CONDITIONAL, JOINT = "conditional", "joint"
_LOG_2PI_E = float(np.log(2 * np.pi * np.e))


@pytree_dataclass
class NewtonOptions:
    """Settings of the interior-point method (static).

    decrease: the smallest centering factor: after a step of length a, mu = max(decrease,
    1 - a) * gap / (number of constraints), so a full step shrinks the target tenfold and a short
    one (far from the central path) mostly re-centers. backtrack: the line search's factor.
    gap_rtol: stop when the surrogate duality gap sum_t alpha_t (eps_t - D_t) [+ beta_t (H_t +
    delta_t)] <= gap_rtol * (1 + |cost|) (raised to 1e-6 in float32) and the Newton decrement
    lambda^2 / 2 <= final_center_tol times that bound, or ``final_steps`` steps after the gap
    bound was met; or, reported as not converged, when a gap below 1e4 times its bound has not
    halved in ``stall_steps`` steps (rounding on ill-conditioned problems). center_tol: phase I's centerings (ESAPS with q below its entropy floor) end
    when lambda^2 / 2 <= center_tol * mu. max_iter: Newton steps in all. entropy_margin: how far
    (nats) phase I moves the entropies inside their floor before the cost enters.
    """

    decrease: float = static_field(default=0.1)
    backtrack: float = static_field(default=0.8)
    gap_rtol: float = static_field(default=1e-10)
    center_tol: float = static_field(default=1e-3)
    final_center_tol: float = static_field(default=1.0)
    final_steps: int = static_field(default=8)
    stall_steps: int = static_field(default=20)
    max_iter: int = static_field(default=300)
    entropy_margin: float = static_field(default=1e-3)


@pytree_dataclass
class MomentProblem:
    """A constrained update in moment form (leading time axis ``T`` on every stage field).

    dynamics, cost, final: the local model. x0_mean, x0_cov: the fixed initial state. reference:
    ``JOINT`` bounds KL(rho_t || N(ref_mean_t, ref_cov_t)) (the joint of nu_t q_t: SAPS/ESAPS);
    ``CONDITIONAL`` bounds E_mu KL(pi_t || q_t) (GPS). prior: q. eps[T]; delta[T] or None (no
    entropy floor).
    """

    dynamics: LinearDynamics
    cost: QuadraticCost
    final: QuadraticFinalCost
    x0_mean: jax.Array
    x0_cov: jax.Array
    prior: LinearGaussianPolicy
    ref_mean: jax.Array
    ref_cov: jax.Array
    eps: jax.Array
    delta: jax.Array | None
    reference: str = static_field(default=JOINT)


@pytree_dataclass
class MomentSolution:
    """Result of ``solve``: ``policy``, its state moments ``state_mean[T+1, n]``,
    ``state_cov[T+1, n, n]``, multipliers ``alpha[T]``,
    ``beta[T]`` (zeros without an entropy floor), bound values ``divergence[T]`` and
    ``entropy[T]``, ``dual``: the expected cost minus the surrogate duality gap sum_t alpha_t
    (eps_t - D_t) [+ beta_t (H_t + delta_t)], the Lagrange dual function at (alpha, beta) where
    the Lagrangian's gradient vanishes (Boyd & Vandenberghe 2004, §11.7.2), final barrier weight
    ``mu``, Newton ``iterations``, ``converged`` (gap tolerance and Newton decrement reached) and
    ``ok`` (finite and strictly feasible throughout)."""

    policy: LinearGaussianPolicy
    state_mean: jax.Array
    state_cov: jax.Array
    alpha: jax.Array
    beta: jax.Array
    divergence: jax.Array
    entropy: jax.Array
    dual: jax.Array
    mu: jax.Array
    iterations: jax.Array
    converged: jax.Array
    ok: jax.Array


# -- moment coordinates ------------------------------------------------------------------------

class _Packing:
    """Flat coordinates s = (m^x, vech X) and w = (m^u, vec Y, vech Z); z = (s, w) per step.

    For the closed-form derivatives, ``mean_z[n+m]`` are the z-indices of the joint mean
    (m^x, m^u) and ``cov_z[p]`` those of the p covariance coordinates, coordinate a being the
    entry ``(cov_rows[a], cov_cols[a])`` of S (and its mirror when off the diagonal).
    """

    def __init__(self, n: int, m: int):
        self.n, self.m = n, m
        self.tri_n, self.tri_m = np.tril_indices(n), np.tril_indices(m)
        ds = n + len(self.tri_n[0])
        self.state_size = ds
        self.control_size = m + m * n + len(self.tri_m[0])
        self.mean_z = np.r_[0:n, ds:ds + m]
        y_rows, y_cols = np.divmod(np.arange(m * n), n)
        self.cov_z = np.r_[n:ds, ds + m:ds + m + m * n + len(self.tri_m[0])]
        self.cov_rows = np.r_[self.tri_n[0], n + y_rows, n + self.tri_m[0]]
        self.cov_cols = np.r_[self.tri_n[1], y_cols, n + self.tri_m[1]]
        self.off_diagonal = self.cov_rows != self.cov_cols

    @staticmethod
    def _unvech(v, tri, d):
        M = jnp.zeros((d, d), v.dtype).at[tri].set(v)
        return M + M.T - jnp.diag(jnp.diagonal(M))

    def state(self, mx, X):
        return jnp.concatenate([mx, X[self.tri_n]])

    def control(self, mu, Y, Z):
        return jnp.concatenate([mu, Y.reshape(-1), Z[self.tri_m]])

    def unpack_state(self, s):
        n = self.n
        return s[:n], self._unvech(s[n:], self.tri_n, n)

    def joint(self, s, w):
        n, m = self.n, self.m
        mx, X = self.unpack_state(s)
        mu = w[:m]
        Y = w[m:m + m * n].reshape(m, n)
        Z = self._unvech(w[m + m * n:], self.tri_m, m)
        S = jnp.block([[X, Y.T], [Y, Z]])
        return jnp.concatenate([mx, mu]), S


def _logdet(M):
    """log|M| (NaN when M is not positive definite, which the line search rejects)."""
    L = jnp.linalg.cholesky(M)
    return cholesky_log_det(L)


def _trace_solve(P, S):
    return jnp.trace(jnp.linalg.solve(P, S))


# -- stage quantities --------------------------------------------------------------------------

def _stage_terms(pk: _Packing, problem_t, s, w):
    """(expected cost, divergence D_t, conditional entropy H_t) of one step's moments."""
    n, m = pk.n, pk.m
    dyn, cost, q, ref_mean, ref_cov, reference = problem_t
    mean, S = pk.joint(s, w)
    C = jnp.block([[cost.Cxx, cost.Cux.T], [cost.Cux, cost.Cuu]])
    g = jnp.concatenate([cost.cx, cost.cu])
    expected = 0.5 * jnp.sum(C * S) + 0.5 * mean @ C @ mean + g @ mean + cost.c0
    logdet_S, logdet_X = _logdet(S), _logdet(S[:n, :n])
    if reference == JOINT:
        d = mean - ref_mean
        div = 0.5 * (_trace_solve(ref_cov, S) + d @ jnp.linalg.solve(ref_cov, d) - logdet_S
                     + _logdet(ref_cov) - (n + m))
    else:
        E = jnp.concatenate([-q.K, jnp.eye(m, dtype=S.dtype)], axis=1)
        r = E @ mean - q.k
        div = 0.5 * (_trace_solve(q.cov, E @ S @ E.T) + r @ jnp.linalg.solve(q.cov, r)
                     - logdet_S + logdet_X + _logdet(q.cov) - m)
    entropy = 0.5 * (logdet_S - logdet_X) + 0.5 * m * _LOG_2PI_E
    return expected, div, entropy


def _slack_margin(bound):
    """Smallest slack the method aims for: divergences and entropies are log-determinants of
    possibly ill-conditioned covariances, known to ~1e3 ulp; a slack below that is rounding."""
    return 1e3 * jnp.finfo(jnp.result_type(bound)).eps * (1.0 + jnp.abs(bound))


def _barrier_stage(pk, problem_t, eps, delta, weight, mu, s, w):
    """weight * E[cost_t] - mu log(eps - D_t) [- mu log(H_t + delta_t)]."""
    expected, div, entropy = _stage_terms(pk, problem_t, s, w)
    value = weight * expected - mu * jnp.log(eps - div)
    if delta is not None:
        value = value - mu * jnp.log(entropy + delta)
    return value


# -- closed-form derivatives of one barrier stage ----------------------------------------------
#
# Every stage term is a quadratic in the joint mean M, a linear function tr(G S) of the joint
# covariance, or a log-determinant, log|S| or log|X|. The second derivative of -log|S| is the
# bilinear form (H1, H2) -> tr(S^-1 H1 S^-1 H2) (likewise for X), so the Hessian needs no
# automatic differentiation: jax.hessian over the ~(n+m)^2 / 2 coordinates costs that many
# passes through the Cholesky factorizations and dominated the solve for n = 8, m = 4.

def _inverse_and_log_det(M):
    """(M^-1, log|M|) through one Cholesky factorization (NaN when M is not positive definite)."""
    L = jnp.linalg.cholesky(M)
    return cholesky_inverse(L), cholesky_log_det(L)


def _covariance_gradient(pk: _Packing, G):
    """d tr(G S) / dz_a over the covariance coordinates (G symmetric): G_rc, twice off the
    diagonal, where the coordinate sets both S_rc and S_cr."""
    return G[pk.cov_rows, pk.cov_cols] * np.where(pk.off_diagonal, 2.0, 1.0)


def _log_det_curvature(pk: _Packing, P):
    """[p, p] matrix of (H1, H2) -> tr(P H1 P H2) over the covariance coordinates (P symmetric
    [n+m, n+m]): the Hessian of -log|S| for P = S^-1, of -log|X| for P = X^-1 padded by zeros.

    With the basis matrices E_rc + E_cr (off the diagonal) and E_rr, tr(P E_ij P E_kl) =
    P_li P_jk, and summing the mirrored pairs gives (P_{r_a c_b} P_{c_a r_b} + P_{r_a r_b}
    P_{c_a c_b}) w_a w_b with w = sqrt 2 off the diagonal and sqrt(1/2) on it.
    """
    r, c = pk.cov_rows, pk.cov_cols
    w = np.where(pk.off_diagonal, np.sqrt(2.0), np.sqrt(0.5))
    form = (P[r[:, None], c[None, :]] * P[c[:, None], r[None, :]]
            + P[r[:, None], r[None, :]] * P[c[:, None], c[None, :]])
    return np.outer(w, w) * form


def _in_z(pk: _Packing, mean_part, cov_part):
    """Scatter a gradient given over (joint mean, covariance coordinates) into z order."""
    size = pk.state_size + pk.control_size
    return jnp.zeros((size,), cov_part.dtype).at[pk.mean_z].set(mean_part).at[pk.cov_z].set(
        cov_part)


@pytree_dataclass
class _StageDerivatives:
    """Gradient ``grad[Z]`` and Hessian ``hess[Z, Z]`` of one step's Newton model, and what the
    multiplier step needs: the constraint gradients ``div_grad = dD/dz``, ``ent_grad = dH/dz``
    (zeros without a floor)."""

    grad: jax.Array
    hess: jax.Array
    div_grad: jax.Array
    ent_grad: jax.Array


def _stage_derivatives(pk: _Packing, problem_t, eps, delta, weight, mu, s, w, alpha=None,
                       beta=None, div_slack=None, ent_slack=None) -> _StageDerivatives:
    """The Newton model of one step at z = (s, w), closed form.

    Without multipliers it is the gradient and Hessian of ``_barrier_stage``: for a barrier term
    -mu log g, gradient (mu / g) grad(-g), Hessian (mu / g) hess(-g) + (mu / g^2) grad g grad g^T.
    With multipliers (alpha for the divergence bound, beta for the entropy floor; the primal-dual
    method, Boyd & Vandenberghe 2004, §11.7.1, dual variables eliminated) the gradient stays the
    barrier's and the Hessian is that of the Lagrangian plus the condensed complementarity,
    alpha hess(-g) + (alpha / g) grad g grad g^T: the barrier Hessian exactly where alpha = mu / g,
    on the central path. The divergence and the entropy have no mean-covariance cross terms, so
    each Hessian is a mean block, a covariance block (a combination of the two log-determinant
    curvatures) and the rank-one terms. ``div_slack``, ``ent_slack``: the slacks as the line
    search computed them (``_stage_terms``); the closed form here rounds differently, and near an
    active bound a slack of 1e-13 could otherwise change sign.
    """
    n, m = pk.n, pk.m
    d = n + m
    dyn, cost, q, ref_mean, ref_cov, reference = problem_t
    mean, S = pk.joint(s, w)
    S_inv, log_det_S = _inverse_and_log_det(S)
    X_inv, log_det_X = _inverse_and_log_det(S[:n, :n])
    X_inv_padded = jnp.zeros((d, d), S.dtype).at[:n, :n].set(X_inv)
    C = jnp.block([[cost.Cxx, cost.Cux.T], [cost.Cux, cost.Cuu]])
    g = jnp.concatenate([cost.cx, cost.cu])
    if reference == JOINT:
        R_inv, log_det_R = _inverse_and_log_det(ref_cov)
        r = mean - ref_mean
        div = 0.5 * (jnp.sum(R_inv * S) + r @ R_inv @ r - log_det_S + log_det_R - d)
        div_mean_grad, div_mean_hess = R_inv @ r, R_inv
        div_cov_grad = 0.5 * (R_inv - S_inv)
        div_s_curv, div_x_curv = 0.5, 0.0       # hess D = 1/2 F(S^-1)
    else:
        E = jnp.concatenate([-q.K, jnp.eye(m, dtype=S.dtype)], axis=1)
        Q_inv, log_det_Q = _inverse_and_log_det(q.cov)
        P = symmetrize(E.T @ Q_inv @ E)
        r = E @ mean - q.k
        div = 0.5 * (jnp.sum(P * S) + r @ Q_inv @ r - log_det_S + log_det_X + log_det_Q - m)
        div_mean_grad, div_mean_hess = E.T @ Q_inv @ r, P
        div_cov_grad = 0.5 * (P - S_inv + X_inv_padded)
        div_s_curv, div_x_curv = 0.5, -0.5      # hess D = 1/2 F(S^-1) - 1/2 F(X^-1)
    div_slack = eps - div if div_slack is None else div_slack
    c_div = mu / div_slack
    a_div = c_div if alpha is None else alpha
    grad_div = _in_z(pk, div_mean_grad, _covariance_gradient(pk, div_cov_grad))
    mean_grad = weight * (C @ mean + g) + c_div * div_mean_grad
    cov_grad = _covariance_gradient(pk, 0.5 * weight * C + c_div * div_cov_grad)
    s_curv, x_curv = a_div * div_s_curv, a_div * div_x_curv
    rank_one = (a_div / div_slack) * jnp.outer(grad_div, grad_div)
    grad_ent = jnp.zeros_like(grad_div)
    if delta is not None:
        entropy = 0.5 * (log_det_S - log_det_X) + 0.5 * m * _LOG_2PI_E
        ent_slack = entropy + delta if ent_slack is None else ent_slack
        c_ent = mu / ent_slack
        a_ent = c_ent if beta is None else beta
        ent_cov_grad = _covariance_gradient(pk, 0.5 * (S_inv - X_inv_padded))
        grad_ent = _in_z(pk, jnp.zeros((d,), S.dtype), ent_cov_grad)
        cov_grad = cov_grad - c_ent * ent_cov_grad
        # -a_ent hess H with hess H = -1/2 F(S^-1) + 1/2 F(X^-1)
        s_curv, x_curv = s_curv + 0.5 * a_ent, x_curv - 0.5 * a_ent
        rank_one = rank_one + (a_ent / ent_slack) * jnp.outer(grad_ent, grad_ent)
    cov_hess = s_curv * _log_det_curvature(pk, S_inv) + x_curv * _log_det_curvature(
        pk, X_inv_padded)
    hess = (jnp.zeros_like(rank_one)
            .at[np.ix_(pk.mean_z, pk.mean_z)].set(weight * C + a_div * div_mean_hess)
            .at[np.ix_(pk.cov_z, pk.cov_z)].set(cov_hess)) + rank_one
    return _StageDerivatives(grad=_in_z(pk, mean_grad, cov_grad), hess=symmetrize(hess),
                             div_grad=grad_div, ent_grad=grad_ent)


def _final_value(pk, final, s):
    mx, X = pk.unpack_state(s)
    return 0.5 * jnp.sum(final.Cxx * X) + 0.5 * mx @ final.Cxx @ mx + final.cx @ mx + final.c0


def _next_state(pk, dyn_t, s, w):
    mean, S = pk.joint(s, w)
    F = jnp.concatenate([dyn_t.A, dyn_t.B], axis=1)
    return pk.state(F @ mean + dyn_t.c, symmetrize(F @ S @ F.T + dyn_t.cov))


# -- problem setup -----------------------------------------------------------------------------

def _policy_moments(pk, problem: MomentProblem, policy: LinearGaussianPolicy, x0_cov):
    """Flat moments (s[T+1], w[T]) of ``policy`` under the model (exact propagation)."""
    dyn = problem.dynamics

    def step(s, inp):
        dyn_t, K, k, cov = inp
        mx, X = pk.unpack_state(s)
        Y = K @ X
        w = pk.control(K @ mx + k, Y, symmetrize(Y @ K.T + cov))
        return _next_state(pk, dyn_t, s, w), (s, w)

    s0 = pk.state(problem.x0_mean, x0_cov)
    sT, (s, w) = jax.lax.scan(step, s0, (dyn, policy.K, policy.k, policy.cov))
    return jnp.concatenate([s, sT[None]]), w


def _stage_data(problem: MomentProblem):
    return (problem.dynamics, problem.cost, problem.prior, problem.ref_mean, problem.ref_cov)


@pytree_dataclass
class _Barrier:
    """The barrier subproblem: cost ``weight`` (0 in phase I), ``mu``, entropy bound ``delta``."""

    weight: jax.Array
    mu: jax.Array
    delta: jax.Array | None


def _stage_fn(pk, problem, barrier: _Barrier):
    """Per-step barrier objective over z = (s_t, w_t), vmapped over t."""
    ds_dim = pk.n + len(pk.tri_n[0])

    def one(d, e, dl, z):
        return _barrier_stage(pk, d + (problem.reference,), e, dl, barrier.weight, barrier.mu,
                              z[:ds_dim], z[ds_dim:])

    axes = (0, 0, 0 if barrier.delta is not None else None, 0)
    return one, axes


def _objective(pk, problem, barrier: _Barrier, s, w):
    one, axes = _stage_fn(pk, problem, barrier)
    z = jnp.concatenate([s[:-1], w], axis=1)
    stages = jax.vmap(one, in_axes=axes)(_stage_data(problem), problem.eps, barrier.delta, z)
    total = jnp.sum(stages) + barrier.weight * _final_value(pk, problem.final, s[-1])
    return jnp.where(jnp.isfinite(total), total, jnp.inf)


def _stage_values(pk, problem, s, w):
    data = _stage_data(problem)
    return jax.vmap(lambda d, s_t, w_t: _stage_terms(pk, d + (problem.reference,), s_t, w_t))(
        data, s[:-1], w)


def _moment_dynamics(pk, problem):
    """Jacobians ``A[T, ds, ds]``, ``B[T, ds, dw]`` of the moment dynamics s' = f(s, w), which are
    linear: exact, and the same at every point, so computed once per solve."""
    s0 = jnp.zeros((pk.state_size,), problem.dynamics.A.dtype)
    w0 = jnp.zeros((pk.control_size,), s0.dtype)
    jac = jax.jacfwd(lambda d, s_t, w_t: _next_state(pk, d, s_t, w_t), argnums=(1, 2))
    return jax.vmap(jac, in_axes=(0, None, None))(problem.dynamics, s0, w0)


@pytree_dataclass
class _Direction:
    """A Newton step: ``ds[T+1]``, ``dw[T]``, the multipliers' ``dalpha[T]``, ``dbeta[T]``, the
    slope of the barrier objective along (ds, dw) and ``ok``."""

    ds: jax.Array
    dw: jax.Array
    dalpha: jax.Array
    dbeta: jax.Array
    slope: jax.Array
    ok: jax.Array


def _newton_direction(pk, problem, moment_dyn, barrier: _Barrier, reg, s, w, alpha, beta,
                      div_slack, ent_slack) -> _Direction:
    """Riccati pass on the Newton model (``_stage_derivatives`` with multipliers alpha[T],
    beta[T] and the slacks div_slack[T], ent_slack[T] of the line search); the full-step
    direction, and the multipliers' step from the linearized complementarity alpha_t g_t = mu
    (Boyd & Vandenberghe 2004, eq. 11.54): dalpha_t = mu / g_t - alpha_t + (alpha_t / g_t) dD_t,
    g_t the slack, dD_t = grad D_t . dz_t."""
    T = w.shape[0]
    ds_dim = s.shape[1]
    A, B = moment_dyn
    floor = barrier.delta is not None
    derivatives = lambda d, e, dl, s_t, w_t, a_t, b_t, gd, ge: _stage_derivatives(  # noqa: E731
        pk, d + (problem.reference,), e, dl, barrier.weight, barrier.mu, s_t, w_t, a_t,
        b_t if floor else None, gd, ge if floor else None)
    axes = (0, 0, 0 if floor else None, 0, 0, 0, 0, 0, 0)
    stage = jax.vmap(derivatives, in_axes=axes)(_stage_data(problem), problem.eps,
                                                barrier.delta, s[:-1], w, alpha, beta,
                                                div_slack, ent_slack)
    grad, hess = stage.grad, stage.hess
    cost = QuadraticCost(Cxx=hess[:, :ds_dim, :ds_dim], Cuu=hess[:, ds_dim:, ds_dim:],
                         Cux=hess[:, ds_dim:, :ds_dim], cx=grad[:, :ds_dim],
                         cu=grad[:, ds_dim:], c0=jnp.zeros((T,), s.dtype))
    final_fn = lambda sT: barrier.weight * _final_value(pk, problem.final, sT)  # noqa: E731
    final = QuadraticFinalCost(Cxx=jax.hessian(final_fn)(s[-1]), cx=jax.grad(final_fn)(s[-1]),
                               c0=jnp.zeros((), s.dtype))
    lin = LinearDynamics(A=A, B=B, c=jnp.zeros_like(s[1:]),
                         cov=jnp.zeros((T, ds_dim, ds_dim), s.dtype))
    sol = riccati_backward_pass(cost, final, lin, reg, scheme=CONTROL_REGULARIZATION)

    def roll(ds, inp):
        K, k, A_t, B_t = inp
        dw = k + K @ ds
        return A_t @ ds + B_t @ dw, (ds, dw)

    dsT, (ds, dw) = jax.lax.scan(roll, jnp.zeros((ds_dim,), s.dtype), (sol.K, sol.k, A, B))
    dz = jnp.concatenate([ds, dw], axis=1)
    ds = jnp.concatenate([ds, dsT[None]])
    slope = jnp.sum(grad[:, :ds_dim] * ds[:-1]) + jnp.sum(grad[:, ds_dim:] * dw) \
        + final.cx @ ds[-1]
    d_div = jnp.sum(stage.div_grad * dz, axis=1)
    d_ent = jnp.sum(stage.ent_grad * dz, axis=1)
    dalpha = barrier.mu / div_slack - alpha + alpha / div_slack * d_div
    dbeta = barrier.mu / ent_slack - beta - beta / ent_slack * d_ent
    if barrier.delta is None:
        dbeta = jnp.zeros_like(beta)
    ok = sol.ok & jnp.isfinite(slope) & all_finite(ds) & all_finite(dw) & all_finite(
        (dalpha, dbeta))
    return _Direction(ds=ds, dw=dw, dalpha=dalpha, dbeta=dbeta, slope=slope, ok=ok)


def _backtracking(objective, f0, slope, accept_first, start, factor, max_tries: int = 100):
    """Largest a in {start, factor start, factor^2 start, ...} (at most ``max_tries``
    reductions, down to ~1e-10 start for factor 0.8) with the Armijo decrease objective(a) <=
    f0 + 0.1 a slope, or a = start when ``accept_first`` (a finite value suffices). Returns (a,
    found). A while loop: usually one to three evaluations, each far cheaper than the Riccati
    pass; a factor of 0.8 rather than 0.5 takes ~20 % longer steps when the full step leaves
    the feasible set (the usual case far from the central path)."""

    def acceptable(a):
        value = objective(a)
        armijo = (value <= f0 + 0.1 * a * slope) | (accept_first & (a == start))
        return armijo & jnp.isfinite(value)

    def cond(state):
        a, found, tries = state
        return ~found & (tries < max_tries)

    def body(state):
        a, _, tries = state
        a = factor * a
        return a, acceptable(a), tries + 1

    a, found, _ = jax.lax.while_loop(cond, body, (start, acceptable(start), jnp.array(0)))
    return jnp.where(found, a, 0.0), found


def read_policy(pk: _Packing, s, w) -> LinearGaussianPolicy:
    """K = Y X^-1, k = m^u - K m^x, Sigma = Z - Y X^-1 Y^T from the flat moments."""

    def one(s_t, w_t):
        mean, S = pk.joint(s_t, w_t)
        n = pk.n
        X, Y, Z = S[:n, :n], S[n:, :n], S[n:, n:]
        K = jnp.linalg.solve(X, Y.T).T
        return K, mean[n:] - K @ mean[:n], symmetrize(Z - K @ Y.T)

    K, k, cov = jax.vmap(one)(s[:-1], w)
    return LinearGaussianPolicy(K=K, k=k, cov=cov)


def _entropy_lift(problem: MomentProblem, margin):
    """Nats by which each step's entropy floor must be relaxed for q to be strictly inside it
    (phase I starts from delta + lift and shrinks the relaxation to zero)."""
    m = problem.prior.k.shape[-1]
    entropy_q = 0.5 * jax.vmap(_logdet)(problem.prior.cov) + 0.5 * m * _LOG_2PI_E
    return jnp.maximum(0.0, margin - entropy_q - problem.delta)


@pytree_dataclass
class _NewtonState:
    """Loop state of ``solve``: the iterate (s[T+1], w[T]) with its divergences and entropies,
    the multipliers alpha[T], beta[T] (phase II), barrier weight mu, phase-I relaxation theta,
    regularization, step counts and flags."""

    s: jax.Array
    w: jax.Array
    divergence: jax.Array
    entropy: jax.Array
    alpha: jax.Array
    beta: jax.Array
    mu: jax.Array
    theta: jax.Array
    reg: jax.Array
    final_iterations: jax.Array
    reference_gap: jax.Array
    stalled_iterations: jax.Array
    iterations: jax.Array
    done: jax.Array
    gap_met: jax.Array
    ok: jax.Array
    stepped: jax.Array


def _largest_positive_step(x, dx):
    """The largest a <= 1 keeping x + a dx > 0 (x > 0), shortened by 1 % (Boyd & Vandenberghe
    2004, §11.7.3)."""
    ratio = jnp.where(dx < 0, -x / jnp.where(dx < 0, dx, -1.0), jnp.inf)
    return jnp.minimum(1.0, 0.99 * jnp.min(ratio))


def solve(problem: MomentProblem, options: NewtonOptions = NewtonOptions()) -> MomentSolution:
    """Interior-point solve of the constrained update (module docstring). Pure; jit/vmap-able.

    Start: q's moments (every divergence 0 < eps). If q violates an entropy floor, phase I first
    centers the constraints alone with the floor relaxed by ``theta * lift`` and shrinks theta to
    0 as the entropy rises; if that stalls, the bounds have no common interior (``ok`` False).
    Phase II is the primal-dual method (Boyd & Vandenberghe 2004, §11.7): Newton steps on the
    barrier problem at weight mu with the Lagrangian's curvature at the current multipliers,
    a multiplier step from the linearized complementarity, and mu set after every step to a
    fraction of the surrogate duality gap per constraint (``NewtonOptions.decrease``).
    """
    dyn = problem.dynamics
    T, n, m = dyn.B.shape
    dtype = dyn.A.dtype
    pk = _Packing(n, m)
    # A deterministic start (x0_cov = 0) leaves K_0 undetermined; a tiny floor fixes it.
    singular = ~all_finite(jnp.linalg.cholesky(problem.x0_cov))
    x0_cov = problem.x0_cov + jnp.where(singular, 1e-9 * (1.0 + jnp.trace(problem.x0_cov)), 0.0
                                        ) * jnp.eye(n, dtype=dtype)
    n_constraints = T * (2 if problem.delta is not None else 1)
    gap_rtol = max(options.gap_rtol, 1e-6 if jnp.finfo(dtype).bits < 64 else 0.0)
    moment_dyn = _moment_dynamics(pk, problem)
    entropy_floor = problem.delta is not None
    lift = _entropy_lift(problem, options.entropy_margin) if entropy_floor else None

    def barrier(theta, mu):
        phase1 = theta > 0
        delta = problem.delta + theta * lift if entropy_floor else None
        return _Barrier(weight=jnp.where(phase1, 0.0, 1.0).astype(dtype),
                        mu=jnp.where(phase1, 1.0, mu), delta=delta)

    def shrink(theta, entropy):
        """Next relaxation: keep 90% of every relaxed slack (Newton on the barrier about doubles
        it, so the entropies rise geometrically); 0 once the true slacks are >= the margin."""
        slack = entropy + problem.delta
        lifted = lift > 0
        need = 0.9 * theta - 0.1 * slack / jnp.where(lifted, lift, 1.0)
        theta_new = jnp.clip(jnp.max(jnp.where(lifted, need, 0.0)), 0.0, theta)
        inside = jnp.all(jnp.where(lifted, slack >= options.entropy_margin, True))
        return jnp.where(inside, 0.0, theta_new)

    def entropy_slack(entropy, delta):
        return entropy + delta if entropy_floor else jnp.ones_like(entropy)

    s, w = _policy_moments(pk, problem, problem.prior, x0_cov)
    expected0, div0, entropy0 = _stage_values(pk, problem, s, w)
    # The first barrier weight puts the duality-gap bound n * mu at q's total expected cost. The
    # final cost counts: with end-state-only costs (quad pendulum) it is nearly all of it, and a
    # mu0 from the running costs alone starts the path ~1e3 too stiff (hundreds of damped steps).
    mu0 = (1.0 + jnp.abs(jnp.sum(expected0) + _final_value(pk, problem.final, s[-1]))
           ) / n_constraints
    theta0 = jnp.asarray(1.0 if entropy_floor else 0.0, dtype)
    if entropy_floor:
        theta0 = jnp.where(jnp.any(lift > 0), theta0, 0.0)
    feasible0 = jnp.isfinite(_objective(pk, problem, barrier(theta0, mu0), s, w))

    def central_multipliers(mu, divergence, entropy, delta):
        """alpha = mu / slack, beta likewise: the barrier's multipliers at weight mu."""
        return (mu / (problem.eps - divergence),
                mu / entropy_slack(entropy, delta) if entropy_floor else jnp.zeros_like(entropy))

    def cond(st: _NewtonState):
        return (~st.done) & st.ok & (st.iterations < options.max_iter)

    def body(st: _NewtonState):
        s, w, mu, theta, reg = st.s, st.w, st.mu, st.theta, st.reg
        bar = barrier(theta, mu)
        phase1 = theta > 0
        # Phase I centers the constraint barrier: its multipliers are the central ones.
        central = central_multipliers(bar.mu, st.divergence, st.entropy, bar.delta)
        alpha = jnp.where(phase1, central[0], st.alpha)
        beta = jnp.where(phase1, central[1], st.beta)
        step = _newton_direction(pk, problem, moment_dyn, bar, reg, s, w, alpha, beta,
                                 problem.eps - st.divergence,
                                 entropy_slack(st.entropy, bar.delta))
        f0 = _objective(pk, problem, bar, s, w)
        # Below rounding the Armijo test is meaningless: then take the full (pure Newton) step.
        rounding = 1e4 * jnp.finfo(dtype).eps * (1.0 + jnp.abs(f0))
        tiny = -step.slope <= rounding
        start = jnp.where(phase1, 1.0, jnp.minimum(
            _largest_positive_step(alpha, step.dalpha), _largest_positive_step(
                beta, step.dbeta) if entropy_floor else 1.0)).astype(dtype)
        a, found = _backtracking(
            lambda a: _objective(pk, problem, bar, s + a * step.ds, w + a * step.dw), f0,
            step.slope, tiny, start, options.backtrack)
        found = found & step.ok
        s_new, w_new = jnp.where(found, s + a * step.ds, s), jnp.where(found, w + a * step.dw, w)
        _, div_new, entropy_new = _stage_values(pk, problem, s_new, w_new)
        # A backtracked step whose predicted decrease is below rounding passed the Armijo test by
        # rounding alone: f cannot be improved further at this precision (else the loop stalls).
        stuck = found & (a < start) & (-a * step.slope <= rounding)
        decrement = -0.5 * step.slope    # Newton decrement lambda^2 / 2
        if entropy_floor:
            centered = step.ok & ((decrement <= options.center_tol * bar.mu) | stuck)
            theta_new = shrink(theta, entropy_new)
            stalled = phase1 & centered & (theta_new >= theta)
        else:
            theta_new, stalled = theta, jnp.array(False)
        # Phase II: the multiplier step, then the next barrier weight from the duality gap.
        tol = gap_rtol * (1.0 + jnp.abs(f0))
        floor_new = problem.delta if entropy_floor else None
        alpha_new = jnp.where(found, alpha + a * step.dalpha, alpha)
        beta_new = jnp.where(found, beta + a * step.dbeta, beta)
        gap = jnp.sum(alpha_new * (problem.eps - div_new))
        if entropy_floor:
            gap = gap + jnp.sum(beta_new * entropy_slack(entropy_new, floor_new))
        # (not below the tolerance, where the complementarity targets would only chase rounding,
        # nor below what the slacks resolve: alpha_t g_t = mu puts slack mu / alpha_t on an active
        # bound, which must stay above ``_slack_margin``)
        resolvable = jnp.max(alpha_new * _slack_margin(problem.eps))
        if entropy_floor:
            resolvable = jnp.maximum(resolvable, jnp.max(beta_new * _slack_margin(problem.delta)))
        centering = jnp.maximum(options.decrease, 1.0 - a)
        mu_new = jnp.maximum(centering * jnp.maximum(gap, tol) / n_constraints, resolvable)
        # Until phase II starts, its start: the central multipliers at mu0.
        start_multipliers = central_multipliers(mu0, div_new, entropy_new, floor_new)
        alpha_new = jnp.where(phase1, start_multipliers[0], alpha_new)
        beta_new = jnp.where(phase1, start_multipliers[1], beta_new)
        mu_new = jnp.where(phase1, mu0, mu_new)
        # The end: the gap bound met and the Newton decrement below it too (or rounding stops
        # progress, or ``final_steps`` more steps did not get there).
        phase2 = ~phase1
        # A gap above the tolerance that rounding keeps (mu at its resolvable floor) also ends
        # the run, reported as not converged.
        floor_gap = 2.0 * n_constraints * resolvable
        small_gap = phase2 & (gap <= jnp.maximum(tol, floor_gap))
        final_it = jnp.where(small_gap, st.final_iterations + 1, 0)
        done = small_gap & step.ok & ((decrement <= options.final_center_tol * tol) | stuck
                                      | (final_it > options.final_steps))
        # A gap within 1e4 of the tolerance that stops halving (rounding on an ill-conditioned
        # problem, typically 1e-9 relative against the 1e-10 asked for) ends the run after
        # ``stall_steps`` steps, reported as not converged: the steps to max_iter would change
        # nothing. (A larger gap may still be shrinking slowly; it keeps going.)
        halved = gap <= 0.5 * st.reference_gap
        reset = halved | phase1 | (gap > 1e4 * tol)
        reference_gap = jnp.where(reset, gap, st.reference_gap)
        stalled_it = jnp.where(reset, 0, st.stalled_iterations + 1)
        done = done | (stalled_it >= options.stall_steps)
        reg_new = jnp.where(found, reg * 0.1, jnp.maximum(reg * 10.0, 1e-10))
        reg_new = jnp.where(reg_new < 1e-12, 0.0, reg_new)
        return _NewtonState(
            s=s_new, w=w_new, divergence=div_new, entropy=entropy_new, alpha=alpha_new,
            beta=beta_new, mu=mu_new, theta=theta_new, reg=reg_new, final_iterations=final_it,
            reference_gap=reference_gap, stalled_iterations=stalled_it,
            iterations=st.iterations + 1, done=done, gap_met=done & (gap <= tol),
            ok=st.ok & ~stalled & (found | (reg_new < 1e12)),
            stepped=st.stepped | (phase2 & found))

    zero = jnp.zeros((), dtype)
    alpha0, beta0 = central_multipliers(mu0, div0, entropy0, problem.delta)
    init = _NewtonState(s=s, w=w, divergence=div0, entropy=entropy0, alpha=alpha0, beta=beta0,
                        mu=mu0, theta=theta0, reg=zero, final_iterations=jnp.array(0),
                        reference_gap=jnp.asarray(jnp.inf, dtype), stalled_iterations=jnp.array(0),
                        iterations=jnp.array(0), done=jnp.array(False),
                        gap_met=jnp.array(False), ok=feasible0,
                        stepped=jnp.array(False))
    st = jax.lax.while_loop(cond, body, init)
    # When the Newton system breaks down at a tiny mu (a multiplier ~1e7 makes it ~1e19-scaled),
    # the last accepted iterate is returned: strictly feasible, the gap bound not reached.
    s, w, mu, theta = st.s, st.w, st.mu, st.theta
    ok, done, it = st.ok | st.stepped, st.done & st.gap_met & st.ok, st.iterations
    expected, div, entropy = _stage_values(pk, problem, s, w)
    alpha = st.alpha
    beta = st.beta if entropy_floor else jnp.zeros((T,), dtype)
    gap = jnp.sum(alpha * (problem.eps - div)) + jnp.sum(beta * entropy_slack(entropy,
                                                                               problem.delta))
    dual = jnp.sum(expected) + _final_value(pk, problem.final, s[-1]) - gap
    policy = read_policy(pk, s, w)
    mx, X = jax.vmap(pk.unpack_state)(s)
    ok = ok & (theta == 0) & all_finite((policy, alpha, beta))  # theta > 0: no feasible start
    return MomentSolution(policy=policy, state_mean=mx, state_cov=X, alpha=alpha, beta=beta,
                          divergence=div, entropy=entropy, dual=dual, mu=mu, iterations=it,
                          converged=done & ok, ok=ok)
