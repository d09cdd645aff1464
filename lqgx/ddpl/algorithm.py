"""Decentralized Diffusion Policy Learning, Algorithm 2 of the DDPL paper (and its Gaussian variant).

Per epoch k (one call of ``train_iteration``):
  3: roll out π^{θ^{k−1}} in ``num_envs`` parallel environments for ``rollout_steps`` steps
     (B_r = num_envs · rollout_steps transitions) and append them to the replay buffer D;
  4: sample a minibatch B of size B_u from D and, for every s' in it, N next actions
     a'_{s',i}^{(j)} ~ π_i^{θ_i^{k−1}}(· | s') per agent;
  5: critic step on L_i^Q with Polyak target ψ̄_i (``critics``), Adam;
  6: policy step on Σ_{s'} L^is_{s',i} (eq. 2, ``issm``) with weights from the *updated* critic
     Q̂_i^{ψ_i^k}(s', a'^{(j)}), coefficient η/(1−γ), Adam.
All agents are updated at once by ``vmap`` over stacked per-agent parameters (decentralized: agent
i only sees the global state and its own action a_i). Both Adam optimizers use the linear learning
rate schedule of Table 3 (1e-4 → 5e-5 over the run).

The same loop with ``policy="gaussian"`` is DDPL-Gaussian (Fig. 4): the diffusion class is
replaced by ``GaussianPolicy`` whose line-6 loss is the importance-weighted likelihood.

Design choices not fixed by the paper (documented defaults): one shared minibatch for all agents;
N = ``num_action_samples``; self-normalized weights (``issm``); rewards are multiplied by
``reward_scale`` for the critic and Q̂ is divided by it again for the weights (so η keeps its
meaning in the environment's reward units); ``tau_samples`` τ-draws per action in eq. 2.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lqgx.ddpl.buffer import Buffer, Transition, buffer_add, buffer_init, buffer_sample
from lqgx.ddpl.critics import critic_apply, critic_init, critic_loss, polyak, td_targets
from lqgx.ddpl.diffusion import DiffusionPolicy
from lqgx.ddpl.envs.base import rollout_episode_returns
from lqgx.ddpl.gaussian import GaussianPolicy
from lqgx.ddpl.issm import issm_loss


@dataclasses.dataclass(frozen=True)
class DDPLConfig:
    """Hyperparameters of Algorithm 2 (Table 3 values as defaults where the paper gives them)."""

    policy: str = "diffusion"          # "diffusion" | "gaussian"
    total_env_steps: int = 5_000_000   # length of the run (sets the LR schedule)
    num_envs: int = 20                 # B_r = num_envs * rollout_steps (Table 3: 20)
    rollout_steps: int = 1
    batch_size: int = 256              # B_u (Table 3)
    num_action_samples: int = 8        # N (not in Table 3)
    gamma: float = 0.99
    eta: float = 1.0                   # Table 3
    xi: float = 0.005                  # Table 3
    lr_start: float = 1e-4             # Table 3 linear(1e-4, 5e-5)
    lr_end: float = 5e-5
    hidden: tuple = (256, 256, 256)    # Table 3 (score and Q MLPs, mish)
    diffusion_steps: int = 20          # Table 3
    schedule: str = "linear"           # Table 3 (see schedules.py for the reading of the endpoints)
    reverse_variance: str = "paper"
    tau_samples: int | None = 1
    buffer_size: int = 1_000_000
    learning_starts: int = 1000        # env steps collected before the first update
    reward_scale: float = 1.0
    weight_normalize: str = "self"
    eval_every: int = 50_000           # env steps between evaluations (train.py)
    eval_episodes: int = 50            # §5: 50 trajectories
    checkpoint_every: int = 100_000

    def __post_init__(self):
        if self.policy not in ("diffusion", "gaussian"):
            raise ValueError(f"policy must be 'diffusion' or 'gaussian', got {self.policy!r}")
        for f in ("total_env_steps", "num_envs", "rollout_steps", "batch_size", "num_action_samples",
                  "buffer_size", "diffusion_steps"):
            if int(getattr(self, f)) < 1:
                raise ValueError(f"{f} must be >= 1, got {getattr(self, f)}")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma}")
        if not 0.0 < self.xi <= 1.0:
            raise ValueError(f"xi must be in (0, 1], got {self.xi}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.rollout_steps

    @property
    def total_iterations(self) -> int:
        return max(1, self.total_env_steps // self.steps_per_iteration)


class TrainState(NamedTuple):
    """Everything Algorithm 2 carries between epochs (a pytree; checkpointed as a whole)."""

    policy_params: Any   # stacked over agents (leading axis n)
    critic_params: Any
    critic_target: Any
    policy_opt: Any
    critic_opt: Any
    buffer: Buffer
    env_state: Any       # batched over num_envs
    obs: jax.Array       # [num_envs, S] current global states
    ep_return: jax.Array  # [num_envs] running undiscounted return
    key: jax.Array
    iteration: jax.Array  # int32, epochs done
    env_steps: jax.Array  # int32, environment steps done (all envs)


def make_policy(config: DDPLConfig, env):
    """Policy class for ``env`` (box = the env's per-agent action box)."""
    if config.policy == "diffusion":
        return DiffusionPolicy(env.action_dim, env.action_low, env.action_high, config.diffusion_steps,
                               config.schedule, config.reverse_variance, config.hidden, config.tau_samples)
    return GaussianPolicy(env.action_dim, env.action_low, env.action_high, config.hidden)


def _optimizer(config: DDPLConfig):
    sched = optax.linear_schedule(config.lr_start, config.lr_end, config.total_iterations)
    return optax.adam(sched)


def init_state(config: DDPLConfig, env, key) -> TrainState:
    """Fresh parameters (independent per agent), optimizers, empty buffer, reset environments."""
    policy = make_policy(config, env)
    n = env.num_agents
    k_pol, k_q, k_env, key = jax.random.split(key, 4)
    pol = jax.vmap(lambda k: policy.init(k, env.state_dim))(jax.random.split(k_pol, n))
    q = jax.vmap(lambda k: critic_init(k, config.hidden, env.state_dim, env.action_dim))(jax.random.split(k_q, n))
    opt = _optimizer(config)
    obs, env_state = jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs))
    buf = buffer_init(config.buffer_size, env.state_dim, n, env.action_dim, obs.dtype)
    return TrainState(pol, q, q, jax.vmap(opt.init)(pol), jax.vmap(opt.init)(q), buf, env_state,
                      obs, jnp.zeros(config.num_envs, obs.dtype), key, jnp.zeros((), jnp.int32),
                      jnp.zeros((), jnp.int32))


def joint_action(policy, policy_params, key, state, n_agents: int):
    """a[n, d]: every agent samples from its own π_i(· | s) (vmap over stacked params)."""
    return jax.vmap(lambda p, k: policy.sample(p, k, state))(policy_params, jax.random.split(key, n_agents))


def _rollout(config, env, policy, state: TrainState, key):
    """Line 3: ``rollout_steps`` steps in every environment; returns transitions [T*E] and stats."""
    n, E = env.num_agents, config.num_envs

    def body(carry, k):
        obs, es, ep_ret = carry
        k_a, k_e = jax.random.split(k)
        a = jax.vmap(lambda kk, s: joint_action(policy, state.policy_params, kk, s, n))(jax.random.split(k_a, E), obs)
        obs2, es2, r, d = jax.vmap(env.step)(jax.random.split(k_e, E), es, a)
        d = d.astype(obs.dtype)
        tr = Transition(obs, a, r, obs2, d)
        ep_ret = ep_ret + r
        finished = jnp.sum(d * ep_ret), jnp.sum(d)
        return (obs2, es2, ep_ret * (1.0 - d)), (tr, finished)

    (obs, es, ep_ret), (tr, (fin_sum, fin_cnt)) = jax.lax.scan(
        body, (state.obs, state.env_state, state.ep_return), jax.random.split(key, config.rollout_steps))
    tr = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), tr)
    return tr, obs, es, ep_ret, jnp.sum(fin_sum), jnp.sum(fin_cnt)


def _agent_update(config, policy, opt, batch: Transition, a_i, pol_p, q_p, q_t, pol_o, q_o, key):
    """Lines 4–6 for one agent i (vmapped over agents)."""
    B, N = config.batch_size, config.num_action_samples
    k_next, k_pol = jax.random.split(key)
    keys = jax.random.split(k_next, B * N).reshape(B, N, -1)
    next_a = jax.vmap(lambda ks, s: jax.vmap(lambda k: policy.sample(pol_p, k, s))(ks))(keys, batch.next_state)
    # line 5: critic
    y = td_targets(config.hidden, q_t, config.reward_scale * batch.reward, batch.next_state, next_a,
                   batch.done, config.gamma)
    q_loss, g = jax.value_and_grad(lambda p: critic_loss(config.hidden, p, batch.state, a_i, y))(q_p)
    upd, q_o = opt.update(g, q_o, q_p)
    q_p = optax.apply_updates(q_p, upd)
    q_t = polyak(q_t, q_p, config.xi)
    # line 6: ISSM with the updated critic on (s', a'^{(j)})
    qv = jax.vmap(lambda s, a: jax.vmap(lambda aj: critic_apply(config.hidden, q_p, s, aj))(a))(batch.next_state, next_a)
    qv = jax.lax.stop_gradient(qv) / config.reward_scale
    coeff = config.eta / (1.0 - config.gamma)
    p_loss, g = jax.value_and_grad(
        lambda p: issm_loss(policy, p, k_pol, batch.next_state, next_a, qv, coeff, config.weight_normalize))(pol_p)
    upd, pol_o = opt.update(g, pol_o, pol_p)
    pol_p = optax.apply_updates(pol_p, upd)
    return pol_p, q_p, q_t, pol_o, q_o, q_loss, p_loss, jnp.mean(qv)


def train_iteration(config: DDPLConfig, env, state: TrainState):
    """One epoch of Algorithm 2. Pure; ``jax.jit(partial(train_iteration, config, env))``-able.

    Returns (state, metrics dict of scalars).
    """
    policy = make_policy(config, env)
    opt = _optimizer(config)
    n = env.num_agents
    key, k_roll, k_batch, k_upd = jax.random.split(state.key, 4)
    tr, obs, es, ep_ret, fin_sum, fin_cnt = _rollout(config, env, policy, state, k_roll)
    buf = buffer_add(state.buffer, tr)
    env_steps = state.env_steps + config.steps_per_iteration
    batch = buffer_sample(buf, k_batch, config.batch_size)
    upd = jax.vmap(lambda a_i, pp, qp, qt, po, qo, k: _agent_update(config, policy, opt, batch, a_i, pp, qp, qt, po, qo, k))
    out = upd(jnp.swapaxes(batch.action, 0, 1), state.policy_params, state.critic_params, state.critic_target,
              state.policy_opt, state.critic_opt, jax.random.split(k_upd, n))
    pol_p, q_p, q_t, pol_o, q_o, q_loss, p_loss, q_mean = out
    learn = env_steps > config.learning_starts
    pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(learn, a, b), new, old)
    new_state = TrainState(
        pick(pol_p, state.policy_params), pick(q_p, state.critic_params), pick(q_t, state.critic_target),
        pick(pol_o, state.policy_opt), pick(q_o, state.critic_opt), buf, es, obs, ep_ret, key,
        state.iteration + 1, env_steps)
    metrics = {"critic_loss": jnp.mean(q_loss), "policy_loss": jnp.mean(p_loss), "q_mean": jnp.mean(q_mean),
               "episodes_finished": fin_cnt, "finished_return_sum": fin_sum}
    return new_state, metrics


def train_iterations(config: DDPLConfig, env, state: TrainState, num: int):
    """``num`` epochs as one ``lax.scan``; metrics are stacked [num]."""
    return jax.lax.scan(lambda s, _: train_iteration(config, env, s), state, None, length=num)


def evaluate_policy(config: DDPLConfig, env, policy_params, key, episodes: int):
    """Mean episode return (env.eval_discount) of the stochastic joint policy over ``episodes``."""
    policy = make_policy(config, env)
    act = lambda k, s: joint_action(policy, policy_params, k, s, env.num_agents)
    if hasattr(env, "expected_return"):  # low-variance Rao-Blackwellized return (toy games)
        return env.expected_return(act, key, episodes)
    return rollout_episode_returns(env, act, key, episodes)
