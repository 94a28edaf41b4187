"""End-to-end fixtures: a real `flux up` subprocess and the real `flux` CLI against it."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from flux.devserver import FluxUp


@pytest.fixture
def flux_up(tmp_path: Path, pg_templates: Path):
    platform = FluxUp(tmp_path, pg_templates)
    platform.start()
    yield platform
    if platform.proc is not None:
        platform.stop()
    for pid in platform.postgres_pids():
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(tmp_path / "state", ignore_errors=True)
