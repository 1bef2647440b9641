import json

import numpy as np
import pytest
import soundfile as sf

from stemprover.cli import main
from stemprover.data.artifacts import ARTIFACTS
from stemprover.data.manifest import read_manifest
from stemprover.data.separators import check_external
from stemprover.errors import StemProverError


def _pairs(out, *extra):
    args = ["pairs", "--out", str(out), "--rate", "16000", "-q", *extra]
    assert main(args) == 0
    return read_manifest(out)


def test_same_seed_gives_identical_bytes_other_seed_differs(tmp_path):
    a = _pairs(tmp_path / "a", "--synthetic", "2", "--seconds", "2", "--seed", "5")
    b = _pairs(tmp_path / "b", "--synthetic", "2", "--seconds", "2", "--seed", "5")
    c = _pairs(tmp_path / "c", "--synthetic", "2", "--seconds", "2", "--seed", "6")
    assert a == b and len(a) == 8
    for rel in [r[k] for r in a for k in ("clean", "artifacted", "mixture")]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    mix = "songs/{}/mixture.wav"
    assert not np.array_equal(
        sf.read(tmp_path / "a" / mix.format(a[0]["song"]))[0][:100],
        sf.read(tmp_path / "c" / mix.format(c[0]["song"]))[0][:100],
    )


def test_mixture_is_the_sum_and_every_artifact_type_appears(tmp_path):
    recs = _pairs(
        tmp_path / "p",
        "--synthetic",
        "6",
        "--seconds",
        "1.5",
        "--producer",
        "simulate",
        "--producer",
        "mask=0.5",
    )
    seen = {k for r in recs for k in r["artifacts"]}
    assert seen == set(ARTIFACTS)
    assert {r["producer"] for r in recs} == {"simulate", "mask"}
    song = tmp_path / "p" / "songs" / recs[0]["song"]
    stems = sum(sf.read(song / f"{s}.wav")[0] for s in ("vocals", "drums", "bass", "other"))
    np.testing.assert_allclose(sf.read(song / "mixture.wav")[0], stems, atol=1e-6)
    for r in recs:
        clean = sf.read(tmp_path / "p" / r["clean"])[0]
        art = sf.read(tmp_path / "p" / r["artifacted"])[0]
        assert clean.shape == art.shape == (24000, 2)
        assert not np.allclose(clean, art)


def test_artifact_filter_and_split(tmp_path):
    recs = _pairs(
        tmp_path / "p",
        "--synthetic",
        "1",
        "--seconds",
        "1",
        "--producer",
        "simulate",
        "--artifacts",
        "hf_loss",
        "--severity",
        "0.9,1.0",
        "--split",
        "test",
    )
    assert all(set(r["artifacts"]) == {"hf_loss"} and r["split"] == "test" for r in recs)
    assert all(0.9 <= r["artifacts"]["hf_loss"] <= 1.0 for r in recs)


def test_musdb_style_folder_is_ingested(tmp_path):
    rng = np.random.default_rng(0)
    for track in ("Artist - Song A", "Artist - Song B"):
        folder = tmp_path / "musdb" / "train" / track
        folder.mkdir(parents=True)
        total = 0
        for stem in ("vocals", "drums", "bass", "other"):
            x = 0.1 * rng.standard_normal((32000, 2))
            total = total + x
            sf.write(folder / f"{stem}.wav", x, 32000, subtype="FLOAT")
        sf.write(folder / "mixture.wav", total, 32000, subtype="FLOAT")
    recs = _pairs(tmp_path / "p", "--multitrack", str(tmp_path / "musdb"), "--seconds", "0.5")
    assert len(recs) == 8
    assert {r["source"] for r in recs} == {"multitrack:train"}
    assert {r["stem"] for r in recs} == {"vocals", "drums", "bass", "other"}
    # Songs whose names have the same length still get their own artifact draws.
    assert len({r["seed"] for r in recs if r["stem"] == "vocals"}) == 2
    clean = sf.read(tmp_path / "p" / recs[0]["clean"])
    assert clean[1] == 16000 and clean[0].shape == (8000, 2)


def test_existing_output_and_bad_options_fail_cleanly(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "keep.txt").write_text("x")
    assert main(["pairs", "--out", str(tmp_path / "p"), "--synthetic", "1", "-q"]) == 1
    assert (tmp_path / "p" / "keep.txt").exists()
    assert (
        main(
            ["pairs", "--out", str(tmp_path / "q"), "--synthetic", "1", "--producer", "magic", "-q"]
        )
        == 1
    )
    assert "unknown producers" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


def test_manifest_schema_rejects_bad_records(tmp_path):
    _pairs(tmp_path / "p", "--synthetic", "1", "--seconds", "1")
    path = tmp_path / "p" / "manifest.jsonl"
    rec = json.loads(path.read_text().splitlines()[0])
    rec["artifacts"] = {"bleed": 2.0}
    path.write_text(json.dumps(rec) + "\n")
    with pytest.raises(StemProverError, match="record 0"):
        read_manifest(tmp_path / "p")


def test_external_separator_without_install_is_a_clear_error():
    with pytest.raises(StemProverError, match=r"not installed|weights"):
        check_external("demucs")


@pytest.mark.parametrize("producer", ["mask", "umx"])
def test_instrumental_pairs_for_two_stem_separators(tmp_path, producer):
    """--instrumental adds each song's instrumental (mixture minus vocals) as a stem type."""
    import numpy as np
    import soundfile as sf

    out = tmp_path / "p"
    argv = ["pairs", "--out", str(out), "--synthetic", "1", "--seconds", "1.5", "--rate", "16000"]
    assert main([*argv, "--producer", producer, "--instrumental", "--seed", "4", "-q"]) == 0
    records = read_manifest(out)
    (inst,) = [r for r in records if r["stem"] == "instrumental"]
    song = out / "songs" / inst["song"]
    mixture, vocals = (sf.read(song / f"{n}.wav")[0] for n in ("mixture", "vocals"))
    np.testing.assert_allclose(sf.read(out / inst["clean"])[0], mixture - vocals, atol=1e-6)
    assert inst["producer"] == producer and (out / inst["artifacted"]).exists()
