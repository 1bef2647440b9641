"""LoRA adapters: placement, frozen base, combination, merging, files."""

import pytest
import torch

from stemprover.config import AdapterConfig, load_config
from stemprover.errors import StemProverError
from stemprover.models import lora
from stemprover.models.enhancer import StemProverModel


def _model(seed=0):
    torch.manual_seed(seed)
    model = StemProverModel(load_config("tiny").model).eval()
    with torch.no_grad():  # a trained-looking last layer, so LoRA changes reach the output
        model.denoiser.conv_out.weight.normal_(0, 0.1)
    return model


def _inputs(model):
    g = torch.Generator().manual_seed(1)
    rows = (model.stft.n_fft // 2) // model.autoencoder.factor
    x = torch.randn(2, model.autoencoder.latent_channels, rows, 8, generator=g)
    return x, torch.tensor([200])


def _randomise(params):
    with torch.no_grad():
        for p in params:
            p.normal_(0, 0.05)


def test_lora_touches_only_configured_modules_and_base_is_frozen():
    model = _model()
    cfg = AdapterConfig(rank=2, alpha=2, target_modules=("conv1",), include_control=False)
    params = lora.add_adapter(model, "bleed", cfg)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".conv1.lora_" in n and ".bleed." in n for n in trainable)
    assert {id(p) for p in params} == {id(p) for p in model.parameters() if p.requires_grad}
    assert not any("lora_" in n for n, _ in model.control.named_parameters())
    base = {n: p.clone() for n, p in model.named_parameters() if "lora_" not in n}
    x, t = _inputs(model)
    _randomise(params)
    model.denoiser(x, t).sum().backward()
    assert all(p.grad is None for n, p in model.named_parameters() if "lora_" not in n)
    assert all(torch.equal(p, base[n]) for n, p in model.named_parameters() if "lora_" not in n)


def test_lora_on_the_input_and_output_convs_of_both_branches():
    """The default places: the mixture's zero-initialised inputs (control.conv_in) and gain
    head (denoiser.conv_out) can only be opened by LoRA on those layers."""
    model = _model()
    lora.add_adapter(model, "bleed", AdapterConfig(rank=2, alpha=2))
    layers = {n.split(".lora_")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert {"control.conv_in", "denoiser.conv_in", "denoiser.conv_out"} <= layers
    assert all(n.split(".")[-1] in AdapterConfig().target_modules for n in layers)


def test_an_adapter_in_training_reads_the_mixture():
    """train_adapter validates its EMA copy with the mixture: before, only adapters attached by
    load_model made a model read it, so every adapter was validated without its mixture."""
    import copy

    torch.manual_seed(0)
    model = StemProverModel(
        load_config(
            "tiny",
            [
                "model.denoiser.mixture=true",
                "model.denoiser.output=gain",
                "model.denoiser.mixture_gain=true",
            ],
        ).model
    ).eval()
    assert not model.reads_mixture  # zero mixture inputs and head
    _randomise(lora.add_adapter(model, "hf_loss", AdapterConfig(rank=2, alpha=2)))
    lora.set_weights(model, {"hf_loss": 1.0})
    ema = copy.deepcopy(model)
    assert ema.reads_mixture
    g = torch.Generator().manual_seed(2)
    bins, frames = model.stft.n_fft // 2 + 1, 16
    spec, mix = (torch.randn(1, bins, frames, 2, generator=g) for _ in range(2))
    spec, mix = torch.view_as_complex(spec), torch.view_as_complex(spec + mix)
    with torch.no_grad():
        with_mix, alone = ema.enhance(spec, mix), ema.enhance(spec)
    assert (with_mix - alone).abs().max() > 1e-4


def test_merged_equals_unmerged_and_weights_combine():
    model = _model()
    cfg = AdapterConfig(rank=2, alpha=2)
    _randomise(lora.add_adapter(model, "bleed", cfg))
    _randomise(lora.add_adapter(model, "hf_loss", cfg))
    x, t = _inputs(model)
    with torch.no_grad():
        lora.set_weights(model, {})
        base = model.denoiser(x, t)
        lora.set_weights(model, {"bleed": 1.0})
        one = model.denoiser(x, t)
        lora.set_weights(model, {"bleed": 0.7, "hf_loss": 0.3})
        mixed = model.denoiser(x, t)
        lora.set_weights(model, {"bleed": 0.7, "hf_loss": 0.3}, merge=True)
        merged = model.denoiser(x, t)
        assert all(layer.merged for layer in lora._lora_layers(model))  # no LoRA pass now
        # Re-weighting a merged model (auto does, file by file) undoes the old merge first.
        lora.set_weights(model, {"bleed": 1.0}, merge=True)
        one_merged = model.denoiser(x, t)
        lora.set_weights(model, {}, merge=True)
        base_again = model.denoiser(x, t)
    assert not torch.allclose(base, one) and not torch.allclose(one, mixed)
    torch.testing.assert_close(merged, mixed, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(one_merged, one, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(base_again, base, rtol=1e-4, atol=1e-5)


def test_bundled_adapters_are_under_5_percent_of_their_base():
    from stemprover.models.base import bundled_models, model_adapters

    folder = bundled_models()["latent"]
    base = (folder / "model.safetensors").stat().st_size
    adapters = model_adapters(folder)
    assert adapters
    for name, path in adapters.items():
        size = (path / "adapter.safetensors").stat().st_size
        assert size < 0.05 * base, (name, size, base)


def test_adapter_file_is_small_and_bound_to_its_base(tmp_path):
    model = _model()
    cfg = AdapterConfig(rank=2, alpha=2, target_modules=("conv1", "conv2"), include_control=False)
    fingerprint = lora.base_fingerprint(model)
    _randomise(lora.add_adapter(model, "bleed", cfg))
    folder = lora.save_adapter(model, "bleed", cfg, tmp_path / "bleed", fingerprint)
    base_file = _model().save(tmp_path / "base") / "model.safetensors"
    assert (folder / "adapter.safetensors").stat().st_size < 0.05 * base_file.stat().st_size
    same = _model()
    assert lora.load_adapter(same, folder) == "bleed"
    x, t = _inputs(model)
    lora.set_weights(model, {"bleed": 1.0})
    lora.set_weights(same, {"bleed": 1.0})
    with torch.no_grad():
        torch.testing.assert_close(same.denoiser(x, t), model.denoiser(x, t), rtol=0, atol=0)
    with pytest.raises(StemProverError, match="belongs to base model"):
        lora.load_adapter(_model(seed=5), folder)


def test_auto_adapters_are_weighted_in_memory_too(tmp_path, monkeypatch):
    """`evaluate` and `bench` enhance arrays, not files: `auto` must weigh adapters there too."""
    import numpy as np

    from stemprover.models import load_model
    from stemprover.pipeline import EnhancePipeline

    model = _model()
    cfg = AdapterConfig(rank=2, alpha=2)
    fingerprint = lora.base_fingerprint(model)
    folder = model.save(tmp_path / "model")  # the base alone, before LoRA is injected
    _randomise(lora.add_adapter(model, "hf_loss", cfg))
    lora.save_adapter(model, "hf_loss", cfg, folder / "adapters" / "hf_loss", fingerprint)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((1, 22050))).astype(np.float32)
    auto = EnhancePipeline(load_model(folder, adapters="auto"), progress=False)
    out = auto(audio, 44100)
    weight = auto.last_adapters["hf_loss"]
    assert 0 < weight <= 1
    fixed = load_model(folder, adapters=f"hf_loss={weight}")
    np.testing.assert_allclose(out, EnhancePipeline(fixed, progress=False)(audio, 44100))
    base = EnhancePipeline(load_model(folder, adapters="none"), progress=False)(audio, 44100)
    assert not np.allclose(out, base)
    # Given the mixture, auto analyses the stem beside it (analyze's mixture-aware verdicts).
    import stemprover.analysis as analysis

    seen = []
    real = analysis.analyze
    mix = audio + (0.1 * rng.standard_normal((1, 22050))).astype(np.float32)

    def spy(stem, rate, mix=None, *args):
        seen.append(mix)
        return real(stem, rate, mix, *args)

    monkeypatch.setattr(analysis, "analyze", spy)
    auto(audio, 44100, mix=mix)
    np.testing.assert_array_equal(seen[0], mix.astype(np.float64))


def test_auto_routes_an_artifact_to_the_adapter_for_the_stem_type():
    infos = [
        lora.AdapterInfo("bleed", "bleed"),
        lora.AdapterInfo("bleed-drums", "bleed", ("drums",)),
        lora.AdapterInfo("hf_loss", "hf_loss"),
    ]
    scores = {"bleed": 0.61234, "hf_loss": 0.2, "phasiness": 0.9}
    assert lora.route(infos, scores, "drums") == {
        "bleed": 0.0,
        "bleed-drums": 0.612,
        "hf_loss": 0.2,
    }
    for stem in ("bass", None):  # another stem type, or unknown: the all-stem adapter
        assert lora.route(infos, scores, stem) == {
            "bleed": 0.612,
            "bleed-drums": 0.0,
            "hf_loss": 0.2,
        }
    # An artifact with only a per-stem adapter (the bundled hf_loss-drums): nothing elsewhere.
    only = [lora.AdapterInfo("hf_loss-drums", "hf_loss", ("drums",))]
    assert lora.route(only, scores, "drums") == {"hf_loss-drums": 0.2}
    assert (
        lora.route(only, scores, "vocals")
        == lora.route(only, scores, None)
        == {"hf_loss-drums": 0.0}
    )
    assert lora.adapter_name("bleed", ("drums",)) == "bleed-drums"
    assert lora.adapter_name("spectral_holes", ("vocals", "bass")) == "spectral_holes-vocals+bass"


def test_per_stem_adapter_is_used_on_its_stem_type_only(tmp_path, capsys):
    """A model with an all-stem and a drums musical_noise adapter: `auto` applies the drums one to a
    file named drums.wav (or given --stem drums) and the all-stem one to others."""
    import json

    import numpy as np
    import soundfile as sf

    from stemprover.batch import enhance_paths
    from stemprover.models import load_model
    from stemprover.pipeline import EnhancePipeline

    model = _model()
    fingerprint = lora.base_fingerprint(model)
    folder = model.save(tmp_path / "model")
    for stems in ((), ("drums",)):
        cfg = AdapterConfig(rank=2, alpha=2, stems=stems)
        name = lora.adapter_name("musical_noise", stems)
        _randomise(lora.add_adapter(model, name, cfg))
        lora.save_adapter(model, "musical_noise", cfg, folder / "adapters" / name, fingerprint)
    assert lora.adapter_info(folder / "adapters" / "musical_noise-drums") == lora.AdapterInfo(
        "musical_noise-drums", "musical_noise", ("drums",)
    )
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((1, 22050))).astype(np.float32)
    auto = EnhancePipeline(load_model(folder, adapters="auto"), progress=False)
    drums = auto(audio, 44100, stem="drums")
    weight = auto.last_adapters["musical_noise-drums"]
    assert weight > 0.5 and auto.last_adapters["musical_noise"] == 0.0
    fixed = EnhancePipeline(
        load_model(folder, adapters=f"musical_noise-drums={weight}"), progress=False
    )
    np.testing.assert_allclose(drums, fixed(audio, 44100))
    vocals = auto(audio, 44100, stem="vocals")
    assert auto.last_adapters == {"musical_noise": weight, "musical_noise-drums": 0.0}
    assert not np.allclose(drums, vocals)
    # Files: the stem type from the name, or --stem; written to the sidecar.
    for name in ("drums.wav", "take1.wav"):
        sf.write(tmp_path / name, audio[0], 44100)
    batch = enhance_paths(auto, [tmp_path / "drums.wav", tmp_path / "take1.wav"], tmp_path / "o")
    sidecars = [
        json.loads((tmp_path / "o" / f"{n}.adapters.json").read_text())
        for n in ("drums.wav", "take1.wav")
    ]
    assert [(f.stem, s["stem"]) for f, s in zip(batch.files, sidecars, strict=True)] == [
        ("drums", "drums"),
        (None, None),
    ]
    assert (
        sidecars[0]["adapters"]["musical_noise-drums"]
        > 0
        == sidecars[1]["adapters"]["musical_noise-drums"]
    )
    batch = enhance_paths(auto, [tmp_path / "take1.wav"], tmp_path / "o2", stem="drums")
    assert batch.files[0].adapters["musical_noise-drums"] > 0
    from stemprover.cli import main

    # Not -q: that silences per-file lines, the adapters chosen included.
    args = ["enhance", str(tmp_path / "drums.wav"), "--model", str(folder)]
    assert main([*args, "-o", str(tmp_path / "o4.wav"), "--stem", "unknown"]) == 0
    assert "stem unknown, adapters musical_noise=0.9" in capsys.readouterr().out
    assert main([*args, "-o", str(tmp_path / "o5.wav")]) == 0
    assert (
        "stem drums, adapters musical_noise=0.00, musical_noise-drums=0.9"
        in capsys.readouterr().out
    )
    with pytest.raises(StemProverError, match="unknown stem type 'piano'"):
        enhance_paths(auto, [tmp_path / "take1.wav"], tmp_path / "o3", stem="piano")
    # Two adapters by one name cannot both be loaded.
    with pytest.raises(StemProverError, match="already has an adapter named 'musical_noise'"):
        lora.load_adapter(auto.model, folder / "adapters" / "musical_noise")


def test_auto_gain_scales_detected_severity_into_weights(tmp_path):
    """`<model>/adapters/auto.json` (experiments/calibrate_auto/calibrate_auto.py) multiplies the severities `auto`
    uses as weights, at most 1."""
    import json

    import numpy as np

    from stemprover.analysis import analyze
    from stemprover.models import load_model
    from stemprover.pipeline import EnhancePipeline

    model = _model()
    fingerprint = lora.base_fingerprint(model)
    folder = model.save(tmp_path / "model")
    cfg = AdapterConfig(rank=2, alpha=2)
    for name in ("musical_noise", "phasiness"):
        _randomise(lora.add_adapter(model, name, cfg))
        lora.save_adapter(model, name, cfg, folder / "adapters" / name, fingerprint)
    rng = np.random.default_rng(0)
    audio = np.convolve(rng.standard_normal(22050), np.ones(16) / 16, "same")[None]
    scores = {k: r["score"] for k, r in analyze(audio, 44100).items()}
    assert 0 < 4 * scores["phasiness"] < 1 < 4 * scores["musical_noise"]
    (folder / "adapters" / "auto.json").write_text(json.dumps({"gain": 4}))
    auto = EnhancePipeline(load_model(folder, adapters="auto"), progress=False)
    auto(audio.astype(np.float32), 44100)
    assert auto.last_adapters == {
        "musical_noise": 1.0,
        "phasiness": round(4 * scores["phasiness"], 3),
    }
    (folder / "adapters" / "auto.json").write_text(json.dumps({"gain": -1}))
    with pytest.raises(StemProverError, match="gain must be a positive number"):
        load_model(folder, adapters="auto")
