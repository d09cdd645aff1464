"""Training by small-step policy-gradient ascent on the particles (paper eq. 4, adiabatic regime).

Forward Euler on the mean-field ODE dω_i/dt = F(ω_i; ν_t) (eq. 9, time already rescaled by N):

    ω_i ← ω_i + β F(ω_i; ν^(N)),       training time t = β · step,

which is plain gradient ascent w ← w + (N β) ∇_w E(w) on the raw parameters. Policy evaluation is
exact at every step (the "infinite sample" limit the paper analyses), so the only discretization is
the step β (paper: 1e-3). Steps run inside ``lax.scan`` in chunks of ``chunk`` steps; between
chunks control returns to Python only to report progress.
"""

from __future__ import annotations

import functools
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from lqgx.softmax.energy import Particles
from lqgx.softmax.evaluation import PolicyEvaluation
from lqgx.softmax.mdp import GridMDP
from lqgx.softmax.relu_grid import relu_grid_field

FieldFn = Callable[[GridMDP, Particles], tuple[Particles, PolicyEvaluation]]

__all__ = ["TrainingTrace", "ascent_steps", "train"]


class TrainingTrace(NamedTuple):
    """Fields: ``particles`` after training, ``times[K+1]`` = β k, ``objective[K+1]`` E(ν_{β k})
    for k = 0..K (K = steps). With ``batched=True`` every field has a leading batch axis."""

    particles: Particles
    times: jax.Array
    objective: jax.Array


@functools.partial(jax.jit, static_argnames=("num_steps", "field_fn"))
def ascent_steps(mdp: GridMDP, particles: Particles, step_size: float, num_steps: int,
                 field_fn: FieldFn = relu_grid_field) -> tuple[Particles, jax.Array]:
    """``num_steps`` Euler steps of eq. 9; returns (particles, E before each step ``[num_steps]``).

    ``field_fn(mdp, particles) -> (field, evaluation)`` is ``relu_grid.relu_grid_field`` (ReLU
    units, fast) or ``functools.partial(vector_field.policy_gradient_field, unit=...)`` (any unit).
    """

    def step(omega, _):
        field, evaluation = field_fn(mdp, omega)
        omega = jax.tree_util.tree_map(lambda w, v: w + step_size * v, omega, field)
        return omega, evaluation.objective

    return jax.lax.scan(step, particles, None, length=num_steps)


def train(mdp: GridMDP, particles: Particles, *, steps: int, step_size: float = 1e-3, chunk: int = 1000,
          field_fn: FieldFn = relu_grid_field, batched: bool = False,
          progress: Callable[[int, jax.Array, float], None] | None = None) -> TrainingTrace:
    """Run ``steps`` ascent steps (eq. 4 with β = ``step_size``), recording E(ν_t) at every step.

    Args:
      mdp, particles: the problem and the initial particles ``Particles(output[N], hidden[N, d])``;
        with ``batched=True`` both carry a leading batch axis (e.g. seeds) and are vmapped.
      steps: number of steps K (training time K β).
      chunk: steps per compiled ``lax.scan``; ``progress(done, objective_now, wall_s)`` is called
        after each chunk.
      field_fn: the vector field, see ``ascent_steps``.

    Returns:
      ``TrainingTrace`` with ``objective[..., K+1]``.
    """
    if steps < 1 or chunk < 1:
        raise ValueError(f"steps and chunk must be positive, got steps={steps}, chunk={chunk}")
    def run(mdp, particles, num_steps):
        return ascent_steps(mdp, particles, step_size, num_steps, field_fn)

    def final(mdp, particles):
        return field_fn(mdp, particles)[1].objective

    if batched:
        run, final = jax.vmap(run, in_axes=(0, 0, None)), jax.vmap(final)
    run = jax.jit(run, static_argnums=2)
    start = time.perf_counter()
    pieces, done = [], 0
    while done < steps:
        n = min(chunk, steps - done)
        particles, objective = run(mdp, particles, n)
        objective.block_until_ready()  # so that the reported wall time is the compute time
        pieces.append(objective)
        done += n
        if progress is not None:
            progress(done, objective[..., -1], time.perf_counter() - start)
    pieces.append(jax.jit(final)(mdp, particles)[..., None])
    objective = jnp.concatenate(pieces, axis=-1)
    times = step_size * jnp.arange(steps + 1, dtype=objective.dtype)
    return TrainingTrace(particles=particles, times=times, objective=objective)
