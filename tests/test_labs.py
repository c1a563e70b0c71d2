"""The lab pages of docs/labs run as tests: every command as written, every stated number checked.

A lab page is Markdown with this shape (docs/labs/README.md shows it to authors too):

    # Lab N: title
    <!-- needs: 3c, tile -->            optional: simcache features the page uses
    ## Question / ## Prediction / ## Commands / ## Observe / ## Why / ## Exercise

Commands. Every fenced block tagged `console` holds commands, one per line, each
starting with `$ `. A command is `simcache ...` (run in this process through
simcache.cli.main) or `python docs/labs/code/FILE.py ...` (run with this interpreter).
The lines after a command, up to the next `$ ` line, are output it must print: each shown
line must appear in its standard output, in order and on consecutive lines (trailing
spaces ignored); a line `...` stands for any number of lines left out. Commands run in
page order from a fresh directory that looks like the repository root (configs, docs,
models and traces are links to it) with an empty `out/`; every `-o`/`--output` must
write under `out/`, and every command must exit with 0. A command may end with
`> out/FILE.txt`: its standard output is saved there, and a check reads a `.txt` file as
its list of lines (trailing spaces dropped). A `$ ` line outside a console
block is an error, so no command can be shown without being run.

Checks. A claim about the results is an HTML comment right after the sentence:

    <!-- check out/lab4-8way.json: levels.L1.three_c.conflict == 0 -->
    <!-- check dw=out/lab1-dw.json sp=out/lab1-sp.json: dw.totals.cycles > sp.totals.cycles -->

Before the colon: the files the claims read (`alias=path` or one bare path, whose keys
are then names of their own). After it: claims separated by `;`. A claim is a Python
expression over numbers, + - * / // % **, comparisons, `and`/`or`/`not`, `min`, `max`,
`abs`, `len`, `sum`, `count(list, "key", value)`, and paths into the JSON: `a.b.c`,
`a["key"]`, `a[0]`, `a[0:5]`. A list of objects with a `name`, `layer` or `config` (cache
levels, metrics and compare rows) is indexed by it when one item has it: `levels.L1`,
`rows.spatial`, `rows.server`.
Two more forms:

    EXPR ~= 97.4               EXPR rounds to the number as written: |EXPR - 97.4| <= 0.05
    EXPR ~= 3500 within 5%     a tolerance: allowed only if the sentence says "about"

Numbers. In every section but Question, Prediction and Exercise, each number in the
prose (outside inline code, and leaving out citations such as "Figure 2.1", "Eq. 2.4",
"Lab 3") must appear as a literal in the checks that follow its sentence, so no number
on a page goes unchecked. The sentence of a check is the prose since the previous
check or the start of its paragraph or list item.

Figures. `![...](figures/NAME.png)` shows a committed figure of docs/labs/figures; a command
of the page must draw out/NAME.png (`--plot`, or docs/labs/code/lab_figure.py), and the
plotted numbers both PNGs carry (simcache.plots.read_figure_data) must be equal, so a
figure cannot go stale; a figure of lab_figure.py must also plot the page's JSON results
(PLOTTED). SIMCACHE_LAB_FIGURES=update copies the figures drawn now over the committed ones.

Pages that need a feature this build lacks (`needs:`) are skipped, saying which.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import importlib.util
import io
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "docs" / "labs"
PAGES = sorted(LABS.glob("[0-9][0-9]-*.md"))
LINKED = ("configs", "docs", "models", "traces")
SECTIONS = ("Question", "Prediction", "Commands", "Observe", "Why", "Exercise")
UNCHECKED_SECTIONS = ("Question", "Prediction", "Exercise")

# ---------------------------------------------------------------------------------------
# Features a page may need, and how to tell whether this build has them.


def _help(*args: str) -> str:
    out, code = _simcache([*args, "--help"])[0:3:2]
    return out if code == 0 else ""


FEATURES = {
    "3c": lambda: "--3c" in _help("run"),
    "tile": lambda: "--tile" in _help("run"),
    "csim": lambda: bool(_help("csim")),
    "explain": lambda: bool(_help("explain")),
    "plot": lambda: importlib.util.find_spec("matplotlib") is not None,
    # a C compiler: simcache host's calibration loops and simcache.native's nests (Lab 13)
    "cc": lambda: shutil.which(os.environ.get("CC") or "cc") is not None,
}
_have: dict[str, bool] = {}


def have(feature: str) -> bool:
    if feature not in FEATURES:
        raise LabError(f"needs: unknown feature {feature!r} (known: {', '.join(FEATURES)})")
    if feature not in _have:
        _have[feature] = FEATURES[feature]()
    return _have[feature]


# ---------------------------------------------------------------------------------------
# Parsing a page.


class LabError(AssertionError):
    """A page that is wrong: a false claim, an unchecked number, a command that failed."""


@dataclass
class Command:
    line: int
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Check:
    line: int
    files: dict[str, str]   # alias -> path; alias "" is the default document
    claims: list[str]
    sentence: str
    section: str


@dataclass
class Page:
    path: Path
    title: str
    needs: list[str]
    sections: list[str]
    commands: list[Command]
    checks: list[Check]
    unchecked: list[tuple[int, str, str]]   # (line, number, sentence) with no check after


FENCE = re.compile(r"^(```+|~~~+)\s*(\S*)")
CHECK = re.compile(r"<!--\s*check\b(.*?)-->", re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
NEEDS = re.compile(r"<!--\s*needs:\s*(.*?)-->")
NUMBER = re.compile(r"(?<![\w.,\d])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d])"
                    r"|(?<![\w.,\d])\d+(?:\.\d+)?(?![\d]|\.\d)")
CITATION = re.compile(
    r"(?:\b(?:Figures?|Tables?|Equations?|Eqs?\.|Listings?|[Cc]hapters?|[Ss]ections?|"
    r"[Ll]abs?|[Ii]ssues?|[Ss]teps?)|§)\s*\d+(?:\.\d+)*"
    r"(?:\s*(?:[–,-]|and|to)\s*\d+(?:\.\d+)*)*")
TERMS = re.compile(r"\b3C\b|\bL\d\b|\b\w*\d+\w*[A-Za-z_]\w*")   # 3C, L1, x86, vgg16-fc1 ...


def numbers_in(text: str) -> list[str]:
    """The numbers a piece of prose states (not those of citations, terms or inline code)."""
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)          # link targets
    text = CITATION.sub(" ", text)
    text = TERMS.sub(" ", text)
    return NUMBER.findall(text)


def _value(literal: str) -> float:
    return float(literal.replace(",", ""))


def parse(path: Path) -> Page:
    lines = path.read_text(encoding="utf-8").split("\n")
    title, needs, sections, commands, checks, unchecked = "", [], [], [], [], []
    section = ""
    in_block, block_lang, fence = False, "", ""
    current: Command | None = None
    prose: list[tuple[int, str]] = []       # the open sentence: (line, text) pieces

    def close_prose():
        for ln, piece in prose:
            if section not in UNCHECKED_SECTIONS:
                for num in numbers_in(piece):
                    unchecked.append((ln, num, " ".join(p for _, p in prose).strip()))
        prose.clear()

    for no, raw in enumerate(lines, 1):
        m = FENCE.match(raw.strip()) if not in_block or raw.strip().startswith(fence) else None
        if m and not in_block:
            in_block, fence, block_lang = True, m.group(1), m.group(2)
            close_prose()
            current = None
            continue
        if m and in_block:
            in_block, current = False, None
            continue
        if in_block:
            if raw.startswith("$ "):
                if block_lang != "console":
                    raise LabError(f"{path.name}:{no}: a command in a ```{block_lang or 'plain'} "
                                   "block is never run; put commands in ```console blocks")
                current = Command(no, raw[2:].strip())
                commands.append(current)
            elif block_lang == "console":
                if current is None:
                    if raw.strip():
                        raise LabError(f"{path.name}:{no}: output before any command")
                else:
                    current.expected.append(raw.rstrip())
            continue
        if raw.startswith("$ "):
            raise LabError(f"{path.name}:{no}: a command outside a ```console block is never run")
        if raw.startswith("# ") and not title:
            title = raw[2:].strip()
            continue
        if raw.startswith("## "):
            close_prose()
            section = raw[3:].strip()
            sections.append(section)
            continue
        nm = NEEDS.search(raw)
        if nm:
            needs += [w.strip() for w in nm.group(1).split(",") if w.strip()]
            continue
        if not raw.strip() or re.match(r"\s*([-*+]|\d+\.)\s", raw) or raw.startswith("#"):
            close_prose()          # a paragraph or list item starts a new sentence
            if re.match(r"\s*\d+\.\s", raw):   # an ordered list's own number is no claim
                raw = re.sub(r"^\s*\d+\.\s", " ", raw)
        rest = raw
        pos = 0
        # Walk the line: prose pieces, and check comments that close the open sentence.
        while True:
            cm = CHECK.search(rest, pos)
            if cm is None:
                break
            prose.append((no, COMMENT.sub(" ", rest[pos:cm.start()])))
            checks.append(_check(path, no, cm.group(1), prose, section))
            prose.clear()
            pos = cm.end()
        tail = rest[pos:]
        if "<!--" in tail:
            start = tail.index("<!--")
            if "-->" not in tail[start:]:
                raise LabError(f"{path.name}:{no}: write each comment on one line")
        prose.append((no, COMMENT.sub(" ", tail)))
    close_prose()
    if in_block:
        raise LabError(f"{path.name}: a fenced block is not closed")
    return Page(path, title, needs, sections, commands, checks, unchecked)


def _check(path: Path, no: int, body: str, prose, section: str) -> Check:
    head, sep, claims = body.partition(":")
    if not sep:
        raise LabError(f"{path.name}:{no}: a check needs 'FILES: CLAIMS' (got {body.strip()!r})")
    files = {}
    for word in head.split():
        alias, eq, p = word.rpartition("=")
        files[alias if eq else ""] = p
    if list(files).count("") > 1:
        raise LabError(f"{path.name}:{no}: one bare file at most; name the others alias=path")
    parts = [c.strip() for c in claims.split(";") if c.strip()]
    if not parts:
        raise LabError(f"{path.name}:{no}: a check without claims")
    sentence = " ".join(p for _, p in prose).strip()
    return Check(no, files, parts, sentence, section)


# ---------------------------------------------------------------------------------------
# Running commands.


def _simcache(argv: list[str]) -> tuple[str, str, int]:
    """Run simcache's command line in this process: (stdout, stderr, exit code)."""
    from simcache.cli import main
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return out.getvalue(), err.getvalue(), code


def run_command(page: Path, cmd: Command) -> str:
    argv = shlex.split(cmd.text, comments=True)
    where = f"{page.name}:{cmd.line}: $ {cmd.text}"
    into = None
    if ">" in argv:
        k = argv.index(">")
        if k != len(argv) - 2 or not argv[-1].startswith("out/"):
            raise LabError(f"{where}\n  `> FILE` comes last, and FILE is under out/")
        argv, into = argv[:k], argv[-1]
    for k, a in enumerate(argv):
        if a in ("-o", "--output") and k + 1 < len(argv) and not argv[k + 1].startswith("out/"):
            raise LabError(f"{where}\n  writes outside out/ ({argv[k + 1]})")
        if a.startswith("--output=") and not a.split("=", 1)[1].startswith("out/"):
            raise LabError(f"{where}\n  writes outside out/")
    if argv[:1] == ["simcache"]:
        out, err, code = _simcache(argv[1:])
    elif argv[:1] == ["python"] and len(argv) > 1 and argv[1].startswith("docs/labs/code/"):
        done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True,
                              timeout=120)
        out, err, code = done.stdout, done.stderr, done.returncode
    else:
        raise LabError(f"{where}\n  the test runs only `simcache ...` and "
                       "`python docs/labs/code/...` commands")
    if code != 0:
        raise LabError(f"{where}\n  exit code {code}\n{err.strip()}")
    _match_output(where, cmd.expected, out)
    if into is not None:
        Path(into).write_text(out, encoding="utf-8")
    return out


def _match_output(where: str, expected: list[str], out: str) -> None:
    """Each shown line appears in `out`, in order; consecutive unless `...` is between."""
    while expected and not expected[-1].strip():
        expected = expected[:-1]
    if not expected:
        return
    actual = [ln.rstrip() for ln in out.split("\n")]
    groups, group = [], []
    for ln in expected:
        if ln.strip() == "...":
            if group:
                groups.append(group)
            group = []
        else:
            group.append(ln)
    if group:
        groups.append(group)
    pos = 0
    for g in groups:
        for start in range(pos, len(actual) - len(g) + 1):
            if actual[start:start + len(g)] == g:
                pos = start + len(g)
                break
        else:
            raise LabError(f"{where}\n  the page shows these lines, which the command does not "
                           "print (in this order):\n    " + "\n    ".join(g) +
                           "\n  it printed:\n    " + "\n    ".join(actual))


# ---------------------------------------------------------------------------------------
# Evaluating claims.


def load(path: Path):
    if not path.exists():
        raise LabError(f"{path.name}: no command of the page wrote it")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    if path.suffix == ".csv":
        return list(csv.DictReader(io.StringIO(text)))
    return [line.rstrip() for line in text.rstrip("\n").split("\n")]


LABELS = ("name", "layer", "config")   # what names an item of a list: levels.L1, rows.fc


class Ref:
    """A node of a JSON document, addressed by attribute, key, index or name."""

    def __init__(self, value, where: str):
        self.value, self.where = value, where

    def get(self, key):
        v = self.value
        where = f"{self.where}.{key}" if isinstance(key, str) else f"{self.where}[{key}]"
        if isinstance(v, dict):
            if key in v:
                return Ref(v[key], where)
            raise LabError(f"{where}: no such key (there are: {', '.join(map(str, v))})")
        if isinstance(v, list):
            if isinstance(key, int):
                if -len(v) <= key < len(v):
                    return Ref(v[key], where)
                raise LabError(f"{where}: index out of range ({len(v)} items)")
            for label in LABELS:
                named = [x for x in v if isinstance(x, dict) and x.get(label) == key]
                if len(named) == 1:
                    return Ref(named[0], where)
            names = [[x.get(label) for label in LABELS if label in x]
                     for x in v if isinstance(x, dict)]
            raise LabError(f"{where}: no single item named {key!r} (names: {names})")
        raise LabError(f"{where}: {self.where} is {v!r}, not an object or a list")


def _count(items, key, value):
    """count(steps, "tensor", "x"): the items of a list whose `key` is `value`."""
    if not isinstance(items, list):
        raise LabError("count(): the first argument is a list")
    return sum(1 for x in items if isinstance(x, dict) and x.get(key) == value)


FUNCS = {"min": min, "max": max, "abs": abs, "len": len, "sum": sum, "count": _count}
BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
          ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
          ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
          ast.Pow: lambda a, b: a ** b}
CMPS = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
        ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b,
        ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b}


class Evaluator:
    def __init__(self, docs: dict[str, object], names: str):
        self.docs, self.names, self.seen = docs, names, []

    def plain(self, v):
        if isinstance(v, Ref):
            self.seen.append((v.where, v.value))
            v = v.value
        if v is None:
            raise LabError("a value is null (no accesses?)")
        return v

    def eval(self, node):
        if isinstance(node, ast.Expression):
            return self.plain(self.eval(node.body))
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.docs and node.id:
                return Ref(self.docs[node.id], node.id)
            if "" in self.docs:
                return Ref(self.docs[""], self.names).get(node.id)
            raise LabError(f"{node.id}: not a file alias of this check ({', '.join(self.docs)})")
        if isinstance(node, ast.Attribute):
            base = self.eval(node.value)
            if not isinstance(base, Ref):
                raise LabError(f".{node.attr}: on a number")
            return base.get(node.attr)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            base = self.plain(self.eval(node.value))
            lo, hi = (None if x is None else self.plain(self.eval(x))
                      for x in (node.slice.lower, node.slice.upper))
            if not isinstance(base, list) or node.slice.step is not None:
                raise LabError("[a:b]: only on a list, without a step")
            return base[lo:hi]
        if isinstance(node, ast.Subscript):
            base = self.eval(node.value)
            key = self.plain(self.eval(node.slice))
            if not isinstance(base, Ref) or not isinstance(key, (int, str)):
                raise LabError("[...]: only on a document, with a number or a string")
            return base.get(key)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            v = self.plain(self.eval(node.operand))
            return -v if isinstance(node.op, ast.USub) else not v
        if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
            return BINOPS[type(node.op)](self.plain(self.eval(node.left)),
                                         self.plain(self.eval(node.right)))
        if isinstance(node, ast.BoolOp):
            vals = [bool(self.plain(self.eval(v))) for v in node.values]
            return all(vals) if isinstance(node.op, ast.And) else any(vals)
        if isinstance(node, ast.Compare):
            left = self.plain(self.eval(node.left))
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                if type(op) not in CMPS:
                    raise LabError(f"{type(op).__name__}: not a comparison checks use")
                right = self.plain(self.eval(right_node))
                if not CMPS[type(op)](left, right):
                    return False
                left = right
            return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in FUNCS and not node.keywords):
            args = [self.plain(self.eval(a)) for a in node.args]
            if node.func.id in ("len", "sum") and len(args) == 1 and isinstance(args[0], dict):
                args = [list(args[0].values())] if node.func.id == "sum" else [args[0]]
            return FUNCS[node.func.id](*args)
        raise LabError(f"{ast.dump(node)[:60]}: not part of the check language")


APPROX = re.compile(r"^(.*?)~=\s*(-?[\d,]*\.?\d+)\s*(?:within\s+([\d.]+)\s*%)?\s*$", re.S)


def claim_literals(claim: str) -> set[float]:
    """Numbers written in a claim (not those inside names such as hit_rate_1 or L1)."""
    text = re.sub(r"[A-Za-z_][\w]*|\"[^\"]*\"|'[^']*'", " ", claim)
    return {_value(n) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}


def evaluate(page: Path, check: Check, workdir: Path) -> None:
    where = f"{page.name}:{check.line}"
    docs = {alias: load(workdir / p) for alias, p in check.files.items()}
    names = check.files.get("", "")
    for claim in check.claims:
        ev = Evaluator(docs, names)
        m = APPROX.match(claim)
        try:
            if m:
                value = float(ev.eval(ast.parse(m.group(1).strip(), mode="eval")))
                target = _value(m.group(2))
                if m.group(3) is not None:
                    if not re.search(r"\babout\b", check.sentence, re.I):
                        raise LabError("a tolerance ('within') where the sentence does not "
                                       "say 'about'")
                    allowed = abs(target) * float(m.group(3)) / 100
                else:
                    digits = m.group(2).split(".")[1] if "." in m.group(2) else ""
                    allowed = 0.5 * 10.0 ** -len(digits)
                ok = math.isfinite(value) and abs(value - target) <= allowed * (1 + 1e-12)
            else:
                ok = ev.eval(ast.parse(claim, mode="eval"))
                if not isinstance(ok, bool):
                    raise LabError("a claim must be a comparison (true or false), got "
                                   f"{ok!r}")
        except LabError as exc:
            raise LabError(f"{where}: {claim}\n  {exc}") from None
        except SyntaxError as exc:
            raise LabError(f"{where}: {claim}\n  not a claim: {exc.msg}") from None
        if not ok:
            values = "\n".join(f"    {w} = {v!r}" for w, v in ev.seen)
            raise LabError(f"{where}: the page claims\n    {claim}\n  which is false:\n{values}"
                           f"\n  sentence: {check.sentence}")


def verify_numbers(page: Page) -> None:
    """Every number in a checked section appears as a literal in the checks after it."""
    problems = [f"{page.path.name}:{ln}: the number {num} has no check after it: {s[:120]}"
                for ln, num, s in page.unchecked]
    for c in page.checks:
        if c.section in UNCHECKED_SECTIONS:
            continue
        have_ = set().union(*(claim_literals(x) for x in c.claims))
        for num in numbers_in(c.sentence):
            if _value(num) not in have_:
                problems.append(f"{page.path.name}:{c.line}: the number {num} is not in the "
                                f"check after it: {c.sentence[:120]}")
    if problems:
        raise LabError("\n".join(problems))


def verify_shape(page: Page) -> None:
    missing = [s for s in SECTIONS if s not in page.sections]
    if not page.title.startswith("Lab ") or missing:
        raise LabError(f"{page.path.name}: a lab page starts '# Lab N: ...' and has the "
                       f"sections {', '.join(SECTIONS)}; missing: {', '.join(missing) or '-'}")
    if not page.commands:
        raise LabError(f"{page.path.name}: no ```console commands")
    if not page.checks:
        raise LabError(f"{page.path.name}: no checks")


def workspace(tmp: Path) -> Path:
    """A fresh directory under `tmp` that looks like the repository root, with an empty out/."""
    tmp.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=tmp, prefix="run-"))
    for name in LINKED:
        (tmp / name).symlink_to(ROOT / name, target_is_directory=True)
    (tmp / "out").mkdir()
    return tmp


def run_page(path: Path, tmp: Path) -> Page:
    page = parse(path)
    verify_numbers(page)
    verify_shape(page)
    missing = [f for f in page.needs if not have(f)]
    if missing:
        pytest.skip(f"{path.name} needs {', '.join(missing)}, not in this build of simcache "
                    "(issue 13); the page runs once it is merged")
    workdir = workspace(tmp)
    old = os.getcwd()
    os.chdir(workdir)
    try:
        for cmd in page.commands:
            run_command(path, cmd)
    finally:
        os.chdir(old)
    for check in page.checks:
        evaluate(path, check, workdir)
    verify_figures(path, workdir)
    return page


# ---------------------------------------------------------------------------------------
# Figures: a page shows `![...](figures/NAME.png)`, a command of the page draws out/NAME.png,
# and the committed docs/labs/figures/NAME.png carries the same plotted numbers.

FIGURES = LABS / "figures"
FIGURE = re.compile(r"!\[[^\]]*\]\(figures/([\w.-]+\.png)\)")
UPDATE = "SIMCACHE_LAB_FIGURES"   # =update: copy the figures drawn now over the committed ones


def figures_of(path: Path) -> list[str]:
    return FIGURE.findall(path.read_text(encoding="utf-8"))


def verify_figures(path: Path, workdir: Path) -> None:
    """Each figure the page shows is drawn by its commands, and the committed PNG's plotted
    numbers (simcache.plots.figure_data, kept in the PNG) equal those drawn now."""
    names = figures_of(path)
    if not names:
        return
    from simcache.plots import read_figure_data
    problems = []
    for name in names:
        fresh, kept = workdir / "out" / name, FIGURES / name
        if not fresh.exists():
            problems.append(f"{path.name}: shows figures/{name}, which no command of the page "
                            f"draws (out/{name})")
            continue
        now = read_figure_data(fresh)
        if now is None:
            problems.append(f"{path.name}: out/{name} carries no plotted numbers; draw it "
                            "with simcache.plots.save")
        elif name in PLOTTED and (wrong := PLOTTED[name](workdir / "out", now)):
            problems.append(f"{path.name}: out/{name} does not plot the page's results: "
                            f"{wrong}")
        elif os.environ.get(UPDATE) == "update":
            FIGURES.mkdir(exist_ok=True)
            shutil.copyfile(fresh, kept)
        elif not kept.exists():
            problems.append(f"{path.name}: figures/{name} is not committed; draw it with "
                            f"{UPDATE}=update python -m pytest tests/test_labs.py")
        else:
            was = read_figure_data(kept)
            if was != now:
                differ = sorted(k for k in set(now["panels"]) | set((was or {}).get("panels",
                                                                                       {}))
                                if (was or {}).get("panels", {}).get(k) != now["panels"].get(k))
                problems.append(f"{path.name}: figures/{name} is stale: it plots other numbers "
                                f"than the page's commands draw now (panels: "
                                f"{', '.join(differ) or 'title'}); redraw it with "
                                f"{UPDATE}=update python -m pytest tests/test_labs.py")
    if problems:
        raise LabError("\n".join(problems))


# What each figure drawn by docs/labs/code/lab_figure.py must plot, read from the JSON
# results of its page (the figures of --plot are tests/test_plots.py's): '' when it does.


def _doc(out: Path, name: str) -> dict:
    return json.loads((out / name).read_text(encoding="utf-8"))


def _l1(doc: dict) -> dict:
    return next(lv for lv in doc["levels"] if lv["name"] == "L1")


def _ys(panel: dict) -> list[list]:
    return [[y for _, y in pts] for pts in panel["lines"].values()]


def _lab03(out: Path, data: dict) -> str:
    lines = (16, 64, 256)
    docs = [[_doc(out, f"lab03-{o}-line{n}.json") for n in lines] for o in ("mn", "nm")]
    for key, get in (("w_misses", lambda d: _l1(d)["by_tensor"]["w"]["misses"]),
                     ("dram_bytes", lambda d: d["totals"]["dram_bytes"])):
        panel = data["panels"][key]
        if [[x for x, _ in pts] for pts in panel["lines"].values()] != [list(lines)] * 2:
            return f"{key}: the line sizes"
        if _ys(panel) != [[get(d) for d in ds] for ds in docs]:
            return f"{key}: the values"
    return ""


def _lab04(out: Path, data: dict) -> str:
    for f, names in ((32, ("1way", "2way", "4way", "8way", "16way", "full")),
                     (28, ("1way", "4way"))):
        ccc = [_l1(_doc(out, f"lab04-f{f}-{n}.json"))["three_c"] for n in names]
        bars = data["panels"][f"three_c:L1 F={f}"]["bars"]
        if bars != {k: [float(c[k]) for c in ccc] for k in ("compulsory", "capacity",
                                                               "conflict")}:
            return f"F={f}: the 3C bars"
    return ""


def _lab05(out: Path, data: dict) -> str:
    docs = [_doc(out, f"lab05-n{n}.json") for n in (2, 4, 8, 16, 32)]
    untiled = _doc(out, "lab05-untiled.json")
    dram = _ys(data["panels"]["dram_bytes"])
    if dram != [[d["totals"]["dram_bytes"] for d in docs], [untiled["totals"]["dram_bytes"]] * 2]:
        return "dram_bytes"
    if _ys(data["panels"]["l1_misses"]) != [[_l1(d)["by_tensor"][t]["misses"] for d in docs]
                                            for t in "xw"]:
        return "l1_misses"
    return ""


def _lab06(out: Path, data: dict) -> str:
    docs = [_doc(out, f"lab06-{o}.json") for o in ("bijnmpq", "nmbijpq")]
    for key in ("dram_bytes_per_mac", "cycles_per_mac"):
        panel = data["panels"][key]
        if list(panel["lines"].values()) != [[[r["batch"], r[key]] for r in d["rows"]]
                                             for d in docs]:
            return key
    return ""


PLOTTED = {"lab03-line-size.png": _lab03, "lab04-ways-3c.png": _lab04,
           "lab05-tiling.png": _lab05, "lab06-batch.png": _lab06}


# ---------------------------------------------------------------------------------------
# The tests.


@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_lab(path, tmp_path):
    run_page(path, tmp_path)


def test_enough_labs_and_an_index():
    assert len(PAGES) >= 10, [p.name for p in PAGES]
    index = (LABS / "README.md").read_text(encoding="utf-8")
    linked = re.findall(r"\]\((\d\d-[\w-]+\.md)\)", index)
    assert linked == [p.name for p in PAGES], "the index links every page once, in order"
    for p in PAGES:
        page = parse(p)
        number = int(p.name[:2])
        assert page.title.startswith(f"Lab {number}:"), (p.name, page.title)
        for feature in page.needs:
            assert feature in FEATURES, (p.name, feature)
        if figures_of(p):
            assert "plot" in page.needs, (p.name, "a page with figures needs: plot")
    shown = [name for p in PAGES for name in figures_of(p)]
    assert len(shown) == len(set(shown)), "each figure is shown by one page"
    assert set(PLOTTED) <= set(shown)
    committed = sorted(f.name for f in FIGURES.glob("*.png"))
    assert committed == sorted(shown), "docs/labs/figures holds the figures the pages show"


def test_lab10_simulator_does_not_say_where_its_bug_is():
    """Lab 10's student reads mysim.py before predicting: neither its docstring nor its
    comments may name the defect (the replacement order); the page's Why section does."""
    code = (LABS / "code" / "mysim.py").read_text(encoding="utf-8")
    notes = "\n".join([code.split('"""')[1]] + re.findall(r"#.*", code)).lower()
    for tell in ("bug", "fifo", "first in", "first out", "filled first", "oldest",
                 "unfinished", "exercise", "most recently"):
        assert tell not in notes, tell
    page = (LABS / "10-own-simulator.md").read_text(encoding="utf-8")
    assert page.index("## Prediction") < page.index("## Why") < page.index("*filled*")


def test_configs_cite_every_figure():
    """Each lab config loads, and says of every figure of every level whether it is the
    document's (with the place) or a teaching assumption."""
    import yaml

    from simcache.config import load_hierarchy
    paths = sorted((LABS / "configs").glob("*.yaml"))
    assert paths
    for path in paths:
        load_hierarchy(path)
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        # a config simcache host wrote (Lab 13) says read, measured or assumed instead
        ok = (HOST_SOURCES if path.read_text(encoding="utf-8").startswith(
            "# Written by `simcache host`") else ("the document, ", "teaching assumption: "))
        for level in [*doc["levels"], doc["memory"]]:
            figures = [k for k in ("size", "line", "ways", "policy", "write_back",
                                   "write_allocate", "latency", "energy") if k in level]
            for k in figures:
                why = level["source"].get(k, "")
                assert why.startswith(ok), (path, k)


HOST_SOURCES = ("/sys/devices/system/cpu/", "measured on this machine by simcache host",
                "assumption: ", "from the cpuid flags", "simulator convention")


# The checker itself must fail loudly: a false claim, an unchecked number, a tolerance
# without "about", a command it cannot run, shown output that is not printed.

PAGE = """# Lab 1: a test page

## Question
What is 3 + 4?
## Prediction
Write 7 down.
## Commands
```console
$ simcache metrics --layer fc -M 8 -N 4 -o out/m.json
```
## Observe
{observe}
## Why
Because.
## Exercise
Try 16.
"""


def _page(tmp_path, observe: str) -> Path:
    p = tmp_path / "01-test.md"
    p.write_text(PAGE.format(observe=observe), encoding="utf-8")
    return p


def _fails(tmp_path, observe: str, words: str):
    with pytest.raises(LabError, match=words):
        run_page(_page(tmp_path, observe), tmp_path / "w")


@pytest.fixture
def wdir(tmp_path):
    (tmp_path / "w").mkdir()
    return tmp_path


def test_checker_accepts_a_true_page(wdir):
    page = run_page(_page(wdir, "The layer has 32 MACs. <!-- check out/m.json: "
                                "rows[0].macs == 32 -->"), wdir / "w")
    assert len(page.checks) == 1 and page.checks[0].claims == ["rows[0].macs == 32"]


def test_checker_refuses_a_false_claim(wdir):
    _fails(wdir, "It has 33 MACs. <!-- check out/m.json: rows[0].macs == 33 -->", "false")


def test_checker_refuses_an_unchecked_number(wdir):
    _fails(wdir, "It has 32 MACs.", "no check after it")
    _fails(wdir, "It has 32 MACs and 9 params. <!-- check out/m.json: rows[0].macs == 32 -->",
           "9 is not in the check")


def test_checker_allows_a_tolerance_only_after_about(wdir):
    _fails(wdir, "It has 30 MACs. <!-- check out/m.json: rows[0].macs ~= 30 within 10% -->",
           "about")
    run_page(_page(wdir, "It has about 30 MACs. <!-- check out/m.json: rows[0].macs ~= 30 "
                         "within 10% -->"), wdir / "w")


def test_checker_rounds_to_the_digits_written(wdir):
    run_page(_page(wdir, "Intensity 2.67. <!-- check out/m.json: "
                         "rows[0].intensity_limit ~= 2.67 -->"), wdir / "w")
    _fails(wdir, "Intensity 2.7. <!-- check out/m.json: rows[0].intensity_limit ~= 2.66 -->",
           "2.7 is not in the check")
    _fails(wdir, "Intensity 2.66. <!-- check out/m.json: rows[0].intensity_limit ~= 2.66 -->",
           "false")


def test_checker_refuses_commands_it_would_not_run(wdir):
    p = _page(wdir, "x <!-- check out/m.json: rows[0].macs == 32 -->")
    good = p.read_text()
    p.write_text(good + "\n```\n$ simcache run thesis --layer fc\n```\n")
    with pytest.raises(LabError, match="never run"):
        parse(p)
    p.write_text(good + "\n$ simcache run thesis --layer fc\n")
    with pytest.raises(LabError, match="outside a ```console block"):
        parse(p)
    p.write_text(good.replace("$ simcache metrics", "$ ls out\n$ simcache metrics"))
    with pytest.raises(LabError, match="runs only"):
        run_page(p, wdir / "w")
    p.write_text(good.replace("-o out/m.json", "-o docs/m.json"))
    with pytest.raises(LabError, match="outside out/"):
        run_page(p, wdir / "w")
    p.write_text(good.replace("-N 4", "-N 0"))
    with pytest.raises(LabError, match="exit code 2"):
        run_page(p, wdir / "w")


def test_checker_refuses_output_the_command_does_not_print(wdir, tmp_path):
    text = PAGE.format(observe="x <!-- check out/m.json: rows[0].macs == 32 -->")
    text = text.replace("-o out/m.json\n", "-o out/m.json\nsomething it never says\n")
    p = tmp_path / "01-out.md"
    p.write_text(text)
    with pytest.raises(LabError, match="does not\\s+print"):
        run_page(p, wdir / "w")


def test_checker_refuses_a_missing_key_and_a_missing_file(wdir):
    _fails(wdir, "x <!-- check out/m.json: rows[0].flops == 32 -->", "no such key")
    _fails(wdir, "x <!-- check out/n.json: rows == 1 -->", "no command of the page wrote it")
