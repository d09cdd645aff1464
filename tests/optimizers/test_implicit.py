"""Implicit differentiation of iLQG/DDP solutions (lqgx.optimizers.implicit).

Oracles: central finite differences of the re-solved problem, and autodiff through a dense,
unrolled projected-Newton step on the shooting objective started at the (stop-gradient) solution
— jax.hessian of J(u) with no Riccati pass — whose derivative at a fixed point equals the
implicit one. Parameters enter as closed-over arrays (pendulum mass, cost weight), as x0 and as
the action bounds; with and without active bounds.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx

T = 30
SETTINGS = dict(iterations=200, tol=1e-16, gradient_tol=1e-12)  # tol floors at 10 eps
P0 = np.array([1.0, 1.0, 0.1, 6.0])  # mass, control-cost weight, x0[0] offset, torque bound


def make_system(p, bounded: bool):
    mass, weight, offset, bound = p[0], p[1], p[2], p[3]

    def dynamics(x, u):
        acc = -9.81 * jnp.sin(x[0]) + u[0] / mass - 0.1 * x[1]
        return jnp.stack([x[0] + 0.05 * x[1], x[1] + 0.05 * acc])

    def cost(x, u, t):
        return 0.01 * x[1] ** 2 + 0.05 * weight * u[0] ** 2

    def final_cost(x):
        return 50.0 * (x[0] - jnp.pi) ** 2 + 5.0 * x[1] ** 2

    bounds = (-bound * jnp.ones(1), bound * jnp.ones(1)) if bounded else None
    x0 = jnp.stack([offset, jnp.zeros_like(offset)])
    return lqgx.System(dynamics, cost, final_cost, x0, T, action_bounds=bounds)


def summary(result):
    """Four scalar functions of the solution: cost, states, actions, policy gains and offsets."""
    return jnp.stack([result.cost, jnp.sum(jnp.sin(result.states)),
                      jnp.sum(result.actions ** 2),
                      jnp.sum(result.policy.K) + 0.1 * jnp.sum(result.policy.k)])


def newton_oracle(p, bounded: bool, solution_actions):
    """The same summaries after dense projected-Newton steps from the stop-gradient solution
    (free controls only), differentiated by plain autodiff. At an exact stationary point one
    step's derivative is the implicit one; two steps remove the solve's leftover gradient."""
    system = make_system(p, bounded)
    u = jax.lax.stop_gradient(solution_actions)

    def J(u):
        return system.trajectory_cost(system.rollout(u), u)

    if bounded:
        low, high = system.action_bounds
        at_low, at_high = u <= low + 1e-9, u >= high - 1e-9
        free = ~(at_low | at_high)
        u = jnp.where(at_low, low, jnp.where(at_high, high, u))  # bounds carry derivatives
    else:
        free = jnp.ones(u.shape, bool)
    f = free.ravel().astype(u.dtype)
    flat = lambda v: J(v.reshape(u.shape))  # noqa: E731
    v = u.ravel()
    for _ in range(2):
        H = jax.hessian(flat)(v)
        H_free = H * f[:, None] * f[None, :] + jnp.diag(1 - f)
        v = v - jnp.linalg.solve(H_free, jax.grad(flat)(v) * f)
    u_new = v.reshape(u.shape)
    states = system.rollout(u_new)
    cost = system.trajectory_cost(states, u_new)
    return jnp.stack([cost, jnp.sum(jnp.sin(states)), jnp.sum(u_new ** 2)])


@pytest.fixture(scope="module", params=[False, True], ids=["unbounded", "bounded"])
def case(request):
    bounded = request.param
    solve = jax.jit(lambda p: lqgx.ilqg(make_system(p, bounded), **SETTINGS))
    jacobian = jax.jit(jax.jacrev(lambda p: summary(lqgx.ilqg(make_system(p, bounded),
                                                              **SETTINGS))))
    p0 = jnp.asarray(P0)
    result = solve(p0)
    return dict(bounded=bounded, solve=solve, jacobian=jacobian(p0), result=result, p0=p0)


def test_the_solves_converge_with_the_intended_active_sets(case):
    result = case["result"]
    assert bool(result.converged), result.message
    active = int(jnp.sum(jnp.abs(result.actions) >= P0[3] - 1e-9))
    if case["bounded"]:
        assert 3 <= active <= T - 3, active  # some clamped and some free controls
    else:
        assert float(jnp.max(jnp.abs(result.actions))) > P0[3]  # the bound would be active


def test_gradients_match_finite_differences_of_the_resolved_problem(case):
    # Each re-solve is stationary only to |grad J| ~ 1e-8 (cost-based stopping in float64), so
    # its actions carry ~1e-7 of solver noise: a step of 1e-3 keeps that below 1e-4 of the
    # derivative and the O(h^2) truncation error smaller still.
    h = 1e-3
    fd = np.stack([(np.asarray(summary(case["solve"](case["p0"].at[i].add(h))))
                    - np.asarray(summary(case["solve"](case["p0"].at[i].add(-h))))) / (2 * h)
                   for i in range(4)], axis=1)
    implicit = np.asarray(case["jacobian"])
    if not case["bounded"]:
        assert np.all(implicit[:, 3] == 0)  # the bound is inactive: no derivative
    scale = np.max(np.abs(fd), axis=1, keepdims=True)
    np.testing.assert_allclose(implicit / scale, fd / scale, atol=1e-4)


def test_gradients_match_autodiff_through_a_dense_newton_step(case):
    oracle = jax.jacrev(newton_oracle)(case["p0"], case["bounded"], case["result"].actions)
    implicit = np.asarray(case["jacobian"])[:3]
    scale = np.max(np.abs(np.asarray(oracle)), axis=1, keepdims=True)
    np.testing.assert_allclose(implicit / scale, np.asarray(oracle) / scale, atol=1e-5)


def test_cost_gradient_is_the_envelope_gradient(case):
    """dJ*/dp = ∂J/∂p at u* (no solve needed): the cost-only path agrees with the full one."""
    bounded = case["bounded"]
    only_cost = jax.grad(lambda p: lqgx.ilqg(make_system(p, bounded), **SETTINGS).cost)(case["p0"])
    # the full path adds H^-1 times the solve's leftover gradient (zero at an exact optimum)
    np.testing.assert_allclose(np.asarray(only_cost), np.asarray(case["jacobian"])[0],
                               rtol=1e-6, atol=1e-8)
    u = case["result"].actions

    def partial_cost(p):
        system = make_system(p, bounded)
        return system.trajectory_cost(system.rollout(u), u)

    envelope = jax.grad(partial_cost)(case["p0"])
    if bounded:  # the clamped controls move with the bound
        return
    np.testing.assert_allclose(np.asarray(only_cost), np.asarray(envelope), rtol=1e-9)


def test_ddp_gradients_equal_ilqg_gradients():
    p0 = jnp.asarray(P0)
    grads = [jax.grad(lambda p, s=solver: jnp.sum(s(make_system(p, True), **SETTINGS).states))(p0)
             for solver in (lqgx.ilqg, lqgx.ddp)]
    np.testing.assert_allclose(np.asarray(grads[0]), np.asarray(grads[1]), rtol=1e-6, atol=1e-9)


def test_vmapped_gradients_and_float32():
    ps = jnp.asarray(P0) * jnp.array([[1.0, 1.0, 1.0, 1.0], [1.2, 0.8, 0.5, 1.5]])

    def states_sum(p, dtype):
        system = make_system(p.astype(dtype), True)
        return jnp.sum(lqgx.ilqg(system, **SETTINGS).states)

    batched = jax.vmap(jax.grad(lambda p: states_sum(p, jnp.float64)))(ps)
    one = jax.grad(lambda p: states_sum(p, jnp.float64))(ps[1])
    np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(one), rtol=1e-9)
    single = jax.grad(lambda p: states_sum(p, jnp.float32))(ps[0].astype(jnp.float32))
    assert single.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(single), np.asarray(batched[0]), rtol=2e-3, atol=2e-3)


def test_forward_mode_is_refused_with_jax_s_message():
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jacfwd(lambda p: lqgx.ilqg(make_system(p, False), iterations=5).cost)(jnp.asarray(P0))
