"""Named errors with messages that say what went wrong, then how to fix it.

One flat module (like ``sky/exceptions.py``) so callers can catch precisely
and the CLI can map each to an exit code without string matching.
"""


class StratosError(Exception):
    """Base class: every user-facing Stratos error. ``exit_code`` is what the CLI returns."""

    exit_code: int = 1


class ConfigError(StratosError, ValueError):
    """A request or stack config is invalid: names the key and the allowed values."""

    exit_code = 2


class InfeasibleError(StratosError):
    """No candidate satisfies the constraints; names the binding constraints and nearest options."""

    exit_code = 2


class CatalogError(StratosError):
    """The price catalog is missing or unreadable; says how to provide one."""


class UnknownNameError(ConfigError):
    """An unknown cloud, region, GPU, model or task; lists the valid ones."""


class ArtifactError(StratosError):
    """A model artifact is missing files or fails its manifest checksums."""


class TeacherError(StratosError):
    """A teacher could not be loaded or reached."""


class RequestError(StratosError, ValueError):
    """A generation request is invalid (prompt over the context, parameter out of range); says the limit."""

    exit_code = 2


class QuestionError(StratosError, ValueError):
    """A question the task cannot be asked (e.g. a hand that breaks the rules); says what is wrong with it.

    The server answers it with a 400 before the request is queued.
    """

    exit_code = 2


class EndpointError(StratosError):
    """An endpoint could not be reached or refused us; says which URL and what to check."""


class ServeError(StratosError):
    """The server cannot start (no token, port busy, bad model dir); says what to pass instead."""


class CheckpointError(StratosError):
    """A training checkpoint is unreadable or its pointer is empty; says how to restore or restart."""
