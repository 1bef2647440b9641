"""Writing outputs whose samples may exceed full scale: ``--clip-mode``.

- ``clamp`` (default): samples beyond ±1 are set to ±1; the level is kept, so stems still sum
  to their mixture.
- ``rescale`` (demucs's default): the whole file is scaled down so that its peak is at full
  scale; the waveform is kept, the level drops. Two passes through a float intermediate.
- ``none``: float files keep what the model made; integer formats cannot, and clip.

Either way the result says how many samples were over full scale, so it is never silent.
"""

from __future__ import annotations

import numpy as np
import soundfile as sf

from stemprover import outputs
from stemprover.audio import io
from stemprover.vocabulary import CLIP_MODES

_BLOCK = 1 << 16


class ClippingWriter:
    """An :class:`~stemprover.audio.io.AtomicWriter` with a clip policy.

    Attributes (after the block): ``over`` (samples beyond ±1 the model made), ``peak``,
    ``gain`` (what ``rescale`` applied; 1 otherwise).
    """

    def __init__(self, path, rate: int, channels: int, subtype: str, overwrite: bool, mode: str):
        if mode not in CLIP_MODES:
            raise ValueError(f"clip mode must be one of {CLIP_MODES}, not {mode!r}")
        self.path, self.rate, self.channels = path, rate, channels
        self.subtype, self.overwrite, self.mode = subtype, overwrite, mode
        self.over, self.peak, self.gain = 0, 0.0, 1.0
        self._final = io.AtomicWriter(path, rate, channels, subtype, overwrite=overwrite)
        self._tmp = None

    def __enter__(self) -> ClippingWriter:
        if self.mode == "rescale":
            self._tmp = outputs.new_temp_file(self.path, ".wav")
            self._file = sf.SoundFile(
                str(self._tmp), "w", self.rate, self.channels, "DOUBLE", format="RF64"
            )
        else:
            self._final.__enter__()
        return self

    def write(self, block: np.ndarray) -> None:
        """Append a ``(C, n)`` float block."""
        level = np.abs(block)
        self.peak = max(self.peak, float(level.max(initial=0.0)))
        self.over += int((level > 1.0).sum())
        if self.mode == "rescale":
            self._file.write(np.ascontiguousarray(block.T, dtype=np.float64))
        elif self.mode == "clamp":
            self._final.write(np.clip(block, -1.0, 1.0))
        else:
            self._final.write(block)

    def __exit__(self, exc_type, *exc) -> None:
        if self.mode != "rescale":
            self._final.__exit__(exc_type, *exc)
            return
        try:
            self._file.close()
            if exc_type is None:
                self.gain = 1.0 / self.peak if self.peak > 1.0 else 1.0
                with self._final as final, sf.SoundFile(str(self._tmp)) as src:
                    while True:
                        block = src.read(_BLOCK, dtype="float64", always_2d=True)
                        if not len(block):
                            break
                        final.write(block.T * self.gain)
        finally:
            self._tmp.unlink(missing_ok=True)

    def warning(self) -> str | None:
        """What happened to samples over full scale, in words; ``None`` when there were none."""
        if not self.over:
            return None
        what = {
            "clamp": "clamped to full scale (--clip-mode rescale keeps the waveform)",
            "rescale": f"the file was scaled by {20 * np.log10(self.gain):.1f} dB to fit",
            "none": "left as they are"
            if self.subtype in ("FLOAT", "DOUBLE")
            else "clipped by the integer format",
        }[self.mode]
        return f"{self.over} samples over full scale (peak {self.peak:.3f}): {what}"
