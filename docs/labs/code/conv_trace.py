"""Write the memory trace of a tiny 1-D convolution in Cache Lab's trace format (Lab 10).

    y[i] += x[i + k] * w[k]      for i in range(n), k in range(K)

is Listing 2.1 with one image row, one channel and one filter. Each MAC reads x[i + k]
(an `L` record), reads w[k] (`L`) and updates y[i] (`M`: a load, then a store, of the same
word). Elements are 4 bytes; x, w and y start at 0x1000, 0x2000 and 0x3000 (x is padded
with K - 1 zeros at its end, so that every tap exists).

    python docs/labs/code/conv_trace.py -n 8 -k 3 -o out/lab10-conv.trace
"""

import argparse
import sys

X, W, Y, ELEM = 0x1000, 0x2000, 0x3000, 4


def records(n: int, k: int):
    for i in range(n):
        for t in range(k):
            yield "L", X + ELEM * (i + t)
            yield "L", W + ELEM * t
            yield "M", Y + ELEM * i


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=8, help="outputs (default 8)")
    ap.add_argument("-k", type=int, default=3, help="kernel taps (default 3)")
    ap.add_argument("-o", required=True, help="trace file to write")
    a = ap.parse_args(argv)
    if a.n < 1 or a.k < 1:
        ap.error("-n and -k must be at least 1")
    with open(a.o, "w", encoding="ascii") as f:
        for kind, addr in records(a.n, a.k):
            f.write(f" {kind} {addr:x},{ELEM}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
