"""lqgx: linearize-then-optimize trajectory optimization and control in JAX.

Public API (see DESIGN.md): ``System``, ``Result``, ``LinearGaussianPolicy``, ``linearize``,
``fit_dynamics``, ``ilqg``, ``ddp``, ``gps``, ``saps``, ``esaps``, the sampling planners ``cem``,
``mppi``, ``predictive_sampling``, ``solve_batch``, ``render``,
``enable_compilation_cache``, and
the subpackages ``lq``, ``systems``, ``controllers``, ``dso``, ``ddpl``, ``softmax``.

Heavy parts (MJX systems, DDPL, DSO) are imported lazily on first attribute access.
"""

from __future__ import annotations

import importlib
import os

# XLA's CPU runtime loses work and hangs (every thread asleep) on the long while loops of the
# moment-Newton update (T=50..100, seen on the 2-core CI machine) unless its concurrency-optimized
# scheduler and multi-threaded Eigen kernels are off. lqgx's matrices are small, so this costs
# nothing measurable; the flags must be set before the backend starts. A flag already present in
# XLA_FLAGS (any value) is left alone.
_XLA_CPU_FLAGS = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",
                  "--xla_cpu_multi_thread_eigen=false")
for _flag in _XLA_CPU_FLAGS:
    if _flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

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
    "cem": ("lqgx.optimizers.cem", "cem"),
    "mppi": ("lqgx.optimizers.mppi", "mppi"),
    "predictive_sampling": ("lqgx.optimizers.predictive_sampling", "predictive_sampling"),
    "render": ("lqgx.systems.render", "render"),
    "enable_compilation_cache": ("lqgx.compilation", "enable_compilation_cache"),
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
