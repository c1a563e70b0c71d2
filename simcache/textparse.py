"""Jitted byte parsers for the text trace formats (din, lackey): raw bytes in, arrays out.

`parse_din(buf, pos, end, final, a, s, w, t, n, st)` (and `parse_lackey`, the same) parses
whole lines of `buf[pos:end]` into the output arrays from index `n` on, and stops at the
first of: the end of the whole lines (status MORE; with `final`, a last line without a
newline is parsed too), output arrays with fewer than 2 free slots (FULL), or a bad line
(BAD: the error code and the spans of the fields to quote are in `st`, and `pos` is past
the line, or, for a line longer than MAX_LINE, past its first MAX_LINE + 1 bytes). It
returns (pos, n, status). No record is dropped without a status saying so; one pass over
the bytes, no per-record Python work.

The grammar is in traces/README.md; tests/naive.py reads the same grammar in plain Python
and tests/test_fuzz_traces.py compares the two.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from . import kernels as K
from .kernels import CACHE  # where the compiled code can be cached, if anywhere

DIN, LACKEY = 0, 1
MAX_LINE = 4096  # bytes of a line, without its newline
MAX_ACCESS, MAX_ADDRESS = K.MAX_ACCESS, K.MAX_ADDRESS
NONE = 4

# statuses
MORE, FULL, BAD = 0, 1, 2
# st[] slots
LINE, INSTR, MODIFY, TENSORS, CODE, F0, F1, F2, F3 = range(9)
NST = 9
# error codes
TOO_LONG, SHAPE, LABEL_TEXT, LABEL_VALUE, ADDR_TEXT, ADDR_WIDE, SIZE_TEXT, SIZE_ZERO, \
    SIZE_LARGE, PAST_LIMIT, KIND = range(1, 12)


HEX = np.full(256, -1, np.int64)  # value of a hex digit, -1 for any other byte
for _c in b"0123456789abcdef":
    HEX[_c] = int(chr(_c), 16)
for _c in b"ABCDEF":
    HEX[_c] = int(chr(_c), 16)
SPACE = np.zeros(256, np.bool_)  # the bytes that separate fields
for _c in b" \t\r\v\f":
    SPACE[_c] = True


@nb.njit(cache=CACHE, nogil=True)
def _hex(buf, i, e):
    """Value of the hex number buf[i:e] (optional 0x): -1 bad text, -2 more than 63 bits."""
    if e - i > 2 and buf[i] == 48 and (buf[i + 1] == 120 or buf[i + 1] == 88):
        i += 2
    if i >= e:
        return -1
    v = 0
    for k in range(i, e):
        d = HEX[buf[k]]
        if d < 0:
            return -1
        v = v * 16 + d
        if v > (MAX_ADDRESS >> 4) and k + 1 < e:  # one more digit would pass 63 bits
            for m in range(k + 1, e):
                if HEX[buf[m]] < 0:
                    return -1
            return -2
    return v


@nb.njit(cache=CACHE, nogil=True)
def _dec(buf, i, e):
    """Value of the decimal number buf[i:e], saturated at MAX_ACCESS + 1; -1 if not digits."""
    if i >= e:
        return -1
    v = 0
    for k in range(i, e):
        c = buf[k]
        if c < 48 or c > 57:
            return -1
        if v <= MAX_ACCESS:
            v = v * 10 + (c - 48)
    return min(v, MAX_ACCESS + 1)


@nb.njit(cache=CACHE, nogil=True)
def _field(buf, i, e):
    """(start, end) of the next whitespace-separated field at or after i (start == e: none)."""
    while i < e and SPACE[buf[i]]:
        i += 1
    j = i
    while j < e and not SPACE[buf[j]]:
        j += 1
    return i, j


@nb.njit(cache=CACHE, nogil=True)
def _line_end(buf, pos, end, final):
    """End of the line at pos (its newline, or `end` for a last line when `final`); -1: no
    whole line yet; -2: longer than MAX_LINE."""
    lim = min(end, pos + MAX_LINE + 1)
    e = pos
    while e < lim and buf[e] != 10:
        e += 1
    if e - pos > MAX_LINE:
        return -2
    if e == end and not final:
        return -1
    return e


@nb.njit(cache=CACHE, nogil=True)
def parse_din(buf, pos, end, final, a, s, w, t, n, st):
    cap = len(a)
    line = st[LINE]
    code = f0 = f1 = f2 = f3 = 0
    while pos < end:
        if n + 2 > cap:
            st[LINE] = line
            return pos, n, FULL
        e = _line_end(buf, pos, end, final)
        if e == -1:
            break
        line += 1
        if e == -2:
            code, f0, f1 = TOO_LONG, pos, pos + MAX_LINE + 1
            pos = f1  # the caller skips to the next newline
            break
        i = pos
        pos = e + 1
        f0, f1 = _field(buf, i, e)
        if f0 == f1 or buf[f0] == 35:  # blank or '#'
            continue
        g0, g1 = _field(buf, f1, e)
        label = _hex(buf, f0, f1)
        addr = _hex(buf, g0, g1)
        h0, h1 = _field(buf, g1, e)
        size = _dec(buf, h0, h1)
        tensor = NONE
        if g0 == g1:
            code, f0, f1 = SHAPE, i, e
        elif label == -1:
            code = LABEL_TEXT
        elif label < 0 or label > 2:
            code = LABEL_VALUE
        elif addr == -1:
            code, f0, f1 = ADDR_TEXT, g0, g1
        elif addr == -2:
            code, f0, f1 = ADDR_WIDE, g0, g1
        elif size < 0:  # no size (a comment, or nothing): Dinero IV's 4-byte word
            addr &= ~3
            size = 4
        elif size == 0:
            code, f0, f1 = SIZE_ZERO, h0, h1
        elif size > MAX_ACCESS:
            code, f0, f1 = SIZE_LARGE, h0, h1
        elif addr > MAX_ADDRESS - (size - 1):
            code, f0, f1, f2, f3 = PAST_LIMIT, g0, g1, h0, h1
        else:
            k0, k1 = _field(buf, h1, e)
            if k1 == k0 + 1:
                c = buf[k0]
                if c == 120:
                    tensor = 0
                elif c == 119:
                    tensor = 1
                elif c == 121:
                    tensor = 2
                elif c == 116:
                    tensor = 3
        if code:
            break
        if label == 2:
            st[INSTR] += 1
            continue
        if tensor != NONE:
            st[TENSORS] = 1
        a[n], s[n], w[n], t[n] = addr, size, label, tensor
        n += 1
    return _done(st, line, min(pos, end), n, code, f0, f1, f2, f3)


@nb.njit(cache=CACHE, nogil=True)
def parse_lackey(buf, pos, end, final, a, s, w, t, n, st):
    cap = len(a)
    line = st[LINE]
    code = f0 = f1 = f2 = f3 = 0
    while pos < end:
        if n + 2 > cap:
            st[LINE] = line
            return pos, n, FULL
        e = _line_end(buf, pos, end, final)
        if e == -1:
            break
        line += 1
        if e == -2:
            code, f0, f1 = TOO_LONG, pos, pos + MAX_LINE + 1
            pos = f1
            break
        i = pos
        pos = e + 1
        if e - i >= 2 and buf[i] == 61 and buf[i + 1] == 61:  # '==': valgrind's messages
            continue
        f0, f1 = _field(buf, i, e)
        if f0 == f1:
            continue
        g0, g1 = _field(buf, f1, e)
        x0, x1 = _field(buf, g1, e)
        comma = -1
        for k in range(g0, g1):
            if buf[k] == 44:
                comma = k
                break
        kind = buf[f0] if f1 == f0 + 1 else 0
        if g0 == g1 or x0 != x1 or comma < 0:
            code, f0, f1 = SHAPE, i, e
            break
        if kind != 73 and kind != 76 and kind != 83 and kind != 77:  # I L S M
            code = KIND
            break
        addr = _hex(buf, g0, comma)
        size = _dec(buf, comma + 1, g1)
        if addr == -1:
            code, f0, f1 = ADDR_TEXT, g0, comma
        elif addr == -2:
            code, f0, f1 = ADDR_WIDE, g0, comma
        elif size <= 0:
            code, f0, f1 = SIZE_ZERO, comma + 1, g1
        elif size > MAX_ACCESS:
            code, f0, f1 = SIZE_LARGE, comma + 1, g1
        elif addr > MAX_ADDRESS - (size - 1):
            code, f0, f1, f2, f3 = PAST_LIMIT, g0, comma, comma + 1, g1
        if code:
            break
        if kind == 73:
            st[INSTR] += 1
        elif kind == 77:  # modify: a read, then a write
            st[MODIFY] += 1
            a[n], s[n], w[n], t[n] = addr, size, 0, NONE
            a[n + 1], s[n + 1], w[n + 1], t[n + 1] = addr, size, 1, NONE
            n += 2
        else:
            a[n], s[n], w[n], t[n] = addr, size, 1 if kind == 83 else 0, NONE
            n += 1
    return _done(st, line, min(pos, end), n, code, f0, f1, f2, f3)


@nb.njit(cache=CACHE, nogil=True)
def _done(st, line, pos, n, code, f0, f1, f2, f3):
    st[LINE] = line
    if code:
        st[CODE], st[F0], st[F1], st[F2], st[F3] = code, f0, f1, f2, f3
        return pos, n, BAD
    return pos, n, MORE


PARSERS = (parse_din, parse_lackey)  # by DIN, LACKEY


def new_state() -> np.ndarray:
    return np.zeros(NST, dtype=np.int64)


@nb.njit(cache=CACHE, nogil=True)
def parse_bin(buf, a, s, w, t):
    """Dinero IV binary records (8 bytes: address u32, size u16, type u8, pad) in `buf` to
    the output arrays, data accesses only. Returns (accesses, instructions, bad records):
    a bad record (type above 2, or size 0) is left out and counted, for the caller to
    describe."""
    n = instr = bad = 0
    for k in range(len(buf) // 8):
        o = 8 * k
        size = buf[o + 4] | (buf[o + 5] << 8)
        kind = buf[o + 6]
        if kind > 2 or size == 0:
            bad += 1
        elif kind == 2:
            instr += 1
        else:
            a[n] = (np.int64(buf[o]) | (np.int64(buf[o + 1]) << 8) | (np.int64(buf[o + 2]) << 16)
                    | (np.int64(buf[o + 3]) << 24))
            s[n], w[n], t[n] = size, kind, NONE
            n += 1
    return n, instr, bad


HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).copy()
DIN_LINE_MAX = 42  # bytes of a written din line at most: label, 16 hex digits, 19 decimal


@nb.njit(cache=CACHE, nogil=True)
def format_din(a, s, w, t, names, out):
    """The din lines `label address size tensor` (address in lower-case hex, size in
    decimal, tensor as names[t]) of the records into `out` (at least DIN_LINE_MAX bytes
    per record); returns the bytes written. Addresses and sizes are non-negative."""
    k = 0
    for i in range(len(a)):
        out[k] = 48 + w[i]
        out[k + 1] = 32
        k += 2
        v = a[i]
        nd = 1
        while nd < 16 and (v >> (4 * nd)) != 0:
            nd += 1
        for d in range(nd - 1, -1, -1):
            out[k + d] = HEX_DIGITS[v & 15]
            v >>= 4
        k += nd
        out[k] = 32
        k += 1
        v = s[i]
        nd = 1
        while nd < 19 and v >= 10 ** nd:
            nd += 1
        for d in range(nd - 1, -1, -1):
            out[k + d] = 48 + v % 10
            v //= 10
        k += nd
        out[k] = 32
        out[k + 1] = names[t[i]]
        out[k + 2] = 10
        k += 3
    return k
