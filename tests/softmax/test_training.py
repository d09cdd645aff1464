"""Training by small-step ascent (eq. 4): monotone improvement, batching and chunking invariance."""

import jax
import jax.numpy as jnp
import numpy as np

from lqgx.softmax.energy import init_particles
from lqgx.softmax.teacher import teacher_bandit
from lqgx.softmax.training import train


def test_small_step_ascent_monotonically_closes_the_gap_and_batches_like_a_loop():
    # Gradient flow of E (Prop. 2.1) ⇒ E(ν_t) is non-decreasing; small steps keep that. Each seed of a
    # vmapped run equals the same seed run alone, whatever the chunking.
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    mdp, optimum = jax.vmap(lambda k: teacher_bandit(k, actions=25))(keys)
    particles = jax.vmap(lambda k: init_particles(k, 40, 2, 2.0, 0.0))(keys)
    batched = train(mdp, particles, steps=300, step_size=0.05, chunk=150, batched=True)
    gap = optimum.objective[:, None] - batched.objective  # [2, 301]
    assert gap.shape == (2, 301) and batched.times[-1] == 300 * 0.05
    assert bool(jnp.all(gap >= 0))
    assert bool(jnp.all(jnp.diff(gap, axis=-1) <= 1e-15))
    assert bool(jnp.all(gap[:, -1] < 0.7 * gap[:, 0]))
    first = jax.tree_util.tree_map(lambda x: x[0], (mdp, particles))
    alone = train(*first, steps=300, step_size=0.05, chunk=300)
    np.testing.assert_allclose(alone.objective, batched.objective[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(alone.particles.output, batched.particles.output[0], rtol=1e-10, atol=1e-13)
