"""EnhancePipeline: the single inference path for the CLI, evaluation and validation.

read -> segment -> (resample) -> STFT -> compress -> model -> decompress -> iSTFT ->
(resample back) -> overlap-add -> write, streaming from disk to disk.
"""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import ExitStack, nullcontext
from pathlib import Path

import numpy as np
import soxr
import torch
from tqdm import tqdm

from stemprover import outputs
from stemprover.audio import io
from stemprover.audio.chunking import SegmentConfig, array_reader, overlap_add, plan
from stemprover.audio.clip import ClippingWriter
from stemprover.audio.conform import check_mixture, conformed
from stemprover.audio.stft import compress, decompress, istft, stft
from stemprover.errors import StemProverError
from stemprover.models.base import SpectralModel
from stemprover.models.trust import pooled_quality, stem_type
from stemprover.outcome import FileResult


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an explicit device that is absent is an error."""
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available(),
    }
    if name == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if name not in available:
        raise StemProverError(f"unknown device {name!r} (choose auto, cpu, cuda or mps)")
    if not available[name]:
        raise StemProverError(f"device {name!r} is not available on this machine")
    return torch.device(name)


AUTO_ANALYSIS_SECONDS = 30.0


class EnhancePipeline:
    """Clean audio with a :class:`~stemprover.models.base.SpectralModel`.

    Args:
        model: The model; its ``stft`` and ``sample_rate`` decide the analysis.
        segment: Segmentation; memory grows with segment length, not file length.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        progress: Show a progress bar per file.
        sampling: For models that sample: their settings (``model.sampling_options(...)``);
            ``None``: the model's defaults. Each input draws its noise from a generator
            seeded afresh, so an output never depends on what was enhanced before it.
        adapters: The adapters' routing state; ``None`` takes over what
            :func:`~stemprover.models.base.load_model` attached (``model.adapter_set``).
    """

    def __init__(
        self,
        model: SpectralModel,
        segment: SegmentConfig | None = None,
        device: str = "auto",
        progress: bool = True,
        sampling=None,
        adapters=None,
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.segment = segment or SegmentConfig()
        self.progress = progress
        self.sampling = sampling
        self.adapters = adapters if adapters is not None else getattr(model, "adapter_set", None)
        self.last_adapters: dict[str, float] | None = None
        # A second stage run on each segment's output (the refiner's diffusion stage), with
        # the same segment of the mixture; None: none.
        self.then: EnhancePipeline | None = None
        # Song mode: all of a song's stems enhanced together, then the model's song filter
        # (RefinerModel.enhance_song: "trust", "level" or "wiener"); "none": each stem on its
        # own, with the others read.
        self.song_filter = "trust"

    @property
    def auto_adapters(self) -> bool:
        """``--adapters auto`` here or in the second stage (:attr:`then`)."""
        if self.then is not None and self.then.auto_adapters:
            return True
        return self.adapters is not None and self.adapters.auto

    def _call_args(self, generator) -> dict:
        """Keyword arguments of ``model.enhance``: sampling and noise for models that sample."""
        if not hasattr(self.model, "sampling_options"):
            return {}
        return {"sampling": self.sampling, "generator": generator}

    def _generator(self):
        sampling = self.sampling or getattr(self.model, "default_sampling", None)
        return torch.Generator().manual_seed(getattr(sampling, "seed", 0))

    def _spectral(self, rows: np.ndarray, rate: int, fn) -> np.ndarray:
        """``rows`` (audio channels, any number) at ``rate``: to the model's rate, STFT,
        ``fn`` on the spectrograms (``(R, F, N)`` -> ``(R', F, N)``), inverse STFT and back
        to ``rate`` at the same length. Shape: ``(R, n)`` -> ``(R', n)``."""
        cfg, model_rate = self.model.stft, self.model.sample_rate
        x, spec = self._spectrogram(rows, rate)
        with torch.inference_mode():
            y = istft(fn(spec), cfg, x.shape[-1]).cpu().numpy()
        if x is not rows:
            y = soxr.resample(y.T, model_rate, rate, quality="HQ").T
            y = _fit_length(y, rows.shape[-1])
        return y.astype(rows.dtype, copy=False)

    def _spectrogram(self, rows: np.ndarray, rate: int) -> tuple[np.ndarray, torch.Tensor]:
        """``rows`` at the model's rate (the same array when ``rate`` is it) and their STFT.
        Shape: ``(R, n)`` -> ``((R, n'), (R, F, N))``."""
        cfg, model_rate = self.model.stft, self.model.sample_rate
        x = rows
        if model_rate is not None and model_rate != rate:
            x = soxr.resample(rows.T, rate, model_rate, quality="HQ").T  # (R, n')
        if x.shape[-1] < cfg.n_fft:
            raise StemProverError(
                f"segment of {x.shape[-1]} samples is shorter than one STFT frame ({cfg.n_fft})"
            )
        with torch.inference_mode():
            return x, stft(torch.from_numpy(np.ascontiguousarray(x)).to(self.device), cfg)

    def process_block(
        self,
        block: np.ndarray,
        rate: int,
        mix: np.ndarray | None = None,
        generator=None,
        siblings: np.ndarray | None = None,
    ) -> np.ndarray:
        """Enhance one segment (context included), given the same segment of the mixture
        when known, drawing noise from ``generator``; for a model that reads them, the same
        segment of the song's other stems (``siblings``, their channels stacked).

        Shape: block, mix ``(C, n)``, siblings ``(K·C, n)`` -> ``(C, n)``."""
        cfg, C = self.model.stft, block.shape[0]
        if mix is None:
            siblings = None
        rows = [r for r in (block, mix, siblings) if r is not None]
        call = self._call_args(generator if generator is not None else self._generator())

        def fn(spec):
            s = compress(spec[:C], cfg)
            if mix is None:
                return decompress(self.model.enhance(s, **call), cfg)
            if siblings is not None:
                call["siblings"] = spec[2 * C :].reshape(-1, *s.shape)  # (K, C, F, N)
            m = compress(spec[C : 2 * C], cfg)
            return decompress(self.model.enhance(s, mix=m, **call), cfg)

        y = self._spectral(np.concatenate(rows), rate, fn)
        if self.then is not None:
            stage_mix = mix if self.then.model_reads_mixture else None
            y = self.then.process_block(y, rate, stage_mix, generator)
        return y

    def process_song_block(
        self,
        block: np.ndarray,
        rate: int,
        stems: int,
        names: list[str | None] | None = None,
        quality=None,
    ) -> np.ndarray:
        """One segment of a whole song (song mode with the song filter): ``stems`` stems'
        channels, then the mixture's, all enhanced together (the model's ``enhance_song``;
        ``names``: the stems' names, ``vocals`` etc., and ``quality`` their estimates
        (:meth:`song_quality`), which its trust layer reads).

        Shape: ``((J + 1)·C, n)`` -> ``(J·C, n)``."""
        cfg, C = self.model.stft, block.shape[0] // (stems + 1)

        def fn(spec):
            spec = compress(spec, cfg).unflatten(0, (stems + 1, C))
            out = self.model.enhance_song(
                spec[:stems], spec[stems], self.song_filter, names, quality
            )
            return decompress(out, cfg).flatten(0, 1)

        return self._spectral(block, rate, fn)

    @property
    def joint_song(self) -> bool:
        """Whether a song's stems are enhanced together (:meth:`enhance_song`): a model
        that reads the other stems and has a song filter, with the filter on and no second
        stage (``--steps N`` or adapters run stem by stem)."""
        return (
            self.song_filter not in ("none", False)
            and self.model_reads_siblings
            and hasattr(self.model, "enhance_song")
            and self.then is None
        )

    def song_quality(self, every, frames: int, rate: int, names=None, on_segment=None):
        """The trust layer's first pass over a song (``every``: its stems' readers, then the
        mixture's): each stem's quality estimate, pooled over segments
        (:func:`~stemprover.models.trust.pooled_quality`); ``None`` when the song filter
        does not run a trust layer. ``on_segment`` is called after each segment read."""
        trust = getattr(self.model, "trust", None)
        if self.song_filter != "trust" or trust is None:
            return None
        J, cfg = len(every) - 1, self.model.stft
        kinds = torch.tensor([stem_type(n) for n in (names or [None] * J)])
        found: list[tuple] = []
        length, shortest = self.segment.samples(rate)[0], 2 * cfg.n_fft
        for seg in plan(frames, length, 0):
            # a short tail says little (weighted by energy it would not count): not read
            if seg.stop - seg.start >= shortest or not found:
                stop = max(seg.stop, seg.start + shortest)  # read as zeros past the end
                block = np.concatenate([read(seg.start, stop) for read in every])
                spec = compress(self._spectrogram(block, rate)[1], cfg).unflatten(0, (J + 1, -1))
                with torch.inference_mode():
                    found.append(trust.segment_estimate(spec[:J], spec[J], kinds))
            if on_segment is not None:
                on_segment(seg)
        return pooled_quality(*zip(*found, strict=True))

    def _stream_song(
        self, readers, read_mix, frames: int, rate: int, on_segment=None, names=None, on_first=None
    ):
        """Segments of all of a song's stems (named ``names``) and its mixture, cut, padded
        and given context alike; yields ``(J·C, n)`` blocks of the enhanced stems
        (``on_first``, ``on_segment``: called after each segment of the first pass and of
        the enhancement)."""
        every = [*readers, read_mix]
        quality = self.song_quality(every, frames, rate, names, on_first)
        read, process = _stacked(
            every, lambda b: self.process_song_block(b, rate, len(readers), names, quality)
        )
        length, overlap, context = self.segment.samples(rate)
        for out in overlap_add(read, process, frames, length, overlap, context, on_segment):
            yield out[: -(out.shape[0] // len(every))]

    def enhance_song(
        self,
        stems: list[np.ndarray] | tuple[np.ndarray, ...],
        rate: int,
        mix: np.ndarray,
        names: list[str | None] | None = None,
    ) -> list[np.ndarray]:
        """Enhance all of a song's stems held in memory, together (:attr:`joint_song`; else
        each with the others as its siblings); ``names`` (``vocals``, ...) are the stems'
        types for the model's trust layer and adapters. Shape: each stem, mix ``(C, T)`` ->
        each ``(C, T)``."""
        stems = [np.atleast_2d(s) for s in stems]
        mix = np.atleast_2d(mix).astype(stems[0].dtype, copy=False)
        if any(s.shape != mix.shape for s in stems):
            raise StemProverError("the song's stems and its mixture must have one shape")
        if not self.joint_song or len(stems) < 2:
            names = names or [None] * len(stems)
            return [
                self(
                    s,
                    rate,
                    mix=mix,
                    siblings=[o for k, o in enumerate(stems) if k != j],
                    stem=names[j],
                )
                for j, s in enumerate(stems)
            ]
        readers = [array_reader(s.astype(mix.dtype, copy=False)) for s in stems]
        blocks = list(
            self._stream_song(readers, array_reader(mix), mix.shape[-1], rate, names=names)
        )
        song = np.concatenate(blocks, axis=-1)
        return list(song.reshape(len(stems), mix.shape[0], -1))

    def _choose_adapters(
        self, audio: np.ndarray, rate: int, mix: np.ndarray | None = None, stem: str | None = None
    ) -> dict[str, float]:
        """``--adapters auto``: weight each stored adapter by its artifact's detected severity
        in ``audio``, analysed beside its mixture when given (callers pass at most the first
        30 s, so memory stays flat on long files), times the model's calibrated gain (at most
        1). Where the model has an adapter for this ``stem`` type and artifact it takes that
        artifact's weight (:func:`lora.route`).
        """
        from stemprover.analysis import analyze
        from stemprover.models import lora

        as64 = None if mix is None else mix.astype(np.float64, copy=False)
        report = analyze(audio.astype(np.float64, copy=False), rate, as64)
        scores = {name: r["score"] for name, r in report.items()}
        weights = lora.route(self.adapters.infos, scores, stem, self.adapters.gain)
        lora.set_weights(self.model, weights, merge=True)
        self.adapters.weights = weights
        self.last_adapters = weights
        return weights

    def __call__(
        self,
        audio: np.ndarray,
        rate: int,
        mix: np.ndarray | None = None,
        stem: str | None = None,
        siblings: list[np.ndarray] | tuple[np.ndarray, ...] = (),
    ) -> np.ndarray:
        """Enhance an in-memory signal, optionally given its mixture (same shape), its stem
        type (``vocals``, ``drums``, ``bass``, ``other``; ``None``: unknown), which
        ``--adapters auto`` routes by, and the song's other separated stems (same shape;
        read with the mixture by models that read them).

        With ``--adapters auto`` the weights chosen (here or by :meth:`enhance_file`) are kept
        in ``last_adapters``.

        Shape: audio, mix ``(C, T)`` -> ``(C, T)``.
        """
        audio = np.atleast_2d(audio)
        if mix is not None:
            mix = np.atleast_2d(mix).astype(audio.dtype, copy=False)
            if mix.shape != audio.shape:
                raise StemProverError(
                    f"mixture shape {mix.shape} does not match the stem's {audio.shape}"
                )
        read_mix = None if mix is None else array_reader(mix)
        others = [np.atleast_2d(o).astype(audio.dtype, copy=False) for o in siblings]
        if any(o.shape != audio.shape for o in others):
            raise StemProverError(f"a sibling stem's shape does not match the stem's {audio.shape}")
        read_sibs = [array_reader(o) for o in others]
        blocks, _ = self._stream(
            array_reader(audio), read_mix, audio.shape[-1], rate, stem, read_sibs=read_sibs
        )
        return np.concatenate([b[: audio.shape[0]] for b in blocks], axis=-1)

    def _stream(
        self, read_stem, read_mix, frames: int, rate: int, stem, on_segment=None, read_sibs=()
    ):
        """The one core of :meth:`__call__` and :meth:`enhance_file`: choose the adapters
        from the first 30 s (``auto``), then enhance segment by segment with one noise
        generator per input.

        Returns:
            ``(blocks, weights)``: an iterator of output blocks (the stem's channels first)
            and the adapter weights ``auto`` chose (``None`` otherwise).
        """
        weights = None
        # the stage whose adapters auto weighs
        chooser = self.then if self.then is not None and self.then.auto_adapters else self
        if chooser.auto_adapters:
            head = min(frames, round(AUTO_ANALYSIS_SECONDS * rate))
            mix_head = None if read_mix is None else read_mix(0, head)
            weights = chooser._choose_adapters(read_stem(0, head), rate, mix_head, stem)
            self.last_adapters = weights
        read, process = self._with_mixture(read_stem, read_mix, rate, self._generator(), read_sibs)
        length, overlap, context = self.segment.samples(rate)
        blocks = overlap_add(read, process, frames, length, overlap, context, on_segment)
        return blocks, weights

    @property
    def model_reads_mixture(self) -> bool:
        return getattr(self.model, "reads_mixture", False)

    @property
    def model_reads_siblings(self) -> bool:
        """Whether the model reads the song's other stems (with the mixture: song mode)."""
        return self.model_reads_mixture and getattr(self.model, "reads_siblings", False)

    def _with_mixture(self, read_stem, read_mix, rate: int, generator, read_sibs=()):
        """``(read, process)`` for :func:`overlap_add`. With a mixture (for a model that reads
        it), blocks carry the mixture's channels below the stem's, and then the siblings'
        (for a model that reads them), so all are cut, padded and given context alike;
        ``process`` passes them through, and callers keep the first ``C`` channels.
        """
        if read_mix is None or not self.model_reads_mixture:
            return read_stem, lambda b: self.process_block(b, rate, generator=generator)
        readers = [read_stem, read_mix, *(read_sibs if self.model_reads_siblings else ())]

        def enhance(block: np.ndarray) -> np.ndarray:
            parts = np.split(block, len(readers))
            sibs = np.concatenate(parts[2:]) if len(parts) > 2 else None
            return self.process_block(parts[0], rate, parts[1], generator, sibs)

        return _stacked(readers, enhance)

    def enhance_file(
        self,
        src: Path,
        dst: Path,
        subtype: str | None = None,
        overwrite: bool = False,
        mix: Path | None = None,
        stem: str | None = None,
        clip_mode: str = "clamp",
        siblings: list[Path] | tuple[Path, ...] = (),
    ) -> FileResult:
        """Enhance ``src`` into ``dst`` keeping rate, channels, length and (unless given or
        the output format cannot store it) subtype.

        Args:
            mix: The mixture ``src`` was separated from; another rate, mono/stereo and a
                length a few milliseconds off are conformed (:mod:`stemprover.audio.conform`).
            stem: Its stem type, for ``--adapters auto`` (``None``: unknown).
            clip_mode: Samples over full scale: ``clamp``, ``rescale`` or ``none``
                (:mod:`stemprover.audio.clip`); a warning says when it happened.
            siblings: The song's other separated stems (song mode), read with ``mix`` by a
                model that reads them. They must have the stem's rate, channels and length
                (one separator's outputs do); otherwise they are left out, with a warning.

        Raises:
            StemProverError: bad input, mixture or output; ``dst`` is then left untouched.
        """
        began = time.perf_counter()
        info = io.probe(src)
        if info.frames < self.model.stft.n_fft:
            raise StemProverError(
                f"file is shorter than one STFT frame ({info.frames} < {self.model.stft.n_fft} samples)",
                src,
            )
        mix_info = None if mix is None else io.probe(mix)
        if mix_info is not None:
            check_mixture(info, mix_info)  # before any work: a mixture that cannot fit
        with tempfile.TemporaryDirectory(prefix=".stemprover-mix-") as scratch:
            if mix_info is not None:
                mix_info = conformed(info, mix_info, Path(scratch))
            return self._enhance_file(
                began, info, dst, subtype, overwrite, mix_info, stem, clip_mode, siblings
            )

    def _sibling_infos(self, info, siblings, result: FileResult) -> list:
        """The siblings' headers when the model reads them and all fit the stem, else none."""
        if not siblings or not self.model_reads_siblings:
            return []
        infos = [io.probe(p) for p in siblings]
        shape = (info.sample_rate, info.channels, info.frames)
        bad = [i.path.name for i in infos if (i.sample_rate, i.channels, i.frames) != shape]
        if bad:
            result.warnings.append(
                f"other stems left out ({', '.join(bad)}: rate, channels or length differ "
                "from this stem's); enhanced with the mixture only"
            )
            return []
        return infos

    def _enhance_file(
        self, began, info, dst, subtype, overwrite, mix_info, stem, clip_mode, siblings=()
    ):
        src = info.path
        result = FileResult(src, dst, audio_seconds=info.duration, stem=stem)
        outputs.check_writable(dst, overwrite)
        if self.auto_adapters:
            outputs.check_writable(sidecar(dst), overwrite)
        # auto analyses the mixture even for a model whose base does not read it
        wants_mix = mix_info is not None and (self.model_reads_mixture or self.auto_adapters)
        sib_infos = self._sibling_infos(info, siblings, result) if wants_mix else []
        bar, on_segment = self._progress(info, src.name)
        with (
            ExitStack() as sib_stack,
            _PeakReader(info) as reader,
            (
                io.BlockReader(mix_info, info.compute_dtype) if wants_mix else nullcontext()
            ) as mix_reader,
            _writer(dst, info, subtype, overwrite, clip_mode) as writer,
        ):
            sib_readers = [
                sib_stack.enter_context(io.BlockReader(i, info.compute_dtype)).read
                for i in sib_infos
            ]
            blocks, result.adapters = self._stream(
                reader.read,
                None if mix_reader is None else mix_reader.read,
                info.frames,
                info.sample_rate,
                stem,
                on_segment=on_segment,
                read_sibs=sib_readers,
            )
            for out in blocks:
                writer.write(out[: info.channels])
        bar.close()
        _warn(result, writer, reader.peak)
        if result.adapters is not None:  # the weights --adapters auto chose, beside the output
            with io.atomic_path(sidecar(dst), overwrite=overwrite) as tmp:
                tmp.write_text(
                    json.dumps(
                        {"input": str(src), "stem": stem, "adapters": result.adapters}, indent=1
                    )
                )
        result.seconds = time.perf_counter() - began
        return result

    def _progress(self, info: io.AudioInfo, name: str):
        """A progress bar in seconds of audio, and the ``on_segment`` that moves it (to the
        segment's end: overlapping segments do not count their overlap twice)."""
        bar = tqdm(
            total=round(info.duration, 2),
            unit="s",
            desc=name,
            disable=not self.progress,
            leave=False,
        )
        return bar, lambda seg: bar.update(seg.stop / info.sample_rate - bar.n)

    def _song_progress(self, info: io.AudioInfo, name: str):
        """:meth:`_progress` for a song: ``(bar, on_first, on_segment)``, the bar run once
        for the trust layer's first pass (described as such) and again for the song."""
        bar, step = self._progress(info, name)
        first = [False]  # whether the bar is showing the first pass

        def on_first(seg) -> None:
            if not first[0]:
                first[0] = True
                bar.set_description_str(f"{name} (estimating quality)")
            step(seg)

        def on_segment(seg) -> None:
            if first[0]:
                first[0] = False
                bar.reset(total=round(info.duration, 2))
                bar.set_description_str(name)
            step(seg)

        return bar, on_first, on_segment

    def enhance_song_files(
        self,
        srcs: list[Path],
        dsts: list[Path | None],
        mix: Path,
        stems: list[str | None] | None = None,
        subtype: str | None = None,
        overwrite: bool = False,
        clip_mode: str = "clamp",
        name: str = "song",
    ) -> list[FileResult]:
        """Enhance a song's stems together (:attr:`joint_song`), streaming all of them and the
        mixture segment by segment; a ``dsts`` entry ``None`` reads that stem (the others'
        sibling) without writing it. The stems must share rate, channels and length (one
        separator's outputs do); the mixture is conformed to them.

        Returns:
            One result per written stem, in order; the song's time is shared out equally.

        Raises:
            StemProverError: stems that do not fit each other, a mixture that cannot fit, an
                output that cannot be written; no output is then written.
        """
        began = time.perf_counter()
        infos = [io.probe(p) for p in srcs]
        first = infos[0]
        shape = (first.sample_rate, first.channels, first.frames)
        if any((i.sample_rate, i.channels, i.frames) != shape for i in infos):
            raise StemProverError("the song's stems differ in rate, channels or length")
        if first.frames < self.model.stft.n_fft:
            raise StemProverError(
                f"file is shorter than one STFT frame ({first.frames} < "
                f"{self.model.stft.n_fft} samples)",
                first.path,
            )
        mix_info = io.probe(mix)
        check_mixture(first, mix_info)
        for dst in dsts:
            if dst is not None:
                outputs.check_writable(dst, overwrite)
        stems = stems or [None] * len(srcs)
        C, dtype = first.channels, first.compute_dtype
        written = [j for j, dst in enumerate(dsts) if dst is not None]
        results = [
            FileResult(srcs[j], dsts[j], audio_seconds=first.duration, stem=stems[j])
            for j in written
        ]
        bar, on_first, on_segment = self._song_progress(first, name)
        with (
            tempfile.TemporaryDirectory(prefix=".stemprover-mix-") as scratch,
            ExitStack() as stack,
        ):
            mix_info = conformed(first, mix_info, Path(scratch))
            readers = [stack.enter_context(_PeakReader(i, dtype)) for i in infos]
            mix_reader = stack.enter_context(io.BlockReader(mix_info, dtype))
            writers = [
                stack.enter_context(_writer(dsts[j], infos[j], subtype, overwrite, clip_mode))
                for j in written
            ]
            blocks = self._stream_song(
                [r.read for r in readers],
                mix_reader.read,
                first.frames,
                first.sample_rate,
                on_segment=on_segment,
                names=stems,
                on_first=on_first,
            )
            for out in blocks:
                for j, writer in zip(written, writers, strict=True):
                    writer.write(out[j * C : (j + 1) * C])
        bar.close()
        seconds = (time.perf_counter() - began) / max(1, len(written))
        for j, writer, result in zip(written, writers, results, strict=True):
            _warn(result, writer, readers[j].peak)
            result.seconds = seconds
        return results


def _stacked(readers, enhance):
    """``(read, process)`` for :func:`overlap_add` over several inputs' channels stacked (so
    all are cut, padded and given context alike): ``enhance`` maps a block to the enhanced
    channels, which replace the first ones; the rest pass through unchanged."""

    def read(start: int, stop: int) -> np.ndarray:
        return np.concatenate([r(start, stop) for r in readers])

    def process(block: np.ndarray) -> np.ndarray:
        out = enhance(block)
        return np.concatenate([out, block[out.shape[0] :]])

    return read, process


class _PeakReader(io.BlockReader):
    """A block reader that keeps the input's peak (for the full-scale and silence warnings)."""

    def __init__(self, info: io.AudioInfo, dtype: str | None = None) -> None:
        super().__init__(info, dtype or info.compute_dtype)
        self.peak = 0.0

    def read(self, start: int, stop: int) -> np.ndarray:
        block = super().read(start, stop)
        self.peak = max(self.peak, float(np.abs(block).max(initial=0.0)))
        return block


def _writer(dst: Path, info: io.AudioInfo, subtype, overwrite: bool, clip_mode: str):
    """The output of ``info``'s stem: its rate and channels, its subtype unless given."""
    return ClippingWriter(
        dst,
        info.sample_rate,
        info.channels,
        io.output_subtype(dst, subtype, info.subtype),
        overwrite,
        clip_mode,
    )


def _warn(result: FileResult, writer: ClippingWriter, peak: float) -> None:
    """An output's warnings: clipping, and an input that is silent or at full scale."""
    if writer.warning() is not None:
        result.warnings.append(writer.warning())
    if peak == 0.0:
        result.warnings.append("input is digital silence; output is silence too")
    elif peak >= 1.0:
        result.warnings.append("input reaches full scale (clipped?); clipping is not repaired")


def sidecar(dst: Path) -> Path:
    """Where ``--adapters auto`` records the weights it chose for ``dst``."""
    return dst.with_name(dst.name + ".adapters.json")


def _fit_length(x: np.ndarray, length: int) -> np.ndarray:
    if x.shape[-1] >= length:
        return x[..., :length]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])])
