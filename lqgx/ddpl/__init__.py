"""DDPL: decentralized diffusion policy learning (paper: ddpl-decentralized-diffusion-policy-learning).

Modules (one concept each):
  schedules     DDPM variance schedules (Table 3, Fig. 5)
  networks      flax MLPs: score net, critic, Gaussian head (3×256, mish)
  diffusion     DiffusionPolicy: reverse process (§2.2), projection, denoising loss (eq. 1/2)
  gaussian      GaussianPolicy (DDPL-Gaussian ablation, Fig. 4)
  issm          importance sampling score matching: stable weights, loss (eq. 2), per-state fit
  critics       per-agent critics with Polyak targets (Alg. 2 line 5)
  buffer        replay buffer (Alg. 2 lines 3–4)
  algorithm     Algorithm 2 (DDPLConfig, init_state, train_iteration, evaluate_policy)
  toy           §3 toy MDP / n-agent game, exact DecSPG (Algorithm 1) on a grid, Gaussian projection
  envs          one multi-agent env interface; toy envs, JaxMARL MPE / SMAX adapters, cooperative
                control envs over lqgx.systems (double-pendulum-2, quad-pendulum-4)
  guide         what a TVLG teacher is asked (perturbed demonstration states) and the fit losses
  warm_start    seed from a teacher: demonstrations, pretraining of policies and critics
  train         presets, resumable training loop, results.json, curve.png, evaluation
  cli           functions behind ``lqgx ddpl train`` / ``lqgx ddpl eval``
"""

from __future__ import annotations

from lqgx.ddpl.algorithm import DDPLConfig, TrainState, evaluate_policy, init_state, make_policy, train_iteration, train_iterations
from lqgx.ddpl.diffusion import DiffusionPolicy, project_ball, project_box
from lqgx.ddpl.gaussian import GaussianPolicy
from lqgx.ddpl.issm import fit_issm, issm_loss, issm_weights
from lqgx.ddpl.schedules import Schedule, gaussian_sampler_std, make_schedule
from lqgx.controllers.teacher import Teacher
from lqgx.controllers.teacher import make_teacher as teacher
from lqgx.ddpl.toy import DecSPGConfig, ToyConstants, expected_return, p_start, r_start, run_decspg

__all__ = [
    "DDPLConfig", "TrainState", "init_state", "train_iteration", "train_iterations", "evaluate_policy", "make_policy",
    "DiffusionPolicy", "GaussianPolicy", "project_box", "project_ball",
    "issm_weights", "issm_loss", "fit_issm", "Schedule", "make_schedule", "gaussian_sampler_std",
    "teacher", "Teacher",
    "DecSPGConfig", "ToyConstants", "run_decspg", "expected_return", "r_start", "p_start",
]

# The training product lives in the submodule ``lqgx.ddpl.train`` (``train.train``, ``train.evaluate``).
# ``lqgx.ddpl.teacher(env, algo, key, **solver_options)``: a TVLG teacher for a control env
# (``lqgx.controllers.teacher.make_teacher``; there is no ``lqgx.ddpl.teacher`` module).

