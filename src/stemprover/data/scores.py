"""Human-composed songs: scores from the music21 corpus, arranged onto the four stems.

The synthetic songs (:mod:`stemprover.data.synth`) have pop structure but a machine's voice
leading. The corpus that ships with ``music21`` (Bach chorales, Haydn, Mozart and Beethoven
quartets, madrigals, folk tunes) has real harmony, counterpoint and phrasing. A score with three
or more parts becomes a song: its top part is the lead (``vocals``), its lowest the ``bass``
(an octave down when it sits high), the parts between are ``other``; the ``drums`` are the
synthetic generator's patterns in the score's metre. An excerpt of the requested length starts
on a random bar, at a tempo drawn per song; timing and velocity are humanised as in
:mod:`synth`, and every stem is rendered alone with FluidSynth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemprover.data import synth

# Composers whose corpus works are multi-part (songs need a lead, a bass and a middle).
COMPOSERS = ("bach", "haydn", "mozart", "beethoven", "monteverdi", "palestrina", "schumann")


def corpus_paths(composers: tuple[str, ...] = COMPOSERS) -> dict[str, list[Path]]:
    """Score files of the music21 corpus per composer, sorted (stable across runs)."""
    from music21 import corpus

    return {
        name: sorted({Path(p) for p in corpus.getComposer(name)})
        for name in composers
        if corpus.getComposer(name)
    }


def draw_paths(seed: int, composers: tuple[str, ...] = COMPOSERS) -> list[Path]:
    """Every corpus score once, in a seeded order that takes the composers in turn (Palestrina's
    1,300 masses would otherwise be most of the songs)."""
    rng = np.random.default_rng([seed, 7])
    queues = [list(rng.permutation(paths)) for paths in corpus_paths(composers).values()]
    order = []
    while any(queues):
        for q in queues:
            if q:
                order.append(Path(q.pop()))
    return order


def _part_notes(part) -> list[tuple[float, float, list[int]]]:
    """``(offset, quarter length, MIDI pitches)`` of a part's notes and chords, in quarters."""
    notes = []
    for n in part.flatten().notes:
        if n.duration.isGrace or n.quarterLength <= 0:
            continue
        notes.append((float(n.offset), float(n.quarterLength), [p.midi for p in n.pitches]))
    return notes


def arrange(path: Path, seed: int, seconds: float):
    """The score at ``path`` as a four-stem ``pretty_midi.PrettyMIDI`` excerpt (STEMS order).

    Returns ``None`` for a score that cannot make a song: fewer than three parts with notes,
    or shorter than ``seconds`` at the drawn tempo.
    """
    import pretty_midi
    from music21 import converter

    try:
        score = converter.parse(str(path))
    except Exception:  # a corpus file music21 cannot read is skipped
        return None
    parts = [notes for notes in map(_part_notes, score.parts) if notes]
    if len(parts) < 3:
        return None
    rng = np.random.default_rng([seed, 1])
    signatures = list(score.recurse().getElementsByClass("TimeSignature"))
    bar = float(signatures[0].barDuration.quarterLength) if signatures else 4.0
    spec = synth.SongSpec(
        seed=seed,
        tempo=float(rng.uniform(66, 132)),
        key=0,
        minor=False,
        beats_per_bar=max(2, round(bar)),
        swing=0.0,
        progression=(0,),
        programs={role: int(rng.choice(p)) for role, p in synth.PROGRAMS.items()},
        comp_style="score",
    )
    span = seconds * spec.tempo / 60.0  # the excerpt, in quarters
    end = max(offset + length for notes in parts for offset, length, _ in notes)
    if end < span:
        return None
    start = bar * int(rng.integers(0, int((end - span) // bar) + 1))
    # Parts by mean pitch: the highest is the lead, the lowest the bass.
    parts.sort(key=lambda notes: -np.mean([np.mean(p) for _, _, p in notes]))
    roles = {"vocals": parts[:1], "bass": parts[-1:], "other": parts[1:-1]}
    pm = pretty_midi.PrettyMIDI(initial_tempo=spec.tempo)
    insts = synth.stem_instruments(spec.programs)
    writers = {k: synth._Writer(spec, rng, v) for k, v in insts.items()}
    for role, group in roles.items():
        low = np.mean([np.mean(p) for _, _, p in group[0]])
        shift = -12 if role == "bass" and low > 50 else 0
        velocity = 96 if role == "vocals" else 78
        for notes in group:
            for offset, length, pitches in notes:
                beat = offset - start
                if 0 <= beat < span:
                    for pitch in pitches:
                        writers[role].note(pitch + shift, beat, min(length, span - beat), velocity)
    kick_patterns = ([0, 2], [0, 2.5], [0, 1.5, 2]) if spec.beats_per_bar == 4 else ([0],)
    kicks = kick_patterns[int(rng.integers(len(kick_patterns)))]
    hat_step = float(rng.choice([0.5, 1.0]))
    for k in range(int(np.ceil(span / spec.beats_per_bar))):
        synth._drum_bar(
            writers["drums"], k * spec.beats_per_bar, spec.beats_per_bar, kicks, hat_step,
            fill=k % 4 == 3, rng=rng,
        )  # fmt: skip
    if not insts["vocals"].notes or not insts["bass"].notes:
        return None  # the lead or the bass rests through the whole excerpt
    pm.instruments.extend(insts[s] for s in synth.STEMS)
    return pm
