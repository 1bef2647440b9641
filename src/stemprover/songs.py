"""Song mode: find each stem's song and mixture, and where its output goes.

The rules, in order, for each folder of audio files (a song):

1. ``--mix FILE`` is the mixture of every input (one song).
2. A file named ``mixture.*`` or ``mix.*`` in the folder (MUSDB style) is its mixture.
3. Files named ``SONG_(Stem).*`` (UVR, audio-separator) form the song ``SONG``; a file
   ``SONG.*`` beside them is its mixture.
4. ``--mix-dir DIR``: the mixture of song folder ``NAME`` (demucs writes
   ``separated/<model>/NAME/``) is ``DIR/NAME.*``.

Mixtures are never enhanced as stems, and earlier outputs (``*.enhanced.*``) are skipped.
Only the standard library and soundfile: this runs, and refuses bad requests, before the
model loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from stemprover import outputs
from stemprover.audio import io
from stemprover.errors import StemProverError
from stemprover.vocabulary import OUTPUT_FORMATS as FORMATS
from stemprover.vocabulary import named_stem_type

UVR_NAME = re.compile(r"^(?P<song>.+?)_\((?P<stem>[^)]+)\)")
MIXTURE_NAMES = ("mixture", "mix")
TEMPLATE_FIELDS = ("song", "stem", "type", "ext")


@dataclass
class Job:
    """One stem to enhance."""

    src: Path
    dst: Path
    song: str
    stem_type: str | None
    mix: Path | None = None
    siblings: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class WriteOptions:
    """How outputs are written.

    Attributes:
        subtype: Sample format (``None``: the input's, or the format's default).
        overwrite: Replace existing outputs (never inputs).
        clip_mode: Samples over full scale: ``clamp`` them, ``rescale`` the file, or ``none``.
        consistent: Make each song's outputs sum to its mixture.
    """

    subtype: str | None = None
    overwrite: bool = False
    clip_mode: str = "clamp"
    consistent: bool = False


def is_earlier_output(path: Path, root: Path | None = None) -> bool:
    """What an earlier run wrote by default: ``x.enhanced.wav`` beside its input, or a
    ``d_enhanced`` folder below ``root`` (the folder given; a root so named is the user's
    choice)."""
    if ".enhanced" in path.name:
        return True
    inside = path.relative_to(root).parts if root is not None else ()
    return any(part.endswith("_enhanced") for part in inside)


def _is_mixture_name(path: Path) -> bool:
    return path.stem.lower() in MIXTURE_NAMES or path.stem.lower().startswith("mixture")


def _songs_in(folder: Path) -> list[tuple[str, Path, list[Path], Path | None]]:
    """``(song, folder, stems, mixture)`` for each song among a folder's own files."""
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and io.is_audio_path(p) and not p.name.startswith(".")
    )
    files = [p for p in files if not is_earlier_output(p)]
    mixture = next((p for p in files if _is_mixture_name(p)), None)
    uvr: dict[str, list[Path]] = {}
    plain = []
    for p in files:
        m = UVR_NAME.match(p.stem)
        (uvr.setdefault(m["song"], []) if m else plain).append(p)
    songs = []
    by_name = {p.stem: p for p in files}
    for song, stems in uvr.items():
        songs.append((song, folder, stems, by_name.get(song) or mixture))
    used = {s[3] for s in songs if s[3] is not None} | ({mixture} if mixture else set())
    rest = [p for p in plain if p not in used]
    if rest:
        songs.append((folder.name, folder, rest, mixture))
    return songs


def _mix_in(folder: Path, song: str) -> Path | None:
    hits = sorted(p for p in folder.glob(f"{glob_escape(song)}.*") if io.is_audio_path(p))
    return hits[0] if hits else None


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def plan(
    inputs: list[Path],
    output: Path | None = None,
    mix: Path | None = None,
    mix_dir: Path | None = None,
    template: str | None = None,
    fmt: str | None = None,
) -> list[Job]:
    """Every stem to enhance, with its song, stem type, mixture, siblings and output.

    Without ``output`` a file ``x.wav`` goes to ``x.enhanced.wav`` beside it and a folder
    ``d`` to ``d_enhanced``; with it, a folder that mirrors the inputs' relative names (or a
    file, for one input file). ``template`` (``{song}/{stem}.{ext}``) names outputs inside
    the output folder instead; ``fmt`` changes their format.

    Raises:
        StemProverError: a missing input, no audio found, a bad template or format, an output
            inside an input folder or replacing an input, or two stems that would write one file.
    """
    if fmt is not None and fmt not in FORMATS:
        raise StemProverError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    _check_template(template)
    if mix_dir is not None and not mix_dir.is_dir():
        raise StemProverError("--mix-dir is not a folder", mix_dir)
    _check_output(inputs, output)
    jobs: list[Job] = []
    for src in inputs:
        if not src.exists():
            # reported per file, so that the others still run
            jobs.append(Job(src, (output or src.parent) / src.name, src.stem, None, mix))
            continue
        base, found = _found(src)
        for song, _folder, stems, mixture in found:
            mixture = mix or mixture or (_mix_in(mix_dir, song) if mix_dir else None)
            for stem in stems:
                dst = _destination(src, stem, base, output, len(inputs), song, template)
                jobs.append(Job(stem, dst, song, named_stem_type(stem.stem), mixture, []))
    if not jobs:
        raise StemProverError("no audio files found in the given inputs")
    _set_siblings(jobs)
    if fmt:
        jobs = [_with_format(j, fmt) for j in jobs]
    return _checked(jobs)


def _found(src: Path) -> tuple[Path, list]:
    if src.is_dir():
        folders = [src, *sorted(p for p in src.rglob("*") if p.is_dir())]
        folders = [f for f in folders if not is_earlier_output(f, src)]
        return src, [song for f in folders for song in _songs_in(f)]
    m = UVR_NAME.match(src.stem)
    return src.parent, [(m["song"] if m else src.parent.name, src.parent, [src], None)]


def _destination(src, stem, base, output, count, song, template) -> Path:
    if template is not None:
        root = (
            output
            if output is not None
            else (base.with_name(base.name + "_enhanced") if src.is_dir() else src.parent)
        )
        name = template.format(
            song=song,
            stem=stem.stem,
            type=named_stem_type(stem.stem) or "unknown",
            ext=stem.suffix.lstrip("."),
        )
        return root / name
    if src.is_dir():
        dest = output if output is not None else src.with_name(src.name + "_enhanced")
        if count > 1 and output is not None:
            dest = output / src.name
        if _is_within(dest, src):
            raise StemProverError(
                f"output folder {dest} is inside the input folder (choose another -o)", src
            )
        return dest / stem.relative_to(src)
    if output is None:
        return src.with_name(f"{src.stem}.enhanced{src.suffix}")
    if count == 1 and io.is_audio_path(output) and not output.is_dir():
        return output
    return output / src.name


def _check_template(template: str | None) -> None:
    if template is None:
        return
    try:
        template.format(**dict.fromkeys(TEMPLATE_FIELDS, "x"))
    except (KeyError, IndexError, ValueError) as err:
        raise StemProverError(
            f"--filename {template!r}: use the fields {{song}}, {{stem}}, {{type}}, {{ext}} ({err})"
        ) from None
    if template.startswith("/") or ".." in Path(template).parts:
        raise StemProverError(f"--filename {template!r} must stay inside the output folder")


def _check_output(inputs: list[Path], output: Path | None) -> None:
    single_file = len(inputs) == 1 and not inputs[0].is_dir()
    if output is not None and output.suffix and not output.is_dir():
        if not single_file:
            raise StemProverError(
                f"-o names a file ({output.name}) but the inputs hold several files: give a folder",
                output,
            )
        if not io.is_audio_path(output):
            raise StemProverError(
                f"cannot write audio with suffix {output.suffix!r} "
                f"(use one of {', '.join(io.AUDIO_SUFFIXES)})",
                output,
            )


def _set_siblings(jobs: list[Job]) -> None:
    by_song: dict[tuple[str, Path], list[Job]] = {}
    for j in jobs:
        by_song.setdefault((j.song, j.src.parent), []).append(j)
    for group in by_song.values():
        for j in group:
            j.siblings = [o.src for o in group if o is not j]


def _with_format(job: Job, fmt: str) -> Job:
    suffix = {"aiff": ".aiff"}.get(fmt, f".{fmt}")
    job.dst = job.dst.with_suffix(suffix)
    return job


def _checked(jobs: list[Job]) -> list[Job]:
    seen: dict[Path, Path] = {}
    for j in jobs:
        if not j.src.exists():
            continue
        key = j.dst.resolve()
        if key == j.src.resolve():
            raise StemProverError("output would replace the input file", j.src)
        outputs.check_destination(j.dst)
        if key in seen:
            raise StemProverError(f"{seen[key]} and {j.src} would both write {j.dst}")
        seen[key] = j.src
    return jobs


def _is_within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def preflight(jobs: list[Job], min_frames: int = 1) -> list[tuple[Job, str | None]]:
    """Check every stem and mixture before any model loads: each job with the one-line error
    that stops it (``None``: ready). Needs no torch.
    """
    from stemprover.audio.conform import check_mixture

    checked: dict[Path, io.AudioInfo | StemProverError] = {}

    def probe(path: Path):
        if path not in checked:
            try:
                checked[path] = io.probe(path)
            except StemProverError as err:
                checked[path] = err
        return checked[path]

    out = []
    for job in jobs:
        info = probe(job.src)
        error = None
        if isinstance(info, StemProverError):
            error = info.message if info.path in (None, str(job.src)) else str(info)
        elif info.frames < min_frames:
            error = f"file is shorter than one STFT frame ({info.frames} < {min_frames} samples)"
        elif job.mix is not None:
            mix = probe(job.mix)
            try:
                if isinstance(mix, StemProverError):
                    raise mix
                check_mixture(info, mix)
            except StemProverError as err:
                error = str(err)
        out.append((job, error))
    return out


def check_stem(stem: str | None) -> None:
    from stemprover.vocabulary import SEPARATED_STEMS

    if stem not in (None, "auto", *SEPARATED_STEMS):
        raise StemProverError(
            f"unknown stem type {stem!r} (choose auto, {', '.join(SEPARATED_STEMS)})"
        )


def prepare(
    inputs: list[Path],
    output: Path | None = None,
    mix: Path | None = None,
    mix_dir: Path | None = None,
    template: str | None = None,
    fmt: str | None = None,
    stem: str | None = "auto",
) -> tuple[list[Job], dict[int, str]]:
    """:func:`plan` and :func:`preflight` together, inputs protected while planning: the
    jobs, and the one-line error of each job that cannot run (by index)."""
    check_stem(stem)
    with outputs.protecting([*inputs, mix, mix_dir]):
        jobs = plan(inputs, output, mix, mix_dir, template, fmt)
    return jobs, {k: e for k, (_, e) in enumerate(preflight(jobs)) if e is not None}
