"""Model predictive path integral control, MPPI (Williams, Wagener, Goldfain, Drews, Rehg, Boots
& Theodorou 2017, "Information theoretic MPC for model-based reinforcement learning", Alg. 2).

Problem: minimize J(u) over u[T, m] in the action box (``lqgx.optimizers.sampling``). The
control distribution is N(u, Sigma) with a fixed Sigma = diag(sigma^2). Iteration k:

    u_i = clip(u_k + sigma * eps_i),  eps_i ~ N(0, I),  i = 1..N;    S_i = J(u_i);
    rho = min_i S_i,   w_i = exp(-(S_i - rho) / lambda) / eta,
    eta = sum_i exp(-(S_i - rho) / lambda);
    u_{k+1} = sum_i w_i u_i            (= u_k + sum_i w_i delta_i,  delta_i = u_i - u_k).

lambda > 0 is the temperature (in cost units): lambda -> 0 takes the best sample, lambda -> inf
the plain average. Two deviations from the paper: its S_i adds a term proportional to
u^T Sigma^-1 eps, the quadratic control cost its KL derivation implies, which is left out because
lqgx costs are general ``cost(x, u, t)`` evaluated at the applied action and already contain the
action cost (it would count twice); and the update averages the clipped sequences (so u stays
inside the box) instead of the raw perturbations. The paper's optional Savitzky-Golay smoothing
of u is not applied. The returned plan is the
lowest-cost sequence evaluated (see ``lqgx.optimizers.sampling``).
"""

from __future__ import annotations

import jax.numpy as jnp

from lqgx._pytree import pytree_dataclass, static_field
from lqgx.optimizers import sampling
from lqgx.optimizers.sampling import Distribution, Samples
from lqgx.result import Result
from lqgx.system import System


@pytree_dataclass
class MPPI:
    """Settings of ``mppi`` (see its docstring); ``update`` is the path-integral average."""

    iterations: int = static_field(default=20)
    samples: int = static_field(default=64)
    temperature: float = 1.0

    def update(self, old: Distribution, samples: Samples, mean_cost) -> Distribution:
        """u <- sum_i w_i u_i with w = softmin(S / lambda); unchanged if no S_i is finite."""
        rho = jnp.min(samples.costs)
        w = jnp.exp(-(samples.costs - rho) / self.temperature)   # +inf cost -> weight 0
        w = w / jnp.sum(w)
        mean = jnp.tensordot(w, samples.actions, axes=1)
        return Distribution(mean=jnp.where(jnp.isfinite(rho), mean, old.mean), std=old.std)


def mppi(system: System, *, iterations: int = 20, samples: int = 64, temperature: float = 1.0,
         noise_std=None, key=None, actions=None) -> Result:
    """Minimize the cost of ``system`` over open-loop actions by MPPI's path-integral update.

    Args:
        system: ``lqgx.System`` (deterministic mean dynamics; its covariances are ignored).
        iterations: number of sample-and-average rounds.
        samples: sequences drawn per iteration, N.
        temperature: lambda > 0, in units of cost.
        noise_std: sigma of the fixed exploration noise, scalar, ``[m]`` or ``[T, m]`` (default: a
            quarter of the action range where bounded, 1 where not).
        key: PRNG key (default ``PRNGKey(0)``); the same key gives the same result.
        actions: ``[T, m]`` initial plan u_0 (default zeros; clipped into the bounds).

    Returns:
        ``Result`` with ``states[T+1, n]``/``actions[T, m]`` of the *best* sequence evaluated
        (lowest cost among the plans u_0..u_{K-1} and all samples), ``cost`` its cost;
        ``policy`` the open-loop ``LinearGaussianPolicy`` (K = 0, k = actions, cov = Sigma);
        ``history``: ``"cost"`` (best so far), ``"best_sample_cost"``, ``"mean_cost"`` (cost of
        u_k, the plan iteration k sampled around), each ``[iterations]``; status 2, or 103 if
        no evaluated sequence had a finite cost.
    """
    iterations, samples = sampling.check_counts(iterations, samples)
    planner = MPPI(iterations=iterations, samples=samples,
                   temperature=sampling.check_number(temperature, "temperature", low=0.0,
                                                     low_open=True))
    return sampling.run(system, planner, actions=actions, std=noise_std, key=key,
                        std_arg="noise_std")
