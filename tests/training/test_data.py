"""PairCrops: the training crops drawn from pairs folders."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from stemprover.data.manifest import read_manifest
from stemprover.errors import StemProverError


def test_pair_crops_pool_several_folders_in_order(pairs, tmp_path):
    from stemprover.training.data import PairCrops

    one = PairCrops(pairs, "train", 16000, 0.5)
    both = PairCrops([pairs, pairs], "train", 16000, 0.5)
    assert len(both) == 2 * len(one)
    assert both.records[: len(one)] == one.records == both.records[len(one) :]
    np.testing.assert_array_equal(both.clean[len(one)], one.clean[0])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.jsonl").write_text("")
    with pytest.raises(StemProverError, match="no 'train' pairs"):
        PairCrops([empty], "train", 16000, 0.5)


def test_identity_pairs_give_the_clean_crop_as_input(pairs):
    from stemprover.training.data import PairCrops

    plain = PairCrops(pairs, "train", 16000, 0.5)
    clean, art, mix = PairCrops(pairs, "train", 16000, 0.5, identity=1.0).batch(
        6, np.random.default_rng(0)
    )
    assert torch.equal(clean, art) and mix is None
    clean0, art0, _ = plain.batch(6, np.random.default_rng(0))
    assert not torch.equal(clean0, art0)  # the pairs themselves differ


def test_mixture_crops_come_from_the_same_place(pairs, tmp_path):
    """With every mixture replaced by 2 x its clean stem, each mixture crop is 2 x its clean
    crop; the clean and artifacted crops are those drawn without mixtures."""
    import shutil

    from stemprover.training.data import PairCrops

    copy = tmp_path / "pairs"
    shutil.copytree(pairs, copy)
    records = read_manifest(copy)
    (copy / "mixture").mkdir()
    for rec in records:  # a mixture of its own per pair (songs share one)
        audio, rate = sf.read(copy / rec["clean"], dtype="float32")
        rec["mixture"] = f"mixture/{rec['id']}.wav"
        sf.write(copy / rec["mixture"], 2 * audio, rate, subtype="FLOAT")
    (copy / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    rng = np.random.default_rng(3)
    clean, art, mix = PairCrops(copy, "train", 16000, 0.5, mixture=True).batch(8, rng)
    torch.testing.assert_close(mix, 2 * clean)
    plain = PairCrops(copy, "train", 16000, 0.5).batch(8, np.random.default_rng(3))
    assert torch.equal(plain[0], clean) and torch.equal(plain[1], art)
    rec = records[0]
    (copy / rec["mixture"]).unlink()
    with pytest.raises(StemProverError, match="mixture"):
        PairCrops(copy, rec["split"], 16000, 0.5, mixture=True)


def test_song_batch_with_channels_keeps_each_crops_channels_and_its_siblings(pairs):
    """``channels=2``: every tensor gains a channel axis; each crop is the pair's own stereo
    audio at one offset, and its siblings are the same span of its song's other stems."""
    from stemprover.training.data import PairCrops

    data = PairCrops(pairs, "train", 16000, 0.5, mixture=True, siblings=True)
    clean, art, mix, sibs = data.song_batch(5, np.random.default_rng(4), channels=2)
    n = data.length
    assert clean.shape == art.shape == mix.shape == (5, 2, n)
    assert sibs.shape[0] == 5 and sibs.shape[2:] == (2, n)
    arts, cleans, mixes = (
        [np.asarray(a) for a in d] for d in (data.artifacted, data.clean, data.mixture)
    )
    for i in range(5):  # find where each crop came from: the same place in every stem
        k, start = next(
            (k, s)
            for k in range(len(data))
            for s in range(cleans[k].shape[-1] - n + 1)
            if np.array_equal(arts[k][:, s : s + n], art[i].numpy())
        )
        np.testing.assert_array_equal(clean[i].numpy(), cleans[k][:, start : start + n])
        np.testing.assert_array_equal(mix[i].numpy(), mixes[k][:, start : start + n])
        for j, o in enumerate(arts[m] for m in data.songs[k][1:]):
            np.testing.assert_array_equal(sibs[i, j].numpy(), o[:, start : start + n])


def test_song_crops_are_one_place_in_every_stem_of_a_song(pairs):
    """song_crops: all of a song's pairs cut at the same place, the pair drawn first; the
    clean stems add up to the mixture (pairs' mixtures are their exact sum)."""
    from stemprover.training.data import PairCrops

    crops = PairCrops(pairs, "train", 16000, 0.5, mixture=True, siblings=True)
    clean, art, mix = crops.song_crops(np.random.default_rng(3), channels=2)
    assert clean.shape == art.shape == (4, 2, 8000) and mix.shape == (2, 8000)
    assert np.allclose(clean.sum(0).numpy(), mix.numpy(), atol=1e-4)
    assert mix.abs().max() > 0
    with pytest.raises(StemProverError, match="siblings=True"):
        PairCrops(pairs, "train", 16000, 0.5).song_crops(np.random.default_rng(0))


def test_crops_are_read_from_disk_and_equal_to_crops_of_whole_arrays(pairs, monkeypatch):
    """A pairs folder's float WAVs stay on disk (nothing held in memory); the crops are the
    same samples as those of the files read whole."""
    from stemprover.audio import io
    from stemprover.training import data

    lazy = data.PairCrops(pairs, "train", 16000, 0.5, mixture=True, siblings=True)
    assert all(isinstance(a, io.FloatWav) for a in lazy.clean + lazy.artifacted + lazy.mixture)
    monkeypatch.setattr(data, "_samples", lambda path, rate: io.read(path)[0])
    whole = data.PairCrops(pairs, "train", 16000, 0.5, mixture=True, siblings=True)
    assert isinstance(whole.clean[0], np.ndarray)
    for channels in (None, 2):
        a = lazy.song_batch(6, np.random.default_rng(1), 0.5, 0.2, channels=channels)
        b = whole.song_batch(6, np.random.default_rng(1), 0.5, 0.2, channels=channels)
        for u, v in zip(a, b, strict=True):
            assert torch.equal(u, v)
    a, b = (d.song_crops(np.random.default_rng(2)) for d in (lazy, whole))
    for u, v in zip(a, b, strict=True):
        assert torch.equal(u, v)
