"""Frozen dataclasses that are JAX pytrees (every field a leaf unless marked static)."""

from __future__ import annotations

import dataclasses

import jax


def pytree_dataclass(cls):
    """Make ``cls`` a frozen dataclass registered as a pytree.

    Fields declared with ``static_field()`` become auxiliary data (hashable, not traced).
    """
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    data = [f.name for f in fields if not f.metadata.get("static", False)]
    meta = [f.name for f in fields if f.metadata.get("static", False)]
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)


def static_field(**kwargs):
    return dataclasses.field(metadata={"static": True}, **kwargs)


def replace(obj, **changes):
    return dataclasses.replace(obj, **changes)


def tree_select(condition, on_true, on_false):
    """``jnp.where(condition, ·, ·)`` leaf by leaf over two pytrees of the same structure."""
    return jax.tree_util.tree_map(lambda a, b: jax.numpy.where(condition, a, b), on_true, on_false)


def all_finite(tree) -> jax.Array:
    """True when every leaf of ``tree`` is finite (a traced boolean scalar)."""
    return jax.numpy.all(jax.numpy.stack(
        [jax.numpy.all(jax.numpy.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))
