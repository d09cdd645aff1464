"""Exact O(N·S·log A) energy and vector field for ReLU units on the action grid.

The dense path (``energy.mean_field_energy`` + ``vector_field.policy_gradient_field``) evaluates
every unit at every state-action node, O(N·S·A) memory traffic per step (8·10⁶ for §5 (b)). For the
paper's ReLU unit on features x(s, a) = (y(s), a) the pre-activation is affine in a,

    z_i(s, a) = α_i(s) + v_i a,     α_i(s) = ω̄_i[:-1] · y(s),  v_i = ω̄_i[-1],

so at each state unit i is active (z > 0) on a *half-line* of actions: on the grid an index range
[start_is, stop_is) with start = 0 or stop = A. Sums over active nodes therefore reduce to prefix
sums over the grid, computed once per state, and one gather per (unit, state):

  f(s, a_j)       = (1/N) Σ_i c_i 1[j active] (α_i(s) + v_i a_j)            (eq. 7; scatter + cumsum)
  F_c(ω_i)        = Σ_s Σ_{j active} G(s, j) (α_i(s) + v_i a_j)            (eq. 10, ∂/∂ω_0)
  F_ω̄(ω_i)        = c_i Σ_s Σ_{j active} G(s, j) (y(s), a_j)               (eq. 10, ∂/∂ω̄)

with c_i = ω_0^i and the advantage measure G of ``vector_field.advantage_measure``. Nothing is
approximated: the result equals the dense path up to floating-point rounding (tested), with
relu'(0) = 0 as in JAX. Nodes exactly at a kink (z = 0 in exact arithmetic) may be classified
differently from the dense path, which changes nothing since such a node contributes z = 0 to f.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx.softmax.energy import Particles
from lqgx.softmax.evaluation import PolicyEvaluation, evaluate_energy
from lqgx.softmax.mdp import GridMDP
from lqgx.softmax.vector_field import advantage_measure

__all__ = ["relu_grid_energy", "relu_grid_field"]


def _active_ranges(mdp: GridMDP, particles: Particles):
    """α[N, S], v[N] and the active node range [start, stop) ``[N, S]`` of every unit at every state."""
    alpha = particles.hidden[:, :-1] @ mdp.state_features.T  # [N, S]
    slope = particles.hidden[:, -1]  # [N]
    A = mdp.actions.shape[-1]
    safe_slope = jnp.where(slope == 0, 1.0, slope)[:, None]
    kink = -alpha / safe_slope  # z = 0 at a = kink
    # One binary search per (unit, state); "scan_unrolled" is the fastest method on CPU here.
    after_kink = jnp.searchsorted(mdp.actions, kink, side="right", method="scan_unrolled")  # first a > kink
    on_kink = mdp.actions[jnp.maximum(after_kink - 1, 0)] == kink
    before_kink = after_kink - (on_kink & (after_kink > 0))  # first node with a >= kink
    flat_active = alpha > 0  # v = 0: active everywhere or nowhere
    start = jnp.where(slope[:, None] > 0, after_kink, jnp.where(slope[:, None] < 0, 0, jnp.where(flat_active, 0, A)))
    stop = jnp.where(slope[:, None] < 0, before_kink, A)
    return alpha, slope, start, stop


def relu_grid_energy(mdp: GridMDP, particles: Particles) -> jax.Array:
    """f[S, A] of eq. 7 for ``relu_unit`` on features (y(s), a), without forming [N, S, A]."""
    return _energy_on_ranges(mdp, particles, *_active_ranges(mdp, particles))


def _energy_on_ranges(mdp, particles, alpha, slope, start, stop):
    """f[S, A] from the active ranges of ``_active_ranges`` (scatter + prefix/suffix sums)."""
    N, S = alpha.shape
    A = mdp.actions.shape[-1]
    c = particles.output[:, None]
    # Units active on [start, A) go to slot `start` of a forward histogram (read by a prefix sum);
    # units active on [0, stop), stop < A, go to slot `stop` of a backward histogram (read by a
    # strict suffix sum). Nothing is subtracted, so no cancellation between large partial sums.
    # Both histograms of every state live in one segment_sum (a single scatter): [S, 2(A+1), 2].
    forward = stop == A
    slot = jnp.where(forward, start, (A + 1) + stop)  # [N, S]
    segment = (jnp.arange(S)[None, :] * (2 * A + 2) + slot).reshape(-1)
    values = jnp.stack([c * alpha, jnp.broadcast_to(c * slope[:, None], (N, S))], axis=-1)  # [N, S, 2]
    histogram = jax.ops.segment_sum(values.reshape(-1, 2), segment, num_segments=S * (2 * A + 2))
    histogram = histogram.reshape(S, 2 * A + 2, 2)
    fwd, bwd = histogram[:, : A + 1], histogram[:, A + 1 :]
    prefix = jnp.cumsum(fwd, axis=1)[:, :A]  # units with start <= j (slot A is never read)
    strict_suffix = jnp.cumsum(bwd[:, ::-1], axis=1)[:, ::-1][:, 1:]  # units with stop > j
    sums = prefix + strict_suffix  # [S, A, 2]: Σ c α and Σ c v over units active at (s, a_j)
    return (sums[..., 0] + sums[..., 1] * mdp.actions) / N


def relu_grid_field(mdp: GridMDP, particles: Particles) -> tuple[Particles, PolicyEvaluation]:
    """Same contract as ``vector_field.policy_gradient_field`` with ``relu_unit``, in O(N·S·log A + S²·A)."""
    alpha, slope, start, stop = ranges = _active_ranges(mdp, particles)
    evaluation = evaluate_energy(mdp, _energy_on_ranges(mdp, particles, *ranges))
    weight = advantage_measure(mdp, evaluation)  # [S, A]
    S = alpha.shape[1]
    zero = jnp.zeros((S, 1), weight.dtype)
    cum_g = jnp.concatenate([zero, jnp.cumsum(weight, axis=-1)], axis=-1)  # [S, A+1], Σ_{k<j} G
    cum_ga = jnp.concatenate([zero, jnp.cumsum(weight * mdp.actions, axis=-1)], axis=-1)
    rows = jnp.arange(S)[None, :]
    mass = cum_g[rows, stop] - cum_g[rows, start]  # [N, S]  Σ_active G
    moment = cum_ga[rows, stop] - cum_ga[rows, start]  # [N, S]  Σ_active G a
    c = particles.output
    field_output = jnp.sum(alpha * mass, axis=-1) + slope * jnp.sum(moment, axis=-1)
    field_hidden = c[:, None] * jnp.concatenate(
        [mass @ mdp.state_features, jnp.sum(moment, axis=-1, keepdims=True)], axis=-1)
    return Particles(output=field_output, hidden=field_hidden), evaluation
