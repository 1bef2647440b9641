import pytest

from stemprover.config import load_config
from stemprover.errors import StemProverError


def test_presets_overrides_and_types():
    cfg = load_config(
        "tiny", ["train.lr=1e-3", "train.steps=7", "model.denoiser.band_attention=false"]
    )
    assert (
        cfg.train.lr == 0.001
        and cfg.train.steps == 7
        and cfg.model.denoiser.band_attention is False
    )
    assert cfg.model.stft.n_fft == 256  # from tiny.yaml, over the defaults


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", "unknown config key"),
        ("train.steps=many", "expected int"),
        ("model.nope.x=1", "unknown config key"),
        ("train.steps", "key.sub=value"),
    ],
)
def test_bad_overrides_are_errors(override, message):
    with pytest.raises(StemProverError, match=message):
        load_config("tiny", [override])


def test_unknown_preset():
    with pytest.raises(StemProverError, match="presets: base, tiny"):
        load_config("huge")
