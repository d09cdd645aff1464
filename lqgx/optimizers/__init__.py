"""Solvers: iLQG and DDP (trajectory optimization) and the GPS family (KL-bounded policy search).

``ilqg``/``ddp`` return the deterministic optimum with LQG feedback; ``gps``/``saps``/``esaps``
run the sample -> linearize -> bounded-update loop. The one-step updates (``gps_update``,
``saps_update``, ``esaps_update``) share ``constrained_update`` and ``solve_log_multipliers``.
The sampling planners ``cem``, ``mppi`` and ``predictive_sampling`` search open-loop action
sequences without derivatives; they share ``lqgx.optimizers.sampling``.
"""

from lqgx.optimizers.cem import cem
from lqgx.optimizers.ddp import ddp
from lqgx.optimizers.dual import DualOptions, solve_log_multipliers
from lqgx.optimizers.esaps import esaps, esaps_update
from lqgx.optimizers.gps import gps, gps_update
from lqgx.optimizers.ilqg import ILQGOptions, ilqg, solve_batch
from lqgx.optimizers.kl_update import LocalProblem, UpdateOptions, UpdateResult, constrained_update
from lqgx.optimizers.mppi import mppi
from lqgx.optimizers.policy_search import default_policy
from lqgx.optimizers.predictive_sampling import predictive_sampling
from lqgx.optimizers.saps import saps, saps_update

__all__ = ["DualOptions", "ILQGOptions", "LocalProblem", "UpdateOptions", "UpdateResult", "cem",
           "constrained_update", "ddp", "default_policy", "esaps", "esaps_update", "gps",
           "gps_update", "ilqg", "mppi", "predictive_sampling", "saps", "saps_update",
           "solve_batch", "solve_log_multipliers"]
