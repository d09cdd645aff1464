"""``lqgx.distributed``: batches split over devices give the unsharded results.

The sharded case runs in two fresh interpreters, each with the CPU split into two devices
(``--xla_force_host_platform_device_count``, which must be set before JAX starts), joined by
``jax.distributed`` into one mesh of four: the multi-host path, on one machine, which also
covers one process with several devices (each process computes its own two shards).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lqgx
from lqgx.distributed import batch_mesh, vmap_sharded

PENDULUM = r"""
import jax.numpy as jnp
from lqgx.integrators import rk4

def pendulum(control_weight, x0=jnp.zeros(2)):
    derivative = lambda x, u: jnp.stack([x[1], u[0] - 9.81 * jnp.sin(x[0]) - 0.1 * x[1]])
    return lqgx.System(rk4(derivative, 0.05), lambda x, u, t: control_weight * u @ u,
                       lambda x: 100 * ((x[0] - jnp.pi) ** 2 + 0.1 * x[1] ** 2), x0, 20)

X0S = 0.3 * jax.random.normal(jax.random.PRNGKey(6), (6, 2))   # 6: padded to 8 on 4 devices
WEIGHTS = jnp.array([1e-3, 3e-3, 1e-2, 3e-2, 0.1])
"""

HOST = r"""
import json, sys
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
process, port = int(sys.argv[1]), sys.argv[2]
jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=process)
import lqgx
lqgx.enable_compilation_cache(sys.argv[3])
from jax.experimental.multihost_utils import process_allgather
from lqgx.distributed import batch_mesh, vmap_sharded
""" + PENDULUM + r"""
mesh = batch_mesh()
result = lqgx.solve_batch(lqgx.ilqg, pendulum(1e-2), X0S, iterations=40, mesh=mesh)
sweep = vmap_sharded(lambda w: lqgx.ilqg(pendulum(w), iterations=40).cost, mesh)(WEIGHTS)
report = {name: np.asarray(process_allgather(getattr(result, name), tiled=True)).tolist()
          for name in ("states", "actions", "cost", "iterations")}
report.update(devices=len(jax.devices()), local=len(jax.local_devices()),
              result_devices=len(result.cost.sharding.device_set),
              sweep=np.asarray(process_allgather(sweep, tiled=True)).tolist())
print(json.dumps(report))
"""

CACHE = pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"


@pytest.fixture(scope="module")
def two_hosts():
    """Two processes of two CPU devices each, joined by jax.distributed on localhost."""
    with socket.socket() as probe:   # a free port for the coordinator
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    hosts = [subprocess.Popen([sys.executable, "-c", HOST, str(process), str(port), str(CACHE)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for process in (0, 1)]
    reports = []
    for host in hosts:
        out, err = host.communicate(timeout=600)
        assert host.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


@pytest.fixture(scope="module")
def unsharded():
    """The same solves in this process, one device, plain vmap."""
    names = {"jax": jax, "lqgx": lqgx}
    exec(PENDULUM, names)
    pendulum, x0s, weights = names["pendulum"], names["X0S"], names["WEIGHTS"]
    result = lqgx.solve_batch(lqgx.ilqg, pendulum(1e-2), x0s, iterations=40)
    sweep = jax.vmap(lambda w: lqgx.ilqg(pendulum(w), iterations=40).cost)(weights)
    return result, sweep


def test_two_processes_split_the_batch_and_both_get_the_whole_result(two_hosts, unsharded):
    result, sweep = unsharded
    for report in two_hosts:
        assert report["devices"] == 4 and report["local"] == 2, report
        assert report["result_devices"] == 4       # one global array over both processes
        for name in ("states", "actions", "cost"):  # measured: equal to the last bit
            np.testing.assert_allclose(report[name], getattr(result, name), rtol=1e-12, atol=0)
        np.testing.assert_array_equal(report["iterations"], result.iterations)
        np.testing.assert_allclose(report["sweep"], sweep, rtol=1e-12, atol=0)


def test_bad_batches_and_meshes_are_named():
    double = vmap_sharded(lambda a, b: a + b, batch_mesh())
    assert jnp.allclose(double(jnp.arange(3.0), jnp.ones(3)), jnp.arange(3.0) + 1)
    assert jnp.allclose(jax.jit(double)(jnp.arange(3.0), jnp.ones(3)), jnp.arange(3.0) + 1)
    with pytest.raises(ValueError, match="disagree on the batch size"):
        double(jnp.arange(3.0), jnp.ones(4))
    with pytest.raises(ValueError, match="leading batch axis"):
        double(jnp.arange(3.0), 1.0)
    with pytest.raises(ValueError, match="mesh must be"):
        vmap_sharded(lambda a: a, mesh="gpu")
    with pytest.raises(ValueError, match="at least one device"):
        batch_mesh([])
    with pytest.raises(ValueError, match="empty"):
        vmap_sharded(lambda a: a, batch_mesh())(jnp.zeros((0, 2)))
