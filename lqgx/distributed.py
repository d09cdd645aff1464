"""Scale-out over devices with JAX's own SPMD machinery (``jax.sharding``, ``jax.shard_map``).

lqgx's batches are independent problems: initial states of ``solve_batch``, a sweep over a bound
``eps``, seeds of trials. ``vmap_sharded(fn)`` is ``jax.vmap(fn)`` with the batch split along its
leading axis over a one-dimensional device mesh: each device runs the vmapped ``fn`` on its own
shard (``shard_map``), so no collective runs and the while loops of one shard stop when that
shard's problems are done, not when the slowest problem of the whole batch is. A batch that does
not divide by the device count is padded with copies of its last element, and the padding is
dropped from the result. Each shard's results equal, bit for bit, ``jax.vmap(fn)`` over a
batch of the shard's size; against one ``vmap`` over the whole batch they agree to rounding
(XLA's CPU kernels round differently for different batch sizes), which an ill-conditioned solve
can amplify (``docs/scale-out.md``).

Many hosts: call ``jax.distributed.initialize()`` in every process first (see the README); then
``jax.devices()`` lists every host's devices and ``batch_mesh()`` spans them all. Every process
passes the same full batch (these batches are small: initial states, bounds, seeds); each
computes its own shards, and the result is one global array sharded over the mesh
(``jax.experimental.multihost_utils.process_allgather`` brings it to every host).

Checked on one CPU split into devices (``XLA_FLAGS=--xla_force_host_platform_device_count=N``)
in two processes joined by ``jax.distributed``: ``tests/test_distributed.py``; wall times in
``benchmarks/scale_out.py`` and ``docs/scale-out.md``.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

BATCH_AXIS = "batch"


def batch_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
    """A one-dimensional mesh named ``"batch"`` over ``devices`` (default: all of
    ``jax.devices()``, every host's after ``jax.distributed.initialize()``)."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("devices must name at least one device")
    return Mesh(np.asarray(devices), (BATCH_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over the mesh, the rest replicated."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXIS))


def _batch_size(args) -> int:
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree.leaves(args)}
    if None in sizes:
        raise ValueError("every batched argument needs a leading batch axis; got a scalar")
    if len(sizes) != 1:
        raise ValueError(f"batched arguments disagree on the batch size: {sorted(sizes)}")
    return sizes.pop()


def _pad(leaf, size: int, xp):
    """``leaf`` with its last element repeated up to ``size`` rows (``xp``: numpy or jax.numpy)."""
    missing = size - leaf.shape[0]
    if missing == 0:
        return leaf
    return xp.concatenate([leaf, xp.repeat(leaf[-1:], missing, axis=0)])


def _place(leaf, size: int, sharding: NamedSharding):
    """A concrete batch, padded on the host, as one global array sharded over the mesh, each
    process filling its own shards from its (identical) copy; traced values are padded in the
    trace and left to ``shard_map``."""
    if isinstance(leaf, jax.core.Tracer):
        return _pad(leaf, size, jnp)
    host = _pad(np.asarray(leaf), size, np)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def vmap_sharded(fn: Callable, mesh: Optional[Mesh] = None) -> Callable:
    """``jax.vmap(fn)`` over the leading axis of every argument, that axis sharded over ``mesh``
    (default ``batch_mesh()``). Every output leaf gains the leading batch axis. Works inside
    ``jax.jit`` too; on its own it jits the sharded call."""
    mesh = batch_mesh() if mesh is None else mesh
    if not isinstance(mesh, Mesh) or BATCH_AXIS not in mesh.axis_names:
        raise ValueError(f"mesh must be a jax.sharding.Mesh with an axis named {BATCH_AXIS!r} "
                         "(lqgx.distributed.batch_mesh())")
    count = mesh.shape[BATCH_AXIS]
    sharding = batch_sharding(mesh)
    spec = sharding.spec
    # No collectives run, so the varying-across-devices type checks have nothing to guard; lqgx's
    # scans start from unvarying constants (e.g. an "ok" flag) that they would reject.
    sharded = jax.jit(jax.shard_map(jax.vmap(fn), mesh=mesh, in_specs=spec, out_specs=spec,
                                    check_vma=False))

    @functools.wraps(fn)
    def mapped(*args):
        size = _batch_size(args)
        if size == 0:
            raise ValueError("the batch is empty")
        padded = -(-size // count) * count
        args = jax.tree.map(lambda leaf: _place(leaf, padded, sharding), args)
        out = sharded(*args)
        return jax.tree.map(lambda leaf: leaf[:size], out) if padded != size else out

    return mapped
