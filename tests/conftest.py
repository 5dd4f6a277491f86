"""Shared test setup: no network, no telemetry, state under tmp dirs."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("PULUMI_SKIP_UPDATE_CHECK", "1")
os.environ.setdefault("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "1")
# Teacher answers the HTTP client keeps (stratos.synth.teachers.response_cache): per test session,
# so one session's answers never stand in for a server another test expects to be asked.
if "STRATOS_TEACHER_CACHE" not in os.environ:
    os.environ["STRATOS_TEACHER_CACHE"] = tempfile.mkdtemp(prefix="stratos-teacher-cache-")
    atexit.register(shutil.rmtree, os.environ["STRATOS_TEACHER_CACHE"], True)
# Module- and session-scoped fixtures that run jobs write here; each test gets its own file below.
_cal = tempfile.mkdtemp(prefix="stratos-calibration-")
os.environ["STRATOS_CALIBRATION"] = os.path.join(_cal, "calibration.jsonl")
atexit.register(shutil.rmtree, _cal, True)


@pytest.fixture(autouse=True)
def _own_calibration_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The calibration cache every finished job appends to (stratos.calibration), per test: a
    test-sized run never becomes a calibration point of a developer's plans, nor of a later test
    (a recorded run makes the next plan of its task "measured", so a shared file made results
    depend on test order)."""
    monkeypatch.setenv("STRATOS_CALIBRATION", str(tmp_path_factory.mktemp("calibration") / "calibration.jsonl"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
