"""cvxpy oracle for one GPS/SAPS/ESAPS update on a linear-Gaussian problem.

Independent of lqgx's solvers: the update is written as the convex program over the joint
state-action moments (m_t, S_t) that it is (see ``lqgx.optimizers.moment_newton``), with the
log-determinants as cvxpy atoms and the conditional entropy through the LMI
Sigma_t <= S_uu - S_ux S_xx^-1 S_xu (tight at the optimum), solved by Clarabel.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from lqgx.lq import propagate
from lqgx.lq.state_action import joint_state_action


def solve(problem, eps, *, kind: str, delta=None):
    """kind: ``"gps"`` (E_mu KL(pi || q) <= eps) or ``"saps"`` (KL(mu pi || nu q) <= eps); with
    ``delta`` an entropy floor H(pi_t) >= -delta (ESAPS). Returns a dict with the optimal
    ``cost``, per-step ``kl[T]``, ``entropy[T]``, multipliers ``alpha[T]``, ``beta[T]``."""
    dyn, cost, final, q = problem.dynamics, problem.cost, problem.final, problem.prior
    A, B, c, W = (np.asarray(a, float) for a in (dyn.A, dyn.B, dyn.c, dyn.cov))
    T, n, m = B.shape
    d = n + m
    prior_states = propagate(dyn, q, problem.x0_mean, problem.x0_cov)
    ref_mean, ref_cov = (np.asarray(a, float) for a in
                         joint_state_action(q, prior_states.mean, prior_states.cov))
    Kq, kq, Sq = (np.asarray(a, float) for a in (q.K, q.k, q.cov))

    means = [cp.Variable(d) for _ in range(T)]
    covs = [cp.Variable((d, d), PSD=True) for _ in range(T)]
    policy_covs = [cp.Variable((m, m), PSD=True) for _ in range(T)]
    mean_T, cov_T = cp.Variable(n), cp.Variable((n, n), symmetric=True)
    cons = [means[0][:n] == np.asarray(problem.x0_mean, float),
            covs[0][:n, :n] == np.asarray(problem.x0_cov, float)]
    objective = 0
    kl_cons, ent_cons = [], []
    for t in range(T):
        F = np.concatenate([A[t], B[t]], axis=1)
        nxt_mean = F @ means[t] + c[t]
        nxt_cov = F @ covs[t] @ F.T + W[t]
        if t + 1 < T:
            cons += [means[t + 1][:n] == nxt_mean, covs[t + 1][:n, :n] == nxt_cov]
        else:
            cons += [mean_T == nxt_mean, cov_T == nxt_cov]
        C = np.block([[np.asarray(cost.Cxx[t]), np.asarray(cost.Cux[t]).T],
                      [np.asarray(cost.Cux[t]), np.asarray(cost.Cuu[t])]])
        g = np.concatenate([np.asarray(cost.cx[t]), np.asarray(cost.cu[t])])
        objective += (0.5 * cp.trace(C @ covs[t]) + 0.5 * cp.quad_form(means[t], C) + g @ means[t]
                      + float(cost.c0[t]))
        S = covs[t]
        # Sigma_t <= Schur complement of S_xx: the policy covariance (tight where it matters)
        cons.append(cp.bmat([[S[n:, n:] - policy_covs[t], S[n:, :n]],
                             [S[:n, n:], S[:n, :n]]]) >> 0)
        if kind == "saps":
            P_inv = np.linalg.inv(ref_cov[t])
            r = means[t] - ref_mean[t]
            kl = 0.5 * (cp.trace(P_inv @ S) + cp.quad_form(r, P_inv) - cp.log_det(S)
                        + np.linalg.slogdet(ref_cov[t])[1] - d)
        else:
            E = np.concatenate([-Kq[t], np.eye(m)], axis=1)
            Sq_inv = np.linalg.inv(Sq[t])
            r = E @ means[t] - kq[t]
            # -log|Sigma_pi| through the LMI variable (-log|S| + log|X| is not DCP)
            kl = 0.5 * (cp.trace(Sq_inv @ E @ S @ E.T) + cp.quad_form(r, Sq_inv)
                        - cp.log_det(policy_covs[t]) + np.linalg.slogdet(Sq[t])[1] - m)
        kl_cons.append(kl <= float(np.broadcast_to(eps, (T,))[t]))
        if delta is not None:
            ent = 0.5 * cp.log_det(policy_covs[t]) + 0.5 * m * np.log(2 * np.pi * np.e)
            ent_cons.append(ent >= -float(np.broadcast_to(delta, (T,))[t]))
    objective += (0.5 * cp.trace(np.asarray(final.Cxx) @ cov_T)
                  + 0.5 * cp.quad_form(mean_T, np.asarray(final.Cxx))
                  + np.asarray(final.cx) @ mean_T + float(final.c0))
    prob = cp.Problem(cp.Minimize(objective), cons + kl_cons + ent_cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-8)
    assert prob.status == cp.OPTIMAL, prob.status
    return {
        "cost": prob.value,
        "alpha": np.array([k.dual_value for k in kl_cons], float).reshape(T),
        "beta": (np.array([k.dual_value for k in ent_cons], float).reshape(T)
                 if ent_cons else np.zeros(T)),
        "entropy": np.array([0.5 * np.linalg.slogdet(p.value)[1] for p in policy_covs])
        + 0.5 * m * np.log(2 * np.pi * np.e),
        "kl": np.array([float(k.args[0].value) for k in kl_cons]),
    }
