"""The song trust layer: its features, the stems it leaves alone, how song mode applies it
and how it is saved with its refiner."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from stemprover.audio.chunking import array_reader
from stemprover.audio.stft import stft
from stemprover.models.refiner import RefinerModel, cap_quiet
from stemprover.models.trust import (
    SongTrust,
    TrustConfig,
    band_energies,
    band_features,
    cancelled,
    feature_dim,
    pooled_quality,
    quality_maps,
    song_prior,
    stem_type,
)
from stemprover.pipeline import EnhancePipeline
from tests.models.test_refiner import STEMS, TINY, _randomised, _siblings, _song, _spec

TINY_TRUST = TrustConfig(
    n_fft=512, hop=128, sample_rate=16000, quality_bands=16, quality_channels=4
)


def _parts(seed: int = 0):
    """A song's stems, mixture, priors, outputs and gates (4 stems, 2 channels, 40 frames)."""
    s, x = torch.stack([_spec(seed + 1), *_siblings()]), _spec(seed + 2)
    y = 0.5 * s + 0.1 * _spec(seed + 3)
    gate = torch.rand(s.shape, generator=torch.Generator().manual_seed(seed))
    return s, x, song_prior(s, x), y, gate


def _pick(net, k: int) -> None:
    """Make a blend network choose candidate ``k`` (0 S, 1 P, 2 Y, 3 C) everywhere."""
    with torch.no_grad():
        bias = torch.full((net.net[-1].bias.numel(),), -40.0)
        bias[k] = 40.0
        net.net[-1].bias.copy_(bias)


def _layer(
    pick: int | None = None, below: float = 8.0, level: str = "none", good: int | None = None
) -> SongTrust:
    """A trust layer; ``pick``: its blend chooses that candidate everywhere; ``level``: its
    level matching (``none``: the blend as it is); ``good``: the good-stem blend's choice
    (``None``: no good-stem blend, those stems keep ``Y``)."""
    torch.manual_seed(0)
    cfg = replace(TINY_TRUST, below=below, level=level, good_blend=good is not None)
    layer = SongTrust(cfg).eval()
    if pick is not None:
        _pick(layer.blend, pick)
    if good is not None:
        _pick(layer.good, good)
    return layer


def test_stem_names_map_to_the_four_types_and_the_rest_is_other():
    assert [stem_type(n) for n in ("vocals", "Drums", "bass", "other")] == [0, 1, 2, 3]
    assert stem_type("piano") == stem_type(None) == stem_type("") == 3


def test_features_have_the_declared_width_and_the_quality_maps_are_finite():
    s, x, p, y, gate = _parts()
    layer = _layer()
    en = band_energies(s, x, p, y, gate, layer.ranges)
    assert en.shape == (4, len(layer.ranges), 10)
    f = band_features(en, torch.tensor([0, 1, 2, 3]), torch.tensor([0.0, 5, 10, 20]))
    assert f.shape == (4, len(layer.ranges), feature_dim(len(layer.ranges)))
    torch.testing.assert_close(
        f[:, :, -1], torch.tensor([0.0, 0.25, 0.5, 1.0])[:, None].expand(4, len(layer.ranges))
    )
    # a song of one stem has no siblings: their mean and max are zero
    one = band_features(en[:1], torch.tensor([0]), torch.tensor([0.0]))
    assert one[:, :, 10:30].abs().max() == 0
    maps = quality_maps(s, x, p, layer.band_matrix)
    assert maps.shape == (4, 6, 16, s.shape[-1]) and torch.isfinite(maps).all()
    assert layer.estimate(s, x, p, torch.tensor([0, 1, 2, 3])).shape == (4,)


def test_the_cancellers_candidate_is_a_fourth_choice_the_layer_starts_without(tmp_path):
    s, x, p, y, gate = _parts()
    kinds, quality = torch.tensor([0, 1, 2, 3]), torch.tensor([20.0, 8.0, 7.9, -5.0])
    cfg = replace(TINY_TRUST, cancel=True, level="none")
    layer = SongTrust(cfg).eval()
    B = len(layer.ranges)
    cands, rho = layer.candidates(s, x, p, y)
    assert cands.shape[1] == 4 and rho.shape == s.shape
    c, raw = cancelled(s, x, clip=True)[0], cancelled(s, x)[0]
    assert torch.equal(cands[:, 3], c) and not torch.allclose(c, s)
    # clipped: never louder than the stem in a bin, where the raw estimate is in some
    assert (c.abs() <= s.abs() * (1 + 1e-6)).all() and (raw.abs() > s.abs() * 1.01).any()
    on = c.abs() > 1e-6
    torch.testing.assert_close(c[on] / c[on].abs(), raw[on] / raw[on].abs())  # phase kept
    f = band_features(layer.energies(cands, x, gate, rho), kinds, quality)
    assert f.shape == (4, B, feature_dim(B, cancel=True)) and torch.isfinite(f).all()
    assert feature_dim(B, cancel=True) == feature_dim(B) + 9  # its 3, siblings' mean and max
    w = layer.weights(s, x, p, y, gate, kinds, quality)
    assert w.shape == (4, B, 4) and (w[..., 2] > 0.99).all()  # an untrained layer keeps Y
    _pick(layer.blend, 3)
    _pick(layer.good, 3)
    torch.testing.assert_close(layer(s, x, p, y, gate, kinds, quality), c)
    back = SongTrust.load(layer.save(tmp_path / "layer"))
    assert back.config.cancel and torch.equal(back(s, x, p, y, gate, kinds, quality), c)
    # a layer saved before cancel_clip existed blends the raw estimate it was trained with
    config = tmp_path / "layer" / "config.json"
    meta = json.loads(config.read_text())
    del meta["config"]["cancel_clip"]
    config.write_text(json.dumps(meta))
    old = SongTrust.load(tmp_path / "layer")
    assert not old.config.cancel_clip and back.config.quiet_cap == 0.0
    del meta["config"]["quiet_cap"]  # nor, before quiet_cap, capped its quiet bins
    config.write_text(json.dumps(meta))
    assert SongTrust.load(tmp_path / "layer").config.quiet_cap is None
    torch.testing.assert_close(old(s, x, p, y, gate, kinds, quality), raw)
    # without the option the layer is what it was: three candidates, the same features
    plain = SongTrust(TINY_TRUST)
    assert plain.candidates(s, x, p, y)[1] is None
    assert plain.weights(s, x, p, y, gate, kinds, quality).shape == (4, B, 3)


def test_stems_estimated_good_keep_the_song_filter_output_and_poor_ones_are_blended():
    s, x, p, y, gate = _parts()
    kinds = torch.tensor([0, 1, 2, 3])
    layer = _layer(pick=0)  # the blend takes the input stem wherever it acts
    w = layer.weights(s, x, p, y, gate, kinds, quality=torch.tensor([20.0, 8.0, 7.9, -5.0]))
    assert (w[:2] == torch.tensor([0.0, 0.0, 1.0])).all()  # at or above `below`: Y exactly
    torch.testing.assert_close(w[2:, :, 0], torch.ones_like(w[2:, :, 0]))
    layer.config = replace(layer.config, below=float("inf"))  # every stem is blended
    torch.testing.assert_close(layer(s, x, p, y, gate, kinds), s)
    layer.config = replace(layer.config, below=-float("inf"))  # none is
    assert torch.equal(layer(s, x, p, y, gate, kinds), y)


def test_stems_estimated_good_take_the_good_stem_blend_when_the_layer_has_one(tmp_path):
    s, x, p, y, gate = _parts()
    kinds, quality = torch.tensor([0, 1, 2, 3]), torch.tensor([20.0, 8.0, 7.9, -5.0])
    layer = _layer(pick=1, good=0)  # poor stems take the prior, good ones the input
    w = layer.weights(s, x, p, y, gate, kinds, quality)
    torch.testing.assert_close(w[:2, :, 0], torch.ones_like(w[:2, :, 0]))
    torch.testing.assert_close(w[2:, :, 1], torch.ones_like(w[2:, :, 1]))
    out = layer(s, x, p, y, gate, kinds, quality)
    torch.testing.assert_close(out[:2], s[:2])
    torch.testing.assert_close(out[2:], p[2:])
    assert TrustConfig().good_blend  # the default for a new layer
    # a layer saved before the good-stem blend (no such key) keeps Y for its good stems
    layer = _layer(pick=1)
    folder = layer.save(tmp_path / "old")
    meta = json.loads((folder / "config.json").read_text())
    del meta["config"]["good_blend"], meta["config"]["level"], meta["config"]["level_max"]
    (folder / "config.json").write_text(json.dumps(meta))
    old = SongTrust.load(folder)
    assert old.good is None and old.config.level == "stem"
    w = old.weights(s, x, p, y, gate, kinds, quality)
    assert (w[:2] == torch.tensor([0.0, 0.0, 1.0])).all()


def test_the_blend_is_brought_to_the_song_filter_outputs_level_per_stem_within_bounds():
    s, x, p, y, gate = _parts()
    kinds = torch.tensor([0, 1, 2, 3])
    layer = _layer(pick=0, below=float("inf"), level="stem")  # every stem takes S, at Y's level
    out = layer(s, x, p, y, gate, kinds)
    energy = lambda z: z.abs().pow(2).sum(dim=(1, 2, 3))  # noqa: E731
    torch.testing.assert_close(energy(out), energy(y), rtol=1e-4, atol=0)
    gain = (energy(y) / energy(s)).sqrt()
    torch.testing.assert_close(out, s * gain[:, None, None, None])  # one gain per stem
    assert TrustConfig().level == "stem"  # the default
    layer.config = replace(layer.config, level_max=1.0)  # bounded to +-1 dB
    ratio = energy(layer(s, x, p, y, gate, kinds)) / energy(s)
    assert (ratio >= 10**-0.1 - 1e-4).all() and (ratio <= 10**0.1 + 1e-4).all()
    assert (energy(y) / energy(s) < 10**-0.1).any()  # (the bound is reached)
    layer.config = replace(layer.config, below=-float("inf"))  # stems that keep Y: gain 1
    assert torch.equal(layer(s, x, p, y, gate, kinds), y)
    with pytest.raises(ValueError, match="unknown trust level"):
        layer.config = replace(layer.config, below=float("inf"), level="band")
        layer(s, x, p, y, gate, kinds)


def test_song_mode_applies_the_trust_layer_after_the_level_step():
    model = _randomised()
    specs, x = torch.stack([_spec(1), *_siblings()]), _spec(2)
    level = model.enhance_song(specs, x, song_filter="level")
    assert torch.equal(model.enhance_song(specs, x), level)  # no layer: trust is level
    good = _layer(pick=0, below=-float("inf"))  # every stem estimated good: keeps Y
    model.attach_trust(good)
    out = model.enhance_song(specs, x)  # quiet bins re-kept and capped at the stem's
    torch.testing.assert_close(out, cap_quiet(level, specs))
    assert not torch.allclose(out, level)  # Y is louder than the stem in some quiet bins
    good.config = replace(good.config, gain_db=1.0)  # the gain, then the cap takes it back
    torch.testing.assert_close(model.enhance_song(specs, x), cap_quiet(level * 10**0.05, specs))
    good.config = replace(good.config, quiet_cap=None)  # a layer saved before the cap
    torch.testing.assert_close(model.enhance_song(specs, x), level * 10**0.05)
    good.config = replace(good.config, gain_db=0.0)
    torch.testing.assert_close(model.enhance_song(specs, x), level)
    # two passes: the second on the layer's blend of the first (without its gain), the
    # layer again on the input stems with the second pass's parts
    blend = _layer(pick=1)  # every stem takes the prior
    blend.config = replace(blend.config, gain_db=1.0)
    model.attach_trust(blend)
    two = _randomised(replace(TINY, passes=2))
    two.attach_trust(blend)
    with torch.no_grad():
        first = model.song_trust(specs, x, *model.song_parts(specs, x), gain=False)
        again = model.song_trust(specs, x, *model.song_parts(first, x))
    torch.testing.assert_close(two.enhance_song(specs, x), again)
    assert (again - model.enhance_song(specs, x)).abs().max() > 1e-3
    model.attach_trust(_layer(pick=0, below=float("inf")))  # every stem poor: takes S
    torch.testing.assert_close(model.enhance_song(specs, x), specs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.enhance_song(specs, x, song_filter="level"), level)
    assert "trust" not in "".join(model.state_dict())  # saved in its own folder


def test_a_refiner_folder_with_a_trust_folder_loads_both(tmp_path):
    model = _randomised()
    model.save(tmp_path / "m")
    assert RefinerModel.load(tmp_path / "m").trust is None
    layer = _layer(pick=1, below=float("inf"))
    layer.save(tmp_path / "m" / "trust")
    loaded = RefinerModel.load(tmp_path / "m")
    assert loaded.trust is not None
    specs, x = torch.stack([_spec(1), *_siblings()]), _spec(2)
    model.attach_trust(layer)
    torch.testing.assert_close(loaded.enhance_song(specs, x), model.enhance_song(specs, x))


class _Recorder:
    """Stands in for a trust layer: records the stem types and song estimates it is given
    (its first pass estimates every stem at 3 dB), changes nothing."""

    def __init__(self) -> None:
        self.config = replace(TINY_TRUST, quiet_cap=None)
        self.seen: list[list[int]] = []
        self.quality: list[list[float]] = []

    def segment_estimate(self, s, x, kinds):
        self.seen.append(kinds.tolist())
        return torch.full((len(s),), 3.0), torch.ones(len(s))

    def cancel_estimate(self, s, x):
        return None

    def __call__(self, s, x, p, y, gate, kinds, quality, cancel=None):
        self.seen.append(kinds.tolist())
        self.quality.append(quality.tolist())
        return y


@pytest.mark.parametrize("names", [list(STEMS), ["piano", "drums", "bass", None]])
def test_song_mode_hands_the_stem_names_and_the_song_estimates_to_the_trust_layer(tmp_path, names):
    stems, mix = _song(tmp_path / "song")
    pipe = EnhancePipeline(_randomised(), progress=False)
    pipe.model.attach_trust(_Recorder())
    pipe.enhance_song([stems[k].T for k in STEMS], 16000, mix.T, names=names)
    expected = [stem_type(n) for n in names]
    trust = pipe.model.trust
    assert trust.seen and all(k == expected for k in trust.seen)
    assert trust.quality and all(q == [3.0] * 4 for q in trust.quality)
    trust.seen.clear()
    folder = tmp_path / "song"
    (tmp_path / "out").mkdir()
    pipe.enhance_song_files(
        [folder / f"{k}.wav" for k in STEMS],
        [tmp_path / "out" / f"{k}.wav" for k in STEMS],
        folder / "mixture.wav",
        names,
    )
    assert trust.seen and all(k == expected for k in trust.seen)
    assert len(list((tmp_path / "out").iterdir())) == 4
    pipe.song_filter = "level"  # no trust layer: no first pass
    trust.seen.clear()
    pipe.enhance_song([stems[k].T for k in STEMS], 16000, mix.T, names=names)
    assert not trust.seen


def test_the_song_estimate_is_the_energy_weighted_mean_of_the_segments(tmp_path):
    assert pooled_quality(
        [torch.tensor([0.0, 10.0]), torch.tensor([20.0, 10.0])],
        [torch.tensor([1.0, 0.0]), torch.tensor([3.0, 1.0])],
    ).tolist() == [15.0, 10.0]
    stems, mix = _song(tmp_path / "song")  # one segment: the estimate of the whole song
    pipe = EnhancePipeline(_randomised(), progress=False)
    pipe.model.attach_trust(_layer())
    arrays = [stems[k].T for k in STEMS]
    got = pipe.song_quality([array_reader(a) for a in [*arrays, mix.T]], 16000, 16000, STEMS)
    spec = lambda a: stft(torch.from_numpy(np.ascontiguousarray(a)), TINY.stft)  # noqa: E731
    q, _ = pipe.model.trust.segment_estimate(
        torch.stack([spec(a) for a in arrays]), spec(mix.T), torch.tensor([0, 1, 2, 3])
    )
    torch.testing.assert_close(got, q)


def test_a_song_folders_progress_bar_runs_for_the_first_pass_then_for_the_song(tmp_path):
    from stemprover.audio.chunking import SegmentConfig

    _song(tmp_path / "song", seconds=3.02)  # a 20 ms tail the first pass does not read
    pipe = EnhancePipeline(_randomised(), segment=SegmentConfig(1.0, 0.25, 0.1))
    pipe.model.attach_trust(_layer())
    seen = []
    made = pipe._song_progress

    def spy(info, name):  # the real bar and callbacks, watched after each segment
        bar, on_first, on_segment = made(info, name)
        first = lambda seg: (on_first(seg), seen.append(("first", bar.desc, bar.n)))  # noqa: E731
        song = lambda seg: (on_segment(seg), seen.append(("song", bar.desc, bar.n)))  # noqa: E731
        return bar, first, song

    pipe._song_progress = spy
    (tmp_path / "out").mkdir()
    pipe.enhance_song_files(
        [tmp_path / "song" / f"{k}.wav" for k in STEMS],
        [tmp_path / "out" / f"{k}.wav" for k in STEMS],
        tmp_path / "song" / "mixture.wav",
        list(STEMS),
        name="tune",
    )
    phases = [p for p, *_ in seen]
    assert phases.count("first") >= 3 and phases.count("song") >= 3
    assert phases == sorted(phases)  # the whole first pass, then the song
    assert all(d == "tune (estimating quality)" for p, d, _ in seen if p == "first")
    assert all(d == "tune" for p, d, _ in seen if p == "song")
    first = [n for p, _, n in seen if p == "first"]
    song = [n for p, _, n in seen if p == "song"]
    assert first[-1] == pytest.approx(3.02)  # the skipped tail still moves the bar
    assert song[0] <= 1.5 and song[-1] == pytest.approx(3.02)  # from the start, overlaps once
