"""Closed-form linear-quadratic-Gaussian algebra shared by every solver (pure, ``lax.scan``).

Types: ``LinearDynamics``, ``QuadraticCost``, ``QuadraticFinalCost``, ``QuadraticValue``,
``GaussianTrajectory``, ``LinearGaussianPolicy``. Passes: ``riccati_backward_pass`` (iLQG/DDP),
``soft_backward_pass`` (maximum entropy, GPS family), ``propagate`` (forward moments). Divergences:
``policy_kl``, ``gaussian_kl``, ``policy_entropy``, ``gaussian_entropy``. Box QP: ``box_qp``.
"""

from lqgx.lq.backward import (
    RiccatiSolution,
    SoftSolution,
    entropy_floor_temperature,
    riccati_backward_pass,
    soft_backward_pass,
)
from lqgx.lq.boxqp import BoxQPOptions, BoxQPSolution, box_qp
from lqgx.lq.divergence import gaussian_entropy, gaussian_kl, policy_entropy, policy_kl
from lqgx.lq.forward import propagate
from lqgx.lq.quadratic import (
    QFunction,
    expected_cost,
    negative_log_policy,
    q_function,
    shift_cost,
    shift_final_cost,
    weighted_sum,
)
from lqgx.lq.state_action import (
    joint_state_action,
    negative_log_gaussian,
    state_action_kl,
    state_distribution_from_values,
)
from lqgx.lq.types import (
    GaussianTrajectory,
    LinearDynamics,
    LinearGaussianPolicy,
    QuadraticCost,
    QuadraticFinalCost,
    QuadraticValue,
    cholesky,
    cholesky_inverse,
    cholesky_log_det,
    symmetrize,
)

__all__ = [
    "BoxQPOptions", "BoxQPSolution", "GaussianTrajectory", "LinearDynamics",
    "LinearGaussianPolicy", "QFunction", "QuadraticCost", "QuadraticFinalCost", "QuadraticValue",
    "RiccatiSolution", "SoftSolution", "box_qp", "cholesky", "cholesky_inverse",
    "cholesky_log_det",
    "entropy_floor_temperature", "expected_cost", "joint_state_action", "negative_log_gaussian",
    "state_action_kl", "state_distribution_from_values",
    "gaussian_entropy", "gaussian_kl", "negative_log_policy", "policy_entropy", "policy_kl",
    "propagate", "q_function", "riccati_backward_pass", "shift_cost", "shift_final_cost",
    "soft_backward_pass", "symmetrize", "weighted_sum",
]
