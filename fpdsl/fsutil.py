"""Write files whole or not at all: a temporary file beside the target,
then a rename; a set of files all or none. Read inputs bounded, refusing
what is not a regular file (a FIFO would block forever, a device never ends)."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from fpdsl.diagnostics import UsageError


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def output_path(path: str | Path, what: str = "output") -> Path:
    """Where a write to `path` really goes, or a UsageError saying why it
    cannot: a symlink is written through (as `cat >` would), a directory,
    a device, a FIFO or a path under a file is refused."""
    raw = str(path)
    if raw.endswith(os.sep):
        raise UsageError(f"{what}: {raw} names a directory; give a file name")
    p = Path(raw)
    try:
        if p.is_symlink():
            target = Path(os.path.realpath(p))
            if not target.parent.is_dir():
                raise UsageError(f"{what}: {raw} is a symbolic link to {target}, whose directory does not exist")
            p = target
        st = os.stat(p) if p.exists() else None
        parent = p.parent
        parent_st = os.stat(parent) if parent.exists() else None
    except OSError as exc:
        raise UsageError(f"{what}: {raw}: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{what}: {raw} is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what}: {raw} is not a regular file ({_kind(st.st_mode)}); fpdsl writes only files")
    if parent_st is not None and not stat.S_ISDIR(parent_st.st_mode):
        raise UsageError(f"{what}: {parent} is not a directory")
    return p


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _stage(path: Path, raw: bytes) -> str:
    """A temporary file beside `path` holding `raw`, with the mode the
    file has now, or the one a plain write would give it."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode) if path.exists() else _umask_mode()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".fpdsl-tmp", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.chmod(tmp, mode)
    except BaseException as exc:
        _unlink(tmp)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return tmp


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def atomic_write(path: str | Path, data: str | bytes, *, what: str = "output") -> None:
    """Write one file whole or not at all."""
    write_all({path: data}, what=what)


def write_all(files: dict[str | Path, str | bytes], *, what: str = "output", mkdir: bool = True) -> None:
    """Write every file or none: stage them all beside their targets, then
    rename; if a rename fails, put back what was replaced."""
    targets = [(output_path(p, what), _bytes(d)) for p, d in files.items()]
    if mkdir:
        for p, _ in targets:
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"{what}: cannot create {p.parent}: {exc.strerror or exc}") from None
    staged: list[tuple[Path, str]] = []
    try:
        for p, raw in targets:
            staged.append((p, _stage(p, raw)))
    except BaseException:
        for _, tmp in staged:
            _unlink(tmp)
        raise
    backups: list[tuple[Path, str | None]] = []
    try:
        for p, tmp in staged:
            backup = None
            if p.exists():
                backup = f"{tmp}.orig"
                os.link(p, backup)
            os.replace(tmp, p)
            backups.append((p, backup))
    except OSError as exc:
        for p, backup in reversed(backups):
            if backup is not None:
                os.replace(backup, p)
            else:
                _unlink(str(p))
        for _, tmp in staged:
            _unlink(tmp)
            _unlink(f"{tmp}.orig")
        raise UsageError(f"{what}: cannot write: {exc.strerror or exc}; nothing was written") from None
    for _, backup in backups:
        if backup is not None:
            _unlink(backup)


class InputRefused(Exception):
    """Why a file is not read: the reason, to be said after its name."""


def read_regular(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, read without
    blocking; InputRefused says why not."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        raise InputRefused(
            "no such file" if exc.errno == errno.ENOENT else f"cannot read: {exc.strerror or exc}"
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputRefused("is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputRefused(f"is {_kind(st.st_mode)}, not a regular file")
    if st.st_size > max_bytes:
        raise InputRefused(f"is {st.st_size} bytes; the limit is {max_bytes}")
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(max_bytes + 1)  # bounded even if the file grows meanwhile
    except OSError as exc:
        raise InputRefused(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise InputRefused(f"grew past the limit of {max_bytes} bytes while being read")
    return data


def read_bounded(path: str | Path, max_bytes: int, what: str = "input") -> bytes:
    """read_regular(), refusals as a UsageError naming `what` and the file."""
    try:
        return read_regular(path, max_bytes)
    except InputRefused as exc:
        raise UsageError(f"{what}: {path}: {exc}") from None
