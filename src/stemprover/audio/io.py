"""Audio file I/O: validated reads, streaming blocks, atomic writes.

Arrays are channel-first, ``(C, T)``, float. Every function here turns libsndfile's varied
failures into a :class:`~stemprover.errors.StemProverError` naming the file and the problem.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from stemprover import outputs
from stemprover.errors import StemProverError
from stemprover.outputs import atomic_dir, atomic_path

__all__ = [
    "AtomicWriter",
    "AudioInfo",
    "BlockReader",
    "atomic_dir",
    "atomic_path",
    "probe",
    "read",
    "write",
]

MIN_RATE = 8_000
MAX_RATE = 192_000
AUDIO_SUFFIXES = (
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".aif",
    ".aiff",
    ".aifc",
    ".mp3",
    ".w64",
    ".rf64",
)
# Subtypes whose samples float32 arithmetic cannot return to within half an LSB: processing
# them runs in float64.
WIDE_SUBTYPES = ("PCM_24", "PCM_32", "DOUBLE")


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header and checked."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def compute_dtype(self) -> np.dtype:
        """The float type that carries every sample of this file without loss."""
        return np.dtype(np.float64 if self.subtype in WIDE_SUBTYPES else np.float32)


def probe(path: str | os.PathLike) -> AudioInfo:
    """Read and check a file's header.

    Raises:
        StemProverError: missing, empty, not audio, truncated, unsupported rate or no samples.
    """
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise StemProverError(f"broken or looping symbolic link (-> {os.readlink(path)})", path)
        raise StemProverError("file not found", path)
    if path.is_dir():
        raise StemProverError("is a folder, expected an audio file", path)
    if path.stat().st_size == 0:
        raise StemProverError("file is empty (0 bytes)", path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise StemProverError(f"not a readable audio file ({_sf_reason(err)})", path) from None
    _check_complete(path)
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise StemProverError(
            f"unsupported sample rate {info.samplerate} Hz (supported: {MIN_RATE}-{MAX_RATE} Hz)",
            path,
        )
    if info.frames <= 0:
        raise StemProverError("file holds no audio samples", path)
    return AudioInfo(path, info.samplerate, info.channels, info.frames, info.format, info.subtype)


def read(path: str | os.PathLike, dtype: str = "float32") -> tuple[np.ndarray, AudioInfo]:
    """Read a whole file.

    Returns:
        ``(audio, info)`` with audio of shape ``(C, T)``.
    """
    info = probe(path)
    with BlockReader(info, dtype) as reader:
        return reader.read(0, info.frames), info


class FloatWav:
    """A 32-bit float WAV file whose samples are read where they lie, a range at a time, with
    nothing held open or in memory between reads (training crops: the operating system's page
    cache keeps what is read often). :meth:`open` gives ``None`` for any other file.

    Indexing reads: ``wav[rows, start:stop]`` is ``read(start, stop)[rows]`` and
    ``np.asarray(wav)`` the whole file, as :func:`read` returns it (``shape`` ``(C, T)``).
    """

    def __init__(self, info: AudioInfo, offset: int) -> None:
        self.info, self.offset = info, offset
        self.shape = (info.channels, info.frames)

    @classmethod
    def open(cls, info: AudioInfo) -> FloatWav | None:
        if info.format != "WAV" or info.subtype != "FLOAT":
            return None
        found = _sample_chunk(Path(info.path))
        if found is None or found[2] != b"data":  # RF64 and the like: read them whole
            return None
        return cls(info, found[0])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of every channel (within the file), float32, checked for
        NaN/Inf as :func:`read` checks them. Shape: ``(C, stop - start)``."""
        C = self.info.channels
        try:
            with open(self.info.path, "rb") as f:
                f.seek(self.offset + 4 * C * start)
                block = np.fromfile(f, "<f4", (stop - start) * C).reshape(-1, C)
        except OSError as err:  # moved or deleted since it was opened
            raise StemProverError(f"cannot read ({err.strerror})", self.info.path) from None
        return _checked(block, start, stop - start, self.info).T

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        if not isinstance(cols, slice):
            raise TypeError("index a FloatWav's samples with a slice")
        start, stop, step = cols.indices(self.shape[1])
        return self.read(start, max(start, stop))[rows, ::step]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self.read(0, self.shape[1])
        return whole if dtype is None else whole.astype(dtype)


class BlockReader:
    """Random access to blocks of a file, zero-padded outside it, checked for NaN/Inf.

    Args:
        info: The probed file.
        dtype: Float type of the returned blocks.
    """

    def __init__(self, info: AudioInfo, dtype: str | np.dtype = "float32") -> None:
        self.info = info
        self.dtype = np.dtype(dtype)
        self._file: sf.SoundFile | None = None

    def __enter__(self) -> BlockReader:
        self._file = sf.SoundFile(str(self.info.path))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)``; indices outside the file read as zeros.

        Shape:
            returns ``(C, stop - start)``.
        """
        assert self._file is not None, "use BlockReader as a context manager"
        out = np.zeros((self.info.channels, stop - start), dtype=self.dtype)
        lo, hi = max(start, 0), min(stop, self.info.frames)
        if hi <= lo:
            return out
        self._file.seek(lo)
        try:
            block = self._file.read(hi - lo, dtype=self.dtype, always_2d=True)  # (n, C)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise StemProverError(
                f"cannot decode audio ({_sf_reason(err)})", self.info.path
            ) from None
        out[:, lo - start : hi - start] = _checked(block, lo, hi - lo, self.info).T
        return out


def _checked(block: np.ndarray, lo: int, frames: int, info: AudioInfo) -> np.ndarray:
    """``block`` ``(n, C)``, read from frame ``lo``, refused unless it holds ``frames``
    frames, all finite."""
    if len(block) != frames:
        raise StemProverError(
            f"file is truncated: header promises {info.frames} frames, "
            f"data ends at {lo + len(block)}",
            info.path,
        )
    if not np.isfinite(block).all():
        bad = lo + int(np.argwhere(~np.isfinite(block))[0, 0])
        raise StemProverError(
            f"contains NaN or Inf samples (first at {bad / info.sample_rate:.3f} s)", info.path
        )
    return block


class AtomicWriter:
    """Write an audio file through a temporary file renamed into place on success.

    On any exception the temporary file is removed and the destination is untouched.

    Args:
        path: Destination.
        sample_rate: Output rate.
        channels: Output channel count.
        subtype: libsndfile subtype, e.g. ``"PCM_16"``; ``None`` for the format's default.
        format: libsndfile major format; ``None`` to infer from the suffix.
        overwrite: Allow replacing an existing destination.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        sample_rate: int,
        channels: int,
        subtype: str | None = None,
        format: str | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        outputs.check_writable(self.path, overwrite)
        self.overwrite = overwrite
        self.format = format or _format_for_suffix(self.path)
        if subtype is not None and not sf.check_format(self.format, subtype):
            raise StemProverError(f"format {self.format} cannot store subtype {subtype}", self.path)
        self.sample_rate, self.channels, self.subtype = sample_rate, channels, subtype
        self._file: sf.SoundFile | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> AtomicWriter:
        self._tmp = outputs.new_temp_file(self.path, self.path.suffix)
        try:
            self._file = sf.SoundFile(
                str(self._tmp),
                "w",
                self.sample_rate,
                self.channels,
                self.subtype,
                format=self.format,
            )
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        # libsndfile stamps float WAV/AIFF files with a PEAK chunk holding the wall-clock
        # time; without it the same audio always gives the same bytes.
        sf._snd.sf_command(self._file._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        return self

    def write(self, block: np.ndarray) -> None:
        """Append a ``(C, n)`` float block; integer formats are rounded and clipped."""
        assert self._file is not None, "use AtomicWriter as a context manager"
        try:
            self._file.write(np.ascontiguousarray(_quantize(block, self._file.subtype).T))
        except (sf.LibsndfileError, RuntimeError) as err:
            raise _write_error(err, self.path) from None

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        assert self._file is not None and self._tmp is not None
        try:
            try:
                self._file.close()
            except (sf.LibsndfileError, RuntimeError) as err:
                if exc_type is None:
                    raise _write_error(err, self.path) from None
            if exc_type is None:
                outputs.commit(self._tmp, self.path, self.overwrite)
        finally:
            self._tmp.unlink(missing_ok=True)


def _write_error(err: Exception, path: Path) -> StemProverError:
    """libsndfile reports a full disk as "System error": say what it is."""
    free = shutil.disk_usage(path.parent).free
    if free < 1 << 20:
        return StemProverError(f"the disk is full ({free} bytes free); free some space", path)
    return StemProverError(f"cannot write audio ({_sf_reason(err)})", path)


def write(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    subtype: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a whole ``(C, T)`` array atomically."""
    audio = np.atleast_2d(audio)
    with AtomicWriter(path, sample_rate, audio.shape[0], subtype, overwrite=overwrite) as out:
        out.write(audio)
    return Path(path)


_SFC_SET_ADD_PEAK_CHUNK = 0x1050
_PCM_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}


def _quantize(block: np.ndarray, subtype: str) -> np.ndarray:
    """Float samples to left-aligned int32 for integer subtypes, rounding to nearest.

    libsndfile truncates float samples towards minus infinity and wraps out-of-range values;
    rounding here makes a float round trip of integer audio exact.
    """
    bits = _PCM_BITS.get(subtype)
    if bits is None:
        return block
    scale = 2.0 ** (bits - 1)
    q = np.clip(np.rint(block.astype(np.float64) * scale), -scale, scale - 1)
    return q.astype(np.int32) << (32 - bits)


def output_subtype(path: Path, wanted: str | None, fallback: str) -> str:
    """``wanted`` (``--subtype``), else the input's ``fallback`` when the output's format can
    store it, else that format's default (a FLOAT input written as FLAC or MP3)."""
    if wanted is not None:
        return wanted
    fmt = _format_for_suffix(path)
    return fallback if sf.check_format(fmt, fallback) else sf.default_subtype(fmt)


def is_audio_path(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def find_audio(folder: Path) -> Iterator[Path]:
    """Audio files under ``folder``, recursively, in sorted order; hidden files skipped."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and is_audio_path(path) and not path.name.startswith("."):
            yield path


def _format_for_suffix(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    name = {"aif": "AIFF", "aifc": "AIFF", "oga": "OGG", "rf64": "RF64"}.get(suffix, suffix.upper())
    if name not in sf.available_formats():
        raise StemProverError(f"cannot write audio with suffix '.{suffix}'", path)
    return name


def _sf_reason(err: Exception) -> str:
    text = str(err).split(":", 1)[-1].strip().rstrip(".")
    return text.splitlines()[0] if text else type(err).__name__


def _sample_chunk(path: Path) -> tuple[int, int, bytes] | None:
    """Where a RIFF/AIFF file's sample chunk (``data`` / ``SSND``) starts: ``(offset of its
    first byte, its declared length, its id)``; ``None`` for other files or none found."""
    with open(path, "rb") as f:
        head = f.read(12)
        size = path.stat().st_size
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            chunk_id, endian = b"data", "<"
        elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            chunk_id, endian = b"SSND", ">"
        else:
            return None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, length = struct.unpack(f"{endian}4sI", f.read(8))
            if cid == chunk_id:
                return pos + 8, length, cid
            pos += 8 + length + (length & 1)
    return None


def _check_complete(path: Path) -> None:
    """Refuse a RIFF/AIFF file whose sample chunk is shorter than its header says.

    libsndfile quietly reads what is there; a half-copied file should not pass as a short one.
    """
    found = _sample_chunk(path)
    if found is None:
        return
    offset, length, cid = found
    size = path.stat().st_size
    # Streaming writers leave 0 or 0xFFFFFFFF when the length is unknown.
    if length not in (0, 0xFFFFFFFF) and offset + length > size:
        raise StemProverError(
            f"file is truncated: {cid.decode()} chunk declares {length} bytes, "
            f"{size - offset} present",
            path,
        )
