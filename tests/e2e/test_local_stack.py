"""`make run`'s demo through the whole local stack, as a subprocess exactly as an engineer runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.functions import REPO

pytestmark = pytest.mark.e2e


def test_the_demo_runs_end_to_end_and_stops_everything_it_started():
    run = subprocess.run([sys.executable, "-m", "infra.stack", "--demo-only", "--ports", "auto"],
                         cwd=REPO, capture_output=True, text=True, timeout=420)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "Demo passed" in run.stdout, output[-4000:]
    assert "Stopped." in run.stdout
    leftovers = subprocess.run(["pgrep", "-f", f"{REPO}/functions/"], capture_output=True, text=True).stdout
    assert leftovers.strip() == "", f"processes left running: {leftovers}"
