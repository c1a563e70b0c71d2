"""The one YAML reader for configs and models: bounded, strict, and with file:line:col errors.

It refuses what PyYAML would otherwise accept or choke on: a path that is not a regular
file (a directory, a device, a FIFO: never opened for a blocking read), a file over
`MAX_BYTES`, bytes that are not UTF-8, duplicate keys, keys that are not strings, nesting
deeper than `MAX_DEPTH`, aliases (`*name`, and so "billion laughs" documents), and values
PyYAML cannot build (an integer of 5,000 digits). The node tree is composed once; the
caller gets the data and the tree (for the lines of later validation errors).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import SimcacheError

MAX_BYTES = 1 << 20  # 1 MiB: the largest shipped file is about 15 KB
MAX_DEPTH = 50  # nested mappings and sequences; the shipped files nest 4 deep


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, mark: yaml.Mark | None):
        super().__init__(message)
        self.problem, self.problem_mark = message, mark


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases, duplicate keys, non-string keys or deep nesting."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(f"YAML aliases (*{event.anchor}) are not accepted; write the "
                           "value out", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep",
                               self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            raise _Refused(f"cannot read this value: {exc}", node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            raise _Refused("expected a mapping", node.start_mark)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise _Refused(f"key {key_node.value!r} is not a string (quote it)",
                               key_node.start_mark)
            if key in out:
                raise _Refused(f"duplicate key {key!r}", key_node.start_mark)
            out[key] = self.construct_object(value_node, deep=deep)
        return out


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def read_bytes(path: Path, error: type[SimcacheError], what: str,
               limit: int = MAX_BYTES) -> bytes:
    """At most `limit` bytes of a regular file, or `error` saying why not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise error([f"{path}: cannot read {what}: {exc.strerror}"]) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise error([f"{path}: cannot read {what}: {kind}"])
        if st.st_size > limit:
            raise error([f"{path}: {what} is {st.st_size:,} bytes; the limit is {limit:,}"])
        chunks, got = [], 0
        while got <= limit:
            b = os.read(fd, limit + 1 - got)
            if not b:
                break
            chunks.append(b)
            got += len(b)
    except OSError as exc:
        raise error([f"{path}: cannot read {what}: {exc.strerror}"]) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise error([f"{path}: {what} is over the limit of {limit:,} bytes"])
    return data


def read_yaml(path: str | Path, error: type[SimcacheError], what: str
              ) -> tuple[Any, yaml.Node | None]:
    """(data, composed node tree) of a YAML file; `error` with one `file:line:col: ...` line
    on anything wrong."""
    path = Path(path)
    data = read_bytes(path, error, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        raise error([f"{path}:{line}:{col}: not UTF-8 text (byte 0x{data[exc.start]:02x})"]
                    ) from None
    text = text.removeprefix("\ufeff")
    loader = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        value = loader.construct_document(root) if root is not None else None
    except yaml.reader.ReaderError as exc:
        enc = text[:exc.position].encode("utf-8")
        line, col = _line_col(enc, len(enc))
        raise error([f"{path}:{line}:{col}: invalid YAML: character "
                     f"U+{exc.character:04X} is not allowed"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise error([f"{where}: invalid YAML: {problem}"]) from None
    except RecursionError:
        raise error([f"{path}: invalid YAML: nested too deeply"]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return value, root
