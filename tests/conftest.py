"""Test configuration: float64 by default (float32 tests ask for float32 arrays explicitly).

XLA's CPU backend optimization level is lowered: the suite is dominated by compile time of small
problems, and level 0 roughly halves it (runtime of these tiny solves barely changes).

Each test process is pinned to one core (xdist worker gwK to core K mod ncpu) before JAX starts:
jaxlib 0.10's batched LAPACK kernels (``ParallelBatchMap``, e.g. the triangular solves of
batched ``cho_solve``) can deadlock its 2-thread intra-op pool on a 2-core machine, every thread
asleep (gdb-confirmed on the ant linearization); with one core the pool has one thread and runs
them inline. With ``-n 2`` on 2 cores each worker has a core of its own anyway. The cores are
the ones the test run started with (``LQGX_TEST_CPUS``, recorded by the first process that loads
this file): the xdist controller loads it too and pins itself, and its workers inherit that
mask, so reading the workers' own affinity put every worker on the controller's core (until
2026-12-07 the whole suite ran on one core).

Compiled programs go to a persistent cache in ``.pytest_cache/jax`` (see below).
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")


def _pin_to_one_core():
    if "LQGX_TEST_CPUS" not in os.environ:
        os.environ["LQGX_TEST_CPUS"] = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    cpus = [int(c) for c in os.environ["LQGX_TEST_CPUS"].split(",")]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    os.sched_setaffinity(0, {cpus[index % len(cpus)]})


_pin_to_one_core()

import pathlib  # noqa: E402

import jax  # noqa: E402

from lqgx.compilation import enable_compilation_cache  # noqa: E402

jax.config.update("jax_enable_x64", True)

# Many tests build the same solve (same system, shapes and flags) in fresh closures, and the two
# xdist workers build the same ones again: with a persistent cache each is compiled once per run
# (and not again in the next run). LQGX_COMPILATION_CACHE=off measures the suite from cold.
enable_compilation_cache(os.environ.get("LQGX_TEST_COMPILATION_CACHE")
                         or pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax")
