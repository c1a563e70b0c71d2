"""CI (.ci/run) runs the README's test command, and fails when any step of it fails."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command, = re.findall(r"^    (python3 -m venv .*pytest)$", readme, re.M)
    assert "simcache compile --all && pytest" in command
    assert command in (ROOT / ".ci" / "run").read_text()


STUB = "#!/bin/sh\n{body}\n"


@pytest.mark.parametrize("failing", [None, "pip", "simcache", "pytest", "ruff"])
def test_ci_fails_when_a_step_fails(tmp_path, failing):
    """.ci/run with every tool a stub that notes it ran: a failing step fails the run, and
    nothing after it runs."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    bin_dir = tmp_path / "stubs"
    bin_dir.mkdir()
    bodies = {"python3": "mkdir -p .venv/bin && : > .venv/bin/activate"}
    for tool in ("pip", "simcache", "pytest", "ruff"):
        rc = 1 if tool == failing else 0
        bodies[tool] = f'echo {tool} >> "{tmp_path}/ran"; exit {rc}'
    for tool, body in bodies.items():
        (bin_dir / tool).write_text(STUB.format(body=body))
        (bin_dir / tool).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin")
    done = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], env=env,
                          capture_output=True, text=True)
    ran = (tmp_path / "ran").read_text().split()
    order = ["pip", "simcache", "pytest", "ruff"]
    if failing is None:
        assert done.returncode == 0 and ran == order, (done.stderr, ran)
    else:
        assert done.returncode != 0 and ran == order[:order.index(failing) + 1], ran
