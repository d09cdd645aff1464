"""Figures: cost curves (mean ± std over trials) and policy-step sizes, like thesis Fig. 6.1-6.4."""

from __future__ import annotations

import pathlib
import warnings

import numpy as np


def _batched(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values.reshape(-1, values.shape[-1]) if values.ndim else values.reshape(1, 1)


def plot_curves(results: dict, path, title: str = "") -> pathlib.Path:
    """Plot ``history["cost"]`` (mean ± std over trials) and, when present, the max policy KL.

    Args:
        results: algorithm name -> ``Result`` (single or batched over trials).
        path: PNG file to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_kl = any("kl" in r.history for r in results.values())
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="numpy")  # all-NaN columns
    first_costs = []
    fig, axes = plt.subplots(1, 2 if has_kl else 1, figsize=(11 if has_kl else 6, 4),
                             squeeze=False)
    for name, result in results.items():
        cost = _batched(result.history["cost"])
        iterations = np.arange(1, cost.shape[1] + 1)
        mean, std = np.nanmean(cost, 0), np.nanstd(cost, 0)
        first_costs.append(mean[0])
        axes[0, 0].plot(iterations, mean, label=name)
        axes[0, 0].fill_between(iterations, mean - std, mean + std, alpha=0.25)
        if has_kl and "kl" in result.history:
            kl = _batched(result.history["kl"])
            axes[0, 1].plot(np.arange(1, kl.shape[1] + 1), np.nanmean(kl, 0), label=name)
    axes[0, 0].set(xlabel="iteration", ylabel="expected cost (lower is better)", yscale="log",
                   title=title)
    finite_first = [c for c in first_costs if np.isfinite(c) and c > 0]
    if finite_first:  # a diverging run would flatten every other curve: clip at 10x the start
        axes[0, 0].set_ylim(top=10 * max(finite_first))
    axes[0, 0].legend()
    if has_kl:
        axes[0, 1].set(xlabel="iteration", ylabel="max_t KL(pi_new || pi_old) [nats]",
                       title="policy step")
        axes[0, 1].legend()
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_closed_loop(runs: dict, path, *, dt: float | None = None, push_step: int | None = None,
                     title: str = "") -> pathlib.Path:
    """Closed loops side by side: the cumulative cost (log) and the actions over time.

    Args:
        runs: label -> ``lqgx.controllers.ClosedLoop``.
        path: PNG file to write.
        dt: seconds per step (the x axis is in seconds when given, in steps otherwise).
        push_step: draw a vertical line where the disturbance hits.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax_cost, ax_u) = plt.subplots(1, 2, figsize=(11, 4))
    scale, unit = (dt, "time (s)") if dt else (1.0, "step")
    for label, run in runs.items():
        costs = np.asarray(run.costs, dtype=float)
        steps = np.arange(len(costs)) * scale
        # the running cost accumulated up to each step, then J (the final cost added) at the end
        cumulative = np.append(np.cumsum(costs), float(run.cost))
        line, = ax_cost.plot(np.append(steps, len(costs) * scale), cumulative,
                             label=f"{label} (J = {float(run.cost):.4g})")
        actions = np.asarray(run.actions, dtype=float)
        for i in range(actions.shape[1]):
            ax_u.plot(steps, actions[:, i], color=line.get_color(), ls=("-", "--", ":", "-.")[i % 4],
                      lw=1, label=label if i == 0 else None)
    for ax in (ax_cost, ax_u):
        if push_step is not None:
            ax.axvline(push_step * scale, color="k", lw=0.8, ls=":", label="push")
        ax.set_xlabel(unit)
        ax.grid(alpha=0.3)
    ax_cost.set_yscale("log")
    ax_cost.set_ylabel("cumulative cost (last point: + final cost = J)")
    ax_u.set_ylabel("actions (line style = action index)")
    ax_cost.legend(fontsize=8)
    ax_u.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
