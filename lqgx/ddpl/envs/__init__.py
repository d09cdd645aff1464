"""Environments for DDPL behind one multi-agent interface (see ``base``).

``make(name, **options)`` names: ``toy-mdp`` (§3.2.1), ``toy-game-N`` (§3.2.2 with N agents),
``mpe-simple-reference``, ``smax-3s_vs_5z``, ``smax-6h_vs_8z``, and the cooperative control
environments over ``lqgx.systems`` (``envs.control``): ``double-pendulum-2`` (thesis §6.1, one
joint per agent) and ``quad-pendulum-4`` (thesis §6.2), whose options (``dtype``, ``horizon``, ...)
go to the system's builder; multi-agent MuJoCo on MJX (``envs.mamujoco``): ``ant-2x4``,
``ant-4x2``, ``ant-8x1``, ``humanoid-standup-17x1`` (options ``observation="full"|"local"``,
``physics="fast"|"gymnasium"``, ``max_steps`` (episode cap, default 1000) and ``horizon`` (the
teachers' system horizon)); ``isaac-shadow-hand-over`` (Isaac Lab, ``envs.isaac``; options
``num_envs``, ``device``, ``seed``) runs only on GPU machines with Isaac Lab and elsewhere raises
``envs.isaac.IsaacLabUnavailableError`` (a ``RuntimeError``) saying what is missing.
"""

from __future__ import annotations

from lqgx.ddpl.envs.base import MultiAgentEnv, actions_to_dict, dict_to_actions, rollout_episode_returns
from lqgx.ddpl.envs.toy_game import ToyGameEnv

NAMES = ("toy-mdp", "toy-game-2", "mpe-simple-reference", "smax-3s_vs_5z", "smax-6h_vs_8z",
         "double-pendulum-2", "quad-pendulum-4", "ant-2x4", "ant-4x2", "ant-8x1",
         "humanoid-standup-17x1", "isaac-shadow-hand-over")
CONTROL = ("double-pendulum-2", "quad-pendulum-4")
MAMUJOCO = ("ant-2x4", "ant-4x2", "ant-8x1", "humanoid-standup-17x1")


def make(name: str, **options):
    """Environment by name (``NAMES``; ``toy-game-N`` for any N ≥ 1)."""
    if name in CONTROL:
        from lqgx.ddpl.envs import control

        builder = control.make_double_pendulum if name == "double-pendulum-2" else control.make_quad_pendulum
        return builder(**options)
    if name in MAMUJOCO:
        from lqgx.ddpl.envs import mamujoco

        return mamujoco.make(name, **options)
    if name == "isaac-shadow-hand-over":
        from lqgx.ddpl.envs.isaac import make_shadow_hand_over

        return make_shadow_hand_over(**options)
    if options:
        raise ValueError(f"env {name!r} takes no options, got {sorted(options)}")
    if name == "toy-mdp":
        return ToyGameEnv(1, single_agent=True)
    if name.startswith("toy-game-"):
        try:
            n = int(name.rsplit("-", 1)[1])
        except ValueError:
            raise ValueError(f"env name {name!r}: expected toy-game-N with integer N") from None
        return ToyGameEnv(n)
    if name == "mpe-simple-reference":
        from lqgx.ddpl.envs.jaxmarl_envs import make_mpe_simple_reference
        return make_mpe_simple_reference()
    if name in ("smax-3s_vs_5z", "smax-6h_vs_8z"):
        from lqgx.ddpl.envs.jaxmarl_envs import make_smax
        return make_smax(name.split("-", 1)[1])
    raise ValueError(f"env must be one of {NAMES} (or toy-game-N), got {name!r}")


__all__ = ["MultiAgentEnv", "ToyGameEnv", "make", "NAMES", "actions_to_dict", "dict_to_actions",
           "rollout_episode_returns", "CONTROL", "MAMUJOCO"]
