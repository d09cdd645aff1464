"""lqgx: linearize-then-optimize trajectory optimization and control in JAX.

Public API (see DESIGN.md): ``System``, ``Result``, ``LinearGaussianPolicy``, ``linearize``,
``fit_dynamics``, ``ilqg``, ``ddp``, ``gps``, ``saps``, ``esaps``, ``solve_batch``, ``render``, and
the subpackages ``lq``, ``systems``, ``controllers``, ``dso``, ``ddpl``, ``softmax``.

Heavy parts (MJX systems, DDPL, DSO) are imported lazily on first attribute access.
"""

from __future__ import annotations

import importlib

# Eager: ``lqgx.linearize`` must stay the function even after ``import lqgx.linearize`` (the module
# of the same name), which a lazy attribute would not survive.
from lqgx.linearize import fit_dynamics, linearize, quadratize
from lqgx.lq.types import LinearGaussianPolicy
from lqgx.result import Result
from lqgx.system import System

__version__ = "0.1.0"

_LAZY = {
    "ilqg": ("lqgx.optimizers.ilqg", "ilqg"),
    "ddp": ("lqgx.optimizers.ddp", "ddp"),
    "solve_batch": ("lqgx.optimizers.ilqg", "solve_batch"),
    "gps": ("lqgx.optimizers.gps", "gps"),
    "saps": ("lqgx.optimizers.saps", "saps"),
    "esaps": ("lqgx.optimizers.esaps", "esaps"),
    "render": ("lqgx.systems.render", "render"),
}
_SUBPACKAGES = {"lq", "systems", "controllers", "optimizers", "dso", "ddpl", "softmax"}

__all__ = ["System", "Result", "LinearGaussianPolicy", "linearize", "quadratize", "fit_dynamics",
           *_LAZY, *sorted(_SUBPACKAGES)]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"lqgx.{name}")
    else:
        raise AttributeError(f"module 'lqgx' has no attribute {name!r}")
    globals()[name] = value
    return value
