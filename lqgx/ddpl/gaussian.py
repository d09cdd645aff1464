"""Gaussian policy class for the DDPL-Gaussian ablation (paper §5, Fig. 4; Table 2 row).

π^θ(a | s) = N(μ_θ(s), diag σ_θ(s)²), sampled then projected onto the box A (same projection as
the diffusion policy). "Same algorithm, Gaussian class": the policy step of Algorithm 2 line 6 is
replaced by the importance-weighted maximum-likelihood loss

    L_s(θ) = −(1/N) Σ_j w_j log N(a_j; μ_θ(s), σ_θ(s)²),    w_j ∝ exp(η/(1−γ) Q̂_i(s, a_j)),

i.e. the projection of the energy-based target π* ∝ π_old exp(η Q̂/(1−γ)) onto the Gaussian class
by forward KL with the *same* importance weights and samples as ISSM (ISSM is itself a forward-KL /
score-matching fit of π*). The reverse-KL Gaussian projection of Algorithm 1 is implemented
exactly on the toy problems in ``lqgx.ddpl.toy``.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp

from lqgx.ddpl.diffusion import _check_bounds, project_ball, project_box
from lqgx.ddpl.networks import GaussianNet


@dataclasses.dataclass(frozen=True)
class GaussianPolicy:
    """Diagonal Gaussian policy class (static description).

    Attributes: action_dim d, box ``low``/``high``, MLP ``hidden`` widths, ``ball_radius``.
    """

    action_dim: int
    low: float | tuple = -1.0
    high: float | tuple = 1.0
    hidden: Sequence[int] = (256, 256, 256)
    ball_radius: float | None = None

    kind = "gaussian"

    def __post_init__(self):
        low, high = _check_bounds(self.action_dim, self.low, self.high)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def net(self):
        return GaussianNet(self.hidden, self.action_dim)

    def init(self, key, state_dim: int):
        if state_dim < 1:
            raise ValueError(f"state_dim must be >= 1, got {state_dim}")
        return self.net.init(key, jnp.zeros(state_dim))

    def project(self, a):
        a = project_box(a, jnp.asarray(self.low, a.dtype), jnp.asarray(self.high, a.dtype))
        if self.ball_radius is not None:
            a = project_ball(a, self.ball_radius)
        return a

    def sample_raw(self, params, key, state):
        mean, log_std = self.net.apply(params, jnp.asarray(state))
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)

    def sample(self, params, key, state):
        """a[d] ~ N(μ(s), σ(s)²), projected onto A."""
        return self.project(self.sample_raw(params, key, state))

    def mode(self, params, key, state):
        return self.project(self.net.apply(params, jnp.asarray(state))[0])

    def log_prob(self, params, state, action):
        mean, log_std = self.net.apply(params, state)
        z = (action - mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)

    def gaussian_target_loss(self, params, key, state, mean, cov):
        """Expected negative log-likelihood of a Gaussian target law N(mean[d], cov[d, d]) at one
        state, in closed form: E_{a~N(mean, cov)}[−log π(a | s)] = Σ_j [(cov_jj + (μ_j − mean_j)²)
        / (2σ_j²) + log σ_j] + d/2 log 2π, i.e. KL(target ‖ π) + the target's entropy."""
        del key
        mu, log_std = self.net.apply(params, state)
        var = jnp.exp(2.0 * log_std)
        return jnp.sum((jnp.diagonal(cov) + (mu - mean) ** 2) / (2.0 * var) + log_std
                       + 0.5 * jnp.log(2 * jnp.pi))

    def weighted_loss(self, params, key, state, actions, weights):
        """−(1/N) Σ_j w_j log π(a_j | s) for state[S], actions[N, d], weights[N]."""
        del key
        lp = jax.vmap(lambda a: self.log_prob(params, state, a))(actions)
        return -jnp.mean(jax.lax.stop_gradient(weights) * lp)
