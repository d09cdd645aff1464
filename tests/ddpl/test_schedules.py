import numpy as np
import pytest

from lqgx.ddpl.schedules import KINDS, make_schedule


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


def test_bad_schedule_arguments_raise_named_errors():
    with pytest.raises(ValueError, match="kind"):
        make_schedule("quadratic", 20)
    with pytest.raises(ValueError, match="steps"):
        make_schedule("linear", 0)
    with pytest.raises(ValueError, match="start/end"):
        make_schedule("linear", 10, start=0.5, end=0.1)
