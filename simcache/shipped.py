"""The configs and models that ship with simcache, found by name or by path.

In a clone (and an editable install) they are the repository's `configs/` and `models/`;
an installed wheel carries them as package data in `simcache/configs` and `simcache/models`
(pyproject.toml maps the folders into the package).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import SimcacheError

KINDS = ("configs", "models")
_HERE = Path(__file__).resolve().parent


def folder(kind: str) -> Path | None:
    """Where the shipped files of a kind are: inside the package, else beside it."""
    for d in (_HERE / kind, _HERE.parent / kind):
        if d.is_dir():
            return d
    return None


@dataclass(frozen=True)
class Shipped:
    kind: str  # "configs" or "models"
    name: str  # the file name without .yaml
    path: Path
    description: str


def _description(path: Path) -> str:
    """The file's `description:` line, read without parsing the whole file."""
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^description:\s*(.*)$", line)
            if m:
                return m.group(1).strip().strip("'\"")
    except (OSError, UnicodeDecodeError):
        pass
    return ""


def listing(kind: str | None = None) -> list[Shipped]:
    """Every shipped config and model (or those of one kind), sorted by name."""
    out = []
    for k in KINDS if kind is None else (kind,):
        d = folder(k)
        if d is None:
            continue
        for p in sorted(d.glob("*.yaml")):
            out.append(Shipped(k, p.stem, p, _description(p)))
    return out


def names(kind: str) -> list[str]:
    return [s.name for s in listing(kind)]


def resolve(value: str | Path, kind: str, what: str) -> Path:
    """The path as given when it exists or looks like a path; else the shipped file of that
    name (`mobile_soc`, `vgg16`).

    `what` names the argument in the error (CONFIG, MODEL). A bare name that is neither a
    file nor a shipped name is an error listing the shipped names; a path that does not
    exist is left to the loader, which says it cannot read it."""
    path = Path(value)
    text = str(value)
    if path.exists() or "/" in text or "\\" in text or text.endswith((".yaml", ".yml")):
        return path
    for s in listing(kind):
        if s.name == text:
            return s.path
    shipped = ", ".join(names(kind)) or "none found"
    raise SimcacheError([f"{what}: {text!r} is neither a file nor a shipped {kind[:-1]} "
                         f"(shipped: {shipped}; `simcache configs` lists them)"])


def find(name: str) -> Shipped:
    """A shipped config or model by name."""
    stem = name[:-5] if name.endswith(".yaml") else name
    for s in listing():
        if s.name == stem:
            return s
    known = ", ".join(s.name for s in listing())
    raise SimcacheError([f"NAME: no shipped config or model is called {name!r} "
                         f"(shipped: {known})"])


def _scalar(text: str) -> str:
    """`text` as a YAML scalar that reads back as that string: plain when it can be."""
    import yaml

    try:
        if yaml.safe_load(f"k: {text}") == {"k": text}:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text)


def copy_text(item: Shipped, dest: Path, flag: str = "--copy") -> str:
    """The text a copy of a shipped file to `dest` holds. A config is renamed to the file's
    stem and says where it came from (`copied_from: NAME`, on the line after `name:`), so
    that a command comparing it with the original tells them apart; its comments, sources
    and figures stay as they were. A model is copied as it is."""
    text = item.path.read_text(encoding="utf-8")
    if item.kind != "configs":
        return text
    from .config import check_name

    name = dest.stem
    try:
        check_name(name)
    except ValueError as exc:
        raise SimcacheError([f"{flag}: {dest.name}: the file's name without .yaml names the "
                             f"copied config, and {exc}"]) from None
    lines = text.splitlines(keepends=True)
    at = next((k for k, line in enumerate(lines) if re.match(r"name:\s", line)), None)
    if at is None or any(line.startswith("copied_from:") for line in lines):
        return text
    lines[at:at + 1] = [f"name: {_scalar(name)}\n", f"copied_from: {_scalar(item.name)}\n"]
    return "".join(lines)
