"""Batches: enhance the stems :mod:`stemprover.songs` planned, one file at a time with one
loaded pipeline; a bad file is recorded and the batch goes on. With ``consistent`` each
song's outputs are then projected so that they sum to its mixture."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from stemprover import outputs
from stemprover.audio import io
from stemprover.errors import StemProverError
from stemprover.outcome import BatchResult, FileResult
from stemprover.pipeline import EnhancePipeline
from stemprover.songs import Job, WriteOptions, prepare


def enhance_jobs(
    pipeline: EnhancePipeline,
    jobs: list[Job],
    options: WriteOptions | None = None,
    stem: str | None = "auto",
    on_file: Callable[[FileResult], None] | None = None,
    errors: dict[int, str] | None = None,
) -> BatchResult:
    """Enhance planned jobs; ``errors`` (by job index, from :func:`preflight`) fail theirs."""
    options = options or WriteOptions()
    errors = errors or {}
    protected = [j.src for j in jobs] + [j.mix for j in jobs]
    results: list[FileResult] = []
    bar = tqdm(
        total=len(jobs), desc="stems", unit="file", disable=not pipeline.progress or len(jobs) < 2
    )
    with (
        outputs.protecting(protected),  # inputs and mixtures are never replaced
        tempfile.TemporaryDirectory(prefix=".stemprover-mix-") as scratch,
    ):
        mixes = _Mixtures(Path(scratch))
        together = _songs(pipeline, jobs, errors)
        done: dict[int, FileResult] = {}
        for k, job in enumerate(jobs):
            if k in done:
                pass
            elif k in errors:
                done[k] = FileResult(job.src, error=errors[k])
            elif k in together:
                done.update(_song(pipeline, jobs, together[k], options, stem, mixes))
            else:
                done[k] = _one(pipeline, job, options, _stem_type(job, stem), mixes)
            bar.update()
            results.append(done[k])
            if on_file is not None:
                on_file(results[-1])
        bar.close()
        notes = []
        if options.consistent:
            from stemprover.consistency import make_consistent

            notes = make_consistent(jobs, results)
    batch = BatchResult(results, notes, jobs)
    if pipeline.model_reads_mixture and any(j.mix is None for j in jobs):
        batch.notes.append("this model can also read the mixture the stem came from (--mix FILE)")
    return batch


class _Mixtures:
    """Each song's mixture conformed once (resampled, channels mapped) for all its stems."""

    def __init__(self, scratch: Path) -> None:
        self.scratch, self._done = scratch, {}

    def __call__(self, src: Path, mix: Path | None) -> Path | None:
        from stemprover.audio.conform import conformed

        if mix is None:
            return None
        stem = io.probe(src)
        key = (mix, stem.sample_rate, stem.channels, stem.frames)
        if key not in self._done:
            self._done[key] = conformed(stem, io.probe(mix), self.scratch).path
        return self._done[key]


def _stem_type(job: Job, stem: str | None) -> str | None:
    return job.stem_type if stem == "auto" else stem


def _songs(pipeline: EnhancePipeline, jobs: list[Job], errors: dict[int, str]):
    """The songs enhanced together (:attr:`EnhancePipeline.joint_song`): each song's first
    job index -> its jobs' indices. A song is: two or more of a folder's stems with one
    mixture, none failing preflight, with one rate, channel count and length (otherwise its
    stems go one by one, where a sibling that does not fit is left out with a warning)."""
    if not pipeline.joint_song:
        return {}
    groups: dict[tuple, list[int]] = {}
    for k, job in enumerate(jobs):
        if job.mix is not None and job.siblings and k not in errors:
            groups.setdefault((job.song, job.src.parent, job.mix), []).append(k)
    together = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        try:
            shapes = {
                (i.sample_rate, i.channels, i.frames)
                for i in (io.probe(jobs[k].src) for k in members)
            }
        except StemProverError:
            continue
        if len(shapes) == 1:
            together[members[0]] = members
    return together


def _song(pipeline, jobs, members, options: WriteOptions, stem, mixes) -> dict[int, FileResult]:
    """A song's stems enhanced together; an output that cannot be written fails that stem
    alone (its input is still read as the others' sibling)."""
    dsts: list[Path | None] = []
    failed: dict[int, FileResult] = {}
    for k in members:
        try:
            outputs.check_writable(jobs[k].dst, options.overwrite)
            dsts.append(jobs[k].dst)
        except StemProverError as err:
            failed[k] = FileResult(jobs[k].src, error=str(err))
            dsts.append(None)
    if len(failed) == len(members):
        return failed
    first = jobs[members[0]]
    try:
        results = pipeline.enhance_song_files(
            [jobs[k].src for k in members],
            dsts,
            mixes(first.src, first.mix),
            [_stem_type(jobs[k], stem) for k in members],
            options.subtype,
            options.overwrite,
            options.clip_mode,
            name=first.song,
        )
    except StemProverError as err:
        return {k: FileResult(jobs[k].src, error=str(err)) for k in members} | failed
    except (OSError, RuntimeError) as err:  # disk full, decoder crash: keep the batch going
        error = f"{type(err).__name__}: {err}"
        return {k: FileResult(jobs[k].src, error=error) for k in members} | failed
    written = [k for k, dst in zip(members, dsts, strict=True) if dst is not None]
    return dict(zip(written, results, strict=True)) | failed


def _one(pipeline: EnhancePipeline, job: Job, options: WriteOptions, stem: str | None, mixes):
    try:
        return pipeline.enhance_file(
            job.src,
            job.dst,
            options.subtype,
            options.overwrite,
            mixes(job.src, job.mix),
            stem,
            clip_mode=options.clip_mode,
            siblings=job.siblings if job.mix is not None else (),
        )
    except StemProverError as err:  # name the file in the way when it is not the input
        same = err.path is None or Path(err.path) == job.src
        return FileResult(job.src, error=err.message if same else str(err))
    except (OSError, RuntimeError) as err:  # disk full, decoder crash: keep the batch going
        return FileResult(job.src, error=f"{type(err).__name__}: {err}")


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
    """Enhance files, song folders and trees (:func:`stemprover.songs.plan`); a bad file is
    recorded and the batch goes on.

    Args:
        mix: The mixture of every input (one song); otherwise each folder's own.
        stem: The inputs' stem type for ``--adapters auto`` (``--stem``): ``auto`` reads
            each file's name (:func:`~stemprover.vocabulary.named_stem_type`), ``None``
            leaves it unknown.
        on_file: Called with each file's result as soon as it is done.
    """
    jobs, errors = prepare(
        [Path(p) for p in inputs],
        None if output is None else Path(output),
        None if mix is None else Path(mix),
        stem=stem,
    )
    return enhance_jobs(pipeline, jobs, WriteOptions(subtype, overwrite), stem, on_file, errors)
