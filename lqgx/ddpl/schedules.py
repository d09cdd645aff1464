"""DDPM variance schedules (DDPL paper §2.2, Table 3, Fig. 5 right).

Notation (paper §2.2): denoising steps τ = 1..H, variances β_τ, α_τ = 1 − β_τ,
ᾱ_τ = ∏_{h≤τ} α_h, forward marginal a_τ = √ᾱ_τ a_0 + √(1 − ᾱ_τ) ε, reverse step

    a_{τ−1} = (a_τ + β_τ s_τ(a_τ)) / √α_τ + σ_τ ε,     σ_τ² = β_τ / α_τ   (paper's choice).

Arrays are indexed by ``τ − 1`` (index 0 is τ = 1, the least noisy step).

How we read Table 3 ("linear, start 0.001, end 0.999")
------------------------------------------------------
Taken literally as β_1 = 0.001 … β_H = 0.999 (linear in β), the last reverse step would divide by
√α_H = √0.001 ≈ 0.03 and inject noise of variance σ_H² = β_H/α_H ≈ 999: the reverse chain explodes
for H = 20. We therefore read the endpoints as the *noise level* 1 − ᾱ_τ, which runs linearly in τ
from 0.001 (τ = 1, almost clean) to 0.999 (τ = H, almost pure noise); β_τ = 1 − ᾱ_τ / ᾱ_{τ−1}.
This gives exactly the stated endpoints for the signal/noise split a_τ = √ᾱ a_0 + √(1−ᾱ) ε and a
usable chain. The literal reading is still available as ``kind="linear_beta"`` (β clipped to
``max_beta``) for comparison. ``"cosine"`` is Nichol & Dhariwal's (clipped at ``max_beta``) and
``"vp"`` is the discretised variance-preserving SDE with β_min = 0.1, β_max = 10 (as used in
Diffusion-QL style policies).

Even with the 1 − ᾱ reading, β_H is large (≈ 0.98 for H = 20), so σ_H² = β_H/α_H ≫ 1. The paper's
σ² is kept as the default ``reverse_variance="paper"``; ``"posterior"`` uses the DDPM posterior
variance β̃_τ = β_τ (1 − ᾱ_{τ−1}) / (1 − ᾱ_τ), which is better behaved for such schedules (see the
ISSM benchmark for the measured difference).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

KINDS = ("linear", "linear_beta", "cosine", "vp")
REVERSE_VARIANCES = ("paper", "posterior", "paper_noiseless_last")


class Schedule(NamedTuple):
    """A DDPM schedule; every field is a float64 numpy array of shape [H] indexed by τ − 1.

    betas β_τ, alphas α_τ, alpha_bars ᾱ_τ, sigmas σ_τ (reverse-process noise std),
    loss_weights β_τ² / (σ_τ² α_τ) (the weights of eq. 1/2; equal to β_τ when σ_τ² = β_τ/α_τ).
    """

    betas: np.ndarray
    alphas: np.ndarray
    alpha_bars: np.ndarray
    sigmas: np.ndarray
    loss_weights: np.ndarray


def make_schedule(
    kind: str = "linear",
    steps: int = 20,
    start: float = 0.001,
    end: float = 0.999,
    reverse_variance: str = "paper",
    max_beta: float = 0.999,
) -> Schedule:
    """Build a schedule with H = ``steps`` denoising steps.

    Args:
      kind: "linear" (1 − ᾱ_τ linear from ``start`` to ``end``, our reading of Table 3),
        "linear_beta" (β_τ linear from ``start`` to ``end``), "cosine", "vp".
      steps: H ≥ 1.
      start, end: endpoints for the two linear kinds, 0 < start < end < 1.
      reverse_variance: "paper" (σ_τ² = β_τ/α_τ, §2.2), "posterior" (β̃_τ, σ_1 = 0), or
        "paper_noiseless_last" (σ_τ² = β_τ/α_τ for τ ≥ 2 and σ_1 = 0, i.e. the paper's variance
        with the last step of Ho et al. (2020)'s Algorithm 2, which adds no noise at t = 1). With the
        paper variance the final step alone adds independent N(0, β_1/α_1) noise to every action
        (VP, H = 20: std 0.132), so no policy of the class is sharper than that.
      max_beta: upper clip for β_τ in "linear_beta" and "cosine".
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not (0.0 < start < end < 1.0):
        raise ValueError(f"start/end must satisfy 0 < start < end < 1, got {start}, {end}")
    if reverse_variance not in REVERSE_VARIANCES:
        raise ValueError(f"reverse_variance must be one of {REVERSE_VARIANCES}, got {reverse_variance!r}")
    H = int(steps)
    tau = np.arange(1, H + 1, dtype=np.float64)
    if kind == "linear":
        noise = np.linspace(start, end, H) if H > 1 else np.array([end])
        alpha_bars = 1.0 - noise
        prev = np.concatenate([[1.0], alpha_bars[:-1]])
        betas = 1.0 - alpha_bars / prev
    elif kind == "linear_beta":
        betas = np.clip(np.linspace(start, end, H) if H > 1 else np.array([end]), 0.0, max_beta)
    elif kind == "cosine":
        s = 0.008
        f = np.cos(((np.arange(H + 1) / H) + s) / (1 + s) * np.pi / 2) ** 2
        betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, max_beta)
    else:  # vp
        b_min, b_max = 0.1, 10.0
        betas = 1.0 - np.exp(-b_min / H - 0.5 * (b_max - b_min) * (2 * tau - 1) / H**2)
    alphas = 1.0 - betas
    alpha_bars = np.cumprod(alphas)
    if reverse_variance in ("paper", "paper_noiseless_last"):
        sig2 = betas / alphas
        if reverse_variance == "paper_noiseless_last":
            sig2 = np.concatenate([[0.0], sig2[1:]])
    else:
        prev = np.concatenate([[1.0], alpha_bars[:-1]])
        sig2 = betas * (1.0 - prev) / (1.0 - alpha_bars)
    # eq. (1) weight β²/(σ²α); where σ_1 = 0 (posterior, paper_noiseless_last) use the paper weight.
    safe = np.where(sig2 > 0, sig2, betas / alphas)
    weights = betas**2 / (safe * alphas)
    return Schedule(betas, alphas, alpha_bars, np.sqrt(sig2), weights)


def gaussian_sampler_std(schedule: Schedule, data_std: float) -> float:
    """Std of the H-step reverse process (§2.2) run with the *exact* score of N(0, data_std²) data.

    The marginals are p_τ = N(0, v_τ), v_τ = ᾱ_τ data_std² + 1 − ᾱ_τ, so s_τ(a) = −a / v_τ and each
    step is linear: Var(a_{τ−1}) = ((1 − β_τ / v_τ) / √α_τ)² Var(a_τ) + σ_τ², from Var(a_H) = 1.
    A perfect score network therefore samples with std ``gaussian_sampler_std`` instead of
    ``data_std``. In Algorithm 2 the ISSM proposal is the current policy, so this map is applied
    once per epoch to the policy's own samples: a schedule/variance pair that contracts
    (result < data_std) makes the policy collapse to a point even with η = 0; one that expands
    keeps a floor of exploration noise.
    """
    var = 1.0
    for beta, alpha, abar, sigma in zip(schedule.betas[::-1], schedule.alphas[::-1],
                                        schedule.alpha_bars[::-1], schedule.sigmas[::-1]):
        v_tau = abar * data_std**2 + 1.0 - abar
        var = ((1.0 - beta / v_tau) / np.sqrt(alpha)) ** 2 * var + sigma**2
    return float(np.sqrt(var))
