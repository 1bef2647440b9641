"""The refiner's predictive stage: band split, exact identity when untrained, bounded
outputs, persistence, and the pipeline's song mode (mixture and other stems)."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
import soundfile as sf
import torch

from stemprover.audio.bands import split_bands
from stemprover.audio.mwf import multichannel_wiener
from stemprover.audio.stft import StftConfig
from stemprover.config import RefinerConfig
from stemprover.errors import StemProverError
from stemprover.models.base import load_model
from stemprover.models.refiner import (
    LEVEL_GAIN_MAX,
    RefinerModel,
    RefinerNet,
    _Block,
    cap_quiet,
    classical_estimate,
    shrink_gate,
    song_level,
    song_wiener,
)
from stemprover.pipeline import EnhancePipeline

TINY = RefinerConfig(
    sample_rate=16000,
    stft=StftConfig(n_fft=512, hop=128, compress=1.0),
    width=8,
    blocks=1,
    heads=2,
)


def _randomised(cfg: RefinerConfig = TINY, seed: int = 0) -> RefinerModel:
    """A refiner whose output heads are not zero, so that every input changes the output."""
    torch.manual_seed(seed)
    model = RefinerModel(cfg)
    with torch.no_grad():
        for head in model.net.heads:
            head[-1].weight.normal_(0, 0.5)
    return model.eval()


def _spec(seed: int, shape=(2, 257, 40)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


@pytest.mark.parametrize(("n_fft", "rate"), [(2048, 44100), (512, 16000), (1024, 48000)])
def test_split_bands_cover_every_bin_once_and_are_finer_low(n_fft, rate):
    ranges = split_bands(n_fft, rate)
    assert ranges[0][0] == 0 and ranges[-1][1] == n_fft // 2 + 1
    assert all(a[1] == b[0] for a, b in pairwise(ranges))  # contiguous, no overlap
    widths = [hi - lo for lo, hi in ranges]
    assert min(widths) >= 2
    assert widths[0] < widths[len(widths) // 2] < widths[-1]  # finer where the ear is


def _siblings(k: int = 3, seed: int = 3) -> torch.Tensor:
    """The song's other stems' spectrograms: ``(K, C, F, N)``."""
    return torch.stack([_spec(seed + i) for i in range(k)])


@pytest.mark.parametrize("dilation", [1, 2, 8])
def test_block_computes_what_its_convolution_and_attention_modules_compute(dilation):
    """The block runs its convolution as shifted products and its attention as plain matrix
    products (faster on CPU); both must be what ``self.depth`` and ``self.attn`` give."""
    torch.manual_seed(dilation)
    block = _Block(width=8, kernel=3, dilation=dilation, heads=2)
    h = torch.randn(2, 5, 11, 8)  # (B, K bands, N frames, D)
    B, K, N, D = h.shape
    x = block.norm_t(h).reshape(B * K, N, D).transpose(1, 2)
    conv = block.depth(x).transpose(1, 2).reshape(B, K, N, D)
    torch.testing.assert_close(block._conv(block.norm_t(h)), conv)
    x = block.norm_f(h).transpose(1, 2).reshape(B * N, K, D)
    attn = block.attn(x, x, x, need_weights=False)[0].reshape(B, N, K, D).transpose(1, 2)
    torch.testing.assert_close(block._attend(block.norm_f(h)), attn)


def test_untrained_refiner_returns_its_input_in_every_mode():
    model = RefinerModel(TINY).eval()
    s, x = _spec(1), _spec(2)
    for mix, sib in ((None, None), (x, None), (x, _siblings())):
        assert torch.equal(model.enhance(s, mix, siblings=sib), s)


def test_gate_and_mask_are_bounded():
    net = _randomised().net
    s, x = _spec(1), _spec(2)
    with torch.no_grad():
        y, gate = net(s, x, None, return_gate=True)
    assert gate.abs().max() < 1
    # |Y| <= |1-g||S| + |g||X| with |M| <= 1
    bound = (1 - gate).abs() * s.abs() + gate.abs() * x.abs()
    assert (y.abs() <= bound + 1e-5).all()


def test_output_depends_on_mixture_and_siblings_and_flags_say_which():
    model = _randomised()
    s, x = _spec(1), _spec(2)
    alone, with_mix, song = (
        model.enhance(s),
        model.enhance(s, x),
        model.enhance(s, x, siblings=_siblings()),
    )
    assert not torch.allclose(alone, with_mix)
    assert not torch.allclose(with_mix, song)
    others = _siblings().abs().pow(2).sum(0)
    feats = RefinerNet.features(s, x, others, s * 0.5)
    assert feats[..., -2].eq(1).all() and feats[..., -1].eq(1).all()
    assert RefinerNet.features(s, None, None)[..., -2:].eq(0).all()


def test_refiner_features_do_not_depend_on_level():
    s, x, p = _spec(1), _spec(2), _spec(4)
    others = _spec(3).abs() ** 2
    a = RefinerNet.features(s, x, others, p)
    b = RefinerNet.features(s * 10, x * 10, others * 100, p * 10)
    assert torch.allclose(a, b, atol=1e-4)


def test_refiner_with_the_canceller_starts_as_the_model_it_is_initialised_from(tmp_path):
    src = _randomised()
    wider = RefinerModel(replace(TINY, canceller=True)).eval()
    assert wider.net.n_features == src.net.n_features + 3 and wider.net.n_out == 4
    s, x = _spec(1), _spec(2)
    assert torch.equal(wider.enhance(s, x, siblings=_siblings()), s)  # untrained: the input
    wider.start_from(src, tmp_path)
    for mix, sib in ((None, None), (x, None), (x, _siblings())):
        a, b = wider.enhance(s, mix, siblings=sib), src.enhance(s, mix, siblings=sib)
        assert torch.allclose(a, b, atol=1e-5)  # zero inputs change only the sums' rounding
    with torch.no_grad():  # the share k now moves the output by the cancelled bleed
        for head in wider.net.heads:
            head[-1].bias.view(-1, 4)[:, 3] = 2.0
    assert not torch.allclose(wider.enhance(s, x), src.enhance(s, x), atol=1e-2)
    assert torch.allclose(
        wider.enhance(s), src.enhance(s), atol=1e-5
    )  # no mixture: nothing to cancel
    with pytest.raises(StemProverError, match="canceller"):
        src.start_from(wider, tmp_path)


def test_saved_refiner_loads_by_path_with_the_same_output(tmp_path):
    model = _randomised()
    model.save(tmp_path / "r")
    loaded = load_model(tmp_path / "r", adapters="none")
    assert isinstance(loaded, RefinerModel)
    s, x = _spec(1), _spec(2)
    assert torch.allclose(loaded.enhance(s, x), model.enhance(s, x))


def _song(folder, rate=16000, seconds=1.0, lengths=None):
    rng = np.random.default_rng(0)
    folder.mkdir()
    n = round(rate * seconds)
    stems = {}
    for name in ("vocals", "drums", "bass", "other"):
        length = (lengths or {}).get(name, n)
        stems[name] = 0.1 * rng.standard_normal((length, 2)).astype(np.float32)
        sf.write(folder / f"{name}.wav", stems[name], rate, "FLOAT")
    mix = sum(np.pad(v[:n], [(0, n - len(v[:n])), (0, 0)]) for v in stems.values())
    sf.write(folder / "mixture.wav", mix, rate, "FLOAT")
    return stems, mix


def test_pipeline_song_mode_reads_the_other_stems(tmp_path):
    stems, mix = _song(tmp_path / "song")
    pipe = EnhancePipeline(_randomised(), progress=False)
    assert pipe.model_reads_siblings
    audio = stems["vocals"].T
    others = [stems[k].T for k in ("drums", "bass", "other")]
    with_mix = pipe(audio, 16000, mix=mix.T)
    song = pipe(audio, 16000, mix=mix.T, siblings=others)
    assert song.shape == audio.shape
    assert np.abs(song - with_mix).max() > 1e-4  # the siblings changed the output
    # enhance_file with the siblings' paths gives what the in-memory call gives
    res = pipe.enhance_file(
        tmp_path / "song" / "vocals.wav",
        tmp_path / "v.wav",
        mix=tmp_path / "song" / "mixture.wav",
        siblings=[tmp_path / "song" / f"{k}.wav" for k in ("drums", "bass", "other")],
    )
    assert res.error is None and not res.warnings
    out, _ = sf.read(tmp_path / "v.wav", dtype="float32")
    np.testing.assert_allclose(out.T, song, atol=1e-5)


def test_siblings_that_do_not_fit_are_left_out_with_a_warning(tmp_path):
    _song(tmp_path / "song", lengths={"bass": 12000})
    pipe = EnhancePipeline(_randomised(), progress=False)
    folder = tmp_path / "song"
    res = pipe.enhance_file(
        folder / "vocals.wav",
        tmp_path / "v.wav",
        mix=folder / "mixture.wav",
        siblings=[folder / f"{k}.wav" for k in ("drums", "bass", "other")],
    )
    assert res.error is None
    assert any("other stems left out (bass.wav" in w for w in res.warnings)
    alone = pipe.enhance_file(folder / "vocals.wav", tmp_path / "m.wav", mix=folder / "mixture.wav")
    assert alone.error is None
    np.testing.assert_array_equal(sf.read(tmp_path / "v.wav")[0], sf.read(tmp_path / "m.wav")[0])


def test_classical_estimates_are_the_multichannel_wiener_filter_or_the_power_share():
    s, x, sibs = _spec(1)[None], _spec(2)[None], _siblings()[None]  # (1, C, F, N), (1, K, C, F, N)
    song = classical_estimate(s, x, sibs, "mwf")
    mags = torch.cat([s.abs()[:, None], sibs.abs()], dim=1)
    torch.testing.assert_close(song, multichannel_wiener(mags, x))
    rest = classical_estimate(s, x, None, "mwf")  # the stem against the rest of the mixture
    two = torch.stack([s.abs(), (x - s).abs()], dim=1)
    torch.testing.assert_close(rest, multichannel_wiener(two, x))
    torch.testing.assert_close(classical_estimate(s, x, None, "mwf-rest"), rest)
    left = (x - s - sibs.sum(1)).abs()[:, None]  # what the stems leave out: one more source
    more = torch.cat([mags, left], dim=1)
    torch.testing.assert_close(
        classical_estimate(s, x, sibs, "mwf-rest"), multichannel_wiener(more, x)
    )
    share = classical_estimate(s, x, sibs, "power-share")
    gain = s.abs() ** 2 / (s.abs() ** 2 + sibs.abs().pow(2).sum(1))
    torch.testing.assert_close(share, gain * x, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="unknown refiner prior"):
        classical_estimate(s, x, sibs, "nope")


def test_fully_open_gate_with_no_correction_gives_the_classical_estimate():
    model = RefinerModel(TINY)
    with torch.no_grad():
        for head in model.net.heads:  # gate logit large in every bin, mask correction zero
            head[-1].bias.view(-1, 3)[:, 0] = 20.0
    s, x, sibs = _spec(1), _spec(2), _siblings()
    prior = classical_estimate(s[None], x[None], sibs[None])[0]
    mask = prior / x
    expected = mask / torch.clamp(mask.abs(), min=1.0) * x  # |M| <= 1
    torch.testing.assert_close(model.enhance(s, x, siblings=sibs), expected, atol=1e-4, rtol=1e-4)


def test_song_filter_leaves_trusted_bins_alone_and_shares_the_mixture_where_the_gate_opens():
    specs, x = torch.stack([_spec(1), *_siblings()]), _spec(2)  # (J, C, F, N), (C, F, N)
    for gate in (torch.zeros(specs.shape), -torch.ones(specs.shape)):  # never pushed away
        torch.testing.assert_close(song_wiener(specs, gate, x), specs)
    opened = song_wiener(specs, torch.ones(specs.shape), x)
    torch.testing.assert_close(opened, multichannel_wiener(specs.abs(), x, target=None))
    torch.testing.assert_close(opened.sum(0), x, atol=1e-3, rtol=1e-3)  # the stems sum to X
    assert torch.equal(RefinerModel(TINY).enhance_song(specs, x), specs)  # untrained: identity


def test_song_level_gives_back_power_where_the_gate_opens_and_keeps_quiet_bins():
    specs, x = torch.stack([_spec(1), *_siblings()]), _spec(2)
    shared = song_wiener(specs, torch.ones(specs.shape), x)  # the stems share the mixture
    closed, opened = torch.zeros(specs.shape), torch.ones(specs.shape)
    # the gate closed and no quiet bin below its input: nothing changes
    torch.testing.assert_close(song_level(shared, closed, x, shared, quiet_db=200), shared)
    out = song_level(shared, opened, x, shared, quiet_db=200)
    before, after = shared.abs().pow(2).sum(0), out.abs().pow(2).sum(0)
    gain = out.abs() / shared.abs().clamp_min(1e-12)
    assert gain.min() >= 1 - 1e-5 and gain.max() <= LEVEL_GAIN_MAX + 1e-4
    px = x.abs().pow(2)
    full = (px >= before) & (px < LEVEL_GAIN_MAX**2 * before)  # within bounds: powers add up
    assert full.float().mean() > 0.5
    torch.testing.assert_close(after[full], px[full], rtol=1e-3, atol=1e-6)
    assert (after > before * 1.01).float().mean() > 0.5  # Wiener shares lose power
    # a quiet bin of the input (60 dB below its loudest) is never attenuated below it
    s = specs.clone()
    s[:, :, 10, 5] *= 1e-4
    y = shared.clone()
    y[:, :, 10, 5] = 0.5 * s[:, :, 10, 5]  # attenuated, phase kept
    out = song_level(y, closed, x, s)
    torch.testing.assert_close(out[:, :, 10, 5], s[:, :, 10, 5])
    # another floor: kept at that magnitude instead, in Y's phase
    low = song_level(y, closed, x, s, floor=0.75 * s.abs())
    torch.testing.assert_close(low[:, :, 10, 5], 0.75 * s[:, :, 10, 5])
    loud = (s.abs() > y.abs()) & (s.abs() > 1)
    torch.testing.assert_close(out[loud], y[loud])  # a loud bin keeps its attenuation


def test_cap_quiet_keeps_the_stems_level_in_its_quiet_bins_but_not_in_its_empty_ones():
    s = _spec(1)
    s = s / s.abs()  # every bin at 0 dB
    y = 3 * _spec(2)
    s[:, 10, :] *= 1e-3  # 60 dB under its loudest: quiet
    s[:, 20, :] *= 1e-5  # 100 dB under: empty (a lost high), the mixture may fill it
    assert (y[:, 10].abs() > s[:, 10].abs()).all()
    out = cap_quiet(y, s)
    torch.testing.assert_close(out[:, 10].abs(), s[:, 10].abs())  # capped at the stem
    torch.testing.assert_close(out[:, 10] / out[:, 10].abs(), y[:, 10] / y[:, 10].abs())
    torch.testing.assert_close(out[:, 20], y[:, 20])  # empty: left to the model
    loud = torch.ones(s.shape[-2], dtype=torch.bool)
    loud[[10, 20]] = False
    torch.testing.assert_close(out[:, loud], y[:, loud])  # loud bins: untouched
    six = cap_quiet(y, s, cap_db=6.0)[:, 10].abs()
    torch.testing.assert_close(six, torch.minimum(y[:, 10].abs(), 10 ** (6 / 20) * s[:, 10].abs()))


def test_gate_dead_zone_keeps_unsure_bins_and_leaves_confident_ones():
    gate = torch.linspace(-1, 1, 2001)
    shrunk = shrink_gate(gate, 0.2)
    sure = gate.abs() >= 0.2
    torch.testing.assert_close(shrunk[sure], gate[sure])  # confident bins as the network gave
    assert torch.all(shrunk[gate == 0] == 0)
    # in between: moved back towards the input, by (|g|/τ)², continuously
    mid = ~sure
    torch.testing.assert_close(shrunk[mid], gate[mid] * (gate[mid].abs() / 0.2) ** 2)
    assert shrink_gate(gate, 0.0) is gate  # τ = 0: the gate as trained
    # in the model: Y = S + g·(M·X − S) is linear in g, so the output moves from the stem
    # towards the undamped output by g'/g; at inference only (training sees the gate as it is)
    model = _randomised()
    s, x, sibs = _spec(1), _spec(3), _siblings()
    model.net.gate_deadzone = 0.0
    plain, g = model.run(s[None], x[None], sibs[None], return_gate=True)
    model.net.gate_deadzone = 0.5
    kept, g_kept = model.run(s[None], x[None], sibs[None], return_gate=True)
    torch.testing.assert_close(g_kept, shrink_gate(g, 0.5))
    ratio = shrink_gate(g, 0.5) / g
    torch.testing.assert_close(kept, s[None] + ratio * (plain - s[None]), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(kept, plain)
    model.train()
    torch.testing.assert_close(model.run(s[None], x[None], sibs[None]), plain)


@pytest.mark.parametrize("prior", ["mwf", "mwf-rest"])
def test_enhance_song_refines_each_stem_with_the_others_then_filters(prior):
    model = _randomised(replace(TINY, prior=prior))
    specs, x = torch.stack([_spec(1), *_siblings()]), _spec(2)
    each = torch.stack(
        [
            model.enhance(specs[j], x, siblings=torch.cat([specs[:j], specs[j + 1 :]]))
            for j in range(len(specs))
        ]
    )
    torch.testing.assert_close(model.enhance_song(specs, x, song_filter=False), each)
    with torch.no_grad():
        _, gate = model.run(specs[0][None], x[None], specs[1:][None], return_gate=True)
    assert gate.abs().max() > 0.05  # so the filter has something to do
    filtered = model.enhance_song(specs, x, song_filter="wiener")
    assert (filtered - each).abs().max() > 1e-3
    levelled = model.enhance_song(specs, x)  # the default: the level step after the filter
    torch.testing.assert_close(model.enhance_song(specs, x, song_filter=True), levelled)
    assert levelled.abs().pow(2).sum() > filtered.abs().pow(2).sum()
    with pytest.raises(ValueError, match="unknown song filter"):
        model.enhance_song(specs, x, song_filter="loud")


def test_a_second_pass_refines_the_first_passes_stems_and_only_in_song_mode(tmp_path):
    one = _randomised()
    two = _randomised(replace(TINY, passes=2))
    specs, x = torch.stack([_spec(1), *_siblings()]), _spec(2)
    with torch.no_grad():
        first = one.song_parts(specs, x, "level")[0]
        again = one.song_parts(first, x, "level")
        for got, want in zip(two.song_parts(specs, x, "level"), again, strict=True):
            torch.testing.assert_close(got, want)
        assert (again[0] - first).abs().max() > 1e-3  # the second pass changed something
    torch.testing.assert_close(two.enhance_song(specs, x, "level"), again[0])
    # without siblings (a stem alone) or without the song filter there is one pass
    torch.testing.assert_close(two.enhance(specs[0], x), one.enhance(specs[0], x))
    torch.testing.assert_close(
        two.enhance_song(specs, x, song_filter=False), one.enhance_song(specs, x, song_filter=False)
    )
    two.save(tmp_path / "m")
    assert load_model(str(tmp_path / "m")).config.passes == 2
    with pytest.raises(ValueError, match=r"model\.passes must be at least 1"):
        RefinerModel(replace(TINY, passes=0))


STEMS = ("vocals", "drums", "bass", "other")


def test_a_song_folder_is_enhanced_together_as_in_memory(tmp_path):
    stems, mix = _song(tmp_path / "song")
    pipe = EnhancePipeline(_randomised(), progress=False)
    assert pipe.joint_song
    together = pipe.enhance_song([stems[k].T for k in STEMS], 16000, mix.T)
    folder = tmp_path / "song"
    dsts = [tmp_path / "out" / f"{k}.wav" for k in STEMS]
    dsts[2] = None  # bass is read (the others' sibling) but not written
    (tmp_path / "out").mkdir()
    results = pipe.enhance_song_files(
        [folder / f"{k}.wav" for k in STEMS], dsts, folder / "mixture.wav", list(STEMS)
    )
    assert [r.output for r in results] == [d for d in dsts if d is not None]
    assert all(r.error is None and not r.warnings for r in results)
    assert not (tmp_path / "out" / "bass.wav").exists()
    for k, y in zip(STEMS, together, strict=True):
        if k != "bass":
            out, _ = sf.read(tmp_path / "out" / f"{k}.wav", dtype="float32")
            np.testing.assert_allclose(out.T, y, atol=1e-5)
    # without the song filter: each stem on its own, with the others read
    pipe.song_filter = False
    assert not pipe.joint_song
    alone = pipe.enhance_song([stems[k].T for k in STEMS], 16000, mix.T)
    others = [stems[k].T for k in STEMS[1:]]
    np.testing.assert_allclose(alone[0], pipe(stems["vocals"].T, 16000, mix.T, siblings=others))
    assert np.abs(alone[0] - together[0]).max() > 1e-4


def test_batch_enhances_a_song_together_and_fails_only_the_stem_it_cannot_write(tmp_path):
    from stemprover.batch import enhance_paths

    stems, mix = _song(tmp_path / "song")
    pipe = EnhancePipeline(_randomised(), progress=False)
    out = tmp_path / "clean"
    out.mkdir()
    (out / "drums.wav").write_bytes(b"keep")  # exists: not replaced without --overwrite
    batch = enhance_paths(pipe, [tmp_path / "song"], out)
    failed = {r.input.name: r.error for r in batch.files if r.error is not None}
    assert list(failed) == ["drums.wav"] and "exists" in failed["drums.wav"]
    assert (out / "drums.wav").read_bytes() == b"keep"
    together = pipe.enhance_song([stems[k].T for k in STEMS], 16000, mix.T)
    for k, y in zip(STEMS, together, strict=True):
        if k != "drums":  # drums was still read as the others' sibling
            np.testing.assert_allclose(
                sf.read(out / f"{k}.wav", dtype="float32")[0].T, y, atol=1e-5
            )


def test_a_song_whose_stems_differ_in_length_goes_stem_by_stem(tmp_path):
    from stemprover.batch import enhance_paths

    _song(tmp_path / "song", lengths={"bass": 15800})  # 12.5 ms short: the mixture still fits
    pipe = EnhancePipeline(_randomised(), progress=False)
    batch = enhance_paths(pipe, [tmp_path / "song"], tmp_path / "clean")
    assert all(r.error is None for r in batch.files)
    vocals = next(r for r in batch.files if r.input.name == "vocals.wav")
    assert any("other stems left out (bass.wav" in w for w in vocals.warnings)


def test_cli_song_filter_none_enhances_each_stem_on_its_own(tmp_path):
    from stemprover.cli import main

    stems, mix = _song(tmp_path / "song")
    model = _randomised()
    model.save(tmp_path / "model")
    pipe = EnhancePipeline(model, progress=False)
    song = {}
    for name in ("wiener", "level"):
        pipe.song_filter = name
        song[name] = pipe.enhance_song([stems[k].T for k in STEMS], 16000, mix.T)[0]
    assert np.abs(song["level"] - song["wiener"]).max() > 1e-5
    for flag, expected in (
        ("none", pipe(stems["vocals"].T, 16000, mix.T, siblings=[stems[k].T for k in STEMS[1:]])),
        ("wiener", song["wiener"]),
        ("level", song["level"]),
    ):
        out = tmp_path / flag
        args = ["enhance", str(tmp_path / "song"), "--model", str(tmp_path / "model")]
        assert main([*args, "-o", str(out), "--song-filter", flag, "-q"]) == 0
        np.testing.assert_allclose(sf.read(out / "vocals.wav")[0].T, expected, atol=1e-5)


def test_without_the_mixture_a_band_limited_stem_gets_its_empty_highs_filled(tmp_path):
    from stemprover.api import EnhanceOptions, load_pipeline
    from stemprover.audio.stft import stft

    rng = np.random.default_rng(0)
    spec = np.fft.rfft(rng.standard_normal((2, 32000)), axis=-1)
    spec[..., np.fft.rfftfreq(32000, 1 / 16000) > 5000] = 0  # a 5 kHz band limit
    s = stft(torch.from_numpy(np.fft.irfft(spec, 32000, axis=-1).astype(np.float32)), TINY.stft)
    highs = slice(round(6000 / 31.25), None)  # 16 kHz, n_fft 512: 31.25 Hz per bin

    def power(y: torch.Tensor) -> float:
        return float(y[:, highs].abs().pow(2).mean())

    model = RefinerModel(TINY).eval()
    alone = model.enhance(s)
    assert power(alone) > 100 * power(s)  # filled (the window leaks ~30 dB under the fill)
    assert power(alone) < 0.1 * float(s[:, : highs.start // 2].abs().pow(2).mean())
    assert torch.equal(model.enhance(s, _spec(2, s.shape)), s)  # the mixture: not this path
    model.extend_highs_db = None
    assert torch.equal(model.enhance(s), s)
    model.save(tmp_path / "r")
    for flag in (True, False):
        pipe = load_pipeline(EnhanceOptions(str(tmp_path / "r"), extend_highs=flag))
        assert (pipe.model.extend_highs_db is not None) is flag


def test_cli_no_extend_highs_leaves_a_band_limited_stem_as_it_is(tmp_path):
    from stemprover.cli import main

    rng = np.random.default_rng(1)
    spec = np.fft.rfft(rng.standard_normal((2, 16000)), axis=-1)
    spec[..., np.fft.rfftfreq(16000, 1 / 16000) > 5000] = 0
    stem = (0.05 * np.fft.irfft(spec, 16000, axis=-1)).T.astype(np.float32)
    sf.write(tmp_path / "vocals.wav", stem, 16000, "FLOAT")
    RefinerModel(TINY).save(tmp_path / "model")
    outs = {}
    for flags in ([], ["--no-extend-highs"]):
        out = tmp_path / ("keep" if flags else "fill")
        args = ["enhance", str(tmp_path / "vocals.wav"), "--model", str(tmp_path / "model")]
        assert main([*args, "-o", str(out), "-q", *flags]) == 0
        outs[bool(flags)] = sf.read(out / "vocals.wav")[0]
    np.testing.assert_allclose(outs[True], stem, atol=1e-5)
    assert np.abs(outs[False] - stem).max() > 1e-3
