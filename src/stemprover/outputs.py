"""The one rule for every command that writes.

1. Never write over an input: paths given to :func:`protect` (stems, mixtures, pairs folders,
   references) are refused as destinations, ``--overwrite`` or not.
2. Never replace an existing file without ``overwrite``; the final name is claimed atomically
   (hard link if absent), so two runs writing the same name cannot silently replace each
   other: the second one fails with "output exists".
3. ``overwrite`` replaces only the files the command writes; a folder is never deleted whole.
4. Work goes to temporary names that carry the writer's process id. They are removed on
   failure, on Ctrl-C and on SIGTERM (the CLI turns SIGTERM into :class:`Terminated`), and a
   later write into the same folder removes those a killed run (``kill -9``) left behind.

No third-party imports here: the CLI uses this module before torch is loaded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from stemprover.errors import StemProverError

_PROTECTED: set[Path] = set()
_PARTIAL = re.compile(r"^\..+\.(\d+)\.[^.]+\.partial(\..*)?$")  # .NAME.PID.RAND.partial[.ext]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every ``finally`` removes its temporary files."""


def protect(paths: Iterable[str | os.PathLike | None]) -> None:
    """Mark inputs (files or folders) that no output may replace or lie inside of."""
    for p in paths:
        if p is not None:
            _PROTECTED.add(_resolve(Path(p)))


@contextlib.contextmanager
def protecting(paths: Iterable[str | os.PathLike | None]) -> Iterator[None]:
    """:func:`protect` for the duration of a block (a command, a test)."""
    before = set(_PROTECTED)
    protect(paths)
    try:
        yield
    finally:
        _PROTECTED.clear()
        _PROTECTED.update(before)


def check_destination(path: str | os.PathLike) -> None:
    """Refuse a destination that is, or lies inside, a protected input.

    Raises:
        StemProverError: naming the destination and the input it would replace.
    """
    target = _resolve(Path(path))
    for p in _PROTECTED:
        if target == p or target.is_relative_to(p):
            what = "is" if target == p else "lies inside"
            raise StemProverError(
                f"refusing to write here: the output {what} an input ({p}); choose another output",
                path,
            )


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # a symlink loop: judge the name itself
        return path.absolute()


def temp_name(path: Path) -> str:
    """The prefix of a temporary file beside ``path``: hidden, tagged with this process id."""
    return f".{path.name}.{os.getpid()}."


def clean_stale(folder: Path) -> list[Path]:
    """Remove temporary files and folders in ``folder`` left by processes that no longer run
    (a ``kill -9`` mid-write). Those of running processes are left alone.

    Returns:
        What was removed.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        m = _PARTIAL.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


_CLEANED: set[Path] = set()


def _clean_once(folder: Path) -> None:
    """:func:`clean_stale` a folder the first time this process writes into it (a batch that
    writes thousands of files into one folder scans it once, not once per file)."""
    key = _resolve(folder)
    if key not in _CLEANED:
        clean_stale(folder)
        _CLEANED.add(key)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def new_temp_file(path: Path, suffix: str = "") -> Path:
    """Create an empty temporary file beside ``path`` (its folder made if needed)."""
    check_destination(path)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StemProverError("the output's folder is a file", parent) from None
    _clean_once(parent)
    fd, tmp = tempfile.mkstemp(prefix=temp_name(path), suffix=f".partial{suffix}", dir=parent)
    os.close(fd)
    return Path(tmp)


def commit(tmp: Path, path: Path, overwrite: bool = False) -> None:
    """Move the finished ``tmp`` to ``path``: replacing only with ``overwrite``, and without
    it claiming the name atomically, so a file that appeared meanwhile is never replaced.

    Raises:
        StemProverError: ``path`` exists and ``overwrite`` is off, or ``path`` is an input.
    """
    check_destination(path)
    if path.is_dir():
        raise StemProverError("output is a folder, expected a file name", path)
    if overwrite:
        os.replace(tmp, path)
        _publish(path)
        return
    try:
        os.link(tmp, path)  # fails if path exists: the claim is atomic
    except FileExistsError:
        raise StemProverError("output exists (use --overwrite to replace it)", path) from None
    except OSError as err:  # a file system without hard links
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            raise StemProverError("output exists (use --overwrite to replace it)", path) from None
        os.replace(tmp, path)
    else:
        tmp.unlink()
    _publish(path)


def _publish(path: Path, mode: int = 0o666) -> None:
    """mkstemp makes files 0600 (mkdtemp folders 0700); a finished output gets the usual
    permissions: ``mode`` less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse early (before any work) what :func:`commit` would refuse at the end."""
    check_destination(path)
    if path.is_dir():
        raise StemProverError("output is a folder, expected a file name", path)
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise StemProverError("output exists (use --overwrite to replace it)", path)


def check_folder_writable(path: Path, overwrite: bool) -> None:
    """Refuse early (before any work) what :func:`atomic_dir` would refuse."""
    check_destination(path)
    if path.exists() and not path.is_dir():
        raise StemProverError("output folder is a file", path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise StemProverError("output folder exists and is not empty (use --overwrite)", path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` that becomes ``path`` when the block succeeds.

    For outputs written by other libraries (JSON, HTML, PNG, checkpoints).
    """
    path = Path(path)
    check_writable(path, overwrite)
    tmp = new_temp_file(path)
    try:
        yield tmp
        commit(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """A staging folder beside ``path`` whose contents become ``path``'s when the block
    succeeds.

    A new (or empty) ``path`` appears whole, by one rename. An existing one needs
    ``overwrite``, and then only the files the block wrote replace theirs (top-level files
    last, so a manifest or summary arrives after what it lists); nothing else in ``path`` is
    touched. A failed or interrupted block leaves ``path`` as it was and no staging behind.
    """
    path = Path(path)
    check_folder_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_once(path.parent)
    staging = Path(tempfile.mkdtemp(prefix=temp_name(path), suffix=".partial", dir=path.parent))
    try:
        yield staging
        _place(staging, path, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _place(staging: Path, path: Path, overwrite: bool) -> None:
    with contextlib.suppress(FileNotFoundError, OSError):
        path.rmdir()  # an empty folder is replaced whole; a non-empty one stays
    try:
        staging.rename(path)
        _publish(path, 0o777)  # mkdtemp made it 0700
        return
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if not overwrite:  # another run filled it meanwhile
        raise StemProverError("output folder exists and is not empty (use --overwrite)", path)
    files = sorted(
        (p for p in staging.rglob("*") if not p.is_dir()),
        key=lambda p: (len(p.relative_to(staging).parts) == 1, str(p)),
    )
    for src in files:
        dst = path / src.relative_to(staging)
        check_destination(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_dir():
            raise StemProverError("a folder stands where the output file goes", dst)
        os.replace(src, dst)
        _publish(dst)
