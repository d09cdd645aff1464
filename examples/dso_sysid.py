"""DSO system identification (§5.1, ``L_sysid``): recover the MJX pendulum's bob mass and joint
damping from recorded rollouts of the true model, starting 30% off.

    .venv/bin/python examples/dso_sysid.py

θ_f = (log mass, log damping) are MJX model parameters (``body_mass[1]``, ``dof_damping[0]``) of
``lqgx/systems/assets/pendulum.xml``. The recorded data are ``N`` rollouts of the true model driven
by known random torques, with small process noise. The DSO problem is the model's chain under a
fixed exploration policy plus the state-independent cost

    L_sysid(θ) = 1/N Σ_{n,t} ‖x̄_{t+1} - f(x̄_t, ā_t, θ_f)‖²,

so the DSO gradient is exactly ∇L_sysid (the chain does not depend on θ): as the paper notes, a
purely data-driven cost is supervised learning inside DSO. Writes ``results/dso/sysid.json``/.png.
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import dso_common as common  # noqa: E402

common.enable_x64()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import lqgx  # noqa: E402
import lqgx.dso as dso  # noqa: E402
from lqgx.systems.catalog import load_model  # noqa: E402

TRUE = {"mass": 1.0, "damping": 0.05}


def mjx_pendulum_dynamics():
    """``f(theta, x, u)``: one MJX step of the pendulum with mass/damping taken from θ."""
    from mujoco import mjx

    mj_model = load_model("pendulum")
    base = mjx.put_model(mj_model)
    template = mjx.make_data(base)

    def dynamics(theta, x, u):
        model = base.replace(
            body_mass=base.body_mass.at[1].set(jnp.exp(theta["log_mass"])),
            dof_damping=base.dof_damping.at[0].set(jnp.exp(theta["log_damping"])))
        data = template.replace(qpos=x[:1], qvel=x[1:], ctrl=u)
        data = mjx.step(model, data)
        return jnp.concatenate([data.qpos, data.qvel])

    return dynamics


def record(dynamics, key, rollouts: int, horizon: int, noise_std: float):
    """Rollouts of the true model under uniform random torques in [-3, 3]."""
    true_theta = {"log_mass": jnp.log(TRUE["mass"]), "log_damping": jnp.log(TRUE["damping"])}
    k_x0, k_u, k_w = jax.random.split(key, 3)
    x0 = jnp.stack([jax.random.uniform(k_x0, (rollouts,), minval=-np.pi, maxval=np.pi),
                    jnp.zeros(rollouts)], axis=1)
    actions = jax.random.uniform(k_u, (rollouts, horizon, 1), minval=-3.0, maxval=3.0)
    noise = noise_std * jax.random.normal(k_w, (rollouts, horizon, 2))

    def one(x0, us, ws):
        def step(x, inputs):
            u, w = inputs
            x_next = dynamics(true_theta, x, u) + w
            return x_next, x_next
        _, xs = jax.lax.scan(step, x0, (us, ws))
        return jnp.concatenate([x0[None], xs])

    return jax.jit(jax.vmap(one))(x0, actions, noise), actions


def run(rollouts: int = 16, horizon: int = 50, iterations: int = 300, noise_std: float = 1e-3,
        offset: float = 0.3, seed: int = 0, plot: bool = True) -> dict:
    dynamics = mjx_pendulum_dynamics()
    states, actions = record(dynamics, jax.random.PRNGKey(seed), rollouts, horizon, noise_std)
    sysid = dso.sysid_cost(dynamics, states, actions, weight=1.0 / (horizon * noise_std**2))
    # the chain: the pendulum under a fixed zero-mean exploration policy (θ-independent)
    system = lqgx.systems.make("pendulum", horizon=5)
    problem = dso.from_policy(system, lambda theta, x, t: jnp.zeros(1), 1.0,
                              parameter_cost=sysid)
    theta0 = {"log_mass": jnp.log(TRUE["mass"] * (1 + offset)),
              "log_damping": jnp.log(TRUE["damping"] * (1 - offset))}
    opt = optax.adam(optax.cosine_decay_schedule(0.05, iterations, alpha=0.01))
    trace = []

    def callback(it, theta, rec):
        trace.append([float(jnp.exp(theta["log_mass"])), float(jnp.exp(theta["log_damping"])),
                      rec["cost"]])

    with common.Timer() as timer:
        res = dso.optimize(problem, theta0, jax.random.PRNGKey(seed + 1), iterations=iterations,
                           method="gradient", rollouts=2, optimizer=opt, baseline=False,
                           callback=callback)
    mass, damping = float(jnp.exp(res.theta["log_mass"])), float(jnp.exp(res.theta["log_damping"]))
    err = {"mass": abs(mass / TRUE["mass"] - 1), "damping": abs(damping / TRUE["damping"] - 1)}
    result = {"true": TRUE, "start": {"mass": TRUE["mass"] * (1 + offset),
                                      "damping": TRUE["damping"] * (1 - offset)},
              "recovered": {"mass": mass, "damping": damping}, "relative_error": err,
              "data": {"rollouts": rollouts, "horizon": horizon, "process_noise_std": noise_std},
              "iterations": iterations, "wall_s": timer.seconds,
              "trace": {"mass": [t[0] for t in trace], "damping": [t[1] for t in trace],
                        "cost": [t[2] for t in trace]}}
    print(f"recovered mass {mass:.4f} (err {100 * err['mass']:.2f}%), damping {damping:.5f} "
          f"(err {100 * err['damping']:.2f}%) in {timer.seconds:.0f} s")
    return common.finish("sysid", result, _plot, plot)


def _plot(result):
    plt = common.pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, name in zip(axes, ("mass", "damping")):
        ax.plot(np.asarray(result["trace"][name]) / result["true"][name])
        ax.axhline(1.0, color="k", ls="--", lw=0.8)
        ax.axhspan(0.98, 1.02, color="g", alpha=0.15, label="±2%")
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"{name} / true")
        ax.legend()
    fig.suptitle("DSO sysid of MJX pendulum (L_sysid)")
    fig.tight_layout()
    fig.savefig(common.RESULTS / "sysid.png", dpi=120)


if __name__ == "__main__":
    parser = common.argument_parser(__doc__, iterations=300, rollouts=16)
    args = parser.parse_args()
    run(rollouts=args.rollouts, iterations=args.iterations, seed=args.seed)
