"""Controllers: the time-varying linear-Gaussian policy every solver returns.

``LinearGaussianPolicy(K, k, cov)``: u ~ N(k[t] + K[t] @ x, cov[t]), with ``mean(x, t)``,
``sample(key, x, t)`` and ``act(obs, t)`` (numpy in/out, for gymnasium loops via
``lqgx.systems.make_env``). Diffusion and neural policies live in ``lqgx.ddpl``.
"""

from lqgx.lq.types import LinearGaussianPolicy

__all__ = ["LinearGaussianPolicy"]
