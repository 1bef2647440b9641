"""Training pairs: (clean stem, artifacted stem, mixture) triplets with a manifest.

Layout of a pairs folder::

    dataset.json                 how it was made (arguments, soundfont, version)
    manifest.jsonl               one record per pair (schema: manifest.schema.json)
    songs/<song>/<stem>.wav      clean stems, float32, stereo
    songs/<song>/mixture.wav     the exact sum of the clean stems
    artifacted/<pair id>.wav     the artifacted stem

The folder is built beside its destination and renamed into place, so an interrupted run
leaves nothing half-written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stemprover.audio import io
from stemprover.data import synth
from stemprover.data.artifacts import ARTIFACTS, simulate
from stemprover.data.manifest import write_schema
from stemprover.data.mixing import mix_song
from stemprover.data.multitrack import Song, load_multitrack, track_folders
from stemprover.data.separators import MaskDegradation, mask_separate
from stemprover.errors import StemProverError
from stemprover.version import __version__
from stemprover.vocabulary import INSTRUMENTAL, PRODUCERS, SPLITS

SILENT_DB = -60.0


@dataclass(frozen=True)
class PairsConfig:
    """What ``stemprover pairs`` builds.

    Attributes:
        synthetic: Number of synthetic songs.
        scores: Number of songs arranged from human-composed scores of the music21 corpus
            (:mod:`stemprover.data.scores`).
        seconds: Song (or excerpt) length.
        multitrack: A folder of real multitracks to add.
        producers: ``{producer: weight}``.
        artifacts: Artifact types ``simulate`` may use.
        severity: Range severities are drawn from.
        seed: Seeds everything.
        soundfont: SoundFont for synthetic and score songs, or several taken in turn song by
            song (``None``: the default).
        rate: Sample rate of the pairs.
        split: Put every song in this split instead of the 80/10/10 rule.
        separator: Folder of a trained ``umx`` separator (``None``: the bundled one).
        instrumental: Also make a pair of each song's instrumental (all but the vocals), as
            two-stem separators give it.
        effects: Share of the stems of rendered songs that get a production chain (compressor,
            reverb, chorus: :func:`stemprover.data.mixing.production_chain`).
    """

    synthetic: int = 0
    scores: int = 0
    seconds: float = 10.0
    multitrack: Path | None = None
    producers: dict[str, float] = field(default_factory=lambda: {"simulate": 1.0, "mask": 1.0})
    artifacts: tuple[str, ...] = ARTIFACTS
    severity: tuple[float, float] = (0.1, 1.0)
    seed: int = 0
    soundfont: Path | tuple[Path, ...] | None = None
    rate: int = 44100
    split: str | None = None
    separator: Path | None = None
    instrumental: bool = False
    effects: float = 0.0

    def __post_init__(self) -> None:
        bad = set(self.producers) - set(PRODUCERS)
        if bad:
            hint = ""
            if "external" in bad:
                hint = " (external separators cannot make pairs yet: separate the songs yourself"
                hint += " and use --multitrack)"
            raise StemProverError(
                f"unknown producers {sorted(bad)}; choose from {list(PRODUCERS)}{hint}"
            )
        bad = set(self.artifacts) - set(ARTIFACTS)
        if bad:
            raise StemProverError(f"unknown artifact types {sorted(bad)}; known: {list(ARTIFACTS)}")
        lo, hi = self.severity
        if not 0 <= lo <= hi <= 1:
            raise StemProverError(f"severity range must satisfy 0 <= lo <= hi <= 1, got {lo}, {hi}")
        if self.split not in (None, *SPLITS):
            raise StemProverError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if not 0 <= self.effects <= 1:
            raise StemProverError(f"effects is a share of stems in [0, 1], got {self.effects}")
        if self.synthetic <= 0 and self.scores <= 0 and self.multitrack is None:
            raise StemProverError(
                "nothing to build: give --synthetic N, --scores N and/or --multitrack DIR"
            )


def split_of(index: int, fixed: str | None) -> str:
    """80/10/10 by song position: every tenth song is test, every ninth of ten valid."""
    if fixed:
        return fixed
    return {8: "valid", 9: "test"}.get(index % 10, "train")


def soundfonts(cfg: PairsConfig) -> list[Path]:
    """The SoundFonts songs are rendered with, taken in turn; each must exist."""
    given = cfg.soundfont
    fonts = [Path(f) for f in given] if isinstance(given, tuple | list) else [given]
    fonts = [Path(f or synth.default_soundfont()) for f in fonts] or [synth.default_soundfont()]
    for font in fonts:
        if not font.exists():
            raise StemProverError("SoundFont not found", font)
    return fonts


def _mix(cfg: PairsConfig, mono: dict, song_seed: int) -> dict:
    stems, _ = mix_song(
        mono,
        cfg.rate,
        np.random.default_rng([song_seed, 2]),
        effects=cfg.effects,
        fx_rng=np.random.default_rng([song_seed, 4]),
    )
    return stems


def _synthetic_songs(cfg: PairsConfig) -> Iterator[Song]:
    fonts = soundfonts(cfg)
    for i in range(cfg.synthetic):
        soundfont = fonts[i % len(fonts)]
        song_seed = int(np.random.SeedSequence([cfg.seed, i]).generate_state(1)[0])
        spec = synth.draw_spec(song_seed)
        mono = synth.render(synth.compose(spec, cfg.seconds), cfg.seconds, cfg.rate, soundfont)
        stems = _mix(cfg, mono, song_seed)
        yield Song(f"syn{cfg.seed}-{i:04d}", stems, None, f"synthetic:{soundfont.name}", song_seed)


def _score_songs(cfg: PairsConfig) -> Iterator[Song]:
    """``cfg.scores`` songs from the music21 corpus, composers in turn (unusable scores are
    skipped: too few parts, or shorter than the excerpt)."""
    from stemprover.data import scores

    fonts = soundfonts(cfg)
    made = 0
    for path in scores.draw_paths(cfg.seed):
        if made == cfg.scores:
            return
        song_seed = int(np.random.SeedSequence([cfg.seed, 1_000_000 + made]).generate_state(1)[0])
        pm = scores.arrange(path, song_seed, cfg.seconds)
        if pm is None:
            continue
        soundfont = fonts[made % len(fonts)]
        mono = synth.render(pm, cfg.seconds, cfg.rate, soundfont)
        source = f"music21:{path.parent.name}/{path.name}:{soundfont.name}"
        yield Song(f"m21{cfg.seed}-{made:04d}", _mix(cfg, mono, song_seed), None, source, song_seed)
        made += 1
    raise StemProverError(f"the music21 corpus gave {made} usable scores, not {cfg.scores}")


def _simulate(cfg: PairsConfig, stem: str, clean, mixture, seed: int, rng, separated):
    count = min(len(cfg.artifacts), int(rng.choice([1, 1, 1, 2, 2, 3])))
    kinds = rng.choice(len(cfg.artifacts), size=count, replace=False)
    sev = {cfg.artifacts[k]: round(float(rng.uniform(*cfg.severity)), 4) for k in sorted(kinds)}
    return sev, simulate(clean, mixture - clean, cfg.rate, sev, seed)


def _mask(cfg: PairsConfig, stem: str, clean, mixture, seed: int, rng, separated):
    deg = MaskDegradation.draw(rng)
    return deg.artifacts(), mask_separate(clean, mixture, cfg.rate, deg, seed)


def _umx(cfg: PairsConfig, stem: str, clean, mixture, seed: int, rng, separated):
    from stemprover.data.umx import measured_artifacts

    separator, stems = separated()
    if stem == INSTRUMENTAL:  # a four-stem separator's instrumental: all but its vocals
        est = sum(v for k, v in stems.items() if k != "vocals")
    elif stem in stems:
        est = stems[stem]
    else:
        raise StemProverError(f"the umx separator has no {stem!r} stem")
    return measured_artifacts(clean, est, mixture, cfg.rate, separator.cfg), est


# Each producer: (cfg, stem, clean, mixture, seed, rng, separated) -> (artifacts, artifacted).
PRODUCER_FUNCTIONS = {"simulate": _simulate, "mask": _mask, "umx": _umx}
assert tuple(PRODUCER_FUNCTIONS) == PRODUCERS, "vocabulary.PRODUCERS names these"


def _produce(
    cfg: PairsConfig, stem: str, clean: np.ndarray, mixture: np.ndarray, seed: int, separated
) -> tuple[str, dict[str, float], np.ndarray]:
    """Draw a producer and make the artifacted stem; ``separated()`` gives the umx stems."""
    rng = np.random.default_rng([seed, 3])
    names = list(cfg.producers)
    weights = np.array([cfg.producers[n] for n in names], dtype=float)
    producer = names[rng.choice(len(names), p=weights / weights.sum())]
    artifacts, artifacted = PRODUCER_FUNCTIONS[producer](
        cfg, stem, clean, mixture, seed, rng, separated
    )
    return producer, artifacts, artifacted


def build_pairs(
    cfg: PairsConfig, out: Path, overwrite: bool = False, progress: bool = True
) -> Path:
    """Build a pairs folder at ``out``; returns the manifest path."""
    songs: list = []
    if cfg.synthetic or cfg.scores:
        soundfonts(cfg)  # a missing SoundFont fails before anything is written
    if cfg.synthetic:
        songs.append(_synthetic_songs(cfg))
    if cfg.scores:
        songs.append(_score_songs(cfg))
    tracks = track_folders(cfg.multitrack) if cfg.multitrack is not None else []
    if tracks:
        songs.append(load_multitrack(tracks, cfg.rate, cfg.seconds, cfg.seed))
    total = cfg.synthetic + cfg.scores + len(tracks)
    records = []
    with io.atomic_dir(out, overwrite) as staging:
        (staging / "artifacted").mkdir()
        bar = tqdm(total=total, desc="pairs", unit="song", disable=not progress)
        index = 0
        for source in songs:
            for song in source:
                records += _write_song(cfg, song, staging, split_of(index, cfg.split))
                index += 1
                bar.update()
        bar.close()
        if not records:
            raise StemProverError("no pairs were made (every stem silent?)", out)
        with open(staging / "manifest.jsonl", "w") as f:
            f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in records)
        info = {"stemprover": __version__, "config": _jsonable(cfg), "pairs": len(records)}
        (staging / "dataset.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        write_schema(staging)
    return out / "manifest.jsonl"


def _write_song(cfg: PairsConfig, song: Song, root: Path, split: str) -> list[dict]:
    song_dir = root / "songs" / song.name
    stems = {k: v.astype(np.float32) for k, v in song.stems.items()}
    # Sum the stored (float32) stems: the mixture file is their exact sum to float32 rounding.
    mixture = (
        song.mixture
        if song.mixture is not None
        else sum(s.astype(np.float64) for s in stems.values())
    )
    io.write(song_dir / "mixture.wav", mixture, cfg.rate, "FLOAT")
    records = []
    cache = {}

    def separated():  # the umx separator runs once per song, for all its stems
        if not cache:
            separator = _separator(cfg.separator)
            cache["out"] = separator, separator.separate(np.asarray(mixture, np.float64), cfg.rate)
        return cache["out"]

    if cfg.instrumental and "vocals" in stems:  # the two-stem split: vocals and all the rest
        stems[INSTRUMENTAL] = (mixture - stems["vocals"]).astype(np.float32)
    for stem, clean in stems.items():
        io.write(song_dir / f"{stem}.wav", clean, cfg.rate, "FLOAT")
        level = 20 * np.log10(np.sqrt(np.mean(clean.astype(np.float64) ** 2)) + 1e-12)
        if level < SILENT_DB:
            continue
        seed = int(
            np.random.SeedSequence(
                [song.seed, synth.STEMS.index(stem) if stem in synth.STEMS else 9]
            ).generate_state(1)[0]
        )
        producer, artifacts, artifacted = _produce(
            cfg, stem, clean, np.asarray(mixture, np.float64), seed, separated
        )
        pair_id = f"{song.name}-{stem}-{producer}"
        io.write(root / "artifacted" / f"{pair_id}.wav", artifacted, cfg.rate, "FLOAT")
        records.append(
            {
                "id": pair_id,
                "split": split,
                "song": song.name,
                "stem": stem,
                "source": song.source,
                "producer": producer,
                "artifacts": artifacts,
                "seed": seed,
                "sample_rate": cfg.rate,
                "duration": round(clean.shape[-1] / cfg.rate, 6),
                "level_db": round(float(level), 2),
                "clean": f"songs/{song.name}/{stem}.wav",
                "artifacted": f"artifacted/{pair_id}.wav",
                "mixture": f"songs/{song.name}/mixture.wav",
            }
        )
    return records


def _jsonable(cfg: PairsConfig) -> dict:
    out = {}
    for k, v in cfg.__dict__.items():
        if isinstance(v, tuple):
            v = [str(x) if isinstance(x, Path) else x for x in v]
        out[k] = str(v) if isinstance(v, Path) else v
    return out


_SEPARATORS: dict = {}


def _separator(folder: Path | None):
    """The umx separator at ``folder`` (``None``: bundled), loaded once per process."""
    from stemprover.models.separator import UmxSeparator

    key = str(folder)
    if key not in _SEPARATORS:
        _SEPARATORS[key] = UmxSeparator.load(folder)
    return _SEPARATORS[key]
