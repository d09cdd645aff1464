"""``Result``: the one return type of every solver in lqgx."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lqgx._pytree import pytree_dataclass
from lqgx.lq.types import LinearGaussianPolicy

# Status codes: solvers finish inside jit, so they report an integer and ``Result.message`` maps it
# to text. Codes < 100 mean success (``converged=True``), codes >= 100 failure.
STATUS_MESSAGES: dict[int, str] = {
    0: "converged: relative cost change below tol",
    1: "converged: update step below tol",
    2: "finished the requested number of iterations",
    3: "finished the requested number of iterations; some updates were rejected (non-finite, or "
       "a sampled cost above max_cost_rise times the best so far) and retried with a smaller "
       "step bound",
    100: "iteration limit reached before convergence",
    101: "regularization exceeded its maximum: no descent step found",
    102: "non-finite derivatives along the nominal trajectory",
    103: "the initial rollout is not finite (dynamics or cost returned NaN/inf)",
    104: "non-finite values in the update (or in its rollout on the true system) at the last "
         "iteration; returned the last finite iterate",
    105: "constraints still violated beyond constraint_tol (infeasible, or more al_iterations or "
         "a larger penalty_max needed); returned the last iterate",
}


@pytree_dataclass
class Result:
    """What a solver returns.

    Fields:
        states: ``[T+1, n]`` nominal (mean) trajectory on the true system.
        actions: ``[T, m]`` nominal actions.
        policy: the final ``LinearGaussianPolicy``.
        cost: expected total cost of the returned policy (scalar; a sum of costs, minimized).
        history: ``dict`` name -> ``[iterations]`` array; always has ``"cost"``. Entries past the
            last iteration are NaN when the solve ran under ``jit``/``vmap``; trimmed otherwise.
        converged: bool.
        iterations: number of iterations performed.
        status: integer code, see ``STATUS_MESSAGES`` / ``message``.
    """

    states: jax.Array
    actions: jax.Array
    policy: LinearGaussianPolicy
    cost: jax.Array
    history: dict[str, jax.Array]
    converged: jax.Array
    iterations: jax.Array
    status: jax.Array

    @property
    def message(self) -> str | list[str]:
        """Human-readable reason the solver stopped (a list for batched results)."""
        codes = np.asarray(self.status)
        if codes.ndim == 0:
            return STATUS_MESSAGES.get(int(codes), f"status {int(codes)}")
        return [STATUS_MESSAGES.get(int(c), f"status {int(c)}") for c in codes.ravel()]

    def trimmed(self) -> "Result":
        """History cut to the iterations actually run (only for a single, concrete result)."""
        if isinstance(self.iterations, jax.core.Tracer) or np.ndim(self.iterations) != 0:
            return self
        count = int(self.iterations)
        history = {name: values[:count] for name, values in self.history.items()}
        return dataclasses.replace(self, history=history)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary (floats and lists)."""
        return {
            "cost": np.asarray(self.cost).tolist(),
            "converged": np.asarray(self.converged).tolist(),
            "iterations": np.asarray(self.iterations).tolist(),
            "message": self.message,
            "history": {k: np.asarray(v).tolist() for k, v in self.history.items()},
        }


def success(status: jax.Array) -> jax.Array:
    return jnp.asarray(status) < 100
