"""``stemprover trust train``: the four stages on tiny pairs, resumable, with exact scores."""

from __future__ import annotations

import json

import pytest
import torch

from stemprover.audio.stft import stft
from stemprover.errors import StemProverError
from stemprover.evaluation.run import song_audio
from stemprover.models.refiner import TRUST_DIR, RefinerModel
from stemprover.models.trust import SongTrust
from stemprover.training.trust import (
    BlendStats,
    TrustTrainConfig,
    _cached,
    harm_floor,
    train_blend,
    train_trust,
)
from tests.models.test_refiner import TINY, _randomised
from tests.models.test_trust import TINY_TRUST

TINY_TRAIN = TrustTrainConfig(quality_steps=3, quality_batch=4, quality_crop=32, steps=3)


@pytest.fixture(scope="module")
def trained(pairs, tmp_path_factory):
    """A tiny refiner and its trust run: ``(args of train_trust, the layer's folder)``."""
    root = tmp_path_factory.mktemp("trust")
    refiner = _randomised().save(root / "refiner")
    args = (str(refiner), [], [pairs], [pairs], root / "run", TINY_TRAIN, TINY_TRUST)
    return args, train_trust(*args, verbose=False)


def test_trust_train_makes_a_layer_its_refiner_loads_and_resumes(trained):
    args, folder = trained
    layer = SongTrust.load(folder)
    assert layer.config == TINY_TRUST and layer.good is not None
    best = json.loads((folder / "best.json").read_text())
    assert set(best) == {"blend", "good"}  # the good-stem blend trained after the first
    caches = sorted((args[4] / "cache").iterdir())
    assert [p.name.split("-")[0] for p in caches] == ["blend", "quality"]  # one split here
    stamps = [p.stat().st_mtime_ns for p in caches]
    train_trust(*args, verbose=False)  # a second run reuses every stage's files
    assert [p.stat().st_mtime_ns for p in caches] == stamps
    with pytest.raises(StemProverError, match="other settings"):
        train_trust(*args[:5], TrustTrainConfig(steps=4), TINY_TRUST, verbose=False)
    layer.save(f"{args[0]}/{TRUST_DIR}")  # in the refiner's folder, song mode runs it
    assert RefinerModel.load(args[0]).trust is not None


def test_trust_train_refuses_a_run_made_on_other_refiner_weights(trained, tmp_path):
    """trust.json records a hash of the refiner's weights: a run resumed after its refiner was
    retrained (same folder, other weights) is refused before any stage, not blended on stale
    statistics; a run from before the hash still resumes."""
    args, _ = trained
    refiner = _randomised().save(tmp_path / "refiner")
    run = tmp_path / "run"
    run.mkdir()
    meta = json.loads((args[4] / "trust.json").read_text())
    (run / "trust.json").write_text(json.dumps({**meta, "model": str(refiner)}))
    new = (str(refiner), *args[1:4], run, *args[5:])
    _randomised(seed=1).save(refiner)  # retrained since
    with pytest.raises(StemProverError, match="other model's weights"):
        train_trust(*new, verbose=False)
    assert not (run / "cache").exists() or not any((run / "cache").iterdir())
    record = args[4] / "trust.json"
    old = {k: v for k, v in json.loads(record.read_text()).items() if k != "model_sha256"}
    record.write_text(json.dumps(old))
    train_trust(*args, verbose=False)  # no hash recorded: resumed, and the hash written
    assert len(json.loads(record.read_text())["model_sha256"]) == 64


def test_blend_scores_are_the_exact_stft_domain_si_sdr(trained, pairs):
    args, _ = trained
    stats = BlendStats([_cached(args[4], "blend", pairs, "train")])
    recs, _, _, arts, refs = next(song_audio(pairs, "train"))
    s = torch.stack([stft(torch.from_numpy(a), TINY.stft) for a in arts])
    r = torch.stack([stft(torch.from_numpy(a), TINY.stft) for a in refs])
    dot = (s * r.conj()).real.sum((1, 2, 3))
    ss, rr = s.abs().pow(2).sum((1, 2, 3)), r.abs().pow(2).sum((1, 2, 3))
    exact = 10 * torch.log10(dot**2 / (ss * rr - dot**2))  # the input's SI-SDR, spectrally
    got = stats.score(stats.one_hot(0))[: len(recs)]
    torch.testing.assert_close(got, exact.to(got.dtype), rtol=1e-6, atol=1e-6)
    # a weight of 2 on the input is the same estimate, scaled: SI-SDR does not change
    torch.testing.assert_close(stats.score(2 * stats.one_hot(0)), stats.score(stats.one_hot(0)))


def test_each_blend_network_starts_from_the_seed_whatever_came_before(trained, pairs):
    args, _ = trained
    stats = BlendStats([_cached(args[4], "blend", pairs, "train")])
    states = []
    for noise in (0, 1):
        torch.manual_seed(noise)  # the layer is made from two different generator states
        layer = SongTrust(TINY_TRUST)
        for which in ("blend", "good"):
            train_blend(layer, stats, stats, TINY_TRAIN, lambda m: None, which)
        states.append({k: v for k, v in layer.state_dict().items() if "quality" not in k})
    assert any(k.startswith("good.") for k in states[0])
    for k, v in states[0].items():
        assert torch.equal(v, states[1][k]), k


def test_each_blend_keeps_its_best_validation_step_by_the_chosen_score(trained, pairs):
    """train.select: ``gain`` keeps the step with the best mean gain, ``objective`` the one
    with the best training objective (gain less the harm term); each logs both."""
    import re
    from dataclasses import replace

    args, _ = trained
    stats = BlendStats([_cached(args[4], "blend", pairs, "train")])
    for select in ("gain", "objective"):
        lines = []
        cfg = replace(TINY_TRAIN, steps=300, select=select)
        best = train_blend(SongTrust(TINY_TRUST), stats, stats, cfg, lines.append)
        num = r"([+-]\d+\.\d+)"
        logged = [re.search(rf"validation {num} dB.*objective {num}", m).groups() for m in lines]
        scores = [float(g) if select == "gain" else float(o) for g, o in logged]
        assert best["step"] == 100 * scores.index(max(scores))
        assert 0 <= best["losing"] <= 1
    with pytest.raises(StemProverError, match=r"unknown train\.select 'loss'"):
        bad = replace(TINY_TRAIN, select="loss")
        train_trust("default", [], [], [], args[4].parent / "nope", bad, TINY_TRUST, verbose=False)


def test_a_run_can_reuse_a_trained_layers_quality_estimate_and_blend_the_canceller(
    trained, tmp_path
):
    from dataclasses import replace

    args, folder = trained
    cancel = replace(TINY_TRUST, cancel=True)
    run = tmp_path / "run"
    out = train_trust(*args[:4], run, TINY_TRAIN, cancel, verbose=False, quality_from=folder)
    assert not any(p.name.startswith("quality") for p in (run / "cache").iterdir())
    layer, old = SongTrust.load(out), SongTrust.load(folder)
    for k, v in old.quality.state_dict().items():
        assert torch.equal(v, layer.quality.state_dict()[k]), k
    assert layer.config.cancel and layer.blend.net[-1].bias.shape == (4,)
    stats = BlendStats([_cached(run, "blend", args[2][0], "train")])
    assert stats.gram.shape[-1] == 4
    with pytest.raises(StemProverError, match="4 candidates; the layer blends 3"):
        train_blend(SongTrust(TINY_TRUST), stats, stats, TINY_TRAIN, lambda m: None)
    with pytest.raises(StemProverError, match="quality_bands differ"):
        train_trust(
            *args[:4],
            tmp_path / "other",
            TINY_TRAIN,
            replace(cancel, quality_bands=8),
            verbose=False,
            quality_from=folder,
        )


def test_blend_only_pairs_train_the_blends_and_not_the_quality_estimate(
    trained, tmp_path, monkeypatch
):
    import shutil

    import stemprover.training.trust as tt

    args, _ = trained
    more = shutil.copytree(args[2][0], tmp_path / "more")  # another folder, the same songs
    run = tmp_path / "run"
    read = []  # the statistics files each BlendStats (train, then valid) is made from
    monkeypatch.setattr(tt, "BlendStats", lambda paths: read.append(paths) or BlendStats(paths))
    train_trust(*args[:4], run, *args[5:], verbose=False, blend_only=[more])
    made = sorted(p.name.split("-")[:2] for p in (run / "cache").iterdir())
    assert ["blend", "more"] in made and ["quality", "more"] not in made
    assert [["blend", args[2][0].name], ["quality", args[2][0].name]] == [
        m for m in made if m[1] != "more"
    ]
    train, valid = read
    assert [p.name.split("-")[1] for p in train] == [args[2][0].name, "more"]
    assert [p.name.split("-")[1] for p in valid] == [args[2][0].name]


def test_the_harm_term_can_measure_loss_below_the_input_too(tmp_path):
    base, ship = torch.tensor([1.0, 5.0]), torch.tensor([3.0, 2.0])  # input, song filter
    assert torch.equal(harm_floor(base, ship, "y"), ship)
    assert torch.equal(harm_floor(base, ship, "best"), torch.tensor([3.0, 5.0]))
    with pytest.raises(StemProverError, match=r"unknown train\.harm_below 'input'"):
        harm_floor(base, ship, "input")
    assert TrustTrainConfig().harm_below == "y"  # the default: the shipped layer's training
    # a run with an unknown floor is refused before any stage (nothing made)
    from dataclasses import replace

    bad = replace(TINY_TRAIN, harm_below="input")
    with pytest.raises(StemProverError, match="unknown train"):
        train_trust("default", [], [], [], tmp_path / "run", bad, TINY_TRUST, verbose=False)
    assert not (tmp_path / "run").exists()


def test_cli_trust_train_refuses_unknown_settings_in_one_line(pairs, tmp_path, capsys):
    from stemprover.cli import main

    argv = ["trust", "train", "--pairs", str(pairs), "--valid-pairs", str(pairs)]
    assert main([*argv, "--out", str(tmp_path / "r"), "--set", "trust.nope=1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown config key 'trust.nope'" in err[0]
    assert not (tmp_path / "r").exists()  # nothing made before the settings are checked
