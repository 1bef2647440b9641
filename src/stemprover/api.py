"""The front door: what ``stemprover enhance`` and Python users call.

``load_pipeline`` loads a model with its adapters and sampling settings into an
:class:`~stemprover.pipeline.EnhancePipeline`; ``enhance`` cleans an array the way
soundfile gives it; ``enhance_files`` cleans files and folders. The CLI only parses
arguments and calls ``enhance_files``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from stemprover.audio.chunking import SegmentConfig
from stemprover.errors import StemProverError
from stemprover.songs import WriteOptions


@dataclass(frozen=True)
class EnhanceOptions:
    """How to enhance: which model and adapters, how to sample, where to run.

    Attributes:
        model: ``default`` (bundled), ``null`` (identity) or a model folder.
        adapters: ``None`` for the model's default (``auto`` for the bundled model), ``none``,
            ``auto``, ``a,b`` or ``a=0.7,b=0.3``.
        steps, strength, seed, scheduler: Sampling settings; ``None`` keeps the model's.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        segment: Segment and crossfade lengths (memory grows with these, not with files).
        song_filter: Song mode (a song's stems with their mixture, for a model that reads
            them): ``trust`` (default; ``True``) enhances the stems together, applies the
            model's song Wiener filter, gives the stems back level and quiet detail, then
            its song trust layer (where it has one) blends each stem's input, classical prior
            and output band by band; ``level``: all that but the trust layer; ``wiener``: the
            song Wiener filter alone; ``none`` (``False``): each stem on its own
            (``--song-filter``).
        extend_highs: Without the mixture, fill a band-limited stem's empty highs by band
            replication (:func:`~stemprover.audio.bandwidth.extend_highs`, the refiner's
            ``extend_highs_db``);
            ``False``: leave them empty (``--no-extend-highs``).
    """

    model: str = "default"
    adapters: str | None = None
    steps: int | None = None
    strength: float | None = None
    seed: int | None = None
    scheduler: str | None = None
    device: str = "auto"
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    song_filter: bool | str = "trust"
    extend_highs: bool = True


def load_pipeline(options: EnhanceOptions | None = None, progress: bool = False):
    """The model of ``options`` with its adapters, ready to enhance.

    Raises:
        StemProverError: an unknown model or adapter, settings the model cannot take, or a
            device this machine does not have.
    """
    from stemprover.models.base import default_adapters, load_model, model_kind
    from stemprover.models.refiner import DIFFUSION_STAGE, KIND, song_filter_name
    from stemprover.pipeline import EnhancePipeline

    options = options or EnhanceOptions()
    if model_kind(options.model) == KIND:
        # The refiner is the predictive stage. --steps N (N > 0) and --adapters run the
        # bundled latent diffusion stage and its adapters on its output, with the mixture.
        stage2 = (options.steps or 0) > 0 or options.adapters not in (None, "none")
        pipe = EnhancePipeline(
            load_model(options.model, adapters="none"), options.segment, options.device, progress
        )
        if not options.extend_highs:
            pipe.model.extend_highs_db = None
        try:
            pipe.song_filter = song_filter_name(options.song_filter)
        except ValueError as e:
            raise StemProverError(str(e)) from None
        if stage2:
            latent = replace(options, model=DIFFUSION_STAGE, adapters=options.adapters or "none")
            pipe.then = load_pipeline(latent, progress)
        return pipe
    adapters = options.adapters
    model = load_model(
        options.model,
        adapters=adapters if adapters is not None else default_adapters(options.model),
    )
    sampling = None
    if hasattr(model, "sampling_options"):  # models that sample; others ignore the settings
        sampling = model.sampling_options(
            steps=options.steps,
            strength=options.strength,
            seed=options.seed,
            scheduler=options.scheduler,
        )
    return EnhancePipeline(model, options.segment, options.device, progress, sampling)


@functools.lru_cache(maxsize=2)
def _cached_pipeline(options: EnhanceOptions):
    return load_pipeline(options)


def enhance(
    audio: np.ndarray,
    sample_rate: int,
    mix: np.ndarray | None = None,
    stem_type: str | None = None,
    options: EnhanceOptions | None = None,
    others: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Clean one stem held in memory, as soundfile reads it.

    Args:
        audio: ``(samples,)`` or ``(samples, channels)`` float samples.
        sample_rate: Its rate in Hz.
        mix: The mixture it was separated from, the same shape (recommended).
        stem_type: ``vocals``, ``drums``, ``bass``, ``other``, ``instrumental`` or ``None``
            (unknown).
        options: Model and settings; the model is loaded once and kept for later calls.
        others: The song's other separated stems, each the same shape (song mode: the
            default model reads them with ``mix``).

    Returns:
        The cleaned stem, the same shape and dtype as ``audio`` (mono stays mono).

    Raises:
        StemProverError: a shape that is not (samples,) or (samples, channels), a mixture of
            another shape, or non-finite samples.
    """
    from stemprover.vocabulary import SEPARATED_STEMS as STEM_TYPES

    x = _as_channels_first(audio, "audio")
    m = None if mix is None else _as_channels_first(mix, "mix")
    if m is not None and m.shape != x.shape:
        raise StemProverError(
            f"mix has shape {np.shape(mix)}, the stem {np.shape(audio)}: they must match"
        )
    siblings = [_as_channels_first(o, "others[]") for o in others]
    if any(o.shape != x.shape for o in siblings):
        raise StemProverError(f"each of others must have the stem's shape {np.shape(audio)}")
    if stem_type not in (None, *STEM_TYPES):
        raise StemProverError(f"unknown stem_type {stem_type!r} (choose {', '.join(STEM_TYPES)})")
    _check_rate(sample_rate)
    pipeline = _cached_pipeline(options or EnhanceOptions())
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
    y = pipeline(
        x.astype(dtype),
        int(sample_rate),
        m if m is None else m.astype(dtype),
        stem_type,
        siblings=[o.astype(dtype) for o in siblings] if m is not None else (),
    )
    out = y[0] if np.ndim(audio) == 1 else y.T  # back to (samples,) or (samples, channels)
    return out.astype(np.asarray(audio).dtype)


def enhance_song(
    stems: dict[str, np.ndarray],
    sample_rate: int,
    mix: np.ndarray,
    options: EnhanceOptions | None = None,
) -> dict[str, np.ndarray]:
    """Clean all of a song's separated stems held in memory, together, as
    ``stemprover enhance SONG_FOLDER`` does (song mode, with the song filter unless
    ``options.song_filter`` is ``none``).

    Args:
        stems: Stem name (``vocals``, ``drums``, ...; names of known types route
            adapters) -> ``(samples,)`` or ``(samples, channels)`` float samples, all
            one shape.
        mix: The mixture they were separated from, the same shape.

    Returns:
        The cleaned stems by name, each the shape and dtype of its input.

    Raises:
        StemProverError: fewer than two stems, shapes that differ, non-finite samples.
    """
    if len(stems) < 2:
        raise StemProverError("enhance_song needs two or more stems (one stem: enhance)")
    arrays = {k: _as_channels_first(v, f"stems[{k!r}]") for k, v in stems.items()}
    m = _as_channels_first(mix, "mix")
    if any(a.shape != m.shape for a in arrays.values()):
        raise StemProverError(f"every stem must have the mixture's shape {np.shape(mix)}")
    _check_rate(sample_rate)
    pipeline = _cached_pipeline(options or EnhanceOptions())
    dtype = m.dtype if m.dtype in (np.float32, np.float64) else np.float32
    out = pipeline.enhance_song(
        [a.astype(dtype) for a in arrays.values()],
        int(sample_rate),
        m.astype(dtype),
        names=list(arrays),
    )
    return {
        k: (y[0] if np.ndim(stems[k]) == 1 else y.T).astype(np.asarray(stems[k]).dtype)
        for k, y in zip(arrays, out, strict=True)
    }


MAX_CHANNELS = 64


def _check_rate(sample_rate) -> None:
    if not isinstance(sample_rate, int | np.integer) or not 8000 <= sample_rate <= 192000:
        raise StemProverError(f"sample_rate must be an integer 8000-192000 Hz, not {sample_rate!r}")


def _as_channels_first(a: np.ndarray, name: str) -> np.ndarray:
    """soundfile's ``(samples,)`` / ``(samples, channels)`` to ``(channels, samples)``."""
    a = np.asarray(a)
    if a.ndim not in (1, 2) or a.size == 0:
        raise StemProverError(
            f"{name} must be (samples,) or (samples, channels) as soundfile reads it; "
            f"got shape {a.shape}"
        )
    if not np.issubdtype(a.dtype, np.floating):
        raise StemProverError(f"{name} must hold float samples in [-1, 1], not {a.dtype}")
    x = np.atleast_2d(a.T) if a.ndim == 2 else a[None]
    if x.shape[0] > MAX_CHANNELS:
        raise StemProverError(
            f"{name} has shape {a.shape}: {x.shape[0]} channels? Pass (samples, channels), "
            "not (channels, samples)"
        )
    if not np.isfinite(x).all():
        raise StemProverError(f"{name} contains NaN or Inf samples")
    return x


def enhance_files(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    options: EnhanceOptions | None = None,
    *,
    mix: str | os.PathLike | None = None,
    mix_dir: str | os.PathLike | None = None,
    filename: str | None = None,
    fmt: str | None = None,
    stem: str | None = "auto",
    write: WriteOptions | None = None,
    subtype: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_file=None,
    report: str | os.PathLike | None = None,
):
    """Clean files, song folders and trees of songs with the model loaded once
    (:mod:`stemprover.songs` says which mixture goes with which stem and where outputs go).

    Everything that can be checked without the model is checked first: a bad request raises
    before the model loads, and when no file can be enhanced the model is never loaded.

    Args:
        mix: The mixture of every input (one song); ``mix_dir``: the folder of song mixtures.
        filename: Output names inside ``output`` (``{song}/{stem}.{ext}``); ``fmt``: format.
        write: Subtype, overwrite, clip mode, consistency (``subtype`` and ``overwrite`` are
            shorthands when ``write`` is not given).
        on_file: Called with each file's :class:`~stemprover.pipeline.FileResult` as soon as
            it is done (the CLI prints it).
        report: A folder for ``report.html``: what cleaning changed in each stem
            (:mod:`stemprover.reports.stems`).

    Returns:
        A :class:`~stemprover.batch.BatchResult` (one result per file).
    """
    from stemprover import outputs
    from stemprover.outcome import BatchResult, FileResult
    from stemprover.songs import prepare

    write = write or WriteOptions(subtype, overwrite)
    paths = [Path(p) for p in inputs]
    mix, mix_dir, output = (None if p is None else Path(p) for p in (mix, mix_dir, output))
    jobs, errors = prepare(paths, output, mix, mix_dir, filename, fmt, stem)
    if report is not None:
        outputs.check_destination(report)
        if Path(report).exists() and any(Path(report).iterdir()) and not write.overwrite:
            raise StemProverError("report folder exists and is not empty (use --overwrite)", report)
    if len(errors) == len(jobs):  # nothing to do: the model is not even loaded
        results = [FileResult(j.src, error=errors[k]) for k, j in enumerate(jobs)]
        for r in results if on_file is not None else ():
            on_file(r)
        return BatchResult(results, jobs=jobs)
    from stemprover.batch import enhance_jobs  # loads torch: only once there is work

    pipeline = load_pipeline(options, progress)
    batch = enhance_jobs(pipeline, jobs, write, stem, on_file, errors)
    if report is not None:
        from stemprover.reports.stems import write_stem_report

        with outputs.atomic_dir(report, write.overwrite) as folder:
            write_stem_report(folder, batch.files, {j.src: j.mix for j in jobs})
    return batch
