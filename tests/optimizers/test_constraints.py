"""Path and final constraints in iLQG/DDP (augmented Lagrangian, lqgx.optimizers.constrained):
exact on LQ problems with linear state constraints (cvxpy/Clarabel oracle), a cart-pole swing-up
inside a rail, a point mass around a disc, vmap over initial states, and clear errors."""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
from lqgx.controllers.mpc import horizon_problem
from lqgx.optimizers.constrained import CONSTRAINTS_VIOLATED, constraint_values, tree_max

from .lq_problems import tracking_costs

# ---- LQ problems with linear constraints and their QP oracle -------------------------------
# Tolerances: the AL loop runs to constraint_tol = 1e-8 with inner tol 1e-12; we require the
# violation <= 1e-6 and |J - J*| <= 1e-6 |J*| against Clarabel at 1e-10 gaps.
N, M, T = 4, 2, 12
RNG = np.random.default_rng(3)
A_LQ = np.eye(N) + 0.1 * RNG.normal(size=(N, N))
B_LQ = 0.5 * RNG.normal(size=(N, M))
Q_LQ, R_LQ, QF_LQ = np.diag([1.0, 0.5, 1.0, 0.5]), np.diag([0.2, 0.1]), 10.0 * np.eye(N)
GOAL = np.array([1.5, -1.0, 1.0, 0.5])
X0 = np.array([0.0, 0.0, 0.2, -0.1])
# Path: G x_t + H u_t <= h (t < T): x[0] <= 0.8, x[1] >= -0.5, u[0] + x[2] <= 1.0.
G_LQ = np.array([[1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, 1.0, 0]])
H_LQ = np.array([[0.0, 0], [0, 0], [1.0, 0]])
h_LQ = np.array([0.8, 0.5, 1.0])
# Final: x_T[3] <= 0.2, x_T[0] + x_T[2] <= 1.2.
GF_LQ, hF_LQ = np.array([[0, 0, 0, 1.0], [1.0, 0, 1.0, 0]]), np.array([0.2, 1.2])
TIGHT = dict(constraint_tol=1e-8, tol=1e-12, gradient_tol=1e-10)
U_BOUND = 0.8


def lq_dynamics(x, u):
    return jnp.asarray(A_LQ) @ x + jnp.asarray(B_LQ) @ u


lq_cost, lq_final = tracking_costs(GOAL, Q_LQ, R_LQ, QF_LQ)


def lq_constraints(x, u, t):
    return jnp.asarray(G_LQ) @ x + jnp.asarray(H_LQ) @ u - jnp.asarray(h_LQ)


def lq_final_constraints(x):
    return jnp.asarray(GF_LQ) @ x - jnp.asarray(hF_LQ)


def qp_oracle(x0=X0, bound=None, constrained=True):
    """(optimal cost, number of active inequality constraints) by Clarabel."""
    X, U = cp.Variable((T + 1, N)), cp.Variable((T, M))
    cons = [X[0] == x0] + [X[t + 1] == A_LQ @ X[t] + B_LQ @ U[t] for t in range(T)]
    ineq = []
    if constrained:
        ineq += [G_LQ @ X[t] + H_LQ @ U[t] <= h_LQ for t in range(T)] + [GF_LQ @ X[T] <= hF_LQ]
    if bound is not None:
        cons += [U <= bound, U >= -bound]
    obj = sum(0.5 * cp.quad_form(X[t] - GOAL, Q_LQ) + 0.5 * cp.quad_form(U[t], R_LQ)
              for t in range(T)) + 0.5 * cp.quad_form(X[T] - GOAL, QF_LQ)
    problem = cp.Problem(cp.Minimize(obj), cons + ineq)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert problem.status == cp.OPTIMAL, problem.status
    active = sum(int(np.sum(np.asarray(c.dual_value) > 1e-6)) for c in ineq)
    return problem.value, active


def violation(system, res):
    return float(tree_max(constraint_values(system, res.states, res.actions)))


@pytest.fixture(scope="module")
def lq_system():
    return lqgx.System(lq_dynamics, lq_cost, lq_final, jnp.asarray(X0), T, name="lq-constrained",
                       constraints=lq_constraints, final_constraints=lq_final_constraints)


@pytest.fixture(scope="module")
def lq_result(lq_system):
    return lqgx.ilqg(lq_system, **TIGHT)


def test_lq_with_linear_state_and_final_constraints_matches_clarabel(lq_system, lq_result):
    optimum, active = qp_oracle()
    free, _ = qp_oracle(constrained=False)
    assert active >= 3 and optimum > free + 1e-2  # the constraints bind
    res = lq_result
    assert bool(res.converged), res.message
    assert violation(lq_system, res) <= 1e-6
    assert float(res.history["constraint_violation"][-1]) <= 1e-6
    assert abs(float(res.cost) - optimum) <= 1e-6 * abs(optimum)
    assert np.all(np.isfinite(np.asarray(res.policy.K)))
    for key in ("cost", "constraint_violation", "penalty", "inner_iterations"):
        assert res.history[key].shape == (int(res.iterations),)


def test_ddp_with_constraints_and_action_bounds_matches_clarabel(lq_system):
    boxed = lq_system.replace(action_bounds=(-U_BOUND * jnp.ones(M), U_BOUND * jnp.ones(M)))
    optimum, _ = qp_oracle(bound=U_BOUND)
    res = lqgx.ddp(boxed, **TIGHT)
    assert bool(res.converged), res.message
    assert violation(boxed, res) <= 1e-6
    assert float(jnp.max(jnp.abs(res.actions))) <= U_BOUND
    assert abs(float(res.cost) - optimum) <= 1e-6 * abs(optimum)


def test_infeasible_constraints_end_finite_with_the_violated_status(lq_system, lq_result):
    # x0[0] = 1.0 > 0.8 violates the path constraint at t = 0, which no action can change.
    res = lqgx.ilqg(lq_system.replace(x0=jnp.asarray(X0).at[0].set(1.0)), **TIGHT)
    assert int(res.status) == CONSTRAINTS_VIOLATED == 105 and not bool(res.converged)
    assert "constraints still violated" in res.message
    assert np.all(np.isfinite(np.asarray(res.states))) and np.isfinite(float(res.cost))
    # At least the violation at t = 0 (x_0[0] - 0.8); x_1 cannot be made feasible either.
    assert float(res.history["constraint_violation"][-1]) >= 0.2 - 1e-9
    assert int(res.iterations) <= 20   # al_iterations


def test_solve_batch_on_a_constrained_system_matches_single_solves(lq_system, lq_result):
    x0s = jnp.asarray(X0) + jnp.array([[0.0, 0, 0, 0], [0.1, 0.1, 0, 0], [-0.2, 0, 0.1, 0.1]])
    batch = lqgx.solve_batch(lqgx.ilqg, lq_system, x0s, **TIGHT)
    assert batch.actions.shape == (3, T, M) and batch.history["constraint_violation"].shape[0] == 3
    for i in range(3):
        optimum, _ = qp_oracle(x0=np.asarray(x0s[i]))
        assert bool(batch.converged[i]), batch.message[i]
        assert abs(float(batch.cost[i]) - optimum) <= 1e-6 * abs(optimum)
    single = lqgx.ilqg(lq_system.replace(x0=x0s[1]), **TIGHT)
    np.testing.assert_allclose(batch.actions[1], single.actions, atol=1e-8)


# ---- cart-pole swing-up on a rail |p| <= 0.5 m ------------------------------------------
RAIL = 0.5


def rail(x, u, t):
    """|p| <= RAIL, p = x[0] the cart position (m)."""
    return jnp.array([x[0] - RAIL, -x[0] - RAIL])


@pytest.fixture(scope="module")
def cartpole_solves():
    free = lqgx.systems.make("cartpole")
    railed = free.replace(constraints=rail, final_constraints=lambda x: rail(x, None, None))
    return lqgx.ilqg(free), lqgx.ilqg(railed, penalty_init=100.0, al_iterations=30), railed


def test_cartpole_swing_up_stays_on_the_rail_the_unconstrained_one_leaves(cartpole_solves):
    free, railed, _ = cartpole_solves
    assert float(jnp.max(jnp.abs(free.states[:, 0]))) > RAIL + 0.2
    assert bool(railed.converged), railed.message
    assert float(jnp.max(jnp.abs(railed.states[:, 0]))) <= RAIL + 1e-4
    # Still a swing-up: the pole ends upright (q = pi) and nearly at rest.
    assert abs(float(railed.states[-1, 1]) - np.pi) < 0.1
    assert abs(float(railed.states[-1, 3])) < 0.5
    assert float(railed.cost) > float(free.cost)   # the rail costs something


# ---- a point mass around a disc --------------------------------------------------------
DT, T_PM = 0.1, 30
CENTER, RADIUS = np.array([1.0, 0.1]), 0.4
PM_GOAL = np.array([2.0, 0.0, 0.0, 0.0])


def point_mass(x, u):
    """2-D double integrator: x = (p[2], v[2]) in m, m/s; u = acceleration (m/s^2)."""
    p, v = x[:2], x[2:]
    return jnp.concatenate([p + DT * v + 0.5 * DT**2 * u, v + DT * u])


def disc(x, u, t):
    """RADIUS^2 - |p - CENTER|^2 <= 0: outside the disc."""
    d = x[:2] - jnp.asarray(CENTER)
    return jnp.array([RADIUS**2 - d @ d])


@pytest.fixture(scope="module")
def point_mass_system():
    return lqgx.System(point_mass, lambda x, u, t: 0.005 * u @ u,
                       lambda x: 50.0 * jnp.sum((x - jnp.asarray(PM_GOAL)) ** 2),
                       jnp.zeros(4), T_PM, action_dim=2, constraints=disc)


def test_point_mass_path_goes_around_the_disc(point_mass_system):
    res = lqgx.ilqg(point_mass_system, constraint_tol=1e-6)
    assert bool(res.converged), res.message
    distance = np.linalg.norm(np.asarray(res.states[:T_PM, :2]) - CENTER, axis=1)
    assert distance.min() >= RADIUS - 1e-5
    straight = np.linalg.norm(np.linspace([0, 0], PM_GOAL[:2], T_PM) - CENTER, axis=1)
    assert straight.min() < RADIUS - 0.2        # the straight line would cross the disc
    assert np.linalg.norm(np.asarray(res.states[-1, :2]) - PM_GOAL[:2]) < 0.05


# ---- construction, options and MPC -------------------------------------------------------
def _system(**kwargs):
    return lqgx.System(lq_dynamics, lq_cost, lq_final, jnp.asarray(X0), T, **kwargs)


@pytest.mark.parametrize("constraints, error, match", [
    (lambda x, u, t: jnp.zeros((2, 2)), ValueError, "constraints must be .*1-D"),
    (lambda x, u, t: x[0], ValueError, "constraints must be .*1-D"),
    (lambda x, u, t: jnp.array([x[0], jnp.nan]), ValueError, "constraints returned non-finite"),
    (lambda x, u, t: jnp.array([1, 2]), TypeError, "constraints must return a float"),
    (lambda x, u, t: x[:2] @ jnp.ones(3), TypeError, "constraints must be a JAX-traceable"),
    ("x <= 1", TypeError, "constraints must be callable"),
])
def test_malformed_constraints_raise_naming_the_argument(constraints, error, match):
    with pytest.raises(error, match=match):
        _system(constraints=constraints)


def test_malformed_final_constraints_raise_naming_the_argument():
    with pytest.raises(ValueError, match="final_constraints must be"):
        _system(final_constraints=lambda x: jnp.zeros(()))
    with pytest.raises(ValueError, match="final_constraints returned non-finite"):
        _system(final_constraints=lambda x: jnp.log(-x[:1] - 1.0))


@pytest.mark.parametrize("option", [dict(constraint_tol=-1.0), dict(al_iterations=0),
                                    dict(penalty_factor=1.0), dict(penalty_init=0.0),
                                    dict(violation_reduction=1.5)])
def test_bad_augmented_lagrangian_options_raise(lq_system, option):
    with pytest.raises(ValueError, match=next(iter(option))):
        lqgx.ilqg(lq_system, **option)


def test_constraints_survive_replace_pytree_round_trip_and_mpc_horizon(lq_system):
    assert lq_system.replace(x0=jnp.zeros(N)).constraints is lq_constraints
    leaves, treedef = jax.tree_util.tree_flatten(lq_system)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.final_constraints is lq_final_constraints and "constrained" in repr(rebuilt)
    assert not _system().has_constraints and "constrained" not in repr(_system())
    x, u = jnp.arange(N, dtype=float), jnp.ones(M)
    window = horizon_problem(lq_system, 5, 4, x)
    assert window.horizon == 5 and window.final_constraints is lq_final_constraints
    time_varying = lq_system.replace(constraints=lambda x_, u_, t: jnp.array([t - 10.0]))
    shifted = horizon_problem(time_varying, 5, 4, x)
    assert float(shifted.constraints(x, u, 2)[0]) == 4 + 2 - 10.0
    assert float(shifted.constraints(x, u, 9)[0]) == (T - 1) - 10.0  # clamped to the task's T-1
