"""Batches: map inputs (files, folders) to outputs and enhance them one file at a time with
one loaded pipeline; a bad file is recorded and the batch goes on."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stemprover import outputs
from stemprover.audio import io
from stemprover.errors import StemProverError
from stemprover.pipeline import EnhancePipeline, FileResult


@dataclass
class BatchResult:
    files: list[FileResult]
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.error is not None]


def plan_outputs(inputs: Sequence[Path], output: Path | None) -> list[tuple[Path, Path]]:
    """Map inputs (files or folders) to output files.

    Without ``output`` a file ``x.wav`` goes to ``x.enhanced.wav`` beside it and a folder
    ``d`` to ``d_enhanced``. With one input file and an output with an audio suffix, that is
    the output file; otherwise ``output`` is a folder that mirrors the inputs' relative names.

    Raises:
        StemProverError: a missing input, an output inside an input folder, or two inputs
            that would write the same output.
    """
    pairs: list[tuple[Path, Path]] = []
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
    for src in inputs:
        if not src.exists():
            # Reported per file by the batch, so the others still run.
            pairs.append((src, (output or src.parent) / src.name))
        elif src.is_dir():
            dest = output if output is not None else src.with_name(src.name + "_enhanced")
            if len(inputs) > 1 and output is not None:
                dest = output / src.name
            if _is_within(dest, src):
                raise StemProverError(
                    f"output folder {dest} is inside the input folder (choose another -o)", src
                )
            pairs += [(f, dest / f.relative_to(src)) for f in io.find_audio(src)]
        elif output is None:
            pairs.append((src, src.with_name(f"{src.stem}.enhanced{src.suffix}")))
        elif single_file and io.is_audio_path(output) and not output.is_dir():
            pairs.append((src, output))
        else:
            pairs.append((src, output / src.name))
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        if not src.exists():
            continue
        key = dst.resolve()
        if key == src.resolve():
            raise StemProverError("output would replace the input file", src)
        outputs.check_destination(dst)
        if key in seen:
            raise StemProverError(f"{seen[key]} and {src} would both write {dst}")
        seen[key] = src
    return pairs


def enhance_paths(
    pipeline: EnhancePipeline,
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    subtype: str | None = None,
    overwrite: bool = False,
    mix: str | os.PathLike | None = None,
    stem: str | None = "auto",
    on_file: Callable[[FileResult], None] | None = None,
) -> BatchResult:
    """Enhance files and folders; a bad file is recorded and the batch goes on.

    Args:
        mix: The mixture of a single input file (``--mix``).
        stem: The inputs' stem type for ``--adapters auto`` (``--stem``): ``auto`` reads
            each file's name (:func:`~stemprover.vocabulary.named_stem_type`), ``None``
            leaves it unknown.
        on_file: Called with each file's result as soon as it is done.
    """
    from stemprover.vocabulary import SEPARATED_STEMS as STEM_TYPES

    if stem not in (None, "auto", *STEM_TYPES):
        raise StemProverError(f"unknown stem type {stem!r} (choose auto, {', '.join(STEM_TYPES)})")
    with outputs.protecting([*inputs, mix]):  # the inputs and the mixture are never replaced
        batch = _enhance_pairs(pipeline, inputs, output, subtype, overwrite, mix, stem, on_file)
    if pipeline.model_reads_mixture and mix is None:
        batch.notes.append("this model can also read the mixture the stem came from (--mix FILE)")
    return batch


def _enhance_pairs(pipeline, inputs, output, subtype, overwrite, mix, stem, on_file) -> BatchResult:
    from stemprover.vocabulary import named_stem_type

    pairs = plan_outputs([Path(p) for p in inputs], None if output is None else Path(output))
    if not pairs:
        raise StemProverError("no audio files found in the given inputs")
    if mix is not None and len(pairs) != 1:
        raise StemProverError(f"--mix goes with one input file, not {len(pairs)}")
    results = []
    for src, dst in pairs:
        try:
            results.append(
                pipeline.enhance_file(
                    src,
                    dst,
                    subtype,
                    overwrite,
                    None if mix is None else Path(mix),
                    named_stem_type(src.stem) if stem == "auto" else stem,
                )
            )
        except StemProverError as err:  # name the file in the way when it is not the input
            same = err.path is None or Path(err.path) == src
            results.append(FileResult(src, error=err.message if same else str(err)))
        except (OSError, RuntimeError) as err:  # disk full, decoder crash: keep the batch going
            results.append(FileResult(src, error=f"{type(err).__name__}: {err}"))
        if on_file is not None:
            on_file(results[-1])
    return BatchResult(results)


def _is_within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
