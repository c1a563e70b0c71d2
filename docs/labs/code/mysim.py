"""A student's cache simulator in the style of CS:APP Cache Lab, Part A (Lab 10).

    python docs/labs/code/mysim.py [-v] -s S -E E -b B -t TRACE

2^S sets of E lines of 2^B bytes, replacing the least recently used line of a full set,
as Cache Lab asks; prints one line per record with -v, and always the summary
`hits:H misses:M evictions:V`, as Cache Lab's reference simulator does. Check it against
`simcache csim` with the same flags (Lab 10).
"""

import argparse
import sys


class Cache:
    def __init__(self, s: int, E: int, b: int):
        self.s, self.E, self.b = s, E, b
        self.sets = [[] for _ in range(1 << s)]   # each set: a list of tags
        self.hits = self.misses = self.evictions = 0

    def access(self, addr: int) -> list[str]:
        """One access to the block of `addr`: the words Cache Lab prints for it."""
        block = addr >> self.b
        tag, index = block >> self.s, block & ((1 << self.s) - 1)
        lines = self.sets[index]
        if tag in lines:
            self.hits += 1
            return ["hit"]
        self.misses += 1
        words = ["miss"]
        if len(lines) == self.E:
            lines.pop(0)              # the victim
            self.evictions += 1
            words.append("eviction")
        lines.append(tag)
        return words


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Cache Lab style cache simulator", add_help=False)
    ap.add_argument("-h", action="help", help="show this help and exit")
    ap.add_argument("-v", action="store_true", help="print every access")
    ap.add_argument("-s", type=int, required=True, help="set index bits (2^s sets)")
    ap.add_argument("-E", type=int, required=True, help="lines per set")
    ap.add_argument("-b", type=int, required=True, help="block bits (2^b bytes per line)")
    ap.add_argument("-t", required=True, help="trace file (valgrind lackey format)")
    a = ap.parse_args(argv)
    if a.s < 0 or a.b < 0 or a.E < 1:
        ap.error("need s >= 0, b >= 0 and E >= 1")
    cache = Cache(a.s, a.E, a.b)
    with open(a.t, encoding="ascii") as f:
        for line in f:
            if not line.startswith(" ") or len(line.split()) != 2:
                continue                      # instruction fetches ("I ...") and blanks
            kind, rest = line.split()
            addr_text, size = rest.split(",")
            addr = int(addr_text, 16)
            words = cache.access(addr)
            if kind == "M":                   # a load, then a store to the same block
                words += cache.access(addr)
            if a.v:
                # csim-ref ends every word, the last one too, with a space
                print(f"{kind} {addr_text},{size} " + "".join(w + " " for w in words))
    print(f"hits:{cache.hits} misses:{cache.misses} evictions:{cache.evictions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
