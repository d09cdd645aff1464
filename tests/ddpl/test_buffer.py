import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lqgx.ddpl.buffer import Transition, buffer_add, buffer_init, buffer_sample


def _batch(start, m):
    r = jnp.arange(start, start + m, dtype=jnp.float32)
    return Transition(jnp.tile(r[:, None], (1, 3)), jnp.zeros((m, 2, 1)), r, r[:, None] * jnp.ones(3), jnp.zeros(m))


def test_ring_buffer_overwrites_oldest_and_samples_only_valid_entries():
    buf = buffer_init(5, 3, 2, 1)
    buf = buffer_add(buf, _batch(0, 3))
    assert int(buf.size) == 3
    s = buffer_sample(buf, jax.random.PRNGKey(0), 200)
    assert set(np.asarray(s.reward).tolist()) <= {0.0, 1.0, 2.0}
    buf = buffer_add(buf, _batch(3, 4))  # 7 items into capacity 5 → keeps 2..6
    assert int(buf.size) == 5 and int(buf.ptr) == 2
    assert sorted(np.asarray(buf.data.reward).tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]


def test_bad_capacity():
    with pytest.raises(ValueError, match="capacity"):
        buffer_init(0, 1, 1, 1)
