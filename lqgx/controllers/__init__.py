"""Controllers: the time-varying linear-Gaussian policy every solver returns, and teachers.

``LinearGaussianPolicy(K, k, cov)``: u ~ N(k[t] + K[t] @ x, cov[t]), with ``mean(x, t)``,
``sample(key, x, t)`` and ``act(obs, t)`` (numpy in/out, for gymnasium loops via
``lqgx.systems.make_env``). ``Teacher`` / ``make_teacher`` (``lqgx.controllers.teacher``, public as
``lqgx.ddpl.teacher``): a solved TVLG controller acting for the agents of a cooperative control
environment. ``MPC`` (``lqgx.controllers.mpc``): receding-horizon control over any lqgx solver,
pure jittable ``init``/``step``; ``closed_loop`` simulates a controller (MPC, TVLG feedback or an
open-loop plan) with process noise and disturbances (``push``). Diffusion and neural policies
live in ``lqgx.ddpl``.
"""

from lqgx.controllers.mpc import MPC, ClosedLoop, MPCState, Plan, closed_loop, push
from lqgx.controllers.teacher import Teacher, make_teacher
from lqgx.lq.types import LinearGaussianPolicy

__all__ = ["MPC", "ClosedLoop", "LinearGaussianPolicy", "MPCState", "Plan", "Teacher",
           "closed_loop", "make_teacher", "push"]
