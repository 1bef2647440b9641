"""Tiny-config model tests: control, caching, sampling, checkpoints."""

import pickle

import pytest
import torch

from stemprover.config import load_config
from stemprover.errors import StemProverError
from stemprover.models import load_model
from stemprover.models.control import PhaseAwareZeroConv, log_magnitude
from stemprover.models.denoiser import BandAttention, row_bands
from stemprover.models.enhancer import StemProverModel


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return StemProverModel(load_config("tiny").model).eval()


def _spec(model, seconds=0.5, channels=2, seed=0):
    from stemprover.audio.stft import compress, stft

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(channels, round(seconds * model.sample_rate), generator=g) * 0.1
    return compress(stft(x, model.stft), model.stft)


def _latents(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = (model.stft.n_fft // 2) // model.autoencoder.factor
    return torch.randn(2, model.autoencoder.latent_channels, rows, 16, generator=g)


def test_zero_initialised_control_changes_nothing(model):
    x, cond = _latents(model, 1), _latents(model, 2)
    t = torch.tensor([300])
    trained = StemProverModel(model.config).eval()  # a denoiser whose output is not all zero
    with torch.no_grad():
        trained.denoiser.conv_out.weight.normal_(0, 0.1)
        model = trained
        plain = model.denoiser(x, t, None)
        controlled = model.denoiser(x, t, model.control(cond))
    assert torch.equal(plain, controlled)


def test_concatenated_condition_reaches_the_denoiser_and_starts_as_the_identity(model):
    from dataclasses import replace

    cfg = model.config
    cfg = replace(cfg, denoiser=replace(cfg.denoiser, concat_condition=True, output="gain"))
    torch.manual_seed(0)
    concat = StemProverModel(cfg).eval()
    spec = _spec(concat)
    with torch.no_grad():
        round_trip = concat.through_latent(spec, lambda z: z)
        torch.testing.assert_close(concat.enhance(spec), round_trip, rtol=0, atol=1e-6)
        concat.denoiser.conv_out.weight.normal_(0, 0.1)
        x, t = _latents(concat, 1), torch.tensor([300])
        one, other = _latents(concat, 2), _latents(concat, 3)
        assert not torch.allclose(
            concat.denoiser(x, t, None, one), concat.denoiser(x, t, None, other)
        )
        with_control = concat.denoiser(x, t, concat.control(one), one)
    assert torch.equal(with_control, concat.denoiser(x, t, None, one))  # zero convs still zero


def test_trained_control_does_change_the_output(model):
    trained = StemProverModel(model.config).eval()
    trained.load_state_dict(model.state_dict())
    with torch.no_grad():
        trained.denoiser.conv_out.weight.normal_(0, 0.1)
        for p in trained.control.zero_convs.parameters():
            p.normal_(0, 0.1)
        x, cond, t = _latents(model, 1), _latents(model, 2), torch.tensor([300])
        assert not torch.allclose(
            trained.denoiser(x, t, None), trained.denoiser(x, t, trained.control(cond))
        )


def test_log_magnitude_control_input_is_the_pair_level_and_starts_as_the_identity(model):
    from dataclasses import replace

    cond = _latents(model, 2)
    level = log_magnitude(cond)
    half = cond.shape[1] // 2
    power = cond[:, :half] ** 2 + cond[:, half:] ** 2  # (re, im) pairs
    assert level.shape == power.shape
    peak = power.amax(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(level, torch.log10(power / peak + 1e-10) / 5)
    torch.testing.assert_close(log_magnitude(cond * 100), level)  # the item's gain drops out
    cfg = replace(
        model.config, denoiser=replace(model.config.denoiser, log_magnitude=True, output="log_gain")
    )
    torch.manual_seed(0)
    logmag = StemProverModel(cfg).eval()
    spec = _spec(logmag)
    with torch.no_grad():
        torch.testing.assert_close(
            logmag.enhance(spec), logmag.through_latent(spec, lambda z: z), rtol=0, atol=1e-6
        )


def test_phase_aware_zero_conv_is_a_complex_matrix_product():
    conv = PhaseAwareZeroConv(6)
    with torch.no_grad():
        conv.weight_real.normal_()
        conv.weight_imag.normal_()
    x = torch.randn(2, 6, 4, 5)
    out = conv(x)
    w = torch.complex(conv.weight_real, conv.weight_imag)
    z = torch.complex(x[:, :3], x[:, 3:])
    expected = torch.einsum("oi,bihw->bohw", w, z)
    torch.testing.assert_close(out[:, :3], expected.real)
    torch.testing.assert_close(out[:, 3:], expected.imag)


def test_band_attention_stays_within_bands():
    bands = row_bands(16, 1024, 44100)
    attn = BandAttention(8, 2, bands).eval()
    with torch.no_grad():
        attn.attn.out_proj.weight.normal_()
        x = torch.randn(1, 8, 16, 3)
        y = attn(x)
        x2 = x.clone()
        x2[:, :, bands != bands[-1]] += 1.0  # change every row outside the top band
        y2 = attn(x2)
    top = bands == bands[-1]
    torch.testing.assert_close(y[:, :, top], y2[:, :, top])


@pytest.mark.parametrize("steps", [0, 1, 3])
@pytest.mark.parametrize("scheduler", ["ddim", "dpm++"])
def test_cached_and_uncached_control_agree(model, steps, scheduler):
    spec = _spec(model)
    cached = model.enhance(
        spec,
        sampling=model.sampling_options(
            steps=steps, seed=4, scheduler=scheduler, cache_control=True
        ),
    )
    uncached = model.enhance(
        spec,
        sampling=model.sampling_options(
            steps=steps, seed=4, scheduler=scheduler, cache_control=False
        ),
    )
    assert cached.shape == spec.shape
    torch.testing.assert_close(cached, uncached, rtol=0, atol=0)


@pytest.fixture(scope="module")
def mixed():
    """A tiny model that reads the mixture, its mixture input channels and zero convs trained."""
    torch.manual_seed(0)
    model = StemProverModel(load_config("tiny", ["model.denoiser.mixture=true"]).model).eval()
    with torch.no_grad():
        model.denoiser.conv_out.weight.normal_(0, 0.1)
        model.control.conv_in.weight.normal_(0, 0.1)
        for p in model.control.zero_convs.parameters():
            p.normal_(0, 0.1)
    return model


@pytest.mark.parametrize("steps", [0, 3])
def test_cached_and_uncached_control_agree_with_a_mixture(mixed, steps):
    spec, mix = _spec(mixed, seed=0), _spec(mixed, seed=1)
    cached = mixed.enhance(
        spec, mix, sampling=mixed.sampling_options(steps=steps, seed=4, cache_control=True)
    )
    uncached = mixed.enhance(
        spec, mix, sampling=mixed.sampling_options(steps=steps, seed=4, cache_control=False)
    )
    torch.testing.assert_close(cached, uncached, rtol=0, atol=0)


def test_mixture_reaches_the_output_and_zeros_mean_absent(mixed):
    spec, mix = _spec(mixed, seed=0), _spec(mixed, seed=1)
    alone = mixed.enhance(spec, sampling=mixed.sampling_options(steps=0, seed=0))
    assert not torch.allclose(
        mixed.enhance(spec, mix, sampling=mixed.sampling_options(seed=0)), alone
    )
    cond = _latents(mixed, 2)  # a zero latent is an absent mixture
    with torch.no_grad():
        for absent, none in zip(mixed.control(cond, 0 * cond), mixed.control(cond), strict=True):
            torch.testing.assert_close(absent, none, rtol=0, atol=0)
    half = torch.cat([cond[:1], torch.zeros_like(cond[1:])])  # item 1 has no mixture
    with torch.no_grad():
        both = mixed.control(cond, half)
        each = [mixed.control(cond[:1], cond[:1]), mixed.control(cond[1:])]
    for joint, first, second in zip(both, *each, strict=True):
        torch.testing.assert_close(joint, torch.cat([first, second]), rtol=1e-5, atol=1e-6)


def test_mixture_gain_head_takes_a_share_of_the_mixture():
    """r0 = (gain − 1)·z_cond + correction + tanh(c/2)·z_mix; an absent mixture adds nothing."""
    overrides = ["model.denoiser.output=log_gain", "model.denoiser.mixture=true"]
    with pytest.raises(ValueError, match="mixture_gain"):
        StemProverModel(load_config("tiny", ["model.denoiser.mixture_gain=true"]).model)
    model = StemProverModel(
        load_config("tiny", [*overrides, "model.denoiser.mixture_gain=true"]).model
    ).eval()
    conv, latent = model.denoiser.conv_out, model.autoencoder.latent_channels
    assert conv.out_channels == 3 * latent and conv.weight.abs().max() == 0
    cond, mix = _latents(model, 0), _latents(model, 1)
    t = torch.tensor([100])
    with torch.no_grad():
        assert model.predict_residual(cond, t, model.control(cond, mix), cond, mix).abs().max() == 0
        conv.bias[2 * latent :] = 2 * torch.atanh(torch.tensor(0.25))  # a quarter of the mixture
        with_mix = model.predict_residual(cond, t, model.control(cond, mix), cond, mix)
        without = model.predict_residual(cond, t, model.control(cond), cond)
    torch.testing.assert_close(with_mix, 0.25 * mix)
    assert without.abs().max() == 0


def test_mixture_channels_start_at_zero():
    torch.manual_seed(0)
    model = StemProverModel(load_config("tiny", ["model.denoiser.mixture=true"]).model).eval()
    conv = model.control.conv_in
    assert conv.in_channels == 2 * model.control.per_input
    assert conv.weight[:, model.control.per_input :].abs().max() == 0
    assert conv.weight[:, : model.control.per_input].abs().max() > 0
    assert model.uses_mixture and not model.reads_mixture  # zero inputs: a mixture changes nothing
    with torch.no_grad():
        conv.weight[0, model.control.per_input] = 0.1
    assert model.reads_mixture


def test_bundled_base_alone_skips_the_mixture_and_its_adapters_read_it():
    """The bundled base has the mixture's inputs and head at zero; its adapters open them."""
    from stemprover.pipeline import EnhancePipeline

    base = EnhancePipeline(load_model("latent", adapters="none"), progress=False)
    auto = EnhancePipeline(load_model("latent", adapters="auto"), progress=False)
    assert base.model.uses_mixture and not base.model_reads_mixture
    assert auto.model_reads_mixture


def test_seed_makes_output_reproducible(model):
    model = StemProverModel(model.config).eval()
    with torch.no_grad():  # an untrained model outputs no residual, whatever the noise
        model.denoiser.conv_out.weight.normal_(0, 0.1)
    spec = _spec(model)
    a = model.enhance(spec, sampling=model.sampling_options(steps=2, seed=1))
    b = model.enhance(spec, sampling=model.sampling_options(steps=2, seed=1))
    c = model.enhance(spec, sampling=model.sampling_options(steps=2, seed=2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_an_input_enhances_alike_whatever_was_enhanced_before_it(model):
    """The noise starts from the seed for each input: before, it ran on from the last file, so
    a file's output in a batch depended on the files before it."""
    import numpy as np

    from stemprover.pipeline import EnhancePipeline

    model = StemProverModel(model.config).eval()
    with torch.no_grad():  # an untrained model outputs no residual, whatever the noise
        model.denoiser.conv_out.weight.normal_(0, 0.1)
    pipe = EnhancePipeline(
        model, progress=False, sampling=model.sampling_options(steps=2, strength=0.6)
    )
    rng = np.random.default_rng(0)
    a, b = (0.1 * rng.standard_normal((2, model.sample_rate // 2)) for _ in range(2))
    first = pipe(a, model.sample_rate)
    pipe(b, model.sample_rate)
    np.testing.assert_array_equal(pipe(a, model.sample_rate), first)


def test_checkpoint_round_trip_is_exact(model, tmp_path):
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    spec = _spec(model)
    torch.testing.assert_close(
        model.enhance(spec, sampling=model.sampling_options(steps=2, seed=0, scheduler="ddim")),
        loaded.enhance(spec, sampling=loaded.sampling_options(steps=2, seed=0, scheduler="ddim")),
        rtol=0,
        atol=0,
    )


def test_pickle_and_foreign_files_are_refused(model, tmp_path):
    folder = model.save(tmp_path / "m")
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(StemProverError, match="pickle"):
        load_model(tmp_path / "weights.pt")
    (folder / "model.safetensors").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(StemProverError, match="pickle"):
        load_model(folder)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"kind": "something-else"}')
    with pytest.raises(StemProverError, match="not a StemProver model"):
        load_model(tmp_path / "other")
    (tmp_path / "other" / "config.json").write_text(
        '{"kind": "stemprover-latent-diffusion", "format_version": 99}'
    )
    with pytest.raises(StemProverError, match="version 99"):
        load_model(tmp_path / "other")


def test_untrained_model_passes_its_input_through():
    """Zero last layer + residual diffusion: the untrained model gives its input back."""
    model = StemProverModel(load_config("tiny", ["model.autoencoder.kind=patch"]).model).eval()
    spec = _spec(model)
    latent = model.autoencoder.encode(spec[..., :28].to(torch.complex64))
    model.autoencoder.latent_scale.fill_(1 / float(latent.std()))  # unit-variance latents
    out = model.enhance(spec, sampling=model.sampling_options(steps=4, strength=0.5, seed=0))
    err = (out - spec).abs().pow(2).sum() / spec.abs().pow(2).sum()
    assert err < 0.01


def test_patch_autoencoder_is_lossless():
    model = StemProverModel(load_config("tiny", ["model.autoencoder.kind=patch"]).model).eval()
    spec = _spec(model)[..., :32]  # 32 frames: divisible by the patch
    back = model.autoencoder.decode(model.autoencoder.encode(spec.to(torch.complex64)))
    torch.testing.assert_close(back[:, :-1], spec[:, :-1].to(torch.complex64))


@pytest.mark.parametrize("output", ["gain", "log_gain", "residual"])
def test_output_heads_give_the_documented_residual(output):
    model = StemProverModel(load_config("tiny", [f"model.denoiser.output={output}"]).model).eval()
    x, cond, t = _latents(model, 1), _latents(model, 2), torch.tensor([300])
    L = model.autoencoder.latent_channels
    with torch.no_grad():
        model.denoiser.conv_out.bias.copy_(
            torch.linspace(-2, 2, model.denoiser.conv_out.out_channels)
        )
        control = model.control(cond)
        raw = model.denoiser(x, t, control)
        r0 = model.predict_residual(x, t, control, cond)
    if output == "residual":
        assert raw.shape[1] == L
        torch.testing.assert_close(r0, raw)
    elif output == "gain":
        assert raw.shape[1] == 2 * L
        gain = torch.tanh(raw[:, :L] / 2)  # (B, L, F, N), in (-1, 1): a gain of 1 + gain
        torch.testing.assert_close(r0, gain * cond + raw[:, L:])
    else:
        assert raw.shape[1] == 2 * L
        gain = 8.0 ** torch.tanh(raw[:, :L] / 2)  # in (1/8, 8), 1 at zero logits
        torch.testing.assert_close(r0, (gain - 1) * cond + raw[:, L:])


def test_safetensors_whose_header_length_starts_like_a_pickle_is_accepted(tmp_path):
    """A header length ending in 0x80 puts the pickle marker first; it is still safetensors."""
    from safetensors.torch import load_file, save_file

    from stemprover.models.serialization import refuse_pickle

    path = tmp_path / "w.safetensors"
    for pad in range(0, 512, 8):
        save_file({"w": torch.ones(3)}, str(path), metadata={"pad": "x" * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    refuse_pickle(path)  # no error
    assert torch.equal(load_file(str(path))["w"], torch.ones(3))


def test_bundled_models_are_enhancement_models_only(capsys):
    """The bundled detector's folder also holds config.json + model.safetensors; it is not a
    model `enhance --model` can load, so `models` must not list it."""
    from stemprover.cli import main
    from stemprover.models.base import BUNDLED, bundled_models

    assert (BUNDLED / "detector" / "config.json").exists()
    assert "default" in bundled_models() and "detector" not in bundled_models()
    assert main(["models", str(BUNDLED)]) == 0
    listed = capsys.readouterr().out
    assert "weights/default" in listed and "detector" not in listed


def test_a_format_1_folder_loads_with_the_defaults_of_its_time(model, tmp_path):
    """The code's defaults are the shipped architecture; a format 1 config that lacks a field
    added later is migrated with the default it had then (a direct residual head)."""
    import json

    folder = model.save(tmp_path / "m")
    meta = json.loads((folder / "config.json").read_text())
    assert meta["format_version"] == 2
    del meta["config"]["denoiser"]["output"]
    meta["format_version"] = 1
    (folder / "config.json").write_text(json.dumps(meta))
    assert load_model(folder).config.denoiser.output == "residual"
