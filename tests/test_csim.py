"""simcache csim: Cache Lab's csim-ref, against the handout, test-csim's reference counts and
the plain-Python reference in tests/naive.py."""

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import cli_output, examples
from naive import csim_reference
from simcache.csim import RESULTS, Cache

ROOT = Path(__file__).parent.parent
YI = str(ROOT / "traces" / "yi.trace")

# The Cache Lab writeup (Bryant and O'Hallaron, CS:APP Cache Lab, Part A) runs
# `csim-ref -v -s 4 -E 1 -b 4 -t traces/yi.trace` and prints these lines; the PDF drops the
# space csim-ref prints after every word (see docs/model.md, "csim: a Cache Lab reference").
HANDOUT_YI = [
    "L 10,1 miss",
    "M 20,1 miss hit",
    "L 22,1 hit",
    "S 18,1 hit",
    "L 110,1 miss eviction",
    "L 210,1 miss eviction",
    "M 12,1 miss eviction hit",
    "hits:4 misses:5 evictions:3",
]

# The records of Cache Lab's yi2.trace and dave.trace, as published runs of csim-ref -v
# print them (one record per line, in order)
YI2 = [" L 0,1", " L 1,1", " L 2,1", " L 3,1", " S 4,1", " L 5,1", " S 6,1", " L 7,1",
       " S 8,1", " L 9,1", " S a,1", " L b,1", " S c,1", " L d,1", " S e,1", " M f,1"]
DAVE = [" L 10,4", " S 18,4", " L 20,4", " S 28,4", " S 50,4"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Every test runs in its own directory: csim writes .csim_results where it runs."""
    monkeypatch.chdir(tmp_path)


def csim(capsys, *args):
    return cli_output(capsys, "csim", *args)


def write(path: Path, lines: list[str]) -> str:
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def test_the_handout_example_line_for_line(capsys, tmp_path):
    code, out, err = csim(capsys, "-v", "-s", "4", "-E", "1", "-b", "4", "-t", YI)
    assert code == 0, err
    lines = out.split("\n")
    assert lines[-1] == ""  # the output ends with a newline
    lines = lines[:-1]
    assert [line.rstrip(" ") for line in lines] == HANDOUT_YI
    # csim-ref's own format: every word of a record's line followed by exactly one space
    assert all(line.endswith(" ") and not line.endswith("  ") for line in lines[:-1])
    assert lines[-1] == "hits:4 misses:5 evictions:3"
    assert (tmp_path / RESULTS).read_text() == "4 5 3\n"


def test_without_v_only_the_summary(capsys, tmp_path):
    code, out, err = csim(capsys, "-s", "4", "-E", "1", "-b", "4", "-t", YI)
    assert (code, out) == (0, "hits:4 misses:5 evictions:3\n"), err
    assert (tmp_path / RESULTS).read_text() == "4 5 3\n"


# A published transcript of csim-ref's second usage example, trailing spaces and all
TRANSCRIPT_YI_8_2_4 = "".join(line + "\n" for line in [
    "L 10,1 miss ", "M 20,1 miss hit ", "L 22,1 hit ", "S 18,1 hit ", "L 110,1 miss ",
    "L 210,1 miss ", "M 12,1 hit hit ", "hits:5 misses:4 evictions:0"])


def test_a_csim_ref_transcript_byte_for_byte(capsys, tmp_path):
    code, out, err = csim(capsys, "-v", "-s", "8", "-E", "2", "-b", "4", "-t", YI)
    assert (code, out) == (0, TRANSCRIPT_YI_8_2_4), err
    assert (tmp_path / RESULTS).read_text() == "5 4 0\n"


# test-csim's table in Cache Lab (the reference simulator's columns): (s, E, b), trace,
# hits, misses, evictions, for the traces whose records are published
TEST_CSIM = [
    ((1, 1, 1), YI2, (9, 8, 6)),
    ((4, 2, 4), None, (4, 5, 2)),
    ((2, 1, 4), DAVE, (2, 3, 1)),
]


@pytest.mark.parametrize("sEb, records, expect", TEST_CSIM)
def test_test_csim_reference_counts(capsys, tmp_path, sEb, records, expect):
    trace = YI if records is None else write(tmp_path / "t.trace", records)
    s, E, b = (str(x) for x in sEb)
    code, out, err = csim(capsys, "-s", s, "-E", E, "-b", b, "-t", trace)
    assert code == 0, err
    assert out == "hits:{} misses:{} evictions:{}\n".format(*expect)
    assert (tmp_path / RESULTS).read_text() == "{} {} {}\n".format(*expect)
    lines = Path(trace).read_text().splitlines()
    assert csim_reference(lines, *sEb)[1] == expect  # the reference agrees with csim-ref


def both(lines: list[str], tmp_path: Path, s: int, E: int, b: int):
    """(verbose lines, totals) of Cache.verbose, after checking that Cache.replay counts the
    same."""
    path = write(tmp_path / "r.trace", lines)
    cache = Cache(s, E, b)
    got: list[str] = []
    totals = cache.verbose(path, got.append)
    fast = cache.replay(path)
    assert fast == totals
    return got, (totals.hits, totals.misses, totals.evictions)


def random_trace(rng, n: int, blocks: int, b: int, far: bool = False) -> list[str]:
    """Lackey lines over `blocks` blocks of 2^b bytes (plus, if `far`, addresses anywhere
    below 2^63), with I lines and valgrind messages mixed in."""
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.1:
            out.append(f"I  {int(rng.integers(0, 1 << 32)):08x},{int(rng.integers(1, 9))}")
            continue
        if r < 0.12:
            out.append("==1234== a message")
            continue
        if far and rng.random() < 0.2:
            addr = int(rng.integers(0, 1 << 63, dtype=np.uint64))
        else:
            addr = (int(rng.integers(0, blocks)) << b) + int(rng.integers(0, 1 << min(b, 8)))
            addr &= (1 << 63) - 1  # addresses are 63-bit (wide blocks wrap to the low ones)
        kind = "LSM"[int(rng.integers(0, 3))]
        out.append(f" {kind} {addr:x},{int(rng.integers(1, 9))}")
    return out


GEOMETRIES = [  # (s, E, b): direct mapped, set associative, fully associative, many ways
    (0, 1, 0), (1, 1, 1), (2, 2, 3), (4, 1, 4), (3, 4, 2), (0, 8, 4), (2, 16, 2),
    (1, 20, 3), (0, 40, 0), (5, 3, 5),
    (2, 2, 30), (1, 2, 63), (0, 3, 64),  # blocks wider than the engine's lines
]


@pytest.mark.parametrize("s, E, b", GEOMETRIES)
def test_random_traces_against_the_reference(tmp_path, s, E, b):
    rng = np.random.default_rng(1000 * s + 10 * E + b)
    blocks = max(2, (2 ** s) * E * 2)
    lines = random_trace(rng, 600, blocks, b, far=True)
    assert both(lines, tmp_path, s, E, b) == csim_reference(lines, s, E, b)


@settings(max_examples=examples(40), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=st.integers(0, 3), E=st.integers(1, 18), b=st.integers(0, 6),
       ops=st.lists(st.tuples(st.sampled_from("LSMI"), st.integers(0, 2000),
                              st.integers(1, 16)), max_size=60))
def test_small_traces_against_the_reference(tmp_path, s, E, b, ops):
    lines = [(f"I  {a:08x},{n}" if k == "I" else f" {k} {a:x},{n}") for k, a, n in ops]
    if not any(k != "I" for k, _, _ in ops):
        lines.append(" L 0,1")
    assert both(lines, tmp_path, s, E, b) == csim_reference(lines, s, E, b)


def test_the_cli_equals_the_reference_on_a_longer_trace(capsys, tmp_path):
    rng = np.random.default_rng(7)
    lines = random_trace(rng, 3000, 64, 4)
    path = write(tmp_path / "long.trace", lines)
    want_lines, want = csim_reference(lines, 2, 3, 4)
    code, out, err = csim(capsys, "-v", "-s", "2", "-E", "3", "-b", "4", "-t", path)
    assert code == 0, err
    assert out.split("\n") == [*want_lines, "hits:{} misses:{} evictions:{}".format(*want), ""]
    code, out, err = csim(capsys, "-t", path, "-b", "4", "-E", "3", "-s", "2")  # any order
    assert out == "hits:{} misses:{} evictions:{}\n".format(*want)
    assert (tmp_path / RESULTS).read_text() == "{} {} {}\n".format(*want)


def test_a_trace_without_data_accesses_counts_nothing(capsys, tmp_path):
    """csim-ref prints zeros for it; so does csim (simcache's replay calls it an error)."""
    path = write(tmp_path / "i.trace", ["I  0400d7d4,8", "==1== done", ""])
    code, out, err = csim(capsys, "-v", "-s", "1", "-E", "1", "-b", "1", "-t", path)
    assert (code, out) == (0, "hits:0 misses:0 evictions:0\n"), err
    assert (tmp_path / RESULTS).read_text() == "0 0 0\n"


def test_a_gzipped_trace(capsys, tmp_path):
    import gzip

    path = tmp_path / "yi.trace.gz"
    path.write_bytes(gzip.compress(Path(YI).read_bytes()))
    code, out, _ = csim(capsys, "-v", "-s", "4", "-E", "1", "-b", "4", "-t", str(path))
    assert code == 0
    assert [line.rstrip(" ") for line in out.splitlines()] == HANDOUT_YI


def test_results_replace_an_old_file_whole(capsys, tmp_path):
    old = tmp_path / RESULTS
    old.write_text("1 2 3\n")
    code, _, _ = csim(capsys, "-s", "4", "-E", "1", "-b", "4", "-t", YI)
    assert code == 0
    assert old.read_text() == "4 5 3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [RESULTS]  # no temporary file left


def test_help_exits_0_and_names_the_results_file(capsys):
    for flag in ("-h", "--help"):
        code, out, _ = csim(capsys, flag)
        assert code == 0
        text = " ".join(out.split())
        assert ".csim_results" in text and "-s" in text and "-E" in text and "-t" in text
        assert "simcache csim -v -s 4 -E 1 -b 4 -t traces/yi.trace" in text


def bad_cases(tmp_path: Path) -> list[tuple[list[str], str]]:
    bad_line = write(tmp_path / "bad.trace", [" L 10,1", " L 2x0,1"])
    binary = tmp_path / "binary.trace"
    binary.write_bytes(bytes(range(256)) * 4)
    size0 = write(tmp_path / "size0.trace", [" S 10,0"])
    kind = write(tmp_path / "kind.trace", [" L 10,1", " X 10,1"])
    flags = ["-s", "4", "-E", "1", "-b", "4"]
    return [
        (["-s", "40", "-E", "1", "-b", "25", "-t", YI], "-s/-b: s + b = 40 + 25 = 65"),
        (["-s", "4", "-E", "0", "-b", "4", "-t", YI], "-E"),
        (["-s", "-1", "-E", "1", "-b", "4", "-t", YI], "-s"),
        (["-s", "4", "-E", "1", "-b", "-2", "-t", YI], "-b"),
        (["-s", "four", "-E", "1", "-b", "4", "-t", YI], "-s"),
        (["-s", "4", "-E", "1.5", "-b", "4", "-t", YI], "-E"),
        (flags, "-t"),
        (["-s", "4", "-E", "1", "-t", YI], "-b"),
        ([*flags, "-t", str(tmp_path / "missing.trace")], "missing.trace: cannot read trace"),
        ([*flags, "-t", str(tmp_path)], "is a directory"),
        ([*flags, "-t", str(binary)], "binary.trace:1:"),
        ([*flags, "-t", bad_line], "bad.trace:2: '2x0' is not a hexadecimal address"),
        ([*flags, "-t", size0], "size0.trace:1: size '0' is not a positive number"),
        ([*flags, "-t", kind], "kind.trace:2: unknown access kind"),
        (["-s", "30", "-E", "64", "-b", "4", "-t", YI], "-s/-E: a cache of 2^30 sets of 64"),
    ]


def test_bad_input_is_one_line_exit_2_and_no_results(capsys, tmp_path):
    for args, start in bad_cases(tmp_path):
        for verbose in ([], ["-v"]):
            code, out, err = csim(capsys, *verbose, *args)
            assert code == 2, (args, err)
            assert out == "", args
            errors = [line for line in err.splitlines() if not line.startswith("simcache: ")]
            assert len(errors) == 1 and errors[0].startswith("error: "), (args, err)
            assert start in errors[0] and "Traceback" not in err, (args, err)
            assert not (tmp_path / RESULTS).exists(), args


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_trace(capsys, tmp_path):
    path = tmp_path / "locked.trace"
    path.write_text(" L 10,1\n")
    path.chmod(0)
    code, _, err = csim(capsys, "-s", "1", "-E", "1", "-b", "1", "-t", str(path))
    assert code == 2 and "locked.trace: cannot read trace: Permission denied" in err
    assert not (tmp_path / RESULTS).exists()


def test_a_directory_where_results_go_is_an_error(capsys, tmp_path):
    (tmp_path / RESULTS).mkdir()
    code, out, err = csim(capsys, "-s", "4", "-E", "1", "-b", "4", "-t", YI)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {RESULTS}: ") and err.count("\n") == 1


def test_a_cache_beyond_the_state_limit_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SIMCACHE_STATE_LIMIT", "100000")  # bytes
    code, out, err = csim(capsys, "-s", "10", "-E", "4", "-b", "4", "-t", YI)
    assert (code, out) == (2, "")
    assert err.startswith("error: -s/-E: a cache of 2^10 sets of 4 lines needs ")
    assert "the limit is 0.0 GiB" in err and err.count("\n") == 1
    assert not (tmp_path / RESULTS).exists()
    monkeypatch.setenv("SIMCACHE_STATE_LIMIT", "10000000")
    code, out, _ = csim(capsys, "-s", "10", "-E", "4", "-b", "4", "-t", YI)
    assert (code, out) == (0, "hits:5 misses:4 evictions:0\n")


def test_the_python_class_checks_its_flags_too():
    from simcache.errors import SimcacheError

    for args, start in (((-1, 1, 1), "-s:"), ((1, 0, 1), "-E:"), ((1, 1, True), "-b:"),
                        ((1, 1, 64), "-s/-b:"), ((33, 1, 32), "-s/-b:")):
        with pytest.raises(SimcacheError) as info:
            Cache(*args)
        assert info.value.problems[0].startswith(start)
    assert Cache(0, 1, 64).sets == 1  # s + b = 64: one block holds every address


def test_a_real_valgrind_trace_against_the_reference(tmp_path):
    """traces/sum.lackey.gz: valgrind's own output, `==` messages, I lines and all."""
    import gzip

    path = ROOT / "traces" / "sum.lackey.gz"
    lines = gzip.decompress(path.read_bytes()).decode("ascii").splitlines()
    for s, E, b in ((5, 1, 5), (2, 4, 3), (4, 2, 4)):
        want_lines, want = csim_reference(lines, s, E, b)
        totals = Cache(s, E, b).replay(path)
        assert (totals.hits, totals.misses, totals.evictions) == want
    head = lines[:20000]  # line by line, on its first 20,000 lines (about 5,000 records)
    assert both(head, tmp_path, 5, 1, 5) == csim_reference(head, 5, 1, 5)


def test_a_trace_that_changes_between_the_two_reads_is_an_error(monkeypatch):
    """-v reads the kinds of the records apart from the accesses; they must agree."""
    import simcache.csim as csim_module
    from simcache.errors import SimcacheError

    for kinds in (["L"] * 7, ["L", "M", "L"], ["L", "M", "L", "S", "L", "L", "M", "L"],
                  ["S", "M", "L", "L", "L", "L", "M"]):  # 9 accesses, as yi.trace has
        monkeypatch.setattr(csim_module, "_kinds", lambda path, gz, k=kinds: iter(k))
        with pytest.raises(SimcacheError, match="changed while it was read"):
            Cache(4, 1, 4).verbose(YI, lambda line: None)
