"""Seeded random songs: multitrack MIDI with musical structure, rendered stem by stem.

A song has a tempo, key, mode, meter and swing; a chord progression looped over bars; a
bassline that follows the roots; comping (block chords, arpeggios or offbeat stabs); a lead
melody in the vocal role (chord tones on strong beats, scale steps between, phrases with
rests); and a drum pattern with a fill every fourth bar. Timing and velocity are humanised.
Each stem is rendered alone with FluidSynth and the mixture is the exact sum of the stems.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemprover.vocabulary import STEM_TYPES

STEMS = STEM_TYPES
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
# Progressions as scale degrees (0-based), the stock of pop, rock, jazz and ballads.
PROGRESSIONS = (
    (0, 4, 5, 3),
    (0, 5, 3, 4),
    (5, 3, 0, 4),
    (0, 3, 4, 4),
    (1, 4, 0, 0),
    (0, 3, 0, 4),
    (0, 6, 5, 4),
    (0, 2, 3, 4),
    (3, 4, 2, 5),
    (0, 4, 3, 3),
)
# General MIDI programs per role (0-based), chosen for sounds that fit the role.
PROGRAMS = {
    "vocals": (52, 53, 54, 85, 65, 66, 73, 71, 56, 40, 80, 81, 68),
    "bass": (32, 33, 34, 35, 36, 37, 38, 39, 43),
    "other": (0, 1, 2, 4, 5, 16, 17, 24, 25, 26, 27, 29, 48, 49, 50, 61, 88, 89),
}
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH, TOM_LOW, TOM_MID, TOM_HIGH, RIDE = (
    36,
    38,
    42,
    46,
    49,
    45,
    47,
    50,
    51,
)


def bundled_soundfont() -> Path:
    """TimGM6mb, shipped inside pretty_midi (the held-out SoundFont)."""
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def default_soundfont() -> Path:
    """Fluid R3 GM from Debian if installed (the training SoundFont), else TimGM6mb."""
    debian = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    return debian if debian.exists() else bundled_soundfont()


@dataclass(frozen=True)
class SongSpec:
    """The musical choices of one song, all drawn from its seed."""

    seed: int
    tempo: float
    key: int
    minor: bool
    beats_per_bar: int
    swing: float
    progression: tuple[int, ...]
    programs: dict
    comp_style: str


def draw_spec(seed: int) -> SongSpec:
    rng = np.random.default_rng(seed)
    return SongSpec(
        seed=seed,
        tempo=float(rng.uniform(72, 160)),
        key=int(rng.integers(12)),
        minor=bool(rng.random() < 0.4),
        beats_per_bar=int(rng.choice([4, 4, 4, 3])),
        swing=float(rng.choice([0.0, 0.0, 0.1, 0.2])),
        progression=PROGRESSIONS[rng.integers(len(PROGRESSIONS))],
        programs={role: int(rng.choice(p)) for role, p in PROGRAMS.items()},
        comp_style=str(rng.choice(["block", "arpeggio", "offbeat", "pad"])),
    )


class _Writer:
    """Collects humanised notes on a beat grid for one instrument."""

    def __init__(self, spec: SongSpec, rng: np.random.Generator, instrument) -> None:
        self.spec, self.rng, self.inst = spec, rng, instrument
        self.beat = 60.0 / spec.tempo

    def note(self, pitch: int, beat: float, beats: float, velocity: float) -> None:
        import pretty_midi

        # Swing delays off-beat eighths; humanise by ~8 ms and ~8 velocity steps.
        if abs(beat % 1 - 0.5) < 1e-6:
            beat += self.spec.swing
        start = max(0.0, beat * self.beat + self.rng.normal(0, 0.008))
        vel = int(np.clip(velocity + self.rng.normal(0, 8), 20, 127))
        end = start + max(0.05, beats * self.beat * 0.95)
        self.inst.notes.append(pretty_midi.Note(vel, int(pitch), start, end))


def _chord(spec: SongSpec, degree: int, octave: int) -> list[int]:
    scale = MINOR if spec.minor else MAJOR
    root = 12 * octave + spec.key
    return [root + scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]


def stem_instruments(programs: dict) -> dict:
    """One empty ``pretty_midi.Instrument`` per stem (GM ``programs`` by role; drums on the
    drum channel)."""
    import pretty_midi

    return {
        "vocals": pretty_midi.Instrument(programs["vocals"], name="vocals"),
        "drums": pretty_midi.Instrument(0, is_drum=True, name="drums"),
        "bass": pretty_midi.Instrument(programs["bass"], name="bass"),
        "other": pretty_midi.Instrument(programs["other"], name="other"),
    }


def compose(spec: SongSpec, seconds: float):
    """The song as a ``pretty_midi.PrettyMIDI`` with one instrument per stem, in STEMS order."""
    import pretty_midi

    rng = np.random.default_rng([spec.seed, 1])
    pm = pretty_midi.PrettyMIDI(initial_tempo=spec.tempo)
    insts = stem_instruments(spec.programs)
    w = {k: _Writer(spec, rng, v) for k, v in insts.items()}
    bpb = spec.beats_per_bar
    bars = int(np.ceil(seconds / (bpb * 60.0 / spec.tempo))) + 1
    scale = MINOR if spec.minor else MAJOR
    melody_pitch = 60 + spec.key + 12 * int(rng.integers(0, 2)) - 12 * (spec.key > 6)
    kick_patterns = ([0, 2], [0, 2.5], [0, 1.5, 2], [0, 0.75, 2, 2.5]) if bpb == 4 else ([0],)
    kick_pattern = kick_patterns[int(rng.integers(len(kick_patterns)))]
    hat_step = float(rng.choice([0.5, 0.5, 0.25, 1.0]))
    for bar in range(bars):
        b0 = bar * bpb
        degree = spec.progression[bar % len(spec.progression)]
        chord = _chord(spec, degree, 4)
        # Bass: root on the downbeat, then root/fifth/octave movement.
        root = 36 + spec.key + scale[degree]
        for beat in np.arange(0, bpb, float(rng.choice([1.0, 0.5, 2.0]))):
            pitch = root + int(rng.choice([0, 0, 0, 7, 12])) * (beat > 0)
            w["bass"].note(pitch, b0 + beat, 0.9, 95 if beat == 0 else 80)
        _comp(w["other"], spec, chord, b0, bpb, rng)
        # Lead: phrases of two bars, the second half of every fourth bar rests.
        if bar % 4 != 3 or rng.random() < 0.3:
            melody_pitch = _melody_bar(w["vocals"], spec, chord, b0, bpb, melody_pitch, rng)
        _drum_bar(w["drums"], b0, bpb, kick_pattern, hat_step, fill=bar % 4 == 3, rng=rng)
    pm.instruments.extend(insts[s] for s in STEMS)
    return pm


def _comp(w: _Writer, spec: SongSpec, chord: list[int], b0: float, bpb: int, rng) -> None:
    voicing = sorted(chord[int(rng.integers(3)) :] + [p + 12 for p in chord])[:4]
    if spec.comp_style == "pad":
        for p in voicing:
            w.note(p, b0, bpb, 70)
    elif spec.comp_style == "block":
        for beat in range(bpb):
            for p in voicing:
                w.note(p, b0 + beat, 0.8, 75 if beat == 0 else 62)
    elif spec.comp_style == "offbeat":
        for beat in range(bpb):
            for p in voicing:
                w.note(p, b0 + beat + 0.5, 0.35, 72)
    else:  # arpeggio in eighths
        for k, beat in enumerate(np.arange(0, bpb, 0.5)):
            w.note(voicing[k % len(voicing)], b0 + beat, 0.5, 68)


def _melody_bar(w: _Writer, spec: SongSpec, chord, b0, bpb, pitch, rng) -> int:
    scale = MINOR if spec.minor else MAJOR
    in_scale = [o * 12 + spec.key + s for o in range(3, 8) for s in scale]
    beat = 0.0
    while beat < bpb:
        dur = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
        if rng.random() < 0.15:  # a breath
            beat += dur
            continue
        if beat % 1 == 0:  # chord tone on beats, nearest to where the line is
            targets = [c + 12 * o for c in chord for o in (-1, 0, 1)]
            pitch = min(targets, key=lambda t: abs(t - pitch) + rng.random() * 3)
        else:  # step through the scale
            i = int(np.argmin([abs(p - pitch) for p in in_scale]))
            pitch = in_scale[int(np.clip(i + rng.choice([-2, -1, 1, 2]), 0, len(in_scale) - 1))]
        pitch = int(np.clip(pitch, 55, 84))
        w.note(pitch, b0 + beat, min(dur, bpb - beat), 100 if beat == 0 else 88)
        beat += dur
    return pitch


def _drum_bar(w: _Writer, b0, bpb, kicks, hat_step, fill, rng) -> None:
    if b0 == 0 or (fill and rng.random() < 0.3):
        w.note(CRASH, b0, 1, 100)
    for beat in np.arange(0, bpb, hat_step):
        w.note(
            CLOSED_HAT if rng.random() > 0.1 else OPEN_HAT, b0 + beat, 0.25, 70 if beat % 1 else 85
        )
    for k in kicks:
        w.note(KICK, b0 + float(k), 0.5, 110)
    backbeats = [1, 3] if bpb == 4 else [1, 2]
    last = bpb - 1 if fill else bpb
    for k in backbeats:
        if k < last:
            w.note(SNARE, b0 + k, 0.5, 105)
    if fill:  # sixteenth-note tom/snare run on the last beat
        for i, drum in enumerate(rng.choice([SNARE, TOM_HIGH, TOM_MID, TOM_LOW], size=4)):
            w.note(int(drum), b0 + bpb - 1 + 0.25 * i, 0.25, 90 + 5 * i)


def render(pm, seconds: float, rate: int, soundfont: str | os.PathLike) -> dict[str, np.ndarray]:
    """Render each instrument alone. Returns ``{stem: (T,) float64}``, peak-normalised."""
    length = round(seconds * rate)
    stems = {}
    for inst in pm.instruments:
        audio = inst.fluidsynth(fs=rate, sf2_path=str(soundfont))  # (T',) mono
        audio = np.pad(audio, (0, max(0, length - len(audio))))[:length]
        stems[inst.name] = audio / max(np.abs(audio).max(), 1e-9)
    return stems
