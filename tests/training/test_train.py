"""Training with the tiny config: end to end through the CLI, resume, and base models."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from stemprover.cli import main
from stemprover.config import load_config
from stemprover.data.manifest import read_manifest
from stemprover.errors import StemProverError
from stemprover.training import engine, init, loop


def _train_tiny(pairs, run, *overrides):
    args = ["train", "--pairs", str(pairs), "--out", str(run), "--config", "tiny", "-q"]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 0
    return run / "model"


def test_pairs_train_enhance_evaluate_end_to_end(pairs, tmp_path):
    run = tmp_path / "run"
    _train_tiny(pairs, run)
    model = run / "model"
    assert (model / "model.safetensors").exists() and (model / "config.json").exists()
    src = pairs / "artifacted" / sorted(p.name for p in (pairs / "artifacted").iterdir())[0]
    out = tmp_path / "clean.wav"
    assert (
        main(["enhance", str(src), "--model", str(model), "-o", str(out), "--steps", "2", "-q"])
        == 0
    )
    a, b = sf.info(src), sf.info(out)
    assert (a.frames, a.channels, a.samplerate, a.subtype) == (
        b.frames,
        b.channels,
        b.samplerate,
        b.subtype,
    )
    y = sf.read(out)[0]
    assert np.isfinite(y).all() and np.abs(y).max() > 0
    assert (
        main(
            [
                "evaluate",
                "--pairs",
                str(pairs),
                "--out",
                str(tmp_path / "eval"),
                "--split",
                "all",
                "--limit",
                "2",
                "--systems",
                "input",
                "--model",
                str(model),
                "--examples",
                "1",
                "-q",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())["summary"]
    assert set(summary["all"]) == {"input", "model"}


def test_enhance_resamples_to_the_model_rate_and_back(pairs, tmp_path):
    run = tmp_path / "run"
    _train_tiny(pairs, run, "train.ae_steps=1", "train.steps=1")
    src = tmp_path / "in48k.flac"
    sf.write(
        src, 0.1 * np.random.default_rng(0).standard_normal((48000, 2)), 48000, subtype="PCM_24"
    )
    out = tmp_path / "out.flac"
    assert (
        main(
            [
                "enhance",
                str(src),
                "--model",
                str(run / "model"),
                "-o",
                str(out),
                "--steps",
                "0",
                "-q",
            ]
        )
        == 0
    )
    info = sf.info(out)
    assert (info.samplerate, info.frames, info.channels, info.subtype) == (
        48000,
        48000,
        2,
        "PCM_24",
    )


def test_interrupted_training_resumes_from_the_last_checkpoint(pairs, tmp_path, monkeypatch):
    cfg = load_config("tiny", ["train.ae_steps=5", "train.steps=3", "train.checkpoint_every=2"])
    run = tmp_path / "run"
    real_save = engine.save_state
    saved_steps = []

    def save_then_die(folder, modules, opt, info):
        real_save(folder, modules, opt, info)
        saved_steps.append((info["stage"], info["step"]))
        if info == {"step": 2, "stage": "autoencoder"}:
            raise KeyboardInterrupt  # killed right after the first checkpoint

    monkeypatch.setattr(engine, "save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        loop.train(cfg, pairs, run, progress=False)
    assert not (run / "model").exists()
    monkeypatch.setattr(engine, "save_state", real_save)
    loop.train(cfg, pairs, run, progress=False)
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    ae_steps = [r["step"] for r in logged if r["stage"] == "autoencoder"]
    assert ae_steps == [1, 2, 3, 4, 5]  # steps 1-2, killed, then 3-5: nothing redone or lost
    assert (run / "model" / "model.safetensors").exists()
    with pytest.raises(StemProverError, match="different model config"):
        loop.train(load_config("tiny", ["model.stft.compress=0.3"]), pairs, run, progress=False)


def test_time_budget_ends_each_stage_with_a_checkpoint_and_a_model(pairs, tmp_path):
    # A budget far below one step's time: each stage stops after its first step.
    cfg = load_config("tiny", ["train.ae_steps=50", "train.steps=50", "train.max_minutes=1e-9"])
    run = tmp_path / "run"
    loop.train(cfg, pairs, run, progress=False)
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in logged] == [("autoencoder", 1), ("denoiser", 1)]
    assert (run / "model" / "model.safetensors").exists()
    loop.train(cfg, pairs, run, progress=False)  # run again: one more step per stage
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged[2:]] == [2, 2]


def test_base_model_from_diffusers_folders(pairs, tmp_path):
    from diffusers import AutoencoderKL, UNet2DModel

    cfg = load_config("tiny", ["train.ae_steps=0", "train.steps=0"])
    ae, dn = cfg.model.autoencoder, cfg.model.denoiser
    vae = AutoencoderKL(
        in_channels=2 * ae.patch**2,
        out_channels=2 * ae.patch**2,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=ae.block_out_channels,
        latent_channels=ae.latent_channels,
        norm_num_groups=ae.norm_num_groups,
        mid_block_add_attention=False,
    )
    unet = UNet2DModel(
        in_channels=ae.latent_channels,
        out_channels=ae.latent_channels,
        block_out_channels=dn.block_out_channels,
        layers_per_block=dn.layers_per_block,
        down_block_types=("DownBlock2D",) * 2,
        up_block_types=("UpBlock2D",) * 2,
        norm_num_groups=dn.norm_num_groups,
        add_attention=False,
    )
    base = tmp_path / "base"
    vae.save_pretrained(base / "vae")
    unet.save_pretrained(base / "unet")
    out = loop.train(cfg, pairs, tmp_path / "run", base_model=base, progress=False)
    from stemprover.models import load_model

    model = load_model(out)
    assert torch.equal(model.autoencoder.vae.encoder.conv_in.weight, vae.encoder.conv_in.weight)
    assert torch.equal(model.denoiser.conv_in.weight, unet.conv_in.weight)
    assert torch.equal(
        model.denoiser.up_blocks[0].resnets[0].conv1.weight,
        unet.up_blocks[0].resnets[0].conv1.weight,
    )


def test_adapter_training_and_use(pairs, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    _train_tiny(pairs, run, "train.ae_steps=2", "train.steps=2")
    model = run / "model"
    records = [json.loads(x) for x in (pairs / "manifest.jsonl").read_text().splitlines()]
    kind = next(k for r in records if r["split"] == "train" for k in r["artifacts"])
    assert (
        main(
            [
                "train",
                "--pairs",
                str(pairs),
                "--out",
                str(tmp_path / "ad"),
                "--config",
                "tiny",
                "--adapter",
                kind,
                "--model",
                str(model),
                "--set",
                "train.steps=3",
                "-q",
            ]
        )
        == 0
    )
    adapter = tmp_path / "ad" / "adapter" / kind
    assert (adapter / "adapter.safetensors").exists()
    logged = [json.loads(x) for x in (tmp_path / "ad" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3]
    (model / "adapters").mkdir()
    adapter.rename(model / "adapters" / kind)
    src = pairs / "artifacted" / f"{records[0]['id']}.wav"
    capsys.readouterr()
    for spec in (kind, f"{kind}=0.5", "auto", "none", None):
        out = tmp_path / f"out_{(spec or 'default').replace('=', '_')}.wav"
        flag = [] if spec is None else ["--adapters", spec]
        args = ["enhance", str(src), "--model", str(model), *flag, "-o", str(out), "--steps", "1"]
        assert main(args) == 0
        assert sf.info(out).frames == sf.info(src).frames
    assert f"adapters {kind}=" in capsys.readouterr().out
    sidecar = json.loads((tmp_path / "out_auto.wav.adapters.json").read_text())
    assert set(sidecar["adapters"]) == {kind} and 0 <= sidecar["adapters"][kind] <= 1
    # No --adapters: a model with adapters runs `auto`, the same output and weights as asking.
    assert not (tmp_path / "out_none.wav.adapters.json").exists()
    default = json.loads((tmp_path / "out_default.wav.adapters.json").read_text())
    assert default["adapters"] == sidecar["adapters"]
    np.testing.assert_array_equal(
        sf.read(tmp_path / "out_default.wav")[0], sf.read(tmp_path / "out_auto.wav")[0]
    )
    from stemprover.models import base

    # The same default in `evaluate`, and for a model named by its .safetensors file.
    assert base.default_adapters(model) == base.default_adapters(model / "model.safetensors")
    assert base.default_adapters(model) == "auto" and base.default_adapters("null") == "none"
    asked = []
    real_load = base.load_model
    with monkeypatch.context() as mp:
        mp.setattr(
            base,
            "load_model",
            lambda m, adapters=None, **kw: asked.append(adapters) or real_load(m),
        )
        for flag in ([], ["--adapters", "none"]):
            args = ["evaluate", "--pairs", str(pairs), "--out", str(tmp_path / f"ev{len(asked)}")]
            args += ["--model", str(model), "--systems", "input", "--limit", "1", "--examples", "0"]
            args += ["--split", "all"]
            assert main([*args, *flag, "-q"]) == 0
    assert asked == ["auto", "none"]
    assert (
        main(
            [
                "enhance",
                str(src),
                "--model",
                str(model),
                "--adapters",
                "crackle",
                "-o",
                str(tmp_path / "x.wav"),
            ]
        )
        == 1
    )
    assert "unknown adapter 'crackle'" in capsys.readouterr().err


def test_warm_start_into_the_mixture_gain_head_computes_the_same(pairs, tmp_path):
    """The gain head's output convolution is widened with zeros: before training, the wider
    model computes what the stem-only one does, with or without a mixture."""
    from stemprover.audio.stft import compress, stft
    from stemprover.models.enhancer import StemProverModel

    gain = "model.denoiser.output=log_gain"
    base = _train_tiny(pairs, tmp_path / "base", "train.steps=2", "train.ae_steps=0", gain)
    stem_only = StemProverModel.load(base)
    assert stem_only.denoiser.conv_out.weight.abs().max() > 0  # trained, so the copy matters
    mixed_cfg = load_config(
        "tiny", [gain, "model.denoiser.mixture=true", "model.denoiser.mixture_gain=true"]
    )
    mixed = StemProverModel(mixed_cfg.model)
    init.warm_start(mixed, base)
    g = torch.Generator().manual_seed(0)
    x, m = (torch.randn(1, 8000, generator=g) * 0.1 for _ in range(2))
    spec, mix = (compress(stft(v, stem_only.stft), stem_only.stft) for v in (x, m))
    mixed.eval()
    expected = stem_only.enhance(spec, sampling=stem_only.sampling_options(steps=2, seed=3))
    for given in (mix, None):
        got = mixed.enhance(spec, given, sampling=mixed.sampling_options(steps=2, seed=3))
        torch.testing.assert_close(got, expected)


def test_mixture_model_trains_from_a_stem_only_model_and_enhances_with_mix(pairs, tmp_path, capsys):
    """--init copies a stem-only model into one that also reads the mixture: before training
    both compute the same thing; after it, the mixture changes the output."""
    from stemprover.audio.stft import compress, stft
    from stemprover.models.enhancer import StemProverModel

    base = _train_tiny(pairs, tmp_path / "base", "train.steps=2")
    mixed_cfg = load_config("tiny", ["model.denoiser.mixture=true"])
    mixed = StemProverModel(mixed_cfg.model)
    init.warm_start(mixed, base)
    stem_only = StemProverModel.load(base)
    g = torch.Generator().manual_seed(0)
    x, m = (torch.randn(1, 8000, generator=g) * 0.1 for _ in range(2))
    spec, mix = (compress(stft(v, stem_only.stft), stem_only.stft) for v in (x, m))
    mixed.eval()
    torch.testing.assert_close(mixed.enhance(spec, mix), stem_only.enhance(spec))
    with pytest.raises(StemProverError, match="does not fit"):
        init.warm_start(
            StemProverModel(load_config("tiny", ["model.denoiser.layers_per_block=2"]).model),
            base,
        )
    run = tmp_path / "mixed"
    assert (
        main(
            [
                *("train", "--pairs", str(pairs), "--out", str(run), "--config", "tiny", "-q"),
                *("--init", str(base), "--set", "model.denoiser.mixture=true"),
                *("--set", "train.steps=3", "--set", "train.stage=denoiser"),
            ]
        )
        == 0
    )
    trained = StemProverModel.load(run / "model")
    assert trained.uses_mixture
    extra = trained.control.conv_in.weight[:, trained.control.per_input :]
    assert extra.abs().max() > 0  # the mixture's input channels were trained
    out = tmp_path / "out.wav"
    src = pairs / "artifacted" / sorted(p.name for p in (pairs / "artifacted").iterdir())[0]
    rec = next(r for r in read_manifest(pairs) if pairs / r["artifacted"] == src)
    args = ["enhance", str(src), "--model", str(run / "model"), "-o", str(out), "-q"]
    assert main([*args, "--mix", str(pairs / rec["mixture"])]) == 0
    with_mix = sf.read(out)[0]
    assert main([*args, "--overwrite"]) == 0
    assert not np.allclose(with_mix, sf.read(out)[0])
    capsys.readouterr()
    assert main(["models", str(tmp_path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert any(str(run / "model") in line and "reads the mixture" in line for line in listed)
    assert not any(str(base) in line and "reads the mixture" in line for line in listed)


def test_per_stem_adapter_trains_only_on_its_stem(pairs, tmp_path, monkeypatch):
    from stemprover.training.data import PairCrops

    run = tmp_path / "run"
    model = _train_tiny(pairs, run, "train.ae_steps=2", "train.steps=2")
    records = read_manifest(pairs)
    kind = next(k for r in records if r["split"] == "train" for k in r["artifacts"])
    seen = []

    def spy(*args, **kwargs):
        crops = PairCrops(*args, **kwargs)
        seen.append((args[1], crops.records))
        return crops

    monkeypatch.setattr(loop, "PairCrops", spy)
    out = tmp_path / "ad"
    args = ["train", "--pairs", str(pairs), "--out", str(out), "--config", "tiny", "--adapter"]
    args += [kind, "--model", str(model), "--set", "train.steps=1", "--set"]
    assert main([*args, "adapter.stems=[vocals, bass]", "-q"]) == 0
    train = dict(seen)["train"]
    wanted = [
        r
        for r in records
        if r["split"] == "train" and kind in r["artifacts"] and r["stem"] in ("vocals", "bass")
    ]
    others = [r for r in records if r["split"] == "train" and kind in r["artifacts"]]
    assert train == wanted and wanted and len(wanted) < len(others)  # the filter did something
    # Named for its artifact and stems, so it can sit beside the all-stem adapter.
    saved = json.loads((out / "adapter" / f"{kind}-vocals+bass" / "adapter.json").read_text())
    assert saved["config"]["stems"] == ["vocals", "bass"]
    assert (saved["name"], saved["artifact"]) == (f"{kind}-vocals+bass", kind)
    cfg = load_config("tiny", ["adapter.stems=[piano]"])
    with pytest.raises(StemProverError, match="unknown stem types \\['piano'\\]"):
        loop.train_adapter(cfg, pairs, tmp_path / "ad2", str(model), kind, progress=False)
    # A filter that leaves nothing says which pairs it wanted.
    with pytest.raises(StemProverError, match=f"no 'train' pairs with {kind} on piano stems"):
        PairCrops(
            pairs,
            "train",
            44100,
            1.0,
            where=lambda r: False,
            what=f"pairs with {kind} on piano stems",
        )
