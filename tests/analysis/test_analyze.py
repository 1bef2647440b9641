"""`analyze`: hand-written and learned detectors, gain invariance, CLI output."""

import json

import numpy as np
import pytest

from stemprover.analysis import analyze
from stemprover.analysis.learned import MIX_MAPS, features
from stemprover.audio.bands import BAND_NAMES
from stemprover.cli import main
from stemprover.config import DetectorConfig
from stemprover.data.artifacts import ARTIFACTS, simulate
from stemprover.models.detector import DetectorNet
from stemprover.training.detector import train_detector

RATE = 16000


def _tone_mix(seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    clean = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((220, 440, 660, 1320), 1))
    clean = np.stack([clean, 0.8 * clean]) * 0.1 * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    others = rng.standard_normal(clean.shape) * 0.02
    return clean, others


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    out = tmp_path_factory.mktemp("det") / "pairs"
    args = ["pairs", "--out", str(out), "--rate", "16000", "-q", "--synthetic", "2"]
    assert main([*args, "--seconds", "2", "--seed", "8", "--split", "train"]) == 0
    return out


@pytest.fixture(scope="module")
def detector(pairs, tmp_path_factory):
    cfg = DetectorConfig(channels=8, steps=40, batch_size=4, seconds=1.0)
    return train_detector(pairs, tmp_path_factory.mktemp("det") / "net", cfg, progress=False)


def test_detector_cli_writes_the_folder_whole(pairs, tmp_path, capsys):
    out = tmp_path / "det"
    args = ["detector", "train", "--pairs", str(pairs), "--out", str(out), "-q"]
    assert main([*args, "--steps", "2", "--channels", "4", "--producer", "simulate"]) == 0
    assert DetectorNet.load(out).cfg.steps == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det"]  # no staging folder left
    assert main(args) == 1  # exists, no --overwrite
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["heuristic", "learned"])
def test_report_covers_every_type_band_and_second_and_ignores_gain(which, detector):
    clean, others = _tone_mix()
    art = simulate(clean, others, RATE, {"musical_noise": 0.8, "hf_loss": 0.6}, seed=1)
    kind = "heuristic" if which == "heuristic" else detector
    loud, quiet = analyze(art, RATE, detector=kind), analyze(art * 0.1, RATE, detector=kind)
    louder = analyze(art * 10, RATE, detector=kind)
    assert set(loud) == set(ARTIFACTS)
    for name, r in loud.items():
        assert 0 <= r["score"] <= 1
        assert set(r["bands"]) <= set(BAND_NAMES) and len(r["bands"]) >= 5
        assert len(r["time"]) == 2
        for other in (quiet, louder):  # ±20 dB
            assert abs(other[name]["score"] - r["score"]) < 1e-3


def test_learned_features_are_gain_invariant_and_flag_the_mixture():
    clean, others = _tone_mix()
    a, b = features(clean, RATE), features(clean * 0.01, RATE)
    np.testing.assert_allclose(a[:2], b[:2], atol=1e-4)  # levels: relative to the file
    np.testing.assert_allclose(a[2], b[2], atol=2e-2)  # phase wander: rounding in quiet bins
    with_mix = features(clean, RATE, clean + others)
    assert a[4].max() == 0 and with_mix[4].min() == 1
    mono = features(clean[:1], RATE)
    assert mono[1].max() == pytest.approx(-4.0)  # no side signal in mono


def test_full_resolution_maps_see_smearing_and_holes():
    rng = np.random.default_rng(3)
    t = np.arange(2 * RATE) / RATE
    hits = rng.standard_normal((1, len(t))) * 0.1 * np.exp(-(t % 0.25) * 30)  # 4 per second
    smeared = simulate(hits, hits * 0, RATE, {"transient_smear": 1.0}, seed=0)
    assert features(smeared, RATE)[5].mean() < 0.9 * features(hits, RATE)[5].mean()
    holed = simulate(hits, hits * 0, RATE, {"spectral_holes": 1.0}, seed=0)
    assert features(holed, RATE)[6].mean() > 1.3 * features(hits, RATE)[6].mean()


def test_a_clip_shorter_than_the_longest_roughness_lag_still_has_features():
    clip = _tone_mix(seconds=0.15)[0]  # ~14 frames at 44.1 kHz: below 2 x 12 + 1
    feats = features(clip, RATE)
    assert feats.shape[0] == 9 and np.isfinite(feats).all()
    assert not feats[8].any() and feats[5].any()


def test_a_five_input_detector_still_loads_and_reads_the_first_five_maps(tmp_path):
    import torch

    net = DetectorNet(DetectorConfig(channels=4, inputs=5), ARTIFACTS).eval()
    net.save(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    del cfg["config"]["inputs"]  # as saved before the option existed, in format 1
    cfg["format_version"] = 1
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    old = DetectorNet.load(tmp_path)
    assert old.cfg.inputs == 5
    feats = features(_tone_mix()[0], RATE)
    with torch.no_grad():
        expect = net(torch.from_numpy(feats[:5])[None])[0].numpy()
    np.testing.assert_array_equal(old.maps(feats)["bleed"], expect[ARTIFACTS.index("bleed")])


def test_detector_training_lowers_its_loss_and_round_trips(detector):
    log = [json.loads(x) for x in (detector / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 40 and log[-1]["loss"] < log[0]["loss"]
    net = DetectorNet.load(detector)
    assert net.artifacts == ARTIFACTS
    feats = features(_tone_mix()[0], RATE)
    again = DetectorNet.load(detector).maps(feats)
    for name, logit in net.maps(feats).items():
        np.testing.assert_array_equal(logit, again[name])


def test_analyze_cli_writes_json_and_plot(tmp_path, detector, capsys):
    import soundfile as sf

    clean, others = _tone_mix()
    sf.write(tmp_path / "stem.wav", clean.T, RATE)
    sf.write(tmp_path / "mix.wav", (clean + others).T, RATE)
    args = ["analyze", str(tmp_path / "stem.wav"), "--mix", str(tmp_path / "mix.wav")]
    args += ["--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")]
    assert main([*args, "--detector", str(detector)]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["artifacts"]) == set(ARTIFACTS)
    assert (tmp_path / "r.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "severity" in out and "lost highs" in out and " Hz" in out  # words a musician reads
    assert main(["analyze", str(tmp_path / "stem.wav"), "--detector", str(tmp_path)]) == 1
    assert "no artifact detector" in capsys.readouterr().err


def test_features_without_mixture_are_those_with_it_minus_the_mixture_maps():
    clean, others = _tone_mix()
    alone, with_mix = features(clean, RATE), features(clean, RATE, clean + others)
    stem_maps = [0, 1, 2, 5, 6, 7, 8]
    np.testing.assert_array_equal(alone[stem_maps], with_mix[stem_maps])
    assert not alone[MIX_MAPS].any() and with_mix[MIX_MAPS].any()
