"""DDPM diffusion policy π^θ(a | s) of DDPL (paper §2.2 and §4.1).

Sampling (§4.1): a_H ~ N(0, I), then for τ = H..1

    a_{τ−1} = (a_τ + β_τ s_τ^θ(a_τ | s)) / √α_τ + σ_τ ε,

run as one ``lax.scan``, followed by the Euclidean projection a = Proj_A(a_0) onto the action set
(a box: coordinate-wise clip, which *is* the Euclidean projection — no tanh squashing; or a ball
‖a‖ ≤ c_b as in §4).

Per-sample denoising loss (Algorithm 2 line 6, the bracket of eq. 2):

    l_s^θ(a) = Σ_τ β_τ²/(σ_τ² α_τ) E_ε ‖ s_τ^θ(√ᾱ_τ a + √(1−ᾱ_τ) ε | s) − ε/√(1−ᾱ_τ) ‖²    (*)

Note the sign convention: with a_τ = √ᾱ a + √(1−ᾱ) ε the conditional score is −ε/√(1−ᾱ); the
paper writes the target as +ε/√(1−ᾱ), i.e. it uses the symmetric noise −ε. The two are the same in
distribution only if s is also negated, so we implement the score-correct target −ε/√(1−ᾱ_τ), which
makes the reverse step above (with +β s) a denoiser.

``tau_samples=None`` evaluates the full sum over τ (H network calls per action);
``tau_samples=k`` draws k steps τ uniformly and rescales by H/k (unbiased; default 1 in training,
as the full sum is H× more expensive on CPU).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lqgx.ddpl.networks import ScoreNet
from lqgx.ddpl.schedules import make_schedule
from lqgx.lq.types import cholesky


def project_box(a, low, high):
    """Euclidean projection of a[..., d] onto the box [low, high] (coordinate-wise clip)."""
    return jnp.clip(a, low, high)


def project_ball(a, radius):
    """Euclidean projection of a[..., d] onto {‖a‖ ≤ radius}."""
    norm = jnp.linalg.norm(a, axis=-1, keepdims=True)
    return a * jnp.minimum(1.0, radius / jnp.maximum(norm, 1e-12))


def _check_bounds(action_dim, low, high):
    if not isinstance(action_dim, (int, np.integer)) or action_dim < 1:
        raise ValueError(f"action_dim must be a positive integer, got {action_dim!r}")
    low = np.broadcast_to(np.asarray(low, dtype=np.float64), (action_dim,))
    high = np.broadcast_to(np.asarray(high, dtype=np.float64), (action_dim,))
    if np.any(low >= high):
        raise ValueError(f"low must be < high elementwise, got low={low}, high={high}")
    return tuple(float(x) for x in low), tuple(float(x) for x in high)


@dataclasses.dataclass(frozen=True)
class DiffusionPolicy:
    """DDPM policy class (static description; parameters are separate pytrees).

    Attributes:
      action_dim: d.
      low, high: box action set A = [low, high] (floats or length-d tuples).
      steps: H denoising steps (Table 3: 20).
      schedule: "linear" | "linear_beta" | "cosine" | "vp" (see ``schedules``).
      reverse_variance: "paper" (σ² = β/α), "posterior" or "paper_noiseless_last" (``schedules``).
      hidden: score MLP widths (Table 3: (256, 256, 256)).
      tau_samples: None (full sum over τ in eq. 2) or number of τ drawn per action.
      ball_radius: if set, project onto ‖a‖ ≤ radius after the box clip.
    """

    action_dim: int
    low: float | tuple = -1.0
    high: float | tuple = 1.0
    steps: int = 20
    schedule: str = "linear"
    reverse_variance: str = "paper"
    hidden: Sequence[int] = (256, 256, 256)
    tau_samples: int | None = 1
    ball_radius: float | None = None

    def __post_init__(self):
        low, high = _check_bounds(self.action_dim, self.low, self.high)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        make_schedule(self.schedule, self.steps, reverse_variance=self.reverse_variance)
        if self.tau_samples is not None and (self.tau_samples < 1):
            raise ValueError(f"tau_samples must be None or >= 1, got {self.tau_samples}")

    kind = "diffusion"

    @property
    def net(self):
        return ScoreNet(self.hidden, self.action_dim)

    def _sched(self, dtype):
        s = make_schedule(self.schedule, self.steps, reverse_variance=self.reverse_variance)
        return jax.tree.map(lambda x: jnp.asarray(x, dtype), s)

    def init(self, key, state_dim: int):
        """Score-network parameters for states of dimension ``state_dim``."""
        if state_dim < 1:
            raise ValueError(f"state_dim must be >= 1, got {state_dim}")
        return self.net.init(key, jnp.zeros(state_dim), jnp.zeros(self.action_dim), jnp.zeros(()))

    def project(self, a):
        a = project_box(a, jnp.asarray(self.low, a.dtype), jnp.asarray(self.high, a.dtype))
        if self.ball_radius is not None:
            a = project_ball(a, self.ball_radius)
        return a

    def score(self, params, state, a, idx, sch=None):
        """s_τ^θ(a | s) for τ = idx + 1. The network predicts the noise ε̂ and
        s = −ε̂ / √(1 − ᾱ_τ): the same function class and the same loss (*) as a direct score
        output, but with O(1) regression targets at every τ (the direct target ε/√(1−ᾱ_1) is
        ≈ 30 at τ = 1 for Table 3's schedule)."""
        sch = self._sched(jnp.result_type(a.dtype, jnp.float32)) if sch is None else sch
        eps_hat = self.net.apply(params, state, a, (idx + 1.0) / self.steps)
        return -eps_hat / jnp.sqrt(1.0 - sch.alpha_bars[idx])

    def sample_raw(self, params, key, state):
        """Unprojected a_0[d] from the H-step reverse process for one state[S]."""
        state = jnp.asarray(state)
        dtype = jnp.result_type(state.dtype, jnp.float32)
        sch = self._sched(dtype)
        H = self.steps
        k0, kscan = jax.random.split(key)
        a_H = jax.random.normal(k0, (self.action_dim,), dtype)

        def body(a, inp):
            idx, k = inp  # idx = τ − 1, running H−1 .. 0
            s = self.score(params, state, a, idx, sch)
            mean = (a + sch.betas[idx] * s) / jnp.sqrt(sch.alphas[idx])
            a = mean + sch.sigmas[idx] * jax.random.normal(k, a.shape, dtype)
            return a, None

        idx = jnp.arange(H - 1, -1, -1)
        a0, _ = jax.lax.scan(body, a_H, (idx, jax.random.split(kscan, H)))
        return a0

    def sample(self, params, key, state):
        """a[d] ~ π^θ(· | state): reverse process then projection onto A (§4.1)."""
        return self.project(self.sample_raw(params, key, state))

    def mode(self, params, key, state):
        """Deterministic-ish evaluation action: the same sampler (diffusion has no closed mode)."""
        return self.sample(params, key, state)

    def _draw_steps(self, key):
        """(idx[k], scale, key): the τ − 1 indices of the loss's sum over τ — all H
        (``tau_samples=None``, scale 1) or ``tau_samples`` uniform draws (scale H/k, unbiased) —
        and the key left for the noise."""
        if self.tau_samples is None:
            return jnp.arange(self.steps), 1.0, key
        k_t, key = jax.random.split(key)
        idx = jax.random.randint(k_t, (self.tau_samples,), 0, self.steps)
        return idx, self.steps / self.tau_samples, key

    def denoising_loss(self, params, key, state, action):
        """l_s^θ(a) of (*) for one state[S] and action[d] → scalar."""
        dtype = jnp.result_type(jnp.asarray(action).dtype, jnp.float32)
        sch = self._sched(dtype)
        H = self.steps
        idx, scale, key = self._draw_steps(key)
        eps = jax.random.normal(key, (idx.shape[0], self.action_dim), dtype)
        ab = sch.alpha_bars[idx][:, None]
        a_t = jnp.sqrt(ab) * action + jnp.sqrt(1.0 - ab) * eps
        eps_hat = jax.vmap(lambda at, i: self.net.apply(params, state, at, (i + 1.0) / H))(a_t, idx)
        # ‖s − (−ε/√(1−ᾱ))‖² = ‖ε̂ − ε‖² / (1 − ᾱ)   (s = −ε̂/√(1−ᾱ), see ``score``)
        per_tau = jnp.sum((eps_hat - eps) ** 2, axis=-1) / (1.0 - ab[:, 0])
        return scale * jnp.sum(sch.loss_weights[idx] * per_tau)

    def gaussian_target_loss(self, params, key, state, mean, cov):
        """Score matching toward a Gaussian target law N(mean[d], cov[d, d]) at one state.

        The target's noised marginals are Gaussian, a_τ ~ N(√ᾱ_τ mean, V_τ), V_τ = ᾱ_τ cov +
        (1 − ᾱ_τ) I, with the exact score −V_τ⁻¹(a_τ − √ᾱ_τ mean). The loss is (*) with that exact
        score in place of the conditional one (explicit instead of denoising score matching):
        in expectation it differs from E_{a~N(mean, cov)} l_s^θ(a) by a constant only (Vincent
        2011), so it has the same minimizer, without the variance of the ε-labels. τ is drawn as
        in ``denoising_loss``."""
        dtype = jnp.result_type(jnp.asarray(mean).dtype, jnp.float32)
        sch = self._sched(dtype)
        H, d = self.steps, self.action_dim
        idx, scale, key = self._draw_steps(key)
        ab = sch.alpha_bars[idx][:, None, None]
        V = ab * cov + (1.0 - ab) * jnp.eye(d, dtype=dtype)                  # [k, d, d]
        chol = cholesky(V)
        z = jax.random.normal(key, (idx.shape[0], d), dtype)
        centre = jnp.sqrt(ab[:, :, 0]) * mean
        a_t = centre + jnp.einsum("kij,kj->ki", chol, z)
        # ε* = −√(1−ᾱ) · score = √(1−ᾱ) V⁻¹ (a_τ − √ᾱ mean) = √(1−ᾱ) L⁻ᵀ z
        eps_star = jnp.sqrt(1.0 - ab[:, :, 0]) * jax.vmap(
            lambda c, zz: jax.scipy.linalg.solve_triangular(c, zz, lower=True, trans=1))(chol, z)
        eps_hat = jax.vmap(lambda at, i: self.net.apply(params, state, at, (i + 1.0) / H))(a_t, idx)
        per_tau = jnp.sum((eps_hat - eps_star) ** 2, axis=-1) / (1.0 - ab[:, 0, 0])
        return scale * jnp.sum(sch.loss_weights[idx] * per_tau)

    def weighted_loss(self, params, key, state, actions, weights):
        """(1/N) Σ_j w_j l_s^θ(a_j) for state[S], actions[N, d], weights[N] (eq. 2)."""
        keys = jax.random.split(key, actions.shape[0])
        l = jax.vmap(lambda k, a: self.denoising_loss(params, k, state, a))(keys, actions)
        return jnp.mean(jax.lax.stop_gradient(weights) * l)
