"""A non-editable install carries the configs and models, and finds them by name."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot build a wheel here: {done.stderr.strip().splitlines()[-1:]}")
    return next(out.glob("simcache-*.whl"))


def test_the_wheel_ships_configs_models_and_the_license(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for kind in ("configs", "models"):
        shipped = {Path(n).name for n in names if n.startswith(f"simcache/{kind}/")}
        assert shipped == {p.name for p in (ROOT / kind).glob("*.yaml")}
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "simcache/host_calib.c" in names  # simcache host compiles it at run time


def test_an_installed_copy_finds_its_configs_by_name(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import simcache.shipped as s, simcache.config as c;"
            "p = s.resolve('mobile_soc', 'configs', 'CONFIG');"
            "print(p); print(c.load_hierarchy(p).name);"
            "print(s.resolve('vgg16', 'models', 'MODEL'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin"})
    assert done.returncode == 0, done.stderr
    config, name, model = done.stdout.split()
    assert Path(config).is_relative_to(site / "simcache" / "configs") and name == "mobile_soc"
    assert Path(model).is_relative_to(site / "simcache" / "models")
