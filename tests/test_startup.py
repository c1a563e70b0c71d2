"""Start-up: where the compiled kernels are cached, and what the first run says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simcache import engine
from simcache import kernels as K

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- cache location


def test_the_cache_goes_to_the_first_writable_place():
    """NUMBA_CACHE_DIR if set, else the package's __pycache__, else ~/.cache/simcache, else
    nowhere (compiled on every run, with a note)."""
    def only(*ok):
        return lambda path: any(path.startswith(p) for p in ok)

    assert K.cache_place("/pkg", "/env", "/home", only("/env")) == ("/env", None)
    assert K.cache_place("/pkg", "/env", "/home", only("/pkg")) == (None, None)
    assert K.cache_place("/pkg", "", "/home", only("/pkg", "/home")) == (None, None)
    assert K.cache_place("/pkg", "/env", "/home", only("/home")) == (
        os.path.join("/home", ".cache", "simcache"), None)
    where, note = K.cache_place("/pkg", "/env", "/home", only())
    assert where == "" and "compiling them on every run" in note
    assert K.cache_place("/pkg", "", "", only())[0] == ""


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


PROBE = """
import numpy as np
import simcache.kernels as K
assert K.__file__.startswith({pkg!r}), K.__file__
print(K.CACHE, K.CACHE_NOTE)
print(K._steps(np.int64(0), np.int64(4), np.int64(16)))  # a kernel runs
"""


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare -rm (user and mount namespaces)")
@pytest.mark.parametrize("home_writable", [False, True])
def test_a_read_only_package_and_home_still_run(tmp_path, home_writable):
    """A copy of the package on a read-only file system (a tmpfs remounted read-only in a
    mount namespace: even root cannot write there), with HOME read-only too: the kernels
    compile and run, uncached, and CACHE_NOTE says so. With a writable HOME they are cached
    under it."""
    ro = tmp_path / "ro"
    home = tmp_path / "home" if home_writable else ro / "home"
    shutil.copytree(ROOT / "simcache", tmp_path / "pkg",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = f"""set -e
mkdir -p {ro} {tmp_path / 'home'}
mount -t tmpfs tmpfs {ro}
cp -r {tmp_path / 'pkg'} {ro}/simcache
mkdir {ro}/home
mount -o remount,ro {ro}
! touch {ro}/simcache/probe 2>/dev/null
exec env -u NUMBA_CACHE_DIR HOME={home} PYTHONPATH={ro} {sys.executable} -c "$PROBE"
"""
    env = dict(os.environ, PROBE=PROBE.format(pkg=str(ro)))
    done = subprocess.run(["unshare", "-rm", "bash", "-c", script], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    flag, _, rest = done.stdout.partition(" ")
    if home_writable:
        assert flag == "True" and rest.startswith("None")
        assert any((tmp_path / "home" / ".cache" / "simcache").rglob("*.nbi"))
    else:
        assert flag == "False" and "compiling them on every run" in rest
    assert done.stdout.splitlines()[-1] == "3"


# ---------------------------------------------------------------- the compile message


def test_the_message_comes_before_and_after_a_compile(monkeypatch):
    """When a kernel is not in the cache, one line before (with an estimate) and one after
    (with the time), in that order, whatever stderr is."""
    said = []
    monkeypatch.setattr(engine, "_cached", lambda kernel, args: False)
    engine.warm_up([("plain-nest", False)], said.append)
    assert len(said) == 2
    assert said[0].startswith("simcache: compiling the simulation kernels plain-nest "
                              "(scanned) (first run only, about ") and said[0].endswith(" s)…")
    assert said[1].startswith("simcache: ") and " the simulation kernels in " in said[1]


def test_no_message_when_the_kernels_are_loaded():
    said = []
    engine.warm_up()
    assert engine._cached(K.RUN_NEST[True], _nest_args(True))
    engine.warm_up(announce=said.append)
    assert said == []


def _nest_args(kind):
    import numpy as np
    state = engine.State([engine.Geometry("w", 128, 4, 32, 1, "lru", True, True) if kind
                          else engine.Geometry("w", 64, 16, 2, 2, "lru", True, True)])
    return (state.S, np.zeros(8, np.int64), np.ones(8, np.int64), np.zeros((5, 8), np.int64),
            np.zeros(5, np.int64), np.zeros(3, np.int64), 4, -1, -1, np.zeros(0, np.int64), 0, 1)


def test_a_second_process_knows_the_cache_will_hit():
    """The check reads Numba's index on disk: a second process says nothing."""
    engine.warm_up()
    code = ("from simcache import engine; import sys; "
            "engine.warm_up(announce=lambda s: sys.stdout.write(s + '\\n'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout == ""


def test_the_estimate_adds_up():
    """A variant's request path is paid once, by its first unit; each unit adds its loop."""
    assert engine.compile_estimate([]) == 0
    one = engine.compile_estimate([("pf-nest", True)])
    assert one == engine._PATH_S["pf"] + engine._LOOP_S["pf-nest"][1]
    two = engine.compile_estimate([("pf-nest", True), ("pf-trace", True)])
    assert two == one + engine._LOOP_S["pf-trace"][1]
    assert engine.compile_estimate([("pf-nest", True)], have={"pf"}) == \
        engine._LOOP_S["pf-nest"][1]
    assert engine.compile_estimate([("pf-nest", True), ("3c-nest", True)]) > two
