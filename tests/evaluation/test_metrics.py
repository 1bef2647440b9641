import math

import numpy as np
import pytest

from stemprover.evaluation import metrics
from stemprover.evaluation.run import aggregate

RATE = 16000


def _signal(seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate([220, 440, 1320, 3000, 5200], 1))
    return np.stack([x, 0.8 * x]) * 0.2 + 0.01 * rng.standard_normal((2, t.size))


def test_si_sdr_matches_the_direct_formula():
    ref = _signal()
    noise = np.random.default_rng(1).standard_normal(ref.shape) * 0.02
    est = 3.0 * ref + noise
    expected = []
    for r, e in zip(ref, est, strict=True):
        target = (e @ r / (r @ r)) * r
        expected.append(10 * np.log10(np.sum(target**2) / np.sum((e - target) ** 2)))
    assert metrics.si_sdr(ref, est) == pytest.approx(np.mean(expected), abs=1e-9)
    # Scale invariance
    assert metrics.si_sdr(ref, est) == pytest.approx(metrics.si_sdr(ref, 0.1 * est), abs=1e-9)


def test_sdr_agrees_with_fast_bss_eval_and_energy_ratio():
    import fast_bss_eval

    ref = _signal()
    noise = np.random.default_rng(2).standard_normal(ref.shape) * 0.01
    est = ref + noise
    direct = np.mean(
        [fast_bss_eval.sdr(r[None], e[None])[0] for r, e in zip(ref, est, strict=True)]
    )
    assert metrics.sdr(ref, est) == pytest.approx(direct, abs=0.01)
    # White noise is almost orthogonal to any 512-tap filtering of the reference.
    energy = np.mean(
        [10 * np.log10(np.sum(r**2) / np.sum(n**2)) for r, n in zip(ref, noise, strict=True)]
    )
    assert metrics.sdr(ref, est) == pytest.approx(energy, abs=0.3)


def test_median_sdr_skips_digitally_silent_frames():
    ref = _signal(4.0)
    ref[:, RATE : 2 * RATE] = 0
    est = ref + 0.01 * np.random.default_rng(3).standard_normal(ref.shape)
    frames = metrics.sdr_frames(ref, est, RATE)
    assert len(frames) == 4 and math.isnan(frames[1]) and np.isfinite(frames[[0, 2, 3]]).all()
    assert metrics.sdr_median(ref, est, RATE) == pytest.approx(np.median(frames[[0, 2, 3]]))


def test_bleedless_and_fullness_see_extra_and_missing_energy():
    ref = _signal()
    perfect = metrics.bleed_and_fullness(ref, ref, RATE)
    assert perfect == pytest.approx((100.0, 100.0))
    extra = ref + 0.05 * np.random.default_rng(4).standard_normal(ref.shape)
    b, f = metrics.bleed_and_fullness(ref, extra, RATE)
    assert b < 50 and f > 80
    spec = np.fft.rfft(ref, axis=-1)
    spec[:, np.fft.rfftfreq(ref.shape[-1], 1 / RATE) > 2000] = 0
    dull = np.fft.irfft(spec, n=ref.shape[-1], axis=-1)
    b, f = metrics.bleed_and_fullness(ref, dull, RATE)
    assert f < 50 and b > 80


def test_band_metrics_locate_damage():
    ref = _signal()
    spec = np.fft.rfft(ref, axis=-1)
    spec[:, np.fft.rfftfreq(ref.shape[-1], 1 / RATE) > 4000] *= 0.01
    dull = np.fft.irfft(spec, n=ref.shape[-1], axis=-1)
    bands = metrics.band_metrics(ref, dull, RATE)
    assert bands["brilliance"]["lsd"] > 10 * bands["mid"]["lsd"]
    assert bands["mid"]["phase_coherence"] == pytest.approx(1.0, abs=1e-3)
    shifted = np.roll(ref, 3, axis=-1)
    assert metrics.band_metrics(ref, shifted, RATE)["high_mid"]["phase_coherence"] < 0.5


def test_silent_reference_scores_nan_and_aggregates_skip_it():
    silent = np.zeros((2, RATE))
    scores = metrics.score(silent, silent + 1e-3, RATE)
    assert math.isnan(scores.si_sdr) and math.isnan(scores.sdr)
    rows = [
        {"pair_id": "a", "system": "input", "si_sdr": float("nan")},
        {"pair_id": "b", "system": "input", "si_sdr": 4.0},
        {"pair_id": "b", "system": "x", "si_sdr": 6.0},
        {"pair_id": "a", "system": "x", "si_sdr": 1.0},
    ]
    recs = [
        {"id": i, "stem": "bass", "producer": "mask", "artifacts": {"bleed": 0.5}} for i in "ab"
    ]
    summary = aggregate(rows, recs)
    assert (
        summary["all"]["input"]["si_sdr"] == 4.0 and summary["all"]["input"]["si_sdr_missing"] == 1
    )
    assert summary["all"]["x"]["si_sdr_improvement"] == 2.0
    assert summary["artifact:bleed"]["x"]["si_sdr"] == pytest.approx(3.5)


def test_framewise_sdr_is_museval_image_sdr():
    """museval v4 (one source, images) reduces to Σref² / Σ(est − ref)² per frame, all channels."""
    ref = _signal(3.0)
    est = ref + 0.03 * np.random.default_rng(5).standard_normal(ref.shape)
    frames = metrics.sdr_frames(ref, est, RATE)
    direct = [
        10
        * np.log10(
            np.sum(ref[:, k * RATE : (k + 1) * RATE] ** 2)
            / np.sum((est - ref)[:, k * RATE : (k + 1) * RATE] ** 2)
        )
        for k in range(3)
    ]
    np.testing.assert_allclose(frames, direct, atol=1e-6)


def test_json_safe_turns_non_finite_scores_into_null():
    import json

    from stemprover.evaluation.run import json_safe

    text = json.dumps(
        json_safe({"a": [1.0, float("nan")], "b": {"c": float("inf")}}), allow_nan=False
    )
    assert json.loads(text) == {"a": [1.0, None], "b": {"c": None}}


def test_level_db_is_the_gain_error_that_si_sdr_ignores():
    ref = np.random.default_rng(3).standard_normal((2, RATE))
    assert metrics.level_db(ref, 0.5 * ref) == pytest.approx(-6.0206, abs=1e-3)
    assert metrics.level_db(ref, ref) == pytest.approx(0.0, abs=1e-9)
    assert metrics.si_sdr(ref, 0.5 * ref) > 100
