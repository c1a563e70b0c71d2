"""A layer's loop nest as C, compiled with the machine's cc and timed (issue 22, item 2).

The C is generated from the same `loopnest.plan` the simulator walks, so it has simcache's
exact loop order (tile loops and the group convolution's g/n split included), extents,
stride and padding, and the tensors' exact layout: one page-aligned buffer holding x, w
(w1, w2), y (and separable's t) at the offsets of the plan (their addresses minus
BASE_ADDRESS). The body is what a programmer writes, `y[..] += w[..] * x[..]` through
`restrict` pointers, fp32; a tap outside the input (padding: skip) is skipped by an `if`
placed right after the innermost loop that moves it (a `continue`, as plain code does), a
tiled loop's last short tile likewise.

Timing (docs/model.md §4, "Checked against this machine"): before each run y and t are
zeroed and every 64-byte line of the whole buffer is flushed from every cache (`clflush`,
then `mfence`): the caches are cold for the layer's data, as in simcache; the TLB and the
code stay warm. The nest is timed with CLOCK_MONOTONIC; the best (min) of several runs is
reported: on a shared, loaded machine the fastest run is the one least disturbed. The load
average (`os.getloadavg`) is reported beside it. On a machine without clflush (not x86)
the flush is replaced by writing a buffer of 4× the last level cache's size (stated in the
result's `cold` field).

Nothing here is used by the simulator: it is a peer for benchmarks/bench.py host and tests.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .layers import Layer
from .loopnest import BASE_ADDRESS, CCOL, CROW, CW, CX, CY, Nest, Plan, T, W, Y, plan

__all__ = ["OPT_FLAGS", "NativeError", "NativeTime", "assembly", "build", "c_source",
           "compiler", "inputs", "output", "time_layer"]

# the two builds the issue asks for: a plain -O2 (gcc 12 does not vectorise at -O2) and
# what a tuned build does
OPT_FLAGS = {"O2": ("-O2",), "O3": ("-O3", "-march=native")}
LINE = 64  # bytes flushed per clflush (x86's line; a larger line is flushed twice, harmless)


class NativeError(RuntimeError):
    """The C could not be built or run (no cc, a compile error, a crash)."""


def compiler() -> str | None:
    """The machine's C compiler (`$CC`, else cc, gcc, clang), or None."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


# ---------------------------------------------------------------- the C source


def _roles(p: Plan, k: int) -> tuple[str, str, str]:
    """Names (x, w, w1, w2, y, t) of the tensors nest k reads and writes."""
    weights = [t.name for t in p.tensors if t.category == W]
    nest = p.nests[k]
    names = {Y: "y", T: "t"}
    x = "x" if k == 0 else "t"
    return x, weights[k], names[nest.tensors[2]]


def _form(nest: Nest, row: int, var: list[str], scale: int = 1) -> tuple[int, str]:
    """(constant, ' + c*v ...') of one linear form of the nest, divided by `scale`."""
    terms = []
    for c, v in zip(nest.coef[row], var, strict=True):
        c = int(c)
        if c % scale:
            raise ValueError("an address coefficient is not a whole number of elements")
        c //= scale
        if c == 1:
            terms.append(f" + {v}")
        elif c:
            terms.append(f" + {c}L*{v}" if c > 0 else f" - {-c}L*{v}")
    return 0, "".join(terms)


def _innermost_loop(nest: Nest, row: int) -> int:
    moved = [d for d in range(len(nest.dims)) if nest.coef[row, d]]
    return max(moved) if moved else -1


def _nest_function(p: Plan, k: int) -> str:
    nest = p.nests[k]
    d = nest.dtype_bytes
    xname, wname, yname = _roles(p, k)
    base = {t.name: t.base for t in p.tensors}
    var = [f"l{n}" for n in range(len(nest.dims))]
    offs = {}
    for role, row, name in (("x", CX, xname), ("w", CW, wname), ("y", CY, yname)):
        delta = int(nest.base[row]) - base[name]
        if delta % d:  # the plan places every nest's start on a whole element
            raise ValueError(f"native: nest {k}'s {role} starts {delta} bytes into {name}, "
                             f"not a whole number of {d}-byte elements")
        offs[role] = (delta // d, _form(nest, row, var, d)[1])
    # conditions: (row of the form, low, end), each checked after the innermost loop that
    # moves it (before the first loop when none does)
    conds = []
    if nest.bounds is not None:
        conds += [(CROW, 0, nest.bounds[0]), (CCOL, 0, nest.bounds[1])]
    conds += [(CCOL + 1 + g, None, lim) for g, lim in enumerate(nest.limits)]
    at: dict[int, list[str]] = {}
    for row, low, end in conds:
        const = int(nest.base[row])
        expr = f"({const}L{_form(nest, row, var)[1]})"
        test = f"{expr} >= {end}L" if low is None else f"{expr} < {low}L || {expr} >= {end}L"
        at.setdefault(_innermost_loop(nest, row), []).append(test)
    lines = [f"/* nest {k}: loops {' '.join(nest.dims)} (outermost first), "
             f"extents {' '.join(str(int(e)) for e in nest.ext)} */",
             f"__attribute__((noinline)) static void nest{k}(const float *restrict {xname}, "
             f"const float *restrict {wname}, float *restrict {yname})", "{"]
    indent = "    "
    for test in at.get(-1, []):
        lines.append(f"{indent}if ({test}) return;")
    for n, (dim, e) in enumerate(zip(nest.dims, nest.ext, strict=True)):
        lines.append(f"{indent}for (long {var[n]} = 0; {var[n]} < {int(e)}L; {var[n]}++) {{"
                     f"  /* {dim} */")
        indent += "    "
        for test in at.get(n, []):
            lines.append(f"{indent}if ({test}) continue;")

    def ref(role: str, name: str) -> str:
        const, terms = offs[role]
        return f"{name}[{const}L{terms}]"

    lines.append(f"{indent}{ref('y', yname)} += {ref('w', wname)} * {ref('x', xname)};")
    for _ in nest.dims:
        indent = indent[:-4]
        lines.append(f"{indent}}}")
    lines.append("}")
    return "\n".join(lines)


_MAIN = r"""
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_CLFLUSH 1
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static volatile unsigned char sink;

static void cold(unsigned char *buf, long nbytes, unsigned char *evict, long evict_bytes)
{
#ifdef HAVE_CLFLUSH
    (void)evict; (void)evict_bytes;
    for (long a = 0; a < nbytes; a += LINE) _mm_clflush(buf + a);
    _mm_mfence();
#else
    (void)buf; (void)nbytes;
    for (long a = 0; a < evict_bytes; a += LINE) evict[a] += 1;
    sink = evict[0];
#endif
}

int main(int argc, char **argv)
{
    /* argv: input file (the buffer's x and w), output file or '-', runs, budget seconds */
    if (argc != 5) { fprintf(stderr, "usage: %s IN OUT RUNS SECONDS\n", argv[0]); return 2; }
    long runs = atol(argv[3]);
    double budget = atof(argv[4]);
    /* 2 MiB pages where the kernel gives them (Linux, transparent huge pages on madvise):
       within a page the physical address's low 21 bits are the virtual one's, so the
       machine's physically indexed caches set their lines as simcache's virtually indexed
       ones do (docs/model.md §4); elsewhere 4 KiB pages */
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    size_t bytes = (BUFFER + 2097151) / 2097152 * 2097152;
    unsigned char *buf = aligned_alloc(2097152, bytes);
    if (buf) madvise(buf, bytes, MADV_HUGEPAGE);
#else
    unsigned char *buf = aligned_alloc(4096, (BUFFER + 4095) / 4096 * 4096);
#endif
    if (!buf) { perror("alloc"); return 1; }
    memset(buf, 0, BUFFER);
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(buf, 1, BUFFER, f) != (size_t)BUFFER) { perror(argv[1]); return 1; }
    fclose(f);
    long evict_bytes = 0;
    unsigned char *evict = 0;
#ifndef HAVE_CLFLUSH
    evict_bytes = EVICT;
    evict = calloc(1, evict_bytes);
    if (!evict) { perror("alloc"); return 1; }
#endif
    double best = 1e300, total = 0, sum = 0;
    long done = 0;
    for (long r = 0; r < runs; r++) {
        ZERO_OUTPUTS
        cold(buf, BUFFER, evict, evict_bytes);
        double t0 = now();
        CALL_NESTS
        double t = now() - t0;
        if (t < best) best = t;
        sum += t;
        total += t;
        done++;
        if (total > budget && done >= 3) break;
    }
    double check = 0;
    for (long k = 0; k < YCOUNT; k++) check += ((float *)(buf + YOFF))[k];
    if (argv[2][0] != '-' || argv[2][1]) {
        FILE *o = fopen(argv[2], "wb");
        if (!o || fwrite(buf, 1, BUFFER, o) != (size_t)BUFFER) { perror(argv[2]); return 1; }
        fclose(o);
    }
    printf("runs %ld min_s %.9e mean_s %.9e check %.9e\n", done, best, sum / done, check);
    return 0;
}
"""


def c_source(layer: Layer) -> str:
    """The layer's nests as a C program (see the module's docstring): fp32 only."""
    if layer.dtype_bytes != 4:
        raise ValueError(f"the C nest is fp32 (dtype_bytes 4), got dtype_bytes "
                         f"{layer.dtype_bytes}")
    p = plan(layer)
    end = max(t.base + t.nbytes for t in p.tensors)
    buffer = end - BASE_ADDRESS
    ptr = {t.name: f"(float *)(buf + {t.base - BASE_ADDRESS}L)" for t in p.tensors}
    zero = " ".join(f"memset(buf + {t.base - BASE_ADDRESS}L, 0, {t.nbytes}L);"
                    for t in p.tensors if t.category in (Y, T))
    calls = " ".join(f"nest{k}({', '.join(ptr[n] for n in _roles(p, k))});"
                     for k in range(len(p.nests)))
    y = next(t for t in p.tensors if t.category == Y)
    head = [f"/* simcache native nest: {layer.describe()} order {layer.order} */",
            "#define _DEFAULT_SOURCE 1 /* madvise's MADV_HUGEPAGE under -std=c11 */",
            "#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>",
            "#include <time.h>", "#ifdef __linux__", "#include <sys/mman.h>", "#endif",
            f"#define BUFFER {buffer}L", f"#define LINE {LINE}L",
            f"#define EVICT {_evict_bytes()}L",
            f"#define YOFF {y.base - BASE_ADDRESS}L", f"#define YCOUNT {y.nbytes // 4}L",
            f"#define ZERO_OUTPUTS {zero}", f"#define CALL_NESTS {calls}", ""]
    body = [_nest_function(p, k) for k in range(len(p.nests))]
    return "\n".join(head) + "\n" + "\n\n".join(body) + "\n" + _MAIN


def _evict_bytes() -> int:
    """4× the largest cache /sys reports (64 MiB if none): the eviction buffer where there
    is no clflush."""
    largest = 0
    for size in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = size.read_text().strip()
        try:
            largest = max(largest, int(text.rstrip("KMG")) * {"K": 1 << 10, "M": 1 << 20,
                                                               "G": 1 << 30}.get(text[-1], 1))
        except ValueError:
            continue
    return min(4 * (largest or 16 << 20), 1 << 30)


# ---------------------------------------------------------------- building and running


def _cache_dir() -> Path:
    root = os.environ.get("SIMCACHE_NATIVE_CACHE") or os.path.join(
        tempfile.gettempdir(), f"simcache-native-{os.getuid()}")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def build(layer: Layer, opt: str = "O2", assembly_only: bool = False) -> Path:
    """Compile the layer's C with the machine's cc at `opt` (a key of OPT_FLAGS); the
    binary (or the assembly) is cached by the digest of source, compiler and flags."""
    cc = compiler()
    if cc is None:
        raise NativeError("no C compiler (cc, gcc or clang) on PATH")
    flags = OPT_FLAGS[opt]
    src = c_source(layer)
    digest = hashlib.sha256("\0".join([src, cc, *flags, str(assembly_only)]).encode())
    stem = _cache_dir() / f"nest-{digest.hexdigest()[:20]}"
    out = stem.with_suffix(".s" if assembly_only else ".bin")
    if out.exists():
        return out
    c_file = stem.with_suffix(".c")
    c_file.write_text(src)
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    cmd = [cc, *flags, "-std=c11", "-D_POSIX_C_SOURCE=200112L", "-o", str(tmp), str(c_file)]
    if assembly_only:
        cmd.insert(1, "-S")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise NativeError(f"{' '.join(cmd)} failed: {done.stderr.strip()[:2000]}")
    tmp.replace(out)
    return out


def assembly(layer: Layer, opt: str = "O2") -> str:
    """The assembly cc writes for the layer's C at `opt` (`cc -S`)."""
    return build(layer, opt, assembly_only=True).read_text()


def inputs(layer: Layer, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The buffer the C reads (bytes, the plan's layout) and the logical tensors in it:
    x of shape (B, M, F, F) ((B, M) for fc) and each weight tensor of the plan's shape,
    small whole numbers (−3 … 3) so that every fp32 sum of the layer is exact. A padded
    input (padding: explicit) is stored with zeros around it."""
    p = plan(layer)
    rng = np.random.default_rng(seed)
    end = max(t.base + t.nbytes for t in p.tensors)
    buf = np.zeros((end - BASE_ADDRESS) // 4, dtype=np.float32)
    logical: dict[str, np.ndarray] = {}
    for t in p.tensors:
        if t.name == "x":
            shape = (layer.B, layer.M) if layer.type == "fc" else (layer.B, layer.M, layer.F,
                                                                   layer.F)
        elif t.category == W:
            shape = t.shape
        else:
            continue
        v = rng.integers(-3, 4, size=shape).astype(np.float32)
        logical[t.name] = v
        stored = buf[(t.base - BASE_ADDRESS) // 4:(t.base - BASE_ADDRESS) // 4
                     + t.nbytes // 4].reshape(t.shape)
        if t.name == "x" and stored.shape != v.shape:  # pre-padded (explicit)
            # separable's K×1 nest pads rows only: pad where the stored shape is larger
            r0 = layer.pads[0] if stored.shape[2] != layer.F else 0
            c0 = layer.pads[0] if stored.shape[3] != layer.F else 0
            stored[:, :, r0:r0 + layer.F, c0:c0 + layer.F] = v
        else:
            stored[...] = v
    return buf, logical


@dataclass(frozen=True)
class NativeTime:
    """One timed layer: the best and the mean of `runs` cold runs, in seconds."""

    seconds: float  # the min
    mean_seconds: float
    runs: int
    opt: str
    flags: tuple[str, ...]
    load: tuple[float, float, float]  # os.getloadavg() just before the runs
    cold: str  # how the caches were made cold


def _run(layer: Layer, opt: str, runs: int, budget: float, out: str = "-",
         seed: int = 0) -> str:
    binary = build(layer, opt)
    buf, _ = inputs(layer, seed)
    with tempfile.TemporaryDirectory(prefix="simcache-native-") as tmp:
        src = Path(tmp) / "in.bin"
        buf.tofile(src)
        done = subprocess.run([str(binary), str(src), out, str(runs), repr(budget)],
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise NativeError(f"{binary} exited {done.returncode}: {done.stderr.strip()[:500]}")
    return done.stdout


def time_layer(layer: Layer, opt: str = "O2", runs: int = 30,
               budget: float = 1.0) -> NativeTime:
    """Time the layer's nests cold, `runs` times or until `budget` seconds of runs (at least
    3), and report the best."""
    load = os.getloadavg()
    text = _run(layer, opt, runs, budget)
    fields = text.split()
    got = dict(zip(fields[0::2], fields[1::2], strict=True))
    x86 = platform.machine() in ("x86_64", "AMD64", "i386", "i686")
    cold = ("clflush of every 64-byte line of x, w and y, then mfence, before each run"
            if x86 else f"a {_evict_bytes() >> 20} MiB buffer written before each run")
    return NativeTime(float(got["min_s"]), float(got["mean_s"]), int(got["runs"]), opt,
                      OPT_FLAGS[opt], load, cold)


def output(layer: Layer, opt: str = "O2", seed: int = 0) -> tuple[np.ndarray, dict]:
    """Run the C nest once on `inputs(layer, seed)`: (y as the C left it, in the plan's
    shape; the logical inputs)."""
    p = plan(layer)
    _, logical = inputs(layer, seed)
    with tempfile.TemporaryDirectory(prefix="simcache-native-") as tmp:
        target = Path(tmp) / "out.bin"
        _run(layer, opt, 1, 0.0, str(target), seed)
        buf = np.fromfile(target, dtype=np.float32)
    y = next(t for t in p.tensors if t.category == Y)
    start = (y.base - BASE_ADDRESS) // 4
    return buf[start:start + y.nbytes // 4].reshape(y.shape), logical
