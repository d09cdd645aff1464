"""Cross-entropy method over open-loop action sequences (Rubinstein & Kroese 2004; Botev,
Kroese, Rubinstein & L'Ecuyer 2013, "The cross-entropy method for optimization", Algorithm 4.1).

Problem: minimize J(u) over u[T, m] in the action box (``lqgx.optimizers.sampling``). The
sampling density is N(mu, diag(sigma^2)) with mu, sigma in R^{T x m}. Iteration k:

    u_i = clip(mu_k + sigma_k * eps_i),  eps_i ~ N(0, I),  i = 1..N;
    E   = the N_e sequences of lowest cost J(u_i) (the elites);
    mu_hat    = mean_{i in E} u_i,   sigma_hat = std_{i in E} u_i      (elementwise);
    mu_{k+1}    = a mu_k    + (1 - a) mu_hat,                          (smoothing a in [0, 1))
    sigma_{k+1} = max(a sigma_k + (1 - a) sigma_hat, sigma_min).

For a Gaussian family the elite mean and standard deviation are the cross-entropy (maximum
likelihood) fit to the elites (Botev et al. 2013, eq. 4.5); the smoothing and the floor
sigma_min keep the density from collapsing onto one early elite (their §4.1 remark).
The returned plan is the lowest-cost sequence evaluated (see ``lqgx.optimizers.sampling``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lqgx._pytree import pytree_dataclass, static_field
from lqgx.optimizers import sampling
from lqgx.optimizers.sampling import Distribution, Samples
from lqgx.result import Result
from lqgx.system import System


@pytree_dataclass
class CEM:
    """Settings of ``cem`` (see its docstring); ``update`` is the elite refit."""

    iterations: int = static_field(default=20)
    samples: int = static_field(default=64)
    elites: int = static_field(default=8)
    smoothing: float = 0.0
    min_std: float = 1e-3

    def update(self, old: Distribution, samples: Samples, mean_cost) -> Distribution:
        """Refit mu and sigma to the ``elites`` lowest-cost samples, smoothed and floored."""
        _, order = jax.lax.top_k(-samples.costs, self.elites)
        elite = samples.actions[order]                     # [N_e, T, m]
        a = self.smoothing
        mean = a * old.mean + (1 - a) * jnp.mean(elite, axis=0)
        std = a * old.std + (1 - a) * jnp.std(elite, axis=0)
        return Distribution(mean=mean, std=jnp.maximum(std, self.min_std))


def cem(system: System, *, iterations: int = 20, samples: int = 64, elites: int = 8,
        smoothing: float = 0.0, std=None, min_std: float = 1e-3, key=None,
        actions=None) -> Result:
    """Minimize the cost of ``system`` over open-loop actions by the cross-entropy method.

    Args:
        system: ``lqgx.System`` (deterministic mean dynamics; its covariances are ignored).
        iterations: number of sample-refit rounds k.
        samples: sequences drawn per iteration, N.
        elites: the N_e lowest-cost samples refitted to, 2 <= N_e <= N.
        smoothing: a in [0, 1), weight of the previous mean and std (0: plain refit).
        std: initial sigma, scalar, ``[m]`` or ``[T, m]`` (default: a quarter of the action range
            where bounded, 1 where not).
        min_std: floor sigma_min > 0 of the std.
        key: PRNG key (default ``PRNGKey(0)``); the same key gives the same result.
        actions: ``[T, m]`` initial mean mu_0 (default zeros; clipped into the bounds).

    Returns:
        ``Result`` with ``states[T+1, n]``/``actions[T, m]`` of the *best* sequence evaluated
        (lowest cost among the means mu_0..mu_{K-1} and all samples), ``cost`` its cost;
        ``policy`` the open-loop ``LinearGaussianPolicy`` (K = 0, k = actions, cov =
        diag(sigma_K^2) of the final density); ``history``: ``"cost"`` (best so far),
        ``"best_sample_cost"``, ``"mean_cost"`` (cost of mu_k, the mean iteration k sampled
        around), each ``[iterations]``; status 2, or 103 if no evaluated sequence had a finite
        cost.
    """
    iterations, samples = sampling.check_counts(iterations, samples)
    elites = sampling.check_count(elites, "elites", low=2, high=samples, high_name="samples")
    planner = CEM(iterations=iterations, samples=samples, elites=elites,
                  smoothing=sampling.check_number(smoothing, "smoothing", low=0.0, high=1.0,
                                                  high_open=True),
                  min_std=sampling.check_number(min_std, "min_std", low=0.0, low_open=True))
    return sampling.run(system, planner, actions=actions, std=std, key=key)
