"""Progress when standard error is not a terminal: a plain line every few seconds, its time
left from the measured rate; with a fake clock (no timing in tests)."""

from __future__ import annotations

import pytest

from helpers import cli_output
from simcache import cli


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def plain(interval=10.0, unit="accesses", scale=1):
    said, clock = [], Clock()
    return cli.PlainProgress(said.append, "vgg16 on thesis", unit, scale, interval, clock), \
        said, clock


def test_nothing_for_a_run_shorter_than_the_interval():
    p, said, clock = plain()
    for k in range(10):
        clock.now = k * 0.99
        p(k * 100, 1000)
    assert said == []


def test_a_line_every_interval_with_the_time_left_from_the_measured_rate():
    p, said, clock = plain()
    p(100, 1000)  # the first update: the rate is measured from here
    clock.now = 5.0
    p(150, 1000)
    clock.now = 10.0
    p(200, 1000)  # 100 in 10 s: 800 left take 80 s
    clock.now = 15.0
    p(260, 1000)  # too soon for another line
    clock.now = 20.5
    p(310, 1000)
    assert said == ["simcache: vgg16 on thesis: 20% · 200 of 1,000 accesses · 80 s left",
                    # 690 left at 210 per 20.5 s
                    "simcache: vgg16 on thesis: 31% · 310 of 1,000 accesses · 67 s left"]


def test_counts_in_units_and_long_spans():
    p, said, clock = plain(scale=4)  # loop iterations, 4 accesses each
    p(0, 2_000_000_000)
    clock.now = 600.0
    p(500_000_000, 2_000_000_000)
    assert said == ["simcache: vgg16 on thesis: 25% · 2G of 8G accesses · 30 min left"]
    assert cli._span(3 * 3600) == "3.0 h" and cli._span(59.4) == "59 s"


def test_interval_zero_prints_every_update():
    p, said, clock = plain(interval=0, unit=None)
    p(1, 4)
    clock.now = 1.0
    p(2, 4)
    clock.now = 2.0
    p(4, 4)
    assert said == ["simcache: vgg16 on thesis: 25%", "simcache: vgg16 on thesis: 50% · 2 s left",
                    "simcache: vgg16 on thesis: 100%"]


@pytest.mark.parametrize("given,interval", [("0", 0.0), ("2.5", 2.5), ("", 10.0),
                                            ("soon", 10.0), ("-3", 0.0)])
def test_the_interval_from_the_environment(monkeypatch, given, interval):
    monkeypatch.setenv("SIMCACHE_PROGRESS_INTERVAL", given)
    assert cli._progress_interval() == interval


def test_plain_lines_only_off_a_terminal_and_only_when_asked(monkeypatch):
    with cli._progress(True, "x", "accesses", 4) as update:
        assert isinstance(update, cli.PlainProgress) and update.scale == 4  # pytest: no tty
    with cli._progress(False, "x") as update:
        assert update is None


def test_a_run_off_a_terminal_prints_plain_lines(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SIMCACHE_PROGRESS_INTERVAL", "0")
    code, _, err = cli_output(
        capsys, "run", "thesis", "--layer", "fc", "-M", "8", "-N", "8", "-o",
        str(tmp_path / "r.json"))
    assert code == 0
    assert "simcache: simulating: 100% · 256 of 256 accesses" in err
    monkeypatch.setenv("SIMCACHE_PROGRESS_INTERVAL", "3600")
    code, _, err = cli_output(
        capsys, "run", "thesis", "--layer", "fc", "-M", "8", "-N", "8", "-o",
        str(tmp_path / "r.json"))
    assert code == 0 and "%" not in err


def test_the_estimate_line_says_what_runs_and_that_the_machine_is_busy(monkeypatch, capsys,
                                                                       tmp_path):
    from helpers import TINY_NET
    from simcache import api

    net = tmp_path / "tiny.yaml"
    net.write_text(TINY_NET)
    jobs = []
    api.network("thesis", net, on_start=lambda g, js: jobs.extend(js))
    monkeypatch.setattr(cli.os, "getloadavg", lambda: (1e6, 0.0, 0.0))
    cli._announce(jobs, 1)
    cores = cli.default_workers()
    err = capsys.readouterr().err  # a tiny network on a machine a million times too busy
    assert err.startswith("simcache: 1 inference (3 layers and their operators, one after "
                          "another) on 1 core: about ")
    assert err.endswith(f" (estimate; the machine is busy, load 1000000.0 on {cores} cores)\n")
    monkeypatch.setattr(cli.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    cli._announce(jobs, 1)
    assert capsys.readouterr().err == ""  # under 10 s on an idle machine: nothing
    cli._announce([j.__class__(j.hierarchy, j.layer) for j in jobs] * 10**5, 2)
    err = capsys.readouterr().err
    assert err.startswith(f"simcache: 300000 simulations on {min(2, cores)} core") and \
        "busy" not in err
