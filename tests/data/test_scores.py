"""Songs from human-composed scores, several SoundFonts, production effects."""

import numpy as np
import pytest
import soundfile as sf

from stemprover.cli import main
from stemprover.data import scores, synth
from stemprover.data.manifest import read_manifest
from stemprover.data.mixing import mix_song


def _chorale():
    return next(p for p in scores.corpus_paths(("bach",))["bach"] if p.name == "bwv269.mxl")


def test_a_chorale_becomes_four_stems_lead_on_top_bass_below():
    pm = scores.arrange(_chorale(), seed=3, seconds=4.0)
    assert [i.name for i in pm.instruments] == list(synth.STEMS)
    notes = {i.name: i.notes for i in pm.instruments}
    assert all(notes[s] for s in synth.STEMS)
    assert pm.instruments[1].is_drum
    mean = {s: np.mean([n.pitch for n in notes[s]]) for s in ("vocals", "bass", "other")}
    assert mean["vocals"] > mean["other"] > mean["bass"]
    assert max(n.end for s in synth.STEMS for n in notes[s]) < 4.2
    # A longer excerpt than the piece cannot be made; another seed starts elsewhere.
    assert scores.arrange(_chorale(), seed=3, seconds=600.0) is None
    other = scores.arrange(_chorale(), seed=4, seconds=4.0)
    assert [n.pitch for n in other.instruments[0].notes] != [n.pitch for n in notes["vocals"]]


def test_composers_are_taken_in_turn():
    bach = set(scores.corpus_paths(("bach",))["bach"])
    order = scores.draw_paths(0, ("bach", "mozart"))
    assert len(set(order)) == len(order) > 100
    assert [p in bach for p in order[:6]] == [True, False] * 3
    assert (
        order
        == scores.draw_paths(0, ("bach", "mozart"))
        != scores.draw_paths(1, ("bach", "mozart"))
    )


def test_effects_change_the_stems_but_the_mixture_stays_their_sum():
    rng = np.random.default_rng(0)
    mono = {s: rng.standard_normal(16000) * 0.1 for s in synth.STEMS}
    dry, _ = mix_song(mono, 16000, np.random.default_rng(1))
    same, _ = mix_song(mono, 16000, np.random.default_rng(1), effects=0.0)
    wet, wet_mix = mix_song(
        mono, 16000, np.random.default_rng(1), effects=1.0, fx_rng=np.random.default_rng(2)
    )
    for s in synth.STEMS:
        np.testing.assert_array_equal(dry[s], same[s])
        assert wet[s].shape == dry[s].shape == (2, 16000)
        assert not np.allclose(wet[s], dry[s], atol=1e-3)
    np.testing.assert_allclose(wet_mix, sum(wet.values()), atol=1e-12)
    assert np.abs(wet_mix).max() == pytest.approx(10 ** (-1 / 20))


def test_score_songs_with_two_soundfonts_in_turn(tmp_path):
    font = synth.bundled_soundfont()
    copy = tmp_path / "Copy.sf2"
    copy.write_bytes(font.read_bytes())
    out = tmp_path / "p"
    args = ["pairs", "--out", str(out), "--scores", "2", "--synthetic", "1", "--seconds", "2"]
    args += ["--soundfont", str(font), "--soundfont", str(copy), "--effects", "0.5"]
    assert main([*args, "--rate", "16000", "--producer", "mask", "-q"]) == 0
    recs = read_manifest(out)
    sources = {r["song"]: r["source"] for r in recs}
    assert [s.rsplit(":", 1)[1] for s in sources.values() if s.startswith("music21:")] == [
        "TimGM6mb.sf2",
        "Copy.sf2",
    ]
    assert any(s.startswith("synthetic:") for s in sources.values())
    song = out / "songs" / recs[0]["song"]
    stems = sum(sf.read(song / f"{s}.wav")[0] for s in synth.STEMS)
    np.testing.assert_allclose(sf.read(song / "mixture.wav")[0], stems, atol=1e-6)


def test_bad_score_options_are_clear_errors(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["pairs", "--out", str(out), "--scores", "1", "--soundfont", "nope.sf2"]) == 1
    assert "SoundFont not found" in capsys.readouterr().err
    assert main(["pairs", "--out", str(out), "--scores", "1", "--effects", "2"]) == 1
    assert "effects is a share" in capsys.readouterr().err
    assert not out.exists()
