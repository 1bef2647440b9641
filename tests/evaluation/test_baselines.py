"""Song-level baselines: mix-consistency and the multichannel Wiener filter."""

import numpy as np
import pytest

from stemprover.evaluation.baselines import Inputs, mix_consistency, wiener_mc
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import input_bin

RATE = 16000


def _song(seed=0):
    """Three sources in separate bands, two channels, and a mixture that is their sum."""
    rng = np.random.default_rng(seed)
    t = np.arange(2 * RATE) / RATE
    tones = [np.sin(2 * np.pi * f * t) for f in (220, 1500, 5000)]
    env = [1 + 0.5 * np.sin(2 * np.pi * r * t) for r in (1, 3, 7)]
    stems = np.stack(
        [np.stack([a * e, 0.7 * a * e]) * 0.2 for a, e in zip(tones, env, strict=True)]
    )
    stems += 0.001 * rng.standard_normal(stems.shape)
    return stems, stems.sum(axis=0)


def test_mix_consistency_outputs_sum_to_the_mixture():
    stems, mix = _song()
    art = [0.8 * s for s in stems]  # every stem too quiet
    outs = [
        mix_consistency(Inputs(a, mix, s, RATE, tuple(o for j, o in enumerate(art) if j != k)))
        for k, (a, s) in enumerate(zip(art, stems, strict=True))
    ]
    np.testing.assert_allclose(sum(outs), mix, atol=1e-12)


def test_multichannel_wiener_removes_bleed_between_stems():
    pytest.importorskip("norbert")
    stems, mix = _song()
    art = stems.copy()
    art[0] = stems[0] + 0.3 * stems[1]  # the first stem bleeds the second
    x = Inputs(art[0], mix, stems[0], RATE, (art[1], art[2]))
    assert si_sdr(stems[0], wiener_mc(x)) > si_sdr(stems[0], art[0]) + 3


def test_without_the_song_both_give_the_input_back():
    stems, mix = _song()
    x = Inputs(stems[0], mix, stems[0], RATE)
    assert mix_consistency(x) is x.artifacted and wiener_mc(x) is x.artifacted


@pytest.mark.parametrize(
    ("value", "name"), [(-3, "<5 dB"), (5, "5-10 dB"), (12, "10-15 dB"), (40, ">=15 dB")]
)
def test_input_quality_bins(value, name):
    assert input_bin(value) == name


def test_report_drops_group_tables_identical_to_all(tmp_path):
    from stemprover.reports.html import write_report

    group = {"input": {"si_sdr": 5.0, "si_sdr_improvement": 0.0, "n": 1}}
    other = {"input": {"si_sdr": 7.0, "si_sdr_improvement": 0.0, "n": 1}}
    page = write_report(
        tmp_path, {"all": group, "stem:bass": group, "stem:drums": other}, []
    ).read_text()
    assert "<h3>stem:bass</h3>" not in page and "<h3>stem:drums</h3>" in page
