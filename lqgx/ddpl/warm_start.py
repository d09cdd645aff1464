"""Warm start of DDPL from a TVLG teacher (``lqgx.controllers.teacher``): seed, then guide.

Seed (before Algorithm 2, ``seed_state``):

1. demonstrations: ``demo_episodes`` episodes of the teacher acting in the environment with its
   exploration noise (``teacher.act``), D_T = {(s, a, r, s', done)}; they go into the replay
   buffer and count as environment steps;
2. policies: every agent's policy is fitted to the teacher's action law by the policy class's own
   loss — for the diffusion class (denoising or exact) score matching, the bracket of eq. 2 with
   unit weight; for the Gaussian class the likelihood — at perturbed demonstration states
   (``lqgx.ddpl.guide``: where the teacher is asked, and why). Fitting the demonstration pairs
   (s, a_i) alone does not work on the pendulums: they barely vary x at a given t, so the
   student learns the teacher's open-loop torques but not its feedback gains K_t, and its
   swing-up falls over (double pendulum, Gaussian student, 5000 steps: mean-action return −2186
   from the pairs vs −13.1 with perturbed states, teacher −4.6; ``docs/ddpl-warm-start.md``);
3. critics: every agent's critic is fitted to the teacher's discounted returns-to-go,
   Q̂_i(s, a_i) ≈ G_t = Σ_{k ≥ t} γ^{k−t} r_k (to the episode's end), a Monte-Carlo policy
   evaluation of the teacher's behaviour whose regression target is Q_i^{π_T}(s, a_i) (the other
   agents' actions integrated over the teacher) — the fixed point Algorithm 2's TD step (line 5,
   1 − done bootstrap) has for the teacher; the Polyak targets start equal to the fitted critics.

Guide (during Algorithm 2, ``guide_steps`` > 0): the annealed teacher term of line 6, see
``lqgx.ddpl.algorithm``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from lqgx.ddpl.algorithm import DDPLConfig, TrainState, make_policy, optimizer
from lqgx.ddpl.buffer import Transition, buffer_add
from lqgx.ddpl.critics import critic_loss
from lqgx.ddpl.guide import Guide, teacher_fit_loss, teacher_targets


class Demonstrations(NamedTuple):
    """Teacher transitions, flattened over (episode, step): ``transitions`` [E·T], the teacher
    states ``teacher_states`` [E·T, Z] of their first states (``env.teacher_state``) and the
    discounted returns-to-go ``returns`` [E·T]; ``episode_returns`` [E] undiscounted."""

    transitions: Transition
    teacher_states: jax.Array
    returns: jax.Array
    episode_returns: jax.Array


def demonstrations(env, teacher_policy, key, episodes: int, gamma: float) -> Demonstrations:
    """``episodes`` teacher episodes of ``env.max_steps`` steps, run in parallel."""
    from lqgx.controllers.teacher import teacher_actions

    T = env.max_steps
    k_reset, k_run = jax.random.split(key)
    states, env_states = jax.vmap(env.reset)(jax.random.split(k_reset, episodes))

    def step(carry, k):
        s, es = carry
        k_a, k_e = jax.random.split(k)
        z = jax.vmap(env.teacher_state)(s, es)
        a = jax.vmap(lambda kk, zz: teacher_actions(env, teacher_policy, kk, zz))(
            jax.random.split(k_a, episodes), z)
        s2, es2, r, d = jax.vmap(env.step)(jax.random.split(k_e, episodes), es, a)
        return (s2, es2), (Transition(s, a, r, s2, d.astype(s.dtype)), z)

    _, (tr, zs) = jax.lax.scan(step, (states, env_states), jax.random.split(k_run, T))  # [T, E, ...]

    def to_go(g, inputs):
        r, d = inputs
        g = r + gamma * (1.0 - d) * g
        return g, g

    _, returns = jax.lax.scan(to_go, jnp.zeros_like(tr.reward[0]), (tr.reward, tr.done), reverse=True)
    flat = lambda x: jnp.swapaxes(x, 0, 1).reshape((-1, *x.shape[2:]))  # noqa: E731  episode-major
    alive = jnp.cumprod(1.0 - jnp.concatenate([jnp.zeros_like(tr.done[:1]), tr.done[:-1]]), axis=0)
    return Demonstrations(jax.tree.map(flat, tr), flat(zs), flat(returns),
                          jnp.sum(alive * tr.reward, axis=0))


class PretrainInfo(NamedTuple):
    policy_loss: jax.Array   # [pretrain_steps] mean over agents
    critic_loss: jax.Array   # [pretrain_steps]


def pretrain(config: DDPLConfig, env, state: TrainState, demos: Demonstrations, guide: Guide, key):
    """Steps 2–3 of the module docstring; returns (state, PretrainInfo). Pure and jittable.

    Minibatches of ``pretrain_batch``, Adam with a cosine-decayed ``pretrain_lr`` for
    ``pretrain_steps`` steps; the Algorithm 2 optimizers' states are left fresh."""
    policy = make_policy(config, env)
    opt = optax.adam(optax.cosine_decay_schedule(config.pretrain_lr, max(config.pretrain_steps, 1), 0.05))
    data = demos.transitions
    returns = config.reward_scale * demos.returns
    n, B = env.num_agents, config.pretrain_batch

    def agent_loss(pol_p, q_p, targets, idx, k, i):
        one = jax.tree.map(lambda x: x[i], targets)
        p_loss = teacher_fit_loss(policy, pol_p, k, one, config.pretrain_target)
        q_loss = critic_loss(config.hidden, q_p, data.state[idx], data.action[idx, i], returns[idx])
        return p_loss + q_loss, (p_loss, q_loss)

    def step(carry, k):
        pol, q, pol_o, q_o = carry
        k_idx, k_teach, k_loss = jax.random.split(k, 3)
        idx = jax.random.randint(k_idx, (B,), 0, data.reward.shape[0])
        targets = teacher_targets(env, guide, k_teach, B, config.pretrain_state_noise).agent_major()
        grads, (p_loss, q_loss) = jax.vmap(
            lambda pp, qp, kk, i: jax.grad(agent_loss, argnums=(0, 1), has_aux=True)(pp, qp, targets, idx, kk, i))(
            pol, q, jax.random.split(k_loss, n), jnp.arange(n))
        up, pol_o = jax.vmap(opt.update)(grads[0], pol_o, pol)
        pol = jax.vmap(optax.apply_updates)(pol, up)
        uq, q_o = jax.vmap(opt.update)(grads[1], q_o, q)
        q = jax.vmap(optax.apply_updates)(q, uq)
        return (pol, q, pol_o, q_o), (jnp.mean(p_loss), jnp.mean(q_loss))

    init = (state.policy_params, state.critic_params, jax.vmap(opt.init)(state.policy_params),
            jax.vmap(opt.init)(state.critic_params))
    (pol, q, _, _), (p_losses, q_losses) = jax.lax.scan(step, init, jax.random.split(key, config.pretrain_steps))
    alg_opt = optimizer(config)
    state = state._replace(policy_params=pol, critic_params=q, critic_target=q,
                           policy_opt=jax.vmap(alg_opt.init)(pol), critic_opt=jax.vmap(alg_opt.init)(q))
    return state, PretrainInfo(p_losses, q_losses)


def seed_state(config: DDPLConfig, env, state: TrainState, teacher_policy, key):
    """Seed a fresh ``TrainState`` from the teacher: demonstrations into the buffer (and the env
    step count), pretrained policies and critics. Returns (state, Guide, PretrainInfo,
    Demonstrations); the ``Guide`` (teacher + demonstration states) serves guidance later."""
    k_demo, k_fit = jax.random.split(key)
    demos = demonstrations(env, teacher_policy, k_demo, config.demo_episodes, config.gamma)
    guide = Guide(teacher_policy, demos.teacher_states)
    state = state._replace(buffer=buffer_add(state.buffer, demos.transitions),
                           env_steps=state.env_steps + demos.returns.shape[0])
    state, info = pretrain(config, env, state, demos, guide, k_fit)
    return state, guide, info, demos
