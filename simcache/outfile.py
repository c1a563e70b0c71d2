"""Files written whole or not at all: a temporary file beside the target, then a rename.

A target that exists and is not a regular file (a device such as /dev/null, a FIFO) is
written to as it is, never replaced. Replacing an existing file keeps its mode.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import SimcacheError

NAME_MAX = 255  # bytes in one file name, on the file systems we know


def _special(path: Path) -> bool:
    """Whether the path exists and is something other than a regular file or a directory."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_target(value: str | Path, flag: str) -> Path:
    """The output path, once it is known that a file can be written there; else a
    SimcacheError naming `flag`. Nothing is left behind by the check."""
    text = str(value)
    if not text.strip():
        raise SimcacheError([f"{flag}: the file name is empty"])
    last = text.replace(os.sep, "/").rsplit("/", 1)[-1]
    if last in ("", ".", ".."):
        # Path() drops a trailing '/': out/new.json/ would become the file out/new.json
        why = " (it ends with '/')" if not last else ""
        raise SimcacheError([f"{flag}: {text[:80]} names a directory{why}; give a file "
                             "name"])
    path = Path(text).expanduser()
    if any(len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in path.parts):
        raise SimcacheError([f"{flag}: a name in {text[:60]}… is longer than {NAME_MAX} bytes"])
    try:
        if path.is_symlink() and path.exists():
            path = path.resolve()  # replace the file the link names, not the link
        if path.is_dir():
            raise SimcacheError([f"{flag}: {text} is a directory; give a file name in it"])
        if _special(path):
            if not os.access(path, os.W_OK):
                raise SimcacheError([f"{flag}: {text} cannot be written"])
            return path
    except OSError as exc:
        raise SimcacheError([f"{flag}: {text[:80]}: {exc.strerror or exc}"]) from None
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        why = "does not exist" if not parent.exists() else "is not a directory"
        raise SimcacheError([f"{flag}: directory {str(parent)!r} {why}"])
    try:  # the one sure test: make the temporary file the write will use, then remove it
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise SimcacheError([f"{flag}: cannot write in {str(parent)!r}: "
                             f"{exc.strerror or exc}"]) from None
    return path


class _Stream:
    """A device or FIFO seen as a stream: writes go through, and it cannot seek (/dev/null
    claims it can, and then a zip archive's offsets come out wrong)."""

    def __init__(self, f: IO):
        self._f = f

    def write(self, data):
        return self._f.write(data)

    def flush(self) -> None:
        self._f.flush()

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        raise io.UnsupportedOperation("a device or FIFO has no position")

    def close(self) -> None:
        self._f.flush()  # the file itself is closed by atomic_output

    @property
    def closed(self) -> bool:
        return self._f.closed

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def atomic_output(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Yield a file to write; on success it replaces `path`, on any failure or interrupt
    it is removed and `path` is left as it was. A device or FIFO is written directly."""
    path = Path(path)
    text_args = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
    if _special(path):
        with open(path, mode, **text_args) as f:
            yield _Stream(f)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                               dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, mode, **text_args) as f:
            yield f
        try:
            keep = stat.S_IMODE(path.stat().st_mode)  # replacing a file keeps its mode
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            keep = 0o666 & ~umask  # as an ordinary new file would be
        os.chmod(tmp, keep)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
