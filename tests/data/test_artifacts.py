import numpy as np
import pytest

from stemprover.data.artifacts import ARTIFACTS, simulate

RATE = 16000


def _song(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(RATE * 2) / RATE
    # A plucked harmonic stem with sharp onsets, and "others" of noise and a low tone.
    env = np.exp(-((t % 0.5) * 12))
    clean = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 12)) * env * 0.2
    others = 0.05 * rng.standard_normal(t.shape) + 0.2 * np.sin(2 * np.pi * 97 * t)
    return np.stack([clean, 0.9 * clean]), np.stack([others, others[::-1]])


def _sdr(ref, est):
    return 10 * np.log10(np.sum(ref**2) / np.sum((ref - est) ** 2))


@pytest.mark.parametrize("kind", ARTIFACTS)
def test_simulators_are_deterministic_per_seed(kind):
    clean, others = _song()
    a = simulate(clean, others, RATE, {kind: 0.6}, seed=3)
    b = simulate(clean, others, RATE, {kind: 0.6}, seed=3)
    assert a.shape == clean.shape and np.array_equal(a, b)
    assert np.isfinite(a).all()


@pytest.mark.parametrize("kind", ARTIFACTS)
def test_severity_degrades_monotonically(kind):
    clean, others = _song()
    sdrs = [_sdr(clean, simulate(clean, others, RATE, {kind: s}, seed=1)) for s in (0.1, 0.5, 1.0)]
    assert sdrs[0] > sdrs[1] > sdrs[2], sdrs


def test_randomised_simulators_change_with_seed():
    clean, others = _song()
    a = simulate(clean, others, RATE, {"musical_noise": 0.5}, seed=1)
    b = simulate(clean, others, RATE, {"musical_noise": 0.5}, seed=2)
    assert not np.allclose(a, b)


def test_combined_and_bad_requests():
    clean, others = _song()
    both = simulate(clean, others, RATE, {"bleed": 0.5, "spectral_holes": 0.5}, seed=0)
    assert _sdr(clean, both) < _sdr(clean, simulate(clean, others, RATE, {"bleed": 0.5}, seed=0))
    with pytest.raises(ValueError, match="unknown artifact"):
        simulate(clean, others, RATE, {"crackle": 0.5}, seed=0)
    with pytest.raises(ValueError, match="severity"):
        simulate(clean, others, RATE, {"bleed": 1.5}, seed=0)


def test_hf_loss_removes_the_top_band():
    clean, others = _song()
    clean = clean + 0.02 * np.random.default_rng(0).standard_normal(clean.shape)  # broadband
    out = simulate(clean, others, RATE, {"hf_loss": 1.0}, seed=0)
    spec_in = np.abs(np.fft.rfft(clean[0]))
    spec_out = np.abs(np.fft.rfft(out[0]))
    freqs = np.fft.rfftfreq(clean.shape[-1], 1 / RATE)
    top = freqs > 4000
    assert (spec_out[top] ** 2).sum() < 1e-3 * (spec_in[top] ** 2).sum()
