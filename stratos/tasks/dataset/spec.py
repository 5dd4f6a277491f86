"""``DatasetTaskSpec``: a task described in the stack config instead of in code (``stratos:task: {...}``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from stratos.exceptions import ConfigError
from stratos.strict import StrictModel


class DatasetTaskSpec(StrictModel):
    """A dataset of questions (and optionally reference answers) and what counts as correct."""

    dataset: str = Field(
        description="a local JSONL/JSON/CSV/Parquet file (relative to the project root) or hf:ORG/NAME[:SPLIT] (a Hub dataset)"
    )
    question_field: str = Field("question", description="the field holding the question; default question")
    answer_field: str | None = Field(
        None, description="the field holding the reference answer; unset: the teacher's answers are the labels"
    )
    checker: str = Field(
        "normalized",
        description="what counts as correct: exact, normalized, numeric, choice, regex:PATTERN, json or none "
        "(no references); default normalized",
    )
    instructions: str = Field("", description="text put before every question, for teacher and student alike")
    knowledge: str | None = Field(
        None, description="a text file of domain knowledge the teacher is given in injection mode; default none"
    )
    split_field: str | None = Field(
        None, description="a field naming each row's split (train, val or test); unset: hash splits of the question"
    )
    name: str | None = Field(None, description="the task's name (model name, reports); default the dataset's file stem")

    @field_validator("checker")
    @classmethod
    def _known_checker(cls, spec: str) -> str:
        from stratos.tasks.dataset.checkers import make_checker

        try:
            make_checker(spec)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return spec

    @property
    def task_name(self) -> str:
        """The name runs, reports and the served model carry."""
        if self.name:
            return self.name
        stem = self.dataset.removeprefix("hf:").split(":")[0].rstrip("/")
        return Path(stem).stem.replace("_", "-").lower() or "dataset"

    @property
    def has_references(self) -> bool:
        return self.answer_field is not None and self.checker != "none"

    def rooted(self, root: Path) -> DatasetTaskSpec:
        """This spec with its local paths made absolute against ``root`` (for a job run elsewhere on this machine)."""
        def at(name: str | None) -> str | None:
            if name is None or name.startswith("hf:") or Path(name).is_absolute():
                return name
            return str(root / name)

        return self.model_copy(update={"dataset": at(self.dataset), "knowledge": at(self.knowledge)})

    def files(self) -> list[str]:
        """The local files the task reads (what a cloud node needs in its source archive)."""
        out = [] if self.dataset.startswith("hf:") else [self.dataset]
        return out + ([self.knowledge] if self.knowledge else [])
