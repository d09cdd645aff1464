"""Differential Dynamic Programming (Mayne 1966; Jacobson & Mayne 1970; thesis §2.1.1).

The iLQG loop of ``lqgx.optimizers.ilqg`` with the second-order dynamics terms in the backward
pass:

    Q_xx += sum_i V_x'[i] f^i_xx,   Q_uu += sum_i V_x'[i] f^i_uu,   Q_ux += sum_i V_x'[i] f^i_ux,

computed with ``jax.hessian`` of the contraction x, u -> V_x' . f(x, u) at each nominal step (one
Hessian of a scalar per step instead of n Hessians of the state components).
"""

from __future__ import annotations

from lqgx.optimizers.ilqg import _run
from lqgx.result import Result
from lqgx.system import System


def ddp(system: System, *, iterations: int = 100, actions=None, tol: float = 1e-6,
        **options) -> Result:
    """Solve ``system`` by DDP with box limits; same arguments and ``Result`` as ``lqgx.ilqg``."""
    return _run(system, iterations, actions, tol, options, second_order=True)
