"""EnhancePipeline: the single inference path for the CLI, evaluation and validation.

read -> segment -> (resample) -> STFT -> compress -> model -> decompress -> iSTFT ->
(resample back) -> overlap-add -> write, streaming from disk to disk.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr
import torch
from tqdm import tqdm

from stemprover.audio import io
from stemprover.audio.chunking import SegmentConfig, array_reader, overlap_add
from stemprover.audio.stft import compress, decompress, istft, stft
from stemprover.errors import StemProverError
from stemprover.models.base import SpectralModel


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


@dataclass
class FileResult:
    """The outcome of one file: an output, or the error that stopped it."""

    input: Path
    output: Path | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    audio_seconds: float = 0.0
    adapters: dict[str, float] | None = None


AUTO_ANALYSIS_SECONDS = 30.0


class EnhancePipeline:
    """Clean audio with a :class:`~stemprover.models.base.SpectralModel`.

    Args:
        model: The model; its ``stft`` and ``sample_rate`` decide the analysis.
        segment: Segmentation; memory grows with segment length, not file length.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        progress: Show a progress bar per file.
    """

    def __init__(
        self,
        model: SpectralModel,
        segment: SegmentConfig | None = None,
        device: str = "auto",
        progress: bool = True,
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.segment = segment or SegmentConfig()
        self.progress = progress
        self.last_adapters: dict[str, float] | None = None

    def process_block(self, block: np.ndarray, rate: int) -> np.ndarray:
        """Enhance one segment (context included). Shape: ``(C, n)`` -> ``(C, n)``."""
        cfg, model_rate = self.model.stft, self.model.sample_rate
        x = block
        if model_rate is not None and model_rate != rate:
            x = soxr.resample(block.T, rate, model_rate, quality="HQ").T  # (C, n')
        if x.shape[-1] < cfg.n_fft:
            raise StemProverError(
                f"segment of {x.shape[-1]} samples is shorter than one STFT frame ({cfg.n_fft})"
            )
        t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        with torch.inference_mode():
            spec = compress(stft(t, cfg), cfg)  # (C, F, N)
            spec = self.model.enhance(spec)
            y = istft(decompress(spec, cfg), cfg, t.shape[-1]).cpu().numpy()  # (C, n')
        if x is not block:
            y = soxr.resample(y.T, model_rate, rate, quality="HQ").T
            y = _fit_length(y, block.shape[-1])
        return y.astype(block.dtype, copy=False)

    def _choose_adapters(self, audio: np.ndarray, rate: int) -> dict[str, float]:
        """``--adapters auto``: weight each stored adapter by its artifact's detected severity
        in ``audio`` (callers pass at most the first 30 s, so memory stays flat on long files).
        """
        from stemprover.analysis import analyze
        from stemprover.models import lora

        report = analyze(audio.astype(np.float64, copy=False), rate)
        weights = {name: round(report[name]["score"], 3) for name in self.model.adapter_weights}
        lora.set_weights(self.model, weights, merge=True)
        self.last_adapters = weights
        return weights

    def __call__(self, audio: np.ndarray, rate: int) -> np.ndarray:
        """Enhance an in-memory signal. Shape: ``(C, T)`` -> ``(C, T)``.

        With ``--adapters auto`` the weights chosen (here or by :meth:`enhance_file`) are kept
        in ``last_adapters``.
        """
        audio = np.atleast_2d(audio)
        if getattr(self.model, "auto_adapters", False):
            head = audio[:, : round(AUTO_ANALYSIS_SECONDS * rate)]
            self._choose_adapters(head, rate)
        length, overlap, context = self.segment.samples(rate)
        blocks = overlap_add(
            array_reader(audio),
            lambda b: self.process_block(b, rate),
            audio.shape[-1],
            length,
            overlap,
            context,
        )
        return np.concatenate(list(blocks), axis=-1)

    def enhance_file(
        self, src: Path, dst: Path, subtype: str | None = None, overwrite: bool = False
    ) -> FileResult:
        """Enhance ``src`` into ``dst`` keeping rate, channels, length and (unless given) subtype.

        Raises:
            StemProverError: bad input or output; ``dst`` is then left untouched.
        """
        began = time.perf_counter()
        info = io.probe(src)
        if info.frames < self.model.stft.n_fft:
            raise StemProverError(
                f"file is shorter than one STFT frame ({info.frames} < {self.model.stft.n_fft} samples)",
                src,
            )
        result = FileResult(src, dst, audio_seconds=info.duration)
        if getattr(self.model, "auto_adapters", False):
            with io.BlockReader(info, "float64") as reader:
                frames = min(info.frames, round(AUTO_ANALYSIS_SECONDS * info.sample_rate))
                result.adapters = self._choose_adapters(reader.read(0, frames), info.sample_rate)
        peak = 0.0
        length, overlap, context = self.segment.samples(info.sample_rate)
        bar = tqdm(
            total=round(info.duration, 2),
            unit="s",
            desc=src.name,
            disable=not self.progress,
            leave=False,
        )
        with (
            io.BlockReader(info, info.compute_dtype) as reader,
            io.AtomicWriter(
                dst, info.sample_rate, info.channels, subtype or info.subtype, overwrite=overwrite
            ) as writer,
        ):

            def read(start: int, stop: int) -> np.ndarray:
                nonlocal peak
                block = reader.read(start, stop)
                peak = max(peak, float(np.abs(block).max(initial=0.0)))
                return block

            for out in overlap_add(
                read,
                lambda b: self.process_block(b, info.sample_rate),
                info.frames,
                length,
                overlap,
                context,
                on_segment=lambda s: bar.update((s.stop - s.start) / info.sample_rate),
            ):
                writer.write(out)
        bar.close()
        if peak == 0.0:
            result.warnings.append("input is digital silence; output is silence too")
        elif peak >= 1.0:
            result.warnings.append("input reaches full scale (clipped?); clipping is not repaired")
        if result.adapters is not None:  # the weights --adapters auto chose, beside the output
            with io.atomic_path(dst.with_name(dst.name + ".adapters.json"), overwrite=True) as tmp:
                tmp.write_text(
                    json.dumps({"input": str(src), "adapters": result.adapters}, indent=1)
                )
        result.seconds = time.perf_counter() - began
        return result


def _fit_length(x: np.ndarray, length: int) -> np.ndarray:
    if x.shape[-1] >= length:
        return x[..., :length]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])])


# -- batches -----------------------------------------------------------------------------


@dataclass
class BatchResult:
    files: list[FileResult]

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
) -> BatchResult:
    """Enhance files and folders; a bad file is recorded and the batch goes on."""
    pairs = plan_outputs([Path(p) for p in inputs], None if output is None else Path(output))
    if not pairs:
        raise StemProverError("no audio files found in the given inputs")
    results = []
    for src, dst in pairs:
        try:
            results.append(pipeline.enhance_file(src, dst, subtype, overwrite))
        except StemProverError as err:
            results.append(FileResult(src, error=err.message))
        except (OSError, RuntimeError) as err:  # disk full, decoder crash: keep the batch going
            results.append(FileResult(src, error=f"{type(err).__name__}: {err}"))
    return BatchResult(results)


def _is_within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
