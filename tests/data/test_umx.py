"""The umx producer: a small trainable BLSTM mask separator."""

import json

import numpy as np
import pytest

from stemprover.cli import main
from stemprover.config import UmxConfig
from stemprover.data.manifest import read_manifest
from stemprover.data.umx import measured_artifacts
from stemprover.models.separator import UmxSeparator
from stemprover.training.separator import train_separator

TINY = UmxConfig(
    sample_rate=16000,
    n_fft=256,
    hop=64,
    bandwidth_hz=5000.0,
    hidden=16,
    steps=60,
    batch_size=4,
    seconds=0.5,
    lr=3e-3,
)


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    out = tmp_path_factory.mktemp("umx") / "pairs"
    args = ["pairs", "--out", str(out), "--rate", "16000", "-q", "--synthetic", "2"]
    assert main([*args, "--seconds", "2", "--seed", "3", "--split", "train"]) == 0
    return out


@pytest.fixture(scope="module")
def separator(songs, tmp_path_factory):
    return train_separator(songs, tmp_path_factory.mktemp("sep") / "umx", TINY, progress=False)


def test_training_lowers_the_loss_and_writes_safetensors(separator):
    log = [json.loads(line) for line in (separator / "log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 1 and log[-1]["step"] == TINY.steps
    assert log[-1]["loss"] < 0.7 * log[0]["loss"]
    model = UmxSeparator.load(separator)
    assert model.cfg == TINY
    assert (separator / "model.safetensors").read_bytes()[:1] != b"\x80"


def test_separation_is_band_limited_and_sized_like_the_mixture(separator):
    model = UmxSeparator.load(separator)
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((2, 8000)) * 0.1
    stems = model.separate(mix, 16000)
    assert set(stems) == {"vocals", "drums", "bass", "other"}
    for wave in stems.values():
        assert wave.shape == mix.shape and np.isfinite(wave).all()
        spec = np.abs(np.fft.rfft(wave[0]))
        freqs = np.fft.rfftfreq(wave.shape[-1], 1 / 16000)
        # Open-Unmix's bandwidth: nothing is separated above it (leakage of the window only)
        assert spec[freqs > 6000].sum() < 0.02 * spec.sum() + 1e-9
    # the same mixture at another rate is resampled there and back
    assert model.separate(mix[:, :4000], 8000)["vocals"].shape == (2, 4000)


def test_umx_pairs_are_deterministic_with_measured_artifacts(songs, separator, tmp_path):
    def build(out):
        args = ["pairs", "--out", str(out), "--rate", "16000", "-q", "--synthetic", "1"]
        args += ["--seconds", "1.5", "--seed", "4", "--producer", "umx"]
        assert main([*args, "--separator", str(separator)]) == 0
        return read_manifest(out)

    a, b = build(tmp_path / "a"), build(tmp_path / "b")
    assert a == b and {r["producer"] for r in a} == {"umx"}
    for rec in a:
        assert (tmp_path / "a" / rec["artifacted"]).read_bytes() == (
            tmp_path / "b" / rec["artifacted"]
        ).read_bytes()
        assert rec["artifacts"] and all(0 < v <= 1 for v in rec["artifacts"].values())
        assert "phasiness" in rec["artifacts"]


def test_missing_separator_is_a_clear_error(tmp_path, capsys):
    args = ["pairs", "--out", str(tmp_path / "p"), "--rate", "16000", "-q", "--synthetic", "1"]
    args += ["--seconds", "1", "--producer", "umx", "--separator", str(tmp_path / "none")]
    assert main(args) == 1
    assert "no umx separator" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_measured_bleed_rises_with_leaked_accompaniment():
    rng = np.random.default_rng(1)
    clean = rng.standard_normal((1, 16000)) * 0.1
    others = rng.standard_normal((1, 16000)) * 0.1
    mixture = clean + others
    bleed = [
        measured_artifacts(clean, clean + g * others, mixture, 16000, TINY).get("bleed", 0.0)
        for g in (0.0, 0.1, 0.3, 1.0)
    ]
    assert bleed[0] == 0.0 and np.all(np.diff(bleed) > 0) and bleed[-1] > 0.9


def test_separator_cli_refuses_to_overwrite(songs, tmp_path, capsys):
    (tmp_path / "sep").mkdir()
    (tmp_path / "sep" / "x").write_text("keep")
    args = ["separator", "train", "--pairs", str(songs), "--out", str(tmp_path / "sep")]
    assert main([*args, "--steps", "1", "-q"]) == 1
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "sep" / "x").read_text() == "keep"


@pytest.mark.parametrize("core", ["tcn", "bandsplit"])
def test_other_cores_train_save_and_separate(songs, tmp_path, core):
    """The second and third architectures (dilated time convolutions; band-split GRUs)
    instead of the BLSTM, through the same training, files and separation; an unknown core
    is refused."""
    from dataclasses import replace

    cfg = replace(TINY, core=core, steps=30)
    out = train_separator(songs, tmp_path / core, cfg, progress=False)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < 0.8 * log[0]["loss"]
    model = UmxSeparator.load(out)
    assert model.cfg.core == core and not hasattr(model, "lstm")
    mix = np.random.default_rng(2).standard_normal((2, 8000)) * 0.1
    stems = model.separate(mix, 16000)
    assert all(w.shape == mix.shape and np.isfinite(w).all() for w in stems.values())
    with pytest.raises(ValueError, match="unknown separator core"):
        UmxSeparator(replace(TINY, core="gru"))
