"""Test configuration: float64 by default (float32 tests ask for float32 arrays explicitly).

XLA's CPU backend optimization level is lowered: the suite is dominated by compile time of small
problems, and level 0 roughly halves it (runtime of these tiny solves barely changes).
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
