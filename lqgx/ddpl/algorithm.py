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
i's policy sees its observation ``env.observe(s)[i]``, its critic the global state and its own
action a_i). Both Adam optimizers use the linear learning
rate schedule of Table 3 (1e-4 → 5e-5 over the run).

The same loop with ``policy="gaussian"`` is DDPL-Gaussian (Fig. 4): the diffusion class is
replaced by ``GaussianPolicy`` whose line-6 loss is the importance-weighted likelihood.

Teacher guidance (``guide_steps`` > 0, lqgx's warm start, ``lqgx.ddpl.guide``): for the first
``guide_steps`` environment steps line 6 gains a term fitting a TVLG teacher π_T,
λ_k · E_s̃ l_s̃(π_T) — the policy class's loss toward the teacher's law at B perturbed
demonstration states s̃ (``guide.teacher_fit_loss``) — with
λ_k = ``guide_weight`` · (1 − env_steps / guide_steps)₊. The ISSM weights of every state have mean 1
over its N samples (self-normalized), so each state carries unit mass of the ISSM target
π* ∝ π_old exp(c Q̂) and the teacher term λ_k units of π_T: at a state both terms see, the
minimizer of the score-matching (resp. likelihood) objective is the mixture
(π* + λ_k π_T) / (1 + λ_k). The diffusion density is intractable, so the teacher enters as extra
target mass of that mixture, not as a reweighted ISSM proposal; λ_k → 0 recovers Algorithm 2.

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

from lqgx._pytree import tree_select
from lqgx.ddpl.buffer import Buffer, Transition, buffer_add, buffer_init, buffer_sample
from lqgx.ddpl.critics import critic_apply, critic_init, critic_loss, polyak, td_targets
from lqgx.ddpl.diffusion import DiffusionPolicy
from lqgx.ddpl.envs.base import rollout_episode_returns
from lqgx.ddpl.gaussian import GaussianPolicy
from lqgx.ddpl.guide import Guide, TeacherTargets, teacher_fit_loss, teacher_targets
from lqgx.ddpl.issm import issm_loss
from lqgx.distributed import BATCH_AXIS, batch_sharding


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
    # warm start from a TVLG teacher (lqgx.ddpl.warm_start; not in the paper)
    demo_episodes: int = 32            # teacher episodes collected before Algorithm 2
    pretrain_steps: int = 2000         # Adam steps of the denoising / likelihood and critic fits
    pretrain_lr: float = 1e-3
    pretrain_batch: int = 256
    pretrain_state_noise: float = 0.03  # std of the demonstration-state perturbation (env.perturb's units)
    pretrain_target: str = "law"       # "law" (the teacher's Gaussian, in expectation) | "samples"
    guide_steps: int = 0               # env steps with the teacher term in line 6 (0: off)
    guide_weight: float = 1.0          # λ_0 of the annealed teacher term
    critic_warmup_steps: int = 0       # Algorithm 2 env steps with the policies frozen (critics learn)

    def __post_init__(self):
        if self.policy not in ("diffusion", "gaussian"):
            raise ValueError(f"policy must be 'diffusion' or 'gaussian', got {self.policy!r}")
        for f in ("total_env_steps", "num_envs", "rollout_steps", "batch_size", "num_action_samples",
                  "buffer_size", "diffusion_steps"):
            if int(getattr(self, f)) < 1:
                raise ValueError(f"{f} must be >= 1, got {getattr(self, f)}")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma}")
        if self.pretrain_target not in ("law", "samples"):
            raise ValueError(f"pretrain_target must be 'law' or 'samples', got {self.pretrain_target!r}")
        if not self.pretrain_state_noise >= 0.0:
            raise ValueError(f"pretrain_state_noise must be >= 0, got {self.pretrain_state_noise}")
        for f in ("demo_episodes", "pretrain_steps", "guide_steps", "pretrain_batch", "critic_warmup_steps"):
            if int(getattr(self, f)) < 0:
                raise ValueError(f"{f} must be >= 0, got {getattr(self, f)}")
        if not self.guide_weight >= 0.0:
            raise ValueError(f"guide_weight must be >= 0, got {self.guide_weight}")
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
    env_steps: jax.Array  # int32, environment steps done (all envs, demonstrations included)


class AgentState(NamedTuple):
    """One agent's learnable state (the per-agent slice of ``TrainState``)."""

    policy: Any
    critic: Any
    critic_target: Any
    policy_opt: Any
    critic_opt: Any


class AgentData(NamedTuple):
    """One agent's view of the minibatch: its actions a_i[B, d], its observations of the next
    states next_obs[B, O] and (guidance only) the teacher's targets for it (``TeacherTargets``
    without the agent axis)."""

    action: jax.Array
    next_obs: jax.Array
    guide: TeacherTargets | None


class AgentMetrics(NamedTuple):
    critic_loss: jax.Array
    policy_loss: jax.Array
    q_mean: jax.Array
    guide_loss: jax.Array


def make_policy(config: DDPLConfig, env):
    """Policy class for ``env`` (box = the env's per-agent action box)."""
    if config.policy == "diffusion":
        return DiffusionPolicy(env.action_dim, env.action_low, env.action_high, config.diffusion_steps,
                               config.schedule, config.reverse_variance, config.hidden, config.tau_samples)
    return GaussianPolicy(env.action_dim, env.action_low, env.action_high, config.hidden)


def optimizer(config: DDPLConfig):
    """Adam with Table 3's linear learning-rate schedule over the run."""
    sched = optax.linear_schedule(config.lr_start, config.lr_end, config.total_iterations)
    return optax.adam(sched)


def agent_states(state: TrainState) -> AgentState:
    return AgentState(state.policy_params, state.critic_params, state.critic_target, state.policy_opt,
                      state.critic_opt)


def init_state(config: DDPLConfig, env, key) -> TrainState:
    """Fresh parameters (independent per agent), optimizers, empty buffer, reset environments."""
    policy = make_policy(config, env)
    n = env.num_agents
    k_pol, k_q, k_env, key = jax.random.split(key, 4)
    pol = jax.vmap(lambda k: policy.init(k, env.obs_dim))(jax.random.split(k_pol, n))
    q = jax.vmap(lambda k: critic_init(k, config.hidden, env.state_dim, env.action_dim))(jax.random.split(k_q, n))
    opt = optimizer(config)
    obs, env_state = jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs))
    buf = buffer_init(config.buffer_size, env.state_dim, n, env.action_dim, obs.dtype)
    return TrainState(pol, q, q, jax.vmap(opt.init)(pol), jax.vmap(opt.init)(q), buf, env_state,
                      obs, jnp.zeros(config.num_envs, obs.dtype), key, jnp.zeros((), jnp.int32),
                      jnp.zeros((), jnp.int32))


def shard_environments(state: TrainState, mesh) -> TrainState:
    """``state`` with its environments (``env_state``, ``obs``, ``ep_return``, leading axis
    num_envs) split over ``mesh``'s batch axis (``lqgx.distributed.batch_mesh()``) and everything
    else replicated. ``jax.jit`` of ``train_iteration(s)`` then partitions the rollouts by
    device (XLA's SPMD propagation); the learner's minibatch stays replicated."""
    devices = mesh.shape[BATCH_AXIS]
    num_envs = state.obs.shape[0]
    if num_envs % devices:
        raise ValueError(f"num_envs ({num_envs}) must be a multiple of the mesh's {devices} "
                         "devices to split the environments over them")
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    split = batch_sharding(mesh)
    shardings = jax.tree.map(lambda _: replicated, state)._replace(
        env_state=jax.tree.map(lambda _: split, state.env_state), obs=split, ep_return=split)
    return jax.device_put(state, shardings)


def joint_action(policy, policy_params, key, obs):
    """a[n, d]: agent i samples from π_i(· | obs[i]) (vmap over stacked params, obs[n, O])."""
    keys = jax.random.split(key, obs.shape[0])
    return jax.vmap(lambda p, k, o: policy.sample(p, k, o))(policy_params, keys, obs)


def _rollout(config, env, policy, state: TrainState, key):
    """Line 3: ``rollout_steps`` steps in every environment; returns transitions [T*E] and stats."""
    E = config.num_envs

    def body(carry, k):
        obs, es, ep_ret = carry
        k_a, k_e = jax.random.split(k)
        a = jax.vmap(lambda kk, s: joint_action(policy, state.policy_params, kk, env.observe(s)))(
            jax.random.split(k_a, E), obs)
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


def guide_weight(config: DDPLConfig, env_steps):
    """λ_k = guide_weight · (1 − env_steps / guide_steps)₊ (0 when guidance is off)."""
    if config.guide_steps <= 0:
        return jnp.zeros(())
    return config.guide_weight * jnp.clip(1.0 - env_steps / config.guide_steps, 0.0, 1.0)


def _agent_update(config, policy, opt, batch: Transition, data: AgentData, agent: AgentState, key,
                  guide_w):
    """Lines 4–6 for one agent i (vmapped over agents); returns (AgentState, AgentMetrics)."""
    B, N = config.batch_size, config.num_action_samples
    k_next, k_pol, k_guide = jax.random.split(key, 3)
    keys = jax.random.split(k_next, B * N).reshape(B, N, -1)
    next_a = jax.vmap(lambda ks, o: jax.vmap(lambda k: policy.sample(agent.policy, k, o))(ks))(
        keys, data.next_obs)
    # line 5: critic
    y = td_targets(config.hidden, agent.critic_target, config.reward_scale * batch.reward, batch.next_state,
                   next_a, batch.done, config.gamma)
    q_loss, g = jax.value_and_grad(lambda p: critic_loss(config.hidden, p, batch.state, data.action, y))(
        agent.critic)
    upd, q_o = opt.update(g, agent.critic_opt, agent.critic)
    q_p = optax.apply_updates(agent.critic, upd)
    q_t = polyak(agent.critic_target, q_p, config.xi)
    # line 6: ISSM with the updated critic on (s', a'^{(j)}) (+ the teacher term while guiding)
    qv = jax.vmap(lambda s, a: jax.vmap(lambda aj: critic_apply(config.hidden, q_p, s, aj))(a))(
        batch.next_state, next_a)
    qv = jax.lax.stop_gradient(qv) / config.reward_scale
    coeff = config.eta / (1.0 - config.gamma)

    def policy_objective(p):
        issm = issm_loss(policy, p, k_pol, data.next_obs, next_a, qv, coeff, config.weight_normalize)
        if config.guide_steps <= 0:
            return issm, jnp.zeros((), issm.dtype)
        guide = teacher_fit_loss(policy, p, k_guide, data.guide, config.pretrain_target)
        return issm + guide_w * guide, guide

    (p_loss, g_loss), g = jax.value_and_grad(policy_objective, has_aux=True)(agent.policy)
    upd, pol_o = opt.update(g, agent.policy_opt, agent.policy)
    pol_p = optax.apply_updates(agent.policy, upd)
    return AgentState(pol_p, q_p, q_t, pol_o, q_o), AgentMetrics(q_loss, p_loss, jnp.mean(qv), g_loss)


def train_iteration(config: DDPLConfig, env, state: TrainState, guide: Guide | None = None):
    """One epoch of Algorithm 2. Pure; ``jax.jit(partial(train_iteration, config, env))``-able.

    ``guide``: the teacher and its demonstration states (``lqgx.ddpl.guide.Guide``; envs over an
    ``lqgx.System``: control and MaMuJoCo), required when ``config.guide_steps > 0`` (module docstring).
    Returns (state, metrics dict of scalars).
    """
    policy = make_policy(config, env)
    opt = optimizer(config)
    n = env.num_agents
    key, k_roll, k_batch, k_upd, k_teach = jax.random.split(state.key, 5)
    tr, obs, es, ep_ret, fin_sum, fin_cnt = _rollout(config, env, policy, state, k_roll)
    buf = buffer_add(state.buffer, tr)
    env_steps = state.env_steps + config.steps_per_iteration
    batch = buffer_sample(buf, k_batch, config.batch_size)
    next_obs = jax.vmap(env.observe)(batch.next_state)                  # [B, n, O]
    targets = None
    if config.guide_steps > 0:
        if guide is None:
            raise ValueError("guide: guide_steps > 0 needs the teacher (lqgx.ddpl.guide.Guide)")
        targets = teacher_targets(env, guide, k_teach, config.batch_size,
                                  config.pretrain_state_noise).agent_major()
    data = AgentData(jnp.swapaxes(batch.action, 0, 1), jnp.swapaxes(next_obs, 0, 1), targets)
    guide_w = guide_weight(config, state.env_steps)
    update = jax.vmap(lambda d, a, k: _agent_update(config, policy, opt, batch, d, a, k, guide_w))
    agents, m = update(data, agent_states(state), jax.random.split(k_upd, n))
    learn = env_steps > config.learning_starts
    old = agent_states(state)
    agents = tree_select(learn, agents, old)
    frozen = state.iteration * config.steps_per_iteration < config.critic_warmup_steps
    agents = agents._replace(policy=tree_select(frozen, old.policy, agents.policy),
                             policy_opt=tree_select(frozen, old.policy_opt, agents.policy_opt))
    new_state = TrainState(agents.policy, agents.critic, agents.critic_target, agents.policy_opt,
                           agents.critic_opt, buf, es, obs, ep_ret, key, state.iteration + 1, env_steps)
    metrics = {"critic_loss": jnp.mean(m.critic_loss), "policy_loss": jnp.mean(m.policy_loss),
               "q_mean": jnp.mean(m.q_mean), "guide_loss": jnp.mean(m.guide_loss), "guide_weight": guide_w,
               "episodes_finished": fin_cnt, "finished_return_sum": fin_sum}
    return new_state, metrics


def train_iterations(config: DDPLConfig, env, state: TrainState, num: int, guide: Guide | None = None):
    """``num`` epochs as one ``lax.scan``; metrics are stacked [num]."""
    return jax.lax.scan(lambda s, _: train_iteration(config, env, s, guide), state, None, length=num)


def policy_act_fn(config: DDPLConfig, env, policy_params):
    """act(key, state) -> a[n, d] of the stochastic joint policy."""
    policy = make_policy(config, env)
    return lambda k, s: joint_action(policy, policy_params, k, env.observe(s))


def evaluate_policy(config: DDPLConfig, env, policy_params, key, episodes: int):
    """Mean episode return (env.eval_discount) of the stochastic joint policy over ``episodes``."""
    act = policy_act_fn(config, env, policy_params)
    if hasattr(env, "expected_return"):  # low-variance Rao-Blackwellized return (toy games)
        return env.expected_return(act, key, episodes)
    return rollout_episode_returns(env, act, key, episodes)
