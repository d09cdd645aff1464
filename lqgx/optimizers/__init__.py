"""Solvers: iLQG, DDP (this package) and the GPS family (gps, saps, esaps)."""

from lqgx.optimizers.ddp import ddp
from lqgx.optimizers.ilqg import ILQGOptions, ilqg, solve_batch

__all__ = ["ILQGOptions", "ddp", "ilqg", "solve_batch"]
