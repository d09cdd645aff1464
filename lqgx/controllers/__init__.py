"""Controllers: the time-varying linear-Gaussian policy every solver returns, and teachers.

``LinearGaussianPolicy(K, k, cov)``: u ~ N(k[t] + K[t] @ x, cov[t]), with ``mean(x, t)``,
``sample(key, x, t)`` and ``act(obs, t)`` (numpy in/out, for gymnasium loops via
``lqgx.systems.make_env``). ``Teacher`` / ``make_teacher`` (``lqgx.controllers.teacher``, public as
``lqgx.ddpl.teacher``): a solved TVLG controller acting for the agents of a cooperative control
environment. Diffusion and neural policies live in ``lqgx.ddpl``.
"""

from lqgx.controllers.teacher import Teacher, make_teacher
from lqgx.lq.types import LinearGaussianPolicy

__all__ = ["LinearGaussianPolicy", "Teacher", "make_teacher"]
