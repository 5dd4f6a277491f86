"""``DistillationRequest``: what a user asks for, validated (the stack config's shape).

A request is a Pulumi stack's config (``stacks/Pulumi.<stack>.yaml``, keys under
``config:`` as ``stratos:<key>``, nested objects as Pulumi structured config) or a
plain YAML file with the same keys at top level. Every field documents its unit
and default; an invalid value raises :class:`~stratos.exceptions.ConfigError`
naming the key and what is allowed.

Secrets (the teacher API key, the endpoint token) are deliberately *not* part of
the request: they are Pulumi secrets the program reads itself, so a request file
can be printed, hashed and shipped to a GPU node without leaking anything.
"""

from __future__ import annotations

import ipaddress
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stratos.distill.settings import JobOverrides, Mode
from stratos.exceptions import ConfigError
from stratos.names import did_you_mean
from stratos.strict import StrictModel
from stratos.tasks.dataset.spec import DatasetTaskSpec
from stratos.tasks.loading import TaskRef
from stratos.zoo.endpoint import TeacherEndpoint, as_endpoint

Target = Literal["local", "aws", "gcp"]
Cloud = Literal["aws", "gcp", "lambda", "runpod"]

#: Stack-config keys under ``stratos:`` that are secrets read by the Pulumi program, never
#: part of the request (``from_stack_config`` skips them and any ``secure:`` value).
SECRET_KEYS = frozenset(
    {
        "teacher_api_key", "endpoint_token", "hf_token",
        "teacherApiKey", "endpointToken", "hfToken", "tlsCertificate", "tlsPrivateKey",
    }
)


#: Ports the endpoint may not take: 22 is SSH, which the node's firewall treats apart.
RESERVED_PORTS = {22: "SSH"}


def covers_everything(cidrs: list[str]) -> bool:
    """Whether these CIDRs together span a whole address family (0.0.0.0/1 + 128.0.0.0/1 do)."""
    nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    for version in (4, 6):
        family = [n for n in nets if n.version == version]
        if any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(family)):
            return True
    return False


_Strict = StrictModel


class Constraints(_Strict):
    """Hard limits: a candidate that breaks any of them is infeasible."""

    min_accuracy: float = Field(
        0.0, ge=0, le=1, description="lowest acceptable predicted exact accuracy on the task (fraction 0-1); default 0 = no floor"
    )
    max_latency_ms: float | None = Field(
        None, gt=0, description="highest acceptable p50 serving latency per request in milliseconds, for prompt_tokens in and output_tokens out; default none"
    )
    prompt_tokens: int = Field(
        128, gt=0, description="prompt length (tokens) the latency limit is stated for; default 128"
    )
    output_tokens: int = Field(
        32, gt=0, description="generated tokens per request the latency limit is stated for; default 32"
    )
    budget_usd: float | None = Field(
        None, gt=0, description="total spend cap in USD: synthesis + training + serving over serving_hours; default none"
    )
    max_train_hours: float = Field(
        24.0, gt=0, description="wall-clock cap on synthesis + training, hours; default 24"
    )
    serving_hours: float = Field(
        720.0, ge=0, description="how long the endpoint is kept up, hours (the horizon the budget covers); default 720 (30 days)"
    )


class Weights(_Strict):
    """Preference weights of the deployment score (relative; need not sum to 1)."""

    cost: float = Field(1.0, ge=0, description="weight of the cost utility; default 1")
    latency: float = Field(1.0, ge=0, description="weight of the latency utility; default 1")
    accuracy: float = Field(1.0, ge=0, description="weight of the accuracy utility; default 1")
    train_time: float = Field(0.5, ge=0, description="weight of the training-time utility; default 0.5")

    @model_validator(mode="after")
    def _some_weight(self) -> Weights:
        if self.cost + self.latency + self.accuracy + self.train_time <= 0:
            raise ValueError("at least one of cost, latency, accuracy, train_time must be > 0")
        return self


class Network(_Strict):
    """Network settings for cloud targets (ignored by ``local``, which binds 127.0.0.1)."""

    serving_port: int = Field(8000, ge=1, le=65535, description="TCP port of the OpenAI-compatible endpoint; default 8000")
    allowed_cidrs: list[str] = Field(
        default_factory=list, description="CIDRs allowed to reach the serving port; default none (closed)"
    )
    ssh_cidrs: list[str] = Field(
        default_factory=list, description="CIDRs allowed to SSH; default none (no SSH rule). 0.0.0.0/0 is refused"
    )

    @field_validator("serving_port")
    @classmethod
    def _not_reserved(cls, port: int) -> int:
        if port in RESERVED_PORTS:
            raise ValueError(f"port {port} is {RESERVED_PORTS[port]}'s; choose another, e.g. 8000")
        return port

    @field_validator("allowed_cidrs", "ssh_cidrs")
    @classmethod
    def _ipv4_cidrs(cls, cidrs: list[str], info: ValidationInfo) -> list[str]:
        for cidr in cidrs:
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a CIDR like 203.0.113.0/24") from None
            if net.version != 4:
                raise ValueError(
                    f"{cidr!r} is IPv6; the aws and gcp backends open IPv4 ranges only, so list IPv4 CIDRs"
                )
        if info.field_name == "ssh_cidrs" and covers_everything(cidrs):
            raise ValueError(
                f"{cidrs} together admit every address (SSH open to the world); name your own CIDR, e.g. 203.0.113.7/32"
            )
        return cidrs


class LocalMachine(_Strict):
    """How the planner prices this machine for the ``local`` target."""

    price_per_hour: float = Field(0.0, ge=0, description="USD/hour charged for this machine; default 0")


class DistillationRequest(_Strict):
    """A distillation request: task, constraints, where it may run, preferences."""

    model_config = ConfigDict(populate_by_name=True)

    target: Target = Field(
        "local", description="backend the Pulumi program uses: local (train and serve on this machine), aws or gcp; default local"
    )
    task: str | DatasetTaskSpec = Field(
        "mahjong",
        description="a registered task name, or a dataset task as a mapping (dataset, question_field, answer_field, "
        "checker, instructions, knowledge); default mahjong",
    )
    task_module: str | None = Field(
        None, alias="taskModule",
        description="a .py file or dotted module imported first, which registers the task with "
        "stratos.tasks.register_task; default none",
    )
    constraints: Constraints = Field(default_factory=Constraints, description="hard limits (see Constraints)")
    clouds: list[Cloud] | None = Field(
        None, description="clouds the planner may choose from; default [target] (ignored for local). Listing more is what-if planning"
    )
    regions: list[str] | None = Field(None, description="allowed regions; default any")
    gpus: list[str] | None = Field(
        None,
        description="allowed accelerators as SkyPilot writes them, NAME or NAME:COUNT per instance, any case "
        "(e.g. H100, l4, A100:8); default any",
    )
    spot: bool = Field(False, description="allow spot/preemptible instances for training; default false")
    edge_zones: bool = Field(
        False,
        description="allow AWS Local Zones and Wavelength Zones (zone IDs such as use1-atl2-az1): often cheaper "
        "spot, but opt-in per account, with fewer instance types and services; default false (standard zones only)",
    )
    teacher: str | TeacherEndpoint | None = Field(
        None,
        description="the teacher: a model zoo id (e.g. gpt-4o) or any OpenAI-compatible endpoint as a mapping "
        "(base_url and model required) or the string '<base_url>#<model>'; default: the planner chooses",
    )
    student: str | None = Field(None, description="model zoo id of the student; default: the planner chooses")
    mode: Mode | None = Field(
        None,
        description="alignment, injection, or auto (the job probes the teacher and aligns when it scores at least "
        "job.probe_threshold); default: the planner picks alignment or injection from the teacher's expected accuracy",
    )
    weights: Weights = Field(default_factory=Weights, description="deployment-score preference weights")
    job: JobOverrides = Field(  # type: ignore[valid-type]
        default_factory=JobOverrides, description="job settings (any JobSettings knob: seed, sizes, profile, ...)"
    )
    network: Network = Field(default_factory=Network, description="cloud network settings")
    local: LocalMachine = Field(default_factory=LocalMachine, description="local machine pricing")

    @field_validator("clouds", "regions", "gpus")
    @classmethod
    def _not_empty(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is not None and not value:
            raise ValueError(f"an empty list allows no {info.field_name}; omit the key for any")
        return value

    @field_validator("gpus")
    @classmethod
    def _accelerator_syntax(cls, value: list[str] | None) -> list[str] | None:
        from stratos.catalog.accelerators import parse_accelerator

        for entry in value or []:
            parse_accelerator(entry)
        return value

    @property
    def accelerator_requests(self) -> list:
        """``gpus`` parsed (``AcceleratorRequest`` each); empty for any."""
        from stratos.catalog.accelerators import parse_accelerator

        return [parse_accelerator(g) for g in self.gpus or []]

    @field_validator("task", mode="before")
    @classmethod
    def _dataset_task(cls, v: Any) -> Any:
        """A mapping is a dataset task; its errors name ``task.<key>`` (not pydantic's union branches)."""
        if not isinstance(v, dict):
            return v
        try:
            return DatasetTaskSpec.model_validate(v)
        except ValidationError as exc:
            raise ValueError("; ".join(_dataset_error(e) for e in exc.errors())) from None

    @model_validator(mode="after")
    def _task_loads(self) -> DistillationRequest:
        """The task loads (its module imports, its dataset reads and validates) and fits the student."""
        from stratos.tasks.base import task_names

        ref = self.task_ref
        if ref.dataset is None:
            if ref.module:
                _load_or_raise(ref)
            names = list(task_names())
            if ref.name not in names:
                raise ValueError(
                    f"task: no task named {ref.name!r}{did_you_mean(ref.name, names)}; registered: {', '.join(names)} "
                    "(register your own with stratos.tasks.register_task in a taskModule)"
                )
            return self
        _load_or_raise(ref)
        context = _student_context(self.student)
        if context is not None:
            from stratos.tasks.dataset.task import dataset_task

            try:
                dataset_task(ref.dataset).check_fits(context)
            except ConfigError as exc:
                raise ValueError(f"task: {exc}") from None
        return self

    @property
    def task_ref(self) -> TaskRef:
        """The task as the plan and the job carry it."""
        return TaskRef.of(self.task, self.task_module)

    def rooted(self, root: Path) -> DistillationRequest:
        """This request with the task's local paths made absolute against ``root`` (the project root), for
        a job that runs on this machine in another directory (the local target's run dir)."""
        task = self.task.rooted(root) if isinstance(self.task, DatasetTaskSpec) else self.task
        module = self.task_module
        if module and (module.endswith(".py") or "/" in module) and not Path(module).is_absolute():
            module = str(root / module)
        return self.model_copy(update={"task": task, "task_module": module})

    @property
    def key(self) -> str:
        """Fingerprint of the request as written (what a stack config asks for)."""
        import hashlib

        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    @property
    def task_name(self) -> str:
        """The task's name (a dataset task's own name); cheap, unlike ``task_ref``, which hashes the task's files."""
        return self.task.task_name if isinstance(self.task, DatasetTaskSpec) else self.task

    @field_validator("teacher", mode="before")
    @classmethod
    def _teacher_endpoint(cls, v: Any) -> Any:
        """A mapping or an ``http(s)://...#model`` string is an endpoint; other strings are zoo ids."""
        if isinstance(v, dict):
            return TeacherEndpoint.from_mapping(v)
        if isinstance(v, str):
            return as_endpoint(v) or v
        if v is None or isinstance(v, TeacherEndpoint):
            return v
        raise ValueError("must be a zoo id (e.g. gpt-4o) or a mapping {base_url, model, ...}")

    @model_validator(mode="after")
    def _target_clouds(self) -> DistillationRequest:
        if self.target != "local" and self.clouds is not None and self.target not in self.clouds:
            raise ValueError(f"clouds must include the target {self.target!r}; got {self.clouds}")
        return self

    @property
    def search_clouds(self) -> list[str]:
        """Clouds the planner searches: ``local`` for the local target, else ``clouds`` or [target]."""
        if self.target == "local":
            return ["local"]
        return list(self.clouds or [self.target])

    @classmethod
    def from_stack_config(cls, config: dict[str, Any]) -> DistillationRequest:
        """Build from a Pulumi stack's ``config:`` mapping.

        Keys may carry the ``stratos:`` namespace or not; other namespaces (``aws:region``)
        and secrets (``secure:`` values, :data:`SECRET_KEYS`) are skipped.
        """
        data: dict[str, Any] = {}
        for key, value in (config or {}).items():
            ns, sep, name = str(key).partition(":")
            if sep:
                if ns != "stratos":
                    continue
            else:
                name = ns
            if name in SECRET_KEYS or (isinstance(value, dict) and "secure" in value):
                continue
            data[name] = value
        return parse_request(data)


def _dataset_error(err: Any) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        fields = DatasetTaskSpec.model_fields
        return f"unknown key task.{key}{did_you_mean(key, fields)}; valid keys: {', '.join(fields)}"
    return f"task.{key}: {err['msg'].removeprefix('Value error, ')}"


def _load_or_raise(ref: TaskRef) -> Any:
    try:
        return ref.load()
    except ConfigError as exc:
        raise ValueError(f"task: {exc}") from None


def _student_context(student: str | None) -> int | None:
    """The context (tokens) of the request's student, or of the longest-context zoo student when unset:
    a question longer than that fits no student."""
    from stratos.exceptions import UnknownNameError
    from stratos.zoo import get_model, list_models

    try:
        if student:
            return get_model(student).context
        return max((m.context for m in list_models("student")), default=None)
    except (UnknownNameError, AttributeError, TypeError):
        return None


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if not key:  # a whole-request check names its key as "<key>: <message>"
            name, sep, msg = err["msg"].removeprefix("Value error, ").partition(": ")
            lines.append(f"key '{name}': {msg}" if sep and name in DistillationRequest.model_fields else name + sep + msg)
        elif err["type"] == "extra_forbidden":
            parent = _model_at(err["loc"][:-1])
            valid = ", ".join(parent.model_fields) if parent else "?"
            hint = did_you_mean(str(err["loc"][-1]), parent.model_fields) if parent else ""
            lines.append(f"unknown key '{key}'{hint}; valid keys here: {valid}")
        else:
            lines.append(f"key '{key}' = {_shown(err.get('input'))!r}: {err['msg'].removeprefix('Value error, ')}")
    # One line (a log line, a CI annotation): what is wrong with which key and value, then the fix.
    return (f"invalid request{source}: " + "; ".join(lines)
            + ". Fix: change or remove that key; `stratos keys` lists every key with its unit and default.")


def _shown(value: Any) -> Any:
    """The bad input as the error echoes it, with anything that looks like a secret hidden."""
    if not isinstance(value, dict):
        return value
    return {k: "***" if _secret_like(str(k)) else v for k, v in value.items()}


def _secret_like(key: str) -> bool:
    """``api_key``, ``token``, ``password`` ... but not ``api_key_env`` (the name of a variable)."""
    return any(w in key.lower() for w in ("key", "token", "secret", "password")) and not key.endswith("_env")


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] = DistillationRequest
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        inner = [a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        elif inner:
            model = inner[0]
        else:
            return None
    return model


def parse_request(data: dict[str, Any], source: str = "") -> DistillationRequest:
    """Validate a mapping into a request, turning pydantic errors into a ``ConfigError``."""
    if not isinstance(data, dict):
        raise ConfigError(f"request{source} must be a mapping of keys to values, got {type(data).__name__}")
    try:
        return DistillationRequest.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def load_request(path: str | Path) -> DistillationRequest:
    """Load a plain YAML request or a Pulumi stack file (``config:`` with ``stratos:`` keys)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"request file {str(p)!r} does not exist; pass a YAML request or stacks/Pulumi.<stack>.yaml")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p} is not valid YAML: {' '.join(str(exc).split())}. Fix the syntax at that line.") from None
    if isinstance(raw, dict) and isinstance(raw.get("config"), dict):
        try:
            return DistillationRequest.from_stack_config(raw["config"])
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("invalid request", f"invalid stack config in {p}", 1)) from None
    return parse_request(raw, f" in {p}")


def _type_name(ann: Any) -> str:
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is Literal:
        return "string"
    if ann in (int,):
        return "integer"
    if ann in (float,):
        return "number"
    if ann is bool:
        return "boolean"
    if ann is str:
        return "string"
    if origin in (list,):
        return "array"
    if args:  # Optional[X] / unions
        non_none = [a for a in args if a is not type(None)]
        if str in non_none and any(isinstance(a, type) and issubclass(a, BaseModel) for a in non_none):
            return "string or object"
        if len(non_none) == 1:
            return _type_name(non_none[0])
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "object"
    return "string"


def _describe(model: type[BaseModel]) -> list[dict[str, Any]]:
    keys = []
    for key, field in model.model_fields.items():
        name = field.alias or key
        ann = field.annotation
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        entry: dict[str, Any] = {
            "name": name,
            "type": _type_name(ann),
            "description": field.description or "",
            "default": default,
        }
        literal = [a for a in (ann, *typing.get_args(ann)) if typing.get_origin(a) is Literal]
        if literal:
            entry["enum"] = list(typing.get_args(literal[0]))
        list_args = [a for a in (ann, *typing.get_args(ann)) if typing.get_origin(a) is list]
        if list_args:
            item = typing.get_args(list_args[0])[0]
            entry["items"] = {"type": _type_name(item)}
            if typing.get_origin(item) is Literal:
                entry["items"]["enum"] = list(typing.get_args(item))
        sub = [a for a in (ann, *typing.get_args(ann)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if sub:
            entry["properties"] = _describe(sub[0])
        keys.append(entry)
    return keys


#: One entry per top-level request key: name, type (JSON-schema word), description (unit and
#: default), default, and ``enum``/``items``/``properties`` where relevant. The Pulumi program
#: generates the typed config schema in ``Pulumi.yaml`` from this.
STACK_KEYS: list[dict[str, Any]] = _describe(DistillationRequest)

__all__ = [
    "STACK_KEYS",
    "SECRET_KEYS",
    "Constraints",
    "DistillationRequest",
    "JobOverrides",
    "LocalMachine",
    "Network",
    "Weights",
    "load_request",
    "parse_request",
]
