"""The suite's core pinning (conftest): each xdist worker on its own core of the run's cores."""

import os


def test_each_worker_is_pinned_to_its_own_core_of_the_run():
    cpus = [int(c) for c in os.environ["LQGX_TEST_CPUS"].split(",")]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    # before the fix every worker inherited the controller's core: gw1 sat on cpus[0] too
    assert os.sched_getaffinity(0) == {cpus[index % len(cpus)]}
