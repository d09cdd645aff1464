"""Predictive sampling (Howell, Gileadi, Tunyasuvunakool, Zakka, Erez & Tassa 2022, "Predictive
Sampling: Real-time Behaviour Synthesis with MuJoCo", §III-A).

Problem: minimize J(u) over u[T, m] in the action box (``lqgx.optimizers.sampling``). A
nominal plan u_k is perturbed with fixed noise and replaced by the best candidate, the nominal
included, so its cost never rises:

    u_i = clip(u_k + sigma * eps_i),  eps_i ~ N(0, I),  i = 1..N;
    u_{k+1} = argmin_{v in {u_k, u_1, ..., u_N}} J(v).

The paper parameterizes u by spline knots and keeps the nominal as one of the N rollouts; here
u is the per-step sequence itself (zero-order knots at every step) and the nominal is evaluated in
addition to the N samples. The returned plan is the lowest-cost sequence evaluated (see
``lqgx.optimizers.sampling``), which is the final nominal u_K.
"""

from __future__ import annotations

import jax.numpy as jnp

from lqgx._pytree import pytree_dataclass, static_field
from lqgx.optimizers import sampling
from lqgx.optimizers.sampling import Distribution, Samples
from lqgx.result import Result
from lqgx.system import System


@pytree_dataclass
class PredictiveSampling:
    """Settings of ``predictive_sampling``; ``update`` keeps the best of nominal and samples."""

    iterations: int = static_field(default=20)
    samples: int = static_field(default=64)

    def update(self, old: Distribution, samples: Samples, mean_cost) -> Distribution:
        """u <- the lowest-cost of the nominal and the samples (ties keep the nominal)."""
        actions = jnp.concatenate([old.mean[None], samples.actions])
        costs = jnp.concatenate([mean_cost[None], samples.costs])
        return Distribution(mean=actions[sampling.best_index(costs)], std=old.std)


def predictive_sampling(system: System, *, iterations: int = 20, samples: int = 64,
                        noise_std=None, key=None, actions=None) -> Result:
    """Minimize the cost of ``system`` over open-loop actions by predictive sampling.

    Args:
        system: ``lqgx.System`` (deterministic mean dynamics; its covariances are ignored).
        iterations: number of perturb-and-select rounds.
        samples: perturbed sequences per iteration, N (the nominal is evaluated besides).
        noise_std: sigma of the fixed perturbations, scalar, ``[m]`` or ``[T, m]`` (default: a
            quarter of the action range where bounded, 1 where not).
        key: PRNG key (default ``PRNGKey(0)``); the same key gives the same result.
        actions: ``[T, m]`` initial nominal u_0 (default zeros; clipped into the bounds).

    Returns:
        ``Result`` with ``states[T+1, n]``/``actions[T, m]`` of the final nominal u_K (the
        best sequence evaluated), ``cost`` its cost; ``policy`` the open-loop
        ``LinearGaussianPolicy`` (K = 0, k = actions, cov = diag(sigma^2)); ``history``:
        ``"cost"`` (best so far, the cost of u_{k+1}), ``"best_sample_cost"``, ``"mean_cost"``
        (the cost of u_k), each ``[iterations]``; status 2, or 103 if no evaluated sequence
        had a finite cost.
    """
    iterations, samples = sampling.check_counts(iterations, samples)
    return sampling.run(system, PredictiveSampling(iterations=iterations, samples=samples),
                        actions=actions, std=noise_std, key=key, std_arg="noise_std")
