"""Time of one GPS / SAPS / ESAPS update through the public API on a random linear-Gaussian
problem (issue 16's row "one update", CPU, float64), compile time apart.

The problem: T = 100, n = 8, m = 4 (``--quick``: T = 20, n = 4, m = 2). Dynamics x' = A x + B u
+ c + w with A = I + 0.1 N(0, 1) scaled to spectral norm 0.99 (as drawn it expands 1e3-fold
over 100 steps and the update becomes a problem in rounding), B = 0.5 N(0, 1), c = 0.1 N(0, 1),
w ~ N(0, 0.01 I); cost 1/2 |x - g|^2 + 0.05 |u|^2 per step and 5 |x_T - g|^2 at the end, g
~ N(0, 1); x0 ~ N(N(0, 1), 0.01 I). q: gains 0.1 N(0, 1), zero offsets, unit covariance.

Per algorithm (its default method: GPS's Alg. 1 dual, SAPS/ESAPS's interior-point Newton on
the state-action moments; eps = ``--eps``, ESAPS's floor ``--entropy-drop`` nats below q):

* ``api``: ``lqgx.gps/saps/esaps(system, eps, iterations=1, samples=2, policy=q)`` under one
  ``jax.jit``: two rollouts, the autodiff linearization and the update;
* ``update``: ``constrained_update`` alone on the local problem the outer loop builds, with its
  Newton steps (or dual passes) ``iterations``.

Each is compiled by a first call (``compile_s``: that call minus the median), then run
``--repeats`` times (``solve_s``: the median; ``spread_s``). Ratios SAPS/GPS and ESAPS/GPS are in the JSON.

    taskset -c 0 .venv/bin/python benchmarks/update_speed.py [--quick] [--repeats 5]
        [--eps 0.5] [--entropy-drop 1.0] [--out results/benchmarks]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import lqgx  # noqa: E402
from _harness import machine, median_seconds, write_report  # noqa: E402
from lqgx.optimizers import policy_search  # noqa: E402
from lqgx.optimizers.esaps import ESAPS  # noqa: E402
from lqgx.optimizers.gps import GPS  # noqa: E402
from lqgx.optimizers.kl_update import UpdateOptions, constrained_update  # noqa: E402
from lqgx.optimizers.saps import SAPS  # noqa: E402

ALGOS = {"gps": (lqgx.gps, GPS), "saps": (lqgx.saps, SAPS), "esaps": (lqgx.esaps, ESAPS)}
SIZES = {"full": dict(T=100, n=8, m=4), "quick": dict(T=20, n=4, m=2)}


def random_system(T: int, n: int, m: int, seed: int = 0):
    """The random linear-Gaussian system of the module docstring and the prior policy q."""
    r = np.random.default_rng(seed)
    A = np.eye(n) + 0.1 * r.normal(size=(n, n))
    A = 0.99 * A / np.linalg.norm(A, 2)
    B = 0.5 * r.normal(size=(n, m))
    c = 0.1 * r.normal(size=n)
    goal = jnp.asarray(r.normal(size=n))
    A, B, c = jnp.asarray(A), jnp.asarray(B), jnp.asarray(c)
    system = lqgx.System(
        lambda x, u: A @ x + B @ u + c,
        lambda x, u, t: 0.5 * jnp.sum((x - goal) ** 2) + 0.05 * jnp.sum(u ** 2),
        lambda x: 5.0 * jnp.sum((x - goal) ** 2),
        x0=jnp.asarray(r.normal(size=n)), horizon=T, x0_cov=0.01 * jnp.eye(n),
        noise_cov=0.01 * jnp.eye(n), name=f"random-lg-{T}x{n}x{m}")
    q = lqgx.LinearGaussianPolicy(K=jnp.asarray(0.1 * r.normal(size=(T, m, n))),
                                  k=jnp.zeros((T, m)), cov=jnp.broadcast_to(jnp.eye(m), (T, m, m)))
    return system, q


def local_problem(system, q, key):
    """The local problem the outer loop builds at its first iteration (autodiff linearization)."""
    options = policy_search.SearchOptions()
    evaluation = policy_search.evaluate(system, q, key, 2)
    return policy_search._local_problem(system, q, evaluation, options, None, key)


def measure(algo: str, system, q, eps: float, drop: float, repeats: int) -> dict:
    api_fn, form = ALGOS[algo]
    extra = dict(entropy_drop=drop) if algo == "esaps" else {}
    key = jax.random.PRNGKey(0)
    api = jax.jit(lambda k: api_fn(system, eps, iterations=1, samples=2, policy=q, key=k,
                                   **extra))
    _, api_time = median_seconds(lambda: jax.block_until_ready(api(key)), repeats)
    problem = local_problem(system, q, key)
    T = q.k.shape[0]
    delta = policy_search.entropy_bound(None, drop, q) if algo == "esaps" else None
    update = jax.jit(lambda pb: constrained_update(form, pb, jnp.full((T,), eps), delta,
                                                   options=UpdateOptions()))
    result, update_time = median_seconds(lambda: jax.block_until_ready(update(problem)), repeats)
    return dict(api=api_time, update=dict(update_time, iterations=int(result.iterations),
                                          converged=bool(result.converged)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="T=20, n=4, m=2 and 2 repeats")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--eps", type=float, default=0.5)
    ap.add_argument("--entropy-drop", type=float, default=1.0)
    ap.add_argument("--algos", default="gps,saps,esaps")
    ap.add_argument("--out", default="results/benchmarks")
    args = ap.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "full"]
    repeats = 2 if args.quick else args.repeats
    system, q = random_system(**sizes)
    rows = {}
    for algo in args.algos.split(","):
        rows[algo] = measure(algo, system, q, args.eps, args.entropy_drop, repeats)
        api, upd = rows[algo]["api"], rows[algo]["update"]
        print(f"{algo:6s} api {api['solve_s'] * 1e3:8.1f} ms (compile {api['compile_s']:5.1f} s)"
              f"  update {upd['solve_s'] * 1e3:8.1f} ms, {upd['iterations']:3d} iterations, "
              f"converged {upd['converged']}", flush=True)
    ratios = {}
    if "gps" in rows:
        for algo in rows:
            if algo != "gps":
                ratios[f"{algo}/gps"] = {
                    part: rows[algo][part]["solve_s"] / rows["gps"][part]["solve_s"]
                    for part in ("api", "update")}
    for name, r in ratios.items():
        print(f"{name}: api {r['api']:.2f}x, update {r['update']:.2f}x")
    report = dict(sizes=sizes, eps=args.eps, entropy_drop=args.entropy_drop, repeats=repeats,
                  results=rows, ratios=ratios, machine=machine())
    write_report(args.out, "update_speed" + ("_quick" if args.quick else ""), report)


if __name__ == "__main__":
    main()
