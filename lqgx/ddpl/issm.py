"""Importance sampling score matching, ISSM (DDPL paper eq. 2, Algorithm 2 line 6).

Target  π*(a | s) ∝ π_old(a | s) exp(c Q̂(s, a)),  c = η / (1 − γ).
With proposal p̃ = π_old, the importance weight is

    w(a) = π*(a|s) / p̃(a|s) = exp(c Q̂(s, a)) / Z(s),   Z(s) = E_{a~π_old}[exp(c Q̂(s, a))].

The paper writes exp(c Q̂) and drops Z(s). Computing exp(c Q̂) directly overflows as soon as
c·Q̂ ≳ 700 (float64) or ≳ 88 (float32), so weights are formed in log space:

- ``normalize="self"`` (default): w_j = N · softmax_j(c Q̂_j) over the N samples of each state,
  i.e. Z(s) is estimated by the sample mean (self-normalized importance sampling). This restores
  the 1/Z(s) factor the exact weight has, so every state's target is a probability distribution
  and states are weighted equally; it is biased at O(1/N) but consistent, and always finite.
- ``normalize="batch"``: w = exp(c Q̂ − max over the whole batch): the paper's unnormalized
  weight exp(c Q̂) up to one global constant (Adam is invariant to a global loss scale up to its
  ε), so it keeps the paper's relative weighting of states. Can underflow to zero for states whose
  Q̂ is far below the batch maximum.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NORMALIZE = ("self", "batch")


def issm_log_weights(q, coeff):
    """Unnormalized log importance weights c · Q̂  (q[..., N], coeff = η/(1−γ))."""
    return coeff * q


def issm_weights(q, coeff, normalize: str = "self"):
    """Stable importance weights for q[..., N] (last axis: the N samples of one state).

    Returns w[..., N] ≥ 0; with ``normalize="self"`` each row has mean exactly 1.
    """
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    logw = issm_log_weights(q, coeff)
    if normalize == "self":
        n = q.shape[-1]
        return n * jax.nn.softmax(logw, axis=-1)
    return jnp.exp(logw - jnp.max(logw))


def issm_loss(policy, params, key, states, actions, q, coeff, normalize: str = "self"):
    """Σ_s L^is_s(θ) of eq. 2 averaged over states (Algorithm 2 line 6).

    Args:
      policy: a policy class with ``weighted_loss(params, key, state, actions[N, d], w[N])``
        (``DiffusionPolicy`` gives eq. 2 exactly; ``GaussianPolicy`` the weighted likelihood).
      states: [B, S]; actions: [B, N, d] samples from the proposal π_old(·|s);
      q: [B, N] critic values Q̂(s, a_j); coeff: η/(1−γ).
    Returns a scalar (mean over the B states).
    """
    if actions.ndim != 3 or q.shape != actions.shape[:2] or states.shape[0] != actions.shape[0]:
        raise ValueError(
            f"expected states[B,S], actions[B,N,d], q[B,N]; got {states.shape}, {actions.shape}, {q.shape}"
        )
    w = issm_weights(q, coeff, normalize)
    keys = jax.random.split(key, states.shape[0])
    per_state = jax.vmap(lambda k, s, a, ww: policy.weighted_loss(params, k, s, a, ww))(
        keys, states, actions, w
    )
    return jnp.mean(per_state)


def fit_issm(policy, params, key, actions, log_weights, *, steps=2000, batch_size=256,
             learning_rate=1e-3, state=None):
    """Minimize the ISSM loss (eq. 2) for one fixed state on a fixed proposal sample set.

    This is the per-state problem of Theorem 4.1: θ̂ = argmin L^is_s(θ) with samples
    a_j ~ p̃ and log-weights log π*(a_j)/p̃(a_j) (up to a constant; self-normalized here).

    Args:
      actions: [N, d] proposal samples; log_weights: [N] unnormalized log importance weights.
      state: [S] conditioning state (default: a constant [1] vector).
    Returns (params, losses[steps]). Minibatches are drawn uniformly from the N samples and
    weighted by the self-normalized weights (mean 1 over the N samples).
    """
    import optax

    actions = jnp.asarray(actions)
    if actions.ndim != 2 or log_weights.shape != actions.shape[:1]:
        raise ValueError(f"expected actions[N,d], log_weights[N]; got {actions.shape}, {log_weights.shape}")
    n = actions.shape[0]
    w = n * jax.nn.softmax(jnp.asarray(log_weights))
    state = jnp.ones((1,), actions.dtype) if state is None else jnp.asarray(state)
    opt = optax.adam(learning_rate)
    opt_state = opt.init(params)

    def step(carry, k):
        params, opt_state = carry
        k_idx, k_loss = jax.random.split(k)
        idx = jax.random.randint(k_idx, (batch_size,), 0, n)
        loss, g = jax.value_and_grad(policy.weighted_loss)(params, k_loss, state, actions[idx], w[idx])
        upd, opt_state = opt.update(g, opt_state, params)
        return (optax.apply_updates(params, upd), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, opt_state), jax.random.split(key, steps))
    return params, losses
