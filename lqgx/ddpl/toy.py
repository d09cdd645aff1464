"""The toy problems of DDPL §3 and exact DecSPG (Algorithm 1) on an action grid.

Constants (§3.2.1): ν = 10, α = 250, β = 0.5, c0 = 2.7, c1 = 20000, c_p = 0.005, γ = 0.1;
(§3.2.2): c2 = 30000, c3 = 10000.

    r_start(a) = −ν a² + c0 exp(−α (a+β)²) + c0 exp(−α (a−β)²)
    p_start(a) = c_p exp(−α (a+β)²) · 1(|a+β| ≤ 1/4)

Single-agent MDP M_sa: states {s0, s1, s2}; from s0 go to s1 w.p. p_start(a) (reward c1 there),
else to the absorbing s2 (reward 0); s1 → s2.
n-agent game M_ma: start state −1_n; coordinate i becomes 1 w.p. p_start(a_i), else 0; reward
Σ_i r_start(a_i) at −1_n, c1 Σ_i s_i at s ∉ {±1_n}, c2 + c3 exp(−aᵀa) at 1_n; every s ≠ −1_n moves
to 0 (reward 0 forever). Hence an episode has two informative steps and

    J(π) = Σ_i E[r_start(a_i)] + γ E[V(s')],
    E[V(s')] = c1 Σ_i q_i − c1 n Π_i q_i + Π_i q_i V_goal,   q_i = E_{π_i}[p_start(a_i)],
    V_goal = c2 + c3 Π_i E_{π_i(·|1_n)}[exp(−a_i²)].

(The MDP is the same computation with V(s') = c1 s'.) These closed forms are the oracle for J.

DecSPG (Algorithm 1) with B samples per epoch and c = η/(1−γ) (= 0.01 in §3):
the averaged critic of agent i at the start state is

    Q̂_i(a) = r_start(a) + γ [p̂_i(a) V_succ,i + (1 − p̂_i(a)) V_fail,i]          (+ const in a)

where V_succ,i / V_fail,i = E[V(s') | s'_i = 1 / 0] are exact given the other agents' current
policies, and p̂_i(a) is the empirical frequency with which agent i's own coordinate switched to 1
among all buffer samples in the bin of a (0 in unvisited bins). Before the first success this is
exactly the "Q̂ accurate for r¬" assumption of Theorem 3.1 / Prop. 3.2; afterwards the only
estimation error is the empirical success rate, i.e. the exploration bottleneck the paper studies.
At the goal state the averaged critic c2 + c3 exp(−a_i²) Π_{j≠i} E[exp(−a_j²)] is used exactly.

Updates (line 5):
- ``"all"``: π_i ← π_i exp(c Q̂_i) / Z exactly on the grid (energy-based, via lqgx.softmax.grid);
- ``"gaussian"``: π_i ← argmin_{N(μ,σ²)} KL(N(μ,σ²) ‖ π_i exp(c Q̂_i)/Z) (reverse KL as in
  Algorithm 1 / Appendix A), by gradient descent on (μ, log σ) with the expectation E_N[Q̂]
  computed by quadrature on the grid.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from lqgx.softmax.grid import action_grid, grid_softmax


@dataclasses.dataclass(frozen=True)
class ToyConstants:
    """Constants of §3 (paper values by default)."""

    nu: float = 10.0
    alpha: float = 250.0
    beta: float = 0.5
    c0: float = 2.7
    c1: float = 20000.0
    c2: float = 30000.0
    c3: float = 10000.0
    cp: float = 0.005
    gamma: float = 0.1


PAPER = ToyConstants()


def r_start(a, k: ToyConstants = PAPER):
    """Start-state reward r_start(a) (§3.2.1), elementwise."""
    return (-k.nu * a**2 + k.c0 * jnp.exp(-k.alpha * (a + k.beta) ** 2)
            + k.c0 * jnp.exp(-k.alpha * (a - k.beta) ** 2))


def p_start(a, k: ToyConstants = PAPER):
    """Success probability p_start(a) (§3.2.1), elementwise."""
    return k.cp * jnp.exp(-k.alpha * (a + k.beta) ** 2) * (jnp.abs(a + k.beta) <= 0.25)


def next_value_terms(q, goal_gain, n_agents: int, k: ToyConstants = PAPER, single_agent=False):
    """Exact E[V(s') | s'_i = 1] and E[V(s') | s'_i = 0] for every agent i.

    Args:
      q: [n] success probabilities q_j = E_{π_j}[p_start(a_j)].
      goal_gain: [n] E_{π_j(·|1_n)}[exp(−a_j²)].
    Returns (v_succ[n], v_fail[n], v_mean) with v_mean = E[V(s')].
    """
    if single_agent:
        return jnp.full_like(q, k.c1), jnp.zeros_like(q), k.c1 * q[0]
    v_goal_all = k.c2 + k.c3 * jnp.prod(goal_gain)
    prod_all = jnp.prod(q)
    others = ~jnp.eye(n_agents, dtype=bool)
    prod_others = jnp.prod(jnp.where(others, q[None, :], 1.0), axis=1)
    sum_others = jnp.sum(q) - q
    v_succ = k.c1 * (1.0 + sum_others) - k.c1 * n_agents * prod_others + prod_others * v_goal_all
    v_fail = k.c1 * sum_others
    v_mean = k.c1 * jnp.sum(q) - k.c1 * n_agents * prod_all + prod_all * v_goal_all
    return v_succ, v_fail, v_mean


class GridPolicies(NamedTuple):
    """Per-agent policies as probability masses on the grid: start[n, A], goal[n, A]."""

    start: jax.Array
    goal: jax.Array


def expected_return(pol: GridPolicies, points, k: ToyConstants = PAPER, single_agent=False):
    """Exact J(π) (closed form in the module docstring) for grid policies."""
    n = pol.start.shape[0]
    q = pol.start @ p_start(points, k)
    gain = pol.goal @ jnp.exp(-points**2)
    _, _, v_mean = next_value_terms(q, gain, n, k, single_agent)
    return jnp.sum(pol.start @ r_start(points, k)) + k.gamma * v_mean


def _gaussian_masses(mu, log_sigma, points):
    logp = -0.5 * ((points - mu) / jnp.exp(log_sigma)) ** 2
    return jax.nn.softmax(logp)


def _gaussian_projection(mu0, ls0, energy, points, weights, iters=300, lr=0.02):
    """argmin_{μ, log σ} KL(N(μ,σ²) ‖ N(μ0,σ0²) exp(energy)/Z), energy[A] = c Q̂ on the grid.

    KL = −H(N) − E_N[log N(μ0,σ0²)] − E_N[energy] + const; the first two are closed form, the
    last is a grid quadrature.
    """
    s0 = jnp.exp(ls0)

    def kl(p):
        mu, ls = p
        s = jnp.exp(ls)
        ent = ls  # + const
        cross = ((s**2 + (mu - mu0) ** 2) / (2 * s0**2))
        dens = jnp.exp(-0.5 * ((points - mu) / s) ** 2) / (s * jnp.sqrt(2 * jnp.pi))
        e_energy = jnp.sum(weights * dens * energy) / jnp.sum(weights * dens)
        return -ent + cross - e_energy

    opt = optax.adam(lr)
    p = (mu0, ls0)

    def step(carry, _):
        p, st = carry
        g = jax.grad(kl)(p)
        u, st = opt.update(g, st, p)
        return (optax.apply_updates(p, u), st), None

    (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), None, length=iters)
    return p


@dataclasses.dataclass(frozen=True)
class DecSPGConfig:
    """Algorithm 1 on the §3 toy problems.

    n_agents: 1 with ``single_agent=True`` is M_sa; otherwise M_ma with n agents.
    policy_class: "all" (exact energy-based update) or "gaussian" (reverse-KL projection).
    batch: B samples per epoch (§3: 200). coeff: η/(1−γ) (§3: 0.01).
    init_var: variance of the initial N(0, ·) policies (§3: 0.1).
    grid_size/grid_half_width: action grid on [−w, w]; bin_width: bins of the p̂ estimator.
    """

    n_agents: int = 2
    single_agent: bool = False
    policy_class: str = "all"
    epochs: int = 300
    batch: int = 200
    coeff: float = 0.01
    init_var: float = 0.1
    grid_size: int = 2001
    grid_half_width: float = 2.0
    bin_width: float = 0.01
    constants: ToyConstants = PAPER

    def __post_init__(self):
        if self.policy_class not in ("all", "gaussian"):
            raise ValueError(f"policy_class must be 'all' or 'gaussian', got {self.policy_class!r}")
        if self.n_agents < 1 or (self.single_agent and self.n_agents != 1):
            raise ValueError(f"n_agents must be >= 1 (and 1 for single_agent), got {self.n_agents}")
        if self.epochs < 1 or self.batch < 1:
            raise ValueError(f"epochs and batch must be >= 1, got {self.epochs}, {self.batch}")


def run_decspg(config: DecSPGConfig, key):
    """Run Algorithm 1 on the toy problem; returns dict of per-epoch arrays.

    Returns: {"return": J(π^k)[epochs+1] (exact, k = 0..K), "successes": cumulative number of
    own-coordinate successes summed over agents [epochs], "mean_start": [epochs+1, n] policy means
    at the start state, "final_start": masses [n, A]} . jit/vmap-able over ``key``.
    """
    cfg, k = config, config.constants
    n = cfg.n_agents
    points, weights = action_grid(-cfg.grid_half_width, cfg.grid_half_width, cfg.grid_size)
    h = points[1] - points[0]
    n_bins = int(round(2 * cfg.grid_half_width / cfg.bin_width))
    bin_of = lambda a: jnp.clip(((a + cfg.grid_half_width) / cfg.bin_width).astype(jnp.int32), 0, n_bins - 1)
    grid_bins = bin_of(points)
    r_grid, p_grid, g_grid = r_start(points, k), p_start(points, k), jnp.exp(-points**2)

    mu0 = jnp.zeros(n)
    ls0 = jnp.full(n, 0.5 * jnp.log(cfg.init_var))
    init_masses = jax.vmap(lambda m, l: _gaussian_masses(m, l, points))(mu0, ls0)
    if cfg.policy_class == "all":
        params = (jnp.log(init_masses), jnp.log(init_masses))  # log masses, start & goal
    else:
        params = ((mu0, ls0), (mu0, ls0))

    def masses(params):
        if cfg.policy_class == "all":
            return GridPolicies(jax.nn.softmax(params[0], -1), jax.nn.softmax(params[1], -1))
        (ms, ls), (mg, lg) = params
        f = jax.vmap(lambda m, l: _gaussian_masses(m, l, points))
        return GridPolicies(f(ms, ls), f(mg, lg))

    def sample_actions(key, params, pol):
        if cfg.policy_class == "all":
            k1, k2 = jax.random.split(key)
            idx = jax.random.categorical(k1, params[0][:, None, :], axis=-1, shape=(n, cfg.batch))
            return points[idx] + h * (jax.random.uniform(k2, idx.shape) - 0.5)
        ms, ls = params[0]
        return ms[:, None] + jnp.exp(ls)[:, None] * jax.random.normal(key, (n, cfg.batch))

    def epoch(carry, key):
        params, visits, succ = carry
        pol = masses(params)
        k_a, k_s = jax.random.split(key)
        a = sample_actions(k_a, params, pol)  # [n, B]
        success = jax.random.uniform(k_s, a.shape) < p_start(a, k)
        b = bin_of(a)
        visits = jax.vmap(lambda v, bb: v.at[bb].add(1.0))(visits, b)
        succ = jax.vmap(lambda s_, bb, ss: s_.at[bb].add(ss.astype(s_.dtype)))(succ, b, success)
        p_hat = jnp.where(visits > 0, succ / jnp.maximum(visits, 1.0), 0.0)[:, grid_bins]  # [n, A]
        q = pol.start @ p_grid
        gain = pol.goal @ g_grid
        v_succ, v_fail, _ = next_value_terms(q, gain, n, k, cfg.single_agent)
        q_start = r_grid + k.gamma * (p_hat * v_succ[:, None] + (1 - p_hat) * v_fail[:, None])
        others_gain = jnp.prod(jnp.where(~jnp.eye(n, dtype=bool), gain[None, :], 1.0), axis=1)
        q_goal = k.c3 * g_grid[None, :] * others_gain[:, None]
        if cfg.policy_class == "all":
            new = (jnp.log(grid_softmax(params[0] + cfg.coeff * q_start)),
                   jnp.log(grid_softmax(params[1] + cfg.coeff * q_goal)))
        else:
            proj = jax.vmap(lambda m, l, e: _gaussian_projection(m, l, e, points, weights))
            (ms, ls), (mg, lg) = params
            new = (proj(ms, ls, cfg.coeff * q_start), proj(mg, lg, cfg.coeff * q_goal))
        new_pol = masses(new)
        ret = expected_return(new_pol, points, k, cfg.single_agent)
        mean = new_pol.start @ points
        return (new, visits, succ), (ret, jnp.sum(succ), mean)

    zeros = jnp.zeros((n, n_bins))
    (final, _, _), (rets, nsucc, means) = jax.lax.scan(
        epoch, (params, zeros, zeros), jax.random.split(key, cfg.epochs))
    pol0 = masses(params)
    ret0 = expected_return(pol0, points, k, cfg.single_agent)
    return {
        "return": jnp.concatenate([ret0[None], rets]),
        "successes": nsucc,
        "mean_start": jnp.concatenate([(pol0.start @ points)[None], means]),
        "final_start": masses(final).start,
        "points": points,
    }
