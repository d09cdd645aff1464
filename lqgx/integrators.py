"""Fixed-step integrators that turn a continuous-time model ``xdot = derivative(x, u)`` into the
discrete ``dynamics(x, u) -> x_next`` an ``lqgx.System`` takes (control held over the step)."""

from __future__ import annotations

from typing import Callable

import jax

Derivative = Callable[[jax.Array, jax.Array], jax.Array]


def euler(derivative: Derivative, dt: float) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """Explicit Euler: x' = x + dt f(x, u)."""

    def step(x, u):
        return x + dt * derivative(x, u)

    return step


def rk4(derivative: Derivative, dt: float) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """Classical fourth-order Runge-Kutta: x' = x + dt/6 (k1 + 2 k2 + 2 k3 + k4)."""

    def step(x, u):
        k1 = derivative(x, u)
        k2 = derivative(x + 0.5 * dt * k1, u)
        k3 = derivative(x + 0.5 * dt * k2, u)
        k4 = derivative(x + dt * k3, u)
        return x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)

    return step
