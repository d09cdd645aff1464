import numpy as np
import pytest

from lqgx.ddpl.schedules import KINDS, gaussian_sampler_std, make_schedule


def test_linear_schedule_reads_table3_endpoints_as_noise_levels():
    s = make_schedule("linear", 20)
    assert np.isclose(1 - s.alpha_bars[0], 0.001)
    assert np.isclose(1 - s.alpha_bars[-1], 0.999)
    assert np.allclose(np.diff(1 - s.alpha_bars), 0.998 / 19)


@pytest.mark.parametrize("kind", KINDS)
def test_schedules_are_valid_variance_sequences(kind):
    s = make_schedule(kind, 20)
    assert np.all((s.betas > 0) & (s.betas < 1))
    assert np.allclose(s.alphas, 1 - s.betas)
    assert np.allclose(s.alpha_bars, np.cumprod(s.alphas))
    assert np.all(np.diff(s.alpha_bars) < 0)


def test_paper_variance_makes_loss_weights_equal_beta():
    s = make_schedule("linear", 20, reverse_variance="paper")
    assert np.allclose(s.sigmas**2, s.betas / s.alphas)
    assert np.allclose(s.loss_weights, s.betas)


def test_paper_noiseless_last_differs_from_paper_only_in_the_final_step_noise():
    """Ho et al. (2020) Algorithm 2 convention (z = 0 at t = 1): same training loss as the paper
    variance, no noise floor at the last step (with it, VP/H = 20 puts std ≥ √(β_1/α_1) ≈ 0.13 on
    every action, and the exact-score map keeps a 0.01-std policy at 0.13)."""
    p = make_schedule("vp", 20, reverse_variance="paper")
    z = make_schedule("vp", 20, reverse_variance="paper_noiseless_last")
    assert z.sigmas[0] == 0 and np.allclose(z.sigmas[1:], p.sigmas[1:])
    assert np.allclose(z.loss_weights, p.loss_weights)
    assert gaussian_sampler_std(p, 0.01) > 0.13 and gaussian_sampler_std(z, 0.01) < 0.01


def test_bad_schedule_arguments_raise_named_errors():
    with pytest.raises(ValueError, match="kind"):
        make_schedule("quadratic", 20)
    with pytest.raises(ValueError, match="steps"):
        make_schedule("linear", 0)
    with pytest.raises(ValueError, match="reverse_variance"):
        make_schedule("vp", 20, reverse_variance="ddim")
    with pytest.raises(ValueError, match="start/end"):
        make_schedule("linear", 10, start=0.5, end=0.1)


def test_gaussian_sampler_std_matches_the_policy_reverse_process_with_exact_score():
    """The analytic map equals Monte Carlo of DiffusionPolicy.sample_raw with s_τ(a) = −a / v_τ."""
    import jax
    import jax.numpy as jnp

    from lqgx.ddpl.diffusion import DiffusionPolicy
    from lqgx.ddpl.schedules import gaussian_sampler_std

    sd = 0.2

    class ExactScore(DiffusionPolicy):
        def score(self, params, state, a, idx, sch=None):
            sch = self._sched(a.dtype) if sch is None else sch
            return -a / (sch.alpha_bars[idx] * sd**2 + 1.0 - sch.alpha_bars[idx])

    for kind, rv in (("linear", "posterior"), ("vp", "paper"), ("vp", "paper_noiseless_last")):
        pol = ExactScore(1, low=-50.0, high=50.0, steps=20, schedule=kind, reverse_variance=rv)
        a = jax.vmap(lambda k: pol.sample_raw(None, k, jnp.ones(1)))(jax.random.split(jax.random.PRNGKey(0), 20000))
        expected = gaussian_sampler_std(make_schedule(kind, 20, reverse_variance=rv), sd)
        np.testing.assert_allclose(float(jnp.std(a)), expected, rtol=0.03)


@pytest.mark.parametrize("env", ["toy-game-2", "mpe-simple-reference", "smax-3s_vs_5z", "smax-6h_vs_8z"])
def test_cpu_preset_sampler_neither_collapses_nor_explodes_under_self_distillation(env):
    """ISSM refits the policy to its own samples every epoch, so the exact-score sampler map is
    iterated: it must not contract narrow policies (the posterior variance did: 0.1 → 0.047 for
    linear/H = 20, 0.1 → 0.039 for the former MPE/SMAX linear/H = 10 preset, and DDPL-diffusion on
    toy-game-2 collapsed to a point even with η = 0) nor blow up broad ones."""
    from lqgx.ddpl.schedules import gaussian_sampler_std
    from lqgx.ddpl.train import make_config

    cfg = make_config(env, "diffusion")
    s = make_schedule(cfg.schedule, cfg.diffusion_steps, reverse_variance=cfg.reverse_variance)
    for sd in (0.05, 0.1, 0.2, 0.5, 1.0):
        assert sd <= gaussian_sampler_std(s, sd) <= max(1.5 * sd, 0.2), sd
    for contracting in (make_schedule("linear", 20, reverse_variance="posterior"),
                        make_schedule("linear", 10, reverse_variance="posterior")):
        assert gaussian_sampler_std(contracting, 0.1) < 0.5 * 0.1
