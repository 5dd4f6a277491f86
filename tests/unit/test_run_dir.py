"""A run dir holds one run: a rerun resumes it when only where and how it runs changed (device,
threads, torch.compile), and is refused when what it computes changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratos.distill.config import DistillConfig
from stratos.distill.job import open_run
from stratos.distill.progress import JobProgress
from stratos.exceptions import StratosError


def _cfg(**kw) -> DistillConfig:
    base = dict(task="mahjong", teacher="rules", student="scratch-llama-1m", mode="injection", max_steps=5,
                threads=1, device="cpu", compile=False)
    return DistillConfig(**{**base, **kw})


@pytest.mark.parametrize("change", [{"device": "cuda"}, {"threads": 2}, {"compile": True}])
def test_a_rerun_may_change_where_and_how_it_runs(tmp_path: Path, change) -> None:
    with JobProgress(quiet=True) as p:
        open_run(_cfg(), tmp_path, p)
        assert open_run(_cfg(**change), tmp_path, p).cfg.model_dump() == _cfg(**change).model_dump()


@pytest.mark.parametrize("change", [{"max_steps": 6}, {"student": "scratch-llama-3m"}])
def test_a_rerun_that_computes_something_else_is_refused(tmp_path: Path, change) -> None:
    with JobProgress(quiet=True) as p:
        open_run(_cfg(), tmp_path, p)
        with pytest.raises(StratosError, match="different config"):
            open_run(_cfg(**change), tmp_path, p)
