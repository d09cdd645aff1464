"""The teacher's targets for DDPL's policies: where a TVLG teacher is asked and what it answers.

Both the seed (pretraining, ``lqgx.ddpl.warm_start``) and the guide (the annealed teacher term of
Algorithm 2 line 6, ``lqgx.ddpl.algorithm``) fit every agent's policy to the teacher's action law
at *demonstration states* (teacher states, ``env.teacher_state``) perturbed in the state coordinates,
s̃ = s + ``pretrain_state_noise`` · ε (``env.perturb``; the time feature is kept): the teacher is
a known conditional law, so it can label states it did not visit, and the perturbation teaches
its feedback gains (pairs (s, a) alone barely vary x at a given t). Guidance does not ask the
teacher at the learner's own replay states: a TVLG controller is an expert only near its nominal
trajectory, and relabeling the states of a drifting learner with its linear extrapolation
(saturated torques) made a cloned swing-up worse even at λ = 100 (``docs/ddpl-warm-start.md``).

The fit is the policy class's own loss (``teacher_fit_loss``), either in expectation over the
teacher's Gaussian law (``"law"``: exact score matching for the diffusion class, the expected
likelihood for the Gaussian class; no label noise) or on one sampled action per state
(``"samples"``: the standard denoising score matching / likelihood).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lqgx.lq.types import LinearGaussianPolicy


class Guide(NamedTuple):
    """What the learner needs of a teacher: its ``policy`` (system units) and the demonstration
    ``states`` [D, Z] (teacher states, ``env.teacher_state``) at which it is asked."""

    policy: LinearGaussianPolicy
    states: jax.Array


class TeacherTargets(NamedTuple):
    """The teacher's answers at B perturbed demonstration states, per agent: observations
    ``obs`` [B, n, O], one sampled ``action`` [B, n, d] and the law's ``mean`` [B, n, d] and
    ``cov`` [B, n, d, d] (normalized action units, unclipped)."""

    obs: jax.Array
    action: jax.Array
    mean: jax.Array
    cov: jax.Array

    def agent_major(self) -> "TeacherTargets":
        """The same targets with the agent axis first ([n, B, ...]) for a vmap over agents."""
        return TeacherTargets(*(jnp.swapaxes(x, 0, 1) for x in self))


def teacher_targets(env, guide: Guide, key, batch_size: int, state_noise: float) -> TeacherTargets:
    """Draw ``batch_size`` demonstration states, perturb them, ask the teacher (pure, jittable)."""
    from lqgx.controllers.teacher import teacher_actions, teacher_moments

    k_idx, k_pert, k_act = jax.random.split(key, 3)
    idx = jax.random.randint(k_idx, (batch_size,), 0, guide.states.shape[0])
    states = jax.vmap(lambda k, s: env.perturb(k, s, state_noise))(
        jax.random.split(k_pert, batch_size), guide.states[idx])
    actions = jax.vmap(lambda k, s: teacher_actions(env, guide.policy, k, s))(
        jax.random.split(k_act, batch_size), states)
    mean, cov = jax.vmap(lambda s: teacher_moments(env, guide.policy, s))(states)
    obs = jax.vmap(lambda z: env.observe(env.state_of(z)))(states)
    return TeacherTargets(obs, actions, mean, cov)


def teacher_fit_loss(policy, params, key, targets: TeacherTargets, target: str):
    """Mean over the batch of one agent's fit to the teacher (module docstring); ``targets`` for
    that agent: obs[B, O], action[B, d], mean[B, d], cov[B, d, d]."""
    keys = jax.random.split(key, targets.obs.shape[0])
    if target == "law":
        losses = jax.vmap(lambda k, o, m, c: policy.gaussian_target_loss(params, k, o, m, c))(
            keys, targets.obs, targets.mean, targets.cov)
    else:
        ones = jnp.ones((1,), targets.action.dtype)
        losses = jax.vmap(lambda k, o, a: policy.weighted_loss(params, k, o, a[None], ones))(
            keys, targets.obs, targets.action)
    return jnp.mean(losses)
