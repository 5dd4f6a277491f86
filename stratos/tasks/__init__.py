"""Tasks: a domain with questions whose answers can be checked (see ``base.Task``)."""

from stratos.tasks.base import Example, Task, get_task, register_task

__all__ = ["Example", "Task", "get_task", "register_task"]
