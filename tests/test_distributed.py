"""``lqgx.distributed``: batches split over devices give the unsharded results.

The sharded cases run in fresh interpreters with the CPU split into devices
(``--xla_force_host_platform_device_count``, which must be set before JAX starts): one process
with four devices, and two processes of two devices each joined by ``jax.distributed`` (the
multi-host path, on one machine).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from lqgx.distributed import batch_mesh, vmap_sharded

PENDULUM = r"""
import jax.numpy as jnp
from lqgx.integrators import rk4

def pendulum(control_weight, x0=jnp.zeros(2)):
    derivative = lambda x, u: jnp.stack([x[1], u[0] - 9.81 * jnp.sin(x[0]) - 0.1 * x[1]])
    return lqgx.System(rk4(derivative, 0.05), lambda x, u, t: control_weight * u @ u,
                       lambda x: 100 * ((x[0] - jnp.pi) ** 2 + 0.1 * x[1] ** 2), x0, 20)

X0S = 0.3 * jax.random.normal(jax.random.PRNGKey(6), (6, 2))   # 6: padded to 8 on 4 devices
"""

PROBE = r"""
import json, sys
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
import lqgx
lqgx.enable_compilation_cache(sys.argv[1])
from lqgx.distributed import batch_mesh, vmap_sharded
""" + PENDULUM + r"""
mesh = batch_mesh()
system = pendulum(1e-2)
report = {"devices": len(jax.devices())}
plain = lqgx.solve_batch(lqgx.ilqg, system, X0S, iterations=40)
sharded = lqgx.solve_batch(lqgx.ilqg, system, X0S, iterations=40, mesh=mesh)
pairs = list(zip(jax.tree.leaves(plain), jax.tree.leaves(sharded)))
report["batch"] = {
    "shapes_equal": all(a.shape == b.shape for a, b in pairs),
    "max_diff": max(float(jnp.nanmax(jnp.abs(a - b))) for a, b in pairs
                    if jnp.issubdtype(a.dtype, jnp.floating)),
    "ints_equal": all(bool(jnp.all(a == b)) for a, b in pairs
                      if not jnp.issubdtype(a.dtype, jnp.floating)),
    "cost_devices": len(sharded.cost.sharding.device_set),
    "cost": np.asarray(plain.cost).tolist()}
# a sweep over a cost weight, inside a user's jit
weights = jnp.array([1e-3, 3e-3, 1e-2, 3e-2])
sweep = jax.jit(vmap_sharded(lambda w: lqgx.ilqg(pendulum(w), iterations=40).cost, mesh))
unsharded = jax.jit(jax.vmap(lambda w: lqgx.ilqg(pendulum(w), iterations=40).cost))
report["sweep_max_rel"] = float(jnp.max(jnp.abs(sweep(weights) / unsharded(weights) - 1)))
print(json.dumps(report))
"""


HOSTS = r"""
import json, sys
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
process, port = int(sys.argv[1]), sys.argv[2]
jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=process)
import lqgx
lqgx.enable_compilation_cache(sys.argv[3])
from jax.experimental import multihost_utils
from lqgx.distributed import batch_mesh
""" + PENDULUM + r"""
result = lqgx.solve_batch(lqgx.ilqg, pendulum(1e-2), X0S, iterations=40, mesh=batch_mesh())
cost = multihost_utils.process_allgather(result.cost, tiled=True)
print(json.dumps({"devices": len(jax.devices()), "local": len(jax.local_devices()),
                  "cost": np.asarray(cost).tolist()}))
"""


CACHE = pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"


def _device_flag(count: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "")
                        + f" --xla_force_host_platform_device_count={count}")
    return env


@pytest.fixture(scope="module")
def two_hosts():
    with socket.socket() as probe:   # a free port for the coordinator
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    hosts = [subprocess.Popen([sys.executable, "-c", HOSTS, str(process), str(port), str(CACHE)],
                              env=_device_flag(2), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for process in (0, 1)]
    reports = []
    for host in hosts:
        out, err = host.communicate(timeout=600)
        assert host.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


@pytest.fixture(scope="module")
def four_devices():
    out = subprocess.run([sys.executable, "-c", PROBE, str(CACHE)], env=_device_flag(4),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sharded_solve_batch_equals_the_unsharded_one(four_devices):
    assert four_devices["devices"] == 4
    case = four_devices["batch"]
    assert case["shapes_equal"] and case["ints_equal"], case
    assert case["max_diff"] <= 1e-12, case          # measured: 0.0 (bit-identical)
    assert case["cost_devices"] == 4                # the result lives on the four devices


def test_sharded_sweep_inside_jit_equals_the_unsharded_vmap(four_devices):
    assert four_devices["sweep_max_rel"] <= 1e-12


def test_two_processes_split_the_batch_and_both_get_the_whole_result(two_hosts, four_devices):
    for report in two_hosts:
        assert report["devices"] == 4 and report["local"] == 2, report
        # the same solves as the one-process case
        expected = jnp.asarray(four_devices["batch"]["cost"])
        assert jnp.allclose(jnp.asarray(report["cost"]), expected, rtol=1e-12, atol=0), report


def test_bad_batches_and_meshes_are_named():
    double = vmap_sharded(lambda a, b: a + b, batch_mesh())
    assert jnp.allclose(double(jnp.arange(3.0), jnp.ones(3)), jnp.arange(3.0) + 1)
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
    assert jax.devices()  # the in-process cases ran on this process's devices
