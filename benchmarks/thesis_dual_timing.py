"""Dual-solve and compile time of one GPS/SAPS/ESAPS update on the T=100 double pendulum (CPU).

``python benchmarks/thesis_dual_timing.py [count]``: count = 1 (GPS), 2 (+SAPS), 3 (+ESAPS).
"""
import time, jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
import lqgx
from lqgx.optimizers.policy_search import default_policy, _local_problem, SearchOptions
from lqgx.optimizers.kl_update import constrained_update, UpdateOptions
from lqgx.optimizers.gps import GPS
from lqgx.optimizers.saps import SAPS
from lqgx.optimizers.esaps import ESAPS
sysm = lqgx.systems.make("double_pendulum")
pol = default_policy(sysm)
t=time.time(); pb = jax.jit(lambda p: _local_problem(sysm, p, None, SearchOptions()))(pol); jax.block_until_ready(pb); print("linearize compile+run %.1f"%(time.time()-t))
import sys
for form, delta in [(GPS,None),(SAPS,None),(ESAPS,-4.0)][:int(sys.argv[1]) if len(sys.argv) > 1 else 3]:
    f = jax.jit(lambda pb: constrained_update(form, pb, 1.0, delta, options=UpdateOptions(max_outer=10)))
    t=time.time(); r=f(pb); jax.block_until_ready(r); c=time.time()-t
    ts=[]
    for i in range(3):
        t=time.time(); r=f(pb); jax.block_until_ready(r); ts.append(time.time()-t)
    print(form.name, "compile %.1f s, solve %.3f s (min of 3)"%(c, min(ts)), "conv", bool(r.converged), "it", int(r.iterations), "max kl", float(jnp.max(r.kl)), float(jnp.max(r.kl_state_action)), "cost", float(r.expected_cost))
