"""Dataset tasks: a task described in the stack config (a file of questions and a checker), no code."""

from stratos.tasks.dataset.spec import DatasetTaskSpec

__all__ = ["DatasetTaskSpec"]
